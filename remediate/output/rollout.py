"""The views of a fleet run: a rollout (every host's status, plan and result) and a rollback
(every host's preview and outcome), typed, secrets masked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, TypedDict

from remediate.core.lineage import RollbackPlan
from remediate.core.planner import Plan
from remediate.core.redaction import redact_text
from remediate.core.results import ContainerResult, HostResult
from remediate.output.report import plan_json, result_json, rollback_plan_json

Json = dict[str, Any]


class Outcome(Protocol):
    """What a view reads of one host's outcome (:class:`remediate.fleet.results.HostOutcome`)."""

    @property
    def host(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def error(self) -> str | None: ...

    @property
    def seconds(self) -> float: ...

    @property
    def plan(self) -> Plan | None: ...

    @property
    def result(self) -> HostResult | None: ...


class HostOutcomeJson(TypedDict):
    """One host of a rollout."""

    host: str
    status: str
    error: str | None
    seconds: float
    plan: Json | None
    result: Json | None


class RolloutJson(TypedDict):
    """A rollout: one entry per host, and how many hosts ended in each status."""

    hosts: list[HostOutcomeJson]
    summary: dict[str, int]


def outcome_json(o: Outcome) -> HostOutcomeJson:
    """One host's outcome, JSON-ready (secrets masked)."""
    return {"host": o.host, "status": o.status, "error": redact_text(o.error) if o.error else None,
            "seconds": round(o.seconds, 3), "plan": plan_json(o.plan) if o.plan else None,
            "result": result_json(o.result) if o.result else None}


def rollout_json(outcomes: Iterable[Outcome]) -> RolloutJson:
    """JSON-ready view of a rollout (secrets masked): one entry per host and a status count."""
    hosts = [outcome_json(o) for o in outcomes]
    summary: dict[str, int] = {}
    for h in hosts:
        summary[h["status"]] = summary.get(h["status"], 0) + 1
    return {"hosts": hosts, "summary": summary}


class RollbackPreviewJson(TypedDict):
    """What a rollback on one host would put back (:func:`remediate.output.report.rollback_plan_json`)."""

    host: str
    container: str
    backup: str
    steps: int | None
    between: list[str]
    files: list[Json]
    diff: list[str]


class RollbackRowJson(RollbackPreviewJson):
    """A rollback done on one host: its preview and what happened."""

    action: str
    error: str | None
    restored_id: str | None
    parked_as: str | None
    manual_steps: list[str]


def rollback_preview_json(host: str, plan: RollbackPlan, engine_api: str | None = None) -> RollbackPreviewJson:
    """What a rollback on ``host`` would put back, JSON-ready (secrets masked)."""
    data = rollback_plan_json(plan, engine_api)
    return {"host": host, "container": data["container"], "backup": data["backup"], "steps": data["steps"],
            "between": list(data["between"]), "files": list(data["files"]), "diff": list(data["diff"])}


def rollback_row_json(preview: RollbackPreviewJson, result: ContainerResult) -> RollbackRowJson:
    """A rollback done: its preview and its outcome."""
    return {**preview, "action": str(result.action), "error": result.error,
            "restored_id": (result.id_after or "")[:12] or None, "parked_as": result.backup,
            "manual_steps": list(result.manual_steps)}
