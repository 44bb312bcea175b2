"""A ContainerSpec as the equivalent ``docker run`` options, one per line: the dry-run view.

Pure; the values of secret-looking env vars and flags go through a ``redact`` callback.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from typing import Any

from remediate.redaction import MASK
from remediate.spec import ContainerSpec, env_to_dict


def _quote(value: str) -> str:
    return value if value == MASK else shlex.quote(value)


def run_lines(spec: ContainerSpec, *, redact: Callable[[str, str], str] | None = None) -> list[str]:
    """The spec as ``docker run`` options, one per line, ending with the image and command.

    Args:
        spec: the spec to render.
        redact: ``(name, value) -> shown value`` applied to env values and command flag values.
    """
    show = redact or (lambda _name, value: value)
    lines = [f"--name {spec.name}"]
    if spec.platform:
        lines.append(f"--platform {spec.platform}")
    for key, value in spec.config.items():
        lines.extend(_config_lines(key, value, show))
    for key, value in spec.host_config.items():
        lines.extend(_host_lines(key, value, spec.network_mode))
    for net, ep in spec.networks.items():
        if net != spec.network_mode and not (net == "bridge" and spec.network_mode == "default"):
            lines.append(f"--network {net}")
        for alias in ep.get("Aliases") or []:
            lines.append(f"--network-alias {alias}" + ("" if net == spec.network_mode else f"  # on {net}"))
        for ip_key, flag in (("IPv4Address", "--ip"), ("IPv6Address", "--ip6")):
            if (ep.get("IPAMConfig") or {}).get(ip_key):
                lines.append(f"{flag} {ep['IPAMConfig'][ip_key]}")
        for link in ep.get("Links") or []:
            lines.append(f"--link {link}")
    lines.append(spec.image)
    lines.extend(command_lines(spec.args, show))
    return lines


def command_lines(args: list[str], show: Callable[[str, str], str]) -> list[str]:
    """Render a command one flag (with its value) per line, redacting secret flag values."""
    lines: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg.startswith("--") and "=" in arg:
            name, _, value = arg.partition("=")
            lines.append(f"  {name}={_quote(show(name, value))}")
            i += 1
        elif arg.startswith("-") and i + 1 < len(args) and not args[i + 1].startswith("-"):
            lines.append(f"  {arg} {_quote(show(arg, args[i + 1]))}")
            i += 2
        else:
            lines.append(f"  {shlex.quote(arg)}")
            i += 1
    return lines


_CONFIG_FLAGS = {
    "Hostname": "--hostname", "Domainname": "--domainname", "User": "--user",
    "WorkingDir": "--workdir", "StopSignal": "--stop-signal", "StopTimeout": "--stop-timeout",
    "MacAddress": "--mac-address",
}


def _config_lines(key: str, value: Any, show: Callable[[str, str], str]) -> list[str]:
    if key in _CONFIG_FLAGS:
        return [f"{_CONFIG_FLAGS[key]} {value}"]
    if key == "Env":
        return [f"--env {k}" if v is None else f"--env {k}={_quote(show(k, v))}"
                for k, v in env_to_dict(value).items()]
    if key == "Labels":
        return [f"--label {k}={shlex.quote(str(v))}" for k, v in value.items()]
    if key == "ExposedPorts":
        return [f"--expose {p}" for p in value]
    if key == "Volumes":
        return [f"--volume {p}" for p in value]
    if key == "Entrypoint":
        return [f"--entrypoint {shlex.quote(' '.join(value) if isinstance(value, list) else value)}"]
    if key == "Tty":
        return ["--tty"]
    if key == "OpenStdin":
        return ["--interactive"]
    if key == "Healthcheck":
        return _health_lines(value)
    if key == "Cmd" or key.startswith("Attach") or key == "StdinOnce":
        return []
    return [f"--{key.lower()} {value}"]


_HEALTH_FLAGS = {"Interval": "--health-interval", "Timeout": "--health-timeout", "Retries": "--health-retries",
                 "StartPeriod": "--health-start-period", "StartInterval": "--health-start-interval"}


def _health_lines(check: Mapping[str, Any]) -> list[str]:
    test = list(check.get("Test") or [])
    if test[:1] == ["NONE"]:
        return ["--no-healthcheck"]
    if test[:1] == ["CMD-SHELL"]:
        lines = [f"--health-cmd {shlex.quote(' '.join(test[1:]))}"]
    elif test[:1] == ["CMD"]:
        lines = [f"--health-cmd {shlex.quote(json.dumps(test[1:]))}"]
    else:
        lines = []
    for key, flag in _HEALTH_FLAGS.items():
        value = check.get(key)
        if value:
            # Durations are nanoseconds in the API; Retries is a count.
            lines.append(f"{flag} {value}" if key == "Retries" else f"{flag} {_duration(int(value))}")
    return lines


def _duration(nanoseconds: int) -> str:
    if nanoseconds % 1_000_000_000 == 0:
        return f"{nanoseconds // 1_000_000_000}s"
    return f"{nanoseconds / 1_000_000:g}ms"


_HOST_FLAGS = {
    "NetworkMode": "--network", "IpcMode": "--ipc", "PidMode": "--pid", "UTSMode": "--uts",
    "UsernsMode": "--userns", "CgroupnsMode": "--cgroupns", "ShmSize": "--shm-size",
    "Runtime": "--runtime", "Memory": "--memory", "MemorySwap": "--memory-swap",
    "MemoryReservation": "--memory-reservation", "NanoCpus": "--cpus", "CpuShares": "--cpu-shares",
    "CpusetCpus": "--cpuset-cpus", "CpusetMems": "--cpuset-mems", "PidsLimit": "--pids-limit",
    "OomScoreAdj": "--oom-score-adj", "CgroupParent": "--cgroup-parent", "CpuQuota": "--cpu-quota",
    "CpuPeriod": "--cpu-period", "VolumeDriver": "--volume-driver", "Isolation": "--isolation",
    "MemorySwappiness": "--memory-swappiness", "BlkioWeight": "--blkio-weight",
}
_HOST_LIST_FLAGS = {
    "Binds": "--volume", "CapAdd": "--cap-add", "CapDrop": "--cap-drop", "Dns": "--dns",
    "DnsSearch": "--dns-search", "DnsOptions": "--dns-option", "ExtraHosts": "--add-host",
    "GroupAdd": "--group-add", "SecurityOpt": "--security-opt", "Links": "--link",
    "VolumesFrom": "--volumes-from", "DeviceCgroupRules": "--device-cgroup-rule",
}
_HOST_BOOL_FLAGS = {
    "Privileged": "--privileged", "ReadonlyRootfs": "--read-only", "Init": "--init",
    "AutoRemove": "--rm", "PublishAllPorts": "--publish-all", "OomKillDisable": "--oom-kill-disable",
}
#: Engine defaults not worth a line in the ``docker run`` view (still carried on recreate).
_QUIET_DEFAULTS = {
    "IpcMode": ("private", "shareable"), "CgroupnsMode": ("host", "private"),
    "ShmSize": (67108864,), "Runtime": ("runc",),
}


def _host_lines(key: str, value: Any, mode: str) -> list[str]:
    if value in _QUIET_DEFAULTS.get(key, ()):
        return []
    if key in _HOST_BOOL_FLAGS:
        return [_HOST_BOOL_FLAGS[key]]
    if key in _HOST_LIST_FLAGS:
        return [f"{_HOST_LIST_FLAGS[key]} {v}" for v in value]
    if key == "NetworkMode" and mode.startswith("container:"):
        return [f"--network container:{mode.split(':', 1)[1][:12]}"]
    if key == "NanoCpus":
        return [f"--cpus {value / 1e9:g}"]
    if key in _HOST_FLAGS:
        return [f"{_HOST_FLAGS[key]} {value}"]
    if key == "PortBindings":
        return [f"--publish {_publish(port, b)}" for port, binds in value.items() for b in binds or [{}]]
    if key == "RestartPolicy":
        name, retries = value.get("Name"), value.get("MaximumRetryCount")
        return [f"--restart {name}:{retries}" if retries else f"--restart {name}"]
    if key == "LogConfig":
        return [f"--log-driver {value.get('Type')}"] + [
            f"--log-opt {k}={v}" for k, v in (value.get("Config") or {}).items()]
    if key == "Mounts":
        return [f"--mount {_mount_text(m)}" for m in value]
    if key == "Tmpfs":
        return [f"--tmpfs {p}" + (f":{o}" if o else "") for p, o in value.items()]
    if key == "Sysctls":
        return [f"--sysctl {k}={v}" for k, v in value.items()]
    if key == "Ulimits":
        return [f"--ulimit {u['Name']}={u.get('Soft')}:{u.get('Hard')}" for u in value]
    if key == "Devices":
        return [f"--device {d['PathOnHost']}:{d['PathInContainer']}:{d.get('CgroupPermissions', 'rwm')}"
                for d in value]
    if key == "DeviceRequests":
        return [f"--gpus {_gpus_text(r)}" for r in value]
    return [f"# {key}={value!r}"]


def _publish(port: str, binding: Mapping[str, Any]) -> str:
    host_ip, host_port = binding.get("HostIp") or "", binding.get("HostPort") or ""
    container_port = port.removesuffix("/tcp")
    if host_ip:
        return f"{host_ip}:{host_port}:{container_port}"
    return f"{host_port}:{container_port}" if host_port else container_port


def _mount_text(mount: Mapping[str, Any]) -> str:
    parts = [f"type={mount.get('Type')}"]
    if mount.get("Source"):
        parts.append(f"source={mount['Source']}")
    parts.append(f"target={mount.get('Target')}")
    if mount.get("ReadOnly"):
        parts.append("readonly")
    return ",".join(parts)


def _gpus_text(request: Mapping[str, Any]) -> str:
    if request.get("Count") == -1:
        return "all"
    if request.get("DeviceIDs"):
        return "device=" + ",".join(request["DeviceIDs"])
    return str(request.get("Count"))
