"""Planning: playbook x observed containers -> an immutable Plan. Pure: no Docker, no I/O.

Every change kind is a ``spec -> spec`` step that records a :class:`Change` (or a no-op with
its reason). The plan holds, per container, the spec before and after, the files to write and
the probes to run; :mod:`remediate.apply` executes it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from remediate.core import compose, compose_edit, env_files, gpus
from remediate.core import playbook as pb
from remediate.core.fields import CONFIG, dict_to_env, env_to_dict, host_field, netns_owned
from remediate.core.paths import MAX_HOST_FILE_BYTES, HostPath, check_dest
from remediate.core.redaction import Secret
from remediate.core.spec import ContainerSpec, pinned, spec_from_inspect
from remediate.core.templating import render_value
from remediate.errors import PlanError

Json = dict[str, Any]


class ContainerAction(StrEnum):
    """What a plan does to one container: nothing (``none``) or recreate it."""

    NONE = "none"
    RECREATE = "recreate"


class ChangeAction(StrEnum):
    """What one field's change needs: nothing (``noop``, with its reason) or a recreate."""

    NOOP = "noop"
    RECREATE = "recreate"


class RunState(StrEnum):
    """Whether a container runs: ``running`` (restarting too), ``paused``, or ``stopped`` (created,
    exited, dead). A recreate keeps it, but for a stopped one the playbook starts (``start``)."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"

#: Name parts of the containers remediate parks (backups) and stages (new, not yet swapped in).
BACKUP_MARK = "-remediate-backup-"
NEW_MARK = "-remediate-new"
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

    @property
    def created_dirs(self) -> tuple[str, ...]:
        """Every directory applying this plan creates (its files' and the engine's), outermost first."""
        seen = dict.fromkeys([*(d for f in self.files for d in f.new_dirs), *self.engine_dirs])
        return tuple(sorted(seen, key=lambda d: d.count("/")))

    @property
    def action(self) -> ContainerAction:
        """``recreate`` when the spec or a file changes, else ``none``."""
        spec_changed = self.before.comparable() != self.after.comparable()
        changed = spec_changed or any(f.changed for f in self.files)
        return ContainerAction.RECREATE if changed else ContainerAction.NONE


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
        """Container plans that recreate something."""
        return tuple(c for c in self.containers if c.action is ContainerAction.RECREATE)

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

def is_remediate_copy(name: str) -> bool:
    """True for remediate's own parked backups and staged new containers: never selected, nor
    anyone's dependents."""
    return BACKUP_MARK in name or name.endswith(NEW_MARK)


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
    chosen = []
    for obs in containers:
        cfg = obs.inspect.get("Config") or {}
        labels = cfg.get("Labels") or {}
        if is_remediate_copy(obs.name):
            continue
        facts = facts_of(obs)
        if any(s.matches(image=facts.image, name=facts.name, labels=labels,
                         command=" ".join(facts.command), env_names=facts.env)
               for s in playbook.selectors):
            chosen.append(obs)
    return chosen


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
        data = render_value(change.model_dump(by_alias=True), context, **where)
        changes.append(pb.validate_rendered(type(change), data, **where))
    probes = []
    for i, check in enumerate(playbook.verify):
        where = {"playbook": playbook.name, "field": f"verify[{i}].http"}
        data = render_value(check.http.model_dump(by_alias=True), context, **where)
        probes.append(pb.validate_rendered(pb.HttpProbe, data, **where))
    return changes, probes


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
            elif isinstance(change, pb.MountChange):
                paths[change.mount.source] = paths.get(change.mount.source, False) or change.mount.follow_symlinks
        owner = compose.owner((obs.inspect.get("Config") or {}).get("Labels"))
        if owner is not None and not owner.oneoff:
            paths.update(dict.fromkeys(owner.config_paths(), True))
    return paths


def plan(
    playbook: pb.Playbook,
    vars: Mapping[str, Any],
    containers: Sequence[Observed],
    *,
    host: str = "local",
    host_paths: Mapping[str, HostPath] | None = None,
    engine_api: str | None = None,
    container_only: bool = False,
    env_sources: Mapping[str, HostPath] | None = None,
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
        env_sources: the host files env values are read from (:func:`env_files_needed`), read
            with :data:`remediate.core.env_files.MAX_ENV_FILE_BYTES` as their bound.

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
    plans = tuple(_plan_container(playbook, vars, obs, paths, container_only, start, sources) for obs in containers)
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


def fingerprint(obs: Observed) -> str:
    """Container id plus a hash of what a plan of it depends on: its compared configuration (the
    image it runs included), what its image reference names now, and whether it runs."""
    data = {"spec": spec_from_inspect(obs.inspect, obs.image).comparable(), "retagged": obs.retagged,
            "state": obs.state}
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()
    return f"{obs.id[:12]}:{digest[:16]}"


def env_files_needed(playbook: pb.Playbook, vars: Mapping[str, Any], containers: Iterable[Observed]) -> list[str]:
    """The host files the playbook reads env values from (``from_file``), for these containers."""
    return sorted({path for obs in containers for path in env_files.files_needed(render_changes(playbook, vars, obs)[0])})


def _plan_container(playbook: pb.Playbook, vars: Mapping[str, Any], obs: Observed,
                    paths: Mapping[str, HostPath], container_only: bool, start: bool,
                    sources: Mapping[str, HostPath]) -> ContainerPlan:
    before = spec_from_inspect(obs.inspect, obs.image)
    image_cfg = (obs.image or {}).get("Config") or {}
    rendered, probes = render_changes(playbook, vars, obs)
    spec, changes, files, notes = before, [], [], []
    file_dests = {c.file.dest for c in rendered if isinstance(c, pb.FileChange)}
    engine_dirs: list[str] = []
    secret_env: dict[str, None] = {}
    for change in rendered:
        if isinstance(change, pb.EnvChange):
            change, from_files = _read_env_files(change, sources, file_dests)
            secret_env.update(dict.fromkeys(from_files))
        if isinstance(change, pb.MountChange):
            notes.extend(_bind_source(change.mount, paths, file_dests, engine_dirs))
        spec, step_changes, step_notes = _apply_change(spec, change, image_cfg, paths,
                                                       _allowed(vars.get(ALLOW_ALL_INTERFACES)))
        changes.extend(step_changes)
        notes.extend(step_notes)
        if isinstance(change, pb.FileChange):
            files.append(_file_write(change.file, paths, vars))
    owner = compose.owner(before.config.get("Labels"))
    if owner is not None and not owner.oneoff and container_only:
        notes.append(f"compose (warning): --container-only: {', '.join(owner.config_paths())} is not changed; the next "
                     f"`compose up -d --force-recreate` or edit of it recreates {owner.service} without this fix")
    elif owner is not None and not owner.oneoff:
        changed_secrets = [c.field.removeprefix("env.") for c in changes
                           if c.field.removeprefix("env.") in secret_env and c.action is ChangeAction.RECREATE]
        if changed_secrets:
            raise PlanError(env_files.compose_refusal(owner.service, changed_secrets), container=obs.name)
        written, compose_notes = _compose_write(owner, before, spec, paths)
        files.extend(written)
        notes.extend(compose_notes)
    start = start and obs.state is RunState.STOPPED
    first: list[str] = []  # what the recreate does to the container as a whole, before the rest
    if before.comparable() != spec.comparable() or any(f.changed for f in files):
        _check_recreatable(obs, before)
        if spec.platform != before.platform:
            # Another platform is another image: the reference picks it, as `docker run --platform`.
            spec = spec.replace(image_id=None)
        elif obs.retagged is not None:
            spec = pinned(spec, obs.retagged or None)
            first.append(_retagged_note(before, obs.retagged))
        state_note = _state_note(obs, start)
        first.extend([state_note] if state_note else [])
    return ContainerPlan(
        id=obs.id, name=obs.name, fingerprint=fingerprint(obs), before=before, after=spec,
        changes=tuple(changes), files=tuple(files), verify=tuple(probes),
        dependents=obs.dependents, notes=(*first, *notes), state=obs.state, start=start,
        engine_dirs=tuple(dict.fromkeys(engine_dirs)), secret_env=tuple(secret_env),
    )


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


def _check_shared_files(plans: Sequence[ContainerPlan]) -> None:
    """One host path, one content: a second container must not overwrite the first's file."""
    first: dict[str, tuple[str, FileWrite]] = {}
    for cp in plans:
        for write in cp.files:
            name, seen = first.setdefault(write.path, (cp.name, write))
            if (seen.content, seen.mode) != (write.content, write.mode):
                raise PlanError(f"{write.path} would be written with different content for containers "
                                f"{name} and {cp.name}: give each its own path, or apply them one at a time "
                                "(--container NAME)")


def _compose_write(owner: compose.ComposeOwner, before: ContainerSpec, after: ContainerSpec,
                   paths: Mapping[str, HostPath]) -> tuple[list[FileWrite], list[str]]:
    """The same change as an edit of the project's compose files (each value where compose takes
    it from, see :mod:`remediate.core.compose_edit`), and a note saying where it goes."""
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
    edit = compose_edit.edit_project(files, owner.service, before, after)
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
        return (*_add_mount(spec, change.mount, paths), [])
    if isinstance(change, pb.FileChange):
        return spec, [], []
    if isinstance(change, pb.GpusChange):
        return (*_set_gpus(spec, change.gpus), [])
    raise PlanError(f"unsupported change {type(change).__name__}")


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
        current = _find_flag(args, flag)
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


def _bind_source(mount: pb.MountSpec, paths: Mapping[str, HostPath], written: set[str],
                 engine_dirs: list[str]) -> list[str]:
    """Check a bind source (no symlink on the way unless followed) and say what the engine does
    with it: a missing one it creates as an empty root directory (added to ``engine_dirs``)."""
    state = paths.get(mount.source, HostPath(False, kind="missing"))
    if state.symlink is not None:
        raise PlanError(f"mount source {mount.source}: {state.symlink} is a symlink; remediate does not bind "
                        "through symlinks (set follow_symlinks: true on the mount to bind where it leads)")
    if state.real is not None:
        return [f"mount source {mount.source} is reached through symlinks: the engine binds {state.real}"]
    if state.exists or mount.source in written:
        return []
    if mount.must_exist:
        raise PlanError(f"mount source {mount.source} does not exist on the Docker host")
    made = [*state.missing, mount.source]
    engine_dirs.extend(made)
    return [(f"mount source {mount.source} does not exist: the engine creates {', '.join(made)} as empty "
             "directories owned by root (mode 0755); undone with the change")]


def _add_mount(spec: ContainerSpec, mount: pb.MountSpec, paths: Mapping[str, HostPath]) -> tuple[ContainerSpec, list[Change]]:
    bind = f"{mount.source}:{mount.target}" + (":ro" if mount.read_only else "")
    host_config = dict(spec.host_config)
    binds = list(host_config.get("Binds") or [])
    current = next((b for b in binds if b.split(":")[1:2] == [mount.target]), None)
    field_name = f"mount.{mount.target}"
    if current is not None and _same_bind(current, bind):
        return spec, [Change(field_name, current, bind, ChangeAction.NOOP, "already mounted")]
    binds = [b for b in binds if b.split(":")[1:2] != [mount.target]] + [bind]
    host_config["Binds"] = binds
    mounts = [m for m in host_config.get("Mounts") or [] if m.get("Target") != mount.target]
    if mounts:
        host_config["Mounts"] = mounts
    else:
        host_config.pop("Mounts", None)
    return spec.replace(host_config=host_config), [Change(field_name, current, bind, ChangeAction.RECREATE)]


def _same_bind(a: str, b: str) -> bool:
    def norm(bind: str) -> tuple[str, ...]:
        parts = bind.split(":")
        opts = sorted(o for o in (parts[2].split(",") if len(parts) > 2 else []) if o and o != "rw")
        return (parts[0], parts[1], *opts)
    return norm(a) == norm(b)


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


def _flag_at(args: list[str], flag: str) -> tuple[int, int, str | bool] | None:
    """(start, end, value) of a flag in args, value True for a bare flag."""
    want = _canonical(flag)
    for i, arg in enumerate(args):
        name, sep, inline = arg.partition("=")
        if not arg.startswith("-") or _canonical(name) != want:
            continue
        if sep:
            return i, i + 1, inline
        if i + 1 < len(args) and not args[i + 1].startswith("-"):
            return i, i + 2, args[i + 1]
        return i, i + 1, True
    return None


def _find_flag(args: list[str], flag: str) -> str | bool | None:
    found = _flag_at(args, flag)
    return None if found is None else found[2]


def _set_flag(args: list[str], flag: str, value: str | bool) -> list[str]:
    found = _flag_at(args, flag)
    if found is None:
        return args + ([flag] if value is True else [flag, str(value)])
    start, end, _ = found
    spelled, sep, _ = args[start].partition("=")
    if value is True:
        replacement = [spelled]
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
