"""What Podman's Docker inspect hides, read from its libpod inspect and the container's OCI config
(remediate/host/dialect.py), and what its Docker create cannot make, refused up front; on real
containers captured from Podman 4.3 and 5.4 (tests/unit/podman_data/hidden-*.json: each made
through Podman's Docker API from ``body``, started, then read three ways)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from remediate.core.fields import FIELDS
from remediate.core.spec import anonymous_volumes, create_body, spec_from_inspect
from remediate.host.dialect import DOCKER, UNREAD, Dialect, Hidden, detect

DATA = Path(__file__).with_name("podman_data")
ENGINES = ("podman-4.3", "podman-5.4")


def _engine(name: str) -> tuple[Dialect, dict[str, Any]]:
    data: dict[str, Any] = json.loads((DATA / f"hidden-{name}.json").read_text())
    return detect(data["version"]), data["containers"]


def _read(dialect: Dialect, captured: dict[str, Any], shared: frozenset[str] = frozenset()) -> dict[str, Any]:
    return dialect.inspect_in(captured["compat"], Hidden(captured["libpod"], captured["oci"], shared))


@pytest.mark.parametrize("name", ENGINES)
def test_what_the_docker_inspect_hides_is_read_back(name: str) -> None:
    dialect, found = _engine(name)
    five = name == "podman-5.4"
    # Hidden in the engine's own Docker inspect...
    assert found["runtime"]["compat"]["HostConfig"]["Runtime"] == "oci"
    assert not found["cgns-host"]["compat"]["HostConfig"]["CgroupnsMode"]
    assert found["publishall"]["compat"]["HostConfig"]["PublishAllPorts"] is five
    assert not found["userns"]["compat"]["HostConfig"]["UsernsMode"]
    assert found["sysctls"]["compat"]["HostConfig"].get("Sysctls") is None
    assert found["devrules"]["compat"]["HostConfig"].get("DeviceCgroupRules") is None
    assert found["anon"]["compat"]["Config"]["Volumes"] is None

    # ...and read back as Docker shows it.
    assert _read(dialect, found["runtime"])["HostConfig"]["Runtime"] == "runc"
    assert _read(dialect, found["cgns-host"])["HostConfig"]["CgroupnsMode"] == "host"
    assert _read(dialect, found["publishall"])["HostConfig"]["PublishAllPorts"] is True
    # Podman 4.3 records no --userns host (its default for root); 5 does, in an annotation.
    assert _read(dialect, found["userns"])["HostConfig"]["UsernsMode"] == ("host" if five else "")
    assert _read(dialect, found["sysctls"])["HostConfig"]["Sysctls"] == {"net.core.somaxconn": "1024"}
    # Podman 4.3's Docker create makes no device cgroup rule (its OCI config has none).
    rules = _read(dialect, found["devrules"])["HostConfig"].get("DeviceCgroupRules")
    assert rules == (["c 1:5 r", "b 7:* rmw"] if five else None)
    assert _read(dialect, found["ipc-shareable"])["HostConfig"]["IpcMode"] == "shareable"
    for captured in found.values():
        inspect = _read(dialect, captured)
        assert not [a for a in inspect["HostConfig"].get("Annotations") or {} if a.startswith("io.podman")]
        assert UNREAD not in inspect


@pytest.mark.parametrize("name", ENGINES)
def test_anonymous_volumes_read_back_as_declared_and_volumes_from_as_the_sources(name: str) -> None:
    dialect, found = _engine(name)
    anon = found["anon"]
    (volume,) = [m["Name"] for m in anon["compat"]["Mounts"]]
    assert anon["compat"]["HostConfig"]["Binds"][0].startswith(f"{volume}:/data:")

    inspect = _read(dialect, anon)

    assert inspect["Config"]["Volumes"] == {"/data": {}} and not inspect["HostConfig"]["Binds"]
    assert anonymous_volumes(inspect) == {"/data": volume}
    vfrom = found["vfrom"]
    shared = frozenset(m["Name"] for m in found["vsrc"]["compat"]["Mounts"])
    assert vfrom["compat"]["HostConfig"]["Binds"][0].split(":")[0] in shared
    inspect = _read(dialect, vfrom, shared)
    assert not inspect["HostConfig"]["Binds"] and not inspect["Config"].get("Volumes")
    assert inspect["HostConfig"]["VolumesFrom"] == ["vsrc:ro"] and anonymous_volumes(inspect) == {}


@pytest.mark.parametrize("name", ENGINES)
def test_the_recreate_asks_for_what_the_container_was_made_with(name: str) -> None:
    dialect, found = _engine(name)
    honoured = {"runtime", "publishall", "sysctls", "anon", "ipc-shareable"} | (
        {"userns", "devrules"} if name == "podman-5.4" else set())
    for case in sorted(honoured):
        captured = found[case]
        body, _ = create_body(spec_from_inspect(_read(dialect, captured), None))
        for section, given in (("Config", captured["body"]), ("HostConfig", captured["body"]["HostConfig"])):
            made = body if section == "Config" else body["HostConfig"]
            for key, value in given.items():
                if key not in ("Image", "Cmd", "HostConfig"):
                    assert made.get(key) == value, (case, key, made.get(key))
        assert dialect.refusal(_read(dialect, captured)) is None, case


@pytest.mark.parametrize("name", ENGINES)
def test_a_container_that_never_started_is_refused(name: str) -> None:
    dialect, found = _engine(name)
    captured = found["sysctls"]
    # Podman writes the OCI config, the only place that shows sysctls, at the first start.
    inspect = dialect.inspect_in(captured["compat"], Hidden(captured["libpod"], None))
    reason = dialect.refusal(inspect)
    assert reason is not None and reason.startswith("HostConfig.Sysctls, HostConfig.DeviceCgroupRules, ")
    assert "it never started" in reason and "podman run" in reason


@pytest.mark.parametrize("name", ENGINES)
def test_what_podmans_docker_create_cannot_make_is_refused(name: str) -> None:
    dialect, found = _engine(name)
    five = name == "podman-5.4"

    unmasked = copy.deepcopy(found["runtime"])
    unmasked["oci"]["linux"].pop("maskedPaths")
    reason = dialect.refusal(_read(dialect, unmasked))
    assert reason is not None and reason.startswith("unmasked system paths")
    unmasked["compat"]["HostConfig"]["Privileged"] = True  # no masked path: what --privileged makes
    assert dialect.refusal(_read(dialect, unmasked)) is None

    annotated = copy.deepcopy(found["runtime"])
    annotated["libpod"]["Config"]["Annotations"]["com.example.role"] = "gpu"
    reason = dialect.refusal(_read(dialect, annotated))
    assert (reason is None) if five else (reason is not None and reason.startswith('--annotation {"com.example.role"'))

    ruled = copy.deepcopy(found["runtime"])
    ruled["oci"]["linux"]["resources"]["devices"] = _engine("podman-5.4")[1]["devrules"]["oci"]["linux"]["resources"][
        "devices"]
    reason = dialect.refusal(_read(dialect, ruled))
    assert (reason is None) if five else (reason is not None and reason.startswith('--device-cgroup-rule ["c 1:5 r"'))
    # Beside --device's own rules, they cannot be told apart: not read, so refused.
    ruled["compat"]["HostConfig"]["Devices"] = [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xn",
                                                 "CgroupPermissions": "rwm"}]
    inspect = _read(dialect, ruled)
    assert list(inspect[UNREAD]) == ["HostConfig.DeviceCgroupRules"]
    assert not inspect["HostConfig"].get("DeviceCgroupRules")
    assert (dialect.refusal(inspect) or "").startswith("HostConfig.DeviceCgroupRules: Podman ")
    assert "does not tell them from --device's own rules" in (dialect.refusal(inspect) or "")


def test_docker_is_never_refused() -> None:
    docker = Dialect(DOCKER, "26.1.5")
    inspect = {"HostConfig": {"MaskedPaths": [], "Annotations": {"a": "b"}, "DeviceRequests": [{"Count": -1}]},
               "Config": {"Domainname": "example.test"}, UNREAD: {"HostConfig.Sysctls": "unread"}}
    assert docker.refusal(inspect) is None


#: Every field of the table on Podman (both generations unless said): ``shown`` by its Docker
#: inspect as its Docker create made it (the fidelity corpus, tests/integration/test_fidelity_podman.py),
#: ``read`` from the libpod inspect or OCI config (above), ``refused`` when set (a recreate would drop
#: it), ``none``: no Podman container has it (no Podman option; its Docker create ignores it), or
#: ``gap``: not shown and not refused (issue 22, left).
PODMAN_FIELDS: dict[str, str] = {
    **dict.fromkeys(("Config.Hostname", "Config.User", "Config.AttachStdin", "Config.AttachStdout",
                     "Config.AttachStderr", "Config.ExposedPorts", "Config.Tty", "Config.OpenStdin", "Config.Env",
                     "Config.Cmd", "Config.Healthcheck", "Config.WorkingDir", "Config.Entrypoint", "Config.Labels",
                     "Config.StopSignal", "Config.StopTimeout", "HostConfig.NetworkMode", "HostConfig.Binds",
                     "HostConfig.VolumesFrom", "HostConfig.Tmpfs", "HostConfig.PortBindings", "HostConfig.Dns",
                     "HostConfig.DnsSearch", "HostConfig.DnsOptions", "HostConfig.ExtraHosts",
                     "HostConfig.RestartPolicy", "HostConfig.AutoRemove", "HostConfig.LogConfig", "HostConfig.IpcMode",
                     "HostConfig.PidMode", "HostConfig.UTSMode", "HostConfig.CgroupParent", "HostConfig.Cgroup",
                     "HostConfig.Privileged", "HostConfig.ReadonlyRootfs", "HostConfig.Init", "HostConfig.CapAdd",
                     "HostConfig.CapDrop", "HostConfig.SecurityOpt", "HostConfig.GroupAdd", "HostConfig.Ulimits",
                     "HostConfig.Devices", "HostConfig.ShmSize", "HostConfig.Memory", "HostConfig.MemorySwap",
                     "HostConfig.MemoryReservation", "HostConfig.MemorySwappiness", "HostConfig.OomKillDisable",
                     "HostConfig.OomScoreAdj", "HostConfig.PidsLimit", "HostConfig.NanoCpus", "HostConfig.CpuShares",
                     "HostConfig.CpuPeriod", "HostConfig.CpuQuota", "HostConfig.CpuRealtimePeriod",
                     "HostConfig.CpuRealtimeRuntime", "HostConfig.CpusetCpus", "HostConfig.CpusetMems",
                     "HostConfig.BlkioWeight", "HostConfig.BlkioWeightDevice", "HostConfig.BlkioDeviceReadBps",
                     "HostConfig.BlkioDeviceWriteBps", "HostConfig.BlkioDeviceReadIOps",
                     "HostConfig.BlkioDeviceWriteIOps", "HostConfig.KernelMemory", "Endpoint.Aliases",
                     "Endpoint.DriverOpts"), "shown"),
    **dict.fromkeys(("Config.Volumes", "HostConfig.PublishAllPorts", "HostConfig.UsernsMode",
                     "HostConfig.CgroupnsMode", "HostConfig.Sysctls", "HostConfig.Runtime"), "read"),
    # Read, and refused where the generation's Docker create cannot make them (Podman 4.3).
    **dict.fromkeys(("HostConfig.DeviceCgroupRules", "HostConfig.Annotations"), "read, refused on 4.3"),
    **dict.fromkeys(("HostConfig.MaskedPaths", "HostConfig.ReadonlyPaths"), "read, refused"),
    **dict.fromkeys(("Config.Domainname", "Config.MacAddress", "HostConfig.DeviceRequests"), "refused"),
    # No Podman option, or Windows engines', or the engine's own: its Docker create ignores them.
    **dict.fromkeys(("Config.StdinOnce", "Config.NetworkDisabled", "HostConfig.VolumeDriver", "HostConfig.Isolation",
                     "HostConfig.KernelMemoryTCP", "HostConfig.CpuCount", "HostConfig.CpuPercent",
                     "HostConfig.IOMaximumBandwidth", "HostConfig.IOMaximumIOps", "HostConfig.StorageOpt",
                     "HostConfig.ContainerIDFile", "HostConfig.ConsoleSize"), "none"),
    # Podman refuses links; --mount reads back as the binds, tmpfs and volumes Podman keeps it as.
    **dict.fromkeys(("HostConfig.Links", "Endpoint.Links"), "none"),
    "HostConfig.Mounts": "shown as Binds, Tmpfs and Config.Volumes",
    # Static addresses on a network: made, but shown as any address is.
    **dict.fromkeys(("Endpoint.IPAMConfig", "Endpoint.MacAddress"), "gap"),
}


def test_every_field_of_the_table_is_read_or_refused_on_podman() -> None:
    assert {f.path for f in FIELDS} == set(PODMAN_FIELDS)
    for name in ENGINES:
        dialect, found = _engine(name)
        base = _read(dialect, found["runtime"])
        for path, how in PODMAN_FIELDS.items():
            section, _, key = path.partition(".")
            if "refused" not in how:
                continue
            value: Any = [] if key.endswith("Paths") else {"a": "b"} if key == "Annotations" else ["x"]
            inspect = copy.deepcopy(base)
            inspect[section][key] = value if key not in ("Domainname", "MacAddress") else "x"
            refused = dialect.refusal(inspect) is not None
            assert refused is (how != "read, refused on 4.3" or name == "podman-4.3"), (name, path)


def test_static_addresses_podman_does_not_show_are_named() -> None:
    dialect, found = _engine("podman-5.4")
    inspect = _read(dialect, found["runtime"])
    assert list(inspect["NetworkSettings"]["Networks"]) == ["bridge"] and dialect.caveat(inspect) is None
    inspect["NetworkSettings"]["Networks"] = {"models": {}, "backend": {}}
    assert dialect.caveat(inspect) == (
        "Podman 5.4.2 does not show static IPs or MAC addresses: on backend, models the recreated container gets "
        "addresses of its own (if it had static ones, recreate it with podman run by hand)")
    assert Dialect(DOCKER, "26.1.5").caveat(inspect) is None
