"""The core `remediate apply fix-vllm-404` flows of test_apply.py on the modern engine (Debian 13's
dockerd 26.1, API 1.45; tests/lab/engines.py), as a user on that host runs them: the real
``remediate`` process inside the engine's network namespace with ``DOCKER_HOST`` set to it, so its
verify probes and the tests' own HTTP checks reach the fake vLLM's port on that namespace's
127.0.0.1. Dry run changes nothing; apply turns 404 into 200 and a second run is a no-op; a failing
verify restores the original; rollback puts the previous container back.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration._proc import (
    MODEL_ARGS,
    SEED_TEMPLATE,
    VLLM_IMAGE,
    WAIT,
    EngineUser,
    wrong_name_playbook,
)
from tests.lab import containers
from tests.lab.containers import LabContainer
from tests.lab.engines import Engine

PREFIX = "rt-core26-"


@pytest.fixture(scope="module")
def client(modern_engine: Engine) -> Iterator[Any]:
    cl = modern_engine.client()
    yield cl
    cl.close()


def _remove_ours(client: Any, prefix: str = PREFIX) -> None:
    for c in client.api.containers(all=True):
        if any(n.lstrip("/").startswith(prefix) for n in c["Names"]):
            client.api.remove_container(c["Id"], force=True)


def _ours(client: Any) -> set[str]:
    return {n.lstrip("/") for c in client.api.containers(all=True) for n in c["Names"]
            if n.lstrip("/").startswith(PREFIX)}


class Vllm(EngineUser):
    """A deliberately broken fake vLLM on the modern engine, and remediate run against it."""

    def __init__(self, engine: Engine, client: Any, tmp_path: Path) -> None:
        super().__init__(engine, client, tmp_path, f"{PREFIX}{uuid.uuid4().hex[:8]}")
        # Through testcontainers, on the modern engine; its port is on that engine's network
        # namespace, out of a wait strategy's reach, so the wait below runs there.
        self.container = (
            LabContainer(VLLM_IMAGE, labels={"app": "vllm"},
                         docker_client_kw={"environment": {"DOCKER_HOST": engine.docker_url}, "version": "auto"})
            .with_name(self.name).with_command(MODEL_ARGS).with_loopback_port("8000/tcp")
            .with_envs(HF_TOKEN="hf_supersecretvalue").with_kwargs(restart_policy={"Name": "unless-stopped"}))
        self.container.start()
        assert self.status("/health", until=WAIT) == 200, "fake vLLM did not come up"


@pytest.fixture
def vllm(modern_engine: Engine, client: Any, tmp_path: Path) -> Iterator[Vllm]:
    _remove_ours(client)
    v = Vllm(modern_engine, client, tmp_path)
    try:
        yield v
    finally:
        containers.stop([v.container])  # the container the test started with, if remediate kept it
        _remove_ours(client, v.name)  # the ones remediate made


def _user_view(inspect: dict[str, Any]) -> dict[str, Any]:
    return {"Id": inspect["Id"], "Config": inspect["Config"], "HostConfig": inspect["HostConfig"],
            "Running": inspect["State"]["Running"], "StartedAt": inspect["State"]["StartedAt"]}


def test_the_engine_is_the_modern_one(modern_engine: Engine, client: Any) -> None:
    assert modern_engine.api_at_least("1.44") and modern_engine.netns
    assert client.version()["ApiVersion"] == modern_engine.api_version


def test_dry_run_shows_diff_and_changes_nothing(vllm: Vllm) -> None:
    before, names_before = vllm.inspect(), _ours(vllm.client)

    code, out = vllm.apply("--dry-run")

    assert code == 0, out
    assert "+   --served-model-name mistral" in out and "Dry run: nothing changed" in out
    assert "hf_supersecretvalue" not in out
    assert _user_view(vllm.inspect()) == _user_view(before)
    assert _ours(vllm.client) == names_before
    assert not vllm.template.exists()
    assert vllm.chat() == 404


def test_apply_fixes_verifies_and_second_run_is_a_no_op(vllm: Vllm) -> None:
    assert vllm.chat() == 404
    original = vllm.inspect()

    code, out = vllm.apply("--yes")

    assert code == 0, out
    assert "recreated" in out
    new = vllm.inspect()
    assert new["Id"] != original["Id"]
    assert "--served-model-name" in new["Args"] and "--max-model-len" in new["Args"]
    assert new["HostConfig"]["RestartPolicy"] == original["HostConfig"]["RestartPolicy"]
    assert new["HostConfig"]["PortBindings"] == original["HostConfig"]["PortBindings"]
    assert "HF_TOKEN=hf_supersecretvalue" in new["Config"]["Env"]
    assert vllm.template.read_bytes() == SEED_TEMPLATE.read_bytes()
    assert vllm.chat() == 200

    code, out = vllm.apply("--yes")

    assert code == 0 and "no changes" in out, out
    assert vllm.inspect()["Id"] == new["Id"]


def test_failed_verify_restores_the_original(vllm: Vllm, tmp_path: Path) -> None:
    playbook = wrong_name_playbook(tmp_path)
    vllm.template.parent.mkdir(parents=True)
    vllm.template.write_text("old content\n")
    original = vllm.inspect()

    code, out = vllm.apply("--yes", "--timeout", "3", playbook=str(playbook))

    assert code == 1, out
    assert "verify failed" in out and "restored" in out
    after = vllm.inspect()
    assert after["Id"] == original["Id"] and after["State"]["Running"]
    assert after["Args"] == original["Args"]
    assert vllm.template.read_text() == "old content\n"
    assert {n for n in _ours(vllm.client) if n.startswith(vllm.name + "-")} == set()
    assert vllm.chat() == 404


def test_rollback_puts_the_previous_container_back(vllm: Vllm) -> None:
    original = vllm.inspect()
    assert vllm.apply("--yes")[0] == 0

    code, out = vllm.remediate("rollback", vllm.name, "--yes")

    assert code == 0, out
    restored = vllm.inspect()
    assert restored["Id"] == original["Id"] and restored["State"]["Running"]
    assert vllm.chat() == 404
