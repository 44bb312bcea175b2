"""Shared fixtures: a real Docker engine, container bookkeeping, and the CLI runner."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

#: Label on the lab's containers: the id of the test process that made them (tests/lab/containers.py).
#: remediate keeps a container's labels when it recreates it, so its copies (backups, staged
#: containers) carry it too. Each pytest-xdist worker is a process of its own.
TEST_LABEL = "remediate.test.owner"
#: This process's value of :data:`TEST_LABEL`.
OWNER = str(os.getpid())
#: Labels for anything a test creates on an engine.
OWNER_LABELS = {TEST_LABEL: OWNER}

# Verification's stability window (REMEDIATE_STABLE_SECONDS, default 2 s), shortened where a
# test does not test it; the tests of crash loops set it back. Subprocesses inherit it.
os.environ.setdefault("REMEDIATE_STABLE_SECONDS", "0.5")

# testcontainers (tests/lab/containers.py) reads these on import. Its reaper, Ryuk, is a registry
# image and the lab never pulls: containers are removed by the fixtures, and by label after a
# killed run. Wait strategies talk to published ports on 127.0.0.1 (inside a container,
# testcontainers would otherwise pick the default gateway's address or the container's own).
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")
os.environ.setdefault("TESTCONTAINERS_CONNECTION_MODE", "docker_host")


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client for the local engine (the one `remediate` uses)."""
    docker = pytest.importorskip("docker")
    client = docker.from_env()
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 # pragma: no cover - environment problem, reported clearly
        pytest.fail(f"no Docker engine: run `bash dev/setup` first ({exc})")
    yield client
    client.close()


def remove_owned(client: Any, prefix: str) -> None:
    """Remove this process's containers (:data:`OWNER_LABELS`) whose name starts with ``prefix``:
    what a test started and the copies remediate made of them. Another run's are never touched;
    a killed run's are swept by their dead owner (tests/lab/containers.py ``sweep``)."""
    for container in client.api.containers(all=True, filters={"label": f"{TEST_LABEL}={OWNER}"}):
        if any(name.lstrip("/").startswith(prefix) for name in container["Names"]):
            with contextlib.suppress(Exception):  # already gone, or removal in progress
                client.api.remove_container(container["Id"], force=True, v=True)


@dataclass
class Cli:
    """Runs the remediate CLI in-process and returns (exit code, output); an env value of None
    unsets that variable for the run."""

    env: dict[str, str | None]

    def __call__(self, *args: str, input: str | None = None) -> tuple[int, str]:
        from click.testing import CliRunner

        from remediate.cli.main import main

        result = CliRunner().invoke(main, list(args), env=self.env, input=input, catch_exceptions=False)
        return result.exit_code, result.output


@pytest.fixture
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A journal/lock directory of this test's own (on every Docker host, the same path)."""
    return str(tmp_path_factory.mktemp("remediate-state"))


@pytest.fixture
def cli(state_dir: str) -> Cli:
    return Cli(env={"COLUMNS": "200", "REMEDIATE_YES": "", "REMEDIATE_STATE_DIR": state_dir})


def vllm_chat(port: int, model: str = "mistral") -> int:
    """Status of a minimal chat completion to a (fake) vLLM published on 127.0.0.1:port."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hi"}]}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


#: What each test module needs besides the local engine, as markers (pyproject.toml lists them), so
#: that a developer runs the slice they touch: ``bash dev/test -m compose``.
RESOURCES = {
    "test_ansible": ("ansible", "ssh_lab"),
    "test_compose": ("compose", "ssh_lab"),
    "test_engine_death": ("ssh_lab",),
    "test_inventory_parity": ("ansible",),
    "test_lab_hosts": ("ssh_lab",),
    "test_remote": ("ssh_lab",),
    "test_apply_modern": ("modern",),
    "test_podman": ("podman",),
    "test_fidelity_podman": ("podman",),
}
_HAS_ANSIBLE = bool(shutil.which("ansible-inventory") and shutil.which("ansible"))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        # Tests that talk to dockerd or sshd live under tests/integration.
        if os.sep + "integration" + os.sep in str(item.fspath):
            item.add_marker(pytest.mark.integration)
        for resource in RESOURCES.get(item.module.__name__.rpartition(".")[2] if item.module else "", ()):
            item.add_marker(resource)
        callspec = getattr(item, "callspec", None)
        if "modern_engine" in getattr(item, "fixturenames", ()) or (
                callspec is not None and callspec.params.get("engine") == "26.1"):
            item.add_marker(pytest.mark.modern)
        if {"podman", "podman4_engine", "podman5_engine"} & set(getattr(item, "fixturenames", ())) or (
                callspec is not None and str(callspec.params.get("engine", "")).startswith("podman")):
            item.add_marker(pytest.mark.podman)
        if item.get_closest_marker("ansible") and not _HAS_ANSIBLE:
            item.add_marker(pytest.mark.skip(reason="needs ansible-core (the test extra)"))
