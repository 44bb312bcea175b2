"""What applying, rolling back and probing did: typed outcomes, plain frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from remediate.core.planner import Plan
from remediate.core.redaction import redact_text
from remediate.errors import ApplyError, RemediateError, RollbackFailed

if TYPE_CHECKING:
    from remediate.output.result import ResultJson


class Action(StrEnum):
    """What happened to one container (a ``str``: JSON and comparisons see the word)."""

    UNCHANGED = "unchanged"
    RECREATED = "recreated"
    UPDATED = "updated"
    RESTORED = "restored"
    ROLLED_BACK = "rolled back"
    ROLLBACK_FAILED = "rollback failed"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one probe, with the evidence (what the engine or the service said: its secret
    shapes are masked on construction)."""

    name: str
    ok: bool
    evidence: str
    attempts: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", redact_text(self.evidence))


@dataclass(frozen=True)
class HealthRun:
    """One run of a container's healthcheck as Docker kept it (``State.Health.Log``): its exit
    code and output (secret shapes masked on construction)."""

    exit_code: int | None
    output: str
    start: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "output", redact_text(self.output))


#: Ends the ``error`` of a container the user chose not to apply in step mode ("skip (step mode)").
STEP_MODE = "(step mode)"
#: Why containers (and hosts) were skipped after an interrupt.
INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class ContainerResult:
    """What happened to one container during apply."""

    name: str
    action: Action
    id_before: str
    id_after: str | None = None
    backup: str | None = None
    checks: tuple[ProbeResult, ...] = ()
    error: str | None = None
    seconds: float = 0.0
    manual_steps: tuple[str, ...] = ()
    #: Last log lines (secrets masked) of a new container that failed to start or exited.
    logs: tuple[str, ...] = ()
    #: Docker's health log of a new container that failed its verification (its last runs).
    health: tuple[HealthRun, ...] = ()
    #: Why it failed, as the object raised (``error`` is its text): e.g. a ``ProbeFailed`` with
    #: the checks, or a ``RollbackFailed`` (its ``__cause__`` the first failure). Not in JSON.
    exception: RemediateError | None = field(default=None, compare=False, repr=False)
    #: What was found after it was fixed (e.g. what the next ``compose up -d`` would do).
    notes: tuple[str, ...] = ()

    @property
    def declined(self) -> bool:
        """True when the user chose not to apply it (step mode: skip, or quit before it)."""
        return self.action is Action.SKIPPED and (self.error or "").endswith(STEP_MODE)

    @property
    def ok(self) -> bool:
        """True when the container ended as planned (or as the user chose in step mode)."""
        return self.action in (Action.UNCHANGED, Action.RECREATED, Action.UPDATED, Action.RESTORED) or self.declined


@dataclass(frozen=True)
class HostResult:
    """The outcome of applying a plan on one host."""

    host: str
    plan: Plan
    containers: tuple[ContainerResult, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every container ended as planned."""
        return all(c.ok for c in self.containers)

    @property
    def rollback_failed(self) -> bool:
        """True when some container could not be restored."""
        return any(c.action is Action.ROLLBACK_FAILED for c in self.containers)

    def to_json(self) -> ResultJson:
        """JSON-ready view: per container what happened, its checks, what to do by hand; with the
        plan; secrets masked (:func:`remediate.output.result.result_json`)."""
        from remediate.output.result import result_json  # the view is the output layer's

        return result_json(self)

    def raise_for_failure(self) -> None:
        """Raise why the apply failed, if a container failed (like httpx's ``raise_for_status``).

        The exception is the failed container's own (a restore that failed wins), with this
        result as ``result``, and its plan, host and container set.

        Raises:
            RollbackFailed: a container could not be restored (``manual_steps`` says what to do).
            ApplyError: a container failed and its original was restored (``ProbeFailed`` with
                the ``checks``, ``HostFileError``, ...; or another ``RemediateError`` the apply
                met, e.g. ``ImageNotFound``).
        """
        failed = [c for c in self.containers if c.action in (Action.ROLLED_BACK, Action.ROLLBACK_FAILED)]
        if not failed:
            return
        first = next((c for c in failed if c.action is Action.ROLLBACK_FAILED), failed[0])
        exc = first.exception
        if exc is None:  # a result made without one
            message = f"{self.host}: {first.name}: {first.error or first.action}"
            exc = (RollbackFailed(message, manual_steps=first.manual_steps) if first.action is Action.ROLLBACK_FAILED
                   else ApplyError(message))
        exc.result, exc.plan = self, self.plan
        exc.host = exc.host or self.host
        exc.container = exc.container or first.name
        raise exc
