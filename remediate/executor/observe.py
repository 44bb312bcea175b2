"""Survey one host for a playbook: which containers it selects, what the engine shows of them,
and the state of the host paths the plan needs. All reads, no writes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from remediate.core import env_files, gpus
from remediate.core import planner as planning
from remediate.core.paths import HostPath
from remediate.core.playbook import Playbook
from remediate.core.suggest import did_you_mean
from remediate.errors import ContainerNotFound, HostFileError, PlanError
from remediate.executor import ties
from remediate.host.connection import Connection

Json = dict[str, Any]


def survey(conn: Connection, playbook: Playbook, *, only: Sequence[str] = ()) -> list[planning.Observed]:
    """Inspect every container on the host and return those the playbook selects.

    Args:
        conn: the host.
        playbook: its selectors decide.
        only: container names or ids; when given, only these (each must exist and match).

    Raises:
        ContainerNotFound: a name in ``only`` does not exist or is not selected by the playbook.
    """
    # Parked backups and staged containers are never selected, nor anyone's dependents: skip them
    # before paying for an inspect (a host may keep many backups).
    listed = [c for c in conn.list_containers() if not planning.is_remediate_copy(c["Name"])]
    inspects = [i for i in (conn.find_container(c["Id"]) for c in listed) if i]
    images: dict[str, Json | None] = {}
    observed = [observe(conn, inspect, ties.dependents_of(inspect, inspects), images) for inspect in inspects]
    chosen = planning.select(playbook, observed)
    if only:
        by_ref = {ref: obs for obs in observed for ref in (obs.name, obs.id, obs.id[:12])}
        for ref in only:
            if ref not in by_ref:
                hint = did_you_mean(ref, (obs.name for obs in observed))
                raise ContainerNotFound(f"{conn.label}: no container named {ref}{hint}", host=conn.label,
                                        container=ref)
            if by_ref[ref] not in chosen:
                raise ContainerNotFound(
                    f"{conn.label}: container {ref} is not selected by playbook {playbook.name}",
                    host=conn.label, container=ref)
        wanted = {by_ref[ref].id for ref in only}
        chosen = [obs for obs in chosen if obs.id in wanted]
    return chosen




def observe(conn: Connection, inspect: Json, dependents: tuple[str, ...] = (),
            images: dict[str, Json | None] | None = None) -> planning.Observed:
    """What a plan needs of one container: its inspect, the image it runs (by its ``Image`` id:
    the reference may name another image now), and what that reference names now.

    ``images`` caches image inspects by reference across calls (one inspect per image).
    """
    cache = images if images is not None else {}

    def image(ref: str) -> Json | None:
        if ref not in cache:
            cache[ref] = conn.inspect_image(ref) if ref else None
        return cache[ref]

    image_id = str(inspect.get("Image") or "")
    named = image(str((inspect.get("Config") or {}).get("Image") or ""))
    named_id = str(named.get("Id") or "") if named else ""
    return planning.Observed(inspect, image(image_id), dependents, None if named_id == image_id else named_id)


def host_paths(conn: Connection, paths: Mapping[str, bool]) -> dict[str, HostPath]:
    """State of each path on the Docker host (path -> whether its symlinks are followed)."""
    return {path: conn.read_path(path, follow=follow) for path, follow in sorted(paths.items())}


def plan_host(conn: Connection, playbook: Playbook, vars: Mapping[str, Any], *,
              only: Sequence[str] = (), container_only: bool = False) -> planning.Plan:
    """Survey the host and plan the playbook there (reads only); ``container_only``: see
    :func:`remediate.core.planner.plan`. A container the plan would start with GPUs on an engine
    without a GPU runtime carries the refusal that the apply raises (a dry run shows it).

    Raises:
        PlanError: an env value's host file cannot be read (see :mod:`remediate.core.env_files`).
    """
    chosen = survey(conn, playbook, only=only)
    paths = host_paths(conn, planning.host_paths_needed(playbook, vars, chosen))
    sources = {path: _env_source(conn, path) for path in planning.env_files_needed(playbook, vars, chosen)}
    plan = planning.plan(playbook, vars, chosen, host=conn.label, host_paths=paths,
                         engine_api=conn.api_version, container_only=container_only, env_sources=sources)
    return _gpu_check(conn, plan)


def _env_source(conn: Connection, path: str) -> HostPath:
    try:
        return conn.read_path(path, limit=env_files.MAX_ENV_FILE_BYTES)
    except HostFileError as exc:
        reason = exc.__cause__.strerror if isinstance(exc.__cause__, OSError) and exc.__cause__.strerror else "unreadable"
        raise PlanError(f"{conn.label}: from_file {path}: cannot read it on the Docker host ({reason}); "
                        "nothing was changed", host=conn.label) from exc


def _gpu_check(conn: Connection, plan: planning.Plan) -> planning.Plan:
    """The plan with a refusal on each container it would start with GPUs the engine cannot give."""
    containers = []
    for cp in plan.containers:
        running = cp.action is planning.ContainerAction.RECREATE and cp.state_after is not planning.RunState.STOPPED
        reason = gpus.missing_runtime(conn.info(), cp.name) if running and gpus.needs_gpu(cp.after) else None
        note = f"{reason} (the apply refuses it before anything stops)"
        containers.append(dataclasses.replace(cp, refusal=reason, notes=(*cp.notes, note)) if reason else cp)
    return dataclasses.replace(plan, containers=tuple(containers))

