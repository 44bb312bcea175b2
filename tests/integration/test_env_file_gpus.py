"""Env values from a file on the Docker host, and GPU requests (issue 24, items 5 and 6), on both
engine generations (the ``engine`` fixture: the local 20.10 and Debian 13's 26.1), with the real
``remediate`` process as a user on that engine's host runs it.

``from_file``: the value reaches the container and no output, saved plan, report or journal; a
second run is a no-op; a failing verify and a rollback put the original back; a file that cannot be
the value is one line, exit 2, nothing changed. ``gpus``: this machine has no GPU runtime, so a
dry run shows the request, the apply is refused before anything stops, and a container created
(not started) with a device request keeps it through a recreate, and loses it by ``gpus: none``.

Everything is named ``rt-efg-<pid>-*`` and labelled with the test owner; each test removes its
containers.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER, OWNER_LABELS, TEST_LABEL, remove_owned
from tests.integration._proc import REMEDIATE, WAIT, remediate_env
from tests.lab.engines import Engine

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.integration

PREFIX = f"rt-efg-{os.getpid()}-"
BUSYBOX = "remediate-test/busybox:1"
KEY = "AIGW_SELF_SIGNED_JWT__SIGNING_KEY"
MARK = f"MIIsecret{uuid.uuid4().hex}"  # in no output, file or journal
PEM = f"-----BEGIN PRIVATE KEY-----\n{MARK}\n-----END PRIVATE KEY-----\n"

SECRET_BOOK = """
name: rt-efg-key
description: sets the signing key from a host file
safety: auto
vars: {key_file: /nonexistent}
select: {name: "rt-efg-*"}
changes:
  - env:
      AIGW_SELF_SIGNED_JWT__SIGNING_KEY: {from_file: "{{ key_file }}"}
      PLAIN_FROM_FILE: {from_file: "{{ key_file }}"}
"""

FAILING_BOOK = SECRET_BOOK.replace("name: rt-efg-key", "name: rt-efg-key-fails") + """
verify:
  - http: {port: 9, path: /}
"""

GPUS_BOOK = """
name: rt-efg-gpus
description: requests GPUs
safety: auto
vars: {gpus: all}
select: {name: "rt-efg-*"}
changes:
  - gpus: "{{ gpus }}"
"""

ENV_BOOK = """
name: rt-efg-env
description: sets FIX
safety: auto
select: {name: "rt-efg-*"}
changes:
  - env: {FIX: "1"}
"""


class Box:
    """One test's container on one engine, its playbooks, and remediate run against it."""

    def __init__(self, engine: Engine, tmp_path: Path) -> None:
        self.engine, self.tmp = engine, tmp_path
        self.client = engine.client()
        self.name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
        self.state_dir = tmp_path / "state"
        self.key = tmp_path / "aigw" / "jwt.pem"
        self.key.parent.mkdir()
        self.key.write_text(PEM)
        self.key.chmod(0o600)
        for name, text in (("key", SECRET_BOOK), ("fails", FAILING_BOOK), ("gpus", GPUS_BOOK), ("env", ENV_BOOK)):
            (tmp_path / f"{name}.yml").write_text(text)

    def create(self, *, start: bool = True, **host: Any) -> dict[str, Any]:
        created = self.client.api.create_container(BUSYBOX, ["sleep", "3600"], name=self.name, labels=OWNER_LABELS,
                                                   host_config=self.client.api.create_host_config(**host))
        if start:
            self.client.api.start(created["Id"])
        return self.inspect()

    def inspect(self, ref: str | None = None) -> dict[str, Any]:
        return dict(self.client.api.inspect_container(ref or self.name))

    def ours(self) -> set[str]:
        return {n.lstrip("/") for c in self.client.api.containers(all=True) for n in c["Names"]
                if n.lstrip("/").startswith(self.name)}

    def remediate(self, *args: str) -> tuple[int, str]:
        proc = self.engine.run([REMEDIATE, *args], env=remediate_env(str(self.state_dir)), timeout=WAIT)
        return proc.returncode, proc.stdout + proc.stderr

    def apply(self, book: str, *extra: str) -> tuple[int, str]:
        return self.remediate("apply", str(self.tmp / f"{book}.yml"), "--container", self.name, *extra)

    def files_text(self) -> str:
        """Every file remediate wrote under the test's directory (state, journal, plans, reports)."""
        out = []
        for path in self.tmp.rglob("*"):
            if path.is_file() and path != self.key:
                out.append(path.read_bytes().decode("utf-8", "replace"))
        return "\n".join(out)


@pytest.fixture
def box(engine: Engine, tmp_path: Path) -> Iterator[Box]:
    b = Box(engine, tmp_path)
    try:
        yield b
    finally:
        remove_owned(b.client, b.name)
        b.client.close()


def _env(inspect: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in inspect["Config"]["Env"] if "=" in e)


# --------------------------------------------------------------------------- env from a host file

def test_a_value_from_a_host_file_reaches_the_container_and_nothing_else(box: Box) -> None:
    original = box.create()
    var = f"key_file={box.key}"

    code, out = box.apply("key", "-e", var, "--dry-run", "--out", str(box.tmp / "plan.json"))
    assert code == 0, out
    assert f"+ --env '{KEY}=***'" in out
    assert box.inspect()["Id"] == original["Id"]
    saved = json.loads((box.tmp / "plan.json").read_text())
    assert saved["hosts"][0]["plan"]["containers"][0]["secrets"]  # a digest, not the value

    code, out = box.apply("key", "-e", var, "--plan", str(box.tmp / "plan.json"), "--yes",
                          "--report", str(box.tmp / "report.md"))
    assert code == 0, out
    new = box.inspect()
    assert new["Id"] != original["Id"]
    assert _env(new)[KEY] == PEM.rstrip("\n") and _env(new)["PLAIN_FROM_FILE"] == PEM.rstrip("\n")

    code, again = box.apply("key", "-e", var, "--format", "json")
    assert code == 0, again
    assert box.inspect()["Id"] == new["Id"]
    shown = json.loads(again)
    changes = shown.get("plan", shown)["containers"][0]["changes"]  # a plan, or a result holding it
    assert [(c["field"], c["action"], c["reason"]) for c in changes] == [
        (f"env.{KEY}", "noop", "already set"), ("env.PLAIN_FROM_FILE", "noop", "already set")]

    code, back = box.remediate("rollback", box.name, "--yes")
    assert code == 0, back
    assert KEY not in _env(box.inspect())
    for text in (out, again, back, box.files_text()):
        assert MARK not in text


def test_a_changed_file_is_drift_for_a_saved_plan(box: Box) -> None:
    box.create()
    var = f"key_file={box.key}"
    code, out = box.apply("key", "-e", var, "--dry-run", "--out", str(box.tmp / "plan.json"))
    assert code == 0, out
    box.key.write_text(PEM.replace(MARK, MARK[::-1]))
    code, out = box.apply("key", "-e", var, "--plan", str(box.tmp / "plan.json"), "--yes")
    assert code != 0 and "a secret value of the change differs from the reviewed one" in out, out
    assert KEY not in _env(box.inspect()) and MARK not in out and MARK[::-1] not in out


def test_a_failing_verify_restores_the_original_and_journals_no_value(box: Box) -> None:
    original = box.create()
    code, out = box.apply("fails", "-e", f"key_file={box.key}", "--yes", "--timeout", "2")
    assert code == 1, out
    now = box.inspect()
    assert now["Id"] == original["Id"] and now["State"]["Running"] and KEY not in _env(now)
    assert box.ours() == {box.name}
    assert MARK not in out and MARK not in box.files_text()


def test_a_file_that_cannot_be_the_value_is_one_line_and_changes_nothing(box: Box) -> None:
    original = box.create()
    link = box.tmp / "link"
    link.symlink_to(box.key.parent)
    big = box.tmp / "big.pem"
    big.write_bytes(b"x" * (64 * 1024 + 1))
    cases = {
        str(box.tmp / "missing.pem"): "no such file on the Docker host",
        str(link / "jwt.pem"): f"{link} is a symlink",
        str(big): "larger than 64 KiB",
        str(box.tmp): "not a regular file (dir)",
    }
    for path, message in cases.items():
        code, out = box.apply("key", "-e", f"key_file={path}", "--yes")
        lines = [line for line in out.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and message in lines[0], (path, out)
        assert "Traceback" not in out
    assert box.inspect()["Id"] == original["Id"] and box.ours() == {box.name}


# --------------------------------------------------------------------------- gpus

def test_a_gpu_request_plans_but_the_apply_is_refused_before_anything_stops(box: Box) -> None:
    original = box.create()
    code, out = box.apply("gpus", "--dry-run")
    assert code == 0, out
    assert "--gpus all" in out and "the engine has no GPU runtime" in out
    code, out = box.apply("gpus", "-e", "gpus=2", "--yes")
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2, out
    assert len(lines) == 1 and 'could not select device driver "" with capabilities: [[gpu]]' in lines[0], out
    now = box.inspect()
    assert now["Id"] == original["Id"] and now["State"]["StartedAt"] == original["State"]["StartedAt"]
    assert box.ours() == {box.name}


def test_a_created_container_keeps_its_device_request_and_gpus_sets_and_removes_one(box: Box) -> None:
    request = docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])
    original = box.create(start=False, device_requests=[request])
    kept = original["HostConfig"]["DeviceRequests"]
    assert kept and kept[0]["Count"] == -1

    code, out = box.apply("env", "--yes")  # the recreate of a stopped container: created, not started
    assert code == 0, out
    new = box.inspect()
    assert new["Id"] != original["Id"] and not new["State"]["Running"]
    assert new["HostConfig"]["DeviceRequests"] == kept and _env(new)["FIX"] == "1"

    code, out = box.apply("gpus", "-e", "gpus=all", "--yes")
    assert code == 0 and box.inspect()["Id"] == new["Id"], out  # already requested: a no-op

    code, out = box.apply("gpus", "-e", "gpus=none", "--yes")
    assert code == 0, out
    without = box.inspect()
    assert not without["HostConfig"].get("DeviceRequests") and not without["State"]["Running"]
    # A rollback starts what it puts back: the GPU container cannot start here, so the rollback
    # fails with the engine's reason and the container in place stays as it was.
    code, out = box.remediate("rollback", box.name, "--yes")
    assert code == 1 and 'could not select device driver "" with capabilities: [[gpu]]' in out, out
    assert box.inspect()["Id"] == without["Id"] and not box.inspect()["HostConfig"].get("DeviceRequests")


# --------------------------------------------------------------------------- compose (v2, the local engine)

COMPOSE = """\
services:
  app:
    image: remediate-test/busybox:1
    command: ["sleep", "3600"]
    labels: {%s: "%s"}
    deploy:
      resources:
        limits: {memory: 64m}   # kept
        reservations:
          devices:
            - capabilities: [gpu]
              count: all
"""


class Stack:
    """A compose v2 project of one service on the local engine, and remediate run against it."""

    def __init__(self, tmp_path: Path, text: str) -> None:
        self.tmp = tmp_path
        self.name = f"{PREFIX}c{uuid.uuid4().hex[:6]}"
        self.file = tmp_path / "compose.yaml"
        self.file.write_text(text)
        self.state_dir = tmp_path / "state"
        for name, book in (("key", SECRET_BOOK), ("gpus", GPUS_BOOK)):
            (tmp_path / f"{name}.yml").write_text(book)

    def compose(self, *args: str) -> str:
        proc = subprocess.run(["docker", "compose", "-p", self.name, "-f", str(self.file), *args], capture_output=True,
                              text=True, timeout=WAIT, stdin=subprocess.DEVNULL, check=False)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    def container(self) -> dict[str, Any]:
        [cid] = self.compose("ps", "-a", "-q").split()
        return dict(json.loads(subprocess.run(["docker", "inspect", cid], capture_output=True, text=True,
                                              check=True).stdout)[0])

    def apply(self, book: str, *extra: str) -> tuple[int, str]:
        name = self.container()["Name"].lstrip("/")
        proc = subprocess.run([REMEDIATE, "apply", str(self.tmp / f"{book}.yml"), "--container", name, *extra],
                              env=remediate_env(str(self.state_dir)), capture_output=True, text=True, timeout=WAIT,
                              stdin=subprocess.DEVNULL, check=False)
        return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture
def stack(tmp_path: Path, docker_client: Any) -> Iterator[Stack]:
    if subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode != 0:
        pytest.skip("no Compose v2 on this machine")
    s = Stack(tmp_path, COMPOSE % (TEST_LABEL, OWNER))
    try:
        yield s
    finally:
        subprocess.run(["docker", "compose", "-p", s.name, "-f", str(s.file), "down"], capture_output=True,
                       timeout=WAIT, check=False)
        remove_owned(docker_client, s.name)


def test_compose_gpus_none_lands_in_the_file_and_survives_compose_up(stack: Stack) -> None:
    stack.compose("create")  # its GPU request cannot start here: created only
    original = stack.container()
    assert original["HostConfig"]["DeviceRequests"][0]["Capabilities"] == [["gpu"]]

    code, out = stack.apply("gpus", "-e", "gpus=none", "--yes")
    assert code == 0, out
    text = stack.file.read_text()
    assert "devices" not in text and "limits: {memory: 64m}   # kept" in text
    fixed = stack.container()
    assert fixed["Id"] != original["Id"] and not fixed["HostConfig"].get("DeviceRequests")

    stack.compose("up", "-d")  # compose finds the service up to date: the same container, now started
    after = stack.container()
    assert after["Id"] == fixed["Id"] and after["State"]["Running"]


def test_compose_gpus_request_is_planned_in_the_file_and_refused_at_apply(stack: Stack) -> None:
    stack.file.write_text(stack.file.read_text().split("    deploy:")[0])
    stack.compose("up", "-d")
    original, text = stack.container(), stack.file.read_text()
    code, out = stack.apply("gpus", "-e", "gpus=2", "--dry-run")
    assert code == 0, out
    assert "+        reservations:" in out or "reservations:" in out
    assert "count: 2" in out and "the engine has no GPU runtime" in out
    code, out = stack.apply("gpus", "-e", "gpus=2", "--yes")
    assert code == 2 and "could not select device driver" in out, out
    assert stack.container()["Id"] == original["Id"] and stack.file.read_text() == text


def test_compose_env_from_a_file_is_refused_with_what_to_do(stack: Stack) -> None:
    stack.file.write_text(stack.file.read_text().split("    deploy:")[0])
    stack.compose("up", "-d")
    original, text = stack.container(), stack.file.read_text()
    key = stack.tmp / "jwt.pem"
    key.write_text(PEM)
    code, out = stack.apply("key", "-e", f"key_file={key}", "--yes")
    lines = [line for line in out.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, out
    assert "Compose has no way to take an environment value from a file" in lines[0] and MARK not in out
    assert stack.container()["Id"] == original["Id"] and stack.file.read_text() == text
    code, out = stack.apply("key", "-e", f"key_file={key}", "--yes", "--container-only")
    assert code == 0 and MARK not in out, out
    assert _env(stack.container())[KEY] == PEM.rstrip("\n") and stack.file.read_text() == text
