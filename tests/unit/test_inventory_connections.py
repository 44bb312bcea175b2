"""Connection parity: for every host of the parity corpus, remediate connects where Ansible's ssh
connection plugin connects (address, port, user, key), or refuses the host in one line naming the
inventory. Ansible's side is what it really runs: ``ansible all -m raw`` with an ``ssh`` that
records its command line and fails (nothing is contacted), so spellings, variable precedence and
templates are resolved by Ansible itself, not by the variables ``ansible-inventory`` lists."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from remediate.errors import InventoryError
from remediate.fleet.inventory import Host, load_inventory
from tests.unit.test_inventory_parity import CASES, CORPUS, PLAYBOOK_DIRS

pytestmark = pytest.mark.ansible  # skipped without ansible-core (tests/conftest.py)

_FAKE_SSH = """#!{python}
import json, os, sys, uuid
with open(os.path.join({log!r}, uuid.uuid4().hex), "w") as out:
    json.dump(sys.argv[1:], out)
sys.exit(255)
"""
_MARK = "REMEDIATE-PARITY-HOST"
#: (address, port, user, key file, jump hosts) or ``"local"``.
Reached = tuple[str, int, str | None, str | None, str | None] | str


def _option(argv: list[str], name: str) -> str | None:
    found = None
    for index, word in enumerate(argv[:-1]):
        if word == "-o" and argv[index + 1].startswith(f"{name}="):
            found = argv[index + 1].split("=", 1)[1].strip('"')
    return found


def _jump(argv: list[str]) -> str | None:
    """The jump hosts ``ssh`` takes from its command line: the first ``-J`` or ``ProxyJump``."""
    for index, word in enumerate(argv[:-1]):
        if word == "-J":
            return argv[index + 1]
        if word == "-o" and argv[index + 1].lower().startswith("proxyjump="):
            return argv[index + 1].split("=", 1)[1].strip('"')
    return None


def _ansible_reaches(source: str, playbook_dir: str | None, work: Path) -> dict[str, Reached]:
    """Where Ansible's ssh plugin connects to for each host of ``source``; ``local`` for the
    hosts it runs locally."""
    log = work / "argv"
    log.mkdir()
    fake = work / "ssh"
    fake.write_text(_FAKE_SSH.format(python=sys.executable, log=str(log)))
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_SSH_EXECUTABLE=str(fake), ANSIBLE_HOST_KEY_CHECKING="false", ANSIBLE_SSH_RETRIES="0",
               ANSIBLE_SSH_ARGS="", ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false",
               ANSIBLE_HOME=str(work / "home"), ANSIBLE_FORKS="20")
    binary = shutil.which("ansible") or str(Path(sys.executable).with_name("ansible"))
    command = [binary, "all", "-i", source, "-m", "ansible.builtin.raw", "-a", f"{_MARK} {{{{ inventory_hostname }}}}"]
    if playbook_dir:
        command += ["--playbook-dir", playbook_dir]
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    reached: dict[str, Reached] = {}
    for path in log.iterdir():
        argv = json.loads(path.read_text())
        name = argv[-1].split(_MARK, 1)[1].split()[0]
        port = _option(argv, "Port")
        reached[name] = (argv[-2], int(port) if port else 22, _option(argv, "User"), _option(argv, "IdentityFile"),
                         _jump(argv))
    for line in proc.stdout.splitlines():  # a local host runs the command: it prints the mark
        if line.startswith(_MARK + " "):
            reached.setdefault(line.split()[1], "local")
    return reached


def _remediate_reaches(host: Host, inventory: Any) -> Reached:
    inventory.select(host.name)  # refuses what remediate cannot honour
    if host.connection == "local":
        return "local"
    key = os.path.expanduser(host.key_file) if host.key_file else None
    return (host.address, host.port, host.user, key, host.jump)


SOURCES = [source for source in CASES if "," not in source]


@pytest.mark.parametrize("source", SOURCES)
def test_remediate_connects_where_ansible_connects(source: str, tmp_path: Path) -> None:
    path = str(CORPUS / source)
    ansible = _ansible_reaches(path, PLAYBOOK_DIRS.get(source), tmp_path)
    inventory = load_inventory(path, parser="builtin", playbook_dir=PLAYBOOK_DIRS.get(source))
    assert set(ansible) <= {h.name for h in inventory.hosts}
    for host in inventory.hosts:
        try:
            reached = _remediate_reaches(host, inventory)
        except InventoryError as exc:  # a deliberate refusal: one line, naming the inventory
            assert str(exc).startswith(f"inventory {path}: host {host.name!r}: "), exc
            assert "\n" not in str(exc)
            continue
        assert reached == ansible.get(host.name, "local"), host.name


def test_a_refused_ssh_option_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from remediate.cli.main import main

    source = str(CORPUS / "jump.ini")
    result = CliRunner().invoke(main, ["hosts", "-i", source, "--limit", "gpu-4"],
                                env={"REMEDIATE_INVENTORY_PARSER": "builtin"})
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [(
        f"remediate: inventory {source}: host 'gpu-4': ansible_ssh_common_args '-o Port=2200':"
        " remediate does not take SSH options from the inventory; put it in ~/.ssh/config (Host 10.50.0.4), which it"
        " reads")], result.output
