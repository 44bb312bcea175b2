"""Swapping one container for another under its name (each step journaled through ``mark``).

Shared by :mod:`remediate.executor.apply` (apply) and :mod:`remediate.executor.restore` (rollback),
with the backups of a container: which holds which version (:func:`lineage`), and pruning them.
Nothing here undoes itself: the journal records are the undo log (:mod:`remediate.executor.undo`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from remediate.core.kept import Backup
from remediate.core.lineage import Lineage, Move, replay
from remediate.core.naming import is_backup_of, parse_backup
from remediate.core.spec import ContainerSpec, create_body, pinned
from remediate.errors import ApplyError
from remediate.executor.journal import Journal
from remediate.executor.record import End, Kind, Step
from remediate.host.connection import Connection

#: The ends of a transaction that leave its change in place.
_TOOK_EFFECT = (End.RECREATED, End.RESTORED, End.RECOVERED_KEPT)


def create(conn: Connection, spec: ContainerSpec, name: str, volumes: dict[str, str],
           platform: str | None = None) -> str:
    """Create a container from ``spec`` under ``name``, on all its networks; returns its id.

    It runs the image the spec says (``image_id``), whatever its reference names now: the
    reference is given to the engine only while it names that image (so the container shows it),
    else the image's id (:func:`remediate.core.spec.pinned`).

    Raises:
        ApplyError: the reference moved to another image while the container was created (it
            is removed again).
    """
    if spec.image_id and spec.image != spec.image_id:
        named = conn.inspect_image(spec.image)
        spec = pinned(spec, str(named.get("Id")) if named else None)
    body, extra_networks = create_body(spec, volumes=volumes)
    new_id = conn.create(body, name, platform)
    if spec.image_id and str(conn.inspect_container(new_id).get("Image")) != spec.image_id:
        conn.remove(new_id, missing_ok=True)
        raise ApplyError(f"{conn.label}: {spec.image} moved to another image while {name} was created from it; "
                         "it was removed again", host=conn.label, container=name)
    for network, endpoint in extra_networks.items():
        conn.connect_network(new_id, network, endpoint)
    return new_id


def swap(conn: Connection, old: dict[str, Any], new_id: str, name: str, parked: str,
         *, mark: Callable[[Step], None] = lambda _step: None, was_running: bool | None = None,
         paused: bool | None = None) -> None:
    """Put ``new_id`` in place of the container ``old`` under ``name``; ``old`` is parked stopped.

    ``was_running`` (default: as ``old`` shows, paused included) says whether the new one
    starts, ``paused`` (default: as ``old`` shows) whether it is paused at once once started.

    Order matters: the old one stops before it gives up its name, and is made inert (restart
    policy ``no``, given back by the undo) before it is parked.
    """
    old_id = str(old["Id"])
    state = old.get("State") or {}
    if was_running is None:
        was_running = bool(state.get("Running"))
    if paused is None:
        paused = bool(state.get("Paused"))
    policy = (old.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}
    if state.get("Paused"):
        # A frozen process cannot act on SIGTERM: stop would wait out its whole timeout, then kill.
        conn.unpause(old_id)
    conn.stop(old_id, timeout=stop_timeout(old))
    mark(Step.STOPPED)
    if policy.get("Name") not in ("", "no"):
        # A parked container must stay down, even when the daemon restarts.
        conn.set_restart_policy(old_id, {"Name": "no"})
    conn.rename(old_id, parked)
    mark(Step.PARKED)
    conn.rename(new_id, name)
    mark(Step.SWAPPED)
    if was_running:
        conn.start(new_id)
        if paused:
            conn.pause(new_id)
        mark(Step.STARTED)


def stop_timeout(inspect: dict[str, Any]) -> int:
    """Seconds ``docker stop`` waits for a container before it kills it."""
    value = (inspect.get("Config") or {}).get("StopTimeout")
    return int(value) if value is not None else 10


def backups_of(conn: Connection, name: str) -> list[dict[str, Any]]:
    """Backup containers of ``name``, newest first."""
    found = [c for c in conn.list_containers() if is_backup_of(str(c["Name"]), name)]
    return sorted(found, key=lambda c: str(c["Name"]), reverse=True)


def list_backups(conn: Connection, container: str | None = None) -> list[Backup]:
    """Every remediate backup on the host (optionally of one container), newest first."""
    found = []
    for c in conn.list_containers():
        name = str(c["Name"])
        parsed = parse_backup(name)
        if parsed is not None and (container is None or parsed[0] == container):
            original, stamp = parsed
            found.append(Backup(name, original, stamp, str(c["Id"]), c.get("Image"), c.get("Status")))
    return sorted(found, key=lambda b: b.stamp, reverse=True)


def lineage(journal: Journal, name: str) -> Lineage:
    """The versions of ``name`` (:mod:`remediate.core.lineage`) from the journal, the moved-aside
    files too: the settled applies and rollbacks of it that took effect, oldest first."""
    moves = [Move(tx.id, "rollback" if tx.kind is Kind.ROLLBACK else "apply", tx.begin.backup,
                  str(tx.begin.temp) if tx.kind is Kind.ROLLBACK else None)
             for tx in journal.transactions(archived=True)
             if tx.container == name and tx.begin.backup and tx.end is not None and tx.end.result in _TOOK_EFFECT]
    return replay(moves)


def prune(conn: Connection, journal: Journal, name: str, keep: int) -> None:
    """Remove the backups of ``name`` past the newest ``keep``, but never the one holding its
    original (the container before any remediate change): it stays until the user removes it."""
    old = backups_of(conn, name)[keep:]
    original = lineage(journal, name).original if old else None
    for backup in old:
        if backup["Name"] != original:
            conn.remove(str(backup["Id"]))
