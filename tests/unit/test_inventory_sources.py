"""Inventory sources beyond one file, Ansible's pattern rules, and the choice of reader: host
lists, scripts, vars directories, warnings, refusals, and the ansible-inventory path's errors."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from remediate.cli.main import main
from remediate.core.planner import Plan
from remediate.core.redaction import MASK, Secret
from remediate.errors import InventoryError
from remediate.fleet.inventory import choose_parser, load_inventory
from remediate.output.plan import after_message, plan_json

ANSIBLE = pytest.mark.ansible  # skipped without ansible-core (tests/conftest.py)


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def names(hosts: object) -> list[str]:
    return [host.name for host in hosts]  # type: ignore[attr-defined]


def test_host_list_hosts_are_ungrouped_with_their_ports() -> None:
    inventory = load_inventory("gpu-01, gpu-02:2222,[2001:db8::5]:2200,gpu-01:2300,")
    assert [(h.name, h.port, h.groups) for h in inventory.hosts] == [
        ("gpu-01", 22, {"all", "ungrouped"}),
        ("gpu-02", 2222, {"all", "ungrouped"}),
        ("2001:db8::5", 2200, {"all", "ungrouped"}),
    ]


def test_script_without_meta_is_asked_per_host(tmp_path: Path) -> None:
    script = write(tmp_path / "inv.sh", """#!/bin/sh
if [ "$1" = --list ]; then echo '{"gpu": ["g1", "g2"]}'; else echo "{\\"ansible_port\\": 22$(echo $2 | tr -d g)0}"; fi
""", 0o755)
    assert [(h.name, h.port) for h in load_inventory(script).select("gpu")] == [("g1", 2210), ("g2", 2220)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo oops >&2; exit 3", "inventory script --list exited 3: oops"),
        ("echo '[1, 2]'", "inventory script output must be a JSON object"),
        ("echo 'not json'", "inventory script output is not JSON"),
        ("sleep 5", "inventory script ran longer than 0.5 s (REMEDIATE_INVENTORY_TIMEOUT)"),
    ],
)
def test_a_broken_script_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    monkeypatch.setenv("REMEDIATE_INVENTORY_TIMEOUT", "0.5")
    script = write(tmp_path / "inv", f"#!/bin/sh\n{body}\n", 0o755)
    with pytest.raises(InventoryError) as info:
        load_inventory(script)
    assert str(info.value) == f"{script}: {message}" or message in str(info.value)
    assert "\n" not in str(info.value)


def test_group_vars_and_host_vars_beside_the_inventory(tmp_path: Path) -> None:
    inventory = write(tmp_path / "hosts.ini", "[gpu]\ng1 ansible_port=2201\ng2\n[gpu:vars]\nmodel=ini\n")
    write(tmp_path / "group_vars" / "all" / "a.yml", "ansible_user: ops\nmodel: all\n")
    write(tmp_path / "group_vars" / "all" / "b.yaml~", "ansible_user: backup-ignored\n")
    write(tmp_path / "group_vars" / "gpu.yaml", "model: files\nansible_port: 2200\n")
    write(tmp_path / "host_vars" / "g2.json", '{"ansible_user": "root"}')
    g1, g2 = load_inventory(inventory).hosts
    assert (g1.user, g1.port, g1.vars["model"]) == ("ops", 2201, "files")  # host var over group_vars/
    assert (g2.user, g2.port) == ("root", 2200)


def test_a_vault_encrypted_vars_file_needs_ansible(tmp_path: Path) -> None:
    inventory = write(tmp_path / "hosts.ini", "[gpu]\ng1\n")
    write(tmp_path / "group_vars" / "gpu.yml", "$ANSIBLE_VAULT;1.1;AES256\n6638\n")
    with pytest.raises(InventoryError, match="encrypted with ansible-vault: install ansible-core"):
        load_inventory(inventory)


def test_an_unmatched_term_warns_and_the_rest_stays(caplog: pytest.LogCaptureFixture) -> None:
    inventory = load_inventory("web1,web2,web3,")
    with caplog.at_level(logging.WARNING):
        assert names(inventory.select("ungrouped:typo")) == ["web1", "web2", "web3"]
        assert names(inventory.select("ungrouped[1:]:ungrouped[7]")) == ["web2", "web3"]
    assert "host pattern 'typo' matches no hosts or groups; ignored" in caplog.text
    assert "host pattern 'ungrouped[7]': index out of range" in caplog.text


def test_implicit_localhost_is_local_and_outside_all() -> None:
    inventory = load_inventory("gpu-01,")
    assert names(inventory.select("all")) == ["gpu-01"]
    (local,) = inventory.select("localhost")
    assert (local.name, local.connection, local.groups) == ("localhost", "local", frozenset())


def test_an_unsupported_connection_is_refused_for_a_selected_host(tmp_path: Path) -> None:
    source = write(tmp_path / "hosts.ini", "[win]\nw1 ansible_connection=winrm\n[lin]\nl1\n")
    inventory = load_inventory(source)
    assert names(inventory.select("lin")) == ["l1"]
    with pytest.raises(InventoryError) as info:
        inventory.select("all")
    assert str(info.value) == (f"inventory {source}: host 'w1': ansible_connection='winrm' is not supported: remediate reaches a host"
                               " over ssh, or local")


def test_a_secret_in_a_broken_line_is_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as info:
        load_inventory(write(tmp_path / "hosts.ini", "h1 ansible_password=s3cret x='open\n"))
    assert "s3cret" not in str(info.value) and "cannot parse host definition" in str(info.value)


def test_an_integer_yaml_host_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="host pattern 1 in group 'all' must be a string"):
        load_inventory(write(tmp_path / "hosts.yml", "all:\n  hosts:\n    1:\n"))


def test_parser_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert choose_parser("builtin") == "builtin"
    monkeypatch.setenv("REMEDIATE_INVENTORY_PARSER", "nope")
    with pytest.raises(InventoryError, match="REMEDIATE_INVENTORY_PARSER='nope': expected one of auto, ansible, builtin"):
        choose_parser()
    monkeypatch.setenv("REMEDIATE_INVENTORY_PARSER", "ansible")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(InventoryError, match="ansible-inventory is not on PATH"):
        choose_parser()


@pytest.mark.parametrize("parser", [pytest.param("ansible", marks=ANSIBLE), "builtin"])
def test_hosts_json_reads_a_directory_on_both_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parser: str
) -> None:
    monkeypatch.setenv("REMEDIATE_INVENTORY_PARSER", parser)
    write(tmp_path / "inv" / "hosts", "[gpu]\ngpu-01 ansible_host=10.0.0.5\n[2001:db8::9]:2222\n")
    write(tmp_path / "inv" / "group_vars" / "gpu.yml", "ansible_user: ops\nansible_port: 2201\n")
    result = CliRunner().invoke(main, ["hosts", "-i", str(tmp_path / "inv"), "--format", "json"])
    assert result.exit_code == 0, result.output
    shown = [(h["host"], h["address"], h["port"], h["user"], h["url"]) for h in json.loads(result.output)]
    assert shown == [("gpu-01", "10.0.0.5", 2201, "ops", "ssh://ops@10.0.0.5:2201"),
                     ("2001:db8::9", "2001:db8::9", 2222, "ops", "ssh://ops@[2001:db8::9]:2222")]


@ANSIBLE
def test_through_ansible_a_broken_inventory_is_one_line_naming_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATE_INVENTORY_PARSER", "ansible")
    path = write(tmp_path / "hosts.ini", "[g]\nh1 ansible_password=s3cret\n[g:children]\nnope\n")
    result = CliRunner().invoke(main, ["hosts", "-i", str(path)])
    assert result.exit_code == 2
    assert result.output == f"remediate: {path}:4: section [g:children] includes undefined group 'nope'\n"


@ANSIBLE
def test_through_ansible_each_command_is_time_boxed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REMEDIATE_INVENTORY_TIMEOUT", "0.01")
    with pytest.raises(InventoryError, match=r"ansible-inventory ran longer than 0.01 s \(REMEDIATE_INVENTORY_TIMEOUT\)"):
        load_inventory("gpu-01,", parser="ansible")


def test_unsafe_values_are_plain_and_vault_values_need_ansible(tmp_path: Path) -> None:
    host = load_inventory(write(tmp_path / "a.yml", "all:\n  hosts:\n    h: {motd: !unsafe '{{ x }}'}\n")).hosts[0]
    assert host.vars["motd"] == "{{ x }}"
    path = write(tmp_path / "b.yml", "all:\n  hosts:\n    h:\n      pw: !vault |\n        $ANSIBLE_VAULT;1.1;AES256\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value).startswith(f"{path}:4: invalid YAML: a vault-encrypted value (!vault) needs Ansible")


def test_remediate_hosts_warns_of_an_unmatched_term_and_lists_the_rest() -> None:
    result = CliRunner().invoke(main, ["hosts", "-i", "gpu-01,gpu-02,", "--limit", "gpu-02:typo"])
    assert result.exit_code == 0
    assert "remediate: warning: host pattern 'typo' matches no hosts or groups; ignored" in result.output
    assert "gpu-02  ssh://gpu-02:22" in result.output and "gpu-01" not in result.output


@ANSIBLE
def test_through_ansible_a_binary_file_is_refused_as_by_the_builtin_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REMEDIATE_INVENTORY_PARSER", "ansible")
    binary = tmp_path / "hosts.yml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe")
    result = CliRunner().invoke(main, ["hosts", "-i", str(binary)])
    assert result.exit_code == 2 and result.output.startswith(f"remediate: {binary}: not UTF-8 text")


def test_an_invalid_connection_variable_from_ansible_is_one_line() -> None:
    from remediate.fleet.ansible_inventory import AnsibleInventory

    listing = {"_meta": {"hostvars": {"h": {"ansible_port": "{{ port }}", "port": "22a"}}}, "ungrouped": {"hosts": ["h"]}}
    with pytest.raises(InventoryError) as info:
        AnsibleInventory("inv.yml", listing)
    assert str(info.value) == ("inventory inv.yml: host 'h': invalid ansible_port='22a': Input should be a"
                               " valid integer, unable to parse string as an integer")


@pytest.mark.parametrize(("variables", "problem"), [
    ({"ansible_port": "{{ port }}"}, "ansible_port: 'port' is undefined (template '{{ port }}')"),
    ({"ansible_host": "{{ lookup('env', 'H') }}"}, "ansible_host: 'lookup' is undefined"),
    ({"ansible_host": "{{ a | regex_replace('x', 'y') }}", "a": "x"}, "ansible_host: No filter named 'regex_replace'"),
    ({"ansible_user": "{{ a }}", "a": "{{ b }}", "b": "{{ a }}"}, "a: variables refer to each other in a loop"),
])
def test_a_template_only_ansible_renders_is_one_line_naming_the_inventory(variables: dict[str, str],
                                                                          problem: str) -> None:
    from remediate.fleet.ansible_inventory import AnsibleInventory

    with pytest.raises(InventoryError) as info:
        AnsibleInventory("inv.yml", {"_meta": {"hostvars": {"h": variables}}, "ungrouped": {"hosts": ["h"]}})
    assert str(info.value).startswith(f"inventory inv.yml: host 'h': {problem}")
    assert "\n" not in str(info.value)


def test_a_playbook_dir_that_is_no_directory_is_one_line(tmp_path: Path) -> None:
    inventory = write(tmp_path / "hosts.ini", "h1\n")
    with pytest.raises(InventoryError, match=f"^{tmp_path / 'site.yml'}: playbook directory: not a directory$"):
        load_inventory(inventory, playbook_dir=write(tmp_path / "site.yml", "name: x\n"))


def _vault_inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An inventory directory with a !vault value in group_vars/all (one ciphertext for every host)
    and a vaulted ansible_user for h2, encrypted by ansible-vault with a password file; the
    user's own Ansible settings are not read."""
    password = write(tmp_path / "vault-pass", "correct horse battery staple\n", 0o600)
    monkeypatch.setenv("ANSIBLE_CONFIG", str(write(tmp_path / "ansible.cfg", "")))
    monkeypatch.setenv("REMEDIATE_INVENTORY_PARSER", "ansible")

    def vaulted(name: str, value: str, indent: int) -> str:
        done = subprocess.run(["ansible-vault", "encrypt_string", "--vault-password-file", str(password),
                               "--name", name, value], capture_output=True, text=True, check=True, timeout=60)
        return "".join(" " * indent + line + "\n" for line in done.stdout.splitlines())

    folder = tmp_path / "inv"
    write(folder / "group_vars" / "all.yml", vaulted("model_revision", "rev-0123456789", 0))
    write(folder / "hosts.yml", "all:\n  hosts:\n    h1:\n      ansible_host: 127.0.0.1\n    h2:\n"
                                "      ansible_host: 127.0.0.2\n" + vaulted("ansible_user", "ops-vaulted", 6))
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(password))
    return folder


@ANSIBLE
def test_through_ansible_vault_values_are_decrypted_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _vault_inventory(tmp_path, monkeypatch)
    h1, h2 = load_inventory(folder).hosts

    assert h1.vars["model_revision"] == "rev-0123456789" and isinstance(h1.vars["model_revision"], Secret)
    assert h2.vars["model_revision"] is h1.vars["model_revision"]  # decrypted once
    assert h2.user == "ops-vaulted"
    result = CliRunner().invoke(main, ["hosts", "-i", str(folder), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [(h["user"], h["url"]) for h in json.loads(result.output)] == [
        (None, "ssh://127.0.0.1:22"), (MASK, f"ssh://{MASK}@127.0.0.2:22")]
    plan = Plan("book", "h2", dict(h2.vars), (), after_message="rev-0123456789 is live, ssh as ops-vaulted")
    assert plan_json(plan)["vars"] == {"ansible_host": "127.0.0.2", "ansible_user": MASK, "model_revision": MASK}
    assert after_message(plan) == "*** is live, ssh as ***"


@ANSIBLE
@pytest.mark.parametrize(
    ("password", "reason"),
    [(None, ("no vault password is configured (set ANSIBLE_VAULT_PASSWORD_FILE, or vault_password_file or"
             " vault_identity_list in ansible.cfg)")),
     ("wrong\n", "Decryption failed (no vault secrets were found that could decrypt).")],
)
def test_through_ansible_a_vault_value_that_cannot_be_decrypted_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, password: str | None, reason: str
) -> None:
    folder = _vault_inventory(tmp_path, monkeypatch)
    if password is None:
        monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE")
    else:
        monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(write(tmp_path / "wrong-pass", password, 0o600)))
    result = CliRunner().invoke(main, ["hosts", "-i", str(folder)])
    assert result.exit_code == 2
    assert result.output == f"remediate: inventory {folder}: host 'h1': model_revision: cannot decrypt !vault: {reason}\n"


@ANSIBLE
def test_through_ansible_an_encrypted_vars_file_without_its_password_is_ansibles_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _vault_inventory(tmp_path, monkeypatch)
    subprocess.run(["ansible-vault", "encrypt", str(write(folder / "host_vars" / "h1.yml", "x: 1\n"))],
                   capture_output=True, check=True, timeout=60)
    monkeypatch.delenv("ANSIBLE_VAULT_PASSWORD_FILE")
    result = CliRunner().invoke(main, ["hosts", "-i", str(folder)])
    assert result.exit_code == 2
    assert result.output == f"remediate: inventory {folder}: Attempting to decrypt but no vault secrets found.\n"


@ANSIBLE
@pytest.mark.parametrize(("pattern", "selected", "asks_all"), [("h2", ["h2"], False), ("h3,h1", ["h1", "h3"], True)])
def test_through_ansible_one_host_is_selected_without_asking_all_its_order(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, pattern: str, selected: list[str], asks_all: bool
) -> None:
    """Each Ansible command is a debug line (``-vv``); the play's order of ``all`` is asked only
    when there is more than one host to put in order (each command is about half a second)."""
    path = write(tmp_path / "hosts.ini", "[g]\nh1\nh2\nh3\n")
    inventory = load_inventory(str(path), parser="ansible")
    with caplog.at_level(logging.DEBUG, logger="remediate.fleet.ansible_inventory"):
        assert [host.name for host in inventory.select(pattern)] == selected
    asked = [r.getMessage() for r in caplog.records if r.getMessage().startswith("ansible: ")]
    assert [line.split(" -- ")[-1].split(" (")[0] for line in asked] == ([pattern, "all"] if asks_all else [pattern])
    assert all(line.startswith(f"ansible: ansible -i {path} --list-hosts -- ") for line in asked)
