"""Planning: playbook x observed containers -> an immutable Plan. Pure: no Docker, no I/O.

Every change kind is a ``spec -> spec`` step that records a :class:`Change` (or a no-op with
its reason). The plan holds, per container, the spec before and after, the files to write and
the probes to run; :mod:`remediate.apply` executes it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from remediate.core import compose, env_files, gpus, host_options, upgrade
from remediate.core import live as live_changes
from remediate.core import playbook as pb
from remediate.core.fields import (
    CONFIG,
    bound_targets,
    dict_to_env,
    env_to_dict,
    host_field,
    netns_owned,
    norm_ports,
    normal_bind,
    split_bind,
)
from remediate.core.naming import is_remediate_copy
from remediate.core.paths import MAX_HOST_FILE_BYTES, HostPath, check_dest
from remediate.core.redaction import Secret
from remediate.core.spec import ContainerSpec, check_engine_api, pinned, spec_from_inspect
from remediate.core.templating import render_value, render_words
from remediate.errors import PlanError

if TYPE_CHECKING:
    from remediate.output.plan import PlanJson

Json = dict[str, Any]


class ContainerAction(StrEnum):
    """What a plan does to one container: nothing (``none``), recreate it, or update it in place
    (``update-in-place``: ``docker update``, the same container; see :mod:`remediate.core.live`)."""

    NONE = "none"
    RECREATE = "recreate"
    UPDATE = "update-in-place"


class ChangeAction(StrEnum):
    """What one field's change needs: nothing (``noop``, with its reason), a recreate, or an
    update in place."""

    NOOP = "noop"
    RECREATE = "recreate"
    UPDATE = "update-in-place"


class RunState(StrEnum):
    """Whether a container runs: ``running`` (restarting too), ``paused``, or ``stopped`` (created,
    exited, dead). A recreate keeps it, but for a stopped one the playbook starts (``start``)."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"

#: The var that allows a change to host networking to open a container reachable only from its
#: host (ports published on loopback, or none) to every interface of the host.
ALLOW_ALL_INTERFACES = "allow_all_interfaces"


@dataclass(frozen=True)
class Observed:
    """What the engine shows of one container: its inspect, its image's inspect, its dependents."""

    inspect: Json = field(hash=False)
    image: Json | None = field(default=None, hash=False)
    dependents: tuple[str, ...] = ()
    #: The id of the image its reference (``Config.Image``) names now when that is not the image
    #: it runs ("" when the reference names no image any more); None when it names that image.
    retagged: str | None = None
    #: ``HostConfig`` key -> the name of the container it joins (``IpcMode: container:<id>``), as
    #: far as the engine shows them: a playbook names the container, the engine records its id.
    joined: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def id(self) -> str:
        """Full container id."""
        return str(self.inspect["Id"])

    @property
    def name(self) -> str:
        """Container name without the leading slash."""
        return str(self.inspect.get("Name", "")).lstrip("/")

    @property
    def state(self) -> RunState:
        """Whether it runs."""
        return run_state(self.inspect)


@dataclass(frozen=True)
class ContainerFacts:
    """Per-container values available to templates as ``container``."""

    name: str
    image: str
    env: Mapping[str, str | None]
    command: tuple[str, ...]

    def flag(self, name: str, default: Any = None) -> Any:
        """Value of a command flag (``--port 8000``, ``--port=8000``, ``--po_rt``), or ``default``."""
        value = _find_flag(list(self.command), name)
        return default if value is None or value is True else value


@dataclass(frozen=True)
class Change:
    """One field of one container: before -> after, or a no-op with its reason."""

    field: str
    before: Any
    after: Any
    action: ChangeAction
    reason: str = ""
    #: The fix it comes from, in a plan merging several (:attr:`ContainerPlan.fix_specs`).
    fix: str | None = None


@dataclass(frozen=True)
class FileWrite:
    """A file the plan writes on the Docker host; ``before`` is None when it does not exist yet."""

    path: str
    content: bytes
    mode: int
    before: bytes | None
    before_mode: int | None = None
    #: ``(uid, gid)`` of the file there: kept by the write, and put back by a rollback.
    owner: tuple[int, int] | None = None
    #: Hard links of the file there (more than one: written in place, so they keep sharing it).
    links: int = 1
    #: The directories the write creates (mode :data:`remediate.core.paths.DIR_MODE`), outermost first.
    new_dirs: tuple[str, ...] = ()
    #: The path as the playbook (or compose) names it, when symlinks lead it to ``path``.
    via: str | None = None
    #: Whether the current content may be shown: a file that is not world-readable is shown
    #: by its size and digest only (a playbook must not read a root-only key out to a dry run).
    before_shown: bool = True
    #: The fix it comes from, in a plan merging several.
    fix: str | None = None

    @property
    def changed(self) -> bool:
        """True when writing would change content or mode."""
        return self.before != self.content or self.before_mode != self.mode


@dataclass(frozen=True)
class ContainerPlan:
    """The plan for one container."""

    id: str
    name: str
    fingerprint: str
    before: ContainerSpec
    after: ContainerSpec
    changes: tuple[Change, ...]
    files: tuple[FileWrite, ...]
    verify: tuple[pb.HttpProbe, ...]
    dependents: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    #: Whether the original runs (the fingerprint covers it: an apply finds it so).
    state: RunState = RunState.RUNNING
    #: A stopped original's new container is started (the playbook's ``start``) and verified fully.
    start: bool = False
    #: The image reference an ``image`` change moves it to (None: it stays on its image); the
    #: id it names is ``after.image_id`` (None: not on the host yet, an apply pulls it first).
    image: str | None = None

    @property
    def state_after(self) -> RunState:
        """Whether the new container runs once applied: as the original, or started."""
        return RunState.RUNNING if self.start else self.state
    #: Bind sources the engine creates (missing, no file of the plan writes them), with any
    #: missing parents, outermost first: removed again if the change is undone.
    engine_dirs: tuple[str, ...] = ()
    #: Env vars whose new value is read from a host file (``from_file``): secret whatever their name.
    secret_env: tuple[str, ...] = ()
    #: Why the apply refuses this plan before anything stops (a dry run shows it as a note).
    refusal: str | None = None
    #: The update in place that makes the change (None: a recreate does, when anything changes).
    live: live_changes.LiveUpdate | None = None
    #: In a plan merging several fixes: each fix, in order, with the spec once its changes (and
    #: those of the fixes before it) are made; what each line of the diff comes from.
    fix_specs: tuple[tuple[str, ContainerSpec], ...] = ()

    @property
    def created_dirs(self) -> tuple[str, ...]:
        """Every directory applying this plan creates (its files' and the engine's), outermost first."""
        seen = dict.fromkeys([*(d for f in self.files for d in f.new_dirs), *self.engine_dirs])
        return tuple(sorted(seen, key=lambda d: d.count("/")))

    @functools.cached_property
    def action(self) -> ContainerAction:
        """``update-in-place`` when it is made in place, else ``recreate`` when the spec or a file
        changes, else ``none``."""
        spec_changed = self.before.comparable() != self.after.comparable()
        if not spec_changed and not any(f.changed for f in self.files):
            return ContainerAction.NONE
        return ContainerAction.UPDATE if self.live is not None else ContainerAction.RECREATE


@dataclass(frozen=True)
class Plan:
    """What a playbook would change on one host. Immutable; build it with :func:`plan`."""

    playbook: str
    host: str
    vars: Mapping[str, Any] = field(hash=False)
    containers: tuple[ContainerPlan, ...]
    after_message: str | None = None
    #: Seconds after a successful apply when the change is to be undone (playbook ``revert_after``).
    revert_after: float | None = None
    #: The engine's API version (``"1.41"``): which ``docker run`` options can show the plan.
    engine_api: str | None = None

    @property
    def changed(self) -> tuple[ContainerPlan, ...]:
        """Container plans that change something (recreate or update in place)."""
        return tuple(c for c in self.containers if c.action is not ContainerAction.NONE)

    def check_refusals(self) -> None:
        """Refuse the apply of this plan before anything stops when a container's plan carries a
        refusal (e.g. GPUs on an engine without a GPU runtime); a dry run shows it as a note.

        Raises:
            PlanError: the first refusal, naming the host and container (nothing was changed).
        """
        refused = next((cp for cp in self.changed if cp.refusal), None)
        if refused is not None:
            raise PlanError(f"{self.host}: {refused.name}: {refused.refusal}; nothing was changed", host=self.host,
                            container=refused.name, plan=self)

    def to_json(self) -> PlanJson:
        """JSON-ready view: per container its changes, ``docker run`` lines and diff, file diffs;
        secrets masked, control characters escaped (:func:`remediate.output.plan.plan_json`)."""
        from remediate.output.plan import plan_json  # the view is the output layer's

        return plan_json(self)

    def file_users(self) -> dict[str, tuple[str, ...]]:
        """Host path -> the planned containers that need it (their plan writes it), in plan order.

        A file needed by several is owned by the host's apply: it is put back only if none of
        them stays on the new version.
        """
        users: dict[str, list[str]] = {}
        for cp in self.containers:
            for write in cp.files:
                users.setdefault(write.path, []).append(cp.name)
        return {path: tuple(names) for path, names in users.items()}


# --------------------------------------------------------------------------- selection

def facts_of(observed: Observed) -> ContainerFacts:
    """Template facts of a container."""
    cfg = observed.inspect.get("Config") or {}
    return ContainerFacts(
        name=observed.name,
        image=str(cfg.get("Image", "")),
        env=env_to_dict(cfg.get("Env") or []),
        command=tuple((cfg.get("Entrypoint") or []) + (cfg.get("Cmd") or [])),
    )


def select(playbook: pb.Playbook, containers: Iterable[Observed]) -> list[Observed]:
    """The containers any of the playbook's selectors match (never remediate backups)."""
    return [obs for obs in containers if selected(playbook.selectors, obs)]


def selected(selectors: Iterable[pb.Selector], obs: Observed) -> bool:
    """Whether any of ``selectors`` matches the container (never a remediate backup): the one
    matcher of playbooks and packs."""
    if is_remediate_copy(obs.name):
        return False
    facts = facts_of(obs)
    labels = (obs.inspect.get("Config") or {}).get("Labels") or {}
    return any(s.matches(image=facts.image, name=facts.name, labels=labels, command=" ".join(facts.command),
                         env_names=facts.env) for s in selectors)


def may_select(selectors: Iterable[pb.Selector], summary: Mapping[str, Any]) -> bool:
    """Whether any of ``selectors`` may match a container seen only in a listing (``docker ps``:
    names, labels and image, no env): False only when none can, so only the others need an inspect.

    The listing shows the image as written unless its reference names another image now (then
    the image id, which says nothing of the reference), and the command with quoted arguments:
    neither rules a container out.
    """
    name = next((str(n)[1:] for n in summary.get("Names") or [] if str(n).count("/") == 1), "")
    if is_remediate_copy(name):
        return False
    image = str(summary.get("Image") or "")
    shown = None if not image or image.startswith("sha256:") or image == str(summary.get("ImageID") or "") else image
    labels = summary.get("Labels") or {}
    return any(s.matches(image=shown, name=name, labels=labels, command=None, env_names=None) for s in selectors)


# --------------------------------------------------------------------------- planning

def render_changes(playbook: pb.Playbook, vars: Mapping[str, Any], obs: Observed) -> tuple[list[Any], list[pb.HttpProbe]]:
    """The playbook's changes and probes rendered for one container, and validated again.

    Raises:
        PlaybookError: a template failed, or renders to an invalid value (a relative path, a
            port out of 1-65535); the message names the playbook and the field.
    """
    context = {**vars, "container": facts_of(obs)}
    changes = []
    for i, change in enumerate(playbook.changes):
        where = {"playbook": playbook.name, "field": f"changes[{i}]"}
        if isinstance(change, pb.ArgsChange):
            data = {"args": _render_args(change.args, context, f"changes[{i}].args", playbook.name)}
        else:
            # resources: what it leaves out is kept, what it gives as null is removed
            data = render_value(change.model_dump(by_alias=True, exclude_unset=isinstance(change, pb.ResourcesChange)),
                                context, **where)
        changes.append(pb.validate_rendered(type(change), data, **where))
    probes = []
    for i, check in enumerate(playbook.verify):
        where = {"playbook": playbook.name, "field": f"verify[{i}].http"}
        data = render_value(check.http.model_dump(by_alias=True), context, **where)
        probes.append(pb.validate_rendered(pb.HttpProbe, data, **where))
    return changes, probes


def _render_args(edit: pb.ArgsEdit, context: Mapping[str, Any], field: str, playbook: str) -> Any:
    """An args edit rendered once: a flag's value that is one ``{{ expression }}`` of a list var
    becomes the flag's list of values."""
    values = {}
    for flag, value in edit.set.items():
        name = render_value(flag, context, playbook=playbook, field=f"{field}.set")
        values[name] = render_words(value, context, playbook=playbook, field=f"{field}.set.{flag}")
    remove = render_value(list(edit.remove), context, playbook=playbook, field=f"{field}.remove")
    return {"set": values, "remove": remove}


def host_paths_needed(playbook: pb.Playbook, vars: Mapping[str, Any], containers: Iterable[Observed]) -> dict[str, bool]:
    """Host paths :func:`plan` needs to know about (files to write, mount sources, compose
    files), each with whether its symlinks are followed (the playbook's ``follow_symlinks``; a
    compose file's link is followed: its target is edited, the link stays).

    Raises:
        PlaybookError: a ``require`` condition is false (checked first, so nothing is read for
            refused vars).
    """
    pb.check_requirements(playbook, vars)
    paths: dict[str, bool] = {}
    for obs in containers:
        changes, _ = render_changes(playbook, vars, obs)
        for change in changes:
            if isinstance(change, pb.FileChange):
                paths[change.file.dest] = paths.get(change.file.dest, False) or change.file.follow_symlinks
            elif isinstance(change, pb.MountChange) and change.mount.source is not None:
                paths[change.mount.source] = paths.get(change.mount.source, False) or change.mount.follow_symlinks
        owner = compose.owner((obs.inspect.get("Config") or {}).get("Labels"))
        if owner is not None and not owner.oneoff:
            paths.update(dict.fromkeys(owner.config_paths(), True))
    return paths


def images_needed(playbook: pb.Playbook, vars: Mapping[str, Any], containers: Iterable[Observed]) -> list[str]:
    """Image references the playbook's ``image`` changes name for these containers, in order:
    :func:`plan` needs their inspects (``images``), and an apply pulls the missing ones first.

    Raises:
        PlaybookError: a ``require`` condition is false, or a template failed to render.
    """
    pb.check_requirements(playbook, vars)
    found = (c.image for obs in containers for c in render_changes(playbook, vars, obs)[0]
             if isinstance(c, pb.ImageChange))
    return list(dict.fromkeys(found))


def plan(
    playbook: pb.Playbook,
    vars: Mapping[str, Any],
    containers: Sequence[Observed],
    *,
    host: str = "local",
    host_paths: Mapping[str, HostPath] | None = None,
    engine_api: str | None = None,
    container_only: bool = False,
    images: Mapping[str, Json | None] | None = None,
    env_sources: Mapping[str, HostPath] | None = None,
    can_update: bool = True,
) -> Plan:
    """Plan a playbook against observed containers (already selected).

    Args:
        playbook: the validated playbook.
        vars: resolved variables (defaults + overrides).
        containers: the containers to plan for, as observed on the host.
        host: a label for the host, for reports.
        host_paths: state of the paths :func:`host_paths_needed` named.
        engine_api: the engine's API version, for the ``docker run`` view.
        container_only: a compose service's change goes to the container only, not also to its
            compose file (the plan notes that compose will undo it).
        images: reference -> image inspect (None: not on the host) of :func:`images_needed`.
        env_sources: the host files env values are read from (:func:`env_files_needed`), read
            with :data:`remediate.core.env_files.MAX_ENV_FILE_BYTES` as their bound.
        can_update: the engine has the update API (``docker update``; Podman 4 has not): a
            change of the restart policy or limits alone is made in place, else by a recreate.

    Returns:
        The immutable plan.

    Raises:
        PlaybookError: a ``require`` condition is false, or a template failed to render.
        PlanError: a change cannot be made (e.g. a required host path is missing), or a container
            to recreate cannot be recreated without loss (started with ``--rm``; its image is gone).
    """
    pb.check_requirements(playbook, vars)
    revert_after = pb.render_revert_after(playbook, vars)
    paths = host_paths or {}
    start = pb.render_start(playbook, vars)
    sources = env_sources or {}
    planned = []
    for obs in containers:
        cp = _plan_container(playbook, vars, obs, paths, container_only, start, images or {}, sources, can_update)
        planned.append(cp)
        paths = _after_compose_writes(paths, cp)
    plans = tuple(planned)
    for cp in plans:
        if cp.action is ContainerAction.RECREATE:
            check_engine_api(cp.after, engine_api)
    _check_shared_files(plans)
    after = render_value(playbook.after, vars, playbook=playbook.name, field="after") if playbook.after else None
    return Plan(playbook=playbook.name, host=host, vars=dict(vars), containers=plans, after_message=after,
                revert_after=revert_after, engine_api=engine_api)


def run_state(inspect: Mapping[str, Any]) -> RunState:
    """Whether a container runs, from its inspect."""
    state = inspect.get("State") or {}
    if state.get("Paused"):
        return RunState.PAUSED
    return RunState.RUNNING if state.get("Running") or state.get("Restarting") else RunState.STOPPED


def fingerprint(obs: Observed, spec: ContainerSpec | None = None) -> str:
    """Container id plus a hash of what a plan of it depends on: its compared configuration (the
    image it runs included), what its image reference names now, and whether it runs. ``spec``:
    its spec (:func:`spec_from_inspect` of ``obs``), when already made."""
    spec = spec if spec is not None else spec_from_inspect(obs.inspect, obs.image)
    data = {"spec": spec.comparable(), "retagged": obs.retagged, "state": obs.state}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f"{obs.id[:12]}:{digest[:16]}"


def env_files_needed(playbook: pb.Playbook, vars: Mapping[str, Any], containers: Iterable[Observed]) -> list[str]:
    """The host files the playbook reads env values from (``from_file``), for these containers."""
    return sorted({path for obs in containers for path in env_files.files_needed(render_changes(playbook, vars, obs)[0])})


def _plan_container(playbook: pb.Playbook, vars: Mapping[str, Any], obs: Observed,
                    paths: Mapping[str, HostPath], container_only: bool, start: bool,
                    images: Mapping[str, Json | None], sources: Mapping[str, HostPath],
                    can_update: bool) -> ContainerPlan:
    before = spec_from_inspect(obs.inspect, obs.image)
    rendered, probes = render_changes(playbook, vars, obs)
    made = _make_changes(rendered, before, obs, vars, paths, images, sources)
    spec, notes, moved = made.spec, made.notes, made.moved
    changes, files, fix_specs = _attributed(playbook.change_fixes, made.marks, made.changes, made.files, spec)
    owner = compose.owner(before.config.get("Labels"))
    start = start and obs.state is RunState.STOPPED
    in_place = _in_place(before, spec, files, owner is not None and not owner.oneoff and not container_only,
                         can_update, playbook.revert_after is not None, start)
    if isinstance(in_place, str):
        notes.append(in_place)
    live = in_place if isinstance(in_place, live_changes.LiveUpdate) else None
    if live is not None:
        changes = [dataclasses.replace(c, action=ChangeAction.UPDATE) if c.action is ChangeAction.RECREATE else c
                   for c in changes]
    if owner is not None and not owner.oneoff:
        written, compose_notes = _compose_part(owner, obs, before, spec, changes, made.secret_env, paths,
                                               container_only)
        files.extend(written)
        notes.extend(compose_notes)
    first: list[str] = []  # what the recreate does to the container as a whole, before the rest
    if live is not None:
        first.append("in place: docker update of the same container (no recreate; a failed verify updates it back)")
    elif before.comparable() != spec.comparable() or any(f.changed for f in files):
        _check_recreatable(obs, before)
        if spec.platform != (moved.spec.platform if moved else before.platform):
            # Another platform is another image: the reference picks it, as `docker run --platform`.
            spec = spec.replace(image_id=None)
        elif obs.retagged is not None and moved is None:  # (an image change is on the id it found)
            spec = pinned(spec, obs.retagged or None)
            first.append(_retagged_note(before, obs.retagged))
        state_note = _state_note(obs, start)
        first.extend([state_note] if state_note else [])
    return ContainerPlan(
        id=obs.id, name=obs.name, fingerprint=fingerprint(obs, before), before=before, after=spec,
        changes=tuple(changes), files=tuple(files), verify=tuple(probes),
        dependents=obs.dependents, notes=(*first, *notes), state=obs.state, start=start,
        engine_dirs=tuple(dict.fromkeys(made.engine_dirs)), image=moved.spec.image if moved else None,
        secret_env=tuple(made.secret_env), live=live, fix_specs=fix_specs,
    )


@dataclass
class _Made:
    """What a container's rendered changes make, in order (:func:`_make_changes`): the spec after
    them, their plan entries, files, notes, the engine directories they need, the last image
    change that moves the container, the env names set from host files (secret), and where each
    change's entries start (changes, files, the spec before it)."""

    spec: ContainerSpec
    changes: list[Change] = field(default_factory=list)
    files: list[FileWrite] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    engine_dirs: list[str] = field(default_factory=list)
    moved: upgrade.Upgrade | None = None
    secret_env: dict[str, None] = field(default_factory=dict)
    marks: list[tuple[int, int, ContainerSpec]] = field(default_factory=list)


def _make_changes(rendered: Sequence[pb.Change], before: ContainerSpec, obs: Observed, vars: Mapping[str, Any],
                  paths: Mapping[str, HostPath], images: Mapping[str, Json | None],
                  sources: Mapping[str, HostPath]) -> _Made:
    """Each rendered change applied to the spec in turn (see :class:`_Made`)."""
    made = _Made(before)
    image_cfg = (obs.image or {}).get("Config") or {}
    file_dests = {c.file.dest for c in rendered if isinstance(c, pb.FileChange)}
    for change in rendered:
        made.marks.append((len(made.changes), len(made.files), made.spec))
        if isinstance(change, pb.ImageChange):
            step = upgrade.upgrade(made.spec, change.image, images.get(change.image), obs.image)
            if step.same is None:
                made.spec, made.moved = step.spec, step
                # later changes (args, env) see the new image's defaults
                image_cfg = (images.get(change.image) or {}).get("Config") or image_cfg
            made.changes.extend(_image_changes(before, change.image, step))
            made.notes.extend(step.notes)
            continue
        if isinstance(change, pb.EnvChange):
            change, from_files = _read_env_files(change, sources, file_dests)
            made.secret_env.update(dict.fromkeys(from_files))
        if isinstance(change, pb.MountChange) and change.mount.source is not None:
            made.notes.extend(_bind_source(change.mount, change.mount.source, paths, file_dests, made.engine_dirs))
        if isinstance(change, (pb.RestartChange, pb.ResourcesChange)):
            made.spec, step_changes = _apply_live_option(made.spec, change)
            step_notes: list[str] = []
        elif isinstance(change, (pb.TmpfsChange, pb.IpcChange, pb.ShmSizeChange)):
            made.spec, step_changes, step_notes = _apply_host_option(made.spec, change, obs, image_cfg)
        else:
            made.spec, step_changes, step_notes = _apply_change(made.spec, change, image_cfg, paths,
                                                                _allowed(vars.get(ALLOW_ALL_INTERFACES)))
        made.changes.extend(step_changes)
        made.notes.extend(step_notes)
        if isinstance(change, pb.FileChange):
            made.files.append(_file_write(change.file, paths, vars))
    return made


def _compose_part(owner: compose.ComposeOwner, obs: Observed, before: ContainerSpec, spec: ContainerSpec,
                  changes: Sequence[Change], secret_env: Mapping[str, None], paths: Mapping[str, HostPath],
                  container_only: bool) -> tuple[list[FileWrite], list[str]]:
    """A compose service's part of its plan: the compose-file edit and its notes, or, with
    ``container_only``, the warning that the file stays as it is.

    Raises:
        PlanError: a secret read from a host file would be written into the compose file.
    """
    if container_only:
        warning = (f"compose (warning): --container-only: {', '.join(owner.config_paths())} is not changed; the "
                   f"next `compose up -d --force-recreate` or edit of it recreates {owner.service} without this fix")
        return [], [warning]
    changed_secrets = [c.field.removeprefix("env.") for c in changes
                       if c.field.removeprefix("env.") in secret_env and c.action is ChangeAction.RECREATE]
    if changed_secrets:
        raise PlanError(env_files.compose_refusal(owner.service, changed_secrets), container=obs.name)
    return _compose_write(owner, before, spec, paths)


def _in_place(before: ContainerSpec, after: ContainerSpec, files: Sequence[FileWrite], compose_file: bool,
              can_update: bool, timeboxed: bool, starts: bool) -> live_changes.LiveUpdate | str | None:
    """The update in place that makes the change, why there is none when only settings the
    engine updates in place change, or None (a recreate, nothing to say; or no change)."""
    found = live_changes.live_update(before, after)
    if not isinstance(found, live_changes.LiveUpdate):
        return found
    if not can_update:
        return "in place: not possible, the engine has no docker update API: recreated"
    if timeboxed:
        return "in place: not for a time-boxed change (revert_after puts a backup back): recreated"
    if starts:
        return "in place: not for a stopped container the playbook starts (start): recreated"
    if compose_file:
        return ("in place: not possible for a compose service whose compose file changes too (compose's config "
                "hash of the service changes with it, which only a new container carries; else the next "
                "`compose up -d` would recreate it): recreated")
    if any(f.changed for f in files):
        return "in place: not possible, the playbook writes a file the container reads at start: recreated"
    return found


def _apply_live_option(spec: ContainerSpec,
                       change: pb.RestartChange | pb.ResourcesChange) -> tuple[ContainerSpec, list[Change]]:
    if isinstance(change, pb.RestartChange):
        if isinstance(change.restart, str):  # only a template is a string once validated; rendered, never
            raise PlanError(f"restart {change.restart[:40]!r} was not rendered")
        spec, edits = live_changes.set_restart(spec, change.restart)
    else:
        spec, edits = live_changes.set_resources(spec, change.resources)
    return spec, [Change(e.field, e.before, e.after, ChangeAction.NOOP, e.same) if e.same is not None
                  else Change(e.field, e.before, e.after, ChangeAction.RECREATE) for e in edits]


def _attributed(fixes: Sequence[str], marks: Sequence[tuple[int, int, ContainerSpec]], changes: list[Change],
                files: list[FileWrite], spec: ContainerSpec) -> tuple[list[Change], list[FileWrite],
                                                                       tuple[tuple[str, ContainerSpec], ...]]:
    """The changes and files tagged with the fix each comes from (``fixes``: one per playbook
    change; ``marks``: where each change's entries start), and the spec after each fix."""
    if not fixes:
        return changes, files, ()
    bounds = [*marks[1:], (len(changes), len(files), spec)]
    for fix, (c0, f0, _), (c1, f1, _) in zip(fixes, marks, bounds, strict=True):
        changes[c0:c1] = [replace(c, fix=fix) for c in changes[c0:c1]]
        files[f0:f1] = [replace(f, fix=fix) for f in files[f0:f1]]
    after = {fix: end[2] for fix, end in zip(fixes, bounds, strict=True)}  # a later change of a fix wins
    return changes, files, tuple(after.items())


def _image_changes(before: ContainerSpec, reference: str, step: upgrade.Upgrade) -> list[Change]:
    """The image change as plan entries: the image, then the settings its image supplies:
    re-derived from the new image (where it differs), and those the user set, kept."""
    was = f"{before.image} ({upgrade.short_id(before.image_id)})"
    if step.same is not None:
        return [Change("image", was, reference, ChangeAction.NOOP, step.same)]
    now = f"{reference} ({'not on the host: pulled first' if step.missing else upgrade.short_id(step.spec.image_id)})"
    out = [Change("image", was, now, ChangeAction.RECREATE, "recreated on the new image")]
    for s in step.settings:
        if s.kept:
            out.append(Change(s.field, s.before, s.after, ChangeAction.NOOP, "set by the user: kept on the new image"))
        else:
            out.append(Change(s.field, s.before, s.after, ChangeAction.RECREATE,
                              "supplied by the image: re-derived from the new one"))
    return out


def _read_env_files(change: pb.EnvChange, sources: Mapping[str, HostPath],
                    written: set[str]) -> tuple[pb.EnvChange, list[str]]:
    """The change with its ``from_file`` values read (as secrets), and the names they set."""
    names = [k for k, v in change.env.items() if isinstance(v, pb.FromFile)]
    if not names:
        return change, []
    both = next((v.from_file for v in change.env.values() if isinstance(v, pb.FromFile) and v.from_file in written),
                None)
    if both is not None:
        raise PlanError(f"from_file {both} is a file the playbook writes: an env value is read before the apply "
                        "writes anything; write the file in one run and read it in the next")
    env = {k: env_files.value_of(k, v, sources) if isinstance(v, pb.FromFile) else v for k, v in change.env.items()}
    return pb.EnvChange.model_construct(env=env), names



def _short(image_id: str) -> str:
    return image_id.removeprefix("sha256:")[:12]


def _check_recreatable(obs: Observed, before: ContainerSpec) -> None:
    """Refuse, before anything is shown as a plan, a container a recreate would lose."""
    fields = [CONFIG[k] for k in before.config] + [host_field(k) for k in before.host_config]
    for spec_field in fields:
        if spec_field.refuse is not None:
            raise PlanError(f"container {obs.name} was started with {spec_field.refuse}; nothing was changed",
                            container=obs.name)
    if obs.image is None:
        raise PlanError(f"container {obs.name} runs image {_short(before.image_id or '?')}, which is no longer on the "
                        f"Docker host: a recreate cannot keep its image; nothing was changed (load or pull that image "
                        f"first; {before.image} may name another one now)", container=obs.name)


def _retagged_note(before: ContainerSpec, retagged: str) -> str:
    now = f"now names image {_short(retagged)}" if retagged else "names no image any more"
    return (f"image (warning): {before.image} {now}; the container keeps the image it runs, "
            f"{_short(before.image_id or '')}, so its image shows as that id once recreated")


def _state_note(obs: Observed, start: bool) -> str | None:
    """What a recreate does about a container that does not run (None: it runs, and will)."""
    state = obs.inspect.get("State") or {}
    status = str(state.get("Status") or obs.state)
    if obs.state is RunState.PAUSED:
        return ("state: paused: the new container is started and paused again at once, as the original is; "
                "verify checks its configuration only (probes need it running)")
    if obs.state is RunState.STOPPED and start:
        code = f" (exit code {state.get('ExitCode')})" if status == "exited" else ""
        return f"state: {status}{code}: the new container is started (playbook start), and verified fully"
    if obs.state is RunState.STOPPED:
        return (f"state: {status}: the new container is created, not started, as the original is not running; "
                "verify checks its configuration only (a playbook with start: true starts it)")
    return None


def _after_compose_writes(paths: Mapping[str, HostPath], cp: ContainerPlan) -> Mapping[str, HostPath]:
    """``paths`` as they are once ``cp``'s compose file edits are written: the next service of the
    same compose file is planned on top of them, so one apply fixes several services of one file
    (each container's write carries the edits of those before it, in plan order)."""
    owner = compose.owner(cp.before.config.get("Labels"))
    if owner is None:
        return paths
    config = set(owner.config_paths())
    edited = {w.via or w.path: w.content for w in cp.files if (w.via or w.path) in config and w.changed}
    if not edited:
        return paths
    return {**paths, **{path: replace(paths[path], content=text) for path, text in edited.items()}}


def _check_shared_files(plans: Sequence[ContainerPlan]) -> None:
    """One host path, one content: a second container must not overwrite the first's file, except
    to build on it (a compose file that another service's edit changed first: see
    :func:`_after_compose_writes`)."""
    last: dict[str, tuple[str, FileWrite]] = {}
    for cp in plans:
        for write in cp.files:
            name, seen = last.setdefault(write.path, (cp.name, write))
            if (seen.content, seen.mode) == (write.content, write.mode):
                continue
            if write.before != seen.content or not seen.changed:
                raise PlanError(f"{write.path} would be written with different content for containers "
                                f"{name} and {cp.name}: give each its own path, or apply them one at a time "
                                "(--container NAME)")
            last[write.path] = (cp.name, write)


def _compose_write(owner: compose.ComposeOwner, before: ContainerSpec, after: ContainerSpec,
                   paths: Mapping[str, HostPath]) -> tuple[list[FileWrite], list[str]]:
    """The same change as an edit of the project's compose files (each value where compose takes
    it from, see :mod:`remediate.core.compose_edit`), and a note saying where it goes."""
    from remediate.core import compose_edit  # ruamel.yaml: read only for a compose service

    if before.comparable() == after.comparable():
        return [], ["compose: the container already matches; the compose file is left as it is"]
    files: list[tuple[str, str]] = []
    for path in owner.config_paths():
        state = paths.get(path, HostPath(False))
        if state.kind == "large":
            raise PlanError(f"compose file {path} is {state.size} bytes, more than the "
                            f"{MAX_HOST_FILE_BYTES // (1024 * 1024)} MiB remediate edits")
        if not state.exists or state.content is None:
            raise PlanError(f"compose file {path} of project {owner.project} is not on the Docker host")
        try:
            files.append((path, state.content.decode()))
        except UnicodeDecodeError as exc:
            raise PlanError(f"compose file {path} is not UTF-8 text") from exc
    edit = compose_edit.edit_project(files, owner.service, before, after, v1=owner.v1)
    if edit is None:
        raise PlanError(f"no compose file of project {owner.project} defines service {owner.service}")
    writes = []
    for path, text in edit.texts.items():
        state = paths[path]
        # Its symlinks are followed (compose read it through them): the file they lead to is
        # edited and the links stay, shown as "via" in the plan.
        writes.append(FileWrite(path=state.real or path, content=text.encode(), mode=state.mode or 0o644,
                                before=state.content, before_mode=state.mode, owner=state.owner, links=state.links,
                                via=path if state.real else None))
    where = ", ".join(edit.texts) or "no compose file (it already says so)"
    note = (f"compose: the change is written to {where} too, so compose keeps it; {owner.service} gets the "
            "config hash the host's Compose computes from it")
    return writes, [note, *edit.notes]


def _apply_change(spec: ContainerSpec, change: Any, image_cfg: Mapping[str, Any],
                  paths: Mapping[str, HostPath], allow_exposure: bool) -> tuple[ContainerSpec, list[Change], list[str]]:
    if isinstance(change, pb.EnvChange):
        return (*_set_env(spec, change.env, env_to_dict(image_cfg.get("Env") or [])), [])
    if isinstance(change, pb.ArgsChange):
        return (*_edit_args(spec, change.args, image_cfg), [])
    if isinstance(change, pb.NetworkChange):
        return _set_network(spec, change.network, allow_exposure)
    if isinstance(change, pb.PlatformChange):
        return (*_set_platform(spec, change.platform), [])
    if isinstance(change, pb.MountChange):
        if change.mount.source is None:  # state: absent (the schema ties them)
            return (*_remove_mount(spec, change.mount.target, image_cfg), [])
        return (*_add_mount(spec, change.mount, change.mount.source), [])
    if isinstance(change, pb.PortsChange):
        return _edit_ports(spec, change.ports, image_cfg)
    if isinstance(change, pb.FileChange):
        return spec, [], []
    if isinstance(change, pb.GpusChange):
        return (*_set_gpus(spec, change.gpus), [])
    raise PlanError(f"unsupported change {type(change).__name__}")


def _apply_host_option(spec: ContainerSpec, change: pb.TmpfsChange | pb.IpcChange | pb.ShmSizeChange, obs: Observed,
                       image_cfg: Mapping[str, Any]) -> tuple[ContainerSpec, list[Change], list[str]]:
    if isinstance(change, pb.TmpfsChange):
        return (*_edit_tmpfs(spec, change.tmpfs, image_cfg), [])
    if isinstance(change, pb.IpcChange):
        return _set_ipc(spec, change.ipc, obs)
    return _set_shm_size(spec, host_options.parse_size(change.shm_size))


def _edit_tmpfs(spec: ContainerSpec, tmpfs: pb.TmpfsSpec,
                image_cfg: Mapping[str, Any]) -> tuple[ContainerSpec, list[Change]]:
    """Mount a tmpfs at a target (``--tmpfs``, replacing a tmpfs there, ``--mount type=tmpfs``
    too) or remove the tmpfs there. Another mount at the target is refused: remove it first."""
    target, field_name = tmpfs.target, f"tmpfs.{tmpfs.target}"
    host_config = dict(spec.host_config)
    table = dict(host_config.get("Tmpfs") or {})
    mounts = list(host_config.get("Mounts") or [])
    as_mount = [m for m in mounts if m.get("Target") == target and m.get("Type") == "tmpfs"]
    current = (_tmpfs_text(target, str(table[target] or "")) if target in table
               else f"--mount type=tmpfs,target={target}" if as_mount else None)
    wanted = None if tmpfs.state == "absent" else _tmpfs_text(target, tmpfs.options)
    if wanted is None and current is None:
        return spec, [Change(field_name, None, None, ChangeAction.NOOP, "no tmpfs there")]
    if wanted is not None:
        if target in bound_targets({**host_config, "Mounts": [m for m in mounts if m not in as_mount]}):
            raise PlanError(f"tmpfs {target}: a bind or volume is mounted there; remove it first "
                            f"(mount: {{target: {target}, state: absent}})")
        if target in (image_cfg.get("Volumes") or {}) or target in (spec.config.get("Volumes") or {}):
            raise PlanError(f"tmpfs {target}: an anonymous volume is there (VOLUME or -v {target}), which a "
                            "recreated container gets again; the engine refuses both at one path")
        if target in table and host_options.same_tmpfs_options(str(table[target] or ""), tmpfs.options):
            return spec, [Change(field_name, current, wanted, ChangeAction.NOOP, "already mounted")]
        table[target] = tmpfs.options
    else:
        table.pop(target, None)
    kept = [m for m in mounts if m not in as_mount]
    for key, value in (("Tmpfs", table), ("Mounts", kept)):
        if value:
            host_config[key] = value
        else:
            host_config.pop(key, None)
    return spec.replace(host_config=host_config), [Change(field_name, current, wanted, ChangeAction.RECREATE)]


def _tmpfs_text(target: str, options: str) -> str:
    """A tmpfs as ``docker run --tmpfs`` takes it."""
    return f"{target}:{options}" if options else target


def _set_ipc(spec: ContainerSpec, mode: str, obs: Observed) -> tuple[ContainerSpec, list[Change], list[str]]:
    current = str(spec.host_config.get("IpcMode") or "")
    kind, _, ref = mode.partition(":")
    if kind == "container" and ref.lstrip("/") in (spec.name, obs.id, obs.id[:12]):
        raise PlanError(f"ipc {mode}: a container cannot join its own IPC namespace")
    # The engine records container:NAME as container:<id>: the same donor is the same mode.
    same = current == mode or (kind == "container" and current.startswith("container:")
                               and obs.joined.get("IpcMode") == ref.lstrip("/"))
    if same:
        return spec, [Change("ipc", current or None, mode, ChangeAction.NOOP, "already set")], []
    notes = []
    if mode == "host":
        notes.append("ipc (warning): host gives the container the host's IPC namespace: it sees and can use the "
                     "host's shared memory, semaphores and message queues")
    if kind == "container":
        notes.append(f"ipc: {ref} must be running with ipc shareable (or host) when the new container starts; "
                     "if not, it does not start and the original is put back")
    return (spec.replace(host_config={**spec.host_config, "IpcMode": mode}),
            [Change("ipc", current or None, mode, ChangeAction.RECREATE)], notes)


def _set_shm_size(spec: ContainerSpec, size: int) -> tuple[ContainerSpec, list[Change], list[str]]:
    current = spec.host_config.get("ShmSize")
    shown = host_options.size_text(int(current)) if current else None
    if current == size:
        return spec, [Change("shm_size", shown, host_options.size_text(size), ChangeAction.NOOP, "already set")], []
    ipc = str(spec.host_config.get("IpcMode") or "")
    notes = ([f"shm_size (warning): with ipc {ipc} the container uses another /dev/shm, so the size has no effect"]
             if ipc in ("host", "none") or ipc.startswith("container:") else [])
    return (spec.replace(host_config={**spec.host_config, "ShmSize": size}),
            [Change("shm_size", shown, host_options.size_text(size), ChangeAction.RECREATE)], notes)


def _set_gpus(spec: ContainerSpec, wanted: pb.GpuRequest | str | int) -> tuple[ContainerSpec, list[Change]]:
    after = gpus.with_gpus(spec, wanted)
    old, new = gpus.shown(gpus.gpu_requests(spec)), gpus.shown(gpus.gpu_requests(after))
    if spec.host_config.get("DeviceRequests") == after.host_config.get("DeviceRequests") or (
            spec.comparable() == after.comparable()):
        return spec, [Change("gpus", old, new, ChangeAction.NOOP, "no GPUs requested" if wanted == "none"
                             else "already requested")]
    return after, [Change("gpus", old, new, ChangeAction.RECREATE)]


def _set_env(spec: ContainerSpec, wanted: Mapping[str, Any],
             image_env: Mapping[str, str | None]) -> tuple[ContainerSpec, list[Change]]:
    # The spec holds only the env the user set; the image's ENV is merged in by the engine at
    # create, so a value equal to the image's is already in effect (the spec omits it).
    env = spec.env
    changes = []
    for key, value in wanted.items():
        current = env.get(key) if key in env else None
        present = key in env
        if isinstance(value, Secret) and current is not None:
            current = Secret(current)  # what a value from a file replaces is shown as a secret too
        if value is None:
            if present:
                del env[key]
                changes.append(Change(f"env.{key}", current, None, ChangeAction.RECREATE))
            elif key in image_env:
                changes.append(Change(f"env.{key}", image_env[key], None, ChangeAction.NOOP,
                                      "set by the image: recreating cannot remove it (override it instead)"))
            else:
                changes.append(Change(f"env.{key}", None, None, ChangeAction.NOOP, "already unset"))
        elif present and (env_files.same(current, value) if isinstance(value, Secret) else current == value):
            changes.append(Change(f"env.{key}", current, value, ChangeAction.NOOP, "already set"))
        elif not present and key in image_env and image_env[key] == value:
            changes.append(Change(f"env.{key}", value, value, ChangeAction.NOOP, "already set (by the image)"))
        else:
            env[key] = value
            changes.append(Change(f"env.{key}", current, value, ChangeAction.RECREATE))
    config = dict(spec.config)
    if env:
        config["Env"] = dict_to_env(env)
    else:
        config.pop("Env", None)
    return spec.replace(config=config), changes


def _edit_args(spec: ContainerSpec, edit: pb.ArgsEdit, image_cfg: Mapping[str, Any]) -> tuple[ContainerSpec, list[Change]]:
    user_cmd = "Cmd" in spec.config or "Entrypoint" in spec.config
    args = list(spec.config.get("Cmd") or []) if user_cmd else list(image_cfg.get("Cmd") or [])
    changes = []
    for flag, value in edit.set.items():
        current = _find_flag(args, flag, multi=isinstance(value, list))
        if current == value:
            changes.append(Change(f"args.{flag}", current, value, ChangeAction.NOOP, "already set"))
            continue
        args = _set_flag(args, flag, value)
        changes.append(Change(f"args.{flag}", current, value, ChangeAction.RECREATE))
    for flag in edit.remove:
        current = _find_flag(args, flag)
        if current is None:
            changes.append(Change(f"args.{flag}", None, None, ChangeAction.NOOP, "not present"))
            continue
        args = _remove_flag(args, flag)
        changes.append(Change(f"args.{flag}", current, None, ChangeAction.RECREATE))
    config = dict(spec.config)
    if args == list(image_cfg.get("Cmd") or []) and "Entrypoint" not in config:
        config.pop("Cmd", None)
    else:
        config["Cmd"] = args
    return spec.replace(config=config), changes


def _set_network(spec: ContainerSpec, mode: str, allow_exposure: bool) -> tuple[ContainerSpec, list[Change], list[str]]:
    current = spec.network_mode
    if current == mode or (mode == "bridge" and current == "default"):
        return spec, [Change("network", current, mode, ChangeAction.NOOP, "already on this network")], []
    host_config = dict(spec.host_config)
    config = dict(spec.config)
    host_config["NetworkMode"] = mode
    networks: dict[str, Any] = {}
    if mode == "host":
        # what cannot be done at all is said before what needs the user's consent
        kernel = sorted(k for k in host_config.get("Sysctls") or {} if k.startswith("net."))
        if kernel:
            raise PlanError(f"network host: the container sets network sysctls ({', '.join(kernel)}), which the "
                            "engine refuses in the host's network namespace; remove them first")
    notes = [_exposure(spec, allow_exposure)] if mode == "host" else []
    if mode in ("host", "none") or mode.startswith("container:"):
        dropped = list(host_config.get("PortBindings") or {})
        for owned in netns_owned(mode):
            (config if owned.section == "Config" else host_config).pop(owned.key, None)
        if dropped:
            notes.append(f"published ports dropped ({', '.join(dropped)}): {mode} networking ignores them")
    else:
        networks = {mode: {}}
    changes = [Change("network", current, mode, ChangeAction.RECREATE)]
    return spec.replace(host_config=host_config, config=config, networks=networks), changes, notes


def _allowed(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


def _exposure(spec: ContainerSpec, allowed: bool) -> str:
    """The warning for a container moved onto host networking, where everything it listens on
    listens on every interface of the host. A container reachable only from this host before
    (ports published on loopback only, or none) is refused unless :data:`ALLOW_ALL_INTERFACES`.

    Raises:
        PlanError: the exposure is not allowed.
    """
    bindings = {port: [str(b.get("HostIp") or "") for b in entries or [{}]]
                for port, entries in (spec.host_config.get("PortBindings") or {}).items()}
    local = sorted(p for p, ips in bindings.items() if all(_is_loopback(ip) for ip in ips))
    was = (f"published only on loopback ({', '.join(local)})" if local
           else "not published" if not bindings else "published on every interface")
    if (local or not bindings) and not allowed:
        raise PlanError(f"network host would expose {spec.name or 'the container'} on every interface of the host "
                        f"(its ports: {was}; on host networking every port it listens on is open to the network): "
                        f"refused unless -e {ALLOW_ALL_INTERFACES}=true")
    return (f"exposure (warning): on host networking it listens on every interface of the host, every port it "
            f"listens on (before: {was})" + (f"; allowed by {ALLOW_ALL_INTERFACES}" if local or not bindings else ""))


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:
        return ip == "localhost"


def _set_platform(spec: ContainerSpec, platform: str) -> tuple[ContainerSpec, list[Change]]:
    if spec.platform == platform:
        return spec, [Change("platform", spec.platform, platform, ChangeAction.NOOP, "image already has this platform")]
    return spec.replace(platform=platform), [Change("platform", spec.platform, platform, ChangeAction.RECREATE)]


def _bind_source(mount: pb.MountSpec, source: str, paths: Mapping[str, HostPath], written: set[str],
                 engine_dirs: list[str]) -> list[str]:
    """Check a bind source (no symlink on the way unless followed) and say what the engine does
    with it: a missing one it creates as an empty root directory (added to ``engine_dirs``)."""
    state = paths.get(source, HostPath(False, kind="missing"))
    if state.symlink is not None:
        raise PlanError(f"mount source {source}: {state.symlink} is a symlink; remediate does not bind "
                        "through symlinks (set follow_symlinks: true on the mount to bind where it leads)")
    if state.real is not None:
        return [f"mount source {source} is reached through symlinks: the engine binds {state.real}"]
    if state.exists or source in written:
        return []
    if mount.must_exist:
        raise PlanError(f"mount source {source} does not exist on the Docker host")
    made = [*state.missing, source]
    engine_dirs.extend(made)
    return [(f"mount source {source} does not exist: the engine creates {', '.join(made)} as empty "
             "directories owned by root (mode 0755); undone with the change")]


def _remove_mount(spec: ContainerSpec, target: str,
                  image_cfg: Mapping[str, Any]) -> tuple[ContainerSpec, list[Change]]:
    """Drop the bind (``-v``) or mount (``--mount``) at ``target``; an anonymous volume there (the
    image's ``VOLUME`` or a bare ``-v /path``) is refused: the engine would make a new one."""
    field_name = f"mount.{target}"
    declared = spec.config.get("Volumes") or {}
    if target in (image_cfg.get("Volumes") or {}) or (target in declared
                                                       and target not in bound_targets(spec.host_config)):
        raise PlanError(f"mount {target} is an anonymous volume (VOLUME or -v {target}): a recreated container "
                        "gets one there again, so it cannot be removed")
    host_config = dict(spec.host_config)
    binds = [b for b in host_config.get("Binds") or [] if split_bind(b)[1] != target]
    mounts = [m for m in host_config.get("Mounts") or [] if m.get("Target") != target]
    current = [b for b in host_config.get("Binds") or [] if split_bind(b)[1] == target] + [
        ",".join(f"{k}={m[k]}" for k in ("Type", "Source", "Target") if m.get(k))
        for m in host_config.get("Mounts") or [] if m.get("Target") == target]
    if not current:
        return spec, [Change(field_name, None, None, ChangeAction.NOOP, "not mounted")]
    for key, kept in (("Binds", binds), ("Mounts", mounts)):
        if kept:
            host_config[key] = kept
        else:
            host_config.pop(key, None)
    # The SDK also declares a bind's target as a volume: without the bind it would become one.
    config = _without_volume(spec.config, target)
    return (spec.replace(host_config=host_config, config=config),
            [Change(field_name, current[0], None, ChangeAction.RECREATE)])


def _without_volume(config: Json, target: str) -> Json:
    """``config`` without ``target`` in its ``Volumes``."""
    volumes = {k: v for k, v in (config.get("Volumes") or {}).items() if k != target}
    out = {k: v for k, v in config.items() if k != "Volumes"}
    return {**out, "Volumes": volumes} if volumes else out


def _add_mount(spec: ContainerSpec, mount: pb.MountSpec, source: str) -> tuple[ContainerSpec, list[Change]]:
    bind = f"{source}:{mount.target}" + (":ro" if mount.read_only else "")
    host_config = dict(spec.host_config)
    binds = list(host_config.get("Binds") or [])
    current = next((b for b in binds if split_bind(b)[1] == mount.target), None)
    field_name = f"mount.{mount.target}"
    if current is not None and normal_bind(current) == normal_bind(bind):
        return spec, [Change(field_name, current, bind, ChangeAction.NOOP, "already mounted")]
    binds = [b for b in binds if split_bind(b)[1] != mount.target] + [bind]
    host_config["Binds"] = binds
    mounts = [m for m in host_config.get("Mounts") or [] if m.get("Target") != mount.target]
    if mounts:
        host_config["Mounts"] = mounts
    else:
        host_config.pop("Mounts", None)
    return spec.replace(host_config=host_config), [Change(field_name, current, bind, ChangeAction.RECREATE)]


def _edit_ports(spec: ContainerSpec, edit: pb.PortsEdit,
                image_cfg: Mapping[str, Any]) -> tuple[ContainerSpec, list[Change], list[str]]:
    """Publish (replacing the bindings of each container port named) and unpublish ports. A port
    published anew is exposed too, as ``docker run -p`` does; an unpublished one stays exposed."""
    wanted: dict[str, list[Json]] = {}
    for item in edit.publish:
        host_ip, host_port, port, proto = pb.parse_publish(item)
        wanted.setdefault(f"{port}/{proto}", []).append({"HostIp": host_ip, "HostPort": host_port})
    bindings = {k if "/" in k else f"{k}/tcp": list(v or []) for k, v in (spec.host_config.get("PortBindings") or {}).items()}
    exposed = dict(spec.config.get("ExposedPorts") or {})
    changes, notes = [], []
    if wanted and (spec.network_mode in ("host", "none") or spec.network_mode.startswith("container:")):
        raise PlanError(f"cannot publish ports: the container uses {spec.network_mode} networking")
    for key, new in wanted.items():
        current = bindings.get(key)
        field_name = f"ports.{key}"
        if current is not None and norm_ports({key: current}) == norm_ports({key: new}):
            changes.append(Change(field_name, _shown_bindings(current), _shown_bindings(new), ChangeAction.NOOP,
                                  "already published"))
            continue
        bindings[key] = new
        if key not in exposed and key not in (image_cfg.get("ExposedPorts") or {}):
            exposed[key] = {}
        changes.append(Change(field_name, _shown_bindings(current), _shown_bindings(new), ChangeAction.RECREATE))
        if any(b["HostIp"] in pb.ALL_INTERFACES for b in new):
            notes.append(f"ports: {key} is published on all interfaces (bind_all: true)")
    for gone in edit.unpublish:
        key = pb.port_key(gone)
        current = bindings.pop(key, None)
        if current is None:
            changes.append(Change(f"ports.{key}", None, None, ChangeAction.NOOP, "not published"))
        else:
            changes.append(Change(f"ports.{key}", _shown_bindings(current), None, ChangeAction.RECREATE))
    host_config, config = dict(spec.host_config), dict(spec.config)
    if bindings:
        host_config["PortBindings"] = bindings
    else:
        host_config.pop("PortBindings", None)
    if exposed:
        config["ExposedPorts"] = exposed
    return spec.replace(host_config=host_config, config=config), changes, notes


def _shown_bindings(bindings: list[Json] | None) -> list[str] | None:
    """Bindings as ``host_ip:host_port`` (``[::1]:80``; an empty host port: the engine picks one)."""
    if bindings is None:
        return None
    out = []
    for b in bindings:
        ip = str(b.get("HostIp") or "")
        out.append(f"{f'[{ip}]' if ':' in ip else ip}:{b.get('HostPort') or ''}")
    return out


def _file_write(spec: pb.FileSpec, paths: Mapping[str, HostPath], vars: Mapping[str, Any]) -> FileWrite:
    if spec.template is not None:
        content = pb.template_bytes(spec.template)
    else:
        content = str(spec.content).encode()
    state = paths.get(spec.dest, HostPath(False))
    if state.symlink is not None:
        raise PlanError(f"dest {spec.dest}: {state.symlink} is a symlink; remediate does not write through "
                        "symlinks (set follow_symlinks: true on the file to write where it leads)")
    path = state.real or spec.dest
    try:
        check_dest(path, "dest")
    except ValueError as exc:
        raise PlanError(f"{spec.dest} leads to {path}: {exc}") from exc
    if state.kind == "large":
        raise PlanError(f"{path} is {state.size} bytes on the Docker host, more than the "
                        f"{MAX_HOST_FILE_BYTES // (1024 * 1024)} MiB remediate replaces (it keeps a copy to put back)")
    if state.exists and state.content is None:
        raise PlanError(f"{path} exists on the Docker host and is not a regular file")
    mode = int(spec.mode, 8) if spec.mode is not None else (state.mode if state.exists and state.mode is not None
                                                            else 0o644)
    return FileWrite(path=path, content=content, mode=mode,
                     before=state.content if state.exists else None,
                     before_mode=state.mode if state.exists else None, owner=state.owner, links=state.links,
                     new_dirs=state.missing, via=spec.dest if state.real else None,
                     before_shown=not state.exists or bool((state.mode or 0) & 0o004))


# --------------------------------------------------------------------------- command flags

def _canonical(flag: str) -> str:
    """``--served_model_name`` and ``--served-model-name`` are one flag (as vLLM parses them)."""
    dashes = len(flag) - len(flag.lstrip("-"))
    return flag[:dashes] + flag[dashes:].replace("_", "-")


def _flag_at(args: list[str], flag: str, *, multi: bool = False) -> tuple[int, int, str | bool | list[str]] | None:
    """(start, end, value) of a flag in args, value True for a bare flag; ``multi``: the flag takes
    every word up to the next flag (``nargs='+'``), value a list."""
    want = _canonical(flag)
    for i, arg in enumerate(args):
        name, sep, inline = arg.partition("=")
        if not arg.startswith("-") or _canonical(name) != want:
            continue
        if sep:
            return i, i + 1, [inline] if multi else inline
        end = i + 1
        while end < len(args) and not args[end].startswith("-") and (multi or end == i + 1):
            end += 1
        if end == i + 1:
            return i, end, True
        return i, end, args[i + 1:end] if multi else args[i + 1]
    return None


def _find_flag(args: list[str], flag: str, *, multi: bool = False) -> str | bool | list[str] | None:
    found = _flag_at(args, flag, multi=multi)
    return None if found is None else found[2]


def _set_flag(args: list[str], flag: str, value: str | bool | list[str]) -> list[str]:
    multi = isinstance(value, list)
    found = _flag_at(args, flag, multi=multi)
    if found is None:
        return args + ([flag] if value is True else [flag, *value] if isinstance(value, list) else [flag, str(value)])
    start, end, _ = found
    spelled, sep, _ = args[start].partition("=")
    if value is True:
        replacement = [spelled]
    elif isinstance(value, list):
        replacement = [spelled, *value]
    elif sep:
        replacement = [f"{spelled}={value}"]
    else:
        replacement = [spelled, str(value)]
    return args[:start] + replacement + args[end:]


def _remove_flag(args: list[str], flag: str) -> list[str]:
    found = _flag_at(args, flag)
    if found is None:
        return args
    return args[: found[0]] + args[found[1]:]
