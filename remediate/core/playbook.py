"""Playbooks: the pydantic schema, loading (built-in name or file path), and variable rendering.

A playbook is data: which containers it selects, the ordered changes to make, and how to
verify them. Strings in ``changes``, ``verify``, ``after``, ``require`` and ``revert_after`` are
jinja2 templates rendered in a sandbox (:mod:`remediate.core.templating`) from the playbook's ``vars``
(overridden by ``-e``) and, per container, ``container`` facts (see
:class:`remediate.core.planner.ContainerFacts`). Files are read within the bounds of
:mod:`remediate.core.limits`.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from remediate.core import host_options, limits
from remediate.core.image_ref import check_reference, image_matches
from remediate.core.paths import check_dest, check_mode, normal_path
from remediate.core.sources import pack_env_value, packs
from remediate.core.suggest import did_you_mean
from remediate.core.templating import check_expression, is_true, render_value
from remediate.errors import PlaybookError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _env_value(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    raise ValueError("value must be a string or null")


class Selector(_Strict):
    """Which containers a playbook acts on; every given key must match."""

    image: str | None = Field(None, description="glob on the image reference (Config.Image); "
                              "vllm/vllm-openai, docker.io/vllm/vllm-openai and index.docker.io/vllm/vllm-openai "
                              "are one image, as are nginx and docker.io/library/nginx")
    name: str | None = Field(None, description="glob on the container name")
    labels: dict[str, str] = Field(default_factory=dict, description="labels that must be set to these values")
    command: str | None = Field(None, description="glob on the full command line (entrypoint + args)")
    env: str | None = Field(None, description="glob: some env var name must match (e.g. AIGW_*)")

    def matches(self, *, image: str | None, name: str, labels: Mapping[str, str], command: str | None,
                env_names: Iterable[str] | None) -> bool:
        """True when every given key matches the container. A fact passed as None is not known
        yet (e.g. from ``docker ps``, which shows no env): a key on it does not rule the container
        out, so the answer then means "may match"."""
        if self.image and image is not None and not image_matches(image, self.image):
            return False
        if self.name and not fnmatch.fnmatchcase(name, self.name):
            return False
        if any(labels.get(k) != v for k, v in self.labels.items()):
            return False
        if self.command and command is not None and not fnmatch.fnmatchcase(command, self.command):
            return False
        return not (self.env and env_names is not None and not any(fnmatch.fnmatchcase(n, self.env) for n in env_names))


class FromFile(_Strict):
    """An env value read from a file on the Docker host: a secret, never shown nor saved."""

    from_file: str = Field(description="absolute path of the file on the Docker host (no symlinks on the way); "
                           "its content, trailing newlines removed as $(cat FILE) does, is the value")

    @field_validator("from_file")
    @classmethod
    def _path(cls, value: str, info: ValidationInfo) -> str:
        return _absolute(value, "from_file", info)


EnvValue = str | FromFile | None


class EnvChange(_Strict):
    """Set environment variables; ``null`` removes one; ``{from_file: PATH}`` sets one to the
    content of a file on the Docker host (a secret wherever it goes: masked in every output, a
    digest in saved plans).

    YAML booleans become ``"true"`` / ``"false"``. A domain pack may spell the values of its own
    variables one way (:attr:`remediate.core.sources.Pack.env_value`: e.g. a boolean lowercased);
    a container whose value is spelled otherwise is then *not* equal, and applying the playbook
    rewrites the value (the diff shows ``True`` -> ``true``).
    """

    env: dict[str, EnvValue] = Field(
        description="NAME: value (null removes; {from_file: PATH}: the content of a file on the Docker host)",
        # YAML scalars are accepted (the JSON Schema says so)
        json_schema_extra={"additionalProperties": {"anyOf": [
            {"type": ["string", "number", "boolean", "null"]},
            {"type": "object", "properties": {"from_file": {"type": "string"}}, "required": ["from_file"],
             "additionalProperties": False}]}})

    @field_validator("env", mode="before")
    @classmethod
    def _values(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a mapping of NAME: value")  # noqa: TRY004 - pydantic reports ValueError
        for key in value:
            if not str(key) or "=" in str(key) or "\0" in str(key):
                raise ValueError(f"{str(key)[:80]!r} is not an environment variable name")
        return {str(k): v if isinstance(v, FromFile) else _nested(FromFile, v, str(k)[:80], info)
                if isinstance(v, dict) else pack_env_value(str(k), _env_value(v)) for k, v in value.items()}


M = TypeVar("M", bound=BaseModel)


def _nested(model: type[M], value: Any, where: str, info: ValidationInfo) -> M:
    """A mapping inside a union-typed field validated as ``model``, its first error as one line
    naming ``where`` (pydantic would report it once per member of the union)."""
    try:
        return model.model_validate(value, context=info.context)
    except ValidationError as exc:
        loc, msg, _ = validation_errors(exc)[0]
        at = ".".join(part for part in (where, format_loc(loc)) if part)
        raise ValueError(f"{at}: {msg}" if at else msg) from None


class ArgsEdit(_Strict):
    set: dict[str, str | bool | list[str]] = Field(
        default_factory=dict, description="--flag: value (true: bare flag; a list: --flag a b, as nargs='+' takes it)",
        json_schema_extra={"additionalProperties": {"anyOf": [
            {"type": ["string", "number"]}, {"const": True},
            {"type": "array", "items": {"type": ["string", "number"]}, "minItems": 1}]},
            "propertyNames": {"pattern": "^-"}})
    remove: list[str] = Field(default_factory=list, description="flags to remove with their value")

    @field_validator("set", mode="before")
    @classmethod
    def _set_values(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("must be a mapping of --flag: value")  # noqa: TRY004 - pydantic reports ValueError
        out: dict[str, str | bool | list[str]] = {}
        for flag, v in value.items():
            if not str(flag).startswith("-"):
                raise ValueError(f"{str(flag)[:80]!r} is not a flag (must start with -)")
            if v is True or isinstance(v, str):
                out[str(flag)] = v
            elif isinstance(v, list):
                out[str(flag)] = _arg_list(str(flag), v)
            else:
                out[str(flag)] = _arg_token(str(flag), v)
        return out


def _arg_token(flag: str, value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"{flag[:80]!r}: value must be a string, a number, a list of them or true")


def _arg_list(flag: str, values: list[Any]) -> list[str]:
    if not values:
        raise ValueError(f"{flag[:80]!r}: a list of values must not be empty (remove the flag instead)")
    out = [_arg_token(flag, v) for v in values]
    bad = next((v for v in out if v.startswith("-") or not v), None)
    if bad is not None:
        raise ValueError(f"{flag[:80]!r}: list value {bad[:80]!r} would not read as a value of the flag")
    return out


class ArgsChange(_Strict):
    """Set or remove flags on the container's command."""

    args: ArgsEdit


class NetworkChange(_Strict):
    """Switch the network mode (e.g. ``host``)."""

    network: str = Field(description="network mode or network name, e.g. host")


class PlatformChange(_Strict):
    """Recreate for another platform (e.g. ``linux/amd64``)."""

    platform: str = Field(description="os/arch[/variant]")


def _rendered(info: ValidationInfo) -> bool:
    """True when validating a value whose templates were rendered (see validate_rendered)."""
    return bool(info.context and info.context.get("rendered"))


def _absolute(value: str, what: str, info: ValidationInfo, *, bind: bool = False) -> str:
    """An absolute path (or a template that renders to one, checked again once rendered)."""
    if value.startswith("{{") and not _rendered(info):
        return value
    value = normal_path(value, what)
    if bind and ":" in value:
        raise ValueError(f"{what} must not contain ':' (it separates the parts of a bind mount): {value[:200]!r}")
    return value


class MountSpec(_Strict):
    source: str | None = Field(None, description="absolute path on the Docker host (not with state: absent)")
    target: str = Field(description="absolute path in the container")
    read_only: bool = Field(True, description="mount read-only")
    must_exist: bool = Field(False, description="refuse to plan when the source does not exist (else the plan "
                             "shows the directory the engine creates, removed again on rollback)")
    follow_symlinks: bool = Field(False, description="allow symlinks in the source path (the plan shows where it "
                                  "lands); without it a symlink anywhere in the path is refused")
    state: Literal["present", "absent"] = Field("present", description="absent: remove the mount at target")

    @field_validator("source", "target")
    @classmethod
    def _paths(cls, value: str | None, info: ValidationInfo) -> str | None:
        return None if value is None else _absolute(value, str(info.field_name), info, bind=True)

    @model_validator(mode="after")
    def _source(self) -> MountSpec:
        if self.state == "present" and self.source is None:
            raise ValueError("give source (or state: absent to remove the mount at target)")
        if self.state == "absent" and (self.source is not None or self.must_exist or self.follow_symlinks):
            raise ValueError("state: absent takes only target")
        return self


class MountChange(_Strict):
    """Bind-mount a host path into the container (replaces a mount at the same target), or remove
    the mount at a target (``state: absent``)."""

    mount: MountSpec


#: Host IPs that mean "every interface" in a publish.
ALL_INTERFACES = ("", "0.0.0.0", "::")
_PUBLISH = re.compile(r"^(?:(?:\[(?P<ip6>[0-9A-Fa-f:.]+)\]|(?P<ip>[0-9.]+)):(?P<hport>\d*):|(?P<bare>\d+):)?"
                      r"(?P<cport>\d+)(?:/(?P<proto>tcp|udp|sctp))?$")


def parse_publish(value: str) -> tuple[str, str, int, str]:
    """``[host_ip:][host_port:]container_port[/proto]`` (``docker run -p``; an IPv6 host IP in
    brackets) -> ``(host_ip, host_port, container_port, proto)``; ``host_port`` ``""`` asks the
    engine for a free one.

    Raises:
        ValueError: not that form (ranges are refused: one port per entry), or a port out of 1-65535.
    """
    found = _PUBLISH.match(value.strip())
    if found is None:
        raise ValueError(f"{value[:80]!r} is not [host_ip:][host_port:]container_port[/tcp|udp|sctp] "
                         "(one port per entry)")
    host_ip = found["ip6"] or found["ip"] or ""
    if host_ip:
        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise ValueError(f"{value[:80]!r}: {host_ip[:40]!r} is not an IP address") from None
    host_port = found["hport"] or found["bare"] or ""
    if host_port:
        port_number(host_port)
    return (host_ip, host_port, port_number(found["cport"]), found["proto"] or "tcp")


def port_key(value: int | str) -> str:
    """``50052`` or ``"50052/udp"`` -> the engine's key (``50052/tcp``, ``50052/udp``).

    Raises:
        ValueError: not a port, optionally with ``/tcp``, ``/udp`` or ``/sctp``.
    """
    port, _, proto = str(value).strip().partition("/")
    if proto not in ("", "tcp", "udp", "sctp"):
        raise ValueError(f"{str(value)[:40]!r}: the protocol must be tcp, udp or sctp")
    return f"{port_number(port)}/{proto or 'tcp'}"


class PortsEdit(_Strict):
    publish: list[str] = Field(default_factory=list,
                               description="[host_ip:][host_port:]container_port[/proto], as docker run -p; "
                                           "replaces the container port's bindings")
    unpublish: list[int | str] = Field(default_factory=list, description="container ports (50052, \"53/udp\")")
    bind_all: bool = Field(False, description="allow a publish on all interfaces (no host IP, 0.0.0.0 or ::)")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> PortsEdit:
        if not self.publish and not self.unpublish:
            raise ValueError("give publish or unpublish")
        for item in self.publish:
            if "{" in item and not _rendered(info):
                continue
            host_ip = parse_publish(item)[0]
            if host_ip in ALL_INTERFACES and not self.bind_all:
                raise ValueError(f"publish {item[:80]!r} listens on all interfaces: give a host IP "
                                 "(127.0.0.1:...) or set bind_all: true")
        for port in self.unpublish:
            if not (isinstance(port, str) and "{" in port and not _rendered(info)):
                port_key(port)
        return self


class PortsChange(_Strict):
    """Publish container ports (a publish replaces that port's bindings) or unpublish them."""

    ports: PortsEdit


class TmpfsSpec(_Strict):
    target: str = Field(description="absolute path in the container")
    options: str = Field("", description='mount options, as docker run --tmpfs takes them ("rw,size=64m,mode=1777"; '
                         "empty: the engine's defaults)")
    state: Literal["present", "absent"] = Field("present", description="absent: remove the tmpfs at target")

    @field_validator("target")
    @classmethod
    def _target(cls, value: str, info: ValidationInfo) -> str:
        return _absolute(value, "target", info, bind=True)

    @field_validator("options")
    @classmethod
    def _options(cls, value: str, info: ValidationInfo) -> str:
        return value if "{" in value and not _rendered(info) else host_options.check_tmpfs_options(value)

    @model_validator(mode="after")
    def _absent(self) -> TmpfsSpec:
        if self.state == "absent" and self.options:
            raise ValueError("state: absent takes only target")
        return self


class TmpfsChange(_Strict):
    """Mount a tmpfs at a target (replacing a tmpfs there), or remove it (``state: absent``)."""

    tmpfs: TmpfsSpec


class IpcChange(_Strict):
    """Set the IPC namespace (``host``, ``private``, ``shareable``, ``none``, ``container:NAME``)."""

    ipc: str = Field(description="host, private, shareable, none or container:NAME, as docker run --ipc")

    @field_validator("ipc")
    @classmethod
    def _mode(cls, value: str, info: ValidationInfo) -> str:
        return value if "{" in value and not _rendered(info) else host_options.check_ipc(value)


class ShmSizeChange(_Strict):
    """Set the size of ``/dev/shm`` (``"8g"``: 8 GiB, as docker run --shm-size reads it)."""

    shm_size: str | int = Field(description="bytes, or with k, m, g (binary, as docker reads them): 64m, 8g")

    @field_validator("shm_size", mode="before")
    @classmethod
    def _size(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and "{" in value and not _rendered(info):
            return value
        if not isinstance(value, (str, int)):
            raise ValueError(f"{str(value)[:40]!r} is not a size (a number of bytes, or with k, m, g: 64m, 8g)")  # noqa: TRY004
        host_options.parse_size(value)
        return value


class RestartSpec(_Strict):
    policy: str = Field(description="no, always, unless-stopped or on-failure")
    max_retries: int | str = Field(0, description="on-failure only: most restarts (0: no maximum)")

    @field_validator("policy", mode="before")
    @classmethod
    def _no(cls, value: Any) -> Any:
        return "no" if value is False else value  # YAML 1.1 reads a bare no as false

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> RestartSpec:
        if "{" in self.policy and not _rendered(info):
            return self
        if self.policy not in host_options.RESTART_POLICIES:
            raise ValueError(f"policy {self.policy[:40]!r} is not one of {', '.join(host_options.RESTART_POLICIES)}")
        if not (isinstance(self.max_retries, str) and "{" in self.max_retries and not _rendered(info)):
            host_options.check_retries(self.policy, self.max_retries)
        return self


class RestartChange(_Strict):
    """Set the restart policy (``unless-stopped``, ``on-failure:5`` or ``{policy, max_retries}``).
    Made in place (``docker update``) when the plan changes nothing else."""

    restart: RestartSpec | str = Field(description="no, always, unless-stopped, on-failure[:N], "
                                       "or {policy, max_retries}")

    @field_validator("restart", mode="before")
    @classmethod
    def _restart(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dict):
            return _nested(RestartSpec, value, "", info)
        if value is False:
            value = "no"  # YAML 1.1 reads a bare no as false
        if not isinstance(value, str):
            raise ValueError(f"must be a policy or a mapping, not {str(value)[:40]!r}")  # noqa: TRY004 - pydantic reports ValueError
        if "{" in value and not _rendered(info):
            return value
        policy, retries = host_options.parse_restart(value)
        return RestartSpec(policy=policy, max_retries=retries)


class ResourcesSpec(_Strict):
    memory: str | int | None = Field(None, description="memory limit (--memory): bytes, or with k, m, g: 8g")
    memory_reservation: str | int | None = Field(None, description="soft limit (--memory-reservation)")
    memory_swap: str | int | None = Field(None, description="memory plus swap (--memory-swap); -1: unlimited swap")
    cpus: str | float | int | None = Field(None, description="number of CPUs (--cpus): 2, 1.5")
    cpu_shares: str | int | None = Field(None, description="relative weight (--cpu-shares)")
    cpu_period: str | int | None = Field(None, description="CFS period in microseconds (--cpu-period)")
    cpu_quota: str | int | None = Field(None, description="CFS quota in microseconds (--cpu-quota)")
    cpuset_cpus: str | None = Field(None, description="CPUs allowed (--cpuset-cpus): 0-3,6")
    cpuset_mems: str | None = Field(None, description="memory nodes allowed (--cpuset-mems)")
    pids_limit: str | int | None = Field(None, description="most processes (--pids-limit)")
    blkio_weight: str | int | None = Field(None, description="block IO weight, 10-1000 (--blkio-weight)")

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> ResourcesSpec:
        given = self.values()
        if not given:
            raise ValueError(f"give at least one of {', '.join(host_options.RESOURCES)}")
        for name, value in given.items():
            if value is not None and not (isinstance(value, str) and "{" in value and not _rendered(info)):
                try:
                    host_options.parse_resource(name, value)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None
        if given.get("cpus") is not None and (given.get("cpu_period") is not None or given.get("cpu_quota") is not None):
            raise ValueError("give cpus or cpu_period/cpu_quota, not both (the engine refuses both)")
        return self

    def values(self) -> dict[str, str | float | int | None]:
        """The keys given (None: remove that limit), in the table's order."""
        return {k: getattr(self, k) for k in host_options.RESOURCES if k in self.model_fields_set}


class ResourcesChange(_Strict):
    """Set or remove (``null``) CPU, memory, pids and block IO limits, as ``docker update`` takes
    them. Made in place when the plan changes nothing else and the engine can put every value
    back; a limit added where there was none, or removed, is made by a recreate (``docker update``
    cannot clear a limit, so a failed verify could not give the previous value back)."""

    resources: ResourcesSpec


class FileSpec(_Strict):
    dest: str = Field(description="absolute path on the Docker host")
    template: str | None = Field(None, description="file under templates/, copied byte for byte")
    content: str | None = Field(None, description="inline content (rendered with vars)")
    mode: str | None = Field(None, pattern=r"^0?[0-7]{3,4}$",
                             description="octal file mode (default: the mode of the file there, 0644 for a new one)")
    follow_symlinks: bool = Field(False, description="allow symlinks in the dest path: the file they lead to is "
                                  "written (the link stays; the plan shows where it lands); without it a symlink "
                                  "anywhere in the path is refused")
    allow_unsafe_mode: bool = Field(False, description="allow a setuid, setgid, sticky or world-writable mode")

    @field_validator("dest")
    @classmethod
    def _dest(cls, value: str, info: ValidationInfo) -> str:
        value = _absolute(value, "dest", info)
        if not value.startswith("{{"):
            check_dest(value, "dest")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> FileSpec:
        if (self.template is None) == (self.content is None):
            raise ValueError("give exactly one of template or content")
        if self.mode is not None:
            check_mode(int(self.mode, 8), self.allow_unsafe_mode, "mode")
        return self


class FileChange(_Strict):
    """Write a file on the Docker host (restored if the apply fails)."""

    file: FileSpec


class ImageChange(_Strict):
    """Recreate the container on another image (an upgrade): the settings its old image supplied
    and the user never set come from the new one, as ``docker run`` of it would; the rest is kept."""

    image: str = Field(description="image reference: a tag (vllm/vllm-openai:v0.18.1) or a digest "
                       "(repo@sha256:...); pulled through the engine before anything stops if not there")

    @field_validator("image")
    @classmethod
    def _reference(cls, value: str, info: ValidationInfo) -> str:
        if "{" in value and not _rendered(info):
            return value  # a template: checked once rendered
        return check_reference(value)



class GpuRequest(_Strict):
    """GPUs for the container, as ``docker run --gpus`` requests them (count or device ids)."""

    count: int | Literal["all"] | str | None = Field(
        None, description="how many GPUs (a number, or all); default 1 unless device_ids are given")
    device_ids: list[str] | None = Field(None, min_length=1, description="GPU ids or UUIDs (e.g. [\"0\", \"1\"])")
    capabilities: list[str] = Field(default_factory=list, description="driver capabilities besides gpu "
                                    "(e.g. [compute, utility]); gpu is always requested, as --gpus does")
    driver: str | None = Field(None, description="device driver (default: the engine's choice, e.g. nvidia)")
    options: dict[str, str] = Field(default_factory=dict, description="driver options")

    @field_validator("count", mode="before")
    @classmethod
    def _count(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or (isinstance(value, str) and "{" in value and not _rendered(info)):
            return value
        return gpu_count(value)

    @field_validator("capabilities")
    @classmethod
    def _caps(cls, value: list[str]) -> list[str]:
        bad = next((c for c in value if not c or "," in c or "=" in c or not c.isprintable()), None)
        if bad is not None:
            raise ValueError(f"{bad[:40]!r} is not a capability name")
        return value

    @model_validator(mode="after")
    def _count_or_ids(self) -> GpuRequest:
        if self.count is not None and self.device_ids is not None:
            raise ValueError("give count or device_ids, not both (the engine refuses both)")
        return self


def gpu_count(value: Any) -> int | Literal["all"]:
    """A GPU count: a positive number, or ``all``.

    Raises:
        ValueError: anything else (``0``, ``-1``, ``two``).
    """
    text = str(value).strip().lower() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if text == "all":
        return "all"
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 1024):
        raise ValueError(f"count must be all or a number from 1 to 1024, not {str(value)[:40]!r}")
    return int(text)


class GpusChange(_Strict):
    """Request GPUs as ``docker run --gpus`` does (``all``, a count, or a request with device ids
    and capabilities); ``none`` removes the container's GPU requests. The apply refuses when the
    engine has no GPU runtime (planning and dry runs work without one)."""

    gpus: GpuRequest | Literal["all", "none"] | int | str = Field(
        description="all, none, a count, or {count | device_ids, capabilities, driver, options}")

    @field_validator("gpus", mode="before")
    @classmethod
    def _gpus(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, dict):
            return _nested(GpuRequest, value, "", info)
        if isinstance(value, str) and "{" in value and not _rendered(info):
            return value
        if isinstance(value, str) and value.strip().lower() == "none":
            return "none"
        try:
            return gpu_count(value)
        except ValueError:
            raise ValueError(f"must be all, none, a count or a mapping, not {str(value)[:40]!r}") from None


_CHANGE_KINDS = ("env", "args", "network", "platform", "mount", "file", "ports", "tmpfs", "ipc", "shm_size",
                 "image", "gpus", "restart", "resources")


def _single_key(value: Any) -> str | None:
    if isinstance(value, dict):
        return next(iter(value)) if len(value) == 1 else None
    fields = getattr(type(value), "model_fields", None)
    return next(iter(fields)) if fields else None


Change = Annotated[
    Annotated[EnvChange, Tag("env")] | Annotated[ArgsChange, Tag("args")]
    | Annotated[NetworkChange, Tag("network")] | Annotated[PlatformChange, Tag("platform")]
    | Annotated[MountChange, Tag("mount")] | Annotated[FileChange, Tag("file")]
    | Annotated[PortsChange, Tag("ports")] | Annotated[TmpfsChange, Tag("tmpfs")] | Annotated[IpcChange, Tag("ipc")]
    | Annotated[ShmSizeChange, Tag("shm_size")]
    | Annotated[ImageChange, Tag("image")]
    | Annotated[GpusChange, Tag("gpus")]
    | Annotated[RestartChange, Tag("restart")] | Annotated[ResourcesChange, Tag("resources")],
    Discriminator(_single_key, custom_error_type="change_kind",
                  custom_error_message="must be a mapping with exactly one of: " + ", ".join(_CHANGE_KINDS)),
]


class HttpProbe(_Strict):
    port: int | str = Field(description="port inside the container, 1-65535 (a template is checked once rendered)")
    path: str = "/"
    method: Literal["GET", "POST", "PUT", "HEAD"] = "GET"
    json_body: Any = Field(None, alias="json", description="JSON request body")
    headers: dict[str, str] = Field(default_factory=dict)
    status: int = Field(200, ge=100, le=599, description="expected status code")
    contains: str | None = Field(None, description="text the body must contain")

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and "{" in value and not _rendered(info):
            return value  # a template: checked by port_number() once rendered
        return port_number(value)


def port_number(value: Any) -> int:
    """A TCP port, 1-65535, from an int or a string of digits.

    Raises:
        ValueError: anything else (``abc``, ``70000``, ``-1``, ``true``).
    """
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535):
        raise ValueError(f"port must be a number from 1 to 65535, not {str(value)[:40]!r}")
    return int(text)


class HttpVerify(_Strict):
    """An HTTP request to the container, retried until it answers as expected or time runs out."""

    http: HttpProbe


Verify = Annotated[
    Annotated[HttpVerify, Tag("http")],
    Discriminator(_single_key, custom_error_type="verify_kind",
                  custom_error_message="must be a mapping with exactly one of: http"),
]


class Requirement(_Strict):
    """A condition on the variables, checked before anything is planned."""

    that: str = Field(description="jinja2 expression over the vars (no braces), e.g. "
                                  "\"(gitlab_url | url_host) != 'localhost'\"")
    msg: str = Field(description="why the vars are refused (a template; shown as the error)")

    @field_validator("that")
    @classmethod
    def _that(cls, value: str) -> str:
        check_expression(value)
        return value


#: Most entries of ``changes``, ``verify`` and ``require`` in one playbook.
MAX_CHANGES = 100


class Playbook(_Strict):
    """A declarative fix: select containers, change them, verify."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="unique name, used on the command line")
    description: str = Field(description="the symptom it fixes and what it does")
    safety: Literal["auto", "confirm"] = Field("confirm", description="confirm needs --yes or an interactive yes")
    vars: dict[str, Any] = Field(default_factory=dict, description="variables with their defaults")
    select: Selector | list[Selector] = Field(description="a selector, or a list (any may match)")
    changes: list[Change] = Field(min_length=1, max_length=MAX_CHANGES, description="ordered changes")
    verify: list[Verify] = Field(default_factory=list, max_length=MAX_CHANGES, description="checks after the change")
    after: str | None = Field(None, description="message shown after a successful apply (manual steps left)")
    require: list[Requirement] = Field(
        default_factory=list, max_length=MAX_CHANGES,
        description="conditions on the vars, each a jinja2 expression; the first false one refuses "
                    "the run with its msg before anything is planned")
    start: bool | str = Field(
        False,
        description="start a container that is not running (exited or created, e.g. one that crashed "
                    "at start) once its fix is applied, and verify it fully (a bool, or a template such as "
                    "\"{{ start_stopped }}\"); without it such a container stays stopped and only its "
                    "configuration is checked")
    revert_after: float | str | None = Field(
        None,
        description="undo the change automatically after this many seconds (a number, a template "
                    "such as \"{{ duration }}\", or a number with an s/m/h suffix); none: keep it")
    # Which fix each change comes from, in a playbook that merges fixes (not part of the schema).
    _change_fixes: tuple[str, ...] = PrivateAttr(default=())

    @property
    def change_fixes(self) -> tuple[str, ...]:
        """The fix (playbook name) each of :attr:`changes` comes from, in a playbook merging several
        (:func:`remediate.core.fixall.merge_fixes`); empty otherwise."""
        return self._change_fixes

    def with_change_fixes(self, fixes: Sequence[str]) -> Playbook:
        """A copy naming the fix each change comes from (one name per change).

        Raises:
            ValueError: not one name per change.
        """
        if len(fixes) != len(self.changes):
            raise ValueError(f"{len(fixes)} fix names for {len(self.changes)} changes")
        copy = self.model_copy()
        copy._change_fixes = tuple(fixes)
        return copy

    @field_validator("start")
    @classmethod
    def _start(cls, value: bool | str) -> bool | str:
        if isinstance(value, str) and "{" not in value:
            return TypeAdapter(bool).validate_python(value)
        return value

    @field_validator("revert_after")
    @classmethod
    def _revert_after(cls, value: float | str | None) -> float | str | None:
        if value is None or (isinstance(value, str) and "{" in value):
            return value
        parse_seconds(value)
        return value

    @property
    def selectors(self) -> list[Selector]:
        """The selectors as a list (any may match)."""
        return self.select if isinstance(self.select, list) else [self.select]


# --------------------------------------------------------------------------- loading

def builtin_playbooks() -> list[Path]:
    """Paths of the installed packs' playbooks, sorted by name (see :mod:`remediate.core.sources`)."""
    return sorted((p for s in packs() for p in s.playbook_paths()), key=lambda p: p.stem)


def _builtin(name: str) -> Path | None:
    for source in packs():
        path = source.playbooks / f"{name}.yml"
        if path.is_file():
            return path
    return None


def find_playbook(name_or_path: str) -> Path:
    """Resolve a built-in playbook name, then a file path.

    Raises:
        PlaybookError: nothing by that name or path.
    """
    builtin = _builtin(name_or_path) if "/" not in name_or_path else None
    if builtin is not None:
        return builtin
    path = Path(name_or_path)
    if path.is_file():
        return path
    stems = [p.stem for p in builtin_playbooks()]
    hint = did_you_mean(name_or_path, stems)
    raise PlaybookError(f"{name_or_path}: no such playbook{hint} (built-in: {', '.join(stems)}) and no such file")


def load_playbook(name_or_path: str) -> Playbook:
    """Load and validate a playbook by built-in name or file path.

    Raises:
        PlaybookError: not found, not YAML, or invalid; the message names file, field and why.
    """
    path = find_playbook(name_or_path)
    label = path.name if path == _builtin(name_or_path) else str(name_or_path)
    try:
        data = limits.load_yaml(limits.read_text(path, "playbook"))
    except limits.LimitExceeded as exc:
        raise PlaybookError(f"{label}: {exc}", path=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise PlaybookError(f"{label}{where}: {problem}", path=str(path)) from None
    except OSError as exc:
        raise PlaybookError(f"{label}: {exc.strerror}", path=str(path)) from None
    except UnicodeDecodeError:
        raise PlaybookError(f"{label}: not UTF-8 text", path=str(path)) from None
    if not isinstance(data, dict):
        raise PlaybookError(f"{label}: a playbook must be a YAML mapping", path=str(path))
    try:
        return Playbook.model_validate(data)
    except ValidationError as exc:
        raise PlaybookError(_first_error(label, exc), path=str(path)) from None


def playbook_dir(name_or_path: str) -> Path | None:
    """The directory of a playbook given as a file, whose ``group_vars/`` and ``host_vars/`` the
    inventory reads (as ``ansible-playbook`` does); None for a built-in name.

    Raises:
        PlaybookError: nothing by that name or path.
    """
    path = find_playbook(name_or_path)
    return None if path == _builtin(name_or_path) else path.parent


def validate_rendered(model: type[M], data: Any, *, playbook: str, field: str) -> M:
    """A part of a playbook validated again once its templates are rendered.

    Raises:
        PlaybookError: the rendered value is invalid (e.g. a relative path from ``-e``).
    """
    try:
        return model.model_validate(data, context={"rendered": True})
    except ValidationError as exc:
        raise PlaybookError(_first_error(f"{playbook}: {field}", exc, joined=True), field=field) from None


def _first_error(label: str, exc: ValidationError, *, joined: bool = False) -> str:
    loc, msg, _ = validation_errors(exc)[0]
    where = format_loc(loc)
    if joined:
        return f"{label}.{where}: {msg}" if where else f"{label}: {msg}"
    return f"{label}: {where}: {msg}"


def validation_errors(exc: ValidationError, data: Any = None) -> list[tuple[tuple[Any, ...], str, str]]:
    """Every error of a validation as ``(location, message, pydantic error type)``.

    The location is the playbook's own path (pydantic's union tags dropped); given the validated
    ``data``, the errors of the ``select`` form it does not use (a mapping or a list) are left out.
    """
    select = data.get("select") if isinstance(data, dict) else None
    unused = "Selector" if isinstance(select, list) else "list[Selector]" if isinstance(select, dict) else None
    out = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if len(loc) > 2 and loc[0] in ("changes", "verify") and isinstance(loc[1], int):
            loc = loc[:2] + loc[3:]  # drop the union tag pydantic inserts (it repeats the kind)
        if len(loc) > 1 and loc[0] == "select" and loc[1] in ("Selector", "list[Selector]"):
            if loc[1] == unused:
                continue
            loc = loc[:1] + loc[2:]
        out.append((loc, " ".join(str(error["msg"]).removeprefix("Value error, ").split()), str(error["type"])))
    return out


def format_loc(loc: tuple[Any, ...]) -> str:
    """A location as the playbook's field path: ``changes[0].mount.source``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part and str(part)[0].isupper() and out.endswith(("env", "set")):
            break  # stop at a user key (an env var name): the field is enough
        else:
            text = str(part)  # a user's key may hold anything, line breaks included
            out += ("." if out else "") + (text if text.isprintable() else repr(text[:80]))
    return out


# --------------------------------------------------------------------------- variables

def parse_extra_vars(items: Iterable[str]) -> dict[str, Any]:
    """Parse ``-e key=value``, ``-e '{"key": ["a", "b"]}'`` (a JSON or YAML mapping) and
    ``-e @file.yml`` options into a dict (later wins).

    Raises:
        PlaybookError: malformed item or unreadable/invalid vars file.
    """
    result: dict[str, Any] = {}
    for item in items:
        if item.startswith("@"):
            path = Path(item[1:])
            try:
                data = limits.load_yaml(limits.read_text(path, "vars file"))
            except limits.LimitExceeded as exc:
                raise PlaybookError(f"-e {item}: {exc}") from None
            except OSError as exc:
                raise PlaybookError(f"-e {item}: cannot read vars file ({exc.strerror or exc})") from None
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                raise PlaybookError(f"-e {item}: not a YAML vars file ({exc.__class__.__name__})") from None
            result.update(_vars_mapping(data, f"-e {item}", "a vars file"))
            continue
        if item.lstrip().startswith("{"):
            try:
                limits.check_value(item, "-e")
                data = limits.load_yaml(item)
            except limits.LimitExceeded as exc:
                raise PlaybookError(str(exc)) from None
            except yaml.YAMLError as exc:
                raise PlaybookError(f"-e {item[:80]!r}: not a JSON or YAML mapping ({exc.__class__.__name__})") from None
            result.update(_vars_mapping(data, f"-e {item[:80]!r}", "inline vars"))
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not key.strip().isidentifier():
            raise PlaybookError(f"-e {item[:80]!r}: expected key=value or @file.yml")
        try:
            limits.check_value(value, f"-e {key.strip()}")
        except limits.LimitExceeded as exc:
            raise PlaybookError(str(exc)) from None
        result[key.strip()] = value
    return result


def _vars_mapping(data: Any, label: str, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PlaybookError(f"{label}: {what} must be a mapping")
    bad = next((k for k in data if not str(k).isidentifier()), None)
    if bad is not None:
        raise PlaybookError(f"{label}: {str(bad)[:80]!r} is not a variable name")
    return {str(k): v for k, v in data.items()}


def resolve_vars(playbook: Playbook, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Playbook defaults overridden by ``overrides``.

    Raises:
        PlaybookError: an override names a variable the playbook does not declare.
    """
    unknown = sorted(set(overrides) - set(playbook.vars))
    if unknown:
        declared = ", ".join(sorted(playbook.vars)) or "none"
        names = ", ".join(n if n.isidentifier() else repr(n[:80]) for n in unknown)
        hint = did_you_mean(unknown[0], playbook.vars) if len(unknown) == 1 else ""
        raise PlaybookError(f"{playbook.name}: unknown variable {names}{hint} (declared vars: {declared})")
    return {**playbook.vars, **overrides}


def check_requirements(playbook: Playbook, vars: Mapping[str, Any]) -> None:
    """Evaluate the playbook's ``require`` conditions against the resolved vars.

    Raises:
        PlaybookError: a condition is false (the message is its rendered ``msg``), or it
            cannot be evaluated (an undefined variable, a failing filter).
    """
    for i, req in enumerate(playbook.require):
        field = f"require[{i}]"
        if not is_true(req.that, vars, playbook=playbook.name, field=f"{field}.that"):
            msg = " ".join(str(render_value(req.msg, vars, playbook=playbook.name, field=f"{field}.msg")).split())
            raise PlaybookError(f"{playbook.name}: {msg}", field=field)


def render_start(playbook: Playbook, vars: Mapping[str, Any]) -> bool:
    """The playbook's ``start`` rendered with the vars.

    Raises:
        PlaybookError: it does not render to a boolean (``true``/``false``, ``yes``/``no``, ``1``/``0``).
    """
    value = render_value(playbook.start, vars, playbook=playbook.name, field="start")
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        raise PlaybookError(f"{playbook.name}: start: not true or false: {str(value)[:40]!r}", field="start") from None


def render_revert_after(playbook: Playbook, vars: Mapping[str, Any]) -> float | None:
    """The playbook's ``revert_after`` rendered with the vars, in seconds (None: no revert).

    Raises:
        PlaybookError: the rendered value is not a positive duration.
    """
    if playbook.revert_after is None:
        return None
    value = render_value(playbook.revert_after, vars, playbook=playbook.name, field="revert_after")
    try:
        return parse_seconds(value)
    except ValueError as exc:
        raise PlaybookError(f"{playbook.name}: revert_after: {exc}", field="revert_after") from None


_DURATION_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_seconds(value: Any) -> float:
    """``900``, ``"900"``, ``"90s"``, ``"15m"``, ``"1.5h"`` -> seconds (must be > 0).

    Raises:
        ValueError: not a positive duration.
    """
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip().lower()
        unit = text[-1:] if text[-1:] in ("s", "m", "h") else ""
        try:
            seconds = float(text[: len(text) - len(unit)]) * _DURATION_UNITS[unit]
        except ValueError:
            raise ValueError(f"{value!r} is not a duration (seconds, or a number with s/m/h)") from None
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"{value!r} is not a positive duration")
    return seconds


def url_host(url: Any) -> str:
    """The lowercased host name of a URL (``""`` when it has none); the jinja2 filter ``url_host``."""
    from urllib.parse import urlsplit

    text = str(url or "").strip()
    if "://" not in text:
        text = "//" + text  # a bare host:port still names its host
    try:
        return (urlsplit(text).hostname or "").lower()
    except ValueError:
        return ""


def template_bytes(name: str) -> bytes:
    """Content of a file under ``templates/`` (copied byte for byte, never rendered).

    Raises:
        PlaybookError: no such template, or a path escaping the templates directory.
    """
    for source in packs():
        root = source.templates.resolve()
        path = (root / name).resolve()
        if path.is_relative_to(root) and path.is_file():
            return path.read_bytes()
    raise PlaybookError(f"template {name!r} not found under templates/")
