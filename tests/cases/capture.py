"""Capture the inspect fixtures in tests/cases/<name>/ from the local Docker engine.

Each case directory holds what ``tests/unit/test_spec.py`` reads:

* ``container.json``: ``GET /containers/{id}/json`` of a container made here;
* ``image.json``: ``GET /images/{id}/json`` of its image;
* ``meta.json``: engine and API version, and how the container was made;
* ``spec.json``: the expected :class:`remediate.core.spec.ContainerSpec` (``to_json``), a golden file.

Usage (repo root; needs the test images from ``tests/lab/images/build.sh``)::

    python3 tests/cases/capture.py            # re-capture container/image/meta JSON of every case
    python3 tests/cases/capture.py NAME...    # only these cases
    python3 tests/cases/capture.py --bless    # rewrite spec.json from the stored JSON (no Docker)

Containers are made with the docker CLI (as a user types them) unless a case says otherwise, are
only created (never started: nothing listens, no traffic), and everything made is removed at the
end: containers, the ``rt-fid-cap-*`` networks and volumes, the ``rt-fid-cap/defaults:1`` image. After
re-capturing, run ``--bless`` and review the ``spec.json`` diffs: they are what the tests expect.
IDs, timestamps and the bind-mount folder ``/tmp/rt-fid-capture`` appear in the JSON as captured.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))  # the repo root: remediate and tests.lab, run as a script
PREFIX = "rt-fid-cap-"
BUSYBOX = "remediate-test/busybox:1"
VLLM = "vllm/vllm-openai:v0.6.3"
DEFAULTS_IMAGE = "rt-fid-cap/defaults:1"
BIND_DIR = "/tmp/rt-fid-capture"
NET1, NET2 = f"{PREFIX}net1", f"{PREFIX}net2"
VOLUME = f"{PREFIX}vol"


@dataclass
class Case:
    """One fixture: ``cli`` arguments after ``docker create``, or ``make(api, name) -> id``."""

    name: str
    cli: list[str] | None = None
    make: Callable[[Any, str], str] | None = None
    after: list[list[str]] | None = None  # docker CLI commands run after the create ({name} replaced)
    note: str = ""


def _sdk_twin(api: Any, name: str) -> str:
    """The CLI twin (``cli-twin``) as the SDK spells it: HostIp 0.0.0.0, ``:rw``, NET_ADMIN."""
    import docker

    client = docker.from_env(version=api.api_version)
    container = client.containers.create(
        BUSYBOX, ["sleep", "3600"], name=name, use_config_proxy=False,
        ports={"8000/tcp": ("0.0.0.0", 48110), "8001/tcp": ("127.0.0.1", 48111)},
        volumes=[f"{BIND_DIR}:/x:rw", f"{BIND_DIR}:/y:ro"],
        environment={"A": "1"}, cap_add=["NET_ADMIN"], restart_policy={"Name": "unless-stopped"},
        log_config=docker.types.LogConfig(type="json-file", config={"max-size": "1m"}),
    )
    return str(container.id)


def _entrypoint_no_cmd(api: Any, name: str) -> str:
    body = {"Image": DEFAULTS_IMAGE, "Entrypoint": ["sh", "-c"], "HostConfig": {}}
    return str(api.create_container_from_config(body, name=name)["Id"])


def _gpus(api: Any, name: str) -> str:
    # Through the API: the engine has no NVIDIA runtime, so this container can be created only.
    body = {"Image": BUSYBOX, "Cmd": ["sleep", "3600"], "HostConfig": {"DeviceRequests": [
        {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]], "Options": {}}]}}
    return str(api.create_container_from_config(body, name=name)["Id"])


def _mac(api: Any, name: str) -> str:
    # The docker CLI refuses --mac-address against API 1.41; the API takes it.
    body = {"Image": BUSYBOX, "Cmd": ["sleep", "3600"], "MacAddress": "02:42:0a:e7:fa:21", "HostConfig": {}}
    return str(api.create_container_from_config(body, name=name)["Id"])


def _recreated(source: str) -> Callable[[Any, str], str]:
    """A copy of ``source`` made the way remediate recreates (create body, volumes by name)."""
    def make(api: Any, name: str) -> str:
        from remediate.core.spec import anonymous_volumes, spec_from_inspect
        from remediate.executor.swap import create
        from remediate.host.connection import Connection

        old = api.inspect_container(f"{PREFIX}{source}")
        spec = spec_from_inspect(old, api.inspect_image(old["Image"]))
        with Connection("local") as conn:
            return create(conn, spec.replace(name=name), name, anonymous_volumes(old))
    return make


CASES = [
    Case("busybox-minimal", [BUSYBOX, "sleep", "3600"], note="hostname auto"),
    Case("image-defaults", [DEFAULTS_IMAGE], note="every image default kept"),
    Case("image-overrides", [
        "-e", "GREETING=bye", "-e", "NEW=1", "-e", "PATH=/opt/bin:/usr/local/bin:/usr/bin:/bin",
        "--label", "org.example.role=other", "--label", "team=ml", "--user", "0", "--workdir", "/tmp",
        "--no-healthcheck", "--stop-signal", "SIGTERM", "--expose", "9001",
        DEFAULTS_IMAGE, "exec sleep 3601"], note="every image default overridden"),
    Case("image-entrypoint-no-cmd", make=_entrypoint_no_cmd,
         note="API: the image's own entrypoint again, no command (the image CMD is dropped)"),
    Case("entrypoint-cmd", ["--entrypoint", "sh", BUSYBOX, "-c", "sleep 3600"]),
    Case("hostname-user", ["--hostname", "myhost", "--domainname", "example.test", BUSYBOX, "sleep", "3600"]),
    Case("domainname-only", ["--domainname", "example.test", BUSYBOX, "sleep", "3600"]),
    Case("network-host", ["--network", "host", BUSYBOX, "sleep", "3600"]),
    Case("uts-host", ["--uts", "host", "--pid", "host", BUSYBOX, "sleep", "3600"]),
    Case("db", [BUSYBOX, "sleep", "3600"], note="link target of link, network owner of network-container"),
    Case("link", ["--link", f"{PREFIX}db:db", BUSYBOX, "sleep", "3600"]),
    Case("network-container", ["--network", f"container:{PREFIX}db", BUSYBOX, "sleep", "3600"]),
    Case("anon-volume", ["-v", "/data", "--mount", "type=volume,target=/m", BUSYBOX, "sleep", "3600"]),
    Case("anon-volume-recreated", make=_recreated("anon-volume"),
         note="anon-volume recreated by remediate: its anonymous volumes handed over by name"),
    Case("volumes-from", ["--volumes-from", f"{PREFIX}anon-volume:ro", BUSYBOX, "sleep", "3600"]),
    Case("two-networks", [
        "--network", NET1, "--network-alias", "svc", "--ip", "10.231.250.21", BUSYBOX, "sleep", "3600"],
        after=[["network", "connect", "--alias", "second", "--ip", "10.231.250.141", NET2, "{name}"]]),
    Case("two-networks-recreated", make=_recreated("two-networks"),
         note="two-networks recreated by remediate: one endpoint at create, the other connected"),
    Case("cli-twin", [
        "-p", "48110:8000", "-p", "127.0.0.1:48111:8001", "-v", f"{BIND_DIR}:/x", "-v", f"{BIND_DIR}:/y:ro",
        "-e", "A=1", "--cap-add", "NET_ADMIN", "--restart", "unless-stopped", "--network", "bridge",
        "--log-opt", "max-size=1m", BUSYBOX, "sleep", "3600"]),
    Case("sdk-twin", make=_sdk_twin, note="cli-twin made with the docker SDK"),
    Case("vllm-secrets", [
        "-e", "HF_TOKEN=hf_abcdef123", "-e", "PYTHONUNBUFFERED=0", "-e", "VLLM_LOGGING_LEVEL=INFO",
        "-p", "127.0.0.1:48120:8000", VLLM,
        "--model", "facebook/opt-125m", "--api-key", "sk-secret-1", "--port", "8000"]),
    Case("gpus", make=_gpus),
    Case("mac-address", make=_mac),
    Case("kitchen-sink", [
        "--restart", "on-failure:3", "--tmpfs", "/run/t:size=1m", "--ulimit", "nofile=1024:2048",
        "--sysctl", "net.core.somaxconn=1024", "--cap-drop", "MKNOD", "--security-opt", "no-new-privileges",
        "--device", "/dev/null:/dev/xnull", "--shm-size", "128m", "--ipc", "shareable", "--init",
        "--memory", "64m", "--cpus", "0.5", "--cpu-shares", "512", "--pids-limit", "100",
        "--oom-score-adj", "100", "--log-driver", "json-file", "--log-opt", "max-file=2",
        "--dns", "192.0.2.53", "--dns-search", "example.test", "--dns-option", "ndots:2",
        "--add-host", "db.example.test:192.0.2.10", "--read-only", "--group-add", "1234",
        "--user", "1000:1000", "--workdir", "/tmp", "--health-cmd", "true", "--health-interval", "30s",
        "--stop-timeout", "7", "--runtime", "runc", "-t", "-i", "-v", f"{VOLUME}:/v",
        "--mount", f"type=bind,source={BIND_DIR},target=/mb,readonly", "--label", "app=sink",
        BUSYBOX, "sleep", "3600"]),
    Case("entrypoint-reset", ["--entrypoint", "", DEFAULTS_IMAGE, "sleep", "3600"],
         note="the image's entrypoint reset"),
    Case("systempaths-unconfined", ["--security-opt", "systempaths=unconfined", BUSYBOX, "sleep", "3600"]),
    Case("cgroupns-private", ["--cgroupns", "private", BUSYBOX, "sleep", "3600"]),
    Case("driver-opts", ["--network", f"name={NET1},driver-opt=com.example.opt=a b,alias=svc",
                         BUSYBOX, "sleep", "3600"]),
    Case("auto-remove", ["--rm", BUSYBOX, "sleep", "3600"]),
]


def _docker(*args: str) -> str:
    return subprocess.run(["docker", *args], check=True, capture_output=True, text=True).stdout.strip()


def _cleanup(api: Any) -> None:
    for c in api.containers(all=True, filters={"name": PREFIX}):
        if any(n.startswith(f"/{PREFIX}") for n in c["Names"]):
            api.remove_container(c["Id"], force=True, v=True)
    for net in (NET1, NET2):
        subprocess.run(["docker", "network", "rm", net], check=False, capture_output=True)
    subprocess.run(["docker", "volume", "rm", VOLUME], check=False, capture_output=True)
    subprocess.run(["docker", "image", "rm", DEFAULTS_IMAGE], check=False, capture_output=True)


def capture(names: set[str]) -> None:
    """Make every case's container and write its JSON files."""
    import docker

    from tests.lab.defaults_image import DEFAULTS_DOCKERFILE

    api = docker.APIClient(version="auto")
    version = api.version()
    _cleanup(api)
    anonymous: set[str] = set()
    try:
        Path(BIND_DIR).mkdir(exist_ok=True)
        list(api.build(fileobj=io.BytesIO(DEFAULTS_DOCKERFILE.encode()), tag=DEFAULTS_IMAGE, rm=True))
        _docker("network", "create", "--subnet", "10.231.250.0/25", NET1)
        _docker("network", "create", "--subnet", "10.231.250.128/25", NET2)
        _docker("volume", "create", VOLUME)
        for case in CASES:  # every case is made: later ones refer to earlier ones
            name = f"{PREFIX}{case.name}"
            if case.make is not None:
                cid = case.make(api, name)
                made_with = f"{case.make.__name__} ({case.note})" if case.note else case.make.__name__
            else:
                assert case.cli is not None
                cid = _docker("create", "--name", name, *case.cli)
                made_with = " ".join(["docker", "create", "--name", name, *case.cli])
            for command in case.after or []:
                _docker(*[part.replace("{name}", name) for part in command])
            inspect = api.inspect_container(cid)
            anonymous |= {m["Name"] for m in inspect.get("Mounts") or [] if len(m.get("Name") or "") == 64}
            if names and case.name not in names:
                continue
            out = HERE / case.name
            out.mkdir(exist_ok=True)
            _write(out / "container.json", inspect)
            _write(out / "image.json", api.inspect_image(inspect["Image"]))
            _write(out / "meta.json", {
                "engine": version["Version"], "api_version": version["ApiVersion"],
                "made_with": made_with, "note": case.note,
            })
            print(f"captured {case.name}")
    finally:
        _cleanup(api)
        for volume in anonymous:
            subprocess.run(["docker", "volume", "rm", volume], check=False, capture_output=True)


def bless(names: set[str]) -> None:
    """Rewrite every case's spec.json from its stored inspect JSON."""
    from remediate.core.spec import spec_from_inspect

    for case_dir in sorted(p for p in HERE.iterdir() if (p / "container.json").is_file()):
        if names and case_dir.name not in names:
            continue
        container = json.loads((case_dir / "container.json").read_text())
        image = json.loads((case_dir / "image.json").read_text())
        _write(case_dir / "spec.json", spec_from_inspect(container, image).to_json())
        print(f"blessed {case_dir.name}")


def _write(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="cases to capture (default: all)")
    parser.add_argument("--bless", action="store_true", help="rewrite spec.json from the stored JSON")
    args = parser.parse_args()
    if args.bless:
        bless(set(args.names))
    else:
        capture(set(args.names))


if __name__ == "__main__":
    main()
