"""ContainerSpec: what the user set on a container, and nothing the image or engine supplied.

Built from ``docker inspect`` of a container and of its image. Holds the create body in the
engine API's own shape (``Config`` / ``HostConfig`` keys), minus image defaults, minus values the
engine fills in by itself, so that

* recreating from it gives back the same user-visible container (the fidelity round trip), and
* two containers that mean the same thing compare equal, whatever spelling the engine, the CLI,
  compose or the SDK used (``HostIp ""`` vs ``"0.0.0.0"``, ``:rw``, ``default`` vs ``bridge``).

This module is pure: plain dicts in, plain dicts out; no docker, no I/O.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remediate.core.fields import (
    CONFIG,
    ENDPOINT,
    bound_targets,
    env_to_dict,
    host_field,
    split_bind,
    too_new,
)
from remediate.errors import PlanError

Json = dict[str, Any]

_ANON_VOLUME = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class ContainerSpec:
    """The user-set configuration of one container.

    Attributes:
        name: container name without the leading slash.
        image: the image reference the user gave (``Config.Image``), the one a recreate gives
            the engine; the image's id when that reference now names another image (:func:`pinned`).
        image_id: the id of the image the container runs (``Image``): part of the container, a
            recreate keeps it whatever its reference names now; None when unknown.
        platform: ``os/arch[/variant]`` of the image the container runs.
        config: user-set ``Config`` keys (API shape).
        host_config: user-set ``HostConfig`` keys (API shape).
        networks: network name -> user-set endpoint settings (aliases, static IPs, links).
    """

    name: str
    image: str
    platform: str | None = None
    image_id: str | None = None
    config: Json = field(default_factory=dict, hash=False)
    host_config: Json = field(default_factory=dict, hash=False)
    networks: Json = field(default_factory=dict, hash=False)

    @property
    def network_mode(self) -> str:
        """The primary network mode (``default`` when on the default bridge)."""
        return str(self.host_config.get("NetworkMode", "default"))

    @property
    def env(self) -> dict[str, str | None]:
        """Environment as an ordered mapping (``None`` for a bare ``KEY`` without ``=``)."""
        return env_to_dict(self.config.get("Env") or [])

    @property
    def args(self) -> list[str]:
        """The command (``Cmd``) the container runs, as set by the user (may be empty)."""
        return list(self.config.get("Cmd") or [])

    def replace(self, **changes: Any) -> ContainerSpec:
        """A copy with the given attributes replaced (pass whole dicts for config/host_config/networks)."""
        return dataclasses.replace(self, **changes)

    def comparable(self) -> Json:
        """A normalised view for equality: engine/CLI spelling differences removed."""
        config = {k: CONFIG[k].compare_form(v) for k, v in self.config.items() if CONFIG[k].compared}
        if "Volumes" in config:
            # The SDK also declares bind targets as volumes (the CLI does not): the bind wins.
            bound = bound_targets(self.host_config)
            config["Volumes"] = {k: v for k, v in config["Volumes"].items() if k not in bound}
            if not config["Volumes"]:
                del config["Volumes"]
        return {
            "image": self.image,
            "image_id": self.image_id,
            "platform": self.platform,
            "config": config,
            "host_config": {k: host_field(k).compare_form(v) for k, v in self.host_config.items()},
            "networks": {n: {k: ENDPOINT[k].compare_form(v) if k in ENDPOINT else v for k, v in ep.items()}
                         for n, ep in self.networks.items()},
        }

    def to_json(self) -> Json:
        """Plain JSON-ready data."""
        return {
            "name": self.name, "image": self.image, "image_id": self.image_id, "platform": self.platform,
            "config": self.config, "host_config": self.host_config, "networks": self.networks,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerSpec:
        """Inverse of :meth:`to_json`."""
        return cls(
            name=data["name"], image=data["image"], image_id=data.get("image_id"), platform=data.get("platform"),
            config=dict(data.get("config") or {}), host_config=dict(data.get("host_config") or {}),
            networks=dict(data.get("networks") or {}),
        )


# --------------------------------------------------------------------------- extraction

def spec_from_inspect(container: Mapping[str, Any], image: Mapping[str, Any] | None) -> ContainerSpec:
    """Build the user-set spec of a container from its inspect data and its image's.

    Args:
        container: ``docker inspect`` of the container (API ``/containers/{id}/json``).
        image: ``docker image inspect`` of the image it runs (by its ``Image`` id, not by the
            ``Config.Image`` reference, which may name another image now), or None if the image
            is gone (then nothing is subtracted).

    Returns:
        The spec; recreating from it reproduces the container's configuration.
    """
    cfg: Mapping[str, Any] = container.get("Config") or {}
    host: Mapping[str, Any] = container.get("HostConfig") or {}
    img_cfg: Mapping[str, Any] = (image or {}).get("Config") or {}
    short_id = str(container.get("Id", ""))[:12]

    config: Json = {}
    for key, spec_field in CONFIG.items():
        value = cfg.get(key)
        if not spec_field.is_unset(value):
            config[key] = value
    _subtract_image_defaults(config, img_cfg)
    host_config = _user_host_config(host, config, img_cfg)
    mode = str(host_config.get("NetworkMode", "default"))
    if _shares_uts(mode, host_config):
        config.pop("Hostname", None)
        config.pop("Domainname", None)
    elif config.get("Hostname") == short_id:
        # The engine's own hostname; a user-set domainname is kept on its own.
        config.pop("Hostname", None)
    if _shares_network(mode):
        config.pop("MacAddress", None)

    networks = _user_networks(container, mode, short_id)
    return ContainerSpec(
        name=str(container.get("Name", "")).lstrip("/"),
        image=str(cfg.get("Image", "")),
        image_id=str(container.get("Image") or "") or None,
        platform=image_platform(image) if image else None,
        config=config,
        host_config=host_config,
        networks=networks,
    )


def check_engine_api(spec: ContainerSpec, engine_api: str | None) -> None:
    """Refuse a spec to create on an engine whose API predates one of the fields it sets (the
    field table's ``min_api``): the engine would drop the field, and the recreate lose it.

    Raises:
        PlanError: one line naming the container, the field, its API and the engine's.
    """
    endpoints = [(ENDPOINT.get(key), value) for ep in spec.networks.values() for key, value in ep.items()]
    for spec_field, value in [*((CONFIG.get(k), v) for k, v in spec.config.items()),
                              *((host_field(k), v) for k, v in spec.host_config.items()), *endpoints]:
        if spec_field is not None and not spec_field.is_unset(value) and too_new(spec_field, engine_api):
            raise PlanError(f"container {spec.name}: {spec_field.path} needs engine API {spec_field.min_api}, and this "
                            f"engine has API {engine_api}; nothing was changed", container=spec.name)


def pinned(spec: ContainerSpec, named: str | None) -> ContainerSpec:
    """The spec to recreate from, given the id of the image its reference names now (``named``;
    None: it names none): itself when that is the image the container runs, else with that
    image's id as its reference, so the recreated container runs the same image (a moved tag,
    e.g. ``:latest`` pulled again, must not turn a config fix into an upgrade).

    Example: ``pinned(spec, "sha256:bbb")`` with ``spec.image == "app:1"`` and
    ``spec.image_id == "sha256:aaa"`` -> a spec with ``image == "sha256:aaa"``.
    """
    if spec.image_id is None or named == spec.image_id:
        return spec
    return spec.replace(image=spec.image_id)


def image_platform(image: Mapping[str, Any]) -> str | None:
    """``os/arch[/variant]`` of an image inspect, or None when unknown."""
    os_, arch = image.get("Os"), image.get("Architecture")
    if not os_ or not arch:
        return None
    variant = image.get("Variant")
    return f"{os_}/{arch}/{variant}" if variant else f"{os_}/{arch}"


def anonymous_volumes(container: Mapping[str, Any]) -> dict[str, str]:
    """Target path -> volume name of the container's anonymous volumes (``-v /path``, image VOLUME).

    A recreated container must get these by name, or it starts with empty ones. Volumes that
    come through ``--volumes-from`` are not the container's own and are left out: the recreated
    container gets them the same way (and with the same read-only flag).
    """
    cfg: Mapping[str, Any] = container.get("Config") or {}
    host: Mapping[str, Any] = container.get("HostConfig") or {}
    own = set(cfg.get("Volumes") or {})
    own |= {str(m.get("Target")) for m in host.get("Mounts") or [] if m.get("Type") == "volume"}
    own |= {split_bind(b)[1] for b in host.get("Binds") or [] if _ANON_VOLUME.match(split_bind(b)[0])}
    result: dict[str, str] = {}
    for mount in container.get("Mounts") or []:
        name = mount.get("Name") or ""
        target = str(mount.get("Destination"))
        if mount.get("Type") == "volume" and _ANON_VOLUME.match(name) and target in own:
            result[target] = name
    return result


def _subtract_image_defaults(config: Json, img: Mapping[str, Any]) -> None:
    if "Env" in config:
        image_env = set(img.get("Env") or [])
        config["Env"] = [e for e in config["Env"] if e not in image_env]
    if "Labels" in config:
        image_labels = img.get("Labels") or {}
        config["Labels"] = {k: v for k, v in config["Labels"].items() if image_labels.get(k) != v}
    for key in ("ExposedPorts", "Volumes"):
        if key in config:
            image_keys = set(img.get(key) or {})
            config[key] = {k: v for k, v in config[key].items() if k not in image_keys}
    # No entrypoint on a container of an image that has one: the user reset it (--entrypoint "",
    # the SDK's entrypoint=""); [] in the create body resets it again, absent would bring it back.
    reset = not config.get("Entrypoint") and bool(img.get("Entrypoint"))
    if reset:
        config["Entrypoint"] = []
    elif config.get("Entrypoint") == []:
        del config["Entrypoint"]
    user_entrypoint = reset or "Entrypoint" in config and (
        config["Entrypoint"] != img.get("Entrypoint")
        # The image's entrypoint given again with no command: the engine then drops the image
        # CMD, which only an explicit entrypoint reproduces.
        or ("Cmd" not in config and bool(img.get("Cmd")))
    )
    if not user_entrypoint:
        config.pop("Entrypoint", None)
        # Docker drops the image CMD when an entrypoint is given, so Cmd is only an image
        # default when the entrypoint is the image's too.
        if config.get("Cmd") == img.get("Cmd"):
            config.pop("Cmd", None)
    for key in ("Healthcheck", "WorkingDir", "User", "StopSignal"):
        if key in config and config[key] == img.get(key):
            config.pop(key)
    for key in [k for k, v in config.items() if CONFIG[k].is_unset(v)]:
        config.pop(key)


def _user_host_config(host: Mapping[str, Any], config: Json, img: Mapping[str, Any]) -> Json:
    result: Json = {}
    for key, value in host.items():
        spec_field = host_field(key)
        if spec_field.is_unset(value) or (spec_field.engine_filled and not (spec_field.empty_is_set and value == [])):
            continue
        result[key] = value
    if "Links" in result:
        result["Links"] = [_link_to_create_form(link) for link in result["Links"]]
    if "Binds" in result:
        anon_targets = set(config.get("Volumes") or {}) | set(img.get("Volumes") or {})
        binds = [b for b in result["Binds"] if not _is_carried_anonymous(b, anon_targets)]
        if binds:
            result["Binds"] = binds
        else:
            del result["Binds"]
    if "Mounts" in result:
        result["Mounts"] = [_anonymous_mount(m) for m in result["Mounts"]]
    if result.get("NetworkMode") == "bridge":
        del result["NetworkMode"]
    return result


def _user_networks(container: Mapping[str, Any], mode: str, short_id: str) -> Json:
    if _shares_network(mode) or mode == "none":
        return {}
    endpoints = ((container.get("NetworkSettings") or {}).get("Networks")) or {}
    name = str(container.get("Name", "")).lstrip("/")
    result: Json = {}
    for net, ep in endpoints.items():
        user_ep: Json = {}
        aliases = [a for a in ep.get("Aliases") or [] if a not in (short_id, name)]
        if aliases:
            user_ep["Aliases"] = aliases
        ipam = {k: v for k, v in (ep.get("IPAMConfig") or {}).items() if v}
        if ipam:
            user_ep["IPAMConfig"] = ipam
        if ep.get("Links"):
            user_ep["Links"] = [_link_to_create_form(link) for link in ep["Links"]]
        if ep.get("DriverOpts"):
            user_ep["DriverOpts"] = ep["DriverOpts"]
        default_bridge = net == "bridge" and mode in ("default", "bridge")
        if user_ep or not default_bridge:
            result[net] = user_ep
    return result


def _shares_network(mode: str) -> bool:
    return mode == "host" or mode.startswith("container:")


def _shares_uts(mode: str, host_config: Mapping[str, Any]) -> bool:
    # The engine rejects Config.Hostname together with these modes, and fills it itself.
    return _shares_network(mode) or host_config.get("UTSMode") == "host"


def _link_to_create_form(link: str) -> str:
    """Inspect shows ``/db:/web/alias``; create wants ``db:alias``."""
    if not link.startswith("/"):
        return link
    target, _, alias_path = link.partition(":")
    return f"{target.lstrip('/')}:{alias_path.rsplit('/', 1)[-1]}"


def _anonymous_mount(mount: Mapping[str, Any]) -> Json:
    """A ``--mount type=volume`` given an anonymous volume by name (a recreate hands it over)
    is still the anonymous mount the user asked for."""
    if mount.get("Type") == "volume" and _ANON_VOLUME.match(str(mount.get("Source") or "")):
        return {k: v for k, v in mount.items() if k != "Source"}
    return dict(mount)


def _is_carried_anonymous(bind: str, anon_targets: set[str]) -> bool:
    source, target, _ = split_bind(bind)
    return bool(_ANON_VOLUME.match(source)) and target in anon_targets


# --------------------------------------------------------------------------- create body

def create_body(spec: ContainerSpec, *, volumes: Mapping[str, str] | None = None) -> tuple[Json, Json]:
    """The body of ``POST /containers/create`` for a spec, and the networks to connect after it.

    Args:
        spec: the spec to create.
        volumes: target path -> name of anonymous volumes to hand over from the old container
            (see :func:`anonymous_volumes`): a ``--mount type=volume`` without a source gets the
            name as its source, any other target a ``name:target`` bind.

    Returns:
        ``(body, extra_networks)``: the create body (``Config`` keys plus ``HostConfig`` and
        ``NetworkingConfig``), and network name -> endpoint config of the networks to connect
        before start (API < 1.44 accepts one network at create).
    """
    body: Json = dict(spec.config)
    body["Image"] = spec.image
    host_config = dict(spec.host_config)
    if volumes:
        mounts = [
            {**m, "Source": volumes[m.get("Target")]}
            if m.get("Type") == "volume" and not m.get("Source") and m.get("Target") in volumes else m
            for m in host_config.get("Mounts") or []
        ]
        if mounts:
            host_config["Mounts"] = mounts
        # A bind without a source (the SDK's ``volumes=["/data"]``) is an anonymous volume too:
        # it gets the old one's name.
        binds = [f"{volumes[b]}:{b}" if b in volumes else b for b in host_config.get("Binds") or []]
        taken = {split_bind(b)[1] for b in binds} | {str(m.get("Target")) for m in mounts}
        binds += [f"{name}:{target}" for target, name in volumes.items() if target not in taken]
        if binds:
            host_config["Binds"] = binds
    body["HostConfig"] = host_config
    mode = spec.network_mode
    networks = dict(spec.networks)
    primary = mode if mode in networks else None
    if primary is None and mode == "default" and "bridge" in networks:
        primary = "bridge"
    endpoints = {primary: _endpoint_create(networks.pop(primary))} if primary else {}
    body["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    extra = {net: _endpoint_create(ep) for net, ep in networks.items()}
    return body, extra


def _endpoint_create(endpoint: Mapping[str, Any]) -> Json:
    return {k: v for k, v in endpoint.items() if v}
