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
* ``IpcMode`` reads back as ``shareable`` when not set: read back as unset. Podman 4.3 reads
  ``--ipc host`` back as ``shareable`` too (its libpod API as well), though it creates it: the
  container's OCI config on the host (:attr:`Dialect.needs_oci_config`) has no IPC namespace then,
  and it reads back as ``host``. With ``--ipc host`` Podman refuses a ``ShmSize``: read back as 0.
* What Podman fills in by itself reads back as if set: ``Runtime: oci`` (its default runtime),
  ``UTSMode: private``, ``ShmSize`` 65536000 (its default), annotations it adds
  (``io.container.manager``, ``org.opencontainers.image.stopSignal``, ``org.systemd.property.*``):
  read back as unset.
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
from collections.abc import Mapping
from typing import Any

from remediate.core.naming import file_safe

Json = dict[str, Any]

DOCKER = "docker"
PODMAN = "podman"

#: What Podman adds to every container's environment (HOSTNAME is its hostname's).
_PODMAN_ENV = ("container=podman", "TERM=xterm")
#: Podman's default ``--pids-limit`` (containers.conf ``pids_limit``), shown when none was set.
_PODMAN_PIDS_LIMIT = 2048
#: Podman's default ``--shm-size`` (containers.conf ``shm_size`` 65536k).
_PODMAN_SHM_SIZE = 65_536_000
#: Annotations Podman puts on every container.
_PODMAN_ANNOTATIONS = ("io.container.manager", "org.opencontainers.image.stopSignal", "org.systemd.property.")
#: The period Podman turns ``--cpus`` into (``CpuQuota = cpus * period``).
_CPU_PERIOD = 100_000


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
    def needs_oci_config(self) -> bool:
        """Whether a container's OCI config on the host (:func:`oci_config_path`) must be read
        too: Podman 4's APIs hide ``--ipc host``."""
        return self.name == PODMAN and _version(self.version) < (5,)

    def inspect_in(self, inspect: Mapping[str, Any], oci_config: Mapping[str, Any] | None = None) -> Json:
        """A container inspect in Docker's dialect (a copy; Docker's is returned as it is);
        ``oci_config`` is its OCI config when :attr:`needs_oci_config` (None: not readable)."""
        if self.name != PODMAN:
            return dict(inspect)
        data: Json = copy.deepcopy(dict(inspect))
        config: Json = data.get("Config") or {}
        if config.get("Env"):
            config["Env"] = _env_in(config)
        _host_in(data.get("HostConfig") or {}, oci_config)
        _networks_in(data)
        state: Json = data.get("State") or {}
        if isinstance(state.get("Health"), dict) and not state["Health"].get("Status"):
            del state["Health"]
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
        can); the plan carries it as the container's refusal (a dry run shows it, an apply stops)."""
        if self.name != PODMAN:
            return None
        host = inspect.get("HostConfig") or {}
        policy = str((host.get("RestartPolicy") or {}).get("Name") or "no")
        if policy != "no" and not self.can_update:
            return (f"--restart {policy}: {self.label} has no `docker update` API, so the parked original "
                    "would start again at boot and a rollback could not give the policy back (Podman 5 has it)")
        return None


def oci_config_path(info: Mapping[str, Any], container_id: str) -> str:
    """Where Podman keeps a container's OCI config (``config.json``) under its storage root."""
    return f"{str(info.get('DockerRootDir') or '').rstrip('/')}/overlay-containers/{container_id}/userdata/config.json"


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
    for key, default, unset in (("Runtime", "oci", ""), ("UTSMode", "private", ""), ("IpcMode", "shareable", ""),
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
