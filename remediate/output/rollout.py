"""The view of a rollout: every host's status, plan and result, and a count of each status; typed,
secrets masked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, TypedDict

from remediate.core.planner import Plan
from remediate.core.redaction import redact_text
from remediate.core.results import HostResult
from remediate.output.plan import PlanJson, plan_json
from remediate.output.result import ResultJson, result_json


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
    plan: PlanJson | None
    result: ResultJson | None


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
