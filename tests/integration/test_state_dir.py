"""The state directory (journal, lock) is trusted only when no other user can write it, journal
records are checked against their transaction, the lock's owner is known across pid namespaces
and machines, and a non-root user gets a state directory of its own: real processes, the real
engine, and (for the trust checks) a real SSH host of the lab."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from remediate.host.connection import Connection
from tests.conftest import remove_owned
from tests.integration._proc import (
    REMEDIATE,
    REPO,
    Background,
    engine_state_dir,
    names_with_prefix,
    remediate_env,
    run,
    run_vllm,
    start,
)
from tests.lab.hosts import LabHost, lab_hosts

pytestmark = pytest.mark.integration

PREFIX = "rt-statedir-"
NOBODY = 65534
LAB_IMAGE = "remediate-test/busybox:1"


@pytest.fixture
def vllm(docker_client: Any) -> Iterator[dict[str, Any]]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        yield run_vllm(docker_client, name)
    finally:
        remove_owned(docker_client, name)


@pytest.fixture
def victims(tmp_path: Path) -> dict[str, Path]:
    """What a planted journal goes after: a root-only directory and a root file, and the
    attacker's content (owned by another user)."""
    root_only = tmp_path / "root-only"
    root_only.mkdir(mode=0o700)
    victim = tmp_path / "root-file"
    victim.write_text("root's own\n")
    evil = tmp_path / "evil"
    evil.write_text("ssh-ed25519 AAAA attacker\n")
    os.chown(evil, NOBODY, NOBODY)
    return {"target": root_only / "authorized_keys", "victim": victim, "evil": evil}


def _plant(directory: Path, container: dict[str, Any], victims: dict[str, Path], *, saved: str | None = None) -> None:
    """An unfinished apply of ``container`` whose undo would write the attacker's content into
    the root-only directory and delete the root file."""
    begin = {"v": 1, "tx": "planted0001", "op": "begin", "kind": "apply", "container": container["Name"].lstrip("/"),
             "old_id": container["Id"], "was_running": True, "restart_policy": {"Name": "no"},
             "time": "2026-01-01T00:00:00+00:00",
             "files": [{"path": str(victims["target"]), "saved": saved or str(victims["evil"]), "mode": 0o644},
                       {"path": str(victims["victim"]), "saved": None, "mode": None}]}
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "journal.jsonl").write_text(json.dumps(begin) + "\n")


def _untouched(victims: dict[str, Path]) -> None:
    assert not victims["target"].exists()
    assert victims["victim"].read_text() == "root's own\n"


def _unsafe(tmp_path: Path, how: str) -> tuple[Path, Path]:
    """A state root made unsafe in way ``how``; returns (the root, the path the message must name)."""
    root = tmp_path / "state"
    if how == "writable-by-others":
        root.mkdir(mode=0o700)
        root.chmod(0o777)
        return root, root
    if how == "owned-by-another-user":
        root.mkdir(mode=0o700)
        os.chown(root, NOBODY, NOBODY)
        return root, root
    if how == "a-symlink":
        (tmp_path / "elsewhere").mkdir(mode=0o700)
        root.symlink_to(tmp_path / "elsewhere")
        return root, root
    if how == "parent-writable-by-others":
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)  # no sticky bit: anyone may swap what is in it
        return shared / "state", shared
    raise AssertionError(how)


HOWS = ["writable-by-others", "owned-by-another-user", "a-symlink", "parent-writable-by-others"]


@pytest.mark.parametrize("how", HOWS)
def test_a_planted_journal_in_an_unsafe_state_dir_is_refused(how: str, tmp_path: Path, vllm: dict[str, Any],
                                                             victims: dict[str, Path]) -> None:
    root, named = _unsafe(tmp_path, how)
    _plant(engine_state_dir(str(root)), vllm, victims)

    result = run(["recover"], str(root))

    assert result.code == 2, result.output
    [line] = result.stderr.splitlines()
    assert str(named) in line and "REMEDIATE_STATE_DIR" in line and "Traceback" not in line
    _untouched(victims)
    # Every command that reads the journal refuses it: a dry run too (it would trust its records).
    dry = run(["apply", "fix-vllm-404", "--container", vllm["Name"].lstrip("/"), "--dry-run",
               "-e", f"template_host_path={tmp_path}/t.jinja"], str(root))
    assert dry.code == 2 and str(named) in dry.stderr, dry.output


def test_a_journal_file_of_another_user_is_refused(tmp_path: Path, vllm: dict[str, Any],
                                                   victims: dict[str, Path]) -> None:
    root = tmp_path / "state"
    directory = engine_state_dir(str(root))
    _plant(directory, vllm, victims)
    os.chown(directory / "journal.jsonl", NOBODY, NOBODY)

    result = run(["recover"], str(root))

    assert result.code == 2, result.output
    assert f"{directory}/journal.jsonl" in result.stderr and "belongs to uid 65534" in result.stderr
    _untouched(victims)


def test_a_fix_for_chmod_makes_it_trusted_again(tmp_path: Path, vllm: dict[str, Any]) -> None:
    root, _ = _unsafe(tmp_path, "writable-by-others")
    refused = run(["recover"], str(root))
    assert refused.code == 2 and f"chmod go-w {root}" in refused.stderr, refused.output

    root.chmod(0o700)

    result = run(["recover"], str(root))
    assert result.code == 0 and "nothing to recover" in result.stdout, result.output


def test_a_saved_copy_outside_the_transaction_is_never_restored(tmp_path: Path, vllm: dict[str, Any],
                                                                victims: dict[str, Path],
                                                                docker_client: Any) -> None:
    # A safe state directory, yet a record names a saved copy outside its transaction's own.
    root = tmp_path / "state"
    _plant(engine_state_dir(str(root)), vllm, victims)

    result = run(["recover"], str(root))

    assert result.code == 3, result.output
    assert "saved copy" in result.stdout and str(victims["evil"]) in result.stdout
    _untouched(victims)
    assert docker_client.api.inspect_container(vllm["Id"])["State"]["Running"]  # nothing done at all


def test_a_file_not_written_by_the_transaction_is_not_deleted(tmp_path: Path, vllm: dict[str, Any],
                                                              victims: dict[str, Path]) -> None:
    # Only the deletion is planted (its saved copy is the transaction's own place, so no copy):
    # the file holds nothing the transaction wrote, so it stays.
    root = tmp_path / "state"
    directory = engine_state_dir(str(root))
    begin = {"v": 1, "tx": "planted0002", "op": "begin", "kind": "apply", "container": vllm["Name"].lstrip("/"),
             "old_id": vllm["Id"], "was_running": True, "restart_policy": {"Name": "no"},
             "files": [{"path": str(victims["victim"]), "saved": None, "mode": None,
                        "written": "0" * 64}]}
    directory.mkdir(parents=True)
    (directory / "journal.jsonl").write_text(json.dumps(begin) + "\n")

    result = run(["recover"], str(root))

    assert result.code == 0, result.output
    assert f"left {victims['victim']} as it is" in result.stdout
    _untouched(victims)


# --------------------------------------------------------------------------- over SSH

@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHost]:
    keys = tmp_path_factory.mktemp("lab-keys")
    with lab_hosts(1, prefix="rsd", images=[LAB_IMAGE], keys_dir=keys) as hosts:
        yield hosts[0]


@pytest.fixture
def remote_container(lab: LabHost) -> Iterator[dict[str, Any]]:
    client = docker.APIClient(base_url=lab.docker_url, version="1.41")
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    created = client.create_container(LAB_IMAGE, ["sleep", "3600"], name=name)
    client.start(created)
    try:
        with Connection(lab.docker_url) as conn:  # the same engine as over SSH: the same state directory
            engine_id = conn.engine_id
        yield {**client.inspect_container(created), "engine_id": engine_id}
    finally:
        client.remove_container(created, force=True)
        client.close()


@pytest.mark.parametrize("how", ["writable-by-others", "owned-by-another-user", "parent-writable-by-others"])
def test_over_ssh_a_planted_journal_in_an_unsafe_state_dir_is_refused(how: str, tmp_path: Path, lab: LabHost,
                                                                      remote_container: dict[str, Any],
                                                                      victims: dict[str, Path]) -> None:
    root, named = _unsafe(tmp_path, how)
    _plant(root / remote_container["engine_id"], remote_container, victims)  # the lab shares this disk

    result = run(["recover", "-H", lab.ssh_url, "--known-hosts", str(lab.known_hosts_file)], str(root),
                 HOME=str(lab.ssh_home))

    assert result.code == 2, result.output
    [line] = result.stderr.splitlines()
    assert str(named) in line and "REMEDIATE_STATE_DIR" in line
    _untouched(victims)


def test_over_ssh_a_safe_state_dir_is_used_and_made_0700(tmp_path: Path, lab: LabHost,
                                                         remote_container: dict[str, Any]) -> None:
    root = tmp_path / "state"

    result = run(["recover", "-H", lab.ssh_url, "--known-hosts", str(lab.known_hosts_file)], str(root),
                 HOME=str(lab.ssh_home))

    assert result.code == 0 and "nothing to recover" in result.stdout, result.output
    assert (root.stat().st_mode & 0o777, (root / remote_container["engine_id"]).stat().st_mode & 0o777) == \
        (0o700, 0o700)


# --------------------------------------------------------------------------- the lock

def _paused_apply(name: str, tmp_path: Path, state: str) -> Background:
    proc = start(["apply", "fix-vllm-404", "--container", name, "-e", f"template_host_path={tmp_path}/t.jinja",
                  "--yes"], state, REMEDIATE_PAUSE_AT="stopped")
    proc.wait_for("remediate: paused at stopped")
    return proc


def _recover_elsewhere(state: str, tmp_path: Path, *, machine: bool) -> subprocess.CompletedProcess[str]:
    """``remediate recover`` in a pid namespace of its own; with ``machine``, also as another
    machine of the same host name would (its own boot id and machine id)."""
    script = f'exec {REMEDIATE} recover'
    if machine:
        boot, machine_id = tmp_path / "boot_id", tmp_path / "machine-id"
        boot.write_text(f"{uuid.uuid4()}\n")
        machine_id.write_text(f"{uuid.uuid4().hex}\n")
        script = (f"mount --bind {boot} /proc/sys/kernel/random/boot_id && "
                  f"mount --bind {machine_id} /etc/machine-id && {script}")
    return subprocess.run(["unshare", "--mount", "--pid", "--fork", "--mount-proc", "sh", "-c", script],
                          env=remediate_env(state), capture_output=True, text=True, timeout=120, check=False)


def test_a_live_lock_is_live_from_another_pid_namespace_and_another_machine(
        tmp_path: Path, vllm: dict[str, Any], docker_client: Any, state_dir: str) -> None:
    name = vllm["Name"].lstrip("/")
    holder = _paused_apply(name, tmp_path, state_dir)
    try:
        for machine in (False, True):
            other = _recover_elsewhere(state_dir, tmp_path, machine=machine)
            assert other.returncode == 2, other.stdout + other.stderr
            assert f"(pid {holder.pid}, apply fix-vllm-404" in other.stderr
            assert f"{name}-remediate-new" in names_with_prefix(docker_client, name)  # the apply's, untouched
        holder.kill()
        # Gone, but nothing proves it from another pid namespace: still live there.
        assert _recover_elsewhere(state_dir, tmp_path, machine=False).returncode == 2
    finally:
        holder.stop()

    result = run(["recover"], state_dir)  # here it is proven gone: taken over, the original put back

    assert result.code == 0, result.output
    assert names_with_prefix(docker_client, name) == {name}
    assert docker_client.api.inspect_container(name)["Id"] == vllm["Id"]


def test_a_lock_of_an_earlier_boot_of_this_machine_is_stale(tmp_path: Path, vllm: dict[str, Any],
                                                            state_dir: str) -> None:
    from remediate.executor.lock import identity

    lock = engine_state_dir(state_dir) / "lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(json.dumps({"user": "root", "controller": "x", "pid": os.getpid(), "purpose": "apply",
                                **identity(), "boot_id": str(uuid.uuid4())}))

    result = run(["recover"], state_dir)

    assert result.code == 0 and "nothing to recover" in result.stdout, result.output


# --------------------------------------------------------------------------- a non-root user

@pytest.fixture
def user(tmp_path: Path) -> Iterator[str]:
    """A throwaway user in the docker group (removed with its home afterwards)."""
    name = f"rmd{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--create-home", "--groups", "docker", "--shell", "/bin/sh", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", "--remove", name], check=False, capture_output=True)


def _as_user(user: str, args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``remediate ARGS`` as ``user``: no privilege of root left. When the interpreter lives
    under /root (0700; e.g. pyenv's, behind the project venv), a private mount namespace shows
    just it there."""
    stage = tmp_path / "python-stage"
    stage.mkdir(exist_ok=True)
    real = Path(os.path.realpath(sys.executable))
    home = f"/home/{user}"
    variables = {"HOME": home, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "COLUMNS": "200",
                 "PYTHONPATH": str(REPO), **env}
    command = ["env", "-i", *(f"{k}={v}" for k, v in variables.items()), sys.executable, "-c",
               "from remediate.cli.main import main; main()", *args]
    script = f"cd / && exec runuser -u {user} -- {shlex.join(command)}"
    if real.is_relative_to("/root"):
        top = Path("/root", real.relative_to("/root").parts[0])  # e.g. /root/.pyenv
        script = (f"mount --bind {top} {stage} && mount -t tmpfs -o mode=0755 tmpfs /root && "
                  f"mkdir -p {top} && mount --bind {stage} {top} && {script}")
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def root_state_used() -> Iterator[Path]:
    """Root's default state directory as after root ran remediate (removed again if made here)."""
    made = not Path("/var/lib/remediate").exists()
    env = {k: v for k, v in remediate_env("/unused").items() if k != "REMEDIATE_STATE_DIR"}
    done = subprocess.run([REMEDIATE, "recover"], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    try:
        yield Path("/var/lib/remediate")
    finally:
        if made:
            shutil.rmtree("/var/lib/remediate", ignore_errors=True)


def test_a_user_in_the_docker_group_dry_runs_with_a_state_dir_of_its_own(
        user: str, tmp_path: Path, vllm: dict[str, Any], root_state_used: Path) -> None:
    name = vllm["Name"].lstrip("/")

    dry = _as_user(user, ["apply", "fix-vllm-404", "--container", name, "--dry-run"], tmp_path)

    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "--served-model-name" in dry.stdout

    done = _as_user(user, ["recover"], tmp_path)  # writes: its own state directory, made 0700

    assert done.returncode == 0, done.stdout + done.stderr
    mine = Path(f"/home/{user}/.local/state/remediate")
    assert mine.stat().st_mode & 0o777 == 0o700 and mine.stat().st_uid == Path(f"/home/{user}").stat().st_uid
    assert [p.stat().st_mode & 0o777 for p in mine.iterdir()] == [0o700]

    xdg = _as_user(user, ["recover"], tmp_path, XDG_STATE_HOME=f"/home/{user}/xdg")
    assert xdg.returncode == 0 and Path(f"/home/{user}/xdg/remediate").is_dir(), xdg.stdout + xdg.stderr


def test_a_state_dir_the_user_cannot_use_says_which_and_how_to_choose_another(
        user: str, tmp_path: Path, vllm: dict[str, Any], root_state_used: Path) -> None:
    for args in (["recover"], ["apply", "fix-vllm-404", "--container", vllm["Name"].lstrip("/"), "--dry-run"]):
        result = _as_user(user, args, tmp_path, REMEDIATE_STATE_DIR=str(root_state_used))

        assert result.returncode == 2, result.stdout + result.stderr
        [line] = result.stderr.splitlines()
        assert str(root_state_used) in line and "REMEDIATE_STATE_DIR" in line and "belongs to root" in line

    # A directory it may not create: says which, and how to choose another.
    result = _as_user(user, ["recover"], tmp_path, REMEDIATE_STATE_DIR="/var/lib/remediate-of-someone")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "/var/lib/remediate-of-someone" in result.stderr and "REMEDIATE_STATE_DIR" in result.stderr
    assert "Permission denied" in result.stderr
