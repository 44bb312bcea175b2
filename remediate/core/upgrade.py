"""The ``image`` change: a container recreated on another image, as ``docker run`` of that image
with the user's own settings would make it (pure: plain dicts in, plain values out).

A :class:`~remediate.core.spec.ContainerSpec` holds only what the user set; what the image
supplied by default (the table's ``image_default`` fields: Env, Cmd, Entrypoint, WorkingDir,
User, ExposedPorts, Volumes, Labels, Healthcheck, StopSignal) is not in it. So creating the spec
on the new image lets the engine fill in the *new* image's defaults, exactly as ``docker run`` of
the new tag does, while every setting the user gave stays. :func:`upgrade` returns that spec, on
the new image's id (the tag may move later: the recreate runs the image the plan showed), and
the two groups of settings for the plan: those re-derived from the new image (where it differs
from the old one) and those the user set, kept.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from remediate.core import compose
from remediate.core.fields import IMAGE_DEFAULTS, env_to_dict
from remediate.core.redaction import redact_args
from remediate.core.spec import ContainerSpec, image_platform

Json = dict[str, Any]

#: Compose v2's label holding the id of the image it created the container from: compared by its
#: next ``up``, so a recreate on another image must carry the new id in it.
COMPOSE_IMAGE = f"{compose.PREFIX}image"

#: How each image-supplied Config key is named in a plan (env and labels: one entry per name).
_NAMES = {"User": "user", "ExposedPorts": "expose", "Env": "env", "Cmd": "cmd", "Healthcheck": "healthcheck",
          "Volumes": "volumes", "WorkingDir": "workdir", "Entrypoint": "entrypoint", "Labels": "labels",
          "StopSignal": "stop_signal"}


@dataclass(frozen=True)
class Setting:
    """One image-supplied setting of an upgrade.

    Attributes:
        field: ``env.NAME``, ``labels.NAME``, ``cmd``, ``entrypoint``, ``workdir``, ...
        before: as the old image (re-derived) or the user (kept) has it; shown form.
        after: as the new image has it (re-derived), or the user's value (kept).
        kept: True when the user set it (kept on the new image), False when the new image gives it.
    """

    field: str
    before: Any
    after: Any
    kept: bool


@dataclass(frozen=True)
class Upgrade:
    """What the ``image`` change does to a spec.

    Attributes:
        spec: the spec on the new image (unchanged when ``same``).
        settings: re-derived settings that differ between the images, then the kept ones.
        notes: plan notes (the image is missing, a compose label follows the image).
        same: why nothing changes (the container already runs that image); None when it does.
        missing: the reference names no image on the host yet (an apply pulls it first).
    """

    spec: ContainerSpec
    settings: tuple[Setting, ...] = ()
    notes: tuple[str, ...] = ()
    same: str | None = None
    missing: bool = False


def short_id(image_id: str | None) -> str:
    """``sha256:0123456789abcdef…`` -> ``0123456789ab`` ("?" when unknown)."""
    return (image_id or "?").removeprefix("sha256:")[:12]


def upgrade(spec: ContainerSpec, reference: str, new_image: Mapping[str, Any] | None,
            old_image: Mapping[str, Any] | None) -> Upgrade:
    """Move ``spec`` onto the image ``reference`` names.

    Args:
        spec: the container's spec so far (user-set settings only).
        reference: the image reference the playbook gives (validated).
        new_image: image inspect of what ``reference`` names on the host, None when it is not there.
        old_image: image inspect of the image the container runs (None: gone).

    Returns:
        The upgrade; ``same`` set when the container already runs that image.
    """
    old_cfg: Mapping[str, Any] = (old_image or {}).get("Config") or {}
    if new_image is None:
        kept = tuple(s for s in _settings(spec.config, old_cfg, old_cfg) if s.kept)
        note = (f"image: {reference} is not on the Docker host: an apply pulls it through the engine before "
                "anything stops (a dry run never pulls); the settings it supplies are shown once it is there")
        return Upgrade(spec.replace(image=reference, image_id=None), kept, (note,), missing=True)
    new_id = str(new_image.get("Id") or "")
    if new_id and new_id == spec.image_id:
        return Upgrade(spec, same=f"already runs {reference} (image {short_id(new_id)})")
    new_cfg: Mapping[str, Any] = new_image.get("Config") or {}
    config = dict(spec.config)
    notes: list[str] = []
    labels = dict(config.get("Labels") or {})
    if COMPOSE_IMAGE in labels:
        labels[COMPOSE_IMAGE] = new_id
        config["Labels"] = labels
        notes.append(f"compose: label {COMPOSE_IMAGE} follows the image ({short_id(new_id)}), as compose sets it")
    after = spec.replace(image=reference, image_id=new_id or None, platform=image_platform(new_image) or spec.platform,
                         config=config)
    return Upgrade(after, tuple(_settings(spec.config, old_cfg, new_cfg)), tuple(notes))


def _settings(user: Mapping[str, Any], old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Setting]:
    """The image-supplied settings: re-derived ones whose value differs between ``old`` and ``new``
    image config, then the ones the user set (``user``: the spec's Config), kept."""
    derived: list[Setting] = []
    kept: list[Setting] = []
    for key in IMAGE_DEFAULTS:
        name = _NAMES.get(key, key)
        if key in ("Env", "Labels"):
            mine, was, now = (_named(key, c.get(key)) for c in (user, old, new))
            for item in dict.fromkeys([*was, *now]):
                if item not in mine and was.get(item) != now.get(item):
                    derived.append(Setting(f"{name}.{item}", was.get(item), now.get(item), kept=False))
            # Every env var the user set (the upgrade's worry); labels only where an image has one too.
            kept += [Setting(f"{name}.{item}", value, value, kept=True) for item, value in mine.items()
                     if key == "Env" or item in was or item in now]
        elif key in user:
            kept.append(Setting(name, _shown(key, user[key]), _shown(key, user[key]), kept=True))
        elif old.get(key) != new.get(key):
            derived.append(Setting(name, _shown(key, old.get(key)), _shown(key, new.get(key)), kept=False))
    return derived + kept


def _named(key: str, value: Any) -> dict[str, Any]:
    if key == "Env":
        return env_to_dict(value or [])
    return dict(value or {})


def _shown(key: str, value: Any) -> Any:
    """A value as a plan shows it: commands shell-quoted with secret flag values masked, port and
    volume sets as their keys, objects as compact JSON."""
    if value is None or value == [] or value == {} or value == "":
        return None
    if key in ("Cmd", "Entrypoint"):
        words = [value] if isinstance(value, str) else list(value)
        return shlex.join(redact_args(words))
    if key in ("ExposedPorts", "Volumes"):
        return ", ".join(sorted(value))
    if key == "Healthcheck":
        test = list(value.get("Test") or [])
        return json.dumps({**value, "Test": test[:1] + redact_args(test[1:])}, sort_keys=True, separators=(",", ":"))
    return value
