"""What a fleet run gives back: one outcome per host (and playbook), and the whole rollout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from remediate.core.planner import Plan
from remediate.core.results import HostResult
from remediate.errors import RemediateError, RolloutError
from remediate.executor.hold import Revert
from remediate.fleet.target import Target
from remediate.output.rollout import HostOutcomeJson, RolloutJson, outcome_json, rollout_json

Status = Literal["planned", "ok", "changed", "failed", "rollback failed", "unreachable", "error", "skipped"]


@dataclass(frozen=True)
class HostOutcome:
    """What happened on one host (for one playbook of its job)."""

    target: Target
    status: Status
    plan: Plan | None = None
    result: HostResult | None = None
    error: str | None = None
    seconds: float = 0.0
    #: Why the host is ``unreachable`` or ``error``, as the object raised (``error`` is its text).
    #: Not in JSON.
    exception: RemediateError | None = field(default=None, compare=False, repr=False)

    @property
    def host(self) -> str:
        """The host's name (its target's)."""
        return self.target.name

    @property
    def failed(self) -> bool:
        """True when this host counts as failed for ``max_fail``."""
        return self.status in ("failed", "rollback failed", "unreachable", "error")

    def to_json(self) -> HostOutcomeJson:
        """JSON-ready (secrets masked): host, status, error, seconds, plan, result."""
        return outcome_json(self)


@dataclass(frozen=True)
class RolloutResult:
    """Outcomes of every job, in job order (a job of several playbooks: one per playbook).

    Attributes:
        outcomes: one per target and playbook.
        interrupted: the rollout was interrupted (``cancel``).
        dry_run: the outcomes are plans only, nothing was applied: a dry run, or a ``confirm``
            rollout that stopped after planning (nothing to change, declined, interrupted).
        declined: ``confirm`` said no.
        reverts: what the time-boxed hold put back (``Options(hold=True)``).
    """

    outcomes: tuple[HostOutcome, ...]
    interrupted: bool = False
    dry_run: bool = False
    declined: bool = False
    reverts: tuple[Revert, ...] = ()

    @property
    def succeeded(self) -> tuple[HostOutcome, ...]:
        """Hosts that ended as planned."""
        return tuple(o for o in self.outcomes if o.status in ("planned", "ok", "changed"))

    @property
    def failed(self) -> tuple[HostOutcome, ...]:
        """Hosts that failed (including unreachable ones)."""
        return tuple(o for o in self.outcomes if o.failed)

    @property
    def changes(self) -> bool:
        """True when some host's plan changes something."""
        return any(o.plan is not None and o.plan.changed for o in self.outcomes)

    def to_json(self) -> RolloutJson:
        """JSON-ready (secrets masked): one entry per host and a count of each status."""
        return rollout_json(self.outcomes)

    def raise_for_failure(self) -> None:
        """Raise when some host failed (like httpx's ``raise_for_status``).

        Raises:
            RolloutError: with this result as ``result``; chained from the first failed host's
                exception (its ``RollbackFailed``, ``ProbeFailed``, ``HostUnreachable``, ...).
        """
        if not self.failed:
            return
        first = self.failed[0]
        cause: BaseException | None = first.exception
        if cause is None and first.result is not None:
            try:
                first.result.raise_for_failure()
            except RemediateError as exc:
                cause = exc
        names = ", ".join(f"{o.target.name} ({o.status})" for o in self.failed)
        raise RolloutError(f"{len(self.failed)} of {len(self.outcomes)} host(s) failed: {names}",
                           result=self, host=first.target.name) from cause
