"""remediate against Podman 4.3 and 5.4 through their Docker-compatible socket (tests/lab/podman.py),
as a user on that host runs it: the real ``remediate`` process in the engine's network namespace
with ``DOCKER_HOST`` set to the Podman socket.

The core flows (dry run changes nothing; apply fixes, verifies, and a second run is a no-op;
a failing verify restores the original; rollback; recover after a kill), GitLab playbooks on
the fake AI gateway, and what Podman says differently (host/dialect.py): its engine is detected,
keyed stably although its ``/info`` ID changes on every call, and a recreate carries none of
what Podman adds by itself (``HOSTNAME=<old id>``, the default pids limit, its default network).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediate.host.connection import Connection
from tests.conftest import OWNER_LABELS
from tests.integration._proc import (
    MODEL_ARGS,
    SEED_TEMPLATE,
    VLLM_IMAGE,
    WAIT,
    EngineUser,
    start,
    wrong_name_playbook,
)
from tests.integration.rtcat import AIGW
from tests.lab.engines import Engine
from tests.lab.podman import PODMAN4

PREFIX = "rt-podman-"


def _remove(client: Any, prefix: str) -> None:
    for c in client.api.containers(all=True):
        if any(n.lstrip("/").startswith(prefix) for n in c["Names"]):
            if c["State"] == "running":  # Podman's forced remove would wait out the stop timeout
                client.api.kill(c["Id"])
            client.api.remove_container(c["Id"], force=True)


class Target(EngineUser):
    """One container on a Podman engine, and remediate run against it."""

    def __init__(self, engine: Engine, client: Any, tmp_path: Path, image: str, command: list[str] | None,
                 port: int, env: dict[str, str], restart: str | None) -> None:
        super().__init__(engine, client, tmp_path, f"{PREFIX}{uuid.uuid4().hex[:8]}", port)
        kwargs: dict[str, Any] = {"restart_policy": {"Name": restart}} if restart else {}
        client.containers.run(image, command, name=self.name, detach=True, labels={**OWNER_LABELS, "app": "t"},
                              environment=env, ports={f"{port}/tcp": ("127.0.0.1", None)}, **kwargs)


@pytest.fixture(scope="module")
def client(podman: Engine) -> Iterator[Any]:
    cl = podman.client()
    yield cl
    cl.close()


def _restart(engine: Engine) -> str | None:
    """The vLLM's restart policy: as users run it, except on Podman 4.3, which refuses to change
    such a container (no update API; see test_podman_4_refuses_a_restart_policy_up_front)."""
    return None if engine.name == PODMAN4 else "unless-stopped"


@pytest.fixture
def vllm(podman: Engine, client: Any, tmp_path: Path) -> Iterator[Target]:
    target = Target(podman, client, tmp_path, VLLM_IMAGE, MODEL_ARGS, 8000, {"HF_TOKEN": "hf_supersecretvalue"},
                    _restart(podman))
    try:
        assert target.status("/health", until=WAIT) == 200, "fake vLLM did not come up"
        yield target
    finally:
        _remove(client, target.name)


def _user_view(inspect: dict[str, Any], *, restarted: bool = False) -> dict[str, Any]:
    """What the user made of a container; ``restarted``: it may have been stopped and started since."""
    view = {"Id": inspect["Id"], "Config": inspect["Config"], "HostConfig": inspect["HostConfig"],
            "Running": inspect["State"]["Running"], "StartedAt": inspect["State"]["StartedAt"]}
    if restarted:
        del view["StartedAt"]
    return view


def test_podman_is_detected_and_keyed_stably(podman: Engine, client: Any) -> None:
    # Podman's own ID is new on every call: a key made of it would lose every journal.
    assert client.api.info()["ID"] != client.api.info()["ID"]
    with Connection(podman.docker_url) as first, Connection(podman.docker_url) as second:
        assert first.dialect.name == "podman" and first.dialect.version == podman.version
        assert first.engine_id == second.engine_id
    with Connection("local") as docker:
        assert docker.dialect.name == "docker"


def test_dry_run_shows_diff_and_changes_nothing(vllm: Target) -> None:
    before = vllm.inspect()

    code, out = vllm.apply("--dry-run")

    assert code == 0, out
    assert "+   --served-model-name mistral" in out and "Dry run: nothing changed" in out
    assert "hf_supersecretvalue" not in out
    # None of what Podman adds by itself shows as the user's.
    assert "HOSTNAME" not in out and "pids-limit" not in out and "container=podman" not in out
    assert _user_view(vllm.inspect()) == _user_view(before)
    assert not vllm.template.exists()
    assert vllm.chat() == 404


def test_apply_fixes_verifies_and_second_run_is_a_no_op(vllm: Target) -> None:
    original = vllm.inspect()

    code, out = vllm.apply("--yes")

    assert code == 0, out
    assert "recreated" in out
    new = vllm.inspect()
    assert new["Id"] != original["Id"]
    assert "--served-model-name" in new["Args"]
    assert new["HostConfig"]["RestartPolicy"] == original["HostConfig"]["RestartPolicy"]
    assert new["HostConfig"]["PortBindings"] == original["HostConfig"]["PortBindings"]
    assert new["HostConfig"]["PidsLimit"] == original["HostConfig"]["PidsLimit"]
    assert list(new["NetworkSettings"]["Networks"]) == list(original["NetworkSettings"]["Networks"])
    assert f"HOSTNAME={new['Config']['Hostname']}" in new["Config"]["Env"]  # its own, not the old one's
    assert "HF_TOKEN=hf_supersecretvalue" in new["Config"]["Env"]
    assert vllm.template.read_bytes() == SEED_TEMPLATE.read_bytes()
    assert vllm.chat() == 200

    code, out = vllm.apply("--yes")

    assert code == 0 and "no changes" in out, out
    assert vllm.inspect()["Id"] == new["Id"]


def test_failed_verify_restores_the_original(vllm: Target, tmp_path: Path) -> None:
    playbook = wrong_name_playbook(tmp_path)
    vllm.template.parent.mkdir(parents=True)
    vllm.template.write_text("old content\n")
    original = vllm.inspect()

    code, out = vllm.apply("--yes", "--timeout", "3", playbook=str(playbook))

    assert code == 1, out
    assert "verify failed" in out and "restored" in out
    assert _user_view(vllm.inspect(), restarted=True) == _user_view(original, restarted=True)
    assert vllm.template.read_text() == "old content\n"
    assert vllm.chat() == 404


def test_rollback_puts_the_previous_container_back(vllm: Target) -> None:
    original = vllm.inspect()
    assert vllm.apply("--yes")[0] == 0

    code, out = vllm.remediate("history", "--container", vllm.name)
    assert code == 0 and "fix-vllm-404" in out, out
    code, out = vllm.remediate("rollback", vllm.name, "--yes")

    assert code == 0, out
    assert _user_view(vllm.inspect(), restarted=True) == _user_view(original, restarted=True)
    assert vllm.chat() == 404


def test_kill_then_recover_restores_the_original(vllm: Target) -> None:
    original = vllm.inspect()
    proc = start(["apply", "fix-vllm-404", "--container", vllm.name, "--yes", "-e", f"template_host_path={vllm.template}"],
                 vllm.state_dir, wrap=vllm.engine.argv, DOCKER_HOST=vllm.engine.docker_url, REMEDIATE_PAUSE_AT="started")
    try:
        proc.wait_for("paused at started")
    finally:
        proc.stop()

    # The next apply sees the killed one, under the same engine key.
    code, out = vllm.apply("--yes")
    assert code != 0 and "recover" in out, out
    code, out = vllm.remediate("recover")

    assert code == 0, out
    assert _user_view(vllm.inspect(), restarted=True) == _user_view(original, restarted=True)
    assert {c["Names"][0].lstrip("/") for c in vllm.client.api.containers(all=True)
            if vllm.name in c["Names"][0]} == {vllm.name}
    assert vllm.chat() == 404


@pytest.mark.parametrize(("playbook", "env", "after"), [
    ("fix-streaming-a1003", {}, {"AIGW_CUSTOM_MODELS__DISABLE_STREAMING": "true"}),
    ("disable-auth-bypass", {"AIGW_AUTH__BYPASS_EXTERNAL": "true"}, {"AIGW_AUTH__BYPASS_EXTERNAL": None}),
])
def test_gateway_playbooks(playbook: str, env: dict[str, str], after: dict[str, str | None], podman: Engine,
                           client: Any, tmp_path: Path) -> None:
    port = 5052
    gateway = Target(podman, client, tmp_path, AIGW, None, port,
                     {"AIGW_FASTAPI__API_PORT": str(port), **env}, _restart(podman))
    try:
        assert gateway.status("/monitoring/healthz", until=WAIT) == 200

        code, out = gateway.remediate("apply", playbook, "--container", gateway.name, "--yes")

        assert code == 0 and "recreated" in out, out
        have = dict(e.partition("=")[::2] for e in gateway.inspect()["Config"]["Env"])
        for key, value in after.items():
            assert have.get(key) == value, key
        assert gateway.status("/monitoring/healthz", until=WAIT) == 200
        code, out = gateway.remediate("apply", playbook, "--container", gateway.name, "--yes")
        assert code == 0 and "no changes" in out, out
    finally:
        _remove(client, gateway.name)


def test_podman_4_refuses_a_restart_policy_up_front(podman: Engine, client: Any, tmp_path: Path) -> None:
    if podman.name != PODMAN4:
        pytest.skip("Podman 5 has the update API")
    target = Target(podman, client, tmp_path, VLLM_IMAGE, MODEL_ARGS, 8000, {}, "always")
    try:
        before = target.inspect()

        code, out = target.apply("--dry-run")

        assert code == 0, out
        assert "--served-model-name mistral" in out and "Dry run: nothing changed" in out
        assert "--restart always: Podman 4.3.1 has no `docker update` API" in out, out
        assert "the apply refuses it before anything stops" in out

        code, out = target.apply("--yes")

        assert code == 2, out
        assert f"{target.name}: --restart always: Podman 4.3.1 has no `docker update` API" in out, out
        assert "nothing was changed" in out and len(out.strip().splitlines()) == 1, out
        assert _user_view(target.inspect()) == _user_view(before)
        assert not target.template.exists()
    finally:
        _remove(client, target.name)
