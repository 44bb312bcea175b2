"""Survey one host for a playbook: which containers it selects, what the engine shows of them,
and the state of the host paths the plan needs. All reads, no writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from remediate.core import planner as planning
from remediate.core.paths import HostPath
from remediate.core.playbook import Playbook
from remediate.core.suggest import did_you_mean
from remediate.errors import ContainerNotFound
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
    observed = []
    for inspect in inspects:
        image_id = str(inspect.get("Image", ""))
        if image_id not in images:
            images[image_id] = conn.inspect_image(image_id)
        observed.append(planning.Observed(inspect, images[image_id], ties.dependents_of(inspect, inspects)))
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




def host_paths(conn: Connection, paths: Mapping[str, bool]) -> dict[str, HostPath]:
    """State of each path on the Docker host (path -> whether its symlinks are followed)."""
    return {path: conn.read_path(path, follow=follow) for path, follow in sorted(paths.items())}


def plan_host(conn: Connection, playbook: Playbook, vars: Mapping[str, Any], *,
              only: Sequence[str] = (), container_only: bool = False) -> planning.Plan:
    """Survey the host and plan the playbook there (reads only); ``container_only``: see
    :func:`remediate.core.planner.plan`."""
    chosen = survey(conn, playbook, only=only)
    paths = host_paths(conn, planning.host_paths_needed(playbook, vars, chosen))
    return planning.plan(playbook, vars, chosen, host=conn.label, host_paths=paths,
                         engine_api=conn.api_version, container_only=container_only)

