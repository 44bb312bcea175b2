"""Shell completion of container names from the real engine (remediate's backups left out)."""

from __future__ import annotations

import pytest

from tests.integration.rtcat import Lab
from tests.unit.test_completion import complete

pytestmark = pytest.mark.integration


def test_container_names_complete(lab: Lab) -> None:
    box = lab.busybox("complete-me", {})

    assert complete(f"remediate apply fix-vllm-404 --container {box['name'][:-3]}") == [box["name"]]
    assert complete(f"remediate rollback {box['name']}") == [box["name"]]
