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
