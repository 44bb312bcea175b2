"""Host files a playbook writes, on a real engine, locally and over SSH (SFTP to a lab host): no
symlink followed on the way, nothing unreadable shown, a bounded read, owner, group, mode and hard
links kept on replace and on rollback, the directories made (by remediate, or by the engine for a
bind source) shown and removed again with the change, output files 0600.

The lab hosts share this machine's file system, so each test's files are in its tmp dir on both
transports, and a refusal is checked by the bytes left on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import Cli
from tests.integration.rtcat import BUSYBOX
from tests.lab.hosts import LabHost, lab_hosts

PREFIX = "hft-files-"
DEPLOY = 1000  # an unprivileged user: the owner of the directories an attacker or a deploy user controls


@dataclass
class Host:
    """A Docker host as the CLI reaches it, the engine beside it, and one busybox container there."""

    args: list[str]
    client: Any
    name: str

    def container_id(self) -> str:
        return str(self.client.inspect_container(self.name)["Id"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHost]:
    with lab_hosts(1, prefix="hft", images=[BUSYBOX], keys_dir=tmp_path_factory.mktemp("lab-keys")) as hosts:
        yield hosts[0]


@pytest.fixture(params=["local", "ssh"])
def host(request: pytest.FixtureRequest) -> Iterator[Host]:
    if request.param == "local":
        client, args = docker.APIClient(version="1.41"), []
    else:
        lab: LabHost = request.getfixturevalue("lab")
        client = docker.APIClient(base_url=lab.docker_url, version="1.41")
        args = ["-H", lab.ssh_url, "--known-hosts", str(lab.known_hosts_file), "--private-key", str(lab.identity_file)]
    _remove_ours(client)
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    client.start(client.create_container(BUSYBOX, ["sleep", "3600"], name=name))
    try:
        yield Host(args, client, name)
    finally:
        _remove_ours(client)
        client.close()


def _remove_ours(client: Any) -> None:
    for c in client.containers(all=True):
        if any(n.lstrip("/").startswith(PREFIX) for n in c["Names"]):
            client.remove_container(c["Id"], force=True)


def _playbook(tmp_path: Path, host: Host, changes: list[dict[str, Any]], *, failing: bool = False,
              vars: dict[str, str] | None = None) -> str:
    """A playbook selecting the host's container; ``failing``: its verify never passes (busybox
    serves no HTTP), so an apply rolls back."""
    book: dict[str, Any] = {"name": "hf", "description": "d", "safety": "auto", "select": {"name": host.name},
                            "changes": [*changes, {"env": {"HF_MARK": uuid.uuid4().hex[:6]}}], "vars": vars or {}}
    if failing:
        book["verify"] = [{"http": {"port": 8000, "path": "/"}}]
    path = tmp_path / f"hf-{uuid.uuid4().hex[:6]}.yml"
    path.write_text(json.dumps(book))  # JSON is YAML
    return str(path)


def _cli(cli: Cli, host: Host, *args: str) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of a CLI run against the host."""
    from click.testing import CliRunner

    from remediate.cli.main import main

    result = CliRunner().invoke(main, [*args, *host.args], env=cli.env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _refused(cli: Cli, host: Host, *args: str) -> str:
    """A run that must be one line on stderr and exit 2, with the container untouched."""
    before = host.container_id()
    code, out, err = _cli(cli, host, *args)
    assert code == 2, out + err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err, err
    assert host.container_id() == before
    return err


def _tree(path: Path) -> dict[str, tuple[int, int, int, int, bytes | None]]:
    """Everything under ``path``: mode, owner, group, inode and content of each entry."""
    found = {}
    for entry in sorted(path.rglob("*")):
        st = entry.lstat()
        content = entry.read_bytes() if entry.is_file() and not entry.is_symlink() else None
        found[str(entry.relative_to(path))] = (st.st_mode, st.st_uid, st.st_gid, st.st_ino, content)
    return found


# --------------------------------------------------------------------------- symlinks on the way

def test_a_symlinked_directory_is_refused_and_nothing_written_behind_it(cli: Cli, host: Host, tmp_path: Path) -> None:
    root_only = tmp_path / "root-only-dir"
    root_only.mkdir(mode=0o700)
    ml = tmp_path / "srv" / "ml"
    ml.mkdir(parents=True)
    os.chown(ml, DEPLOY, DEPLOY)
    (ml / "templates").symlink_to(root_only)  # made by the unprivileged owner of /srv/ml
    book = _playbook(tmp_path, host, [{"file": {"dest": f"{ml}/templates/authorized_keys",
                                                "content": "ssh-ed25519 AAAA attacker\n"}}])

    for args in (["--dry-run"], ["--yes"]):
        err = _refused(cli, host, "apply", book, *args)
        assert f"{ml}/templates is a symlink" in err and "follow_symlinks" in err
    assert list(root_only.iterdir()) == []


def test_a_dest_that_is_a_symlink_is_never_read_into_the_output(cli: Cli, host: Host, tmp_path: Path) -> None:
    key = tmp_path / "root-only-key"
    key.write_text("PRIVATE-KEY-BYTES-7f3a\n")
    key.chmod(0o600)
    (tmp_path / "to-key").symlink_to(key)
    (tmp_path / "to-environ").symlink_to("/proc/self/environ")
    for link in ("to-key", "to-environ"):
        book = _playbook(tmp_path, host, [{"file": {"dest": f"{tmp_path}/{link}", "content": "x\n"}}])
        err = _refused(cli, host, "apply", book, "--dry-run", "--report", str(tmp_path / "r.md"))
        assert "PRIVATE-KEY-BYTES" not in err and "REMEDIATE_STATE_DIR" not in err and "PATH=" not in err
        assert f"{tmp_path}/{link} is a symlink" in err
    assert key.read_text() == "PRIVATE-KEY-BYTES-7f3a\n" and (tmp_path / "to-key").is_symlink()


# --------------------------------------------------------------------------- what is read and shown

def test_an_unreadable_file_is_shown_by_digest_and_outputs_are_0600(cli: Cli, host: Host, tmp_path: Path) -> None:
    key = tmp_path / "app.key"
    key.write_text("PRIVATE-KEY-BYTES-7f3a\n")
    key.chmod(0o600)
    book = _playbook(tmp_path, host, [{"file": {"dest": str(key), "content": "replacement\n"}}])
    report, saved = tmp_path / "report.md", tmp_path / "plan.json"

    code, out, err = _cli(cli, host, "apply", book, "--dry-run", "--report", str(report), "--out", str(saved))

    assert code == 0, out + err
    for text in (out, report.read_text(), saved.read_text()):
        assert "PRIVATE-KEY-BYTES" not in text
    assert "current content not shown (23 bytes, sha256" in out and "+replacement" in out
    assert report.stat().st_mode & 0o777 == 0o600 and saved.stat().st_mode & 0o777 == 0o600
    assert key.read_text() == "PRIVATE-KEY-BYTES-7f3a\n"

    code, out, err = _cli(cli, host, "apply", book, "--yes")  # the replace, then the rollback's preview
    assert code == 0, out + err
    code, out, err = _cli(cli, host, "rollback", host.name, "--dry-run")
    assert code == 0, out + err
    assert "PRIVATE-KEY-BYTES" not in out and "content not shown: mode 0600 is not world-readable" in out
    code, out, err = _cli(cli, host, "rollback", host.name, "--yes")
    assert code == 0, out + err
    assert key.read_text() == "PRIVATE-KEY-BYTES-7f3a\n" and key.stat().st_mode & 0o777 == 0o600


def test_a_huge_file_is_refused_in_bounded_time(cli: Cli, host: Host, tmp_path: Path) -> None:
    big = tmp_path / "model.bin"
    with big.open("wb") as fh:
        fh.truncate(256 * 1024 * 1024)  # sparse: 256 MB to any reader
    book = _playbook(tmp_path, host, [{"file": {"dest": str(big), "content": "x\n"}}])
    started = time.monotonic()
    err = _refused(cli, host, "apply", book, "--dry-run")
    assert time.monotonic() - started < 30
    assert f"{big} is {256 * 1024 * 1024} bytes" in err and "more than the 4 MiB" in err


# --------------------------------------------------------------------------- owner, mode, links

def test_replace_keeps_owner_mode_and_hard_links_and_so_do_undo_and_rollback(cli: Cli, host: Host,
                                                                              tmp_path: Path) -> None:
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    compose, twin = deploy / "compose.yml", deploy / "compose.hardlink.yml"
    compose.write_text("services: {}\n")
    os.chown(compose, DEPLOY, DEPLOY + 1)
    compose.chmod(0o640)
    os.link(compose, twin)
    before = _tree(deploy)
    change = [{"file": {"dest": str(compose), "content": "services: {app: {}}\n"}}]

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change), "--dry-run")
    assert code == 0, out + err
    assert f"owner {DEPLOY}:{DEPLOY + 1} kept" in out and "2 hard links: written in place" in out

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change, failing=True), "--yes", "--timeout", "2")
    assert code == 1, out + err
    assert _tree(deploy) == before  # the failed apply's undo: same bytes, owner, mode, inode, links

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change), "--yes")
    assert code == 0, out + err
    st = compose.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777, st.st_nlink) == (DEPLOY, DEPLOY + 1, 0o640, 2)
    assert twin.read_text() == "services: {app: {}}\n" and st.st_ino == before["compose.yml"][3]

    code, out, err = _cli(cli, host, "rollback", host.name, "--yes")
    assert code == 0, out + err
    assert _tree(deploy) == before


# --------------------------------------------------------------------------- directories made

def test_directories_made_are_shown_0755_and_removed_with_the_change(cli: Cli, host: Host, tmp_path: Path) -> None:
    made = tmp_path / "new"
    dest = made / "a" / "template.jinja"
    change = [{"file": {"dest": str(dest), "content": "t\n"}}]

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change), "--dry-run")
    assert code == 0, out + err
    assert f"new directory {made} (mode 0755)" in out and f"new directory {made}/a (mode 0755)" in out

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change, failing=True), "--yes", "--timeout", "2")
    assert code == 1, out + err
    assert not made.exists()

    old = os.umask(0o077)  # the local writer's umask does not decide the mode
    try:
        code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change), "--yes")
    finally:
        os.umask(old)
    assert code == 0, out + err
    assert [(p.stat().st_mode & 0o7777) for p in (made, made / "a")] == [0o755, 0o755]
    assert dest.read_text() == "t\n"

    code, out, err = _cli(cli, host, "rollback", host.name, "--yes")
    assert code == 0, out + err
    assert not made.exists()


def test_a_missing_bind_source_is_shown_and_removed_with_the_change(cli: Cli, host: Host, tmp_path: Path) -> None:
    source = tmp_path / "bind" / "models"
    change = [{"mount": {"source": str(source), "target": "/models"}}]

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change), "--dry-run")
    assert code == 0, out + err
    assert f"the engine creates {tmp_path}/bind, {source} as empty" in out

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change, failing=True), "--yes", "--timeout", "2")
    assert code == 1, out + err
    assert not (tmp_path / "bind").exists()

    code, out, err = _cli(cli, host, "apply", _playbook(tmp_path, host, change), "--yes")
    assert code == 0, out + err
    assert source.is_dir()
    code, out, err = _cli(cli, host, "rollback", host.name, "--yes")
    assert code == 0, out + err
    assert not (tmp_path / "bind").exists()


# --------------------------------------------------------------------------- policy

@pytest.mark.parametrize(("file", "reason"), [
    ({"dest": "{tmp}/allowed/../victim/x"}, "must not contain '..'"),
    ({"dest": "{tmp}/x", "mode": "6777"}, "6777 is setuid and setgid and world-writable"),
    ({"dest": "{tmp}/x", "mode": "0666"}, "world-writable"),
    ({"dest": "/proc/self/environ"}, "never written"),
])
def test_policy_refusals_are_one_line_before_anything(cli: Cli, host: Host, tmp_path: Path, file: dict[str, str],
                                                      reason: str) -> None:
    spec = {k: v.replace("{tmp}", str(tmp_path)) for k, v in file.items()}
    book = _playbook(tmp_path, host, [{"file": {**spec, "content": "x\n"}}])
    for args in (["--dry-run"], ["--yes"]):
        assert reason in _refused(cli, host, "apply", book, *args)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("hf-")) == []


def test_a_templated_dest_with_dot_dot_is_refused_once_rendered(cli: Cli, host: Host, tmp_path: Path) -> None:
    book = _playbook(tmp_path, host, [{"file": {"dest": "{{ where }}", "content": "x\n"}}], vars={"where": "/srv/x"})
    err = _refused(cli, host, "apply", book, "--dry-run", "-e", f"where={tmp_path}/a/../b")
    assert "must not contain '..'" in err
    assert not (tmp_path / "b").exists()


# --------------------------------------------------------------------------- a compose file behind a symlink

def test_a_symlinked_compose_file_stays_a_link_and_its_target_is_edited(cli: Cli, docker_client: Any,
                                                                         tmp_path: Path) -> None:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no docker compose")
    stack = tmp_path / "stack"
    (stack / "releases").mkdir(parents=True)
    target = stack / "releases" / "v1.yml"
    target.write_text(f"services:\n  app:\n    image: {BUSYBOX}\n    command: [sleep, '3600']\n")
    os.chown(target, DEPLOY, DEPLOY)
    (stack / "compose.yml").symlink_to("releases/v1.yml")
    project = f"{PREFIX.rstrip('-')}{uuid.uuid4().hex[:6]}"
    compose = ["docker", "compose", "-p", project, "-f", str(stack / "compose.yml")]
    subprocess.run([*compose, "up", "-d"], check=True, capture_output=True, timeout=120)
    try:
        name = docker_client.api.containers(filters={"label": f"com.docker.compose.project={project}"})[0]["Names"][0]
        book = tmp_path / "env.yml"
        book.write_text(json.dumps({"name": "hf", "description": "d", "safety": "auto",
                                    "select": {"name": name.lstrip("/")}, "changes": [{"env": {"HF_MARK": "1"}}]}))
        code, out = cli("apply", str(book), "--dry-run")
        assert code == 0, out
        assert f"{stack}/compose.yml leads to {target} through symlinks" in out
        code, out = cli("apply", str(book), "--yes")
        assert code == 0, out
        assert os.readlink(stack / "compose.yml") == "releases/v1.yml"
        assert "HF_MARK" in target.read_text() and (target.stat().st_uid, target.stat().st_gid) == (DEPLOY, DEPLOY)
    finally:
        subprocess.run([*compose, "down"], capture_output=True, timeout=120, check=False)
        for c in docker_client.api.containers(all=True, filters={"name": project}):
            docker_client.api.remove_container(c["Id"], force=True)
        shutil.rmtree(stack, ignore_errors=True)
