"""The field table and the ``docker run`` view, on captured inspect data and plain specs.

Whether the commands really reproduce a container is tested with the real docker CLI in
tests/integration/test_fidelity.py; these pin the rules.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from remediate.core.fields import CONFIG, ENDPOINT, FIELDS, HOST, netns_owned
from remediate.core.runview import run_view
from remediate.core.spec import ContainerSpec, spec_from_inspect
from remediate.core.visible import HIDDEN

CASES = Path(__file__).resolve().parent.parent / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "container.json").is_file())


def _spec(name: str) -> ContainerSpec:
    case = CASES / name
    return spec_from_inspect(json.loads((case / "container.json").read_text(encoding="utf-8")),
                             json.loads((case / "image.json").read_text(encoding="utf-8")))


def test_the_table_has_one_entry_per_key() -> None:
    keys = [(f.section, f.key) for f in FIELDS]
    assert len(keys) == len(set(keys))
    assert len(CONFIG) + len(HOST) + len(ENDPOINT) == len(FIELDS)


@pytest.mark.parametrize("name", CASE_NAMES)
def test_every_captured_option_is_known_to_the_table(name: str) -> None:
    container = json.loads((CASES / name / "container.json").read_text(encoding="utf-8"))
    unknown = set(container["HostConfig"]) - set(HOST)
    assert not unknown, unknown


@pytest.mark.parametrize("name", CASE_NAMES)
def test_every_line_is_shell_words_and_no_line_has_an_inline_comment(name: str) -> None:
    view = run_view(_spec(name), engine_api="1.41")
    for line in view.lines():
        if line.startswith("# "):
            continue  # a remark: a comment line of its own
        words = shlex.split(line, comments=True)
        assert words and " ".join(shlex.quote(w) for w in words) == line.strip(), line
    for command in view.commands():
        assert command.startswith(("docker run -d ", "docker network connect ", "# ")), command


def _bash_words(command: str) -> list[str]:
    """The words bash makes of a command line (``$'...'`` included), without running it."""
    out = subprocess.run(["bash", "-c", "words() { printf '%s\\0' \"$@\"; }; words " + command],
                         capture_output=True, check=True).stdout
    return out.decode().split("\0")[:-1]


def test_metacharacters_are_quoted_once_and_come_back_whole() -> None:
    tricky = {"QUOTES": "it's \"quoted\"", "DOLLAR": "$HOME ${PATH}", "TICKS": "`id`",
              "OPS": "a;b|c&d>e<f", "SPACES": "  two  ", "NL": "a\nb", "HASH": "x # y",
              "ESC": "info\x1b[1A\x1b[2K", "MIXED": "it's\\n\t\u202etail", "BELL": "\x07'"}
    spec = ContainerSpec(name="n", image="img", config={
        "Env": [f"{k}={v}" for k, v in tricky.items()], "WorkingDir": "/tmp/dir with space",
        "Cmd": ["-c", "sleep 1 # not a comment"]},
        host_config={"DeviceCgroupRules": ["c 1:5 r"]})
    (command,) = run_view(spec).commands()
    assert not HIDDEN.search(command) and "$'ESC=info\\x1b[1A\\x1b[2K'" in command  # shown, never obeyed
    words = _bash_words(command)
    for key, value in tricky.items():
        assert words[words.index(f"{key}={value}") - 1] == "--env"
    assert words[words.index("/tmp/dir with space") - 1] == "--workdir"
    assert words[words.index("c 1:5 r") - 1] == "--device-cgroup-rule"
    assert words[-3:] == ["img", "-c", "sleep 1 # not a comment"]


def test_a_second_network_is_a_network_connect_command() -> None:
    spec = ContainerSpec(name="n", image="img", host_config={"NetworkMode": "front"}, networks={
        "front": {"Aliases": ["web"], "IPAMConfig": {"IPv4Address": "10.0.0.2"}},
        "back": {"Aliases": ["backend"], "IPAMConfig": {"IPv4Address": "10.0.1.2"}}})
    view = run_view(spec)
    run, connect = view.commands()
    assert "--network front --network-alias web --ip 10.0.0.2" in run and "backend" not in run
    assert connect == "docker network connect --alias backend --ip 10.0.1.2 back n"
    assert connect in view.lines() and not any("#" in line for line in view.lines())


def test_mount_options_and_ipc_are_shown() -> None:
    spec = ContainerSpec(name="n", image="img", host_config={"IpcMode": "shareable", "Mounts": [
        {"Type": "volume", "Source": "v", "Target": "/a", "VolumeOptions": {"NoCopy": True}},
        {"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"SizeBytes": 1048576, "Mode": 0o1777}},
        {"Type": "bind", "Source": "/h,odd", "Target": "/b", "ReadOnly": True, "BindOptions": {"Propagation": "rslave"}},
    ]})
    lines = run_view(spec).lines()
    assert "--ipc shareable" in lines
    assert "--mount type=volume,source=v,target=/a,volume-nocopy" in lines
    assert "--mount type=tmpfs,target=/t,tmpfs-size=1048576,tmpfs-mode=1777" in lines
    # The CLI reads --mount as CSV: a comma in a value is quoted for it, then for the shell.
    assert """--mount 'type=bind,"source=/h,odd",target=/b,readonly,bind-propagation=rslave'""" in lines


def test_bind_recursive_and_unknown_mount_keys() -> None:
    spec = ContainerSpec(name="n", image="img", host_config={"Mounts": [
        {"Type": "bind", "Source": "/h", "Target": "/r", "ReadOnly": True, "BindOptions": {"ReadOnlyForceRecursive": True}},
        {"Type": "bind", "Source": "/h", "Target": "/w", "ReadOnly": True, "BindOptions": {"ReadOnlyNonRecursive": True}},
        {"Type": "bind", "Source": "/h", "Target": "/n", "BindOptions": {"NonRecursive": True}},
        {"Type": "image", "Source": "img", "Target": "/i", "ImageOptions": {"Subpath": "x"}},
    ]})
    view = run_view(spec)
    lines = view.lines()
    assert "--mount type=bind,source=/h,target=/r,readonly,bind-propagation=rprivate,bind-recursive=readonly" in lines
    assert "--mount type=bind,source=/h,target=/w,readonly,bind-recursive=writable" in lines
    assert "--mount type=bind,source=/h,target=/n,bind-recursive=disabled" in lines
    assert [r.text for r in view.remarks] == [
        ("mount /r: docker run takes bind-recursive=readonly only with bind-propagation=rprivate, the engine's "
         "default, which it then records"),
        "mount /i: ImageOptions has no --mount option (remediate sets it through the API)"]


def test_cgroupns_is_shown_whatever_its_value() -> None:
    for mode in ("host", "private"):
        lines = run_view(ContainerSpec(name="n", image="img", host_config={"CgroupnsMode": mode})).lines()
        assert f"--cgroupns {mode}" in lines


def test_primary_endpoint_driver_options_use_the_long_network_form() -> None:
    spec = _spec("driver-opts")
    view = run_view(spec)
    assert not view.remarks
    assert ("--network", 'name=rt-fid-cap-net1,"driver-opt=com.example.opt=a b"') in view.options
    assert ("--network-alias", "svc") in view.options
    default_bridge = ContainerSpec(name="n", image="img", networks={"bridge": {"DriverOpts": {"k": "v"}}})
    assert ("--network", "name=bridge,driver-opt=k=v") in run_view(default_bridge).options


def test_system_paths_one_list_alone_is_a_remark() -> None:
    both = ContainerSpec(name="n", image="img", host_config={"MaskedPaths": [], "ReadonlyPaths": []})
    assert run_view(both).options[1:] == (("--security-opt", "systempaths=unconfined"),)
    one = run_view(ContainerSpec(name="n", image="img", host_config={"MaskedPaths": []}))
    assert [r.field for r in one.remarks] == ["HostConfig.MaskedPaths"]


def test_volume_declared_at_a_bind_target_is_a_remark() -> None:
    spec = ContainerSpec(name="n", image="img", config={"Volumes": {"/x": {}, "/anon": {}}},
                         host_config={"Binds": ["/h:/x"]})
    view = run_view(spec)
    assert ("--volume", "/anon") in view.options and ("--volume", "/x") not in view.options
    assert [r.field for r in view.remarks] == ["Config.Volumes"]


def test_what_the_cli_cannot_express_is_a_remark() -> None:
    spec = ContainerSpec(name="n", image="img", config={"MacAddress": "02:42:0a:00:00:01", "Entrypoint": ["sh", "-c"],
                                                         "Healthcheck": {"Test": ["CMD", "true"]}},
                         host_config={"SomeFutureKey": {"x": 1}})
    old = run_view(spec, engine_api="1.41")
    assert {r.field for r in old.remarks} == {"Config.MacAddress", "Config.Entrypoint", "Config.Healthcheck.Test",
                                              "HostConfig.SomeFutureKey"}
    assert not any(opt[0] == "--mac-address" for opt in old.options)
    assert "# HostConfig.SomeFutureKey={\"x\":1}: no docker run option (remediate sets it through the API)" in old.lines()
    new = run_view(spec, engine_api="1.45")
    assert ("--mac-address", "02:42:0a:00:00:01") in new.options
    assert "Config.MacAddress" not in {r.field for r in new.remarks}


def test_redacted_view_masks_secret_fields_only() -> None:
    spec = ContainerSpec(name="n", image="img", config={
        "Env": ["HF_TOKEN=hf_abc123456", "TOKENIZERS_PARALLELISM=false"],
        "Labels": {"com.example.token": "tok-1234567"},
        "Cmd": ["--api-key", "sk-1", "--max-num-batched-tokens", "8192"]},
        host_config={"LogConfig": {"Type": "splunk", "Config": {"splunk-token": "spl-9"}}})
    text = "\n".join(run_view(spec, redact=True).lines())
    for secret in ("hf_abc123456", "tok-1234567", "sk-1", "spl-9"):
        assert secret not in text
    assert "TOKENIZERS_PARALLELISM=false" in text and "--max-num-batched-tokens 8192" in text
    plain = "\n".join(run_view(spec).lines())
    assert "hf_abc123456" in plain and "spl-9" in plain


def test_joining_a_network_namespace_drops_what_belongs_to_it() -> None:
    host = {f.key for f in netns_owned("host")}
    container = {f.key for f in netns_owned("container:x")}
    assert {"PortBindings", "Hostname", "MacAddress", "Links"} <= host
    assert host < container and {"Dns", "ExtraHosts", "ExposedPorts"} <= container - host
    assert netns_owned("my-net") == []
