"""Real-world compose files (tests/integration/compose_corpus/): each fixed in place with Compose v2.

Every case is a directory shaped like a public project's compose setup (its ``case.yml`` names the
project it follows, the files in ``-f`` order, the service and its two fixes: an environment
variable, and a command argument, host networking or --ipc host). The files keep what people ship:
trailing spaces, a leading ``---``, no final newline, CRLF, odd indentation, anchors and ``<<`` merges shared
by several services, ``networks:`` beside host networking, override files, ``env_file:``, ``.env``
interpolation, comments inside ``command:``, flow-style lists. Images are replaced, when the
project is copied, by a locally built idle image (nothing is pulled).

For each case, one project is brought up and both fixes are applied in one pass; the case keeps
everything when the dry run changes nothing, the apply succeeds, ``compose config`` accepts the
files and shows both fixes, no other service's configuration changes, the next ``up -d`` leaves
every container as it is, and ``rollback`` puts every file's bytes back.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import OWNER, TEST_LABEL
from tests.integration._proc import run

pytestmark = pytest.mark.integration

CORPUS = Path(__file__).with_name("compose_corpus")
CASES = sorted(p.name for p in CORPUS.iterdir() if (p / "case.yml").is_file())
#: This process's own idle image: its containers carry this process's owner label (compose files
#: cannot be given one), so another run's sweep of dead runs leaves them alone.
IDLE = f"remediate-test/idle:{OWNER}"
#: Exits at once on SIGTERM (compose and remediate stop it without waiting out a timeout); any
#: command arguments are ignored.
IDLE_DOCKERFILE = f"""\
FROM remediate-test/busybox:1
LABEL remediate.test=1 {TEST_LABEL}={OWNER}
ENTRYPOINT ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait", "idle"]
"""
_IMAGE = re.compile(r"^(\s*image:\s*)(\S+)", re.MULTILINE)
WAIT = 120.0


def _run(*argv: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), cwd=cwd, capture_output=True, text=True, timeout=WAIT,
                          stdin=subprocess.DEVNULL, check=False)
    if check:
        assert proc.returncode == 0, f"{' '.join(argv)}: {proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def idle_image() -> Iterator[str]:
    if _run("docker", "compose", "version", "--short", check=False).returncode != 0:
        pytest.skip("no compose v2 plugin")
    subprocess.run(["docker", "build", "-q", "-t", IDLE, "-"], input=IDLE_DOCKERFILE, text=True, capture_output=True,
                   timeout=WAIT, check=True)
    yield IDLE
    _run("docker", "rmi", IDLE, check=False)  # the layers stay cached for the next run


@dataclass
class Case:
    """One corpus project copied into a temporary directory, its images replaced."""

    spec: dict[str, Any]
    name: str
    directory: Path

    @property
    def files(self) -> list[Path]:
        return [self.directory / f for f in self.spec["files"]]

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        explicit = [a for f in self.files for a in ("-f", str(f))] if self.spec.get("explicit", True) else []
        return _run("docker", "compose", "-p", self.name, *explicit, *args, cwd=self.directory, check=check)

    def ids(self) -> dict[str, str]:
        """Service -> container id, for every container compose counts as the project's."""
        out = self.compose("ps", "-a", "--format", "json").stdout.strip()
        rows = json.loads(out) if out.startswith("[") else [json.loads(line) for line in out.splitlines() if line]
        return {row["Service"]: row["ID"] for row in rows}

    def config(self) -> dict[str, Any]:
        return dict(json.loads(self.compose("config", "--format", "json").stdout)["services"])

    def file_bytes(self) -> dict[str, bytes]:
        return {f.name: f.read_bytes() for f in self.files}


@pytest.fixture
def case(request: pytest.FixtureRequest, tmp_path: Path, idle_image: str) -> Iterator[Case]:
    source = CORPUS / request.param
    spec = yaml.safe_load((source / "case.yml").read_text())
    directory = tmp_path / "project"
    shutil.copytree(source, directory, ignore=shutil.ignore_patterns("case.yml"))
    for f in spec["files"]:
        path = directory / f
        path.write_bytes(_IMAGE.sub(lambda m: m.group(1) + idle_image, path.read_bytes().decode()).encode())
    with _up(Case(spec, f"rtcorpus{uuid.uuid4().hex[:8]}", directory)) as found:
        yield found


@contextlib.contextmanager
def _up(case: Case, *args: str) -> Iterator[Case]:
    """The project brought up (``up -d ARGS``), then down, with remediate's backups of it."""
    try:
        case.compose("up", "-d", *args)
        yield case
    finally:
        with contextlib.suppress(subprocess.TimeoutExpired, AssertionError):
            case.compose("down", "-v", "--timeout", "1", check=False)
        left = _run("docker", "ps", "-aq", "--filter", f"name=^{case.name}", check=False).stdout.split()
        if left:
            _run("docker", "rm", "-f", *left, check=False)


def _playbook(spec: dict[str, Any], container: str) -> str:
    changes: list[dict[str, Any]] = [{"env": spec["env"]}]
    if "args" in spec:
        changes.append({"args": {"set": spec["args"]}})
    if "network" in spec:
        changes.append({"network": spec["network"]})
    if "ipc" in spec:
        changes.append({"ipc": spec["ipc"]})
    # the corpus's services are reachable only from their host: host networking needs the consent
    consent = {"vars": {"allow_all_interfaces": True}} if "network" in spec else {}
    return yaml.safe_dump({"name": "corpus-fix", "description": "an env fix and a command or network fix",
                           "select": [{"name": container}], "changes": changes, **consent})


def _shows_fix(service: dict[str, Any], spec: dict[str, Any]) -> bool:
    env = service.get("environment") or {}
    ok = all(env.get(k) == v for k, v in spec["env"].items())
    for flag, value in (spec.get("args") or {}).items():
        command = service.get("command") or []
        ok = ok and flag in command and (value is True or command[command.index(flag) + 1] == value)
    if "network" in spec:
        ok = ok and service.get("network_mode") == spec["network"] and not service.get("networks")
    if "ipc" in spec:
        ok = ok and service.get("ipc") == spec["ipc"]
    return ok


def _without_fix(service: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """A service's resolved configuration with the keys the fix changes left out."""
    return {k: v for k, v in service.items()
            if k not in ("environment", "command", "network_mode", "networks", "ipc")}


def check_case(case: Case, tmp_path: Path) -> dict[str, bool]:
    """Both fixes on the case's service, through the CLI: which promises were kept."""
    spec, state = case.spec, str(tmp_path / "state")
    service = spec["service"]
    before_ids, before_bytes, before_config = case.ids(), case.file_bytes(), case.config()
    container = f"{case.name}-{service}-1"
    book = tmp_path / "corpus-fix.yml"
    book.write_text(_playbook(spec, container))
    kept: dict[str, bool] = {}
    dry = run(["apply", str(book), "--dry-run", "--container", container], state)
    kept["dry run"] = dry.code == 0 and case.ids() == before_ids and case.file_bytes() == before_bytes
    applied = run(["apply", str(book), "--yes", "--container", container], state)
    kept["apply"] = applied.code == 0
    kept["up -d checked"] = f"`compose --dry-run up -d`: it leaves every container of {case.name} as it is" in (
        applied.output)
    if not kept["apply"]:
        print(f"{case.spec['source']}: {applied.output.strip().splitlines()[-1:]}")
        return kept
    accepted = case.compose("config", "--format", "json", check=False)
    kept["compose config"] = accepted.returncode == 0
    if kept["compose config"]:
        after = case.config()
        kept["shows the fix"] = _shows_fix(after[service], spec)
        kept["others unchanged"] = all(after[name] == value for name, value in before_config.items() if name != service)
        kept["service otherwise unchanged"] = _without_fix(after[service], spec) == _without_fix(
            before_config[service], spec) or "network" in spec
    fixed_ids = case.ids()
    case.compose("up", "-d", check=False)
    kept["up -d no-op"] = case.ids() == fixed_ids and fixed_ids[service] != before_ids[service]
    rolled = run(["rollback", container, "--yes"], state)
    kept["rollback bytes"] = rolled.code == 0 and case.file_bytes() == before_bytes
    return kept


@pytest.mark.parametrize("case", CASES, indirect=True)
def test_env_and_command_or_network_fix_keeps_everything(case: Case, tmp_path: Path) -> None:
    kept = check_case(case, tmp_path)
    assert all(kept.values()), {k: v for k, v in kept.items() if not v}


@pytest.mark.parametrize("case", ["01-nginx-flask-mysql"], indirect=True)
def test_a_sibling_compose_would_recreate_is_named_not_hidden(case: Case, tmp_path: Path) -> None:
    """The file was edited for another service and not brought up: the fix is applied, and the
    result says the next `up -d` recreates that sibling instead of claiming it changes nothing."""
    compose_file = case.files[0]
    compose_file.write_text(compose_file.read_text().replace("MARIADB_ROOT_PASSWORD=db-57xsl",
                                                             "MARIADB_ROOT_PASSWORD=db-changed"))
    book = tmp_path / "fix.yml"
    book.write_text(_playbook({"env": {"FLASK_DEBUG": "1"}}, f"{case.name}-backend-1"))
    result = run(["apply", str(book), "--yes", "--container", f"{case.name}-backend-1"], str(tmp_path / "state"))
    assert result.code == 0, result.output
    assert f"compose (warning): `compose up -d` would still recreate {case.name}-db-1" in result.output, result.output
    assert "it leaves every container" not in result.output


#: Cases whose services are all fixed in one apply: CRLF, an anchor shared by several services,
#: anchors beside networks, an override file, an anchor with env_file, an override that defines
#: other services.
MANY = ["03-react-java-mysql-crlf", "06-n8n-shared-anchor", "11-listmonk-anchor-networks", "15-paperless-override",
        "16-redash-anchor-env-file", "20-zulip-override-elsewhere"]
MARK = {"REMEDIATE_TEST_MARK": "on"}


def _every_service(case: Case) -> str:
    return yaml.safe_dump({"name": "mark-all", "description": "one env var on every service of the project",
                           "select": {"labels": {"com.docker.compose.project": case.name}},
                           "changes": [{"env": MARK}]})


def _marked(config: dict[str, Any]) -> set[str]:
    return {name for name, service in config.items() if (service.get("environment") or {}).get("REMEDIATE_TEST_MARK")}


@pytest.mark.parametrize("case", MANY, indirect=True)
def test_every_service_of_one_file_in_one_apply_and_rolled_back_one_by_one(case: Case, tmp_path: Path) -> None:
    """Each service's edit is planned on top of the one before (one file, written in turn); the
    next `up -d` changes nothing; rolling back one service takes only its part out of the file
    (the others keep theirs, `up -d` still changes nothing), in an order other than the apply's;
    after the last rollback, compose reads the project as it was."""
    state = str(tmp_path / "state")
    before_ids, before_bytes, before_config = case.ids(), case.file_bytes(), case.config()
    book = tmp_path / "mark-all.yml"
    book.write_text(_every_service(case))
    dry = run(["apply", str(book), "--dry-run"], state)
    assert dry.code == 0, dry.output
    assert case.ids() == before_ids and case.file_bytes() == before_bytes
    applied = run(["apply", str(book), "--yes"], state)
    assert applied.code == 0, applied.output
    assert f"`compose --dry-run up -d`: it leaves every container of {case.name} as it is" in applied.output
    after = case.config()
    assert _marked(after) == set(before_ids), after
    assert all({k: v for k, v in after[name].items() if k != "environment"}
               == {k: v for k, v in before_config[name].items() if k != "environment"} for name in before_ids)
    fixed = case.ids()
    case.compose("up", "-d")
    assert case.ids() == fixed
    services = sorted(before_ids)
    for done, service in enumerate(services, start=1):
        rolled = run(["rollback", f"{case.name}-{service}-1", "--yes"], state)
        assert rolled.code == 0, rolled.output
        assert _marked(case.config()) == set(services[done:])
        now = case.ids()
        case.compose("up", "-d")
        assert case.ids() == now, f"up -d recreated something after rolling back {service}"
    # Every service's part is out. (The bytes are the original's when each part could be taken
    # out line by line; a shared anchor copied into two services may need the edit-back instead.)
    assert case.config() == before_config


def test_a_failing_second_service_puts_back_only_its_own_edit(idle_image: str, tmp_path: Path) -> None:
    """Two services of one file in one apply; the second one's verify fails (its healthcheck
    turns unhealthy with the fix): it is restored and the file goes back to the first one's
    edit, which stays applied, and compose's next `up -d` changes nothing."""
    directory = tmp_path / "project"
    directory.mkdir()
    (directory / "compose.yaml").write_text(f"""\
services:
  first:            # created last: listed, and so planned, first
    image: {idle_image}
    environment: {{FOO: "1"}}
    depends_on: [second]
  second:
    image: {idle_image}
    environment:
      FOO: "1"      # a comment that stays
    healthcheck:
      test: ["CMD-SHELL", "test \\"$$FOO\\" != 2"]
      interval: 1s
      timeout: 2s
      retries: 1
""")
    spec = {"files": ["compose.yaml"], "service": "first", "env": {}}
    with _up(Case(spec, f"rtcorpus{uuid.uuid4().hex[:8]}", directory), "--wait") as case:
        before_ids, before_bytes = case.ids(), case.file_bytes()
        book = tmp_path / "foo.yml"
        book.write_text(yaml.safe_dump({"name": "foo", "description": "FOO=2 on both services",
                                        "select": {"labels": {"com.docker.compose.project": case.name}},
                                        "changes": [{"env": {"FOO": "2"}}]}))
        applied = run(["apply", str(book), "--yes", "--timeout", "20", "--format", "json"], str(tmp_path / "state"))
        assert applied.code == 1, applied.output
        results = {c["container"]: c["action"] for c in json.loads(applied.stdout)["containers"]}
        assert results == {f"{case.name}-first-1": "recreated", f"{case.name}-second-1": "rolled back"}, results
        now = case.ids()
        assert now["second"] == before_ids["second"] and now["first"] != before_ids["first"]
        config = case.config()
        assert config["first"]["environment"]["FOO"] == "2" and config["second"]["environment"]["FOO"] == "1"
        assert "# a comment that stays" in case.file_bytes()["compose.yaml"].decode()
        assert case.file_bytes() != before_bytes
        case.compose("up", "-d")
        assert case.ids() == now
