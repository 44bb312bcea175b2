"""Parity: the built-in inventory reader and Ansible's own (ansible-inventory, ansible
--list-hosts) read every source of the corpus alike: the same hosts with the same connection
fields, groups and variables (with a playbook directory's group_vars/ and host_vars/ too), and
every pattern selects the same hosts in the same order."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediate.errors import InventoryError
from remediate.fleet.inventory import Host, Inventory, load_inventory

CORPUS = Path(__file__).parent / "inventory_data" / "parity"
_RAW: dict[str, Any] = yaml.safe_load((CORPUS / "cases.yml").read_text(encoding="utf-8"))
CASES: dict[str, list[str]] = {source: body["patterns"] if isinstance(body, dict) else body
                               for source, body in _RAW.items()}
PLAYBOOK_DIRS = {source: str(CORPUS / body["playbook_dir"]) for source, body in _RAW.items() if isinstance(body, dict)}
SELECTIONS = [(source, pattern) for source, patterns in CASES.items() for pattern in ["all", *patterns]]
# Ansible's Python, not ours, runs the implicit localhost: the interpreter it names is its own.
_ANSIBLE_ONLY = {"ansible_python_interpreter"}

# Skipped without ansible-core (tests/conftest.py). The module's fixture runs Ansible once per
# source and per pattern (a few hundred commands of about a second of CPU each): on a loaded
# two-core CI machine that is minutes, beyond the suite's default budget per test.
pytestmark = [pytest.mark.ansible, pytest.mark.timeout(1800)]


def _load(name: str, parser: str) -> Inventory:
    source = name if "," in name else str(CORPUS / name)
    return load_inventory(source, parser=parser, playbook_dir=PLAYBOOK_DIRS.get(name))


def _fields(host: Host) -> tuple[object, ...]:
    variables = {key: value for key, value in host.vars.items() if key not in _ANSIBLE_ONLY}
    return (host.name, host.address, host.port, host.user, host.key_file, host.docker_host, host.connection,
            sorted(host.groups), variables)


def _select(inventory: Inventory, pattern: str) -> list[tuple[object, ...]] | str:
    try:
        return [_fields(host) for host in inventory.select(pattern)]
    except InventoryError as exc:  # both readers must refuse alike (the message may differ)
        return "refused: " + ("ansible_connection" if "ansible_connection" in str(exc) else "selects no hosts")


Selected = list[tuple[object, ...]] | str


@pytest.fixture(scope="module")
def ansible() -> tuple[dict[str, Inventory], dict[tuple[str, str], Selected]]:
    """The corpus read, and every selection made, through Ansible, a few at a time (each
    command costs about a second of CPU)."""
    with ThreadPoolExecutor(4) as pool:
        loaded = dict(zip(CASES, pool.map(lambda name: _load(name, "ansible"), CASES)))
        results = pool.map(lambda case: _select(loaded[case[0]], case[1]), SELECTIONS)
        return loaded, dict(zip(SELECTIONS, results))


@pytest.mark.parametrize(("source", "pattern"), SELECTIONS)
def test_both_readers_select_the_same_hosts_in_the_same_order(
    ansible: tuple[dict[str, Inventory], dict[tuple[str, str], Selected]], source: str, pattern: str
) -> None:
    builtin = _load(source, "builtin")
    assert _select(builtin, pattern) == ansible[1][source, pattern]


@pytest.mark.parametrize("source", list(CASES))
def test_both_readers_read_the_same_hosts(
    ansible: tuple[dict[str, Inventory], dict[tuple[str, str], Selected]], source: str
) -> None:
    builtin = _load(source, "builtin")
    assert sorted(map(_fields, builtin.hosts)) == sorted(map(_fields, ansible[0][source].hosts))
