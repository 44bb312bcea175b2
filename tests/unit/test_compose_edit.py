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


def test_removing_the_last_variable_removes_the_environment_it_emptied() -> None:
    for text in ("services:\n  s:\n    image: x\n", "services:\n  s:\n    image: x\n    environment:\n      - K=v\n"):
        added = edit_service(text, "s", spec(), spec(env=["K=v"]), path="e.yml")
        assert added is not None
        assert edit_service(added, "s", spec(env=["K=v"]), spec(), path="e.yml") == "services:\n  s:\n    image: x\n"
    # kept: an empty environment that keeps a merged-in one away, and an anchored one others use
    merged = "x: &base\n  environment: {A: '1'}\nservices:\n  s:\n    <<: *base\n    environment:\n      K: v\n"
    assert edit_service(merged, "s", spec(env=["K=v"]), spec(), path="e.yml") == merged.replace(
        "    environment:\n      K: v\n", "    environment: {}\n")
    anchored = "services:\n  s:\n    environment: &e\n      K: v\n  t:\n    environment: *e\n"
    out = edit_service(anchored, "s", spec(env=["K=v"]), spec(), path="e.yml")
    assert out is not None and "t:\n    environment:" in out and "K: v" in out


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


def test_replaced_mount_and_unparsable_or_unstable_files_are_refused() -> None:
    with pytest.raises(ComposeEditRefused, match="removing or replacing the mount /a:/b"):
        edit_service(FLOW, "vllm", spec(binds=["/a:/b"]), spec(binds=["/x:/b"]), path="c.yml")
    with pytest.raises(ComposeEditRefused, match="^h.yml: not YAML ruamel.yaml can read"):
        edit_service("services: [\n", "s", spec(), spec(), path="h.yml")


def env_edit(text: str, service: str, before: list[str], after: list[str], path: str = "c.yml") -> ComposeEdit:
    edit = edit_project([(path, text)], service, spec(env=before), spec(env=after))
    assert edit is not None
    return edit


@pytest.mark.parametrize(("name", "text"), [
    ("trailing spaces", "services:   \n  s:\n    image: x  \n    environment:\n      A: '1'\n  t:\n    image: y \n"),
    ("leading ---", "---\nservices:\n  s:\n    image: x\n    environment:\n      A: '1'\n  t:\n    image: y\n"),
    ("no final newline", "services:\n  t:\n    image: y\n  s:\n    image: x\n    environment:\n      A: '1'"),
    ("CRLF", "services:\r\n  s:\r\n    image: x\r\n    environment:\r\n      A: '1'\r\n  t:\r\n    image: y\r\n"),
    ("odd indentation elsewhere", ("services:\n  t:\n      image: y\n      ports:\n          - 80:80\n"
                                  "  s:\n    image: x\n    environment:\n      A: '1'\n")),
    ("odd indentation of the service", ("services:\n   s:\n        image: x\n        environment:\n"
                                       "            A: '1'\n   t:\n        image: y\n")),
])
def test_only_the_changed_line_changes_whatever_the_layout(name: str, text: str) -> None:
    out = env_edit(text, "s", ["A=1"], ["A=2"]).texts["c.yml"]
    assert out == text.replace("A: '1'", "A: '2'"), name
    added = env_edit(text, "s", ["A=1"], ["A=1", "B=3"]).texts["c.yml"]
    lines, new = text.splitlines(), added.splitlines()
    assert len(new) == len(lines) + 1 and all(line in new for line in lines), name
    assert added.endswith("\n") == text.endswith("\n") and added.count("\r\n") == text.count("\r\n") + (
        "\r\n" in text), name
    assert any(line.strip() in ("B: '3'", "B: 3") for line in new), added


def test_value_set_in_an_override_is_edited_there_and_a_new_one_in_the_last_file() -> None:
    base = "services:\n  s:\n    image: x\n    environment:\n      - A=1\n    command: [serve]\n"
    override = "services:\n  s:\n    environment:\n      - B=1\n  other:\n    image: z\n"
    edit = edit_project([("a.yml", base), ("b.yml", override)], "s", spec(["serve"], ["A=1", "B=1"]),
                        spec(["serve", "--x"], ["A=2", "B=2", "C=3"]))
    assert edit is not None
    assert edit.texts["a.yml"] == base.replace("A=1", "A=2").replace("[serve]", "[serve, --x]")
    assert edit.texts["b.yml"] == override.replace("      - B=1\n", "      - B=2\n      - C=3\n")


def test_an_override_without_the_service_is_left_alone_even_when_its_layout_is_odd() -> None:
    base = "services:\n  s:\n    image: x\n"
    other = "---\nservices:\n  db:\n      image: y   \n"
    edit = edit_project([("a.yml", base), ("b.yml", other)], "s", spec(), spec(env=["K=v"]))
    assert edit is not None and list(edit.texts) == ["a.yml"]


ANCHORED = """\
x-env: &env
  DB: postgres
  LOG: info
x-common: &common
  restart: always
  networks: [back]
services:
  n8n:
    <<: *common
    image: n8n
    environment: *env
  n8n-import:
    <<: *common
    image: n8n
    environment: *env
"""


def test_a_shared_anchor_is_overridden_in_the_service_only() -> None:
    out = env_edit(ANCHORED, "n8n", ["DB=postgres", "LOG=info"], ["DB=postgres", "LOG=debug"]).texts["c.yml"]
    assert out == ANCHORED.replace("    environment: *env\n  n8n-import",
                                   "    environment:\n      <<: *env\n      LOG: debug\n  n8n-import")
    removed = env_edit(ANCHORED, "n8n", ["DB=postgres", "LOG=info"], ["DB=postgres"]).texts["c.yml"]
    assert "    environment:\n      DB: postgres\n  n8n-import" in removed
    assert removed.endswith("    environment: *env\n") and removed.startswith("x-env: &env\n  DB: postgres\n  LOG: info\n")


def test_an_anchor_only_this_service_uses_is_edited_where_it_is_defined() -> None:
    text = "x-env: &env\n  LOG: info\nservices:\n  s:\n    image: x\n    environment: *env\n"
    out = env_edit(text, "s", ["LOG=info"], ["LOG=debug"]).texts["c.yml"]
    assert out == text.replace("LOG: info", "LOG: debug")


def test_host_network_drops_networks_and_an_anchor_that_gives_them_is_refused() -> None:
    text = "services:\n  s:\n    image: x\n    networks:\n      - front\n    links: [db]\n  db:\n    image: y\n"
    edit = edit_project([("c.yml", text)], "s", spec(mode="front"), spec(mode="host"))
    assert edit is not None
    assert edit.texts["c.yml"] == "services:\n  s:\n    image: x\n    network_mode: host\n  db:\n    image: y\n"
    assert edit.notes == ("compose: networks of s dropped (c.yml:4): network_mode host cannot have it",
                          "compose: links of s dropped (c.yml:6): network_mode host cannot have it")
    with pytest.raises(ComposeEditRefused, match=r"services.n8n gets networks from a merged anchor"):
        edit_project([("c.yml", ANCHORED)], "n8n", spec(mode="back"), spec(mode="host"))


def test_commented_out_arguments_and_string_styles_are_kept() -> None:
    text = ("services:\n  vllm:\n    image: v\n    command:\n      - --model\n      - m   # current\n"
            "      # - --model\n      # - other/model\n    ports: ['8000']\n")
    edit = edit_project([("c.yml", text)], "vllm", spec(["--model", "m"]), spec(["--model", "m", "--served", "x"]))
    assert edit is not None
    assert edit.texts["c.yml"] == text.replace("      # - other/model\n", "      # - other/model\n      - --served\n      - x\n")
    folded = "services:\n  s:\n    image: v\n    command: >\n      serve\n      --port 8000\n"
    edit = edit_project([("c.yml", folded)], "s", spec(["serve", "--port", "8000"]),
                        spec(["serve", "--port", "8000", "--debug"]))
    assert edit is not None and edit.texts["c.yml"].startswith("services:\n  s:\n    image: v\n    command: >\n")
    assert "--debug" in edit.texts["c.yml"]


def test_a_variable_from_the_shell_or_dotenv_is_said() -> None:
    text = "services:\n  s:\n    image: x\n    environment:\n      - TOKEN\n"
    edit = env_edit(text, "s", ["TOKEN=a"], ["TOKEN=b"])
    assert edit.texts["c.yml"] == text.replace("- TOKEN", "- TOKEN=b")
    assert edit.notes == ("compose: TOKEN was taken from the shell or .env (c.yml:5); c.yml now sets it in environment",)


def test_services_that_merge_the_fixed_service_keep_what_they_had() -> None:
    text = ("services:\n  netbox: &netbox\n    image: nb\n    env_file: env/netbox.env\n    command: run-server\n"
            "  worker:\n    <<: *netbox\n    command: rqworker\n")
    edit = edit_project([("c.yml", text)], "netbox", spec(["run-server"], ["A=1"]),
                        spec(["run-server", "--debug"], ["A=2"]))
    assert edit is not None
    assert edit.texts["c.yml"] == text.replace("    command: run-server\n", "    command: run-server --debug\n"
                                               "    environment:\n      A: '2'\n").replace(
        "    command: rqworker\n", "    command: rqworker\n    environment: {}\n")
    assert "compose: worker takes its settings from this service (<<); it now has environment not set" in edit.notes[1]
    with pytest.raises(ComposeEditRefused, match=r"c.yml:6: services.worker takes its settings from this service"):
        edit_project([("c.yml", text)], "netbox", spec(), spec(mode="host"))


def test_a_new_key_stays_off_the_services_that_merge_the_fixed_one() -> None:
    # worker merges netbox: a key netbox gains is spelled "not set" in worker (Compose v2 loads
    # and hashes each spelling as the absent key), so worker stays as it was.
    text = "services:\n  netbox: &netbox\n    image: nb\n  worker:\n    <<: *netbox\n    command: rqworker\n"
    edit = edit_project([("c.yml", text)], "netbox", spec(), spec(["serve"], platform="linux/amd64"))
    assert edit is not None
    assert edit.texts["c.yml"] == ("services:\n  netbox: &netbox\n    image: nb\n    command:\n      - serve\n"
                                   "    platform: linux/amd64\n  worker:\n    <<: *netbox\n    command: rqworker\n"
                                   "    platform: ''\n")
    assert edit.notes == (("compose: worker takes its settings from this service (<<); it now has platform not set "
                           "(as it was), so the fix stays on this service"),)
    with pytest.raises(ComposeEditRefused, match=r"Compose v1 has no way to say it is not set"):
        edit_project([("c.yml", text)], "netbox", spec(), spec(platform="linux/amd64"), v1=True)


def test_what_is_added_to_a_service_goes_above_the_next_services_comment() -> None:
    text = ("services:\n  a:\n    image: x\n    environment:\n      - A=1\n    command: run   # a's own\n"
            "      # an a-level note\n\n  # about b\n  b:\n    image: y\n")
    edit = edit_project([("c.yml", text)], "a", spec(["run"], ["A=1"]), spec(["run"], ["A=1", "B=2"], mode="host"))
    assert edit is not None
    assert edit.texts["c.yml"] == text.replace("      - A=1\n", "      - A=1\n      - B=2\n").replace(
        "      # an a-level note\n", "      # an a-level note\n    network_mode: host\n")


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
