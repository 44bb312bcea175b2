"""The new change kinds on inspect-JSON fixtures: ports (schema errors, planning, the ``docker run``
view) and list-valued args (words, templating, -e mappings, fix-vllm-404)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediate.core.lint import lint
from remediate.core.planner import Observed, plan
from remediate.core.playbook import (
    Playbook,
    load_playbook,
    parse_extra_vars,
    parse_publish,
    resolve_vars,
)
from remediate.errors import PlanError, PlaybookError
from remediate.output.plan import container_plan_json

CASES = Path(__file__).resolve().parents[1] / "cases"


def observed(case: str) -> Observed:
    return Observed(json.loads((CASES / case / "container.json").read_text()),
                    json.loads((CASES / case / "image.json").read_text()))


def book(*changes: Any, **fields: Any) -> Playbook:
    data: dict[str, Any] = {"name": "t", "description": "d", "select": {"name": "*"},
                            "changes": list(changes), **fields}
    return Playbook.model_validate(data)


def one(case: str, *changes: Any, vars: dict[str, Any] | None = None) -> Any:
    return plan(book(*changes, vars=vars or {}), vars or {}, [observed(case)]).containers[0]


@pytest.mark.parametrize(("spec", "parsed"), [
    ("127.0.0.1:50052:50052", ("127.0.0.1", "50052", 50052, "tcp")),
    ("127.0.0.1::50052", ("127.0.0.1", "", 50052, "tcp")),
    ("[::1]:8080:80/udp", ("::1", "8080", 80, "udp")),
    ("8080:80", ("", "8080", 80, "tcp")),
    ("80", ("", "", 80, "tcp")),
])
def test_publish_spellings(spec: str, parsed: tuple[str, str, int, str]) -> None:
    assert parse_publish(spec) == parsed


@pytest.mark.parametrize(("ports", "message"), [
    ({"publish": ["50052:50052"]}, "listens on all interfaces"),
    ({"publish": ["0.0.0.0:50052:50052"]}, "listens on all interfaces"),
    ({"publish": ["[::]:50052:50052"]}, "listens on all interfaces"),
    ({"publish": ["127.0.0.1:80"]}, "is not [host_ip:]"),
    ({"publish": ["127.0.0.1:8000-8010:8000-8010"]}, "one port per entry"),
    ({"publish": ["999.0.0.1:1:1"]}, "is not an IP address"),
    ({"publish": ["127.0.0.1:1:70000"]}, "port must be a number from 1 to 65535"),
    ({"unpublish": ["53/icmp"]}, "protocol must be tcp, udp or sctp"),
    ({}, "give publish or unpublish"),
    ({"publish": "127.0.0.1:1:1"}, "Input should be a valid list"),
])
def test_bad_ports_are_one_line_playbook_errors(ports: dict[str, Any], message: str, tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump({"name": "t", "description": "d", "select": {"name": "*"},
                                    "changes": [{"ports": ports}]}))
    with pytest.raises(PlaybookError) as err:
        load_playbook(str(path))
    assert str(err.value).startswith(f"{path}: changes[0].ports") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_publish_on_loopback_is_a_recreate_that_also_exposes() -> None:
    cp = one("busybox-minimal", {"ports": {"publish": ["127.0.0.1:50052:50052"]}})

    assert cp.action == "recreate"
    assert [(c.field, c.before, c.after, c.action) for c in cp.changes] == [
        ("ports.50052/tcp", None, ["127.0.0.1:50052"], "recreate")]
    assert cp.after.host_config["PortBindings"] == {"50052/tcp": [{"HostIp": "127.0.0.1", "HostPort": "50052"}]}
    assert cp.after.config["ExposedPorts"] == {"50052/tcp": {}}
    data = container_plan_json(cp)
    assert "+ --publish 127.0.0.1:50052:50052" in data["diff"]
    assert "+ --expose 50052/tcp" in data["diff"]


def test_publish_replaces_the_bindings_of_that_port_only() -> None:
    cp = one("cli-twin", {"ports": {"publish": ["127.0.0.1:48110:8000"]}})

    assert cp.after.host_config["PortBindings"] == {
        "8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "48110"}],
        "8001/tcp": [{"HostIp": "127.0.0.1", "HostPort": "48111"}]}
    assert [(c.before, c.after) for c in cp.changes] == [([":48110"], ["127.0.0.1:48110"])]


def test_a_publish_already_there_is_a_no_op_whatever_the_spelling() -> None:
    cp = one("cli-twin", {"ports": {"publish": ["0.0.0.0:48110:8000", "127.0.0.1:48111:8001/tcp"],
                                    "bind_all": True}})

    assert cp.action == "none"
    assert {c.reason for c in cp.changes} == {"already published"}


def test_bind_all_is_allowed_and_said_in_the_plan() -> None:
    cp = one("busybox-minimal", {"ports": {"publish": ["50052:50052"], "bind_all": True}})

    assert cp.after.host_config["PortBindings"] == {"50052/tcp": [{"HostIp": "", "HostPort": "50052"}]}
    assert any("all interfaces (bind_all: true)" in n for n in cp.notes)


def test_unpublish_removes_the_binding_and_keeps_the_expose() -> None:
    cp = one("cli-twin", {"ports": {"unpublish": [8000, "9999/udp"]}})

    assert cp.after.host_config["PortBindings"] == {"8001/tcp": [{"HostIp": "127.0.0.1", "HostPort": "48111"}]}
    assert cp.after.config["ExposedPorts"] == cp.before.config["ExposedPorts"]
    assert [(c.field, c.action) for c in cp.changes] == [("ports.8000/tcp", "recreate"),
                                                         ("ports.9999/udp", "noop")]
    last = one("cli-twin", {"ports": {"unpublish": [8000, 8001]}})
    assert "PortBindings" not in last.after.host_config


def test_publish_values_are_templates_checked_once_rendered() -> None:
    cp = one("busybox-minimal", {"ports": {"publish": ["{{ ip }}:{{ port }}:50052"]}},
             vars={"ip": "127.0.0.1", "port": 50052})
    assert cp.after.host_config["PortBindings"]["50052/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "50052"}]

    with pytest.raises(PlaybookError, match=r"changes\[0\].ports: .*listens on all interfaces"):
        one("busybox-minimal", {"ports": {"publish": ["{{ ip }}:1:50052"]}}, vars={"ip": "0.0.0.0"})


def test_publishing_on_a_shared_network_namespace_is_refused() -> None:
    with pytest.raises(PlanError, match="cannot publish ports: the container uses host networking"):
        plan(book({"network": "host"}, {"ports": {"publish": ["127.0.0.1:1:1"]}}), {"allow_all_interfaces": True},
             [observed("busybox-minimal")])


# --------------------------------------------------------------------------- list-valued args

def _with_cmd(cmd: list[str]) -> Observed:
    obs = observed("busybox-minimal")
    return Observed(dict(obs.inspect, Config={**obs.inspect["Config"], "Cmd": cmd}), obs.image)


@pytest.mark.parametrize(("cmd", "after"), [
    (["serve", "m", "--port", "8000"], ["serve", "m", "--port", "8000", "--served-model-name", "a", "b"]),
    (["serve", "m", "--served-model-name", "x", "y", "z", "--port", "8000"],
     ["serve", "m", "--served-model-name", "a", "b", "--port", "8000"]),
    (["serve", "m", "--served_model_name=x", "--port", "8000"],
     ["serve", "m", "--served_model_name", "a", "b", "--port", "8000"]),
])
def test_a_list_value_is_the_flags_words_and_replaces_all_of_them(cmd: list[str], after: list[str]) -> None:
    p = plan(book({"args": {"set": {"--served-model-name": ["a", "b"]}}}), {}, [_with_cmd(cmd)]).containers[0]

    assert p.after.config["Cmd"] == after
    flag = after[after.index("a") - 1]
    assert {f"+   {flag} a", "+   b"} <= set(container_plan_json(p)["diff"])
    again = plan(book({"args": {"set": {"--served-model-name": ["a", "b"]}}}), {}, [_with_cmd(after)]).containers[0]
    assert again.action == "none" and again.changes[0].reason == "already set"


def test_a_list_var_renders_into_the_flags_words_once() -> None:
    names = ["mistral", "custom_openai/mistral", "{{ 7 * 7 }}"]
    p = plan(book({"args": {"set": {"--served-model-name": "{{ names }}"}}}, vars={"names": names}),
             {"names": names}, [_with_cmd(["serve", "m"])]).containers[0]

    assert p.after.config["Cmd"] == ["serve", "m", "--served-model-name", *names]  # not rendered again
    single = plan(book({"args": {"set": {"--x": "{{ n }}"}}}, vars={"n": 3}), {"n": 3},
                  [_with_cmd(["serve"])]).containers[0]
    assert single.after.config["Cmd"] == ["serve", "--x", "3"]


@pytest.mark.parametrize(("value", "message"), [
    ([], "must not be empty"),
    (["a", "--b"], "would not read as a value of the flag"),
    ([{"a": 1}], "value must be a string, a number, a list of them or true"),
])
def test_bad_list_values_are_refused(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        book({"args": {"set": {"--served-model-name": value}}})


def test_a_list_var_with_a_mapping_item_is_one_playbook_error() -> None:
    with pytest.raises(PlaybookError, match="list item .* is not a string or a number"):
        plan(book({"args": {"set": {"--n": "{{ names }}"}}}, vars={"names": [{"a": 1}]}), {"names": [{"a": 1}]},
             [_with_cmd(["serve"])])


def test_extra_vars_take_a_json_mapping() -> None:
    assert parse_extra_vars(['{"served_model_name": ["mistral", "custom_openai/mistral"]}', "x=1"]) == {
        "served_model_name": ["mistral", "custom_openai/mistral"], "x": "1"}
    with pytest.raises(PlaybookError, match="inline vars must be a mapping|not a JSON or YAML mapping"):
        parse_extra_vars(["{not: [closed"])
    with pytest.raises(PlaybookError, match="is not a variable name"):
        parse_extra_vars(['{"a-b": 1}'])


def test_fix_vllm_404_takes_one_name_or_a_list() -> None:
    playbook = load_playbook("fix-vllm-404")
    obs = _with_cmd(["--model", "m"])
    for names, first in (("mistral", "mistral"), (["mistral", "custom_openai/mistral"], "mistral")):
        vars = resolve_vars(playbook, {"served_model_name": names})
        cp = plan(playbook, vars, [obs]).containers[0]
        flag = cp.after.config["Cmd"].index("--served-model-name")
        assert cp.after.config["Cmd"][flag + 1:flag + 1 + (len(names) if isinstance(names, list) else 1)] == (
            names if isinstance(names, list) else [names])
        assert cp.verify[0].contains == f'"{first}"' and cp.verify[1].json_body["model"] == first


# --------------------------------------------------------------------------- mount removal

def test_mount_absent_removes_a_bind_or_a_mount_and_is_a_no_op_when_gone() -> None:
    cp = one("kitchen-sink", {"mount": {"target": "/v", "state": "absent"}},
             {"mount": {"target": "/mb", "state": "absent"}}, {"mount": {"target": "/nowhere", "state": "absent"}})

    assert "Binds" not in cp.after.host_config and "Mounts" not in cp.after.host_config
    assert [(c.field, c.before, c.action) for c in cp.changes] == [
        ("mount./v", "rt-fid-cap-vol:/v", "recreate"), ("mount./mb", "Type=bind,Source=" + next(
            m["Source"] for m in cp.before.host_config["Mounts"]) + ",Target=/mb", "recreate"),
        ("mount./nowhere", None, "noop")]
    diff = container_plan_json(cp)["diff"]
    assert "- --volume rt-fid-cap-vol:/v" in diff and any(line.startswith("- --mount") for line in diff)


def test_removing_a_bind_the_sdk_also_declared_as_a_volume_drops_the_declaration() -> None:
    cp = one("sdk-twin", {"mount": {"target": "/x", "state": "absent"}})

    assert cp.after.host_config["Binds"] == ["/tmp/rt-fid-capture:/y:ro"]
    assert cp.after.config["Volumes"] == {"/y": {}}  # else the engine would make /x an anonymous volume
    assert "Volumes" not in one("sdk-twin", {"mount": {"target": "/x", "state": "absent"}},
                                {"mount": {"target": "/y", "state": "absent"}}).after.config


def test_an_anonymous_volume_cannot_be_removed() -> None:
    obs = observed("image-defaults")
    image_volume = next(iter(obs.image["Config"]["Volumes"]))
    with pytest.raises(PlanError, match="is an anonymous volume"):
        plan(book({"mount": {"target": image_volume, "state": "absent"}}), {}, [obs])


@pytest.mark.parametrize(("mount", "message"), [
    ({"target": "/t"}, "give source (or state: absent"),
    ({"source": "/s", "target": "/t", "state": "absent"}, "state: absent takes only target"),
    ({"target": "t", "state": "absent"}, "target must be an absolute path"),
    ({"target": "/t", "state": "gone"}, "Input should be 'present' or 'absent'"),
])
def test_bad_mount_removals_are_refused(mount: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        book({"mount": mount})


def test_lint_names_a_later_ports_change_of_the_same_port_as_an_override(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("name: p\ndescription: d\nselect: {name: x}\nchanges:\n"
                    "  - ports: {publish: ['127.0.0.1:8000:8000', '[::1]:8000:8000']}\n"
                    "  - ports: {unpublish: [8000]}\nverify:\n  - http: {port: 80}\n")

    assert [str(f).removeprefix(str(path)) for f in lint(path)] == [
        ":6:5: warning: changes[1]: changes[1] overrides changes[0] (port 8000/tcp) [override]"]
