"""The plan's change as an edit of the compose service: round-trip kept, refusals (plain text and dicts)."""

from __future__ import annotations

import pytest

from remediate.core.compose_edit import ComposeEditRefused, edit_service
from remediate.core.spec import ContainerSpec

FLOW = """\
# Duo stack
services:
  vllm:
    image: vllm/vllm-openai:v0.6.3   # pinned
    # broken: no served model name
    command: ["--model", "m"]
    ports:
      - "127.0.0.1::8000"
"""

BLOCK = """\
services:
  gw:
    image: gw:1
    environment:
    - A=1
    - "C=${FOO}"
    env_file: gw.env
    command: serve --port 8000
    volumes:
    - type: volume
      source: data
      target: /data
"""


def spec(cmd: list[str] | None = None, env: list[str] | None = None, binds: list[str] | None = None,
         mode: str | None = None, platform: str | None = None) -> ContainerSpec:
    host = {"Binds": binds} if binds else {}
    if mode:
        host["NetworkMode"] = mode
    return ContainerSpec("c", "i", platform=platform, config={"Cmd": cmd or [], "Env": env or []}, host_config=host)


def test_flow_command_and_new_volume_keep_comments_and_quoting() -> None:
    out = edit_service(FLOW, "vllm", spec(["--model", "m"]),
                       spec(["--model", "m", "--served-model-name", "mistral"], binds=["/t:/e:ro"]), path="c.yml")
    assert out == FLOW.replace('["--model", "m"]', '["--model", "m", "--served-model-name", "mistral"]') + (
        "    volumes:\n      - /t:/e:ro\n")


def test_string_command_list_env_long_volumes() -> None:
    before = spec(["serve", "--port", "8000"], ["A=1", "C=x", "E=from-file"])
    after = spec(["serve", "--port", "8000", "--log", "debug"], ["A=2", "C=x", "E=from-file", "B=3"], binds=["/t:/e:ro"])
    out = edit_service(BLOCK, "gw", before, after, path="d.yml")
    assert out is not None
    assert "    - A=2\n    - \"C=${FOO}\"\n    - B=3\n" in out
    assert "    command: serve --port 8000 --log debug\n" in out
    assert out.endswith("    - type: bind\n      source: /t\n      target: /e\n      read_only: true\n")


def test_map_env_is_edited_in_place_and_created_when_missing() -> None:
    text = "services:\n  s:\n    image: x\n    environment:\n      A: '1'  # keep\n      D: gone\n"
    out = edit_service(text, "s", spec(env=["A=1", "D=gone"]), spec(env=["A=2"]), path="e.yml")
    assert out == "services:\n  s:\n    image: x\n    environment:\n      A: '2'  # keep\n"
    out = edit_service("services:\n  s:\n    image: x\n", "s", spec(), spec(env=["K=v"]), path="e.yml")
    assert out == "services:\n  s:\n    image: x\n    environment:\n      K: v\n"


def test_network_mode_and_platform() -> None:
    out = edit_service("services:\n  s:\n    image: x\n", "s", spec(), spec(mode="host", platform="linux/amd64"),
                       path="f.yml")
    assert out == "services:\n  s:\n    image: x\n    network_mode: host\n    platform: linux/amd64\n"


def test_unknown_service_is_none() -> None:
    assert edit_service(FLOW, "other", spec(), spec(env=["K=v"]), path="c.yml") is None


def test_interpolated_value_is_refused_with_its_line() -> None:
    with pytest.raises(ComposeEditRefused, match=r"^d.yml:6: C in environment comes from \$\{VAR\}"):
        edit_service(BLOCK, "gw", spec(env=["A=1", "C=x"]), spec(env=["A=1", "C=y"]), path="d.yml")
    text = "services:\n  s:\n    image: x\n    command: serve ${ARGS}\n"
    with pytest.raises(ComposeEditRefused, match=r"^g.yml:4: command comes from"):
        edit_service(text, "s", spec(["serve", "a"]), spec(["serve", "b"]), path="g.yml")


def test_value_from_env_file_is_refused() -> None:
    with pytest.raises(ComposeEditRefused, match=r"^d.yml:7: E comes from env_file gw.env"):
        edit_service(BLOCK, "gw", spec(env=["A=1", "E=x"]), spec(env=["A=1", "E=y"]), path="d.yml")


def test_replaced_mount_and_unparsable_or_unstable_files_are_refused() -> None:
    with pytest.raises(ComposeEditRefused, match="removing or replacing the mount /a:/b"):
        edit_service(FLOW, "vllm", spec(binds=["/a:/b"]), spec(binds=["/x:/b"]), path="c.yml")
    with pytest.raises(ComposeEditRefused, match="^h.yml: not a compose file"):
        edit_service("services: [\n", "s", spec(), spec(), path="h.yml")
    with pytest.raises(ComposeEditRefused, match="would not survive an edit unchanged"):
        edit_service("services:\n  s: {image: x,   command: y}\n", "s", spec(), spec(), path="i.yml")


def _ports(bindings: dict[str, list[tuple[str, str]]]) -> ContainerSpec:
    return ContainerSpec("c", "i", host_config={"PortBindings": {
        k: [{"HostIp": ip, "HostPort": hp} for ip, hp in v] for k, v in bindings.items()}})


PORTS = """\
services:
  gw:
    image: gw:1   # pinned
    ports:
      - "127.0.0.1::8000"
      - 5052:5052
"""


def test_ports_publish_replaces_that_port_and_unpublish_removes_it() -> None:
    before = _ports({"8000/tcp": [("127.0.0.1", "")], "5052/tcp": [("", "5052")]})
    after = _ports({"8000/tcp": [("127.0.0.1", "")], "50052/tcp": [("127.0.0.1", "50052")],
                    "5052/tcp": [("127.0.0.1", "5052")], "53/udp": [("::1", "53")]})
    out = edit_service(PORTS, "gw", before, after, path="c.yml")
    assert out == PORTS.replace("      - 5052:5052\n", "") + (
        '      - "127.0.0.1:50052:50052"\n      - "127.0.0.1:5052:5052"\n      - "[::1]:53:53/udp"\n')

    gone = edit_service(PORTS, "gw", before, _ports({"8000/tcp": [("127.0.0.1", "")]}), path="c.yml")
    assert gone == PORTS.replace("      - 5052:5052\n", "")


def test_ports_long_syntax_and_a_new_ports_key() -> None:
    long_form = "services:\n  gw:\n    image: gw:1\n    ports:\n    - target: 5052\n      published: '5052'\n"
    after = _ports({"5052/tcp": [("127.0.0.1", "5052")]})
    out = edit_service(long_form, "gw", _ports({"5052/tcp": [("", "5052")]}), after, path="c.yml")
    assert out == ("services:\n  gw:\n    image: gw:1\n    ports:\n    - target: 5052\n      published: '5052'\n"
                   "      host_ip: 127.0.0.1\n      protocol: tcp\n")
    fresh = edit_service("services:\n  gw:\n    image: gw:1\n", "gw", _ports({}), after, path="c.yml")
    assert fresh is not None and fresh.endswith('ports:\n      - "127.0.0.1:5052:5052"\n')


@pytest.mark.parametrize(("entry", "message"), [
    ('"${PORT}:5052"', "comes from ${VAR} interpolation"),
    ('"5000-5100:5000-5100"', "is in the range"),
])
def test_ports_that_cannot_be_told_are_refused(entry: str, message: str) -> None:
    text = f"services:\n  gw:\n    image: gw:1\n    ports:\n    - {entry}\n"
    with pytest.raises(ComposeEditRefused, match=message.replace("$", r"\$").replace("{", r"\{")):
        edit_service(text, "gw", _ports({}), _ports({"5052/tcp": [("127.0.0.1", "5052")]}), path="c.yml")


def test_a_removed_mount_drops_its_volumes_entry() -> None:
    text = ("services:\n  gw:\n    image: gw:1\n    volumes:\n    - /cache:/home/aigateway/.hf   # shadows\n"
            "    - type: bind\n      source: /t\n      target: /t\n")
    before = spec(binds=["/cache:/home/aigateway/.hf", "/t:/t"])
    out = edit_service(text, "gw", before, spec(binds=["/t:/t"]), path="c.yml")
    assert out == "services:\n  gw:\n    image: gw:1\n    volumes:\n    - type: bind\n      source: /t\n      target: /t\n"
    assert edit_service(text, "gw", before, spec(), path="c.yml") == "services:\n  gw:\n    image: gw:1\n"
    with pytest.raises(ComposeEditRefused, match="no volumes entry mounts /x"):
        edit_service(text, "gw", spec(binds=["/x:/x", "/t:/t"]), spec(binds=["/t:/t"]), path="c.yml")
