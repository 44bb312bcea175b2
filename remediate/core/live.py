"""The ``restart`` and ``resources`` changes, and whether a plan is made in place (``docker update``)
instead of by a recreate. Pure: specs in, specs and values out.

A plan is made in place when every setting it changes is one the engine changes on the running
container (the field table's ``live_update`` column, :data:`remediate.core.fields.LIVE_UPDATE`)
and the engine can give each previous value back, so that a failed verify puts the container back
exactly: ``docker update`` reads 0 as "unchanged", so a limit added where there was none, or
removed, is carried by a recreate (the restart policy and the pids limit have a value meaning
"none", ``live_unset``). It is not made in place either on an engine without the update API
(Podman 4), for a compose service whose compose file the change is written to (compose's config
hash of the service changes with it, and only a new container carries that label), or when the
plan writes a file (the container must start again to read it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from remediate.core import host_options
from remediate.core import playbook as pb
from remediate.core.fields import host_field
from remediate.core.spec import ContainerSpec
from remediate.errors import PlanError

Json = dict[str, Any]
#: What the plan shows for each ``HostConfig`` key it changes in place.
_NAMES = {key: f"resources.{name}" for name, (key, _) in host_options.RESOURCES.items()} | {"RestartPolicy": "restart"}


@dataclass(frozen=True)
class Edit:
    """One setting a step changes, or leaves (``same``: why it is already so)."""

    field: str
    before: Any
    after: Any
    same: str | None = None


@dataclass(frozen=True)
class LiveUpdate:
    """An update in place: the ``docker update`` body that makes the change (``after``) and the one
    that puts the previous values back (``before``), ``HostConfig`` keys as the update API takes them."""

    after: Json = field(hash=False)
    before: Json = field(hash=False)


def restart_text(policy: Mapping[str, Any] | None) -> str | None:
    """A restart policy as ``--restart`` writes it (``on-failure:3``); None for none (``no``)."""
    name = str((policy or {}).get("Name") or "no")
    if name == "no":
        return None
    retries = int((policy or {}).get("MaximumRetryCount") or 0)
    return f"{name}:{retries}" if retries else name


def set_restart(spec: ContainerSpec, restart: pb.RestartSpec) -> tuple[ContainerSpec, list[Edit]]:
    """The restart policy of ``restart`` (``no`` removes it: the engine's default)."""
    current = restart_text(spec.host_config.get("RestartPolicy"))
    retries = int(restart.max_retries)
    wanted = restart_text({"Name": restart.policy, "MaximumRetryCount": retries})
    if current == wanted:
        return spec, [Edit("restart", current, wanted, "already set")]
    host_config = dict(spec.host_config)
    if wanted is None:
        host_config.pop("RestartPolicy", None)
    else:
        host_config["RestartPolicy"] = {"Name": restart.policy, "MaximumRetryCount": retries}
    return spec.replace(host_config=host_config), [Edit("restart", current, wanted)]


def set_resources(spec: ContainerSpec, resources: pb.ResourcesSpec) -> tuple[ContainerSpec, list[Edit]]:
    """The limits of ``resources`` (None removes one).

    Raises:
        PlanError: the limits the container would have the engine refuses together (``cpus``
            with a CFS period or quota, memory over memory plus swap, a reservation over the limit).
    """
    host_config = dict(spec.host_config)
    edits = []
    for name, value in resources.values().items():
        key = host_options.RESOURCES[name][0]
        current = host_config.get(key)
        shown = host_options.resource_text(key, current)
        if value is None:
            if current is None:
                edits.append(Edit(f"resources.{name}", None, None, "not set"))
                continue
            del host_config[key]
            edits.append(Edit(f"resources.{name}", shown, None))
            continue
        wanted = host_options.parse_resource(name, value)
        if current == wanted:
            edits.append(Edit(f"resources.{name}", shown, shown, "already set"))
            continue
        host_config[key] = wanted
        edits.append(Edit(f"resources.{name}", shown, host_options.resource_text(key, wanted)))
    _check_limits(host_config)
    return spec.replace(host_config=host_config), edits


def _check_limits(host_config: Mapping[str, Any]) -> None:
    memory, swap = host_config.get("Memory") or 0, host_config.get("MemorySwap") or 0
    reservation = host_config.get("MemoryReservation") or 0
    if host_config.get("NanoCpus") and (host_config.get("CpuPeriod") or host_config.get("CpuQuota")):
        raise PlanError("resources: the container would have cpus and cpu_period/cpu_quota, which the engine "
                        "refuses together: remove the other (cpu_period: null, cpu_quota: null, or cpus: null)")
    if swap and swap != -1 and not memory:
        raise PlanError("resources: memory_swap needs a memory limit (the engine refuses it alone): give memory "
                        "too, or memory_swap: null")
    if memory and swap and swap != -1 and memory > swap:
        raise PlanError(f"resources: memory {host_options.size_text(memory)} is more than memory_swap "
                        f"{host_options.size_text(swap)} (memory plus swap): give memory_swap too (-1: unlimited swap)")
    if memory and reservation > memory:
        raise PlanError(f"resources: memory_reservation {host_options.size_text(reservation)} is more than memory "
                        f"{host_options.size_text(memory)}")


def live_update(before: ContainerSpec, after: ContainerSpec) -> LiveUpdate | str | None:
    """Whether the change from ``before`` to ``after`` can be made in place.

    Returns:
        The update, when it can; why not, when it changes only settings the engine updates in
        place but one cannot be given back (a limit added or removed); None when nothing changes,
        or settings that need a recreate change too.
    """
    was, now = before.comparable(), after.comparable()
    if was == now or any(was[k] != now[k] for k in ("image", "image_id", "platform", "config", "networks")):
        return None
    keys = [k for k in sorted({*was["host_config"], *now["host_config"]})
            if was["host_config"].get(k) != now["host_config"].get(k)]
    if not all(host_field(k).live_update for k in keys):
        return None
    forward: Json = {}
    back: Json = {}
    for key in keys:
        unset = host_field(key).live_unset
        old, new = before.host_config.get(key), after.host_config.get(key)
        if unset is None and (old is None or new is None):
            what = "added where there was none" if old is None else "removed"
            return (f"in place: not possible, {_NAMES.get(key, key)} is {what}, and docker update cannot clear a "
                    "limit (a failed verify could not give the previous value back): recreated")
        forward[key] = unset if new is None else new
        back[key] = unset if old is None else old
    return LiveUpdate(forward, back)


def differing(host_config: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """The keys of ``values`` whose value the engine's ``HostConfig`` does not show (two spellings
    of "not set", such as a pids limit of 0 and none, are one)."""
    out = []
    for key, wanted in values.items():
        spec_field, shown = host_field(key), host_config.get(key)
        if spec_field.is_unset(shown) or spec_field.is_unset(wanted):
            same = spec_field.is_unset(shown) and spec_field.is_unset(wanted)
        else:
            same = spec_field.compare_form(shown) == spec_field.compare_form(wanted)
        if not same:
            out.append(key)
    return out
