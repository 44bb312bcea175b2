"""Fidelity of a recreate: a container rebuilt from its spec is the same container.

For every case of a corpus of real containers (made with the docker SDK, one option or a few per
case) the module fixture

1. creates the original, starts it when this machine can (privileged, GPU and memlock containers
   are created only), and writes data into its anonymous volumes;
2. stops it (as the recreate does before the new one starts), takes ``spec1`` from its inspect;
3. creates a copy from ``spec1`` under another name with :func:`remediate.executor.swap.create`
   (create body, anonymous volumes handed over, extra networks connected), starts it;
4. takes ``spec2`` from the copy's inspect.

The tests then assert ``spec1 == spec2`` (names aside), and compare raw inspect fields of the
original and the copy directly, each of which must be set on the original, so a spec that lost
everything cannot pass. A second group checks that a container made by the docker CLI and its
SDK-made twin give the same spec, so a re-plan of an already-applied change is a no-op.

The whole module runs once per engine generation (the ``engine`` fixture: the local 20.10 and
Debian 13's 26.1, see tests/lab/engines.py); each engine has its own corpus.

Everything created is named ``rt-fid-*`` (networks and volumes too) and labelled with the pid of
the run; leftovers of dead runs are removed first, and everything is removed at the end. No traffic
is sent: networks, DNS servers and extra hosts are configuration only.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import os
import re
import subprocess
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest

from remediate.core import playbook as pb
from remediate.core.fields import CONFIG, Field, Remark, api_tuple, host_field, is_empty
from remediate.core.planner import Observed, plan
from remediate.core.runview import run_view
from remediate.core.spec import ContainerSpec, anonymous_volumes, spec_from_inspect
from remediate.executor.swap import create
from remediate.host.connection import Connection
from tests.lab.defaults_image import BUSYBOX, DEFAULTS_DOCKERFILE
from tests.lab.engines import LOCAL, MODERN, Engine
from tests.lab.podman import PODMAN4, PODMAN5

docker = pytest.importorskip("docker")
from docker.types import DeviceRequest, LogConfig, Mount, Ulimit

pytestmark = pytest.mark.integration

PREFIX = "rt-fid-"
OWNER = "rt-fid.pid"
VLLM = "vllm/vllm-openai:v0.6.3"
#: Built by the fixture from BUSYBOX: every image default a user can override.
DEFAULTS_IMAGE = "rt-fid/defaults:1"
NET1, NET1_SUBNET = f"{PREFIX}net1", "10.231.250.0/25"
NET2, NET2_SUBNET = f"{PREFIX}net2", "10.231.250.128/25"
VOLUME = f"{PREFIX}vol"
MOUNT_VOLUME = f"{PREFIX}mvol"
SLEEP = ["sleep", "3600"]
#: Why the shown `docker run` line is not run on Podman.
_PODMAN_VIEW = "the shown command line is the docker CLI's (Podman users type podman run); not run on Podman"
#: Why Podman starts no container with ulimits of its own on this machine (root without CAP_SYS_RESOURCE).
_RLIMITS = "runc here: \"error setting rlimits for ready process: operation not permitted\""
_PODMANS = (PODMAN4, PODMAN5)
#: What Podman's Docker API create does not make as asked, per case: inspect paths -> (the Podman
#: generations, why). The original has none of it there (the round trip asserts that, so a change
#: in Podman is noticed), so a recreate has nothing to keep; the case's other settings are checked.
PODMAN_IGNORED: dict[str, dict[str, tuple[tuple[str, ...], str]]] = {
    "domainname-only": {"Config.Domainname": (_PODMANS, "Podman creates no domain name")},
    "hostname-user": {"Config.Domainname": (_PODMANS, "Podman creates no domain name")},
    "mac-address": {"Config.MacAddress": (_PODMANS, "Podman gives the default network a MAC address of its own")},
    "masked-paths-empty": {"HostConfig.MaskedPaths": (_PODMANS, "Podman masks its system paths anyway")},
    "systempaths-unconfined": {"HostConfig.MaskedPaths": (_PODMANS, "Podman masks its system paths anyway"),
                               "HostConfig.ReadonlyPaths": (_PODMANS, "Podman masks its system paths anyway")},
    "bind-declared-volume": {"Config.Volumes": (_PODMANS, "Podman makes no volume under a bind")},
    "mounts": {"HostConfig.Mounts": (_PODMANS, "Podman keeps --mount as binds, tmpfs and volumes")},
    "mount-options": {"HostConfig.Mounts": (_PODMANS, "Podman keeps --mount as binds, tmpfs and volumes")},
    "gpus": {"HostConfig.DeviceRequests": (_PODMANS, "Podman's Docker API drops --gpus")},
    "gpus-requests": {"HostConfig.DeviceRequests": (_PODMANS, "Podman's Docker API drops --gpus")},
    "device-request-other": {"HostConfig.DeviceRequests": (_PODMANS, "Podman's Docker API drops device requests")},
    "device-cgroup-rules": {"HostConfig.DeviceCgroupRules": ((PODMAN4,), "Podman 4.3 makes no device cgroup rule")},
    "userns-host": {"HostConfig.UsernsMode": ((PODMAN4,), "Podman 4.3 records no --userns host, its default")},
    "caps-security": {"HostConfig.CapDrop": ((PODMAN5,), "Podman 5 has no MKNOD to drop (not a default)")},
}
DEADLINE = 20.0  # bound for polling loops; never asserted as a duration
PRECIOUS = "precious data\n"


# --------------------------------------------------------------------------- the corpus

@dataclass
class Case:
    """One container of the corpus.

    Attributes:
        id: test id; the container is ``rt-fid-<id>``, its copy ``rt-fid-<id>-copy``.
        kwargs: ``client.containers.create`` keyword arguments (image BUSYBOX and ``sleep``
            unless given), or None when ``body`` is used.
        body: a raw ``POST /containers/create`` body instead (for API-only fields).
        start: start original and copy (False: this machine cannot start it).
        raw: inspect paths that must be set on the original and equal on the copy.
        spec_keys: ``config.X`` / ``host_config.X`` keys spec1 must hold (the option was captured).
        connect: networks to connect before start, name -> connect kwargs.
        data_in: paths in anonymous volumes to write before the recreate and read back after.
        min_api: the engine API version the case needs (skipped on older engines).
        min_cli: the docker CLI version its ``docker run`` needs (Debian 12's docker.io is 20.10);
            with an older CLI on PATH, the shell round trip is skipped.
        podman: why Podman cannot make the original (skipped there).
        podman_create_only: why Podman cannot start it here (created only there).
    """

    id: str
    kwargs: dict[str, Any] | None = None
    body: dict[str, Any] | None = None
    start: bool = True
    raw: tuple[str, ...] = ()
    spec_keys: tuple[str, ...] = ()
    connect: dict[str, dict[str, Any]] = field(default_factory=dict)
    data_in: tuple[str, ...] = ()
    min_api: str | None = None
    min_cli: str | None = None
    podman: str | None = None
    podman_create_only: str | None = None

    @property
    def name(self) -> str:
        return f"{PREFIX}{self.id}"


def _cases(dirs: dict[str, str]) -> list[Case]:
    ro, rw, plain, mnt = dirs["ro"], dirs["rw"], dirs["plain"], dirs["mount"]
    return [
        Case("minimal", {}, spec_keys=("config.Cmd",)),
        Case("restart-unless-stopped", {"restart_policy": {"Name": "unless-stopped"}},
             raw=("HostConfig.RestartPolicy",), spec_keys=("host_config.RestartPolicy",)),
        Case("restart-on-failure", {"restart_policy": {"Name": "on-failure", "MaximumRetryCount": 3}},
             raw=("HostConfig.RestartPolicy",), spec_keys=("host_config.RestartPolicy",)),
        Case("env-labels", {
            "environment": {"FOO": "bar", "PATH": "/opt/bin:/usr/bin:/bin", "EMPTY": ""},
            "labels": {"a": "1", "remediate.test": "overridden"},
        }, raw=("Config.Env", "Config.Labels"), spec_keys=("config.Env", "config.Labels")),
        Case("ports", {"ports": {
            "8000/tcp": ("127.0.0.1", 48101),  # -p 127.0.0.1:48101:8000
            "8001/tcp": 48102,                 # -p 48102:8001 (HostIp "")
            "8002/tcp": None,                  # -p 8002 (random host port)
            "8003/udp": ("127.0.0.1", 48103),
        }}, raw=("HostConfig.PortBindings", "Config.ExposedPorts"),
            spec_keys=("host_config.PortBindings", "config.ExposedPorts")),
        Case("binds", {"volumes": [f"{ro}:/ro:ro", f"{rw}:/rw:rw", f"{plain}:/plain"]},
             raw=("HostConfig.Binds",), spec_keys=("host_config.Binds",)),
        Case("named-volume", {"volumes": {VOLUME: {"bind": "/v", "mode": "rw"}}},
             raw=("HostConfig.Binds",), spec_keys=("host_config.Binds",)),
        # -v /data as the CLI sends it: Config.Volumes only, no bind.
        Case("anonymous-volume", body={"Image": BUSYBOX, "Cmd": SLEEP, "Volumes": {"/data": {}}},
             raw=("Config.Volumes",), spec_keys=("config.Volumes",), data_in=("/data",)),
        Case("tmpfs", {"tmpfs": {"/run/t": "size=1m,mode=1777"}},
             raw=("HostConfig.Tmpfs",), spec_keys=("host_config.Tmpfs",)),
        Case("mounts", {"mounts": [
            Mount("/mv", MOUNT_VOLUME, type="volume"),
            Mount("/mb", mnt, type="bind", read_only=True),
            Mount("/mt", None, type="tmpfs", tmpfs_size=1 << 20),
            Mount("/manon", None, type="volume"),  # --mount type=volume,target=/manon: anonymous
        ]}, raw=("HostConfig.Mounts",), spec_keys=("host_config.Mounts",), data_in=("/manon",)),
        Case("network-bridge", {"network_mode": "bridge"}, raw=("HostConfig.NetworkMode",)),
        Case("network-user", {
            "network": NET1,
            "networking_config": {NET1: docker.types.EndpointConfig(
                "1.41", aliases=["svc", "svc-alt"], ipv4_address="10.231.250.11")},
        }, raw=("HostConfig.NetworkMode",), spec_keys=("host_config.NetworkMode",)),
        Case("two-networks", {
            "network": NET1,
            "networking_config": {NET1: docker.types.EndpointConfig(
                "1.41", aliases=["first"], ipv4_address="10.231.250.12")},
        }, connect={NET2: {"aliases": ["second"], "ipv4_address": "10.231.250.140"}},
            raw=("HostConfig.NetworkMode",), spec_keys=("host_config.NetworkMode",)),
        Case("link", {"links": {f"{PREFIX}db": "db"}},
             raw=("HostConfig.Links",), spec_keys=("host_config.Links",),
             podman="Podman refuses links (\"bad parameter: link is not supported\")"),
        Case("dns", {"dns": ["192.0.2.53"], "dns_search": ["example.test"], "dns_opt": ["ndots:2"],
                     "extra_hosts": {"db.example.test": "192.0.2.10"}},
             raw=("HostConfig.Dns", "HostConfig.DnsSearch", "HostConfig.DnsOptions", "HostConfig.ExtraHosts"),
             spec_keys=("host_config.Dns", "host_config.ExtraHosts")),
        Case("hostname-user", {"hostname": "myhost", "domainname": "example.test"},
             raw=("Config.Hostname", "Config.Domainname"), spec_keys=("config.Hostname", "config.Domainname")),
        Case("domainname-only", {"domainname": "example.test"},
             raw=("Config.Domainname",), spec_keys=("config.Domainname",)),
        Case("user-workdir-groups", {"user": "1000:1000", "working_dir": "/tmp", "group_add": ["1234"]},
             raw=("Config.User", "Config.WorkingDir", "HostConfig.GroupAdd"),
             spec_keys=("config.User", "config.WorkingDir", "host_config.GroupAdd")),
        Case("entrypoint-cmd", {"entrypoint": ["sh", "-c"], "command": ["sleep 3600"]},
             raw=("Config.Entrypoint", "Config.Cmd"), spec_keys=("config.Entrypoint", "config.Cmd")),
        Case("healthcheck", {"healthcheck": {
            "test": ["CMD-SHELL", "true"], "interval": 30_000_000_000, "timeout": 2_000_000_000,
            "retries": 2, "start_period": 1_000_000_000}},
            raw=("Config.Healthcheck",), spec_keys=("config.Healthcheck",)),
        Case("log-json-file", {"log_config": LogConfig(type="json-file", config={"max-size": "1m", "max-file": "2"})},
             raw=("HostConfig.LogConfig",), spec_keys=("host_config.LogConfig",)),
        Case("log-none", {"log_config": LogConfig(type="none")},
             raw=("HostConfig.LogConfig",), spec_keys=("host_config.LogConfig",)),
        Case("ulimits-sysctls", {"ulimits": [Ulimit(name="nofile", soft=1024, hard=2048)],
                                 "sysctls": {"net.core.somaxconn": "1024"}},
             raw=("HostConfig.Ulimits", "HostConfig.Sysctls"),
             spec_keys=("host_config.Ulimits", "host_config.Sysctls"), podman_create_only=_RLIMITS),
        Case("caps-security", {"cap_add": ["NET_ADMIN"], "cap_drop": ["MKNOD"],
                               "security_opt": ["no-new-privileges"]},
             raw=("HostConfig.CapAdd", "HostConfig.CapDrop", "HostConfig.SecurityOpt"),
             spec_keys=("host_config.CapAdd", "host_config.CapDrop", "host_config.SecurityOpt")),
        Case("privileged", {"privileged": True}, start=False,
             raw=("HostConfig.Privileged",), spec_keys=("host_config.Privileged",)),
        Case("devices", {"devices": ["/dev/null:/dev/xnull:rwm"]},
             raw=("HostConfig.Devices",), spec_keys=("host_config.Devices",)),
        # --gpus all: needs the NVIDIA runtime, which this machine lacks; create only.
        Case("gpus", {"device_requests": [DeviceRequest(count=-1, capabilities=[["gpu"]])]}, start=False,
             raw=("HostConfig.DeviceRequests",), spec_keys=("host_config.DeviceRequests",)),
        # --gpus '"device=0,1",driver=nvidia,capabilities=compute,"options=a=b,c=d"' --gpus 2,capabilities=utility
        Case("gpus-requests", {"device_requests": [
            DeviceRequest(driver="nvidia", device_ids=["0", "1"], capabilities=[["compute", "gpu"]],
                          options={"a": "b", "c": "d"}),
            DeviceRequest(count=2, capabilities=[["utility", "gpu"]])]}, start=False,
             raw=("HostConfig.DeviceRequests",), spec_keys=("host_config.DeviceRequests",)),
        # A device request --gpus cannot make (no gpu capability): kept through the API, a remark in the view.
        Case("device-request-other", {"device_requests": [
            DeviceRequest(driver="cdi", device_ids=["vendor.com/dev=x"], capabilities=[["other"]])]}, start=False,
             raw=("HostConfig.DeviceRequests",), spec_keys=("host_config.DeviceRequests",)),
        Case("shm-ipc", {"shm_size": "128m", "ipc_mode": "shareable"},
             raw=("HostConfig.ShmSize", "HostConfig.IpcMode"), spec_keys=("host_config.ShmSize",)),
        Case("pid-uts-host", {"pid_mode": "host", "uts_mode": "host"},
             raw=("HostConfig.PidMode", "HostConfig.UTSMode"),
             spec_keys=("host_config.PidMode", "host_config.UTSMode")),
        Case("init", {"init": True}, raw=("HostConfig.Init",), spec_keys=("host_config.Init",)),
        Case("limits", {"mem_limit": "64m", "nano_cpus": 500_000_000, "cpu_shares": 512,
                        "pids_limit": 100, "oom_score_adj": 100},
             raw=("HostConfig.Memory", "HostConfig.NanoCpus", "HostConfig.CpuShares",
                  "HostConfig.PidsLimit", "HostConfig.OomScoreAdj"),
             spec_keys=("host_config.Memory", "host_config.NanoCpus", "host_config.OomScoreAdj")),
        Case("runtime-stop", body={"Image": BUSYBOX, "Cmd": SLEEP, "StopSignal": "SIGINT", "StopTimeout": 7,
                                   "HostConfig": {"Runtime": "runc"}},
             raw=("Config.StopSignal", "Config.StopTimeout", "HostConfig.Runtime"),
             spec_keys=("config.StopSignal", "config.StopTimeout", "host_config.Runtime")),
        Case("tty-stdin", {"tty": True, "stdin_open": True, "command": None},
             raw=("Config.Tty", "Config.OpenStdin"), spec_keys=("config.Tty", "config.OpenStdin")),
        Case("read-only", {"read_only": True},
             raw=("HostConfig.ReadonlyRootfs",), spec_keys=("host_config.ReadonlyRootfs",)),
        Case("network-host", {"network_mode": "host"},
             raw=("HostConfig.NetworkMode",), spec_keys=("host_config.NetworkMode",)),
        Case("network-none", {"network_mode": "none"},
             raw=("HostConfig.NetworkMode",), spec_keys=("host_config.NetworkMode",)),
        Case("publish-all", body={"Image": BUSYBOX, "Cmd": SLEEP, "ExposedPorts": {"9000/tcp": {}},
                                  "HostConfig": {"PublishAllPorts": True}},
             raw=("HostConfig.PublishAllPorts", "Config.ExposedPorts"),
             spec_keys=("host_config.PublishAllPorts", "config.ExposedPorts")),
        Case("network-container", {"network_mode": f"container:{PREFIX}netowner"},
             raw=("HostConfig.NetworkMode",), spec_keys=("host_config.NetworkMode",)),
        Case("volumes-from", {"volumes_from": [f"{PREFIX}vsrc:ro"]},
             raw=("HostConfig.VolumesFrom",), spec_keys=("host_config.VolumesFrom",)),
        Case("mac-address", {"mac_address": "02:42:0a:e7:fa:01"},
             raw=("Config.MacAddress",), spec_keys=("config.MacAddress",)),
        # --network NET1 --mac-address as the docker CLI sends it on API >= 1.44: in the endpoint
        # (the engine shows it as Config.MacAddress too).
        Case("mac-address-endpoint", body={
            "Image": BUSYBOX, "Cmd": SLEEP, "HostConfig": {"NetworkMode": NET1},
            "NetworkingConfig": {"EndpointsConfig": {NET1: {"MacAddress": "02:42:0a:e7:fa:02"}}},
        }, raw=("Config.MacAddress", "HostConfig.NetworkMode"), spec_keys=("config.MacAddress",), min_api="1.44"),
        Case("memlock", {"ulimits": [Ulimit(name="memlock", soft=-1, hard=-1)]}, start=False,
             raw=("HostConfig.Ulimits",), spec_keys=("host_config.Ulimits",)),
        # Image defaults: an untouched container of DEFAULTS_IMAGE has a nearly empty spec...
        Case("image-defaults", {"image": DEFAULTS_IMAGE, "command": None},
             raw=("Config.Entrypoint", "Config.Cmd", "Config.Healthcheck", "Config.User"),
             data_in=("/cache",)),
        # ...and every override of one is carried.
        Case("image-overrides", {
            "image": DEFAULTS_IMAGE, "command": ["exec sleep 3601"], "environment": {"GREETING": "bye", "NEW": "1"},
            "labels": {"org.example.role": "other"}, "user": "0", "working_dir": "/tmp",
            "healthcheck": {"test": ["NONE"]}, "stop_signal": "SIGTERM",
        }, raw=("Config.Cmd", "Config.Env", "Config.Labels", "Config.User", "Config.WorkingDir",
                "Config.Healthcheck", "Config.StopSignal"),
            spec_keys=("config.Cmd", "config.Env", "config.Labels", "config.User", "config.WorkingDir",
                       "config.Healthcheck", "config.StopSignal")),
        # The image's own entrypoint given explicitly, no command: the image CMD must stay off.
        Case("image-entrypoint-no-cmd", body={"Image": DEFAULTS_IMAGE, "Entrypoint": ["sh", "-c"]}, start=False,
             raw=("Config.Entrypoint",), spec_keys=("config.Entrypoint",)),
        # Values a shell must get quoted, and options an earlier docker run view lost.
        Case("shell-metacharacters", {
            "working_dir": "/tmp/dir with space",
            "environment": {"QUOTES": "it's \"quoted\"", "DOLLAR": "$HOME and ${PATH}", "TICKS": "`id`",
                            "OPS": "a;b|c&d>e<f", "SPACES": "  two  spaces  ", "STAR": "*", "NL": "line1\nline2"},
            "labels": {"org.example.note": "a label; with $pecial `chars`"},
            "entrypoint": ["sh"], "command": ["-c", "sleep 3600 # not a comment"],
            "healthcheck": {"test": ["CMD-SHELL", "test -d '/tmp/dir with space' && echo \"ok\""],
                            "interval": 1_500_000_000},
        }, raw=("Config.WorkingDir", "Config.Env", "Config.Labels", "Config.Healthcheck"),
            spec_keys=("config.WorkingDir", "config.Env")),
        Case("device-cgroup-rules", {"device_cgroup_rules": ["c 1:5 r", "b 7:* rmw"]},
             raw=("HostConfig.DeviceCgroupRules",), spec_keys=("host_config.DeviceCgroupRules",)),
        Case("mount-options", {"mounts": [
            Mount("/nocopy", MOUNT_VOLUME, type="volume", no_copy=True),
            Mount("/sized", None, type="tmpfs", tmpfs_size=2 << 20, tmpfs_mode=0o1770),
            Mount("/prop", dirs["mount"], type="bind", propagation="rprivate"),
        ]}, raw=("HostConfig.Mounts",), spec_keys=("host_config.Mounts",)),
        Case("ipc-shareable", {"ipc_mode": "shareable"}, raw=("HostConfig.IpcMode",),
             spec_keys=("host_config.IpcMode",)),
        Case("log-opts-sysctls", {"log_config": LogConfig(type="json-file", config={"max-size": "10m", "tag": "{{.Name}} x"}),
                                  "sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"},
                                  "ulimits": [Ulimit(name="nproc", soft=512, hard=1024)]},
             raw=("HostConfig.LogConfig", "HostConfig.Sysctls", "HostConfig.Ulimits"),
             spec_keys=("host_config.LogConfig",), podman_create_only=_RLIMITS),
        Case("vllm-like", {
            "image": VLLM, "environment": {"PYTHONUNBUFFERED": "0", "HF_TOKEN": "hf_secret"},
            "command": ["--model", "facebook/opt-125m", "--port", "8000"],
        }, raw=("Config.Env", "Config.Cmd", "Config.Entrypoint"), spec_keys=("config.Env", "config.Cmd")),
        # Peers' inputs (docker/cli's run reference, docker-py's tests, community.docker's
        # options.yml). --entrypoint "" as the CLI sends it, and the SDK's entrypoint="": the
        # image's entrypoint must stay off.
        Case("entrypoint-reset-cli", body={"Image": DEFAULTS_IMAGE, "Entrypoint": [""], "Cmd": SLEEP},
             raw=("Config.Cmd",), spec_keys=("config.Entrypoint",)),
        Case("entrypoint-reset-sdk", {"image": DEFAULTS_IMAGE, "entrypoint": ""},
             raw=("Config.Cmd",), spec_keys=("config.Entrypoint",),
             podman="Podman runs the SDK's entrypoint \"\" as a program (the original exits 1)"),
        # --security-opt systempaths=unconfined, as the CLI sends it; one list alone is API-only.
        Case("systempaths-unconfined", body={"Image": BUSYBOX, "Cmd": SLEEP,
                                             "HostConfig": {"MaskedPaths": [], "ReadonlyPaths": []}},
             spec_keys=("host_config.MaskedPaths", "host_config.ReadonlyPaths")),
        Case("masked-paths-empty", body={"Image": BUSYBOX, "Cmd": SLEEP, "HostConfig": {"MaskedPaths": []}},
             spec_keys=("host_config.MaskedPaths",)),
        # Healthchecks in the string form and with Docker's default timing.
        Case("healthcheck-string-default", {"healthcheck": {"test": "true"}},
             raw=("Config.Healthcheck",), spec_keys=("config.Healthcheck",)),
        # A bind with a Volumes declaration at its target, as API clients send it.
        Case("bind-declared-volume", body={"Image": BUSYBOX, "Cmd": SLEEP, "Volumes": {"/data": {}},
                                           "HostConfig": {"Binds": [f"{rw}:/data"]}},
             raw=("Config.Volumes", "HostConfig.Binds"), spec_keys=("config.Volumes",)),
        Case("cgroupns-private", body={"Image": BUSYBOX, "Cmd": SLEEP, "HostConfig": {"CgroupnsMode": "private"}},
             raw=("HostConfig.CgroupnsMode",), spec_keys=("host_config.CgroupnsMode",)),
        Case("cgroupns-host", body={"Image": BUSYBOX, "Cmd": SLEEP, "HostConfig": {"CgroupnsMode": "host"}},
             raw=("HostConfig.CgroupnsMode",), spec_keys=("host_config.CgroupnsMode",)),
        Case("endpoint-driver-opts", {
            "network": NET1,
            "networking_config": {NET1: docker.types.EndpointConfig(
                "1.41", aliases=["svc"], driver_opt={"com.example.opt": "a b"})},
        }, raw=("HostConfig.NetworkMode",), spec_keys=("host_config.NetworkMode",)),
        Case("mount-bind-recursive", body={"Image": BUSYBOX, "Cmd": SLEEP, "HostConfig": {"Mounts": [
            {"Type": "bind", "Source": mnt, "Target": "/rro", "ReadOnly": True,
             "BindOptions": {"ReadOnlyForceRecursive": True}},
            {"Type": "bind", "Source": mnt, "Target": "/rnr", "ReadOnly": True,
             "BindOptions": {"ReadOnlyNonRecursive": True}},
            {"Type": "bind", "Source": mnt, "Target": "/nrec", "BindOptions": {"NonRecursive": True}},
        ]}}, raw=("HostConfig.Mounts",), spec_keys=("host_config.Mounts",), min_api="1.44", min_cli="25.0"),
        Case("cap-drop-all", {"cap_add": ["SYS_TIME"], "cap_drop": ["ALL"]},
             raw=("HostConfig.CapAdd", "HostConfig.CapDrop"), spec_keys=("host_config.CapDrop",)),
        Case("cpu-limits", {"cpu_period": 90000, "cpu_quota": 150000, "cpuset_cpus": "0", "cpuset_mems": "0"},
             raw=("HostConfig.CpuPeriod", "HostConfig.CpuQuota", "HostConfig.CpusetCpus", "HostConfig.CpusetMems"),
             spec_keys=("host_config.CpuPeriod", "host_config.CpusetCpus")),
        Case("memory-limits", {"mem_limit": "64m", "mem_reservation": "32m", "memswap_limit": "128m",
                               "mem_swappiness": 0, "oom_kill_disable": True},
             raw=("HostConfig.MemoryReservation", "HostConfig.MemorySwap", "HostConfig.OomKillDisable"),
             spec_keys=("host_config.MemorySwappiness", "host_config.OomKillDisable")),
        Case("blkio-device-rates", {"device_read_bps": [{"Path": "/dev/loop0", "Rate": 1 << 20}],
                                    "device_write_iops": [{"Path": "/dev/loop0", "Rate": 100}]},
             raw=("HostConfig.BlkioDeviceReadBps", "HostConfig.BlkioDeviceWriteIOps"),
             spec_keys=("host_config.BlkioDeviceReadBps",)),
        Case("security-opt-label", {"security_opt": ["label:level:s0:c100,c200", "no-new-privileges"]},
             raw=("HostConfig.SecurityOpt",), spec_keys=("host_config.SecurityOpt",)),
        Case("userns-host", {"userns_mode": "host"}, raw=("HostConfig.UsernsMode",),
             spec_keys=("host_config.UsernsMode",)),
        Case("ipc-host", {"ipc_mode": "host"}, raw=("HostConfig.IpcMode",), spec_keys=("host_config.IpcMode",)),
        Case("pid-container", {"pid_mode": f"container:{PREFIX}netowner"},
             raw=("HostConfig.PidMode",), spec_keys=("host_config.PidMode",)),
    ]


@pytest.fixture(scope="module", params=[LOCAL, MODERN])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each Docker engine generation (test_fidelity_podman.py: each Podman one)."""
    from tests.integration.conftest import ENGINE_FIXTURES

    chosen: Engine = request.getfixturevalue(ENGINE_FIXTURES[request.param])
    return chosen


# --------------------------------------------------------------------------- helpers

def _get(data: Any, path: str) -> Any:
    for part in path.split("."):
        data = (data or {}).get(part)
    return data


def _remove_leftovers(client: Any) -> None:
    """Remove rt-fid-* containers, networks and volumes of earlier runs that are no longer alive."""
    def dead(labels: dict[str, str] | None) -> bool:
        owner = (labels or {}).get(OWNER, "")
        if not owner.isdigit() or int(owner) == os.getpid():
            return True
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False

    for c in client.containers.list(all=True, filters={"name": PREFIX}):
        if c.name.startswith(PREFIX) and dead(c.labels):
            _quiet(lambda c=c: c.remove(force=True, v=True))
    for n in client.networks.list(names=[PREFIX]):
        if n.name.startswith(PREFIX) and dead(n.attrs.get("Labels")):
            _quiet(n.remove)
    for v in client.volumes.list(filters={"name": PREFIX}):
        if v.name.startswith(PREFIX) and dead(v.attrs.get("Labels")):
            _quiet(v.remove)


def _quiet(step: Callable[[], Any]) -> None:
    try:
        step()
    except docker.errors.APIError:  # already gone, or still in use by a live run
        pass


def _wait_running(api: Any, ref: str) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE
    while True:
        inspect = dict(api.inspect_container(ref))
        state = inspect["State"]
        if state.get("Running") and not state.get("Restarting"):
            return inspect
        if state.get("Status") in ("exited", "dead") or time.monotonic() > deadline:
            logs = api.logs(ref).decode(errors="replace")
            raise AssertionError(f"{ref} is not running: {state}\n{logs}")
        time.sleep(0.05)


def _exec(api: Any, ref: str, cmd: list[str]) -> str:
    exec_id = api.exec_create(ref, cmd, user="0")["Id"]
    out = api.exec_start(exec_id).decode(errors="replace")
    code = api.exec_inspect(exec_id)["ExitCode"]
    assert code == 0, f"{cmd} in {ref} exited {code}: {out}"
    return str(out)


def _read_file(api: Any, ref: str, path: str) -> str:
    """A file's text, read through the engine's archive API: an exec's output now and then comes
    back empty on Podman 5.4 although the command printed it."""
    stream, _stat = api.get_archive(ref, path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
        member = tar.extractfile(tar.getmembers()[0])
        assert member is not None, f"{path} in {ref} is not a file"
        return member.read().decode(errors="replace")


def _raw(inspect: dict[str, Any], path: str) -> Any:
    """An inspect field, without the differences a faithful copy has by design."""
    value = _get(inspect, path)
    if path == "HostConfig.Links":
        # /db:/<this container's name>/alias: the copy has another name.
        name = inspect["Name"]
        return [link.replace(f":{name}/", ":<self>/") for link in value or []]
    if path == "Config.Hostname" and value == inspect["Id"][:12]:
        return "<auto>"  # the engine names each container after its own id
    if path == "Config.Entrypoint" and value == []:
        return None  # both say "no entrypoint" (the CLI's [""] reads back null, the API's [] as [])
    if path == "HostConfig.NetworkMode" and value == "bridge":
        return "default"  # the same network on Linux; the spec writes it as the default
    if path == "HostConfig.Binds":
        # Anonymous volumes are handed to the copy by name (the same volumes: see _mount_view).
        return [b for b in value or [] if len(b.split(":")[0]) != 64] or None
    if path == "HostConfig.Mounts":
        # An anonymous --mount volume is handed to the copy by name (the same volume: see
        # _mount_view); without the name it is the mount the user asked for.
        return [{k: v for k, v in m.items() if not (k == "Source" and len(v) == 64 and m["Type"] == "volume")}
                for m in value or []]
    return value


def _mount_view(inspect: dict[str, Any]) -> list[tuple[Any, ...]]:
    """What is mounted where (volume names included: an anonymous volume must be the same one)."""
    return sorted(
        (m.get("Type"), m.get("Destination"), m.get("RW"), m.get("Name") or m.get("Source"))
        for m in inspect.get("Mounts") or []
    )


def _endpoint_view(inspect: dict[str, Any]) -> dict[str, Any]:
    """Network -> (user aliases, static IPs, links, driver options); the engine's short-id alias left out."""
    short_id = inspect["Id"][:12]
    return {
        net: (sorted(a for a in ep.get("Aliases") or [] if a != short_id), ep.get("IPAMConfig") or {},
              sorted(ep.get("Links") or []), ep.get("DriverOpts") or {})
        for net, ep in (inspect["NetworkSettings"].get("Networks") or {}).items()
    }


@dataclass
class Result:
    """Original and copy of one case (or the error that stopped the round trip)."""

    case: Case
    original: dict[str, Any] | None = None
    copy: dict[str, Any] | None = None
    spec1: ContainerSpec | None = None
    spec2: ContainerSpec | None = None
    data_read: dict[str, str] = field(default_factory=dict)
    error: BaseException | None = None
    #: The container the plan's shell commands made (``shell_before`` run through ``bash -c``).
    shell: dict[str, Any] | None = None
    shell_commands: list[str] = field(default_factory=list)
    remarks: tuple[Remark, ...] = ()
    shell_error: BaseException | None = None
    skip: str | None = None
    #: Why the engine refuses to recreate the original (Podman: :meth:`Dialect.refusal`).
    refusal: str | None = None


class Lab:
    """The module's Docker objects; everything made is recorded and removed at the end."""

    def __init__(self, engine: Engine, client: Any, conn: Connection, dirs: dict[str, str]) -> None:
        self.engine = engine
        self.client = client
        self.api = client.api
        #: remediate's one connection for the module, shared by the corpus's threads: a new one
        #: per read would ask the engine's /version and /info each time, which Podman answers
        #: in a third to half a second each (it gathers its host and storage facts anew).
        self.conn = conn
        #: One thread at a time on that connection: the corpus's reads and creates do not interleave.
        self.conn_lock = threading.Lock()
        self.dirs = dirs
        self.labels = {OWNER: str(os.getpid())}
        self.anonymous: set[str] = set()
        self.images: dict[str, dict[str, Any] | None] = {}

    def image(self, ref: str) -> dict[str, Any] | None:
        if ref not in self.images:
            self.images[ref] = dict(self.api.inspect_image(ref))
        return self.images[ref]

    def inspect(self, ref: str) -> dict[str, Any]:
        """A container's inspect as remediate reads it (Podman's translated to Docker's dialect)."""
        with self.conn_lock:
            inspect = self.conn.inspect_container(ref)
        if self.engine.name.startswith("podman") and inspect["Config"].get("Env"):
            # Podman merges the image's environment and the container's in Go map order: the
            # order differs from one create to the next (no variable is set twice).
            inspect["Config"]["Env"] = sorted(inspect["Config"]["Env"])
        return inspect

    def create(self, case: Case) -> str:
        if case.body is not None:
            # With no HostConfig at all, the engine skips its checks and leaves Runtime empty
            # until start; the CLI and the SDK always send one.
            body = {"HostConfig": {}, **case.body}
            body["Labels"] = {**self.labels, **body.get("Labels", {})}
            return str(self.api.create_container_from_config(body, name=case.name)["Id"])
        kwargs = dict(case.kwargs or {})
        image = kwargs.pop("image", BUSYBOX)
        kwargs.setdefault("command", SLEEP)
        kwargs["labels"] = {**self.labels, **kwargs.get("labels", {})}
        container = self.client.containers.create(image, name=case.name, use_config_proxy=False, **kwargs)
        return str(container.id)

    def round_trip(self, case: Case) -> Result:
        result = Result(case)
        if case.min_api and not self.engine.api_at_least(case.min_api):
            result.skip = f"needs engine API {case.min_api} (this one: {self.engine.api_version})"
            return result
        if self.engine.name.startswith("podman") and case.podman:
            result.skip = case.podman
            return result
        if self.engine.name.startswith("podman") and case.podman_create_only:
            result.case = case = dataclasses.replace(case, start=False)
        try:
            orig_id = self.create(case)
            for net, options in case.connect.items():
                self.api.connect_container_to_network(orig_id, net, **options)
            if case.start:
                self.api.start(orig_id)
                _wait_running(self.api, orig_id)
                for path in case.data_in:
                    _exec(self.api, orig_id, ["sh", "-c", f"printf '{PRECIOUS}' > {path}/file"])
                self.api.stop(orig_id, timeout=0)
            result.original = original = self.inspect(orig_id)
            self.anonymous |= set(anonymous_volumes(original).values())
            if self.engine.name.startswith("podman"):
                result.case = case = _podman_ignored(case, original, self.engine.name)
                result.refusal = self.conn.dialect.refusal(original)
                if result.refusal is not None:
                    return result
            image = self.image(original["Config"]["Image"])
            result.spec1 = spec1 = spec_from_inspect(original, image)
            copy_name = f"{case.name}-copy"
            with self.conn_lock:
                copy_id = create(self.conn, spec1.replace(name=copy_name), copy_name, anonymous_volumes(original))
            if case.start:
                self.api.start(copy_id)
                _wait_running(self.api, copy_id)
                for path in case.data_in:
                    result.data_read[path] = _read_file(self.api, copy_id, f"{path}/file")
            result.copy = copy = self.inspect(copy_id)
            result.spec2 = spec_from_inspect(copy, image)
        except Exception as exc:  # noqa: BLE001 - reported by the case's test, not the fixture
            result.error = exc
            return result
        if self.engine.name.startswith("podman"):
            result.shell_error = pytest.skip.Exception(_PODMAN_VIEW)
            return result
        if case.min_cli and _cli_version() < _version(case.min_cli):
            result.shell_error = pytest.skip.Exception(f"its docker run needs a docker CLI {case.min_cli} "
                                                       f"(on PATH: {'.'.join(map(str, _cli_version()))})")
            return result
        try:
            # The copy gives back what it holds (static IPs, published ports) before the shell makes
            # a third container of the same configuration.
            self.api.stop(copy_id, timeout=0)
            self.shell_round_trip(result, spec1)
            self.api.stop(f"{case.name}-sh", timeout=0)
            if case.start:
                self.api.start(copy_id)
                _wait_running(self.api, copy_id)
        except Exception as exc:  # noqa: BLE001 - reported by the shell round-trip test
            result.shell_error = exc
        return result

    def shell_round_trip(self, result: Result, spec: ContainerSpec) -> None:
        """Run the plan's ``shell_before`` commands with ``bash -c`` (the view quotes control
        characters as ``$'…'``) and the real docker CLI."""
        name = f"{result.case.name}-sh"
        view = run_view(spec.replace(name=name), engine_api=self.engine.api_version)
        result.remarks = view.remarks
        result.shell_commands = view.commands(run="docker run -d" if result.case.start else "docker create")
        for command in result.shell_commands:
            self.engine.run(["bash", "-c", command], env={**os.environ, "DOCKER_CLI_HINTS": "false"}, timeout=60,
                            check=True)
        result.shell = self.inspect(name)
        self.anonymous |= set(anonymous_volumes(result.shell).values())

    def helpers(self) -> None:
        """Containers other cases refer to: a link target, a network owner, a volume source."""
        for name, body in (
            ("db", {"Image": BUSYBOX, "Cmd": SLEEP}),
            ("netowner", {"Image": BUSYBOX, "Cmd": SLEEP}),
            ("vsrc", {"Image": BUSYBOX, "Cmd": SLEEP, "Volumes": {"/shared": {}}}),
        ):
            cid = self.api.create_container_from_config({**body, "Labels": self.labels}, name=f"{PREFIX}{name}")
            self.api.start(cid["Id"])
            _wait_running(self.api, cid["Id"])
        _exec(self.api, f"{PREFIX}vsrc", ["sh", "-c", f"printf '{PRECIOUS}' > /shared/file"])
        self.anonymous |= set(anonymous_volumes(self.api.inspect_container(f"{PREFIX}vsrc")).values())

    def cleanup(self) -> None:
        for c in self.client.containers.list(all=True, filters={"label": f"{OWNER}={os.getpid()}"}):
            # Podman's forced remove waits out the stop timeout (a `sleep` as PID 1 ignores
            # SIGTERM); a kill first ends it at once, as Docker's does.
            _quiet(lambda c=c: c.kill() if c.status == "running" else None)
            _quiet(lambda c=c: c.remove(force=True, v=True))
        for name in self.anonymous:
            _quiet(lambda name=name: self.api.remove_volume(name, force=True))
        for name in (VOLUME, MOUNT_VOLUME):
            _quiet(lambda name=name: self.api.remove_volume(name, force=True))
        for net in (NET1, NET2):
            _quiet(lambda net=net: self.api.remove_network(net))
        _quiet(lambda: self.api.remove_image(DEFAULTS_IMAGE, force=True))


@pytest.fixture(scope="module")
def client(engine: Engine) -> Iterator[Any]:
    try:
        cl = engine.client()
        cl.ping()
    except (docker.errors.DockerException, OSError) as exc:
        pytest.fail(f"Docker engine not reachable ({exc}); run `bash dev/setup`")
    for ref in (BUSYBOX, VLLM):
        try:
            cl.images.get(ref)
        except docker.errors.ImageNotFound:
            pytest.fail(f"image {ref} missing; run `bash tests/lab/images/build.sh`")
    _remove_leftovers(cl)
    yield cl
    cl.close()


@pytest.fixture(scope="module")
def lab(engine: Engine, client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("rt-fid")
    dirs = {}
    for name in ("ro", "rw", "plain", "mount", "cli"):
        (base / name).mkdir()
        dirs[name] = str(base / name)
    conn = Connection(engine.docker_url)
    conn.api  # noqa: B018 - opened here, before the corpus's threads share it
    lab = Lab(engine, client, conn, dirs)
    try:
        client.images.build(fileobj=io.BytesIO(DEFAULTS_DOCKERFILE.encode()), tag=DEFAULTS_IMAGE, rm=True,
                            labels=lab.labels)
        for net, subnet in ((NET1, NET1_SUBNET), (NET2, NET2_SUBNET)):
            ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=subnet)])
            client.networks.create(net, driver="bridge", ipam=ipam, labels=lab.labels)
        for volume in (VOLUME, MOUNT_VOLUME):
            client.volumes.create(volume, labels=lab.labels)
        lab.helpers()
        yield lab
    finally:
        lab.cleanup()
        conn.close()


@pytest.fixture(scope="module")
def corpus(lab: Lab) -> dict[str, Result]:
    cases = _cases(lab.dirs)
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lab.round_trip, cases))
    return {r.case.id: r for r in results}


CASE_IDS = [c.id for c in _cases({"ro": "", "rw": "", "plain": "", "mount": ""})]


def _result(corpus: dict[str, Result], case_id: str) -> Result:
    result = corpus[case_id]
    if result.skip is not None:
        pytest.skip(result.skip)
    if result.error is not None:
        raise result.error
    if result.refusal is not None:
        # An expected one is checked by test_fidelity_podman.py's test_refused_up_front instead.
        pytest.fail(f"the engine refuses to recreate {result.case.name}: {result.refusal}")
    return result


def _podman_ignored(case: Case, original: dict[str, Any], engine: str) -> Case:
    """The case without what Podman's create on ``engine`` ignored (:data:`PODMAN_IGNORED`).

    Raises:
        AssertionError: the original has one of them after all (Podman makes it now).
    """
    ignored = {path for path, (engines, _) in PODMAN_IGNORED.get(case.id, {}).items() if engine in engines}
    for path in ignored:
        section, _, key = path.partition(".")
        assert _known_field(section, key).is_unset(_get(original, path)), (
            f"{engine} now makes {path} ({_get(original, path)!r}): take it out of PODMAN_IGNORED[{case.id!r}]")
    spec_paths = {f"{'config' if p.startswith('Config.') else 'host_config'}.{p.partition('.')[2]}" for p in ignored}
    return dataclasses.replace(case, raw=tuple(p for p in case.raw if p not in ignored),
                               spec_keys=tuple(k for k in case.spec_keys if k not in spec_paths))


def _known_field(section: str, key: str) -> Field:
    return CONFIG[key] if section == "Config" else host_field(key)


# --------------------------------------------------------------------------- round trip

@pytest.mark.parametrize("case_id", CASE_IDS)
def test_spec_round_trips(corpus: dict[str, Result], case_id: str) -> None:
    r = _result(corpus, case_id)
    assert r.spec1 is not None and r.spec2 is not None
    for key in r.case.spec_keys:
        part, _, name = key.partition(".")
        assert name in getattr(r.spec1, part), f"{key} missing from spec1: {r.spec1.to_json()}"
    assert r.spec1.replace(name="x").comparable() == r.spec2.replace(name="x").comparable()


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_raw_fields_round_trip(corpus: dict[str, Result], case_id: str) -> None:
    r = _result(corpus, case_id)
    assert r.original is not None and r.copy is not None
    for path in r.case.raw:
        value = _get(r.original, path)
        assert value not in (None, "", [], {}, 0, False), f"{path} not set on the original"
        assert _raw(r.copy, path) == _raw(r.original, path), path
    assert _get(r.copy, "Config.Image") == _get(r.original, "Config.Image")
    assert _mount_view(r.copy) == _mount_view(r.original)
    assert _endpoint_view(r.copy) == _endpoint_view(r.original)
    for path in ("HostConfig.Tmpfs", "HostConfig.Binds", "HostConfig.Mounts", "HostConfig.PortBindings",
                 "HostConfig.RestartPolicy", "HostConfig.Init", "HostConfig.Ulimits", "HostConfig.CapAdd",
                 "HostConfig.NetworkMode", "Config.Env", "Config.Labels", "Config.Cmd", "Config.Entrypoint",
                 "Config.Healthcheck", "Config.User", "Config.WorkingDir", "Config.ExposedPorts"):
        if path == "HostConfig.NetworkMode" and r.case.id == "network-container":
            continue  # container:<id> both, checked below
        assert _raw(r.copy, path) == _raw(r.original, path), path
    if r.case.start:
        assert r.copy["State"]["Running"], r.copy["State"]


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_hostname_behaviour(corpus: dict[str, Result], case_id: str) -> None:
    r = _result(corpus, case_id)
    assert r.original is not None and r.copy is not None and r.spec1 is not None
    user_set = (r.case.kwargs or {}).get("hostname")
    shared = (r.original["HostConfig"].get("UTSMode") == "host"
              or r.original["HostConfig"]["NetworkMode"] == "host"
              or r.original["HostConfig"]["NetworkMode"].startswith("container:"))
    if user_set:
        assert r.spec1.config["Hostname"] == user_set
        assert r.copy["Config"]["Hostname"] == user_set
    elif shared:
        assert "Hostname" not in r.spec1.config
    else:
        # Auto: the engine names it after the container id; the copy gets its own.
        assert r.original["Config"]["Hostname"] == r.original["Id"][:12]
        assert "Hostname" not in r.spec1.config
        assert r.copy["Config"]["Hostname"] == r.copy["Id"][:12]


@pytest.mark.parametrize("case_id", [c for c in CASE_IDS if c in ("anonymous-volume", "mounts", "image-defaults")])
def test_anonymous_volume_data_survives(corpus: dict[str, Result], case_id: str) -> None:
    r = _result(corpus, case_id)
    assert r.original is not None and r.copy is not None
    assert r.case.data_in and set(r.data_read) == set(r.case.data_in)
    for path, text in r.data_read.items():
        assert text == PRECIOUS, path
    anon = anonymous_volumes(r.original)
    assert anon and anonymous_volumes(r.copy) == anon


def test_volumes_from_sees_source_data(corpus: dict[str, Result], lab: Lab) -> None:
    r = _result(corpus, "volumes-from")
    assert r.copy is not None and r.spec1 is not None
    assert _read_file(lab.api, r.copy["Id"], "/shared/file") == PRECIOUS
    # The source's volume comes through --volumes-from, not as a volume of this container.
    assert "Binds" not in r.spec1.host_config


def test_network_container_shares_the_owner(corpus: dict[str, Result], lab: Lab) -> None:
    r = _result(corpus, "network-container")
    assert r.original is not None and r.copy is not None
    owner = lab.api.inspect_container(f"{PREFIX}netowner")["Id"]
    assert r.original["HostConfig"]["NetworkMode"] == f"container:{owner}"
    assert r.copy["HostConfig"]["NetworkMode"] == f"container:{owner}"


def test_two_networks_both_connected(corpus: dict[str, Result]) -> None:
    r = _result(corpus, "two-networks")
    assert r.copy is not None and r.spec1 is not None
    assert set(r.spec1.networks) == {NET1, NET2}
    view = _endpoint_view(r.copy)
    assert view[NET1][:2] == (["first"], {"IPv4Address": "10.231.250.12"})
    assert view[NET2][:2] == (["second"], {"IPv4Address": "10.231.250.140"})
    assert r.copy["NetworkSettings"]["Networks"][NET2]["IPAddress"] == "10.231.250.140"


@pytest.mark.parametrize(("case_id", "network", "mac"), [
    ("mac-address", "bridge", "02:42:0a:e7:fa:01"), ("mac-address-endpoint", NET1, "02:42:0a:e7:fa:02")])
def test_mac_address_is_kept(corpus: dict[str, Result], case_id: str, network: str, mac: str) -> None:
    r = _result(corpus, case_id)
    assert r.copy is not None
    assert r.copy["NetworkSettings"]["Networks"][network]["MacAddress"] == mac


def test_image_defaults_are_not_pinned(corpus: dict[str, Result], lab: Lab) -> None:
    r = _result(corpus, "image-defaults")
    assert r.spec1 is not None
    config, host = {"AttachStdout", "AttachStderr"}, {"CgroupnsMode", "IpcMode", "ShmSize", "Runtime"}
    if lab.engine.name.startswith("podman"):
        # Podman: image defaults it still shows as the container's own, which a recreate
        # carries as they are (the same container, but shown in the dry run): HOME from the image
        # user's passwd entry, the image healthcheck and stop signal as Podman spells them, the
        # containers.conf ulimits, its log config, pid mode and swappiness.
        config |= {"Env", "Healthcheck", "StopSignal", "StopTimeout"}
        host |= {"LogConfig", "PidMode", "MemorySwappiness", "Ulimits"}
    # Nothing but the SDK's attach flags (the image carries the owner label too).
    assert set(r.spec1.config) <= config, r.spec1.config
    assert set(r.spec1.host_config) <= host, r.spec1.host_config


# --------------------------------------------------------------------------- across creators

@pytest.fixture(scope="module")
def twins(lab: Lab) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same container made by the docker CLI (``docker run``) and by the SDK."""
    src = lab.dirs["cli"]
    cli_name, sdk_name = f"{PREFIX}cli", f"{PREFIX}sdk"
    lab.engine.run(
        ["docker", "run", "-d", "--name", cli_name, "--label", f"{OWNER}={os.getpid()}",
         "-p", "48110:8000", "-p", "127.0.0.1:48111:8001", "-v", f"{src}:/x", "-v", f"{src}:/y:ro",
         "-e", "A=1", "--cap-add", "net_admin", "--restart", "unless-stopped", "--network", "bridge",
         "--log-opt", "max-size=1m", BUSYBOX, "sleep", "3600"],
        check=True,
    )
    # Created only: it would clash with the CLI one on the host ports.
    lab.client.containers.create(
        BUSYBOX, SLEEP, name=sdk_name, labels=lab.labels, use_config_proxy=False,
        ports={"8000/tcp": ("0.0.0.0", 48110), "8001/tcp": ("127.0.0.1", 48111)},
        volumes=[f"{src}:/x:rw", f"{src}:/y:ro"],
        environment={"A": "1"}, cap_add=["NET_ADMIN"], restart_policy={"Name": "unless-stopped"},
        log_config=LogConfig(type="json-file", config={"max-size": "1m"}),
    )
    return dict(lab.api.inspect_container(cli_name)), dict(lab.api.inspect_container(sdk_name))


def test_cli_and_sdk_twins_have_one_spec(lab: Lab, twins: tuple[dict[str, Any], dict[str, Any]]) -> None:
    cli, sdk = twins
    image = lab.image(BUSYBOX)
    # The spellings really differ (a docker CLI 23+ sends CAP_NET_ADMIN, an older one net_admin as
    # given), so the equality below is the normalisation's work.
    assert cli["HostConfig"]["CapAdd"] != sdk["HostConfig"]["CapAdd"]
    assert cli["HostConfig"]["Binds"] != sdk["HostConfig"]["Binds"]
    cli_spec = spec_from_inspect(cli, image).replace(name="x")
    sdk_spec = spec_from_inspect(sdk, image).replace(name="x")
    assert cli_spec.host_config["PortBindings"] and cli_spec.host_config["Binds"]
    assert cli_spec.comparable() == sdk_spec.comparable()


def test_replan_of_applied_env_is_a_noop(lab: Lab, twins: tuple[dict[str, Any], dict[str, Any]]) -> None:
    playbook = pb.Playbook.model_validate({
        "name": "set-a", "description": "A=1 everywhere", "select": {"name": f"{PREFIX}*"},
        "changes": [{"env": {"A": "1"}}],
    })
    for inspect in twins:
        result = plan(playbook, {}, [Observed(inspect, lab.image(BUSYBOX))])
        (cp,) = result.containers
        assert cp.action == "none", cp.changes
        assert [(c.field, c.action, c.reason) for c in cp.changes] == [("env.A", "noop", "already set")]
    # And the SDK twin is what the CLI one would be recreated as: the same spec.
    cli_plan = plan(playbook, {}, [Observed(twins[0], lab.image(BUSYBOX))]).containers[0]
    sdk_plan = plan(playbook, {}, [Observed(twins[1], lab.image(BUSYBOX))]).containers[0]
    assert cli_plan.after.replace(name="x").comparable() == sdk_plan.after.replace(name="x").comparable()


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_whole_config_matches(corpus: dict[str, Result], case_id: str) -> None:
    r = _result(corpus, case_id)
    assert r.original is not None and r.copy is not None
    for section in ("Config", "HostConfig"):
        diffs = {}
        for key in set(r.original[section]) | set(r.copy[section]):
            a, b = _raw(r.original, f"{section}.{key}"), _raw(r.copy, f"{section}.{key}")
            if a != b:
                diffs[key] = (a, b)
        assert not diffs, diffs


# --------------------------------------------------------------------------- the shown commands

#: Inspect fields the docker CLI cannot set as the engine holds them, per case: the view must
#: carry a remark naming each of them, and only these.
_CLI_GAPS = {
    "entrypoint-cmd": {"Config.Entrypoint"},
    "image-entrypoint-no-cmd": {"Config.Entrypoint"},
    # The SDK's stdin_open also sets StdinOnce; a detached docker run -i cannot.
    "tty-stdin": {"Config.StdinOnce"},
    # A volume declared at a bind target (the SDK's volumes=, API clients): docker run rejects it.
    "binds": {"Config.Volumes"},
    "named-volume": {"Config.Volumes"},
    "bind-declared-volume": {"Config.Volumes"},
    # One of the two system path lists emptied: only the API can.
    "masked-paths-empty": {"HostConfig.MaskedPaths"},
    # bind-recursive=readonly without a propagation: the CLI adds rprivate (the same mount).
    "mount-bind-recursive": {"HostConfig.Mounts"},
    # --gpus always asks a capability set ending in gpu.
    "device-request-other": {"HostConfig.DeviceRequests"},
}
#: What a remark on a field leaves the CLI unable to reproduce.
_GAP_SPREAD = {"Config.Entrypoint": {"Config.Entrypoint", "Config.Cmd"}}


def _expected_gaps(case_id: str, api_version: str) -> set[str]:
    gaps = set(_CLI_GAPS.get(case_id, set()))
    if case_id == "mac-address" and api_tuple(api_version) < (1, 44):
        gaps.add("Config.MacAddress")
    return gaps


def _anonymous_free_mounts(inspect: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted((m.get("Type"), m.get("Destination"), m.get("RW"),
                   None if len(m.get("Name") or "") == 64 else m.get("Name") or m.get("Source"))
                  for m in inspect.get("Mounts") or [])


def _same(table: Field | None, a: Any, b: Any) -> bool:
    """Equal as the engine reads them: null and [] are both "not set", and the CLI's spellings
    (``CAP_NET_ADMIN``, ``:rw``, env order) are the same setting (the field table's comparison)."""
    unset = table.is_unset if table is not None else is_empty
    if unset(a) or unset(b):
        return unset(a) and unset(b)
    return a == b or (table is not None and table.compare_form(a) == table.compare_form(b))


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


@functools.cache
def _cli_version() -> tuple[int, ...]:
    """The version of the docker CLI on PATH (``Docker version 20.10.24+dfsg1, build ...``)."""
    said = subprocess.run(["docker", "--version"], capture_output=True, text=True, check=True).stdout
    return _version(said.split("version", 1)[1])


@pytest.mark.parametrize("case_id", CASE_IDS)
def test_shell_commands_reproduce_the_container(corpus: dict[str, Result], lab: Lab, case_id: str) -> None:
    """``shell_before`` run with ``bash -c`` and the real docker CLI makes the same container."""
    r = _result(corpus, case_id)
    if r.shell_error is not None:
        raise r.shell_error
    assert r.original is not None and r.shell is not None
    gaps = {remark.field for remark in r.remarks}
    assert gaps == _expected_gaps(case_id, lab.engine.api_version), (r.remarks, r.shell_commands)
    skipped = {path for gap in gaps for path in _GAP_SPREAD.get(gap, {gap})}
    for section in ("Config", "HostConfig"):
        diffs = {}
        for key in set(r.original[section]) | set(r.shell[section]):
            path = f"{section}.{key}"
            if path in skipped or (section == "Config" and key in CONFIG and not CONFIG[key].compared):
                continue
            a, b = _raw(r.original, path), _raw(r.shell, path)
            if not _same(CONFIG.get(key) if section == "Config" else host_field(key), a, b):
                diffs[key] = (a, b)
        assert not diffs, (diffs, r.shell_commands)
    assert _endpoint_view(r.shell) == _endpoint_view(r.original), r.shell_commands
    assert _anonymous_free_mounts(r.shell) == _anonymous_free_mounts(r.original), r.shell_commands
    if r.case.start:
        assert r.shell["State"]["Running"], r.shell["State"]
