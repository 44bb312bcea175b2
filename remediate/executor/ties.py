"""Containers tied to another follow it (which ones: :mod:`remediate.executor.tie_lookup`).

When the container they are tied to is replaced, :func:`follow` recreates them to link to / join
the new one; when it is put back or restarted, :func:`rejoin` starts or restarts them so they
share its namespaces again (a joiner that kept running still sits in the namespace of the
earlier run, and a PID joiner died with it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from remediate.core.naming import backup_name, staged_name
from remediate.core.spec import anonymous_volumes, spec_from_inspect
from remediate.executor.record import Dependent, Step, Tied
from remediate.executor.swap import create, stop_timeout, swap
from remediate.executor.tie_lookup import name_of, namespaces_joined, started_time
from remediate.host.connection import Connection


def record(inspect: Mapping[str, Any]) -> Tied:
    """What the journal keeps of a tied container before a change: enough for :func:`rejoin`."""
    return Tied(name=name_of(inspect), id=str(inspect["Id"]), was_running=bool((inspect.get("State") or {}).get("Running")))


def follow(conn: Connection, tied: Sequence[Mapping[str, Any]], *, old_id: str, name: str, parked: str,
           new_id: str, mark: Callable[..., None]) -> None:
    """Recreate the containers tied to ``old_id``, just parked as ``parked``, so they link to /
    join ``new_id``, now running under ``name``.

    ``tied`` are their inspects from before the change: a PID joiner died when its namespace's
    owner stopped, but it ran before and its replacement must run. ``--volumes-from`` ties need
    nothing (the volumes are handed over by name). Each is journaled (``mark(Step.DEPENDENT)``)
    before it is touched, so the undo can put it back; its old copy is removed once the whole
    change is kept (:func:`drop_replaced`: it is no backup of a change).
    """
    for before in tied:
        dep_name, dep_id = name_of(before), str(before["Id"])
        dep = conn.inspect_container(dep_id)
        host = dep.get("HostConfig") or {}
        joined = namespaces_joined(before.get("HostConfig") or {}, name, old_id)
        # The engine renamed links to the parked container along with it.
        linked = any(link.split(":", 1)[0].lstrip("/") in (name, parked) for link in host.get("Links") or [])
        if not (joined or linked):
            continue
        spec = spec_from_inspect(dep, conn.inspect_image(str(dep.get("Image", ""))))
        host_config = dict(spec.host_config)
        for key in joined:
            host_config[key] = f"container:{new_id}"
        if linked:
            host_config["Links"] = [_relink(link, parked, name) for link in host_config.get("Links") or []]
        dep_parked = backup_name(dep_name)
        was_running = bool((before.get("State") or {}).get("Running"))
        mark(Step.DEPENDENT, dependent=Dependent(name=dep_name, old_id=dep_id, temp=staged_name(dep_name),
                                                 backup=dep_parked, was_running=was_running,
                                                 restart_policy=host.get("RestartPolicy")))
        replacement = create(conn, spec.replace(host_config=host_config), staged_name(dep_name),
                             anonymous_volumes(dep))
        swap(conn, dep, replacement, dep_name, dep_parked, was_running=was_running)


def drop_replaced(conn: Connection, dependents: Sequence[Dependent]) -> None:
    """Remove the old copies of the tied containers that followed a change that is kept
    (``dependents``: their journal entries); one still under its own name was never replaced."""
    for dep in dependents:
        old = conn.find_container(dep.old_id)
        if old is not None and name_of(old) != dep.name:
            conn.remove(str(old["Id"]), missing_ok=True)


def rejoin(conn: Connection, target: str, tied: Sequence[Tied], steps: list[str] | None = None) -> None:
    """Once ``target`` runs again (put back, restarted), bring the containers that join its
    namespaces along: start one that ran before (``was_running``) and is down, restart one that
    runs but started before ``target`` did (it still sits in the namespaces of the earlier run).

    Args:
        conn: the host.
        target: the container (id or name) the others join.
        tied: :func:`record` entries; containers no longer joining ``target`` are left alone.
        steps: what was done is appended here, as commands.
    """
    steps = [] if steps is None else steps
    now = conn.inspect_container(target)
    state = now.get("State") or {}
    if not state.get("Running"):
        return
    name, ident, since = name_of(now), str(now["Id"]), started_time(state.get("StartedAt"))
    done = set()
    for entry in tied:
        other = conn.find_container(entry.id)
        if other is None or other["Id"] in done or not namespaces_joined(other.get("HostConfig") or {}, name, ident):
            continue
        done.add(other["Id"])
        other_state = other.get("State") or {}
        if other_state.get("Running") and started_time(other_state.get("StartedAt")) < since:
            steps.append(f"docker restart {entry.name}")
            conn.stop(str(other["Id"]), timeout=stop_timeout(other))
            conn.start(str(other["Id"]))
        elif not other_state.get("Running") and entry.was_running:
            steps.append(f"docker start {entry.name}")
            conn.start(str(other["Id"]))


def _relink(link: str, parked: str, name: str) -> str:
    target, sep, alias = link.partition(":")
    return f"{name}{sep}{alias}" if target.lstrip("/") == parked else link
