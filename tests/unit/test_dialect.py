"""Podman's Docker-compatible API read in Docker's dialect (remediate/host/dialect.py), on inspect
JSON captured from Podman 4.3 and 5.4 (tests/unit/podman_data/: ``podman run -d --network models
--ipc host --cpus 0.5 --device /dev/null:/dev/xnull -p 127.0.0.1:8000:8000 -e HF_TOKEN=...
--restart always docker.io/vllm/vllm-openai:v0.6.3 --model m``, as vLLM's docs have it, plus the
container's OCI namespaces and the engine's ``/version`` and ``/info``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from remediate.core.spec import create_body, spec_from_inspect
from remediate.host.dialect import DOCKER, PODMAN, Dialect, Hidden, detect, engine_key, from_ping

DATA = Path(__file__).with_name("podman_data")
ENGINES = ("podman-4.3", "podman-5.4")


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text())
    return data


@pytest.mark.parametrize("name", ENGINES)
def test_podman_is_detected_from_its_version(name: str) -> None:
    dialect = detect(_load(name)["version"])
    assert dialect.name == PODMAN and name.endswith(dialect.version.rpartition(".")[0])
    assert dialect.can_update is (name == "podman-5.4")
    assert detect({"Version": "26.1.5", "Components": [{"Name": "Engine", "Version": "26.1.5"}]}).name == DOCKER


def test_a_ping_names_the_api_version_and_the_dialect() -> None:
    # The headers of each engine's /_ping, as they answered here.
    assert from_ping({"Api-Version": "1.41", "Server": "Docker/20.10.24+dfsg1 (linux)"}) == (
        "1.41", Dialect(DOCKER, "20.10.24+dfsg1"))
    assert from_ping({"Api-Version": "1.41", "Libpod-Api-Version": "4.3.1", "Server": "Libpod/4.3.1 (linux)"}) == (
        "1.41", Dialect(PODMAN, "4.3.1"))
    # A proxy that answers for the engine: its /version is asked then.
    assert from_ping({"Api-Version": "1.41", "Server": "nginx/1.22.1"}) is None
    assert from_ping({"Server": "Docker/26.1.5 (linux)"}) is None


@pytest.mark.parametrize("name", ENGINES)
def test_the_inspect_reads_as_docker_would_show_it(name: str) -> None:
    data = _load(name)
    raw = data["container"]
    dialect = detect(data["version"])
    # What Podman says differently, really there in the captured JSON.
    assert raw["HostConfig"]["NetworkMode"] == "bridge" and list(raw["NetworkSettings"]["Networks"]) == ["models"]
    assert any(u["Name"].startswith("RLIMIT_") for u in raw["HostConfig"]["Ulimits"])
    assert raw["HostConfig"]["CpuQuota"] and raw["HostConfig"]["PidsLimit"] == 2048
    assert (raw["HostConfig"]["Runtime"], raw["HostConfig"]["UTSMode"]) == ("oci", "private")
    assert f"HOSTNAME={raw['Config']['Hostname']}" in raw["Config"]["Env"]
    if name == "podman-4.3":  # 5.4 leaves it out
        assert raw["State"]["Health"]["Status"] == ""

    inspect = dialect.inspect_in(raw, Hidden(oci=data["oci"]))

    host = inspect["HostConfig"]
    assert host["NetworkMode"] == "models"
    assert {u["Name"] for u in host["Ulimits"]} == {"nofile", "nproc"}
    assert (host["NanoCpus"], host["CpuQuota"], host["CpuPeriod"]) == (500_000_000, 0, 0)
    assert host["PidsLimit"] == 0
    assert host["IpcMode"] == "host" and host["ShmSize"] == 0
    assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "rwm"}]
    assert [e for e in inspect["Config"]["Env"] if e.startswith(("HOSTNAME=", "container=", "TERM=", "HOME="))] == []
    assert "Health" not in inspect["State"]
    assert raw["HostConfig"]["PidsLimit"] == 2048  # the engine's answer itself is left as it was


@pytest.mark.parametrize("name", ENGINES)
def test_the_spec_recreates_what_the_user_set_and_nothing_podman_added(name: str) -> None:
    data = _load(name)
    spec = spec_from_inspect(detect(data["version"]).inspect_in(data["container"], Hidden(oci=data["oci"])),
                             data["image"])
    body, extra = create_body(spec)

    assert body["HostConfig"]["NetworkMode"] == "models" and extra == {}
    assert set(body["NetworkingConfig"]["EndpointsConfig"]) == {"models"}
    assert body["HostConfig"]["IpcMode"] == "host" and "ShmSize" not in body["HostConfig"]
    assert body["HostConfig"]["NanoCpus"] == 500_000_000
    assert not {"CpuQuota", "CpuPeriod", "PidsLimit", "Runtime", "UTSMode", "Annotations"} & set(body["HostConfig"])
    assert spec.env == {"HF_TOKEN": "hf_x"}
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "always", "MaximumRetryCount": 0}


def test_ipc_host_is_read_from_the_oci_config_on_podman_4() -> None:
    four = _load("podman-4.3")
    dialect = detect(four["version"])
    # Podman 4.3 shows --ipc host as "shareable" (its default); the OCI config tells them apart.
    assert four["container"]["HostConfig"]["IpcMode"] == "shareable"
    assert dialect.inspect_in(four["container"])["HostConfig"]["IpcMode"] == "shareable"
    private = {"linux": {"namespaces": [*four["oci"]["linux"]["namespaces"], {"type": "ipc"}]}}
    assert dialect.inspect_in(four["container"], Hidden(oci=private))["HostConfig"]["IpcMode"] == "shareable"
    assert dialect.inspect_in(four["container"], Hidden(oci=four["oci"]))["HostConfig"]["IpcMode"] == "host"


def test_podman_4_refuses_a_restart_policy_it_could_not_give_back() -> None:
    four, five = (_load(name) for name in ENGINES)
    reason = detect(four["version"]).refusal(four["container"])
    assert reason is not None and "--restart always" in reason and "no `docker update` API" in reason
    assert detect(five["version"]).refusal(five["container"]) is None
    no_policy = {**four["container"], "HostConfig": {**four["container"]["HostConfig"], "RestartPolicy": {"Name": "no"}}}
    assert detect(four["version"]).refusal(no_policy) is None


def test_default_network_reads_as_bridge_and_is_created_as_podman() -> None:
    dialect = Dialect(PODMAN, "5.4.2")
    raw = {"Config": {"Hostname": "abc"}, "HostConfig": {"NetworkMode": "bridge"},
           "NetworkSettings": {"Networks": {"podman": {"Aliases": ["abc"], "IPAMConfig": None}}}}
    inspect = dialect.inspect_in(raw)
    assert inspect["NetworkSettings"]["Networks"]["bridge"]["Aliases"] is None
    assert "podman" not in inspect["NetworkSettings"]["Networks"]
    body = dialect.create_out({"NetworkingConfig": {"EndpointsConfig": {"bridge": {"IPAMConfig": {"IPv4Address": "x"}}}}})
    assert set(body["NetworkingConfig"]["EndpointsConfig"]) == {"podman"}
    assert dialect.network_out("bridge") == "podman" and dialect.network_out("models") == "models"


def test_docker_is_left_as_it_is() -> None:
    dialect = Dialect(DOCKER, "20.10.24")
    raw = {"HostConfig": {"PidsLimit": 2048, "IpcMode": "shareable"}, "Config": {"Env": ["TERM=xterm"]},
           "State": {"Health": {"Status": ""}}}
    assert dialect.inspect_in(raw) == raw
    assert dialect.create_out({"NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}}) == {
        "NetworkingConfig": {"EndpointsConfig": {"bridge": {}}}}
    assert dialect.refusal({"HostConfig": {"RestartPolicy": {"Name": "always"}}}) is None


@pytest.mark.parametrize("name", ENGINES)
def test_the_engine_key_is_stable_though_podmans_id_is_not(name: str) -> None:
    data = _load(name)
    dialect = detect(data["version"])
    info = data["info"]
    key = engine_key(dialect, info, "machine-a")
    assert engine_key(dialect, {**info, "ID": "another-random-id"}, "machine-a") == key
    assert engine_key(dialect, info, "machine-b") != key
    assert engine_key(dialect, {**info, "DockerRootDir": "/other/graph"}, "machine-a") != key
    assert key.startswith(f"{info['Name']}-")


def test_dockers_engine_key_is_the_one_it_always_was() -> None:
    import hashlib

    info = {"ID": "ABCD:EFGH", "Name": "gpu-01", "DockerRootDir": "/var/lib/docker"}
    digest = hashlib.sha256(b"ABCD:EFGH|gpu-01|/var/lib/docker").hexdigest()[:10]
    assert engine_key(Dialect(DOCKER, "26.1.5"), info, "ignored") == f"gpu-01-{digest}"


def test_binds_read_back_as_given() -> None:
    dialect = Dialect(PODMAN, "4.3.1")
    binds = ["/etc/t.jinja:/etc/vllm/t.jinja:ro,rprivate,rbind", "/data:/data:rprivate,rbind", "models:/models",
             "/x:/y:rw,rshared,rbind", "/p:/q:rprivate,bind"]
    inspect = dialect.inspect_in({"HostConfig": {"Binds": binds}})
    assert inspect["HostConfig"]["Binds"] == ["/etc/t.jinja:/etc/vllm/t.jinja:ro", "/data:/data", "models:/models",
                                              "/x:/y:rw,rshared", "/p:/q:rprivate,bind"]
