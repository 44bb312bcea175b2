"""Unit tests read inventories with the built-in reader unless a test asks for Ansible
(tests/unit/test_inventory_parity.py compares the two)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _builtin_inventory_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATE_INVENTORY_PARSER", "builtin")
