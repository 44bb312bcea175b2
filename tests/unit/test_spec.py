"""Unit tests for remediate.core.spec over inspect JSON captured from a real engine (no Docker here).

The fixtures live in tests/cases/<name>/ (container.json, image.json, meta.json, spec.json) and
are made by tests/cases/capture.py on Docker 20.10 / API 1.41; meta.json says how each container
was made. spec.json is the expected spec (a golden file, rewritten with ``capture.py --bless``).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from remediate.core.runview import run_lines
from remediate.core.spec import (
    ContainerSpec,
    anonymous_volumes,
    create_body,
    spec_from_inspect,
)

CASES = Path(__file__).resolve().parent.parent / "cases"
CASE_NAMES = sorted(p.name for p in CASES.iterdir() if (p / "container.json").is_file())
MASK = "***"


def load(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(container inspect, image inspect) of a captured case."""
    case = CASES / name
    return (json.loads((case / "container.json").read_text(encoding="utf-8")),
            json.loads((case / "image.json").read_text(encoding="utf-8")))


def spec_of(name: str) -> ContainerSpec:
    return spec_from_inspect(*load(name))


def same(a: ContainerSpec, b: ContainerSpec) -> bool:
    return a.replace(name="x").comparable() == b.replace(name="x").comparable()


def test_fixtures_are_from_api_1_41() -> None:
    assert len(CASE_NAMES) >= 20
    for name in CASE_NAMES:
        meta = json.loads((CASES / name / "meta.json").read_text(encoding="utf-8"))
        assert meta["api_version"] == "1.41", name


@pytest.mark.parametrize("name", CASE_NAMES)
def test_spec_matches_golden(name: str) -> None:
    expected = json.loads((CASES / name / "spec.json").read_text(encoding="utf-8"))
    assert spec_of(name).to_json() == expected


@pytest.mark.parametrize("name", CASE_NAMES)
def test_spec_survives_json(name: str) -> None:
    spec = spec_of(name)
    assert ContainerSpec.from_json(json.loads(json.dumps(spec.to_json()))) == spec


# --------------------------------------------------------------------------- image defaults

def test_image_defaults_are_subtracted() -> None:
    container, image = load("image-defaults")
    # The container shows every image default...
    cfg = container["Config"]
    for key in ("Env", "Cmd", "Entrypoint", "Labels", "ExposedPorts", "Healthcheck", "WorkingDir", "User",
                "Volumes", "StopSignal"):
        assert cfg[key] and cfg[key] == image["Config"][key], key
    # ...and the spec pins none of them: a recreate takes them from the image again.
    spec = spec_from_inspect(container, image)
    assert set(spec.config) <= {"AttachStdout", "AttachStderr"}, spec.config
    body, _ = create_body(spec)
    assert "Cmd" not in body and "Entrypoint" not in body and "Env" not in body


def test_image_overrides_are_kept_and_only_them() -> None:
    spec = spec_of("image-overrides")
    assert spec.env == {"GREETING": "bye", "NEW": "1", "PATH": "/opt/bin:/usr/local/bin:/usr/bin:/bin"}
    assert "APP_MODE" not in spec.env
    assert spec.config["Labels"] == {"org.example.role": "other", "team": "ml"}
    assert spec.config["ExposedPorts"] == {"9001/tcp": {}}
    assert spec.config["Healthcheck"]["Test"] == ["NONE"]
    assert "--no-healthcheck" in run_lines(spec)
    assert spec.config["User"] == "0"
    assert spec.config["WorkingDir"] == "/tmp"
    assert spec.config["StopSignal"] == "SIGTERM"
    assert spec.config["Cmd"] == ["exec sleep 3601"]
    assert "Entrypoint" not in spec.config  # the image's, kept by the engine with a new Cmd
    assert "Volumes" not in spec.config


def test_image_without_inspect_subtracts_nothing() -> None:
    container, _ = load("image-defaults")
    spec = spec_from_inspect(container, None)
    assert spec.platform is None
    assert spec.config["Entrypoint"] == ["sh", "-c"] and spec.config["Cmd"] == ["sleep 3600"]


def test_own_entrypoint_and_cmd_are_kept() -> None:
    spec = spec_of("entrypoint-cmd")
    assert spec.config["Entrypoint"] == ["sh"] and spec.config["Cmd"] == ["-c", "sleep 3600"]


def test_image_entrypoint_without_cmd_keeps_the_cmd_off() -> None:
    container, image = load("image-entrypoint-no-cmd")
    assert container["Config"]["Entrypoint"] == image["Config"]["Entrypoint"]
    assert container["Config"]["Cmd"] is None and image["Config"]["Cmd"]
    spec = spec_from_inspect(container, image)
    # Without the explicit entrypoint, a recreate would run the image's CMD.
    body, _ = create_body(spec)
    assert body["Entrypoint"] == ["sh", "-c"] and "Cmd" not in body


# --------------------------------------------------------------------------- hostname

def test_auto_hostname_is_not_carried() -> None:
    container, image = load("busybox-minimal")
    assert container["Config"]["Hostname"] == container["Id"][:12]
    spec = spec_from_inspect(container, image)
    assert "Hostname" not in spec.config and "Hostname" not in create_body(spec)[0]


def test_user_hostname_and_domainname_are_carried() -> None:
    body, _ = create_body(spec_of("hostname-user"))
    assert body["Hostname"] == "myhost" and body["Domainname"] == "example.test"


def test_domainname_without_hostname_is_carried() -> None:
    container, image = load("domainname-only")
    assert container["Config"]["Hostname"] == container["Id"][:12]
    spec = spec_from_inspect(container, image)
    assert spec.config["Domainname"] == "example.test" and "Hostname" not in spec.config


@pytest.mark.parametrize("name", ["network-host", "uts-host", "network-container"])
def test_shared_uts_drops_hostname(name: str) -> None:
    container, image = load(name)
    assert container["Config"]["Hostname"]  # the host's (or the other container's) name
    spec = spec_from_inspect(container, image)
    assert "Hostname" not in spec.config and "Domainname" not in spec.config


def test_network_host_has_no_endpoints() -> None:
    spec = spec_of("network-host")
    assert spec.network_mode == "host" and spec.networks == {}
    body, extra = create_body(spec)
    assert body["NetworkingConfig"] == {"EndpointsConfig": {}} and extra == {}


# --------------------------------------------------------------------------- links, volumes

def test_links_in_create_form() -> None:
    container, image = load("link")
    assert container["HostConfig"]["Links"] == ["/rt-fid-cap-db:/rt-fid-cap-link/db"]
    assert spec_from_inspect(container, image).host_config["Links"] == ["rt-fid-cap-db:db"]


def test_network_container_keeps_the_target() -> None:
    container, image = load("network-container")
    db, _ = load("db")
    spec = spec_from_inspect(container, image)
    assert spec.network_mode == f"container:{db['Id']}"
    assert spec.networks == {}


def test_anonymous_volumes_detected_and_handed_over() -> None:
    container, image = load("anon-volume")
    names = {m["Destination"]: m["Name"] for m in container["Mounts"]}
    assert anonymous_volumes(container) == {"/data": names["/data"], "/m": names["/m"]}
    spec = spec_from_inspect(container, image)
    assert spec.config["Volumes"] == {"/data": {}}
    assert spec.host_config["Mounts"] == [{"Type": "volume", "Target": "/m"}]
    body, _ = create_body(spec, volumes=anonymous_volumes(container))
    # -v /data: a bind by name; --mount type=volume: the mount gets the name as its source.
    assert body["HostConfig"]["Binds"] == [f"{names['/data']}:/data"]
    assert body["HostConfig"]["Mounts"] == [{"Type": "volume", "Target": "/m", "Source": names["/m"]}]
    # Without the hand-over the body asks for fresh, empty volumes.
    bare, _ = create_body(spec)
    assert "Binds" not in bare["HostConfig"]


def test_recreated_anonymous_volumes_read_back_as_the_same_spec() -> None:
    before, after = load("anon-volume"), load("anon-volume-recreated")
    assert after[0]["HostConfig"]["Binds"]  # the hand-over shows as a bind by name...
    assert same(spec_from_inspect(*before), spec_from_inspect(*after))  # ...not as a user bind
    assert anonymous_volumes(after[0]) == anonymous_volumes(before[0])


def test_volumes_from_are_not_own_volumes() -> None:
    container, image = load("volumes-from")
    assert {m["Destination"] for m in container["Mounts"]} == {"/data", "/m"}
    assert anonymous_volumes(container) == {}
    body, _ = create_body(spec_from_inspect(container, image), volumes=anonymous_volumes(container))
    assert body["HostConfig"]["VolumesFrom"] == ["rt-fid-cap-anon-volume:ro"]
    assert "Binds" not in body["HostConfig"]


def test_named_volume_and_bind_mount_carried() -> None:
    spec = spec_of("kitchen-sink")
    assert spec.host_config["Binds"] == ["rt-fid-cap-vol:/v"]
    assert spec.host_config["Mounts"] == [
        {"Type": "bind", "Source": "/tmp/rt-fid-capture", "Target": "/mb", "ReadOnly": True}]
    assert anonymous_volumes(load("kitchen-sink")[0]) == {}


def test_sdk_bind_target_volumes_are_carried_but_not_compared() -> None:
    container, image = load("sdk-twin")
    assert container["Config"]["Volumes"] == {"/x": {}, "/y": {}}
    spec = spec_from_inspect(container, image)
    # Kept (a recreate gives back the same Config), but a bind at the target wins: equal to the
    # CLI twin, which declares none.
    assert spec.config["Volumes"] == {"/x": {}, "/y": {}}
    assert create_body(spec)[0]["Volumes"] == {"/x": {}, "/y": {}}
    assert "Volumes" not in spec.comparable()["config"]
    without = spec.replace(host_config={k: v for k, v in spec.host_config.items() if k != "Binds"})
    assert without.comparable()["config"]["Volumes"] == {"/x": {}, "/y": {}}


# --------------------------------------------------------------------------- options the engine fills

def test_reset_entrypoint_is_carried_as_empty() -> None:
    container, image = load("entrypoint-reset")
    # docker run --entrypoint "": the engine shows no entrypoint; absent from a create body, the
    # image's would come back.
    assert container["Config"]["Entrypoint"] is None and image["Config"]["Entrypoint"] == ["sh", "-c"]
    spec = spec_from_inspect(container, image)
    assert spec.config["Entrypoint"] == [] and spec.config["Cmd"] == ["sleep", "3600"]
    assert create_body(spec)[0]["Entrypoint"] == []
    assert "--entrypoint ''" in run_lines(spec)
    # The SDK's entrypoint="" (inspect shows []) is the same spec.
    sdk = copy.deepcopy(container)
    sdk["Config"]["Entrypoint"] = []
    assert same(spec_from_inspect(sdk, image), spec)


def test_empty_entrypoint_without_an_image_entrypoint_is_nothing() -> None:
    container, image = load("busybox-minimal")
    container = copy.deepcopy(container)
    container["Config"]["Entrypoint"] = []
    assert "Entrypoint" not in spec_from_inspect(container, image).config


def test_unconfined_system_paths_are_carried() -> None:
    spec = spec_of("systempaths-unconfined")
    assert spec.host_config["MaskedPaths"] == [] and spec.host_config["ReadonlyPaths"] == []
    assert "--security-opt systempaths=unconfined" in run_lines(spec)
    # The engine's own lists are never carried.
    default = spec_of("busybox-minimal")
    assert "MaskedPaths" not in default.host_config and "ReadonlyPaths" not in default.host_config


# --------------------------------------------------------------------------- networks

def test_create_body_has_one_endpoint_and_connects_the_rest() -> None:
    spec = spec_of("two-networks")
    body, extra = create_body(spec)
    assert body["HostConfig"]["NetworkMode"] == "rt-fid-cap-net1"
    assert body["NetworkingConfig"] == {"EndpointsConfig": {
        "rt-fid-cap-net1": {"Aliases": ["svc"], "IPAMConfig": {"IPv4Address": "10.231.250.21"}}}}
    # The engine's short-id alias is not carried.
    assert extra == {"rt-fid-cap-net2": {"Aliases": ["second"], "IPAMConfig": {"IPv4Address": "10.231.250.141"}}}


def test_recreated_two_networks_same_spec() -> None:
    assert same(spec_of("two-networks"), spec_of("two-networks-recreated"))


def test_default_bridge_has_no_endpoint() -> None:
    for name in ("busybox-minimal", "cli-twin", "sdk-twin"):
        spec = spec_of(name)
        assert spec.network_mode == "default" and spec.networks == {}, name
        body, extra = create_body(spec)
        assert body["NetworkingConfig"] == {"EndpointsConfig": {}} and extra == {}


def test_newer_engine_endpoint_shape() -> None:
    """API 1.44+ shows a MacAddress per endpoint and DNSNames (1.45), and no short-id alias."""
    container, image = load("two-networks")
    new = copy.deepcopy(container)
    short_id = new["Id"][:12]
    for ep in new["NetworkSettings"]["Networks"].values():
        ep["Aliases"] = [a for a in ep["Aliases"] if a != short_id]
        ep["DNSNames"] = ["rt-fid-cap-two-networks", short_id, *ep["Aliases"]]
        ep["MacAddress"] = "02:42:0a:e7:fa:15"
        ep["GwPriority"] = 0
    assert same(spec_from_inspect(container, image), spec_from_inspect(new, image))


# --------------------------------------------------------------------------- comparison

def test_cli_and_sdk_twins_compare_equal() -> None:
    cli, sdk = load("cli-twin"), load("sdk-twin")
    # The raw spellings differ in all of these ways...
    assert cli[0]["HostConfig"]["PortBindings"]["8000/tcp"][0]["HostIp"] == ""
    assert sdk[0]["HostConfig"]["PortBindings"]["8000/tcp"][0]["HostIp"] == "0.0.0.0"
    assert cli[0]["HostConfig"]["Binds"][0].count(":") == 1 and sdk[0]["HostConfig"]["Binds"][0].endswith(":rw")
    assert (cli[0]["HostConfig"]["CapAdd"], sdk[0]["HostConfig"]["CapAdd"]) == (["CAP_NET_ADMIN"], ["NET_ADMIN"])
    assert (cli[0]["HostConfig"]["NetworkMode"], sdk[0]["HostConfig"]["NetworkMode"]) == ("bridge", "default")
    # ...and they mean the same container.
    assert same(spec_from_inspect(*cli), spec_from_inspect(*sdk))


@pytest.mark.parametrize(("field", "value"), [
    ("PortBindings", {"8000/tcp": [{"HostIp": "127.0.0.1", "HostPort": "48110"}],
                      "8001/tcp": [{"HostIp": "127.0.0.1", "HostPort": "48111"}]}),
    ("Binds", ["/tmp/rt-fid-capture:/x:ro", "/tmp/rt-fid-capture:/y:ro"]),
    ("CapAdd", ["NET_RAW"]),
    ("RestartPolicy", {"Name": "always", "MaximumRetryCount": 0}),
])
def test_a_real_difference_still_compares_unequal(field: str, value: Any) -> None:
    spec = spec_of("sdk-twin")
    changed = spec.replace(host_config={**spec.host_config, field: value})
    assert not same(spec, changed)


def test_attach_flags_are_carried_but_not_compared() -> None:
    container, image = load("busybox-minimal")
    detached = copy.deepcopy(container)  # `docker run -d` records no attach flags
    detached["Config"].update(AttachStdout=False, AttachStderr=False)
    spec = spec_from_inspect(container, image)
    assert spec.config["AttachStdout"] is True
    assert same(spec, spec_from_inspect(detached, image))


def test_bridge_and_default_are_one_network_mode() -> None:
    container, image = load("busybox-minimal")
    explicit = copy.deepcopy(container)
    explicit["HostConfig"]["NetworkMode"] = "bridge"
    assert same(spec_from_inspect(container, image), spec_from_inspect(explicit, image))


def test_empty_and_unnamed_restart_policy_are_unset() -> None:
    container, image = load("busybox-minimal")
    for policy in ({"Name": "", "MaximumRetryCount": 0}, {"Name": "no", "MaximumRetryCount": 0}):
        variant = copy.deepcopy(container)
        variant["HostConfig"]["RestartPolicy"] = policy
        assert "RestartPolicy" not in spec_from_inspect(variant, image).host_config


# --------------------------------------------------------------------------- create body

def test_kitchen_sink_create_body() -> None:
    container, image = load("kitchen-sink")
    body, extra = create_body(spec_from_inspect(container, image))
    host = body["HostConfig"]
    for key in ("RestartPolicy", "Tmpfs", "Ulimits", "Sysctls", "CapDrop", "SecurityOpt", "Devices", "ShmSize",
                "IpcMode", "Init", "Memory", "NanoCpus", "CpuShares", "PidsLimit", "OomScoreAdj", "LogConfig",
                "Dns", "DnsSearch", "DnsOptions", "ExtraHosts", "ReadonlyRootfs", "GroupAdd", "Runtime"):
        assert host[key] == container["HostConfig"][key], key
    for key in ("User", "WorkingDir", "Healthcheck", "StopTimeout", "Tty", "OpenStdin", "Cmd"):
        assert body[key] == container["Config"][key], key
    assert body["Image"] == "remediate-test/busybox:1" and extra == {}
    for engine_filled in ("MaskedPaths", "ReadonlyPaths", "ConsoleSize"):
        assert engine_filled not in host


def test_gpus_and_mac_address() -> None:
    gpus = spec_of("gpus")
    assert gpus.host_config["DeviceRequests"][0]["Count"] == -1
    assert "--gpus all" in run_lines(gpus)
    mac = spec_of("mac-address")
    assert create_body(mac)[0]["MacAddress"] == "02:42:0a:e7:fa:21"


# --------------------------------------------------------------------------- docker run view

def test_run_lines_mask_secrets_when_asked() -> None:
    spec = spec_of("vllm-secrets")
    shown = run_lines(spec, redact=True)
    text = "\n".join(shown)
    # Every token is shell-quoted, the mask too.
    assert f"--env 'HF_TOKEN={MASK}'" in shown
    assert f"  --api-key '{MASK}'" in shown
    assert "hf_abcdef123" not in text and "sk-secret-1" not in text
    assert "--env PYTHONUNBUFFERED=0" in shown and "  --model facebook/opt-125m" in shown
    assert "--publish 127.0.0.1:48120:8000" in shown
    assert shown[0] == "--name rt-fid-cap-vllm-secrets" and "vllm/vllm-openai:v0.6.3" in shown
    # Without redact, run_lines shows what is there.
    plain = "\n".join(run_lines(spec))
    assert "HF_TOKEN=hf_abcdef123" in plain and "sk-secret-1" in plain


def test_run_lines_kitchen_sink() -> None:
    shown = run_lines(spec_of("kitchen-sink"))
    for line in ("--restart on-failure:3", "--tmpfs /run/t:size=1m", "--ulimit nofile=1024:2048",
                 "--sysctl net.core.somaxconn=1024", "--cap-drop CAP_MKNOD", "--init", "--read-only",
                 "--cpus 0.5", "--log-opt max-file=2", "--volume rt-fid-cap-vol:/v",
                 "--health-cmd true", "--health-interval 30s",
                 "--mount type=bind,source=/tmp/rt-fid-capture,target=/mb,readonly"):
        assert line in shown, line
