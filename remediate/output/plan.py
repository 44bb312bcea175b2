"""The view of a plan: per container, each change, the ``docker run`` lines before and after and
their diff, each file write's diff. Redacted by :mod:`remediate.core.redaction` (the container's
config before it is rendered, the values of secret vars and of secret places wherever they flow,
see :mod:`remediate.core.secret_flow`), so secret values never reach a terminal, a file or a log;
every string has its control characters escaped (:mod:`remediate.output.shown`)."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

from remediate.core import compose
from remediate.core.paths import DIR_MODE
from remediate.core.planner import Change, ContainerPlan, FileWrite, Plan
from remediate.core.redaction import (
    MASK,
    mask_json,
    mask_values,
    redact_mapping,
    redact_text,
    redact_value,
)
from remediate.core.runview import RunView, run_view
from remediate.core.secret_flow import plan_secrets, secrets_digest
from remediate.core.spec import ContainerSpec
from remediate.core.visible import visible
from remediate.output.shown import shown_json


class ChangeJson(TypedDict):
    """One field's change (``action`` ``noop``: no change, and ``reason`` says why)."""

    field: str
    action: str
    reason: str
    before: Any
    after: Any
    #: In a plan merging fixes: the fix the change comes from.
    fix: NotRequired[str]


class FileWriteJson(TypedDict):
    """A file a plan writes on the host (``diff``: :func:`file_diff`)."""

    path: str
    mode: str
    changed: bool
    diff: list[str]
    via: str | None
    new_dirs: list[str]
    shared_with: list[str]
    #: In a plan merging fixes: the fix that writes it.
    fix: NotRequired[str]


#: An ``image`` change: the image a plan was made against, and the one it moves to.
ImageChangeJson = TypedDict("ImageChangeJson", {"from": str, "from_id": str | None, "to": str,
                                                "to_id": str | None})


class ContainerPlanJson(TypedDict):
    """One container's plan."""

    container: str
    id: str
    action: str
    fingerprint: str
    #: A digest of what is masked (:func:`remediate.core.secret_flow.secrets_digest`).
    secrets: str | None
    state: str
    state_after: str
    changes: list[ChangeJson]
    run_before: list[str]
    run_after: list[str]
    diff: list[str]
    shell_before: list[str]
    shell_after: list[str]
    files: list[FileWriteJson]
    compose: dict[str, Any] | None
    dependents: list[str]
    notes: list[str]
    verify: list[str]
    image: NotRequired[ImageChangeJson]
    #: In a plan merging fixes: per ``diff`` line, the fix it comes from (None: no fix makes it).
    diff_fix: NotRequired[list[str | None]]


class PlanJson(TypedDict):
    """What a playbook would change on one host."""

    playbook: str
    host: str
    vars: dict[str, Any]
    containers: list[ContainerPlanJson]
    changed: int


def shown_run_view(spec: ContainerSpec, engine_api: str | None = None, secrets: Sequence[str] = ()) -> RunView:
    """The ``docker run`` view of a spec with secrets masked (and the literal ``secrets`` values)."""
    return run_view(spec, engine_api=engine_api, redact=True, secrets=secrets)


#: Ends a diff's added line that reads, masked, as the line it replaces: a secret value changed.
VALUE_CHANGED = " (value changed)"


def run_diff(before: ContainerSpec, after: ContainerSpec, engine_api: str | None = None,
             secrets: Sequence[str] = ()) -> list[str]:
    """Line diff of two specs' ``docker run`` views: ``"  "`` same, ``"- "`` removed, ``"+ "`` added;
    a line whose secret value changed is removed and added again, masked, the added one marked
    :data:`VALUE_CHANGED`."""
    return _line_diff(before, after, engine_api, secrets)[0]


def _line_diff(before: ContainerSpec, after: ContainerSpec, engine_api: str | None,
               secrets: Sequence[str]) -> tuple[list[str], list[str]]:
    """:func:`run_diff`, and the same diff's lines unmasked: a line the shown views show alike
    that differs unmasked is a changed secret."""
    was, now = shown_run_view(before, engine_api, secrets).lines(), shown_run_view(after, engine_api, secrets).lines()
    raw_was, raw_now = run_view(before, engine_api=engine_api).lines(), run_view(after, engine_api=engine_api).lines()
    if (len(raw_was), len(raw_now)) != (len(was), len(now)):  # masking keeps the lines; if not, no marks
        raw_was, raw_now = was, now
    shown: list[str] = []
    raw: list[str] = []
    i = j = 0
    for line in difflib.ndiff(was, now):
        tag = line[:2]
        if tag == "  " and raw_was[i] != raw_now[j]:
            shown += [f"- {line[2:]}", f"+ {line[2:]}"]
            raw += [f"- {raw_was[i]}", f"+ {raw_now[j]}"]
        elif tag in ("  ", "- ", "+ "):
            shown.append(line)
            raw.append(tag + (raw_now[j] if tag == "+ " else raw_was[i]))
        i, j = i + (tag in ("  ", "- ")), j + (tag in ("  ", "+ "))
    return marked_changes(shown, raw), raw


def marked_changes(diff: Sequence[str], raw: Sequence[str]) -> list[str]:
    """A masked diff (unified or ``ndiff``-style) with :data:`VALUE_CHANGED` after each added line
    that reads as a line the same change removes while its unmasked text (``raw``, the same diff
    before masking, line for line) differs: only a masked (secret) value can differ there.

    >>> marked_changes(["-KEY=***", "+KEY=***", "+B=1"], ["-KEY=old", "+KEY=new", "+B=1"])
    ['-KEY=***', '+KEY=*** (value changed)', '+B=1']
    """
    marked: list[str] = []
    removed: list[tuple[str, str]] = []
    for line, unmasked in zip(diff, raw, strict=True):
        if line.startswith(("---", "+++")) or not line.startswith(("-", "+")):
            removed = []
        elif line.startswith("-"):
            removed.append((line[1:], unmasked[1:]))
        else:
            was = next((r for r in removed if r[0] == line[1:] and r[1] != unmasked[1:]), None)
            if was is not None:
                removed.remove(was)
                line += VALUE_CHANGED
        marked.append(line)
    return marked


def file_diff(write: FileWrite, secrets: Sequence[str] = ()) -> list[str]:
    """Unified diff of a file write (a new file is all ``+``), secret shapes and values masked,
    then what else the write does: the mode, the directories it creates, the symlinks it goes
    through, the hard links and owner it keeps. Content that is not world-readable is shown by
    its size and digest only."""
    shown = write.before if write.before_shown else None
    before = (shown or b"").decode("utf-8", "replace").splitlines(keepends=False)
    after = write.content.decode("utf-8", "replace").splitlines(keepends=False)
    label_from = write.path if shown is not None else "/dev/null"
    lines = list(difflib.unified_diff(before, after, label_from, write.path, lineterm=""))
    if write.before is not None and not write.before_shown:
        digest = hashlib.sha256(write.before).hexdigest()[:16]
        lines.insert(0, f"current content not shown ({len(write.before)} bytes, sha256 {digest}…): "
                        f"mode {write.before_mode or 0:04o} is not world-readable; it is replaced by:")
    if write.before_mode is not None and write.before_mode != write.mode:
        lines.append(f"mode {write.before_mode:04o} -> {write.mode:04o}")
    lines += [f"new directory {d} (mode {DIR_MODE:04o})" for d in write.new_dirs]
    if write.via is not None:
        lines.append(f"{write.via} leads to {write.path} through symlinks: {write.path} is written, the links stay")
    if write.links > 1:
        lines.append(f"{write.links} hard links: written in place, so every link keeps sharing it")
    if write.owner is not None:
        lines.append(f"owner {write.owner[0]}:{write.owner[1]} kept")
    return marked_changes([visible(mask_values(redact_text(line), secrets)) for line in lines], lines)


def _compose_json(cp: ContainerPlan) -> dict[str, Any] | None:
    found = compose.owner(cp.before.config.get("Labels"))
    return found.to_json() if found else None


def container_plan_json(cp: ContainerPlan, engine_api: str | None = None, secrets: Sequence[str] = (),
                        file_users: Mapping[str, tuple[str, ...]] | None = None) -> ContainerPlanJson:
    """JSON-ready view of one container's plan (secrets masked, and the literal ``secrets`` values:
    those of :func:`remediate.core.secret_flow.plan_secrets`); ``file_users`` (from
    :meth:`Plan.file_users`) names the other planned containers that need each of its files."""
    users = file_users or {}
    before, after = shown_run_view(cp.before, engine_api, secrets), shown_run_view(cp.after, engine_api, secrets)
    diff, raw_diff = _line_diff(cp.before, cp.after, engine_api, secrets)
    data: ContainerPlanJson = {
        "container": cp.name,
        "id": cp.id[:12],
        "action": cp.action,
        "fingerprint": cp.fingerprint,
        "secrets": secrets_digest(cp, secrets),
        "state": cp.state,
        "state_after": cp.state_after,
        "changes": [_change_json(c) for c in cp.changes],
        "run_before": before.lines(),
        "run_after": after.lines(),
        "diff": diff,
        "shell_before": before.commands(),
        "shell_after": after.commands(),
        "files": [_file_json(f, secrets, [n for n in users.get(f.path, ()) if n != cp.name]) for f in cp.files],
        "compose": _compose_json(cp),
        "dependents": list(cp.dependents),
        "notes": list(cp.notes),
        "verify": [f"http {p.method} {p.path} on port {p.port} -> {p.status}"
                   + (f" containing {p.contains!r}" if p.contains else "") for p in cp.verify],
    }
    if cp.fix_specs:  # a plan merging fixes: the fix each diff line comes from
        data["diff_fix"] = _diff_fixes(raw_diff, cp, engine_api)
    if cp.image is not None:  # an image change: the image it was planned against (a saved plan's drift)
        data["image"] = {"from": cp.before.image, "from_id": cp.before.image_id, "to": cp.image,
                         "to_id": cp.after.image_id}
    data = mask_json(data, secrets)
    for change, shown in zip(cp.changes, data["changes"], strict=True):
        if change.before != change.after and isinstance(shown["after"], str) and shown["after"] == shown["before"] \
                and MASK in shown["after"]:
            shown["after"] += VALUE_CHANGED  # masked alike: a secret value changed
    return shown_json(data)


def _change_json(c: Change) -> ChangeJson:
    data: ChangeJson = {"field": c.field, "action": c.action, "reason": c.reason,
                        "before": _shown(c.field, c.before), "after": _shown(c.field, c.after)}
    if c.fix:
        data["fix"] = c.fix
    return data


def _file_json(f: FileWrite, secrets: Sequence[str], shared_with: list[str]) -> FileWriteJson:
    data: FileWriteJson = {"path": f.path, "mode": f"{f.mode:04o}", "changed": f.changed,
                           "diff": file_diff(f, secrets), "via": f.via, "new_dirs": list(f.new_dirs),
                           "shared_with": shared_with}
    if f.fix:
        data["fix"] = f.fix
    return data


def _diff_fixes(raw_diff: Sequence[str], cp: ContainerPlan, engine_api: str | None) -> list[str | None]:
    """Per line of a merged plan's ``docker run`` diff (unmasked, see :func:`_line_diff`), the fix
    it comes from: the first whose changes add the line (``+``) or drop it (``-``); None for an
    unchanged line, or one no fix makes (the image pinned by id on recreate, say)."""
    views = [(fix, set(run_view(spec, engine_api=engine_api).lines())) for fix, spec in cp.fix_specs]
    found: list[str | None] = []
    for line in raw_diff:
        text, sign = line[2:], line[:2]
        found.append(next((fix for fix, lines in views if (text in lines) == (sign == "+ ")), None)
                     if sign in ("+ ", "- ") else None)
    return found


def plan_json(plan: Plan) -> PlanJson:
    """JSON-ready view of a plan (secrets masked); :meth:`remediate.Plan.to_json`."""
    views = PlanViews(plan)
    data: PlanJson = {
        "playbook": plan.playbook,
        "host": plan.host,
        "vars": mask_json(redact_mapping(plan.vars), views.secrets),
        "containers": [views.container(cp) for cp in plan.containers],
        "changed": len(plan.changed),
    }
    return shown_json(data)


class PlanViews:
    """The JSON views of one plan's containers, each made when asked for: what the plan masks
    (:func:`remediate.core.secret_flow.plan_secrets`) and who needs each file are found once."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.secrets = plan_secrets(plan)
        self.users = plan.file_users()

    def container(self, cp: ContainerPlan) -> ContainerPlanJson:
        """:func:`container_plan_json` of one of the plan's containers."""
        return container_plan_json(cp, self.plan.engine_api, self.secrets, self.users)


def identical_plans(plan: Plan) -> list[list[ContainerPlan]]:
    """The plan's containers grouped by their plans, in order: the plans of a group are the same
    but for the container's name and id (the same specs but for the name, the same changes, files
    and their other users, notes, dependents, checks, states). Their views differ only where they
    spell the name or the id: a group's view is made once (see :func:`remediate.cli.views`)."""
    users = plan.file_users()
    groups: dict[str, list[ContainerPlan]] = {}
    for cp in plan.containers:
        fields = {f.name: _identity_free(getattr(cp, f.name)) for f in dataclasses.fields(cp)
                  if f.name not in ("id", "name", "fingerprint")}
        fields["file_users"] = [[n for n in users.get(f.path, ()) if n != cp.name] for f in cp.files]
        groups.setdefault(json.dumps(fields, sort_keys=True, default=repr), []).append(cp)
    return list(groups.values())


def _identity_free(value: Any) -> Any:
    """``value`` as JSON-like data for :func:`identical_plans`, a spec without its name."""
    if isinstance(value, ContainerSpec):
        data = value.to_json()
        del data["name"]
        return data
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _identity_free(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_identity_free(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _identity_free(v) for k, v in value.items()}
    return value


def after_message(plan: Plan) -> str | None:
    """The playbook's ``after`` text for this plan, with the values of secret vars masked."""
    return visible(mask_values(plan.after_message, plan_secrets(plan))) if plan.after_message else None


def _shown(field: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    name = field.split(".", 1)[1] if "." in field else field
    return redact_value(name, str(value))
