"""Survey one host for a playbook: which containers it selects, what the engine shows of them,
and the state of the host paths the plan needs. All reads, no writes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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


def images(conn: Connection, references: Sequence[str], *, pull: bool = False,
           on_pull: Callable[[str], None] | None = None) -> dict[str, Json | None]:
    """Reference -> image inspect (None: not on the host) of the images ``image`` changes name;
    with ``pull``, a missing one is pulled through the engine first (``on_pull`` gets its
    progress lines), so the plan shows what it supplies.

    Raises:
        ImageNotFound: a pull failed (no such image, credentials refused, registry unreachable).
    """
    found: dict[str, Json | None] = {}
    for ref in references:
        found[ref] = conn.inspect_image(ref)
        if found[ref] is None and pull:
            conn.pull(ref, on_pull)
            found[ref] = conn.inspect_image(ref)
    return found


def plan_host(conn: Connection, playbook: Playbook, vars: Mapping[str, Any], *,
              only: Sequence[str] = (), container_only: bool = False, pull: bool = False,
              on_pull: Callable[[str], None] | None = None) -> planning.Plan:
    """Survey the host and plan the playbook there; ``container_only``: see
    :func:`remediate.core.planner.plan`. Reads only, but with ``pull`` the images an ``image``
    change names are pulled first if missing (see :func:`images`): before anything stops."""
    chosen = survey(conn, playbook, only=only)
    paths = host_paths(conn, planning.host_paths_needed(playbook, vars, chosen))
    needed = images(conn, planning.images_needed(playbook, vars, chosen), pull=pull, on_pull=on_pull)
    return planning.plan(playbook, vars, chosen, host=conn.label, host_paths=paths,
                         engine_api=conn.api_version, container_only=container_only, images=needed)

