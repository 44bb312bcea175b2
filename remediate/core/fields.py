"""The field table: everything remediate knows about a container option, in one place.

One :class:`Field` per key of the engine's create body (``Config``, ``HostConfig``) and of a
network endpoint. A field says how its inspect value is read (which values mean "not set"), how
two values compare (engine, CLI, SDK and compose spellings of the same thing), how it is written
as ``docker run`` options, whether its values can carry secrets, and the first engine API that
has it (:func:`too_new`: planning refuses a recreate that needs a newer engine).
:mod:`remediate.core.spec` (extraction, comparison, the API check), :mod:`remediate.core.planner`
(network changes, mounts, and whether a change is made in place by ``docker update``: the
``live_update`` column) and :mod:`remediate.core.runview` (the ``docker run`` view) are driven by
it. Keys the table does not know are still carried into the create body untouched; the view shows
them as remarks.

Pure: plain values in, plain values out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Json = dict[str, Any]
Section = Literal["Config", "HostConfig", "Endpoint"]
Kind = Literal["scalar", "bool", "list", "set", "map", "object"]
#: One ``docker run`` option: its tokens (``("--env", "A=1")``), unquoted.
Option = tuple[str, ...]


@dataclass(frozen=True)
class Remark:
    """Something the ``docker run`` view cannot express exactly (remediate carries it anyway).

    Attributes:
        field: the inspect path it concerns (``Config.MacAddress``).
        text: one line for a reader.
    """

    field: str
    text: str


@dataclass(frozen=True)
class RenderContext:
    """What rendering a field needs beyond its value.

    Attributes:
        api: the engine's API version as ``(major, minor)``, or None when unknown.
        show: ``(name, value) -> shown value``, applied to the values of secret-bearing fields.
        host_config: the spec's whole ``HostConfig``, for options the CLI spells across fields
            (``systempaths=unconfined``, a volume declared at a bind target).
    """

    api: tuple[int, int] | None = None
    show: Callable[[str, str], str] = lambda _name, value: value
    host_config: Mapping[str, Any] = field(default_factory=dict)

    def api_at_least(self, version: str | None) -> bool:
        """True when the engine has ``version`` (or the version is unknown)."""
        return version is None or self.api is None or self.api >= api_tuple(version)


Rendered = list[Option | Remark]
Renderer = Callable[["Field", Any, RenderContext], Rendered]


@dataclass(frozen=True)
class Field:
    """One container option.

    Attributes:
        key: the API key (``Env``, ``PortBindings``, ``Aliases``).
        section: where it lives in inspect and in the create body.
        kind: the shape of its value; ``set`` compares without order.
        flag: the ``docker run`` option, or None when the CLI has none.
        render: how the value becomes options (default: by ``kind`` and ``flag``).
        normalise: comparison form (default: ``set`` values sorted).
        secret: values can carry secrets; they are shown through ``RenderContext.show``.
        min_api: first engine API version that has it (an older engine drops it at create).
        unset: values besides None, "", 0, False, [] and {} that mean "not set".
        zero_is_set: 0 and False are real values (``--memory-swappiness 0``).
        compared: False for keys that only record how a client attached.
        quiet: engine defaults that are carried but not worth a ``docker run`` line.
        netns_owned: belongs to the network namespace: dropped when joining another one
            (``any``: host, none and container: modes; ``container``: container: mode only).
        engine_filled: derived by the engine; never copied into a create body (unless
            ``empty_is_set`` and the value is an empty list).
        empty_is_set: an empty list is a real value: the user cleared what the engine fills in
            (``--security-opt systempaths=unconfined`` empties MaskedPaths and ReadonlyPaths).
        refuse: why a container that has this option set cannot be recreated safely; planning
            refuses it up front with this reason.
        image_default: an image supplies a default for it (a Dockerfile instruction): unless the
            user set it, a recreate on another image takes the new image's (the ``image`` change).
        live_update: the engine changes it on the running container (``docker update``): a plan
            that changes only such fields updates the container in place, no recreate.
        live_unset: the value ``docker update`` sets to mean "not set" (None: it has none, since
            the engine reads 0 as "unchanged": a change from or to unset is made by a recreate,
            as an update could not give the previous value back).
    """

    key: str
    section: Section
    kind: Kind = "scalar"
    flag: str | None = None
    render: Renderer | None = None
    normalise: Callable[[Any], Any] | None = None
    secret: bool = False
    min_api: str | None = None
    unset: tuple[Any, ...] = ()
    zero_is_set: bool = False
    compared: bool = True
    quiet: tuple[Any, ...] = ()
    netns_owned: Literal["any", "container"] | None = None
    engine_filled: bool = False
    empty_is_set: bool = False
    refuse: str | None = None
    image_default: bool = False
    live_update: bool = False
    live_unset: Any = None

    @property
    def path(self) -> str:
        """``Section.Key``, as inspect nests it."""
        return f"{self.section}.{self.key}"

    def is_unset(self, value: Any) -> bool:
        """True when an inspect value means the option was not set."""
        if value == [] and self.empty_is_set:
            return False
        if value is None or value == "" or value == [] or value == {}:
            return True
        if (value is False or (value == 0 and not isinstance(value, bool))) and not self.zero_is_set:
            return True
        return value in self.unset

    def compare_form(self, value: Any) -> Any:
        """The value as compared: engine and client spellings of one setting become equal."""
        if self.normalise is not None:
            return self.normalise(value)
        if self.kind == "set":
            return sorted(value, key=repr)
        return value

    def options(self, value: Any, ctx: RenderContext) -> Rendered:
        """The value as ``docker run`` options (and remarks where the CLI falls short)."""
        if value in self.quiet:
            return []
        if self.render is not None:
            return self.render(self, value, ctx)
        if self.flag is None:
            return [Remark(self.path, f"{self.path}={_compact(value)}: no docker run option "
                                      "(remediate sets it through the API)")]
        def shown(name: str, text: str) -> str:
            return _show(self, ctx, name, text)

        if self.kind == "bool":
            return [(self.flag,)] if value else []
        if self.kind in ("list", "set"):
            return [(self.flag, shown(self.key, str(v))) for v in value]
        if self.kind == "map":
            return [(self.flag, f"{k}={shown(str(k), str(v))}") for k, v in value.items()]
        return [(self.flag, shown(self.key, str(value)))]


def too_new(field: Field, engine_api: str | None) -> bool:
    """True when the engine's API (``"1.41"``; None: unknown) predates ``field`` (its ``min_api``)."""
    return not RenderContext(api=api_tuple(engine_api) if engine_api else None).api_at_least(field.min_api)


def api_tuple(version: str) -> tuple[int, int]:
    """``"1.41"`` -> ``(1, 41)``."""
    major, _, minor = version.partition(".")
    return int(major), int(minor or 0)


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _show(field: Field, ctx: RenderContext, name: str, value: str) -> str:
    return ctx.show(name, value) if field.secret else value


# --------------------------------------------------------------------------- normalisers

def env_to_dict(env: Iterable[str]) -> dict[str, str | None]:
    """``["A=1", "B"]`` -> ``{"A": "1", "B": None}``; the last of duplicate keys wins."""
    result: dict[str, str | None] = {}
    for item in env:
        key, sep, value = item.partition("=")
        result[key] = value if sep else None
    return result


def dict_to_env(env: Mapping[str, str | None]) -> list[str]:
    """Inverse of :func:`env_to_dict`."""
    return [k if v is None else f"{k}={v}" for k, v in env.items()]


def split_bind(bind: str) -> tuple[str, str, str]:
    """``src:dst:opts`` -> its three parts (``("", dst, "")`` for a bare target)."""
    parts = bind.split(":")
    if len(parts) >= 3:
        return parts[0], parts[1], ":".join(parts[2:])
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return "", parts[0], ""


def _norm_env(env: list[str]) -> Json:
    return dict(sorted(env_to_dict(env).items()))


def normal_bind(bind: str) -> str:
    """A bind as compared: ``src:dst`` and its options sorted, without the default ``rw``
    (``/a:/b:rw`` and ``/a:/b`` are one bind; ``/a:/b:z,ro`` and ``/a:/b:ro,z`` too)."""
    source, target, opts = split_bind(bind)
    kept = sorted(o for o in opts.split(",") if o and o != "rw")
    return f"{source}:{target}" + (":" + ",".join(kept) if kept else "")


def _norm_binds(binds: list[str]) -> list[str]:
    return sorted(normal_bind(b) for b in binds)


def norm_ports(bindings: Mapping[str, Any]) -> Json:
    """Port bindings as compared: ``HostIp`` ``0.0.0.0`` and ``""`` are one, ``80`` is ``80/tcp``."""
    out: Json = {}
    for port, hosts in bindings.items():
        key = port if "/" in port else f"{port}/tcp"
        out[key] = sorted(
            (("" if (h.get("HostIp") or "") == "0.0.0.0" else h.get("HostIp") or ""), h.get("HostPort") or "")
            for h in hosts or []
        )
    return out


def _norm_caps(caps: Iterable[str]) -> list[str]:
    # The docker CLI (since 20.10) sends CAP_NET_ADMIN where the SDK and compose send NET_ADMIN.
    out = set()
    for cap in caps:
        upper = cap.upper()
        out.add(upper if upper == "ALL" or upper.startswith("CAP_") else f"CAP_{upper}")
    return sorted(out)


def _norm_objects(items: Iterable[Mapping[str, Any]]) -> list[Json]:
    # The SDK sends ``ReadOnly: false``, ``DeviceIDs: []`` and empty option fields that the CLI
    # leaves out (or the other way round).
    kept = [_without_empty(m) for m in items]
    return sorted(kept, key=lambda m: json.dumps(m, sort_keys=True, default=str))


def _without_empty(item: Mapping[str, Any]) -> Json:
    out: Json = {}
    for key, value in item.items():
        if isinstance(value, Mapping):
            value = _without_empty(value)
        if not is_empty(value):
            out[key] = value
    return out


def is_empty(value: Any) -> bool:
    """None, "", 0, False, [] or {}: the engine's way of saying "not set"."""
    return value is None or value == "" or value == [] or value == {} or value is False or (
        value == 0 and not isinstance(value, bool))


# --------------------------------------------------------------------------- renderers

def _duration(nanoseconds: int) -> str:
    """A Go duration the CLI parses back to the same nanoseconds."""
    for unit, size in (("s", 1_000_000_000), ("ms", 1_000_000), ("us", 1_000)):
        if nanoseconds % size == 0:
            return f"{nanoseconds // size}{unit}"
    return f"{nanoseconds}ns"


_HEALTH_FLAGS = (("Interval", "--health-interval", "1.0"), ("Timeout", "--health-timeout", "1.0"),
                 ("StartPeriod", "--health-start-period", "1.29"),
                 ("StartInterval", "--health-start-interval", "1.44"))


def _env(field: Field, value: list[str], ctx: RenderContext) -> Rendered:
    return [("--env", k if v is None else f"{k}={_show(field, ctx, k, v)}") for k, v in env_to_dict(value).items()]


def _healthcheck(field: Field, check: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    test = list(check.get("Test") or [])
    out: Rendered = []
    if test[:1] == ["NONE"]:
        return [("--no-healthcheck",)]
    if test[:1] == ["CMD-SHELL"]:
        out.append(("--health-cmd", _show(field, ctx, "", " ".join(test[1:]))))
    elif test[:1] == ["CMD"]:
        out.append(Remark(f"{field.path}.Test", "an exec-form healthcheck (CMD) has no docker run option: "
                          "--health-cmd always makes a shell form (remediate carries the exec form)"))
    for key, flag, _ in _HEALTH_FLAGS:
        if check.get(key):
            out.append((flag, _duration(int(check[key]))))
    if check.get("Retries"):
        out.append(("--health-retries", str(check["Retries"])))
    return out


def _entrypoint(field: Field, value: Any, ctx: RenderContext) -> Rendered:
    words = [value] if isinstance(value, str) else list(value)
    out: Rendered = [("--entrypoint", _show(field, ctx, "", words[0] if words else ""))]
    if len(words) > 1:
        out.append(Remark(field.path, f"entrypoint {_compact(words)} has several words: docker run takes "
                          "only the first; the rest are shown before the command"))
    return out


def _exposed(field: Field, value: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    return [(field.flag or "", port) for port in value]


def bound_targets(host_config: Mapping[str, Any]) -> set[str]:
    """Container paths a bind or a ``--mount`` of a HostConfig covers."""
    targets = {split_bind(b)[1] for b in host_config.get("Binds") or []}
    return targets | {str(m.get("Target")) for m in host_config.get("Mounts") or []}


def _volumes(field: Field, value: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    bound = bound_targets(ctx.host_config)
    out: Rendered = [("--volume", path) for path in value if path not in bound]
    shadowed = [path for path in value if path in bound]
    if shadowed:
        # The SDK declares every bind target as a volume too; docker run rejects -v /x with -v src:/x.
        out.append(Remark(field.path, f"volume {', '.join(shadowed)} is also declared at a bind or mount target "
                          "(the SDK's way): docker run has no form for it (the mount wins; remediate carries it)"))
    return out


def _system_paths(field: Field, value: list[str], ctx: RenderContext) -> Rendered:
    # docker run --security-opt systempaths=unconfined empties both lists; one alone is API-only.
    other = "ReadonlyPaths" if field.key == "MaskedPaths" else "MaskedPaths"
    if value == [] and ctx.host_config.get(other) == []:
        return [("--security-opt", "systempaths=unconfined")] if field.key == "MaskedPaths" else []
    return [Remark(field.path, f"{field.path}={_compact(value)}: no docker run option "
                   "(remediate sets it through the API)")]


def _publish(field: Field, value: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    out: Rendered = []
    for port, bindings in value.items():
        container_port = port.removesuffix("/tcp")
        for binding in bindings or [{}]:
            host_ip, host_port = binding.get("HostIp") or "", binding.get("HostPort") or ""
            if host_ip:
                ip = f"[{host_ip}]" if ":" in host_ip else host_ip
                out.append(("--publish", f"{ip}:{host_port}:{container_port}"))
            else:
                out.append(("--publish", f"{host_port}:{container_port}" if host_port else container_port))
    return out


def _restart(field: Field, value: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    name, retries = value.get("Name"), value.get("MaximumRetryCount")
    return [("--restart", f"{name}:{retries}" if retries else str(name))]


def _log_config(field: Field, value: Mapping[str, Any], ctx: RenderContext) -> Rendered:
    out: Rendered = [("--log-driver", str(value.get("Type")))]
    out += [("--log-opt", f"{k}={_show(field, ctx, k, str(v))}") for k, v in (value.get("Config") or {}).items()]
    return out


_CSV_SPECIAL = re.compile(r'[,"\s]')


def csv_field(text: str) -> str:
    """One field of a ``--mount`` or advanced ``--network`` value (the CLI reads them as CSV)."""
    return '"' + text.replace('"', '""') + '"' if _CSV_SPECIAL.search(text) else text


def _mount_options(mount: Mapping[str, Any]) -> list[str]:
    parts = [f"type={mount.get('Type')}"]
    if mount.get("Source"):
        parts.append(f"source={mount['Source']}")
    parts.append(f"target={mount.get('Target')}")
    if mount.get("ReadOnly"):
        parts.append("readonly")
    if mount.get("Consistency") and mount["Consistency"] != "default":
        parts.append(f"consistency={mount['Consistency']}")
    bind = mount.get("BindOptions") or {}
    if bind.get("Propagation"):
        parts.append(f"bind-propagation={bind['Propagation']}")
    elif bind.get("ReadOnlyForceRecursive"):
        parts.append("bind-propagation=rprivate")  # the CLI takes bind-recursive=readonly only with it
    if bind.get("NonRecursive"):
        parts.append("bind-recursive=disabled")
    elif bind.get("ReadOnlyForceRecursive"):
        parts.append("bind-recursive=readonly")
    elif bind.get("ReadOnlyNonRecursive"):
        parts.append("bind-recursive=writable")
    if bind.get("CreateMountpoint"):
        parts.append("bind-create-mountpoint")
    volume = mount.get("VolumeOptions") or {}
    if volume.get("NoCopy"):
        parts.append("volume-nocopy")
    if volume.get("Subpath"):
        parts.append(f"volume-subpath={volume['Subpath']}")
    driver = volume.get("DriverConfig") or {}
    if driver.get("Name"):
        parts.append(f"volume-driver={driver['Name']}")
    parts += [f"volume-opt={k}={v}" for k, v in (driver.get("Options") or {}).items()]
    parts += [f"volume-label={k}={v}" for k, v in (volume.get("Labels") or {}).items()]
    tmpfs = mount.get("TmpfsOptions") or {}
    if tmpfs.get("SizeBytes"):
        parts.append(f"tmpfs-size={tmpfs['SizeBytes']}")
    if tmpfs.get("Mode"):
        parts.append(f"tmpfs-mode={int(tmpfs['Mode']):o}")
    return parts


def _mounts(field: Field, value: Iterable[Mapping[str, Any]], ctx: RenderContext) -> Rendered:
    out: Rendered = []
    for mount in value:
        out.append(("--mount", ",".join(csv_field(p) for p in _mount_options(mount))))
        bind = mount.get("BindOptions") or {}
        if bind.get("ReadOnlyForceRecursive") and not bind.get("Propagation"):
            out.append(Remark(field.path, f"mount {mount.get('Target')}: docker run takes bind-recursive=readonly "
                              "only with bind-propagation=rprivate, the engine's default, which it then records"))
        unknown = _unknown_mount_keys(mount)
        if unknown:
            out.append(Remark(field.path, f"mount {mount.get('Target')}: {', '.join(unknown)} has no --mount "
                              "option (remediate sets it through the API)"))
    return out


_MOUNT_KEYS = {"Type", "Source", "Target", "ReadOnly", "Consistency", "BindOptions", "VolumeOptions", "TmpfsOptions"}
_SHOWN_SUBKEYS = {
    "BindOptions": {"Propagation", "NonRecursive", "CreateMountpoint", "ReadOnlyNonRecursive",
                    "ReadOnlyForceRecursive"},
    "VolumeOptions": {"NoCopy", "Subpath", "DriverConfig", "Labels"},
    "TmpfsOptions": {"SizeBytes", "Mode"},
}


def _unknown_mount_keys(mount: Mapping[str, Any]) -> list[str]:
    """Keys of a mount (and of its option objects) that :func:`_mount_options` cannot write."""
    unknown = [k for k, v in mount.items() if k not in _MOUNT_KEYS and not is_empty(v)]
    for key, shown in _SHOWN_SUBKEYS.items():
        unknown += [f"{key}.{k}" for k, v in (mount.get(key) or {}).items() if k not in shown and not is_empty(v)]
    return unknown


def _tmpfs(field: Field, value: Mapping[str, str], ctx: RenderContext) -> Rendered:
    return [("--tmpfs", f"{path}:{opts}" if opts else path) for path, opts in value.items()]


def _ulimits(field: Field, value: Iterable[Mapping[str, Any]], ctx: RenderContext) -> Rendered:
    return [("--ulimit", f"{u['Name']}={u.get('Soft')}:{u.get('Hard')}") for u in value]


def _devices(field: Field, value: Iterable[Mapping[str, Any]], ctx: RenderContext) -> Rendered:
    return [("--device", f"{d['PathOnHost']}:{d['PathInContainer']}:{d.get('CgroupPermissions') or 'rwm'}")
            for d in value]


def _device_rates(field: Field, value: Iterable[Mapping[str, Any]], ctx: RenderContext) -> Rendered:
    key = "Weight" if field.key == "BlkioWeightDevice" else "Rate"
    return [(field.flag or "", f"{d['Path']}:{d[key]}") for d in value]


def gpus_value(request: Mapping[str, Any]) -> str | None:
    """The ``docker run --gpus`` value that makes exactly this device request, or None when the
    CLI cannot make it (``--gpus`` always asks one capability set ending in ``gpu``).

    >>> gpus_value({"Count": -1, "Capabilities": [["gpu"]]})
    'all'
    >>> gpus_value({"DeviceIDs": ["0", "1"], "Capabilities": [["compute", "gpu"]]})
    '"device=0,1","capabilities=compute"'
    """
    caps = request.get("Capabilities") or []
    ids = list(request.get("DeviceIDs") or [])
    options = request.get("Options") or {}
    count = int(request.get("Count") or 0)
    if len(caps) != 1 or not caps[0] or caps[0][-1] != "gpu" or any(_CSV_SPECIAL.search(str(i)) for i in ids):
        return None
    if any(_CSV_SPECIAL.search(f"{k}{v}") or "=" in str(k) for k, v in options.items()):
        return None
    parts: list[str] = []
    if ids:
        parts += ([f"count={count}"] if count else []) + ["device=" + ",".join(ids)]
    else:
        parts.append("all" if count == -1 else str(count))  # no count given means 1: written out
    if request.get("Driver"):
        parts.append(f"driver={request['Driver']}")
    if caps[0][:-1]:
        parts.append("capabilities=" + ",".join(caps[0][:-1]))
    if options:
        parts.append("options=" + ",".join(f"{k}={v}" for k, v in options.items()))
    return ",".join(csv_field(p) for p in parts)


def _gpus(field: Field, value: Iterable[Mapping[str, Any]], ctx: RenderContext) -> Rendered:
    out: Rendered = []
    for request in value:
        shown = gpus_value(request)
        if shown is None:
            out.append(Remark(field.path, f"device request {_compact(request)} has no docker run option "
                              "(--gpus makes only requests of one capability set ending in gpu; remediate "
                              "sets it through the API)"))
        else:
            out.append(("--gpus", shown))
    return out


def _cpus(field: Field, value: int, ctx: RenderContext) -> Rendered:
    return [("--cpus", f"{value / 1e9:g}")]


def _mac(field: Field, value: str, ctx: RenderContext) -> Rendered:
    # The CLI's --mac-address sets the endpoint's MAC address, which engines have only since its min_api.
    since = ENDPOINT["MacAddress"].min_api
    if not ctx.api_at_least(since):
        return [Remark(field.path, f"MAC address {value}: the docker CLI sets it only on engines with API {since}+ "
                       "(this one is older; remediate sets it through the API)")]
    return [("--mac-address", value)]


def _command_hidden(field: Field, value: Any, ctx: RenderContext) -> Rendered:
    # Cmd follows the image on the command line (runview); Attach*/StdinOnce follow -d / -i.
    return []


def _stdin_once(field: Field, value: Any, ctx: RenderContext) -> Rendered:
    return [Remark(field.path, "StdinOnce (a container created attached to stdin) has no detached "
                   "docker run form (remediate carries it)")]


def _no_option(field: Field, value: Any, ctx: RenderContext) -> Rendered:
    return []


# --------------------------------------------------------------------------- the table

def _c(key: str, kind: Kind = "scalar", flag: str | None = None, **kw: Any) -> Field:
    return Field(key, "Config", kind, flag, **kw)


def _h(key: str, kind: Kind = "scalar", flag: str | None = None, **kw: Any) -> Field:
    return Field(key, "HostConfig", kind, flag, **kw)


def _e(key: str, kind: Kind = "scalar", flag: str | None = None, **kw: Any) -> Field:
    return Field(key, "Endpoint", kind, flag, **kw)


FIELDS: tuple[Field, ...] = (
    # Config: in the order the docker run view shows them.
    _c("Hostname", flag="--hostname", netns_owned="any"),
    _c("Domainname", flag="--domainname", netns_owned="any"),
    _c("User", flag="--user", image_default=True),
    _c("AttachStdin", "bool", render=_command_hidden, compared=False),
    _c("AttachStdout", "bool", render=_command_hidden, compared=False),
    _c("AttachStderr", "bool", render=_command_hidden, compared=False),
    _c("ExposedPorts", "map", "--expose", render=_exposed, netns_owned="container", image_default=True),
    _c("Tty", "bool", "--tty"),
    _c("OpenStdin", "bool", "--interactive"),
    _c("StdinOnce", "bool", render=_stdin_once),
    _c("Env", "list", "--env", render=_env, secret=True, normalise=_norm_env, image_default=True),
    _c("Cmd", "list", render=_command_hidden, secret=True, image_default=True),
    _c("Healthcheck", "object", render=_healthcheck, secret=True, image_default=True),
    _c("Volumes", "map", "--volume", render=_volumes, image_default=True),
    _c("WorkingDir", flag="--workdir", image_default=True),
    # [] is the image's entrypoint reset (--entrypoint ""): spec.py keeps it only then.
    _c("Entrypoint", "list", render=_entrypoint, secret=True, empty_is_set=True, image_default=True),
    _c("NetworkDisabled", "bool"),
    _c("MacAddress", render=_mac, netns_owned="any"),
    _c("Labels", "map", "--label", secret=True, image_default=True),
    _c("StopSignal", flag="--stop-signal", image_default=True),
    _c("StopTimeout", flag="--stop-timeout", zero_is_set=True),
    # HostConfig
    _h("NetworkMode", render=_no_option, unset=("default", "bridge")),  # with the endpoints (runview)
    _h("Binds", "set", "--volume", normalise=_norm_binds),
    _h("Mounts", "list", render=_mounts, normalise=_norm_objects),
    _h("VolumesFrom", "set", "--volumes-from"),
    _h("VolumeDriver", flag="--volume-driver"),
    _h("Tmpfs", "map", render=_tmpfs),
    _h("PortBindings", "object", render=_publish, normalise=norm_ports, netns_owned="any"),
    _h("PublishAllPorts", "bool", "--publish-all", netns_owned="any"),
    _h("Links", "set", "--link", netns_owned="any"),
    _h("Dns", "list", "--dns", netns_owned="container"),
    _h("DnsSearch", "list", "--dns-search", netns_owned="container"),
    _h("DnsOptions", "set", "--dns-option", netns_owned="container"),
    _h("ExtraHosts", "set", "--add-host", netns_owned="container"),
    _h("RestartPolicy", "object", render=_restart, live_update=True, live_unset={"Name": "no", "MaximumRetryCount": 0},
       unset=({"Name": "", "MaximumRetryCount": 0}, {"Name": "no", "MaximumRetryCount": 0})),
    _h("AutoRemove", "bool", "--rm", refuse="--rm (AutoRemove): stopping it deletes it, so no backup "
       "could be kept to roll back to (run it without --rm to fix it with remediate)"),
    _h("LogConfig", "object", render=_log_config, secret=True, unset=({"Type": "json-file", "Config": {}},)),
    _h("IpcMode", flag="--ipc", quiet=("private",)),
    _h("PidMode", flag="--pid"),
    _h("UTSMode", flag="--uts"),
    _h("UsernsMode", flag="--userns"),
    # Shown always: the engine's default (host on cgroup v1, private on v2) is the daemon's choice.
    _h("CgroupnsMode", flag="--cgroupns", min_api="1.41"),
    _h("CgroupParent", flag="--cgroup-parent"),
    _h("Cgroup"),
    _h("Privileged", "bool", "--privileged"),
    _h("ReadonlyRootfs", "bool", "--read-only"),
    _h("Init", "bool", "--init"),
    _h("CapAdd", "set", "--cap-add", normalise=_norm_caps),
    _h("CapDrop", "set", "--cap-drop", normalise=_norm_caps),
    _h("SecurityOpt", "set", "--security-opt"),
    _h("GroupAdd", "set", "--group-add"),
    _h("Sysctls", "map", "--sysctl"),
    _h("StorageOpt", "map", "--storage-opt"),
    _h("Ulimits", "set", render=_ulimits),
    _h("Devices", "set", render=_devices),
    _h("DeviceCgroupRules", "set", "--device-cgroup-rule"),
    _h("DeviceRequests", "list", render=_gpus, normalise=_norm_objects),
    _h("ShmSize", flag="--shm-size", quiet=(67108864,)),
    _h("Runtime", flag="--runtime", quiet=("runc",)),
    _h("Isolation", flag="--isolation"),
    _h("Memory", flag="--memory", live_update=True),
    _h("MemorySwap", flag="--memory-swap", live_update=True),
    _h("MemoryReservation", flag="--memory-reservation", live_update=True),
    _h("MemorySwappiness", flag="--memory-swappiness", zero_is_set=True, unset=(-1,)),
    _h("KernelMemory"),
    _h("KernelMemoryTCP"),
    _h("CpuCount", flag="--cpu-count"),                 # Windows engines only
    _h("CpuPercent", flag="--cpu-percent"),
    _h("IOMaximumBandwidth", flag="--io-maxbandwidth"),
    _h("IOMaximumIOps", flag="--io-maxiops"),
    _h("OomKillDisable", "bool", "--oom-kill-disable"),
    _h("OomScoreAdj", flag="--oom-score-adj"),
    _h("PidsLimit", flag="--pids-limit", live_update=True, live_unset=0),
    _h("NanoCpus", render=_cpus, live_update=True),
    _h("CpuShares", flag="--cpu-shares", live_update=True),
    _h("CpuPeriod", flag="--cpu-period", live_update=True),
    _h("CpuQuota", flag="--cpu-quota", live_update=True),
    _h("CpuRealtimePeriod", flag="--cpu-rt-period"),
    _h("CpuRealtimeRuntime", flag="--cpu-rt-runtime"),
    _h("CpusetCpus", flag="--cpuset-cpus", live_update=True),
    _h("CpusetMems", flag="--cpuset-mems", live_update=True),
    _h("BlkioWeight", flag="--blkio-weight", live_update=True),
    _h("BlkioWeightDevice", "list", "--blkio-weight-device", render=_device_rates),
    _h("BlkioDeviceReadBps", "list", "--device-read-bps", render=_device_rates),
    _h("BlkioDeviceWriteBps", "list", "--device-write-bps", render=_device_rates),
    _h("BlkioDeviceReadIOps", "list", "--device-read-iops", render=_device_rates),
    _h("BlkioDeviceWriteIOps", "list", "--device-write-iops", render=_device_rates),
    _h("Annotations", "map", "--annotation", min_api="1.43"),
    _h("MaskedPaths", "list", render=_system_paths, engine_filled=True, empty_is_set=True),
    _h("ReadonlyPaths", "list", render=_system_paths, engine_filled=True, empty_is_set=True),
    _h("ContainerIDFile", engine_filled=True),          # a client-side file
    _h("ConsoleSize", "list", engine_filled=True),
    # Network endpoints (the primary one on docker run, the others with docker network connect).
    _e("Aliases", "set", "--network-alias"),
    _e("IPAMConfig", "object"),
    _e("Links", "set", "--link"),
    _e("DriverOpts", "map"),
    _e("MacAddress", min_api="1.44"),
)

#: ``Config`` fields by key (only these are copied from a container's Config).
CONFIG: dict[str, Field] = {f.key: f for f in FIELDS if f.section == "Config"}
#: ``HostConfig`` fields by key (unknown HostConfig keys are copied too).
HOST: dict[str, Field] = {f.key: f for f in FIELDS if f.section == "HostConfig"}
#: ``Config`` keys an image supplies defaults for (see ``Field.image_default``), in table order.
IMAGE_DEFAULTS: tuple[str, ...] = tuple(f.key for f in FIELDS if f.image_default)
#: ``HostConfig`` keys the engine changes in place (``docker update``), in table order.
LIVE_UPDATE: tuple[str, ...] = tuple(f.key for f in FIELDS if f.live_update)
#: Endpoint fields by key.
ENDPOINT: dict[str, Field] = {f.key: f for f in FIELDS if f.section == "Endpoint"}


def host_field(key: str) -> Field:
    """The HostConfig field of a key; an unknown key gets a plain entry (carried, shown as a remark)."""
    return HOST.get(key) or Field(key, "HostConfig", "object")


def netns_owned(mode: str) -> list[Field]:
    """Fields a container gives up when it joins the network namespace ``mode`` names."""
    if mode in ("host", "none"):
        return [f for f in FIELDS if f.netns_owned == "any"]
    if mode.startswith("container:"):
        return [f for f in FIELDS if f.netns_owned is not None]
    return []
