"""Planning: playbook x observed containers -> an immutable Plan. Pure: no Docker, no I/O.

Every change kind is a ``spec -> spec`` step that records a :class:`Change` (or a no-op with
its reason). The plan holds, per container, the spec before and after, the files to write and
the probes to run; :mod:`remediate.apply` executes it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from remediate.core import compose, compose_edit
from remediate.core import playbook as pb
from remediate.core.fields import dict_to_env, env_to_dict, netns_owned, norm_ports, split_bind
from remediate.core.paths import HostPath
from remediate.core.spec import ContainerSpec, spec_from_inspect
from remediate.core.templating import render_value, render_words
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

#: Name parts of the containers remediate parks (backups) and stages (new, not yet swapped in).
BACKUP_MARK = "-remediate-backup-"
NEW_MARK = "-remediate-new"


@dataclass(frozen=True)
class Observed:
    """What the engine shows of one container: its inspect, its image's inspect, its dependents."""

    inspect: Json = field(hash=False)
    image: Json | None = field(default=None, hash=False)
    dependents: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """Full container id."""
        return str(self.inspect["Id"])

    @property
    def name(self) -> str:
        """Container name without the leading slash."""
        return str(self.inspect.get("Name", "")).lstrip("/")


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
        if isinstance(change, pb.ArgsChange):
            data = {"args": _render_args(change.args, context, f"changes[{i}].args", playbook.name)}
        else:
            data = render_value(change.model_dump(by_alias=True), context, **where)
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


def host_paths_needed(playbook: pb.Playbook, vars: Mapping[str, Any], containers: Iterable[Observed]) -> set[str]:
    """Host paths :func:`plan` needs to know about (files to write, mount sources that must exist).

    Raises:
        PlaybookError: a ``require`` condition is false (checked first, so nothing is read for
            refused vars).
    """
    pb.check_requirements(playbook, vars)
    paths: set[str] = set()
    for obs in containers:
        changes, _ = render_changes(playbook, vars, obs)
        for change in changes:
            if isinstance(change, pb.FileChange):
                paths.add(change.file.dest)
            elif isinstance(change, pb.MountChange) and change.mount.must_exist and change.mount.source:
                paths.add(change.mount.source)
        owner = compose.owner((obs.inspect.get("Config") or {}).get("Labels"))
        if owner is not None and not owner.oneoff:
            paths.update(owner.config_paths())
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

    Returns:
        The immutable plan.

    Raises:
        PlaybookError: a ``require`` condition is false, or a template failed to render.
        PlanError: a change cannot be made (e.g. a required host path is missing).
    """
    pb.check_requirements(playbook, vars)
    revert_after = pb.render_revert_after(playbook, vars)
    paths = host_paths or {}
    plans = tuple(_plan_container(playbook, vars, obs, paths, container_only) for obs in containers)
    _check_shared_files(plans)
    after = render_value(playbook.after, vars, playbook=playbook.name, field="after") if playbook.after else None
    return Plan(playbook=playbook.name, host=host, vars=dict(vars), containers=plans, after_message=after,
                revert_after=revert_after, engine_api=engine_api)


def fingerprint(spec: ContainerSpec, container_id: str) -> str:
    """Container id plus a hash of its compared configuration."""
    digest = hashlib.sha256(json.dumps(spec.comparable(), sort_keys=True, default=str).encode()).hexdigest()
    return f"{container_id[:12]}:{digest[:16]}"


def _plan_container(playbook: pb.Playbook, vars: Mapping[str, Any], obs: Observed,
                    paths: Mapping[str, HostPath], container_only: bool = False) -> ContainerPlan:
    before = spec_from_inspect(obs.inspect, obs.image)
    image_cfg = (obs.image or {}).get("Config") or {}
    rendered, probes = render_changes(playbook, vars, obs)
    spec, changes, files, notes = before, [], [], []
    for change in rendered:
        spec, step_changes, step_notes = _apply_change(spec, change, image_cfg, paths)
        changes.extend(step_changes)
        notes.extend(step_notes)
        if isinstance(change, pb.FileChange):
            files.append(_file_write(change.file, paths, vars))
    owner = compose.owner(before.config.get("Labels"))
    if owner is not None and not owner.oneoff and container_only:
        notes.append(f"compose (warning): --container-only: {', '.join(owner.config_paths())} is not changed; the next "
                     f"`compose up -d --force-recreate` or edit of it recreates {owner.service} without this fix")
    elif owner is not None and not owner.oneoff:
        written, note = _compose_write(owner, before, spec, paths)
        files.extend(written)
        notes.append(note)
    return ContainerPlan(
        id=obs.id, name=obs.name, fingerprint=fingerprint(before, obs.id), before=before, after=spec,
        changes=tuple(changes), files=tuple(files), verify=tuple(probes),
        dependents=obs.dependents, notes=tuple(notes),
    )


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
                   paths: Mapping[str, HostPath]) -> tuple[list[FileWrite], str]:
    """The same change as an edit of the compose file that defines the service (the last of the
    project's files that does, so an override wins), and a note saying where it goes."""
    if before.comparable() == after.comparable():
        return [], "compose: the container already matches; the compose file is left as it is"
    for path in reversed(owner.config_paths()):
        state = paths.get(path, HostPath(False))
        if not state.exists or state.content is None:
            raise PlanError(f"compose file {path} of project {owner.project} is not on the Docker host")
        try:
            text = state.content.decode()
        except UnicodeDecodeError as exc:
            raise PlanError(f"compose file {path} is not UTF-8 text") from exc
        edited = compose_edit.edit_service(text, owner.service, before, after, path=path)
        if edited is not None:
            write = FileWrite(path=path, content=edited.encode(), mode=state.mode or 0o644, before=state.content,
                              before_mode=state.mode)
            return [write], (f"compose: the change is written to {path} too, so compose keeps it "
                             f"(and {owner.service} gets the config hash compose computes from it: `compose up -d` leaves it)")
    raise PlanError(f"no compose file of project {owner.project} defines service {owner.service}")


def _apply_change(spec: ContainerSpec, change: Any, image_cfg: Mapping[str, Any],
                  paths: Mapping[str, HostPath]) -> tuple[ContainerSpec, list[Change], list[str]]:
    if isinstance(change, pb.EnvChange):
        return (*_set_env(spec, change.env, env_to_dict(image_cfg.get("Env") or [])), [])
    if isinstance(change, pb.ArgsChange):
        return (*_edit_args(spec, change.args, image_cfg), [])
    if isinstance(change, pb.NetworkChange):
        return _set_network(spec, change.network)
    if isinstance(change, pb.PlatformChange):
        return (*_set_platform(spec, change.platform), [])
    if isinstance(change, pb.MountChange):
        if change.mount.source is None:  # state: absent (the schema ties them)
            return (*_remove_mount(spec, change.mount.target, image_cfg), [])
        return (*_add_mount(spec, change.mount, change.mount.source, paths), [])
    if isinstance(change, pb.PortsChange):
        return _edit_ports(spec, change.ports, image_cfg)
    if isinstance(change, pb.FileChange):
        return spec, [], []
    raise PlanError(f"unsupported change {type(change).__name__}")


def _set_env(spec: ContainerSpec, wanted: Mapping[str, str | None],
             image_env: Mapping[str, str | None]) -> tuple[ContainerSpec, list[Change]]:
    # The spec holds only the env the user set; the image's ENV is merged in by the engine at
    # create, so a value equal to the image's is already in effect (the spec omits it).
    env = spec.env
    changes = []
    for key, value in wanted.items():
        current = env.get(key) if key in env else None
        present = key in env
        if value is None:
            if present:
                del env[key]
                changes.append(Change(f"env.{key}", current, None, ChangeAction.RECREATE))
            elif key in image_env:
                changes.append(Change(f"env.{key}", image_env[key], None, ChangeAction.NOOP,
                                      "set by the image: recreating cannot remove it (override it instead)"))
            else:
                changes.append(Change(f"env.{key}", None, None, ChangeAction.NOOP, "already unset"))
        elif present and current == value:
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


def _set_network(spec: ContainerSpec, mode: str) -> tuple[ContainerSpec, list[Change], list[str]]:
    current = spec.network_mode
    if current == mode or (mode == "bridge" and current == "default"):
        return spec, [Change("network", current, mode, ChangeAction.NOOP, "already on this network")], []
    host_config = dict(spec.host_config)
    config = dict(spec.config)
    notes: list[str] = []
    host_config["NetworkMode"] = mode
    networks: dict[str, Any] = {}
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


def _set_platform(spec: ContainerSpec, platform: str) -> tuple[ContainerSpec, list[Change]]:
    if spec.platform == platform:
        return spec, [Change("platform", spec.platform, platform, ChangeAction.NOOP, "image already has this platform")]
    return spec.replace(platform=platform), [Change("platform", spec.platform, platform, ChangeAction.RECREATE)]


def _remove_mount(spec: ContainerSpec, target: str,
                  image_cfg: Mapping[str, Any]) -> tuple[ContainerSpec, list[Change]]:
    """Drop the bind (``-v``) or mount (``--mount``) at ``target``; an anonymous volume there (the
    image's ``VOLUME`` or a bare ``-v /path``) is refused: the engine would make a new one."""
    field_name = f"mount.{target}"
    if target in (image_cfg.get("Volumes") or {}) or target in (spec.config.get("Volumes") or {}):
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
    return spec.replace(host_config=host_config), [Change(field_name, current[0], None, ChangeAction.RECREATE)]


def _add_mount(spec: ContainerSpec, mount: pb.MountSpec, source: str,
               paths: Mapping[str, HostPath]) -> tuple[ContainerSpec, list[Change]]:
    if mount.must_exist and not paths.get(source, HostPath(False)).exists:
        raise PlanError(f"mount source {source} does not exist on the Docker host")
    bind = f"{source}:{mount.target}" + (":ro" if mount.read_only else "")
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
    if state.exists and state.content is None:
        raise PlanError(f"{spec.dest} exists on the Docker host and is not a regular file")
    return FileWrite(path=spec.dest, content=content, mode=int(spec.mode, 8),
                     before=state.content if state.exists else None,
                     before_mode=state.mode if state.exists else None)


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
