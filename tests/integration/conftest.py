"""Fixtures shared by the integration tests: the catalog lab, a small disk."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.rtcat import Lab


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
