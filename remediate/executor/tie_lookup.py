"""Which containers are tied to another: by ``--link``, ``--volumes-from``, or by joining its
network, IPC or PID namespace (``--network/--ipc/--pid container:X``; the engine records these
as ``container:<id>``). Reads only; :mod:`remediate.executor.ties` makes them follow a change.

Deciding is pure (inspect data in, names out); finding them on a host reads what a listing
cannot rule out (:func:`tied_on_host`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from remediate.core.listing import linker_filters, tie_filters
from remediate.core.naming import is_remediate_copy
from remediate.errors import ContainerNotFound
from remediate.host.connection import Connection
from remediate.host.dialect import DOCKER

Json = dict[str, Any]

#: ``HostConfig`` keys through which a container joins another's namespace (``container:<ref>``).
NAMESPACE_KEYS = ("NetworkMode", "IpcMode", "PidMode")


def refers_to(ref: str, name: str, ident: str) -> bool:
    """True when a container reference (name, full id or an id prefix of 12+) means this container."""
    ref = ref.lstrip("/")
    return bool(ref) and (ref == name or ref == ident or (len(ref) >= 12 and ident.startswith(ref)))


def namespaces_joined(host_config: Mapping[str, Any], name: str, ident: str) -> tuple[str, ...]:
    """The :data:`NAMESPACE_KEYS` of ``host_config`` that join the container ``name``/``ident``."""
    joined = []
    for key in NAMESPACE_KEYS:
        mode = str(host_config.get(key) or "")
        if mode.startswith("container:") and refers_to(mode.split(":", 1)[1], name, ident):
            joined.append(key)
    return tuple(joined)


def joined(inspect: Mapping[str, Any], inspects: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """:data:`NAMESPACE_KEYS` of ``inspect`` that join a container of ``inspects`` -> its name."""
    host = inspect.get("HostConfig") or {}
    return {key: name_of(other) for key in NAMESPACE_KEYS for other in inspects
            if key in namespaces_joined(host, name_of(other), str(other.get("Id", "")))}


def is_tied(other: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    """True when ``other`` links to ``target``, takes its volumes or joins one of its namespaces."""
    name, ident = name_of(target), str(target.get("Id", ""))
    if not ident or other.get("Id") == ident:
        return False
    host = other.get("HostConfig") or {}
    links = [link.split(":", 1)[0] for link in host.get("Links") or []]
    volumes_from = [v.split(":", 1)[0] for v in host.get("VolumesFrom") or []]
    return (any(refers_to(ref, name, ident) for ref in (*links, *volumes_from))
            or bool(namespaces_joined(host, name, ident)))


def dependents_of(target: Mapping[str, Any], inspects: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """Names of the containers in ``inspects`` tied to ``target`` (parked and staged ones left out)."""
    return tuple(sorted(name_of(other) for other in inspects if is_tied(other, target) and not is_remediate_copy(name_of(other))))


def tied_to(conn: Connection, target: Mapping[str, Any]) -> list[Json]:
    """Inspects of the containers on the host tied to ``target`` now (parked and staged ones left out)."""
    return tied_on_host(conn, [target])[str(target["Id"])]


def tied_on_host(conn: Connection, targets: Sequence[Mapping[str, Any]],
                 known: Mapping[str, Json] | None = None,
                 listing: Sequence[Mapping[str, Any]] | None = None) -> dict[str, list[Json]]:
    """For each of ``targets`` (inspects), the inspects of the containers tied to it now, by id.

    One listing (``listing``: every container, if just listed; else on Docker a few listings
    filtered by the engine, :func:`listed_near`), then an inspect of the candidates only
    (:func:`candidates`); ``known`` holds inspects already read (by id), not read again.
    """
    cache = dict(known or {})
    by_ref: dict[str, list[Json]] = {}  # a container reference -> the containers that name it
    idents = candidates(listed_near(conn, targets) if listing is None else listing, targets)
    unread = [ident for ident in idents if ident not in cache]
    cache.update((ident, found) for ident, found in zip(unread, conn.find_containers(unread), strict=True) if found)
    for ident in idents:
        other = cache.get(ident)
        if other is None:
            continue  # removed while we looked
        host = other.get("HostConfig") or {}
        refs = [str(v).split(":", 1)[0] for key in ("Links", "VolumesFrom") for v in host.get(key) or []]
        refs += [str(host.get(k))[len("container:"):] for k in NAMESPACE_KEYS
                 if str(host.get(k) or "").startswith("container:")]
        for ref in dict.fromkeys(r.lstrip("/") for r in refs):
            by_ref.setdefault(ref, []).append(other)
    found: dict[str, list[Json]] = {}
    for target in targets:
        ident = str(target["Id"])
        # What refers_to takes: the name, the full id, an id prefix of 12 or more.
        named = [o for ref in (name_of(target), *(ident[:n] for n in range(12, len(ident) + 1))) for o in by_ref.get(ref, [])]
        found[ident] = list({str(o["Id"]): o for o in named if is_tied(o, target)}.values())
    return found


def listed_near(conn: Connection, targets: Sequence[Mapping[str, Any]]) -> list[Json]:
    """The summaries :func:`candidates` needs to find what may be tied to ``targets``
    (inspects): on Docker, which records a container it joins by id, only the containers the
    engine's filters let through (:func:`remediate.core.listing.tie_filters`: the newer ones,
    those mounting what a target mounts, the targets and the containers that link them); on
    another engine, or when a target went meanwhile, every container."""
    filters = tie_filters(targets) if conn.dialect.name == DOCKER else None
    if filters is None:
        return conn.list_containers()
    found: dict[str, Json] = {}
    try:
        for listed in conn.list_each(filters):
            found.update((str(s["Id"]), s) for s in listed)
        own = [s for s in found.values() if s["Id"] in {t.get("Id") for t in targets}]
        for listed in conn.list_each(linker_filters(own)):
            found.update((str(s["Id"]), s) for s in listed)
    except ContainerNotFound:  # the oldest target, named by "since", was removed
        return conn.list_containers()
    return list(found.values())


def candidates(summaries: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]]) -> list[str]:
    """Ids of the listed containers (``docker ps``) that may be tied to one of ``targets``
    (inspects); any other is not.

    The listing tells links (the engine names the linking container in the target's ``Names``:
    ``/linker/alias``) and network joiners (``HostConfig.NetworkMode``). An IPC or PID joiner and
    a ``--volumes-from`` reader name a container that existed when they were created (the engine
    refuses them otherwise, and records the joined namespace by id), so they are as new as
    their target or newer; a reader of an earlier container of the same name mounts what it mounts.
    """
    sought = _Sought.of(summaries, targets)
    return [str(row.get("Id", "")) for row in summaries if sought.may_be_tied(row)]


@dataclass(frozen=True)
class _Sought:
    """What a listing is searched for (:func:`candidates`): the targets' ids and names, when the
    oldest was created, the containers that link to them and the mounts they have."""

    ids: set[str]
    names: set[str]
    created: int
    linkers: set[str]
    mounts: list[set[tuple[str, str]]]

    @classmethod
    def of(cls, summaries: Sequence[Mapping[str, Any]], targets: Sequence[Mapping[str, Any]]) -> _Sought:
        ids = {str(t.get("Id", "")) for t in targets}
        own = [s for s in summaries if s.get("Id") in ids]
        listed = {s.get("Id") for s in own}  # the engine's own seconds, else the inspect's
        created = min([int(s.get("Created") or 0) for s in own]
                      + [_epoch(t.get("Created")) for t in targets if t.get("Id") not in listed])
        linkers = {str(n).split("/")[1] for s in own for n in s.get("Names") or [] if str(n).count("/") >= 2}
        mounts = [m for m in (_mounts(t.get("Mounts") or []) for t in targets) if m]
        return cls(ids, {name_of(t) for t in targets}, created, linkers, mounts)

    def may_be_tied(self, row: Mapping[str, Any]) -> bool:
        """Whether the listed container ``row`` may be tied to one of the targets."""
        row_names = {str(n).lstrip("/") for n in row.get("Names") or [] if str(n).count("/") == 1}
        if any(is_remediate_copy(n) for n in row_names):
            return False  # one target may be tied to another: only a target itself is not its own
        mode = str((row.get("HostConfig") or {}).get("NetworkMode") or "")
        ref = mode[len("container:"):] if mode.startswith("container:") else ""
        joins_net = bool(ref) and (ref in self.names or any(refers_to(ref, "", i) for i in self.ids))
        newer = int(row.get("Created") or 0) >= self.created
        reader = bool(row.get("Mounts")) and any(m <= _mounts(row.get("Mounts") or []) for m in self.mounts)
        return newer or joins_net or bool(self.linkers & row_names) or reader


def _mounts(mounts: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(str(m.get("Destination", "")), str(m.get("Name") or m.get("Source") or "")) for m in mounts}


def _epoch(value: Any) -> int:
    try:
        return int(started_time(value).timestamp())
    except ValueError:
        return 0


def started_time(value: Any) -> datetime:
    """An inspect's time (``Created``, ``State.StartedAt``: RFC 3339); the zero time when unset."""
    return datetime.fromisoformat(str(value or "0001-01-01T00:00:00Z"))


def name_of(inspect: Mapping[str, Any]) -> str:
    """A container's name from its inspect (no leading slash)."""
    return str(inspect.get("Name", "")).lstrip("/")
