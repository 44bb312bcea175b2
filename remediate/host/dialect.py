"""Engine dialects: what another engine's Docker-compatible API says differently, translated in
one place so that the rest of remediate sees, and sends, Docker's API only.

Podman (4.x and 5.x, ``podman system service``) answers the Docker API with these differences,
each either translated both ways or refused before anything changes:

* ``/version`` names the engine in ``Components`` (``"Podman Engine"``); ``/info``'s ``ID`` is
  random on every call, so an engine's key is its host's machine id plus its storage root
  (``DockerRootDir``, Podman's graph root) instead (:func:`engine_key`).
* ``HostConfig.Ulimits`` reads back as ``RLIMIT_NOFILE``, a name Podman 4.3's own create refuses
  ("invalid ulimit type"): read back as Docker's ``nofile``.
* ``--cpus`` reads back as ``NanoCpus`` plus the ``CpuPeriod``/``CpuQuota`` it was turned into,
  which create refuses together ("NanoCpus conflicts with CpuPeriod and CpuQuota"): the derived
  pair is dropped.
* ``PidsLimit`` reads back as the engine's default (2048) when none was set: read back as unset.
* ``Config.Env`` holds ``HOSTNAME=<the container's hostname>``, ``container=podman``,
  ``TERM=xterm`` and, for root, ``HOME=/root`` (or ``HOME=``), which Podman adds to every
  container: left out (a recreate gets its own; a root user's own ``HOME=/root`` is the same).
* A container on a user network reads back as ``NetworkMode: bridge``; recreated so, it would
  land on Podman's default network ``podman`` as well: read back with that network as its
  mode, as Docker shows it. A container on the default network alone reads back as Docker's
  ``bridge``.
* ``HostConfig.Binds`` read back with Docker's defaults spelled out (``:ro,rprivate,rbind``):
  read back without them (``:ro``), as given.
* ``HostConfig.Devices`` reads back with empty ``CgroupPermissions``, which create refuses
  ("invalid device mode"): read back as Podman's default, ``rwm``.
* ``IpcMode`` reads back as ``shareable``, Podman's default, also when not set: kept as it is (a
  recreate asks for the same). Podman 4.3 reads ``--ipc host`` back as ``shareable`` too (its
  libpod API as well), though it creates it: the container's OCI config has no IPC namespace
  then, and it reads back as ``host``. With ``--ipc host`` Podman refuses a ``ShmSize``: read
  back as 0.
* What Podman fills in by itself reads back as if set: ``UTSMode: private``, ``ShmSize``
  65536000 (its default), annotations it adds (``io.container.manager``,
  ``org.opencontainers.image.stopSignal``, ``org.systemd.property.*``): read back as unset.

What the Docker API does not show at all is read from the container's libpod inspect
(``GET /libpod/containers/{id}/json`` on the same socket) and its OCI config on the host
(:func:`oci_config_path`, written at its first start), both in :class:`Hidden`:

* ``Runtime`` reads back as ``oci``: the libpod inspect's ``OCIRuntime`` (``runc``, ``crun``).
* ``CgroupnsMode`` is missing: the libpod inspect's ``CgroupMode`` (``host``, ``private``).
* ``PublishAllPorts`` reads back as false on Podman 4.3, ``UsernsMode`` as empty on Podman 5 with
  ``--userns host``: from the annotations Podman records them in (``io.podman.annotations.*``).
* ``Sysctls`` are missing: the OCI config's ``linux.sysctl``. ``DeviceCgroupRules`` are missing:
  the OCI config's device allow rules, when the container has no ``--device`` of its own.
  ``MaskedPaths`` and ``ReadonlyPaths`` are missing: ``[]`` when the OCI config has none.
* An anonymous volume (``-v /data``, ``--mount type=volume,target=/data``) reads back as a bind
  of a volume named by its 64-digit id, without ``Config.Volumes``: read back as the declared
  volume it is, unless it is another container's that comes through ``--volumes-from``
  (:attr:`Hidden.shared`), which is left out, as Docker shows it.

What Podman's Docker API cannot create, or a never-started container's hidden settings
(:data:`UNREAD`), are refused up front by :meth:`Dialect.refusal`, from one table per Podman
generation (:data:`_UNSUPPORTED`). Static IPs and MAC addresses on a user network are kept by
Podman but shown as any address is (its libpod inspect too): a recreate gets new ones, which the
plan says (:meth:`Dialect.caveat`).
* ``State.Health`` is present with an empty ``Status`` on containers without a healthcheck:
  read back as absent (else verification waits for a health that never comes).
* Podman 4.3 has no ``POST /containers/{id}/update`` (``docker update``): a container with a
  restart policy is refused there, as its parked original could not be made inert, nor a
  rolled-back one get its policy back (:meth:`Dialect.can_update`); a change of limits alone,
  which Docker and Podman 5 make in place (``docker update``), is planned as a recreate there.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from remediate.core.fields import CONFIG, host_field
from remediate.core.naming import file_safe

Json = dict[str, Any]

DOCKER = "docker"
PODMAN = "podman"

#: Key of a translated Podman inspect: the inspect paths whose value could not be read -> why
#: (the container's OCI config is not there before its first start, or does not tell them apart).
UNREAD = "RemediateUnread"
_NO_OCI = ("the container's OCI config, which does, is not there (it never started) or cannot be read, so a "
           "recreate could drop them (start it once, or recreate it with podman run by hand)")
_DEVICE_RULES = ("its OCI config does not tell them from --device's own rules, so a recreate could drop them "
                 "(recreate it with podman run by hand)")

#: What Podman adds to every container's environment (HOSTNAME is its hostname's).
_PODMAN_ENV = ("container=podman", "TERM=xterm")
#: Podman's default ``--pids-limit`` (containers.conf ``pids_limit``), shown when none was set.
_PODMAN_PIDS_LIMIT = 2048
#: Podman's default ``--shm-size`` (containers.conf ``shm_size`` 65536k).
_PODMAN_SHM_SIZE = 65_536_000
#: Annotations Podman puts on containers by itself, or records settings shown elsewhere in.
_PODMAN_ANNOTATIONS = ("io.container.manager", "org.opencontainers.image.stopSignal", "org.systemd.property.",
                       "io.podman.annotations.", "io.kubernetes.cri-o.")
#: The period Podman turns ``--cpus`` into (``CpuQuota = cpus * period``).
_CPU_PERIOD = 100_000
#: What the OCI config holds that the Docker API does not show.
_FROM_OCI = ("HostConfig.Sysctls", "HostConfig.DeviceCgroupRules", "HostConfig.MaskedPaths")
_ANON_VOLUME = re.compile(r"^[0-9a-f]{64}$")


@dataclasses.dataclass(frozen=True)
class Hidden:
    """What a Podman container's Docker inspect does not show, read elsewhere.

    Attributes:
        libpod: its libpod inspect (``GET /libpod/containers/{id}/json``), None when not read.
        oci: its OCI config (:func:`oci_config_path`), None when not there or unreadable.
        shared: names of the volumes it gets through ``--volumes-from`` (the source containers').
    """

    libpod: Json | None = None
    oci: Json | None = None
    shared: frozenset[str] = frozenset()


@dataclasses.dataclass(frozen=True)
class _Unsupported:
    """A setting Podman's Docker API cannot create (a recreate would drop it), from ``since``
    (a Podman version that can: None, none can), with the reason a plan refuses it for."""

    path: str
    since: tuple[int, ...] | None
    reason: str
    shown: Callable[[Any], str] = lambda value: json.dumps(value, separators=(",", ":"), default=str)
    #: Whether a value is set (None: as the field table says).
    is_set: Callable[[Any], bool] | None = None


#: The table of settings each Podman generation's Docker API create cannot make; a container
#: that has one is refused before anything stops (``{value}``, ``{label}`` fill the reason in).
_UNSUPPORTED: tuple[_Unsupported, ...] = (
    _Unsupported("HostConfig.RestartPolicy", (5,),
                 "--restart {value}: {label} has no `docker update` API, so the parked original would start again "
                 "at boot and a rollback could not give the policy back (Podman 5 has it)",
                 shown=lambda value: str(value.get("Name")),
                 is_set=lambda value: str((value or {}).get("Name") or "no") != "no"),
    _Unsupported("HostConfig.Annotations", (5,),
                 "--annotation {value}: {label}'s Docker API creates no annotations, so a recreate would drop them "
                 "(recreate it with podman run by hand, or on Podman 5)"),
    _Unsupported("HostConfig.DeviceCgroupRules", (5,),
                 "--device-cgroup-rule {value}: {label}'s Docker API creates no device cgroup rules, so a recreate "
                 "would drop them (recreate it with podman run by hand, or on Podman 5)"),
    _Unsupported("HostConfig.MaskedPaths", None,
                 "unmasked system paths (--security-opt unmask=...): Podman's Docker API masks them again on "
                 "create (recreate it with podman run by hand)"),
    _Unsupported("HostConfig.ReadonlyPaths", None,
                 "writable system paths (--security-opt unmask=...): Podman's Docker API makes them read-only again "
                 "on create (recreate it with podman run by hand)"),
    _Unsupported("HostConfig.DeviceRequests", None,
                 "device requests {value} (--gpus): Podman's Docker API creates none, so a recreate would drop them "
                 "(recreate it with podman run --device by hand)"),
    _Unsupported("Config.Domainname", None,
                 "--domainname {value}: Podman's Docker API creates none, so a recreate would drop it "
                 "(recreate it with podman run by hand)"),
    _Unsupported("Config.MacAddress", None,
                 "--mac-address {value}: Podman's Docker API does not give it on the default network, so a "
                 "recreate would drop it (recreate it with podman run by hand)"),
)


@dataclasses.dataclass(frozen=True)
class Dialect:
    """The API dialect of one engine.

    Attributes:
        name: :data:`DOCKER` or :data:`PODMAN`.
        version: the engine's own version (``"26.1.5"``, ``"4.3.1"``).
    """

    name: str
    version: str

    @property
    def label(self) -> str:
        """``"Podman 4.3.1"``, ``"Docker 26.1.5"``."""
        return f"{self.name.capitalize()} {self.version}"

    @property
    def can_update(self) -> bool:
        """Whether ``POST /containers/{id}/update`` exists (Podman has it from 5.0)."""
        return self.name != PODMAN or _version(self.version) >= (5,)

    @property
    def reads_hidden(self) -> bool:
        """Whether a container's :class:`Hidden` settings must be read too (Podman's API hides some)."""
        return self.name == PODMAN

    def inspect_in(self, inspect: Mapping[str, Any], hidden: Hidden | None = None) -> Json:
        """A container inspect in Docker's dialect (a copy; Docker's is returned as it is);
        ``hidden``: what Podman's inspect does not show (see :class:`Hidden`; None: not read)."""
        if self.name != PODMAN:
            return dict(inspect)
        hidden = hidden or Hidden()
        data: Json = copy.deepcopy(dict(inspect))
        config: Json = data.setdefault("Config", {})
        host: Json = data.setdefault("HostConfig", {})
        if config.get("Env"):
            config["Env"] = _env_in(config)
        _libpod_in(host, hidden.libpod)
        _host_in(host, hidden.oci)
        unread = dict.fromkeys(_oci_in(host, hidden.oci), _DEVICE_RULES)
        _volumes_in(data, hidden.shared)
        _networks_in(data)
        state: Json = data.get("State") or {}
        if isinstance(state.get("Health"), dict) and not state["Health"].get("Status"):
            del state["Health"]
        if hidden.oci is None and hidden.libpod is not None:
            unread = dict.fromkeys(_FROM_OCI, _NO_OCI)  # read from an engine (the libpod inspect was)
        if unread:
            data[UNREAD] = unread
        return data

    def network_out(self, name: str) -> str:
        """The engine's name of a network (Docker's default ``bridge`` is Podman's ``podman``)."""
        return "podman" if self.name == PODMAN and name == "bridge" else name

    def create_out(self, body: Mapping[str, Any]) -> Json:
        """A create body (Docker's dialect) as this engine creates the same container."""
        data = dict(body)
        endpoints = (data.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
        if self.name == PODMAN and "bridge" in endpoints:
            endpoints = {self.network_out(k): v for k, v in endpoints.items()}
            data["NetworkingConfig"] = {**data["NetworkingConfig"], "EndpointsConfig": endpoints}
        return data

    def refusal(self, inspect: Mapping[str, Any]) -> str | None:
        """Why this engine cannot recreate the container exactly through its Docker API (None: it
        can): a setting of :data:`_UNSUPPORTED` on this generation, or settings that could not be
        read (:data:`UNREAD`). The plan carries it as the container's refusal (a dry run shows
        it, an apply stops)."""
        if self.name != PODMAN:
            return None
        version = _version(self.version)
        for entry in _UNSUPPORTED:
            section, _, key = entry.path.partition(".")
            table = CONFIG[key] if section == "Config" else host_field(key)
            value = (inspect.get(section) or {}).get(key)
            is_set = entry.is_set(value) if entry.is_set is not None else not table.is_unset(value)
            if (entry.since is None or version < entry.since) and is_set:
                return entry.reason.format(value=entry.shown(value), label=self.label)
        unread: Mapping[str, str] = inspect.get(UNREAD) or {}
        if unread:
            why = next(iter(unread.values()))
            paths = ", ".join(path for path, said in unread.items() if said == why)
            return f"{paths}: {self.label}'s Docker API does not show them, and {why}"
        return None

    def caveat(self, inspect: Mapping[str, Any]) -> str | None:
        """What a recreate may change that this engine does not show (None: nothing): Podman keeps
        static IPs and MAC addresses on a user network but shows them as any address, so the
        plan of a recreate names the networks (a dry run shows it)."""
        if self.name != PODMAN:
            return None
        networks = [n for n in (inspect.get("NetworkSettings") or {}).get("Networks") or {}
                    if n not in ("bridge", "podman", "host", "none")]
        if not networks:
            return None
        return (f"{self.label} does not show static IPs or MAC addresses: on {', '.join(sorted(networks))} the "
                "recreated container gets addresses of its own (if it had static ones, recreate it with podman run "
                "by hand)")


def oci_config_path(info: Mapping[str, Any], container_id: str) -> str:
    """Where Podman keeps a container's OCI config (``config.json``) under its storage root."""
    return f"{str(info.get('DockerRootDir') or '').rstrip('/')}/overlay-containers/{container_id}/userdata/config.json"


#: ``Server`` of an engine's answers: ``Docker/26.1.5 (linux)``, ``Libpod/4.3.1 (linux)``.
_SERVER = re.compile(r"(Docker|Libpod)/(\S+)")


def from_ping(headers: Mapping[str, str]) -> tuple[str, Dialect] | None:
    """The API version and the dialect an engine's ``/_ping`` answer names in its headers
    (``Api-Version``, ``Server``), or None when it does not name both (a proxy in between, say):
    then its ``/version`` (:func:`detect`) tells them. A ping costs the engine nothing; its
    ``/version`` asks containerd and runc theirs."""
    api = headers.get("Api-Version")
    server = _SERVER.match(headers.get("Server") or "")
    if not api or server is None:
        return None
    return api, Dialect(PODMAN if server[1] == "Libpod" else DOCKER, server[2])


def detect(version: Mapping[str, Any]) -> Dialect:
    """The dialect of an engine from its ``/version`` answer."""
    for component in version.get("Components") or []:
        if str(component.get("Name", "")).startswith("Podman"):
            return Dialect(PODMAN, str(component.get("Version") or version.get("Version") or "?"))
    return Dialect(DOCKER, str(version.get("Version") or "?"))


def engine_key(dialect: Dialect, info: Mapping[str, Any], machine_id: str) -> str:
    """A key of one engine that stays the same across calls and restarts.

    Docker: its ``ID``, host name and data root. Podman's ``ID`` is new on every call, so the
    host's ``machine_id`` and its storage root (``DockerRootDir``: two Podman services on one
    host have two) stand in for it.
    """
    name = file_safe(str(info.get("Name") or ""), fill="-", default="engine")
    if dialect.name == PODMAN:
        what = f"podman|{machine_id}|{info.get('Name')}|{info.get('DockerRootDir')}"
    else:
        what = f"{info.get('ID')}|{info.get('Name')}|{info.get('DockerRootDir')}"
    return f"{name}-{hashlib.sha256(what.encode()).hexdigest()[:10]}"


def _env_in(config: Mapping[str, Any]) -> list[str]:
    """The environment without what Podman adds to every container."""
    own = {*_PODMAN_ENV, f"HOSTNAME={config.get('Hostname')}"}
    if str(config.get("User") or "root").partition(":")[0] in ("root", "0"):
        own |= {"HOME=/root", "HOME="}
    return [e for e in config["Env"] if e not in own]


def _host_in(host: Json, oci_config: Mapping[str, Any] | None) -> None:
    """``HostConfig`` in Docker's terms, in place (see the module docstring)."""
    if host.get("Ulimits"):
        host["Ulimits"] = [{**u, "Name": _ulimit_name(str(u.get("Name", "")))} for u in host["Ulimits"]]
    if host.get("NanoCpus") and host.get("CpuQuota") == host["NanoCpus"] * (host.get("CpuPeriod") or
                                                                           _CPU_PERIOD) // 10**9:
        host["CpuQuota"] = 0
        host["CpuPeriod"] = 0
    for key, default, unset in (("Runtime", "oci", ""), ("UTSMode", "private", ""),
                                ("ShmSize", _PODMAN_SHM_SIZE, 0), ("PidsLimit", _PODMAN_PIDS_LIMIT, 0)):
        if host.get(key) == default:
            host[key] = unset
    if host.get("Annotations"):
        host["Annotations"] = {k: v for k, v in host["Annotations"].items()
                               if not k.startswith(_PODMAN_ANNOTATIONS)} or None
    if host.get("Binds"):
        host["Binds"] = [_bind_in(str(b)) for b in host["Binds"]]
    if host.get("Devices"):
        host["Devices"] = [{**d, "CgroupPermissions": d.get("CgroupPermissions") or "rwm"} for d in host["Devices"]]
    namespaces = ((oci_config or {}).get("linux") or {}).get("namespaces")
    if namespaces is not None and not any(n.get("type") == "ipc" for n in namespaces):
        host["IpcMode"] = "host"
    if host.get("IpcMode") == "host":
        host["ShmSize"] = 0  # the host's /dev/shm; create refuses a size with it


def _libpod_in(host: Json, libpod: Mapping[str, Any] | None) -> None:
    """What the libpod inspect shows and the Docker one does not, into ``HostConfig``, in place."""
    if libpod is None:
        return
    if host.get("Runtime") in ("oci", "", None) and libpod.get("OCIRuntime"):
        host["Runtime"] = str(libpod["OCIRuntime"])
    mode = (libpod.get("HostConfig") or {}).get("CgroupMode")
    if mode in ("host", "private") and not host.get("CgroupnsMode"):
        host["CgroupnsMode"] = mode
    annotations: Json = (libpod.get("Config") or {}).get("Annotations") or {}
    if annotations.get("io.podman.annotations.publish-all") == "TRUE":
        host["PublishAllPorts"] = True
    if annotations.get("io.podman.annotations.userns") and not host.get("UsernsMode"):
        host["UsernsMode"] = str(annotations["io.podman.annotations.userns"])
    if annotations and not host.get("Annotations"):
        host["Annotations"] = dict(annotations)  # Podman 4.3's Docker inspect shows none


def _oci_in(host: Json, oci_config: Mapping[str, Any] | None) -> list[str]:
    """What only the OCI config shows, into ``HostConfig``, in place; returns the paths it holds
    but cannot be told apart (device rules beside ``--device``'s own)."""
    if oci_config is None:
        return []
    linux: Json = oci_config.get("linux") or {}
    if linux.get("sysctl") and not host.get("Sysctls"):
        host["Sysctls"] = dict(linux["sysctl"])
    if host.get("Privileged"):
        return []  # every device, no masked path: what --privileged makes
    for key, oci_key in (("MaskedPaths", "maskedPaths"), ("ReadonlyPaths", "readonlyPaths")):
        if not linux.get(oci_key) and host.get(key) is None:
            host[key] = []
    rules = [r for r in (linux.get("resources") or {}).get("devices") or [] if r.get("allow")]
    if not rules or host.get("DeviceCgroupRules"):
        return []
    if host.get("Devices"):
        # Each --device adds a rule of its own; more than those are --device-cgroup-rule's.
        return ["HostConfig.DeviceCgroupRules"] if len(rules) > len(host["Devices"]) else []
    host["DeviceCgroupRules"] = [_device_rule(r) for r in rules]
    return []


def _device_rule(rule: Mapping[str, Any]) -> str:
    """An OCI device allow rule as ``--device-cgroup-rule`` writes it (``c 1:5 r``, ``b 7:* rmw``)."""
    def number(key: str) -> str:
        return "*" if rule.get(key) is None or rule[key] < 0 else str(rule[key])

    return f"{rule.get('type') or 'a'} {number('major')}:{number('minor')} {rule.get('access') or 'rwm'}"


def _volumes_in(data: Json, shared: frozenset[str]) -> None:
    """Anonymous volumes read back as binds of their ids: declared volumes again (``Config.Volumes``),
    or left out when they come through ``--volumes-from`` (``shared``). A read-only one stays a
    bind of its id (a declared volume cannot be read-only; the recreate gets it by name)."""
    host: Json = data["HostConfig"]
    kept: list[str] = []
    declared: Json = {}
    for bind in host.get("Binds") or []:
        parts = str(bind).split(":")
        options = parts[2].split(",") if len(parts) > 2 else []
        if len(parts) > 1 and _ANON_VOLUME.match(parts[0]) and (parts[0] in shared or "ro" not in options):
            if parts[0] not in shared:
                declared[parts[1]] = {}
            continue
        kept.append(str(bind))
    if declared:
        data["Config"]["Volumes"] = {**(data["Config"].get("Volumes") or {}), **declared}
    if host.get("Binds"):
        host["Binds"] = kept or None


#: Bind options Podman spells out that are Docker's defaults (a recursive, rprivate bind).
_BIND_DEFAULTS = ("rbind", "rprivate")


def _bind_in(bind: str) -> str:
    parts = bind.split(":")
    if len(parts) < 3 or "rbind" not in parts[-1].split(","):
        return bind  # a non-recursive bind's propagation is its own
    options = [o for o in parts[-1].split(",") if o not in _BIND_DEFAULTS]
    return ":".join(parts[:-1] + ([",".join(options)] if options else []))


def _ulimit_name(name: str) -> str:
    return name.removeprefix("RLIMIT_").lower()


def _networks_in(data: Json) -> None:
    """Podman lists its default network ``podman`` for a container on a user network; Docker's
    default network is ``bridge``."""
    host: Json = data.get("HostConfig") or {}
    networks: Json = (data.get("NetworkSettings") or {}).get("Networks") or {}
    mode = str(host.get("NetworkMode") or "")
    if mode not in ("bridge", "default", "podman") or not networks:
        return
    if set(networks) == {"podman"}:
        host["NetworkMode"] = "bridge"
        # Podman aliases the hostname there; the default network has no DNS, Docker's no aliases.
        networks["bridge"] = {**networks.pop("podman"), "Aliases": None}
    elif "podman" not in networks:
        host["NetworkMode"] = next(iter(networks))


def _version(text: str) -> tuple[int, ...]:
    parts = []
    for part in text.split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts)
