"""Survey one host for a playbook: which containers it selects, what the engine shows of them,
and the state of the host paths the plan needs. All reads, no writes.

What is read follows the selection: named containers are inspected by name and nothing else;
otherwise one listing rules out the containers no selector can match (by name, labels, image) and
only the others are inspected (on Docker the engine filters that listing by the selectors'
labels and names: :mod:`remediate.core.listing`); each image is inspected once; the containers
tied to another are looked for only once its plan recreates it, among the candidates a listing
leaves (:func:`remediate.executor.tie_lookup.candidates`; on Docker, filtered listings:
:func:`remediate.executor.tie_lookup.listed_near`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from remediate.core import env_files, gpus
from remediate.core import planner as planning
from remediate.core.listing import Filters, selection_filters
from remediate.core.naming import is_remediate_copy
from remediate.core.paths import HostPath
from remediate.core.playbook import Playbook, Selector
from remediate.core.suggest import did_you_mean
from remediate.errors import ContainerNotFound, HostFileError, PlanError
from remediate.executor import tie_lookup
from remediate.host.connection import Connection
from remediate.host.dialect import DOCKER

Json = dict[str, Any]


def survey(conn: Connection, playbook: Playbook, *, only: Sequence[str] = (),
           listing: Sequence[Json] | None = None) -> list[planning.Observed]:
    """The containers on the host the playbook selects, observed.

    Args:
        conn: the host.
        playbook: its selectors decide.
        only: container names or ids; when given, only these (each must exist and match).
        listing: the host's containers as just listed (:meth:`Connection.list_containers`), if
            at hand; else they are listed when needed.

    Raises:
        ContainerNotFound: a name in ``only`` does not exist or is not selected by the playbook.
    """
    if not only:
        return find(conn, playbook.selectors, listing)
    found = named(conn, only)
    for ref, obs in zip(only, found, strict=True):
        if not planning.selected(playbook.selectors, obs):
            raise ContainerNotFound(f"{conn.label}: container {ref} is not selected by playbook {playbook.name}",
                                    host=conn.label, container=ref)
    return list({obs.id: obs for obs in found}.values())


def find(conn: Connection, selectors: Sequence[Selector], listing: Sequence[Json] | None = None) -> list[planning.Observed]:
    """The containers on the host any of ``selectors`` matches, observed, in the engine's order
    (newest first). Only those the listing (``listing``, else one made now) cannot rule out are
    inspected."""
    summaries = conn.list_containers() if listing is None else listing
    listed = [c for c in summaries if planning.may_select(selectors, c)]
    inspects = conn.find_containers([str(c["Id"]) for c in listed])  # None: removed while we looked
    chosen = [i for i in inspects if i is not None and planning.selected(selectors, planning.Observed(i))]
    images: dict[str, Json | None] = {}
    return [observe(conn, inspect, images=images) for inspect in chosen]


def named(conn: Connection, refs: Iterable[str]) -> list[planning.Observed]:
    """The containers named by ``refs`` (a name, a full id or its first 12 characters), observed,
    one per ref, whether any selector matches them or not.

    Raises:
        ContainerNotFound: a ref names no container (remediate's own parked and staged copies
            are none); the message suggests the closest name.
    """
    images: dict[str, Json | None] = {}
    found = []
    for ref in refs:
        inspect = conn.find_container(ref) if ref else None
        name = str((inspect or {}).get("Name", "")).lstrip("/")
        ident = str((inspect or {}).get("Id", ""))
        # The engine also takes any id prefix; remediate takes what `docker ps` shows.
        if inspect is None or ref not in (name, ident, ident[:12]) or is_remediate_copy(name):
            names = (str(c["Name"]) for c in conn.list_containers() if not is_remediate_copy(str(c["Name"])))
            raise ContainerNotFound(f"{conn.label}: no container named {ref}{did_you_mean(ref, names)}",
                                    host=conn.label, container=ref)
        found.append(observe(conn, inspect, images=images))
    return found


def observe(conn: Connection, inspect: Json, dependents: tuple[str, ...] = (),
            images: dict[str, Json | None] | None = None) -> planning.Observed:
    """What a plan needs of one container: its inspect, the image it runs (by its ``Image`` id:
    the reference may name another image now), what that reference names now, and the names of the
    containers whose namespaces it joins (see :func:`tie_lookup.joined`).

    ``images`` caches image inspects by reference and id across calls: an image is inspected
    once, by its reference when that still names it.
    """
    cache = images if images is not None else {}

    def image(ref: str) -> Json | None:
        if ref not in cache:
            found = cache[ref] = conn.inspect_image(ref) if ref else None
            if found is not None:
                cache.setdefault(str(found.get("Id") or ""), found)
        return cache[ref]

    image_id = str(inspect.get("Image") or "")
    named_image = image(str((inspect.get("Config") or {}).get("Image") or ""))
    named_id = str(named_image.get("Id") or "") if named_image else ""
    return planning.Observed(inspect, image(image_id), dependents, None if named_id == image_id else named_id,
                             joined=_joined(conn, inspect))


def _joined(conn: Connection, inspect: Json) -> dict[str, str]:
    """The names of the containers whose namespaces ``inspect`` joins (``container:ID``), each
    inspected only when it joins one."""
    host = inspect.get("HostConfig") or {}
    refs = {str(host.get(key) or "").removeprefix("container:") for key in tie_lookup.NAMESPACE_KEYS
            if str(host.get(key) or "").startswith("container:")}
    others = [found for found in (conn.find_container(ref) for ref in sorted(refs) if ref) if found is not None]
    return tie_lookup.joined(inspect, others)


def host_paths(conn: Connection, paths: Mapping[str, bool]) -> dict[str, HostPath]:
    """State of each path on the Docker host (path -> whether its symlinks are followed)."""
    return {path: conn.read_path(path, follow=follow) for path, follow in sorted(paths.items())}


def images(conn: Connection, references: Sequence[str], *, pull: bool = False,
           on_pull: Callable[[str], None] | None = None, pull_stall: float = 60.0) -> dict[str, Json | None]:
    """Reference -> image inspect (None: not on the host) of the images ``image`` changes name;
    with ``pull``, a missing one is pulled through the engine first (``on_pull`` gets its
    progress lines), so the plan shows what it supplies; a pull without progress for
    ``pull_stall`` seconds is aborted.

    Raises:
        ImageNotFound: a pull failed (no such image, credentials refused, registry unreachable,
            stalled).
    """
    found: dict[str, Json | None] = {}
    for ref in references:
        found[ref] = conn.inspect_image(ref)
        if found[ref] is None and pull:
            conn.pull(ref, on_pull, stall=pull_stall)
            found[ref] = conn.inspect_image(ref)
    return found


def plan_host(conn: Connection, playbook: Playbook, vars: Mapping[str, Any], *,
              only: Sequence[str] = (), container_only: bool = False, pull: bool = False,
              on_pull: Callable[[str], None] | None = None, pull_stall: float = 60.0) -> planning.Plan:
    """Survey the host and plan the playbook there; ``container_only``: see
    :func:`remediate.core.planner.plan`. Reads only, but with ``pull`` the images an ``image``
    change names are pulled first if missing (see :func:`images`, also for ``pull_stall``):
    before anything stops. The
    containers tied to one the plan recreates are its ``dependents`` (they follow it on apply). A
    container the plan would recreate but the engine cannot recreate exactly (Podman 4's restart
    policy: :meth:`remediate.host.dialect.Dialect.refusal`), or would start with GPUs on an engine
    without a GPU runtime, carries the refusal that the apply raises (a dry run shows it).

    Raises:
        PlanError: an env value's host file cannot be read (see :mod:`remediate.core.env_files`).
    """
    # One listing for the selection and for the containers tied to those it changes; on Docker,
    # one the engine filters by the selectors' labels and names, and the tie lookup its own.
    narrowed = selection_filters(playbook.selectors) if not only and conn.dialect.name == DOCKER else None
    every = None if only or narrowed is not None else conn.list_containers()
    chosen = survey(conn, playbook, only=only, listing=every if narrowed is None else _listed(conn, narrowed))
    paths = host_paths(conn, planning.host_paths_needed(playbook, vars, chosen))
    needed = images(conn, planning.images_needed(playbook, vars, chosen), pull=pull, on_pull=on_pull,
                    pull_stall=pull_stall)
    sources = {path: _env_source(conn, path) for path in planning.env_files_needed(playbook, vars, chosen)}
    inspects = {obs.id: obs.inspect for obs in chosen}
    plan = _refusals(conn, planning.plan(playbook, vars, chosen, host=conn.label, host_paths=paths,
                                         engine_api=conn.api_version, container_only=container_only, images=needed,
                                         env_sources=sources, can_update=conn.dialect.can_update), inspects)
    if not plan.changed:
        return plan
    tied = tie_lookup.tied_on_host(conn, [inspects[cp.id] for cp in plan.changed], known=inspects, listing=every)
    containers = tuple(dataclasses.replace(cp, dependents=tie_lookup.dependents_of(inspects[cp.id], tied[cp.id]))
                       if cp.id in tied else cp for cp in plan.containers)
    return dataclasses.replace(plan, containers=containers)


def _listed(conn: Connection, filters: Sequence[Filters]) -> list[Json]:
    """The containers any of ``filters`` lets through, each once, newest first (the engine's order)."""
    if len(filters) == 1:
        return conn.list_containers(filters[0])
    found = {str(s["Id"]): s for each in filters for s in conn.list_containers(each)}
    return sorted(found.values(), key=lambda s: -int(s.get("Created") or 0))


def _env_source(conn: Connection, path: str) -> HostPath:
    try:
        return conn.read_path(path, limit=env_files.MAX_ENV_FILE_BYTES)
    except HostFileError as exc:
        reason = exc.__cause__.strerror if isinstance(exc.__cause__, OSError) and exc.__cause__.strerror else "unreadable"
        raise PlanError(f"{conn.label}: from_file {path}: cannot read it on the Docker host ({reason}); "
                        "nothing was changed", host=conn.label) from exc


def _refusals(conn: Connection, plan: planning.Plan, inspects: Mapping[str, Json]) -> planning.Plan:
    """The plan with a refusal on each container it would recreate but the engine cannot recreate
    exactly, or would start with GPUs the engine cannot give, and a note on what a recreate there
    may change that the engine does not show (:meth:`remediate.host.dialect.Dialect.caveat`)."""
    containers = []
    for cp in plan.containers:
        if cp.action is planning.ContainerAction.RECREATE:
            running = cp.state_after is not planning.RunState.STOPPED
            reason = conn.dialect.refusal(inspects[cp.id]) or (
                gpus.missing_runtime(conn.info(), cp.name) if running and gpus.needs_gpu(cp.after) else None)
            caveat = conn.dialect.caveat(inspects[cp.id])
            notes = (*cp.notes, *([caveat] if caveat else []),
                     *([f"{reason} (the apply refuses it before anything stops)"] if reason else []))
            cp = dataclasses.replace(cp, refusal=reason or cp.refusal, notes=notes)
        containers.append(cp)
    return dataclasses.replace(plan, containers=tuple(containers))

