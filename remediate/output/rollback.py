"""The view of a rollback: what it would put back on a host (the ``docker run`` diff from the
container in place to the backup, the diff of each file put back), and what it did; typed,
secrets masked."""

from __future__ import annotations

import difflib
import hashlib
from typing import TypedDict

from remediate.core.lineage import RollbackPlan
from remediate.core.redaction import mask_json, redact_text
from remediate.core.results import ContainerResult
from remediate.core.secret_flow import spec_secrets
from remediate.output.plan import marked_changes, run_diff
from remediate.output.shown import shown_json


class RestoredFileJson(TypedDict):
    """A file a rollback puts back (``removed``: it did not exist before)."""

    path: str
    changed: bool
    removed: bool
    mode: str | None
    diff: list[str]


class RollbackPlanJson(TypedDict):
    """What a rollback would put back, on no host in particular."""

    container: str
    backup: str
    steps: int | None
    between: list[str]
    files: list[RestoredFileJson]
    diff: list[str]


class RollbackPreviewJson(RollbackPlanJson):
    """What a rollback on one host would put back."""

    host: str


class RollbackRowJson(RollbackPreviewJson):
    """A rollback done on one host: its preview and what happened."""

    action: str
    error: str | None
    restored_id: str | None
    parked_as: str | None
    manual_steps: list[str]


def rollback_plan_json(plan: RollbackPlan, engine_api: str | None = None) -> RollbackPlanJson:
    """JSON-ready view of what a rollback would do (secrets masked): the ``docker run`` diff from
    the container in place to the backup put back, and the diff of each file put back."""
    files: list[RestoredFileJson] = []
    raw_diffs: list[list[str]] = []
    for f in plan.files:
        old = (f.now or b"").decode("utf-8", "replace").splitlines()
        new = (f.restored or b"").decode("utf-8", "replace").splitlines()
        lines = list(difflib.unified_diff(old, new, f.path if f.now is not None else "/dev/null",
                                          f.path if f.restored is not None else "/dev/null", lineterm=""))
        if f.mode is not None and not f.mode & 0o004 and f.restored is not None:
            digest = hashlib.sha256(f.restored).hexdigest()[:16]
            lines = [(f"content not shown: mode {f.mode:04o} is not world-readable ({len(f.restored)} bytes, "
                      f"sha256 {digest}… put back)")]
        raw_diffs.append(lines)
        files.append({"path": f.path, "changed": f.changed, "removed": f.restored is None,
                      "mode": f"{f.mode:04o}" if f.mode is not None else None,
                      "diff": [redact_text(line) for line in lines]})
    secrets = sorted({*spec_secrets(plan.current), *spec_secrets(plan.target)}, key=len, reverse=True)
    data: RollbackPlanJson = mask_json({"container": plan.name, "backup": plan.backup, "steps": plan.steps,
                                        "between": list(plan.between), "files": files,
                                        "diff": run_diff(plan.current, plan.target, engine_api, secrets)}, secrets)
    for shown, raw in zip(data["files"], raw_diffs, strict=True):
        shown["diff"] = marked_changes(shown["diff"], raw)
    return shown_json(data)


def rollback_preview_json(host: str, plan: RollbackPlan, engine_api: str | None = None) -> RollbackPreviewJson:
    """What a rollback on ``host`` would put back, JSON-ready (secrets masked)."""
    data = rollback_plan_json(plan, engine_api)
    return {"host": host, "container": data["container"], "backup": data["backup"], "steps": data["steps"],
            "between": data["between"], "files": data["files"], "diff": data["diff"]}


def rollback_row_json(preview: RollbackPreviewJson, result: ContainerResult) -> RollbackRowJson:
    """A rollback done: its preview and its outcome."""
    return {**preview, "action": str(result.action), "error": result.error,
            "restored_id": (result.id_after or "")[:12] or None, "parked_as": result.backup,
            "manual_steps": list(result.manual_steps)}
