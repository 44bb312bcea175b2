"""Fixtures shared by the catalog and diagnose tests."""

from __future__ import annotations

from collections.abc import Iterator
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
