"""Containers that Docker Compose owns, with real compose projects (v2 plugin and v1 docker-compose).

The seed's broken vLLM runs as the service ``vllm`` of a compose file with comments (port 8000
published on 127.0.0.1 only). The dry run names the project and service, shows the compose file's
diff and changes nothing; the apply fixes it (404 -> 200) in the container and the compose file
(comments kept); then compose itself runs against the project: ``up -d``, ``up -d
--force-recreate`` and ``restart`` keep the fix, ``ps -a`` always shows exactly one container of
the service (remediate's backup is kept out of compose's sight); rollback puts the file's bytes
and the broken container back as compose's own; a failing verify leaves file and service as they
were; ``down`` removes compose's containers and network. Each test uses its own project name and
removes everything it made, remediate's backups included. Over SSH (a lab host: its own engine,
sshd), the compose file is read and written over SFTP.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from tests.conftest import OWNER, TEST_LABEL
from tests.integration._proc import PLAYBOOK, run
from tests.integration.rtcat import VLLM, http
from tests.lab.hosts import LabHost, lab_hosts

pytestmark = pytest.mark.integration

#: The project's container and network carry this run's owner label: a killed run's are swept.
COMPOSE_FILE = f"""\
# The self-hosted Duo stack's model server (remediate test project).
services:
  vllm:
    image: vllm/vllm-openai:v0.6.3
    # Broken on purpose: no --served-model-name, no chat template.
    command: ["--model", "mistralai/Mistral-7B-Instruct-v0.3"]
    ports:
      - "127.0.0.1::8000"   # loopback only
    labels: {{{TEST_LABEL}: "{OWNER}"}}
networks:
  default:
    labels: {{{TEST_LABEL}: "{OWNER}"}}
"""
WAIT = 60.0
CHAT = {"model": "mistral", "messages": [{"role": "user", "content": "Hi"}]}


def _binaries() -> list[tuple[str, list[str]]]:
    found = []
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version", "--short"], capture_output=True,
                                                 text=True, check=False).returncode == 0:
        found.append(("v2", ["docker", "compose"]))
    if shutil.which("docker-compose"):
        v1 = subprocess.run(["docker-compose", "version", "--short"], capture_output=True, text=True, check=False)
        if v1.stdout.startswith("1."):
            found.append(("v1", ["docker-compose"]))
    return found


@dataclass
class Project:
    """One compose project in a temporary directory, driven by one compose binary."""

    argv: list[str]
    name: str
    directory: Path

    @property
    def file(self) -> Path:
        return self.directory / "compose.yml"

    def compose(self, *args: str) -> str:
        proc = subprocess.run([*self.argv, "-p", self.name, "-f", str(self.file), *args], capture_output=True,
                              text=True, timeout=WAIT * 2, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def service_ids(self) -> list[str]:
        """Every container compose counts as the project's (``ps -a``)."""
        return self.compose("ps", "-a", "-q").split()

    def container(self) -> str:
        ids = self.service_ids()
        assert len(ids) == 1, ids
        return _docker("inspect", "--format", "{{.Name}}", ids[0]).strip().lstrip("/")

    def port(self) -> int:
        out = _docker("port", self.container(), "8000/tcp").splitlines()[0]
        return int(out.rsplit(":", 1)[1])

    def chat_status(self) -> int:
        """POST /v1/chat/completions for model ``mistral`` once the server answers /health."""
        deadline = time.monotonic() + WAIT
        while True:
            try:
                if http(self.port(), "/health")[0] == 200:
                    return http(self.port(), "/v1/chat/completions", method="POST", body=CHAT)[0]
            except (OSError, IndexError, AssertionError):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: vllm did not answer within {WAIT} s")
            time.sleep(0.5)

    def all_containers(self) -> list[str]:
        """Every container of this run: compose's and remediate's backups of them."""
        return _docker("ps", "-a", "-q", "--filter", f"name=^{self.name}").split()


def _docker(*args: str) -> str:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=WAIT, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(params=_binaries() or [pytest.param(("none", []), marks=pytest.mark.skip("no compose binary"))],
                ids=lambda b: b[0])
def project(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Project]:
    version, argv = request.param
    proj = Project(argv, f"rtcmp{version}{uuid.uuid4().hex[:8]}", tmp_path / "stack")
    proj.directory.mkdir()
    proj.file.write_text(COMPOSE_FILE)
    try:
        proj.compose("up", "-d")
        yield proj
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired):  # the containers go below in any case
            subprocess.run([*argv, "-p", proj.name, "-f", str(proj.file), "down"], capture_output=True,
                           timeout=WAIT * 2, check=False)
        leftovers = proj.all_containers()
        if leftovers:
            subprocess.run(["docker", "rm", "-f", *leftovers], capture_output=True, timeout=WAIT, check=False)


def _apply(project: Project, state: str, tmp_path: Path, *extra: str) -> tuple[int, str]:
    result = run(["apply", str(PLAYBOOK), "--container", project.container(),
                  "-e", f"template_host_path={tmp_path / 'chat_template.jinja'}", *extra], state)
    return result.code, result.output


def test_dry_run_names_the_compose_service_and_changes_nothing(project: Project, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    before_id, before_file = project.service_ids(), project.file.read_bytes()
    code, text = _apply(project, state, tmp_path, "--dry-run")
    assert code == 0, text
    assert f"compose: project {project.name}, service vllm ({project.file}" in text
    assert f"file {project.file} (mode 0644)" in text
    assert '+    command: ["--model", "mistralai/Mistral-7B-Instruct-v0.3", "--served-model-name", "mistral",' in text
    assert f"+      - {tmp_path / 'chat_template.jinja'}:/etc/vllm/chat_template.jinja:ro" in text
    code, out = _apply(project, state, tmp_path, "--dry-run", "--format", "json")
    assert code == 0, out
    owner = json.loads(out)["containers"][0]["compose"]
    assert (owner["project"], owner["service"], owner["config_files"], owner["working_dir"], owner["oneoff"]) == (
        project.name, "vllm", [str(project.file)], str(project.directory), False)
    assert owner["version"]
    assert project.service_ids() == before_id
    assert project.file.read_bytes() == before_file
    assert not (tmp_path / "chat_template.jinja").exists()
    assert project.chat_status() == 404


def test_fix_keeps_one_container_per_service_through_compose_and_rollback(project: Project, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    assert project.chat_status() == 404
    code, out = _apply(project, state, tmp_path, "--yes")
    assert code == 0, out
    assert project.chat_status() == 200
    fixed = project.service_ids()
    assert len(fixed) == 1
    assert len(project.all_containers()) == 2  # the fixed one and remediate's backup

    fixed_file = project.file.read_text()
    assert fixed_file.startswith("# The self-hosted Duo stack's model server (remediate test project).\n")
    assert "    # Broken on purpose: no --served-model-name, no chat template.\n" in fixed_file
    assert '      - "127.0.0.1::8000"   # loopback only\n' in fixed_file
    assert '"--served-model-name", "mistral", "--chat-template", "/etc/vllm/chat_template.jinja"]' in fixed_file

    # compose itself: it recreates the service from the fixed file, which keeps the fix.
    for args in (["up", "-d"], ["up", "-d", "--force-recreate"], ["restart", "vllm"], ["up", "-d"]):
        project.compose(*args)
        assert len(project.service_ids()) == 1, args
        assert project.chat_status() == 200, args
    fixed = project.service_ids()
    backups = run(["backups", "--container", project.container()], state)
    assert backups.code == 0 and f"{project.container()}-remediate-backup-" in backups.output, backups.output

    rolled = run(["rollback", project.container(), "--yes"], state)
    assert rolled.code == 0, rolled.output
    restored = project.service_ids()
    assert len(restored) == 1 and restored != fixed
    assert project.file.read_text() == COMPOSE_FILE  # the bytes, comments and all
    assert project.chat_status() == 404
    project.compose("up", "-d")  # the restored original is compose's own container again
    assert project.service_ids() == restored

    project.compose("down")
    assert project.service_ids() == []
    networks = _docker("network", "ls", "-q", "--filter", f"name={project.name}").split()
    assert networks == []
    # What is left is remediate's backup only, out of compose's sight: compose never counts it.
    left = project.all_containers()
    assert len(left) == 1
    labels = json.loads(_docker("inspect", "--format", "{{json .Config.Labels}}", left[0]))
    assert labels["remediate.disarmed.com.docker.compose.project"] == project.name
    assert not any(k.startswith("com.docker.compose.") for k in labels)
    # The README's command removes them.
    _docker("rm", *_docker("ps", "-a", "-q", "--filter",
                           f"label=remediate.disarmed.com.docker.compose.project={project.name}").split())
    assert project.all_containers() == []


def test_compose_up_after_apply_keeps_the_fixed_container_and_rollback_still_restores(
        project: Project, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    original = project.service_ids()
    code, out = _apply(project, state, tmp_path, "--yes")
    assert code == 0, out
    fixed = project.service_ids()
    assert len(fixed) == 1 and fixed != original
    hashes = json.loads(_docker("inspect", "--format", "{{json .Config.Labels}}", fixed[0]))
    assert hashes["com.docker.compose.config-hash"] == project.compose("config", "--hash", "vllm").split()[1]
    project.compose("up", "-d")  # compose finds the service up to date: no second recreate
    assert project.service_ids() == fixed
    assert project.chat_status() == 200

    rolled = run(["rollback", project.container(), "--yes"], state)
    assert rolled.code == 0, rolled.output
    assert project.file.read_text() == COMPOSE_FILE
    restored = project.service_ids()
    assert len(restored) == 1 and restored != fixed
    assert project.chat_status() == 404
    project.compose("up", "-d")  # the original's hash matches the original file again
    assert project.service_ids() == restored


def test_a_saved_plan_keeps_container_only(project: Project, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    only, full = tmp_path / "only.json", tmp_path / "full.json"
    for path, extra in ((only, ["--container-only"]), (full, [])):
        code, out = _apply(project, state, tmp_path, "--dry-run", "--out", str(path), *extra)
        assert code == 0, out
    before = project.service_ids()
    refused = run(["apply", "--plan", str(full), "--container-only", "--yes"], state)
    assert refused.code == 2 and "the plan was saved with the compose file edits" in refused.output, refused.output
    assert project.service_ids() == before
    result = run(["apply", "--plan", str(only), "--yes"], state)
    assert result.code == 0, result.output
    assert "compose (warning): --container-only" in result.output
    assert project.file.read_text() == COMPOSE_FILE
    assert project.chat_status() == 200
    assert len(project.service_ids()) == 1


FAILING = """\
name: cmp-failing-verify
description: sets an environment variable; its probe can never pass
select:
  - image: "vllm/vllm-openai*"
changes:
  - env:
      CMP_MARK: "1"
verify:
  - http:
      port: 8000
      path: /v1/no-such-path
      status: 200
"""


def test_failing_verify_leaves_file_and_service_as_they_were(project: Project, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    book = tmp_path / "failing.yml"
    book.write_text(FAILING)
    before = project.service_ids()
    dry = run(["apply", str(book), "--dry-run", "--container", project.container()], state)
    assert dry.code == 0 and "+    environment:" in dry.output and "+      CMP_MARK: '1'" in dry.output, dry.output
    result = run(["apply", str(book), "--yes", "--timeout", "3", "--container", project.container()], state)
    assert result.code == 1, result.output
    assert project.file.read_text() == COMPOSE_FILE
    assert project.service_ids() == before
    assert project.chat_status() == 404
    project.compose("up", "-d")
    assert project.service_ids() == before  # compose finds its own container unchanged


def test_value_from_interpolation_is_refused_unless_container_only(project: Project, tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    text = COMPOSE_FILE.replace('"mistralai/Mistral-7B-Instruct-v0.3"', '"${MODEL:-mistralai/Mistral-7B-Instruct-v0.3}"')
    project.file.write_text(text)
    project.compose("up", "-d")
    before = project.service_ids()
    code, out = _apply(project, state, tmp_path, "--yes")
    assert code == 2, out
    assert out.strip().splitlines()[-1].startswith(f"remediate: {project.file}:6: command comes from ${{VAR}}")
    assert project.service_ids() == before and project.file.read_text() == text
    code, out = _apply(project, state, tmp_path, "--yes", "--container-only")
    assert code == 0, out
    assert "compose (warning): --container-only" in out
    assert project.file.read_text() == text
    assert project.chat_status() == 200
    assert len(project.service_ids()) == 1


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHost]:
    with lab_hosts(1, prefix="rcm", images=[VLLM], keys_dir=tmp_path_factory.mktemp("lab-keys")) as hosts:
        yield hosts[0]


@pytest.mark.skipif(not any(v == "v2" for v, _ in _binaries()), reason="no compose v2 plugin")
def test_remote_compose_service_over_ssh(remote: LabHost, tmp_path: Path) -> None:
    """The compose file is read and written over SFTP; the engine is the lab host's."""
    proj = Project(["env", f"DOCKER_HOST={remote.docker_url}", "docker", "compose"], f"rtcmpssh{uuid.uuid4().hex[:8]}",
                   tmp_path / "stack")
    proj.directory.mkdir()
    proj.file.write_text(COMPOSE_FILE)
    state = str(tmp_path / "state")
    ssh = ["-H", remote.ssh_url, "--known-hosts", str(remote.known_hosts_file), "--private-key", str(remote.identity_file)]
    try:
        proj.compose("up", "-d")
        name = f"{proj.name}-vllm-1"
        vars_ = ["-e", f"template_host_path={tmp_path / 'chat_template.jinja'}"]
        dry = run(["apply", str(PLAYBOOK), "--dry-run", "--container", name, *vars_, *ssh], state)
        assert dry.code == 0 and f"file {proj.file} (mode 0644)" in dry.output, dry.output
        assert proj.file.read_text() == COMPOSE_FILE
        result = run(["apply", str(PLAYBOOK), "--yes", "--container", name, *vars_, *ssh], state)
        assert result.code == 0, result.output  # its verify: chat completions for "mistral" -> 200
        assert "--served-model-name" in proj.file.read_text()
        applied = proj.compose("ps", "-a", "-q").split()
        proj.compose("up", "-d")  # the config hash is the one the host's compose computes: up to date
        assert proj.compose("ps", "-a", "-q").split() == applied
        proj.compose("up", "-d", "--force-recreate")
        ids = proj.compose("ps", "-a", "-q").split()
        assert len(ids) == 1
        client = docker.DockerClient(base_url=remote.docker_url)
        try:
            assert "--served-model-name" in client.api.inspect_container(ids[0])["Config"]["Cmd"]
        finally:
            client.close()
        rolled = run(["rollback", name, "--yes", *ssh], state)
        assert rolled.code == 0, rolled.output
        assert proj.file.read_text() == COMPOSE_FILE
    finally:
        subprocess.run([*proj.argv, "-p", proj.name, "-f", str(proj.file), "down"], capture_output=True,
                       timeout=WAIT * 2, check=False)
        env_docker = ["env", f"DOCKER_HOST={remote.docker_url}", "docker"]
        left = subprocess.run([*env_docker, "ps", "-aq", "--filter", f"name=^{proj.name}"], capture_output=True,
                              text=True, timeout=WAIT, check=False).stdout.split()
        if left:
            subprocess.run([*env_docker, "rm", "-f", *left], capture_output=True, timeout=WAIT, check=False)
