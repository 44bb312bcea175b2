"""Unit tests for remediate.fleet.inventory: INI/YAML parsing, ranges, var precedence, patterns."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from remediate.errors import InventoryError, RemediateError
from remediate.fleet.inventory import Host, Inventory, load_inventory

DATA = Path(__file__).parent / "inventory_data"
GPUS = ["gpu-01", "gpu-02", "gpu-03", "gpu-04", "gpu-05"]
AIGWS = ["aigw-a.example.com", "aigw-b.example.com"]
ALL_HOSTS = ["bastion", *GPUS, *AIGWS]


def write(tmp_path: Path, text: str, name: str = "hosts.ini") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def names(hosts: list[Host] | tuple[Host, ...]) -> list[str]:
    return [host.name for host in hosts]


@pytest.fixture(scope="module")
def lab() -> Inventory:
    return load_inventory(DATA / "lab.ini", parser="builtin")


# --------------------------------------------------------------------------- INI == YAML


def summary(inventory: Inventory) -> list[tuple[object, ...]]:
    return [
        (h.name, h.address, h.port, h.user, h.key_file, h.docker_host, h.groups, dict(h.vars))
        for h in inventory.hosts
    ]


@pytest.mark.parametrize("name", ["lab.yml", "lab.ini"])
def test_fixture_hosts_in_file_order(name: str) -> None:
    assert names(load_inventory(DATA / name).hosts) == ALL_HOSTS


def test_ini_and_yaml_give_the_same_inventory(lab: Inventory) -> None:
    yml = load_inventory(DATA / "lab.yml")
    assert summary(yml) == summary(lab)
    assert dict(yml.groups) == dict(lab.groups)


def test_json_is_read_as_yaml(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '{"all": {"hosts": {"gpu-01": {"ansible_port": 2200}}, "children": {"gpu": {"hosts": {"gpu-01": null}}}}}',
        "hosts.json",
    )
    host = load_inventory(path).hosts[0]
    assert (host.name, host.port, host.groups) == ("gpu-01", 2200, frozenset({"all", "gpu"}))


# --------------------------------------------------------------------------- host attributes


def test_connection_attributes(lab: Inventory) -> None:
    gpu5, bastion, aigw = (lab.get(n) for n in ("gpu-05", "bastion", "aigw-a.example.com"))
    assert gpu5 is not None and bastion is not None and aigw is not None
    assert (gpu5.address, gpu5.port, gpu5.key_file) == ("127.0.0.1", 2222, "~/.ssh/lab")
    assert (gpu5.user, lab.hosts[1].user) == (None, "root")  # only gpu-[01:04] set ansible_user
    assert (bastion.address, bastion.port, bastion.user) == ("203.0.113.10", 22, "ops")
    assert (aigw.address, aigw.user, aigw.key_file) == ("aigw-a.example.com", None, None)
    assert aigw.docker_host == "unix:///var/run/docker.sock" and bastion.docker_host is None
    assert lab.get("nope") is None


def test_port_from_host_pattern_and_inline_var_override(tmp_path: Path) -> None:
    inventory = load_inventory(
        write(tmp_path, "a:2201\nb:2202 ansible_port=2203\nc ansible_port='2204'\n")
    )
    assert [host.port for host in inventory.hosts] == [2201, 2203, 2204]


def test_legacy_ssh_aliases(tmp_path: Path) -> None:
    path = write(
        tmp_path, "old ansible_ssh_host=10.0.0.9 ansible_ssh_port=2022 ansible_ssh_user=admin\n"
    )
    host = load_inventory(path).hosts[0]
    assert (host.address, host.port, host.user) == ("10.0.0.9", 2022, "admin")


def test_groups_hold_ancestors_and_all(lab: Inventory) -> None:
    gpu1, aigw, bastion = (lab.get(n) for n in ("gpu-01", "aigw-b.example.com", "bastion"))
    assert gpu1 is not None and aigw is not None and bastion is not None
    assert gpu1.groups == {"all", "gpu", "rack_a", "inference", "gitlab"}
    assert aigw.groups == {"all", "aigw", "gitlab"}
    assert bastion.groups == {"all", "ungrouped"}


def test_group_map_includes_child_group_hosts_in_inventory_order(lab: Inventory) -> None:
    assert lab.groups["all"] == tuple(ALL_HOSTS)
    assert lab.groups["ungrouped"] == ("bastion",)
    assert lab.groups["gitlab"] == (*GPUS, *AIGWS)
    assert lab.groups["rack_b"] == ("gpu-04", "gpu-05")
    assert list(lab) == list(lab.hosts) and len(lab) == 8


def test_host_only_under_all_is_ungrouped(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "[all]\nlone\n[ungrouped]\nboth\n[g]\nboth\n"))
    assert inventory.groups["ungrouped"] == ("lone",)
    assert inventory.get("both") == Host("both", groups=frozenset({"all", "g"}))


def test_host_is_frozen_hashable_and_vars_read_only(lab: Inventory) -> None:
    host = lab.hosts[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        host.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        host.vars["tier"] = "x"  # type: ignore[index]
    assert {host, dataclasses.replace(host, vars={"other": 1})} == {host}
    assert Host("h").address == "h"


def test_duplicate_host_names_rejected() -> None:
    with pytest.raises(InventoryError, match="duplicate host 'a'"):
        Inventory([Host("a"), Host("a", "10.0.0.1")])


# --------------------------------------------------------------------------- ranges


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("gpu-[01:03]", ["gpu-01", "gpu-02", "gpu-03"]),
        ("node[8:10]", ["node8", "node9", "node10"]),
        ("n[001:002].lab", ["n001.lab", "n002.lab"]),
        ("web-[a:c]", ["web-a", "web-b", "web-c"]),
        ("gpu-[01:10:3]", ["gpu-01", "gpu-04", "gpu-07", "gpu-10"]),
        ("x[a:e:2]", ["xa", "xc", "xe"]),
        ("h[:2]", ["h0", "h1", "h2"]),
        ("db[1:2]-[a:b]", ["db1-a", "db1-b", "db2-a", "db2-b"]),
    ],
)
def test_host_ranges(tmp_path: Path, pattern: str, expected: list[str]) -> None:
    ini = load_inventory(write(tmp_path, f"[g]\n{pattern} role=x\n"))
    yml = load_inventory(write(tmp_path, f"g:\n  hosts:\n    {pattern}:\n      role: x\n", "h.yml"))
    assert names(ini.hosts) == names(yml.hosts) == expected
    assert all(host.vars["role"] == "x" for host in ini.hosts)


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("gpu-[01:x]", "bad host range [01:x]: bounds must be two numbers or two letters"),
        ("gpu-[01:100]", "zero-padded bounds must have equal length"),
        ("gpu-[5:1]", "begin must not exceed end"),
        ("gpu-[c:a]", "begin must not exceed end"),
        ("gpu-[1:4:0]", "step must be a positive integer"),
        ("gpu-[1]", "expected [begin:end] or [begin:end:step]"),
        ("gpu-[1:]", "missing end value"),
        ("gpu-[1:2", "unbalanced brackets in host name 'gpu-[1:2'"),
    ],
)
def test_bad_ranges_name_file_and_line(tmp_path: Path, pattern: str, reason: str) -> None:
    path = write(tmp_path, f"# comment\n[gpu]\n{pattern}\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value).startswith(f"{path}:3: ")
    assert reason in str(info.value)
    assert (info.value.path, info.value.line) == (str(path), 3)


# --------------------------------------------------------------------------- values and vars


def test_ini_values_are_python_literals_or_strings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "h1 n=3 f=1.5 b=True s=yes q='x y' l=[1,2] e= path=/opt/a=b\n"
        "[all:vars]\n"
        "count = 8\n"
        "flag = False\n"
        'quoted = "ok"\n'
        "word = yes\n"
        "url = http://example.com/?a=1\n"
        "nothing = None\n"
        "spaced = two words\n",
    )
    values = dict(load_inventory(path).hosts[0].vars)
    assert values == {
        "n": 3, "f": 1.5, "b": True, "s": "yes", "q": "x y", "l": [1, 2], "e": "",
        "path": "/opt/a=b", "count": 8, "flag": False, "quoted": "ok", "word": "yes",
        "url": "http://example.com/?a=1", "nothing": None, "spaced": "two words",
    }  # fmt: skip


def test_var_precedence_in_fixture(lab: Inventory) -> None:
    gpu1, gpu4, aigw, bastion = (
        lab.get(name) for name in ("gpu-01", "gpu-04", "aigw-a.example.com", "bastion")
    )
    assert gpu1 is not None and gpu4 is not None and aigw is not None and bastion is not None
    # inference (depth 2) beats rack_a (depth 1) although rack_a comes later in the file.
    assert (gpu1.vars["tier"], gpu1.vars["model"], gpu1.vars["rack"]) == ("inference", "vllm", "a")
    # gitlab and rack_a are siblings at depth 1: alphabetical, so rack_a wins.
    assert (gpu1.vars["zone"], gpu4.vars["zone"]) == ("r", "g")
    assert gpu1.vars["owner"] == "duo team" and gpu1.vars["verify"] is True
    assert (aigw.vars["tier"], bastion.vars["tier"]) == ("gitlab", "prod")


def test_precedence_depth_priority_and_host(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[parent:children]
child
[child]
h1 v=host
h2
[zeta]
h1
h2
[alpha]
h2
[all:vars]
v=all
w=all
[child:vars]
v=child
w=child
[parent:vars]
v=parent
w=parent
p=parent
[zeta:vars]
w=zeta
x=zeta
ansible_group_priority=0
[alpha:vars]
x=alpha
""",
    )
    h1, h2 = load_inventory(path).hosts
    # child (depth 2) > parent and zeta (depth 1); the host's own var wins over all.
    assert dict(h1.vars, ansible_group_priority=0) == {
        "v": "host", "w": "child", "p": "parent", "x": "zeta", "ansible_group_priority": 0,
    }  # fmt: skip
    # alpha and zeta share depth 1, but zeta's lower priority makes alpha win despite the name.
    assert (h2.vars["v"], h2.vars["x"]) == ("child", "alpha")


def test_later_host_definitions_merge_vars(tmp_path: Path) -> None:
    path = write(tmp_path, "[a]\nh x=1 y=1\n[b]\nh y=2\n")
    host = load_inventory(path).hosts[0]
    assert dict(host.vars) == {"x": 1, "y": 2} and host.groups == {"all", "a", "b"}


def test_undefined_child_groups_are_refused_as_by_ansible(tmp_path: Path) -> None:
    path = write(tmp_path, "[gpu]\ng1\n[gpu:children]\nfuture\n")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value) == f"{path}:4: section [gpu:children] includes undefined group 'future'"


def test_child_declared_before_group_keeps_its_hosts(tmp_path: Path) -> None:
    path = write(tmp_path, "[top:children]\nmid\n[mid:vars]\nv=1\n[mid]\nh\n")
    host = load_inventory(path).hosts[0]
    assert host.groups == {"all", "top", "mid"} and host.vars["v"] == 1


# --------------------------------------------------------------------------- INI errors


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("[gpu]\nh\n[gpu:unknownsuffix]\n", 3, "section [gpu:unknownsuffix] has unknown type"),
        ("[gpu:vars]\nnot a pair\n", 2, "expected key=value, got 'not a pair'"),
        ("[gpu:vars]\n=1\n", 2, "expected key=value"),
        ("[gpu]\nh1 role\n", 2, "expected key=value host variable, got 'role'"),
        ("[gpu]\nh1 x='unterminated\n", 2, "cannot parse host definition"),
        ("[bad group]\n", 1, "invalid section header '[bad group]'"),
        ("[gpu:children]\nbad child\n", 2, "expected a group name, got 'bad child'"),
        ("[g]\nh\n\n[typo:vars]\nx=1\n", 4, "section [typo:vars] is not valid for undefined group"),
        ("h1 ansible_port=ssh\n", 1, "invalid ansible_port='ssh'"),
        ("h1 ansible_port=True\n", 1, "invalid ansible_port=True"),
        ("h1 ansible_port=70000\n", 1, "invalid ansible_port=70000"),
        ("[g:vars]\nansible_group_priority=high\n[g]\n", 2, "invalid ansible_group_priority"),
        (
            "[a:children]\nb\n[b:children]\na\n",
            4,
            "adding group 'a' to 'b' creates a dependency loop",
        ),
        ("[a:children]\nall\n", 2, "group 'all' cannot be a child"),
        ("host:\n", 1, "invalid host pattern 'host:'"),
    ],
)
def test_ini_errors_name_file_and_line(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    message = str(info.value)
    assert message.startswith(f"{path}:{line}: ") and reason in message
    assert "\n" not in message
    assert (info.value.path, info.value.line) == (str(path), line)
    assert isinstance(info.value, RemediateError) and isinstance(info.value, ValueError)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="cannot read inventory"):
        load_inventory(tmp_path / "absent.ini")


# --------------------------------------------------------------------------- YAML specifics


def test_yaml_null_hosts_string_sections_and_top_level_groups(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "gpu:\n  hosts: g1\n  vars: {v: 1}\nweb:\n  hosts:\n    w1:\n    w2: ~\nempty:\n",
        "h.yaml",
    )
    inventory = load_inventory(path)
    assert names(inventory.hosts) == ["g1", "w1", "w2"]
    assert inventory.groups["empty"] == () and inventory.groups["web"] == ("w1", "w2")
    assert inventory.hosts[0].vars["v"] == 1 and inventory.hosts[1].groups == {"all", "web"}


def test_yaml_unknown_keys_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write(tmp_path, "all:\n  hosts: {a: null}\n  host: {b: null}\n", "h.yml")
    with caplog.at_level(logging.WARNING, logger="remediate.fleet.inventory"):
        assert names(load_inventory(path).hosts) == ["a"]
    assert "unexpected key 'host'" in caplog.text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("all:\n  hosts:\n    a: {x: 1\n", "{path}:4: invalid YAML"),
        ("all:\n  hosts: [a, b]\n", "{path}: group 'all': 'hosts' must be a mapping, got list"),
        (
            "all:\n  hosts:\n    a: [1]\n",
            "{path}: host 'a' in group 'all': variables must be a mapping",
        ),
        ("- a\n- b\n", "{path}: a YAML inventory must be a mapping of groups, got list"),
        ("", "{path}: empty YAML inventory"),
        ("plugin: aws_ec2\n", "{path}: inventory plugin configurations are not supported"),
        ("all:\n  hosts:\n    a: {ansible_port: x}\n", "{path}: invalid ansible_port='x'"),
        ("all:\n  hosts:\n    gpu-[01:x]:\n", "{path}: bad host range [01:x]"),
        (
            "a: &a\n  children:\n    b:\n      children:\n        a: *a\n",
            "{path}: line 1: an alias refers to a node that contains it",  # refused by the loader
        ),
    ],
)
def test_yaml_errors_name_the_file(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text, "hosts.yml")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert str(info.value).startswith(message.format(path=path))
    assert "\n" not in str(info.value) and info.value.path == str(path)


def test_yaml_syntax_error_carries_line(tmp_path: Path) -> None:
    path = write(tmp_path, "all:\n  hosts:\n    a: b: c\n", "hosts.yml")
    with pytest.raises(InventoryError) as info:
        load_inventory(path)
    assert info.value.line == 3 and str(info.value).startswith(f"{path}:3: invalid YAML: ")


# --------------------------------------------------------------------------- format detection


@pytest.mark.parametrize("name", ["hosts", "inventory.cfg"])
def test_yaml_without_yaml_extension_is_detected(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, (DATA / "lab.yml").read_text(encoding="utf-8"), name)
    assert summary(load_inventory(path)) == summary(load_inventory(DATA / "lab.ini"))


@pytest.mark.parametrize("name", ["hosts", "hosts.ini", "inventory"])
def test_ini_without_extension_is_ini(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, (DATA / "lab.ini").read_text(encoding="utf-8"), name)
    assert names(load_inventory(path).hosts) == ALL_HOSTS


def test_byte_order_mark_and_crlf_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "hosts.ini"
    path.write_bytes(b"\xef\xbb\xbf# lab\r\n[gpu]\r\ngpu-01 ansible_port=2200\r\n")
    host = load_inventory(path).hosts[0]
    assert (host.name, host.port, host.groups) == ("gpu-01", 2200, {"all", "gpu"})


def test_single_bare_host_file_is_ini(tmp_path: Path) -> None:
    assert names(load_inventory(write(tmp_path, "gpu-01\n", "hosts")).hosts) == ["gpu-01"]


# --------------------------------------------------------------------------- --limit patterns


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        (None, ALL_HOSTS),
        ("", ALL_HOSTS),
        ("all", ALL_HOSTS),
        ("*", ALL_HOSTS),
        ("gpu-03", ["gpu-03"]),
        ("gpu", GPUS),
        ("ungrouped", ["bastion"]),
        ("gpu-0*", GPUS),
        ("gpu-0[12]", []),  # a subscript (index 12 of "gpu-0"), not a character class
        ("gpu-0[!12]", ["gpu-03", "gpu-04", "gpu-05"]),
        ("*.example.com", AIGWS),
        ("rack_?", GPUS),
        ("gpu:!gpu-03", ["gpu-01", "gpu-02", "gpu-04", "gpu-05"]),
        ("gpu,!gpu-03", ["gpu-01", "gpu-02", "gpu-04", "gpu-05"]),
        ("!gpu", ["bastion", *AIGWS]),
        ("rack_b:bastion:aigw", ["bastion", "gpu-04", "gpu-05", *AIGWS]),  # all's order, as ansible-playbook -l
        ("gpu,&rack_a", ["gpu-01", "gpu-02", "gpu-03"]),
        ("gitlab:&rack_a:!gpu-02", ["gpu-01", "gpu-03"]),
        ("!gpu-02:&rack_a:gitlab", ["gpu-01", "gpu-03"]),  # order: unions, &, then !
        ("gpu:&rack_a:&rack_b", []),
        ("~gpu-0[1-3]", ["gpu-01", "gpu-02", "gpu-03"]),
        ("~aigw", AIGWS),  # regexes match at the start, like Ansible
        ("~rack_(a|b)$", GPUS),
        (" gpu-01 , bastion ", ["bastion", "gpu-01"]),
    ],
)
def test_select(lab: Inventory, pattern: str | None, expected: list[str]) -> None:
    if expected:
        assert names(lab.select(pattern)) == expected
    else:
        with pytest.raises(InventoryError, match="matches no hosts|selects no hosts"):
            lab.select(pattern)


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("nosuch", "host pattern 'nosuch' selects no hosts"),
        ("gpu:&aigw", "host pattern 'gpu:&aigw' selects no hosts"),
        ("gpu:!gpu", "host pattern 'gpu:!gpu' selects no hosts"),
        ("~gpu(", "invalid host pattern '~gpu(': missing ), unterminated subpattern at position 3"),
        ("gpu[0", "invalid host pattern 'gpu[0': unbalanced brackets"),
        ("gpu,!", "host pattern '!' is empty"),
    ],
)
def test_select_errors_name_the_pattern(lab: Inventory, pattern: str, message: str) -> None:
    with pytest.raises(InventoryError) as info:
        lab.select(pattern)
    assert str(info.value) == message


def test_exact_host_name_beats_group_of_same_name(tmp_path: Path) -> None:
    inventory = load_inventory(write(tmp_path, "web\n[web]\nw1\n"))
    assert names(inventory.select("web")) == ["web"]


def test_select_on_a_hand_built_inventory() -> None:
    inventory = Inventory([Host("a", groups=frozenset({"all", "x"})), Host("b")], groups=["spare"])
    assert names(inventory.select("x")) == ["a"]
    assert names(inventory.select("ungrouped")) == ["b"]
    assert inventory.groups["spare"] == ()


def test_limit_keeps_the_inventory_order_as_ansible_playbook_does() -> None:
    # `ansible-playbook --limit 'dbservers:webservers'` on the inventory guide's example runs
    # foo, bar, one, two, three: the play's order (all's), not the pattern's
    inventory = load_inventory(Path(__file__).parent / "inventory_data" / "parity" / "guide.ini", parser="builtin")
    assert [h.name for h in inventory.select("dbservers:webservers")] == [
        "foo.example.com", "bar.example.com", "one.example.com", "two.example.com", "three.example.com"]
    assert [h.name for h in inventory.select("~db[0-9]*$")] == ["db1", "db2", "db"]  # not sorted by name
    assert [h.name for h in inventory.select("localhost:webservers")][-1] == "localhost"
