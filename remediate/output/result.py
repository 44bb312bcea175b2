"""The view of an apply's result: per container, what happened, its checks with their evidence,
what to do by hand, the new container's last log lines and health log; with the plan it applied.
Secrets masked as in the plan's view (:mod:`remediate.output.plan`)."""

from __future__ import annotations

from typing import TypedDict, cast

from remediate.core.redaction import mask_json, redact_text
from remediate.core.results import ContainerResult, HostResult
from remediate.core.secret_flow import plan_secrets
from remediate.core.visible import visible
from remediate.output.plan import PlanJson, plan_json
from remediate.output.shown import shown_json


class CheckJson(TypedDict):
    """One verify check and what it found."""

    name: str
    ok: bool
    evidence: str
    attempts: int


class HealthRunJson(TypedDict):
    """One run of the new container's healthcheck, as Docker kept it."""

    exit_code: int | None
    output: str
    start: str


class ContainerResultJson(TypedDict):
    """What happened to one container."""

    container: str
    action: str
    id_before: str
    id_after: str | None
    backup: str | None
    error: str | None
    checks: list[CheckJson]
    manual_steps: list[str]
    logs: list[str]
    health: list[HealthRunJson]
    notes: list[str]
    seconds: float


class ResultJson(TypedDict):
    """The outcome of applying a plan on one host."""

    host: str
    ok: bool
    seconds: float
    plan: PlanJson
    containers: list[ContainerResultJson]


def container_result_json(c: ContainerResult) -> ContainerResultJson:
    """What happened to one container (secret shapes masked; not yet the plan's secret values)."""
    return {"container": c.name, "action": c.action, "id_before": c.id_before[:12],
            "id_after": (c.id_after or "")[:12] or None, "backup": c.backup,
            "error": redact_text(c.error) if c.error else None,
            "checks": [{"name": p.name, "ok": p.ok, "evidence": p.evidence, "attempts": p.attempts}
                       for p in c.checks],
            "manual_steps": [redact_text(s) for s in c.manual_steps],
            "logs": [redact_text(line) for line in c.logs],
            "health": [{"exit_code": h.exit_code, "output": h.output, "start": h.start} for h in c.health],
            "notes": list(c.notes),
            "seconds": round(c.seconds, 3)}


def result_json(result: HostResult) -> ResultJson:
    """JSON-ready view of an apply result (secrets masked); :meth:`remediate.HostResult.to_json`."""
    secrets = plan_secrets(result.plan)
    containers = [container_result_json(c) for c in result.containers]
    return {"host": visible(result.host), "ok": result.ok, "seconds": round(result.seconds, 3),
            "plan": plan_json(result.plan),
            "containers": cast(list[ContainerResultJson], shown_json(mask_json(containers, secrets)))}
