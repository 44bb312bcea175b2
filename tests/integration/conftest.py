"""Fixtures shared by the integration tests: the Docker engines, the catalog/diagnose lab, a small disk."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.rtcat import Lab, fake_gitlab
from tests.lab import containers, engines
from tests.lab.engines import LOCAL, MODERN, Engine
from tests.lab.podman import PODMAN4, PODMAN5, podman_available, podman_engine


@pytest.fixture(scope="session", autouse=True)
def _sweep_dead_runs(docker_client: Any) -> None:
    """Remove the containers of test runs that were killed (their owner process is gone); a live
    run's, this one's and a parallel worker's included, stay."""
    containers.sweep(docker_client)


@pytest.fixture(scope="session")
def local_engine() -> Engine:
    """The machine's own engine (20.10, /var/run/docker.sock)."""
    return engines.local_engine()


@pytest.fixture(scope="session")
def modern_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """Debian 13's dockerd 26.1 in its own network namespace, with the test images: started on
    first use, once per session, removed at the end."""
    with engines.modern_engine(keys_dir=tmp_path_factory.mktemp("modern-engine-keys")) as engine:
        yield engine


@pytest.fixture(scope="session", params=[LOCAL, MODERN])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each engine generation in turn (ids ``20.10``, ``26.1``; see tests/lab/engines.py). Tests
    and module fixtures that take it run once per engine; the modern one starts only if a
    selected test needs it."""
    chosen: Engine = request.getfixturevalue("local_engine" if request.param == LOCAL else "modern_engine")
    return chosen


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[Any]:
    """A docker client of the engine the test runs on (each generation in turn, see ``engine``),
    for the module; a module may define its own ``client``."""
    cl = engine.client()
    yield cl
    cl.close()


@pytest.fixture(scope="session")
def podman4_engine() -> Iterator[Engine]:
    """Debian 12's podman 4.3 (its Docker-compatible socket), in its own network namespace, with
    the test images: started on first use, once per session, removed at the end."""
    yield from _podman(PODMAN4)


@pytest.fixture(scope="session")
def podman5_engine() -> Iterator[Engine]:
    """Debian 13's podman 5.4 (see tests/lab/podman.py), like :func:`podman4_engine`."""
    yield from _podman(PODMAN5)


def _podman(name: str) -> Iterator[Engine]:
    missing = podman_available(name)
    if missing:
        pytest.fail(missing)
    with podman_engine(name) as engine:
        yield engine


#: The fixture of each engine generation, by its id.
ENGINE_FIXTURES = {LOCAL: "local_engine", MODERN: "modern_engine", PODMAN4: "podman4_engine",
                   PODMAN5: "podman5_engine"}


@pytest.fixture(scope="session", params=[PODMAN4, PODMAN5])
def podman(request: pytest.FixtureRequest) -> Engine:
    """Each Podman generation in turn (ids ``podman-4.3``, ``podman-5.4``)."""
    chosen: Engine = request.getfixturevalue(ENGINE_FIXTURES[request.param])
    return chosen


@pytest.fixture
def lab(docker_client: Any) -> Iterator[Lab]:
    """Broken AI gateway / vLLM containers made on demand, removed afterwards."""
    lab = Lab(docker_client)
    try:
        yield lab
    finally:
        lab.cleanup()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs (16 pages), e.g. to hold a state directory that fills up."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "rt-small-disk", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


@pytest.fixture
def gitlab_port() -> Iterator[int]:
    """The port of a fake GitLab on 127.0.0.1 (see rtcat.fake_gitlab)."""
    with fake_gitlab() as port:
        yield port
