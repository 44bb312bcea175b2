"""The plan's change as an edit of the compose service: layout kept line for line, where each value
goes (overrides, anchors), refusals (plain text and dicts)."""

from __future__ import annotations

import pytest

from remediate.core.compose_edit import ComposeEdit, ComposeEditRefused, edit_project
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


def edit_service(text: str, service: str, before: ContainerSpec, after: ContainerSpec, *, path: str) -> str | None:
    """The one file's edited text (its text when unchanged), or None when it lacks the service."""
    edit = edit_project([(path, text)], service, before, after)
    return None if edit is None else edit.texts.get(path, text)


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


def test_value_from_env_file_is_overridden_with_a_note_and_its_removal_refused() -> None:
    edit = edit_project([("d.yml", BLOCK)], "gw", spec(env=["A=1", "E=x"]), spec(env=["A=1", "E=y"]))
    assert edit is not None and "    - E=y\n    env_file: gw.env\n" in edit.texts["d.yml"]
    assert edit.notes == ("compose: E came from env_file gw.env (d.yml:7); environment in d.yml now overrides it",)
    with pytest.raises(ComposeEditRefused, match=r"^d.yml:7: E comes from env_file gw.env; remove it there"):
        edit_service(BLOCK, "gw", spec(env=["A=1", "E=x"]), spec(env=["A=1"]), path="d.yml")


def test_removed_mount_and_unparsable_or_unstable_files_are_refused() -> None:
    with pytest.raises(ComposeEditRefused, match="removing or replacing the mount /a:/b"):
        edit_service(FLOW, "vllm", spec(binds=["/a:/b"]), spec(binds=["/a:/c"]), path="c.yml")
    with pytest.raises(ComposeEditRefused, match="^h.yml: not YAML ruamel.yaml can read"):
        edit_service("services: [\n", "s", spec(), spec(), path="h.yml")
