"""`group_vars/` beside the playbook file, on the real engine: `apply -i` reads them as
ansible-playbook does (over the inventory's own), through ansible-inventory and built in."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import remove_owned
from tests.integration._proc import run, run_vllm

pytestmark = pytest.mark.integration

PREFIX = "rt-pbvars-"


@pytest.fixture
def vllm(docker_client: Any) -> Iterator[str]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        run_vllm(docker_client, name)
        yield name
    finally:
        remove_owned(docker_client, name)


@pytest.mark.parametrize("parser", ["ansible", "builtin"])
def test_group_vars_beside_the_playbook_win_over_the_inventory_ones(parser: str, vllm: str, tmp_path: Path,
                                                                    state_dir: str) -> None:
    inventory = tmp_path / "inventory"
    (inventory / "group_vars").mkdir(parents=True)
    (inventory / "hosts.ini").write_text("[gpu]\nlocalhost ansible_connection=local\n")
    (inventory / "group_vars" / "gpu.yml").write_text("flag_value: from-the-inventory\nflag_note: kept\n")
    play = tmp_path / "play"
    (play / "group_vars").mkdir(parents=True)
    (play / "group_vars" / "gpu.yml").write_text("flag_value: from-the-playbook-dir\n")
    book = play / "flag.yml"
    book.write_text(f"name: flag\ndescription: sets a flag\nsafety: auto\n"
                    f"vars: {{flag_value: from-the-default, flag_note: none}}\nselect: {{name: {vllm}}}\n"
                    "changes:\n  - env: {FLAG: '{{ flag_value }}', NOTE: '{{ flag_note }}'}\n")

    result = run(["apply", str(book), "-i", str(inventory / "hosts.ini"), "--dry-run"], state_dir,
                 REMEDIATE_INVENTORY_PARSER=parser)

    assert result.code == 0, result.output
    assert "+ --env FLAG=from-the-playbook-dir" in result.stdout, result.stdout
    assert "+ --env NOTE=kept" in result.stdout, result.stdout
