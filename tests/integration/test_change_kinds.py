"""The new change kinds on each engine generation (20.10 and 26.1, the ``engine`` fixture), as a
user runs them: the real ``remediate`` process against a fake vLLM.

``ports``: dry run changes nothing; apply publishes (on loopback) and unpublishes; a publish on all
interfaces without ``bind_all`` is a one-line error (exit 2) that changes nothing; a failing verify
restores the original exactly; rollback puts the previous container back; a saved plan applies;
the plan's ``shell_before`` and ``shell_after`` run with the real docker CLI make the containers the
plan describes. List-valued ``args``: fix-vllm-404 with ``-e '{"served_model_name": [...]}'``
serves every name, through the same steps. ``mount`` with ``state: absent``: the bind over the
gateway's HF cache is dropped, through the same steps.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediate.core.spec import spec_from_inspect
from tests.conftest import free_port, remove_owned
from tests.integration._proc import (
    MODEL_ARGS,
    PLAYBOOK,
    REMEDIATE,
    VLLM_IMAGE,
    WAIT,
    remediate_env,
    wrong_name_playbook,
)
from tests.lab import containers
from tests.lab.containers import LabContainer
from tests.lab.engines import Engine

PREFIX = "rt-kinds-"


class Box:
    """A fake vLLM (port 8000 published on an engine-chosen port of 127.0.0.1) and remediate run on it."""

    def __init__(self, engine: Engine, client: Any, tmp_path: Path, *, bind: str | None = None) -> None:
        self.engine, self.client, self.tmp = engine, client, tmp_path
        self.name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
        self.state_dir = str(tmp_path / "state")
        self.container = (
            LabContainer(VLLM_IMAGE, docker_client_kw={"environment": {"DOCKER_HOST": engine.docker_url},
                                                       "version": "auto"})
            .with_name(self.name).with_command(MODEL_ARGS).with_loopback_port("8000/tcp"))
        if bind is not None:  # tmp_path/cache mounted at ``bind``
            (tmp_path / "cache").mkdir()
            self.container.with_volume_mapping(str(tmp_path / "cache"), bind, "ro")
        self.container.start()
        assert self.status(self.host_port(), "/health", until=WAIT) == 200, "fake vLLM did not come up"

    def inspect(self, name: str | None = None) -> dict[str, Any]:
        return dict(self.client.api.inspect_container(name or self.name))

    def host_port(self) -> int:
        return int(self.inspect()["NetworkSettings"]["Ports"]["8000/tcp"][0]["HostPort"])

    def status(self, port: int, path: str, until: float = 0.0, body: str = "") -> int:
        return self.engine.http_status(f"http://127.0.0.1:{port}{path}", body, until=until)

    def chat(self, model: str) -> int:
        """Status of a chat completion for ``model``, once the server is up."""
        self.status(self.host_port(), "/health", until=WAIT)
        body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}]})
        return self.status(self.host_port(), "/v1/chat/completions", body=body)

    def playbook(self, changes: list[Any], verify: str | None = "/health") -> str:
        """A playbook file making ``changes``; ``verify``: the path its HTTP check asks for on 8000
        (None: no check; remediate probes through a published port)."""
        path = self.tmp / f"p-{uuid.uuid4().hex[:6]}.yml"
        path.write_text(yaml.safe_dump({
            "name": "kinds", "description": "test", "safety": "auto", "select": {"name": self.name},
            "changes": changes, "verify": [{"http": {"port": 8000, "path": verify}}] if verify else []}))
        return str(path)

    def remediate(self, *args: str) -> tuple[int, str]:
        proc = self.engine.run([REMEDIATE, *args], env=remediate_env(self.state_dir), timeout=WAIT)
        return proc.returncode, proc.stdout + proc.stderr

    def apply(self, playbook: str, *extra: str) -> tuple[int, str]:
        return self.remediate("apply", playbook, "--container", self.name, *extra)


@contextlib.contextmanager
def started(engine: Engine, client: Any, tmp_path: Path, *, bind: str | None = None) -> Iterator[Box]:
    """A :class:`Box` for the block; then it and the containers remediate made of it are removed."""
    b = Box(engine, client, tmp_path, bind=bind)
    try:
        yield b
    finally:
        containers.stop([b.container])
        remove_owned(client, b.name)


@pytest.fixture
def box(engine: Engine, client: Any, tmp_path: Path) -> Iterator[Box]:
    with started(engine, client, tmp_path) as b:
        yield b


@pytest.fixture
def mounted_box(engine: Engine, client: Any, tmp_path: Path) -> Iterator[Box]:
    with started(engine, client, tmp_path, bind=HF) as b:
        yield b


HF = "/home/aigateway/.hf"


def _user_view(inspect: dict[str, Any], *, restarted: bool = False) -> dict[str, Any]:
    """What the user sees of a container; ``restarted``: without the start time (a restore stops
    the original while its copy runs, and starts it again)."""
    view = {"Id": inspect["Id"], "Config": inspect["Config"], "HostConfig": inspect["HostConfig"],
            "Running": inspect["State"]["Running"], "StartedAt": inspect["State"]["StartedAt"]}
    return {k: v for k, v in view.items() if not (restarted and k == "StartedAt")}


def _publish(port: int) -> dict[str, Any]:
    return {"ports": {"publish": [f"127.0.0.1:{port}:8000"]}}


def test_ports_dry_run_changes_nothing_and_the_shell_commands_make_the_plan(box: Box) -> None:
    port = free_port()
    before = box.inspect()
    out_path = box.tmp / "plan.json"

    code, out = box.apply(box.playbook([_publish(port)]), "--dry-run", "--out", str(out_path))

    assert code == 0, out
    assert f"+ --publish 127.0.0.1:{port}:8000" in out
    assert _user_view(box.inspect()) == _user_view(before)
    assert box.status(port, "/health") == 0
    [cp] = json.loads(out_path.read_text())["hosts"][0]["plan"]["containers"]
    image = box.client.api.inspect_image(before["Config"]["Image"])
    for key, want in (("shell_before", spec_from_inspect(before, image)), ("shell_after", None)):
        twin = f"{box.name}-sh-{key[6:]}"
        [command] = [c for c in cp[key] if not c.startswith("#")]
        assert command.startswith("docker run -d ") and f"--name {box.name} " in command
        command = command.replace("docker run -d ", "docker create ", 1).replace(f"--name {box.name} ", f"--name {twin} ")
        box.engine.run(["sh", "-c", command], timeout=60, check=True)
        made = spec_from_inspect(box.inspect(twin), image)
        if want is None:
            assert made.host_config["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
            box.client.api.remove_container(twin, force=True)
            continue
        assert made.replace(name=want.name).comparable() == want.comparable(), command
        box.client.api.remove_container(twin, force=True)

    code, out = box.remediate("apply", "--plan", str(out_path), "--yes")

    assert code == 0, out
    assert box.status(port, "/health", until=WAIT) == 200
    applied = spec_from_inspect(box.inspect(), image)
    assert applied.host_config["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}


def test_ports_apply_then_unpublish_then_rollback(box: Box) -> None:
    port = free_port()
    original = box.inspect()

    code, out = box.apply(box.playbook([_publish(port)]), "--yes")

    assert code == 0 and "recreated" in out, out
    assert box.status(port, "/health", until=WAIT) == 200
    code, out = box.apply(box.playbook([_publish(port)]), "--yes")
    assert code == 0 and "no changes" in out, out

    code, out = box.apply(box.playbook([{"ports": {"unpublish": [8000]}}], verify=None), "--yes")

    assert code == 0, out
    assert box.inspect()["HostConfig"]["PortBindings"] in ({}, None)
    assert box.status(port, "/health") == 0

    code, out = box.remediate("rollback", box.name, "--yes")

    assert code == 0, out
    assert box.inspect()["HostConfig"]["PortBindings"] == {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
    assert box.inspect()["Id"] != original["Id"]


def test_ports_failing_verify_restores_the_original_exactly(box: Box) -> None:
    port = free_port()
    original = box.inspect()

    code, out = box.apply(box.playbook([_publish(port)], verify="/no-such-path"), "--yes", "--timeout", "3")

    assert code == 1, out
    assert "verify failed" in out and "restored" in out
    assert _user_view(box.inspect(), restarted=True) == _user_view(original, restarted=True)
    assert box.status(box.host_port(), "/health", until=WAIT) == 200
    assert box.status(port, "/health") == 0


def test_ports_on_all_interfaces_need_bind_all(box: Box) -> None:
    before = box.inspect()
    port = free_port()

    code, out = box.apply(box.playbook([{"ports": {"publish": [f"{port}:8000"]}}]), "--yes")

    assert code == 2, out
    assert len(out.strip().splitlines()) == 1 and "listens on all interfaces" in out and "bind_all" in out
    assert _user_view(box.inspect()) == _user_view(before)

    code, out = box.apply(box.playbook([{"ports": {"publish": [f"{port}:8000"], "bind_all": True}}]), "--dry-run")

    assert code == 0 and "all interfaces (bind_all: true)" in out, out


NAMES = ["mistral", "custom_openai/mistral"]


def _fix_404(box: Box, *extra: str, playbook: str = str(PLAYBOOK)) -> tuple[int, str]:
    return box.apply(playbook, "-e", f"template_host_path={box.tmp / 'etc' / 'chat_template.jinja'}",
                     "-e", json.dumps({"served_model_name": NAMES}), *extra)


def test_list_args_dry_run_shell_round_trip_apply_and_rollback(box: Box) -> None:
    before = box.inspect()
    out_path = box.tmp / "plan.json"

    code, out = _fix_404(box, "--dry-run", "--out", str(out_path))

    assert code == 0, out
    assert "+   --served-model-name mistral" in out and "+   custom_openai/mistral" in out
    assert _user_view(box.inspect()) == _user_view(before)
    [cp] = json.loads(out_path.read_text())["hosts"][0]["plan"]["containers"]
    [command] = [c for c in cp["shell_after"] if not c.startswith("#")]
    twin = f"{box.name}-sh"
    command = command.replace("docker run -d ", "docker create ", 1).replace(f"--name {box.name} ", f"--name {twin} ")
    box.engine.run(["sh", "-c", command], timeout=60, check=True)
    args = box.inspect(twin)["Args"]
    assert args[args.index("--served-model-name"):][:3] == ["--served-model-name", *NAMES]
    box.client.api.remove_container(twin, force=True)
    assert box.chat("custom_openai/mistral") == 404

    code, out = _fix_404(box, "--yes")

    assert code == 0 and "recreated" in out, out
    assert box.chat("mistral") == 200 and box.chat("custom_openai/mistral") == 200
    code, out = _fix_404(box, "--yes")
    assert code == 0 and "no changes" in out, out

    code, out = box.remediate("rollback", box.name, "--yes")

    assert code == 0, out
    assert box.inspect()["Id"] == before["Id"] and box.inspect()["Args"] == before["Args"]
    assert box.chat("mistral") == 404


def test_list_args_failing_verify_restores_the_original(box: Box) -> None:
    playbook = wrong_name_playbook(box.tmp)
    original = box.inspect()

    code, out = _fix_404(box, "--yes", "--timeout", "3", playbook=str(playbook))

    assert code == 1, out
    assert "verify failed" in out and "restored" in out
    assert _user_view(box.inspect(), restarted=True) == _user_view(original, restarted=True)
    assert box.chat("mistral") == 404


def _targets(inspect: dict[str, Any]) -> set[str]:
    return {m["Destination"] for m in inspect["Mounts"]}


def test_mount_removal_dry_run_shell_round_trip_apply_and_rollback(mounted_box: Box) -> None:
    box = mounted_box
    before = box.inspect()
    assert HF in _targets(before)
    playbook = box.playbook([{"mount": {"target": HF, "state": "absent"}}])
    out_path = box.tmp / "plan.json"

    code, out = box.apply(playbook, "--dry-run", "--out", str(out_path))

    assert code == 0, out
    assert f"- --volume {box.tmp / 'cache'}:{HF}:ro" in out
    assert _user_view(box.inspect()) == _user_view(before)
    [cp] = json.loads(out_path.read_text())["hosts"][0]["plan"]["containers"]
    image = box.client.api.inspect_image(before["Config"]["Image"])
    for key, targets in (("shell_before", _targets(before)), ("shell_after", _targets(before) - {HF})):
        [command] = [c for c in cp[key] if not c.startswith("#")]
        twin = f"{box.name}-{key[6:]}"
        command = command.replace("docker run -d ", "docker create ", 1).replace(f"--name {box.name} ", f"--name {twin} ")
        box.engine.run(["sh", "-c", command], timeout=60, check=True)
        assert _targets(box.inspect(twin)) == targets, command
        if key == "shell_before":
            made = spec_from_inspect(box.inspect(twin), image)
            assert made.replace(name=box.name).comparable() == spec_from_inspect(before, image).comparable()
        box.client.api.remove_container(twin, force=True)

    code, out = box.remediate("apply", "--plan", str(out_path), "--yes")

    assert code == 0 and "recreated" in out, out
    assert HF not in _targets(box.inspect()) and box.inspect()["State"]["Running"]
    assert box.apply(playbook, "--yes")[1].count("no changes") == 1

    code, out = box.remediate("rollback", box.name, "--yes")

    assert code == 0, out
    assert box.inspect()["Id"] == before["Id"] and HF in _targets(box.inspect())


def test_mount_removal_failing_verify_restores_the_original(mounted_box: Box) -> None:
    box = mounted_box
    original = box.inspect()

    code, out = box.apply(box.playbook([{"mount": {"target": HF, "state": "absent"}}], verify="/no-such-path"),
                          "--yes", "--timeout", "3")

    assert code == 1, out
    assert "verify failed" in out and "restored" in out
    assert _user_view(box.inspect(), restarted=True) == _user_view(original, restarted=True)
