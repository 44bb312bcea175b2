"""Rollback over many hosts: preview, confirm and roll back under one hold of each host's lock.

Every host is previewed at once (``forks``), each under its lock, which stays held: the confirm
hook is asked once with every preview while nothing can change them; then each host previews
again (a container changed outside remediate since is refused, ``PlanStaleError``, as apply
refuses a drifted plan) and rolls back, all at once. If any host cannot be previewed, no host is
rolled back.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from remediate.core.lineage import RollbackPlan
from remediate.core.results import Action, ContainerResult
from remediate.errors import ConnectError, PlanStaleError, RemediateError
from remediate.executor.journal import Journal, locked_journal
from remediate.executor.restore import plan_rollback
from remediate.executor.restore import rollback as restore
from remediate.fleet.engines import Engines
from remediate.fleet.options import Hooks, Options
from remediate.fleet.schedule import Schedule
from remediate.fleet.target import Target
from remediate.host.connection import Connection
from remediate.output.rollback import (
    RollbackPreviewJson,
    RollbackRowJson,
    rollback_preview_json,
    rollback_row_json,
)

RollbackStatus = Literal["planned", "restored", "rolled back", "rollback failed", "unreachable", "error", "skipped"]


@dataclass(frozen=True)
class RollbackJob:
    """One container to put back on one host: ``steps`` applies back (default 1) or the backup ``to``."""

    target: Target
    container: str
    steps: int | None = None
    to: str | None = None


@dataclass(frozen=True)
class RollbackOutcome:
    """What a rollback did (or would do) on one host."""

    job: RollbackJob
    status: RollbackStatus
    plan: RollbackPlan | None = None
    preview: RollbackPreviewJson | None = None
    result: ContainerResult | None = None
    error: str | None = None
    seconds: float = 0.0
    exception: RemediateError | None = field(default=None, compare=False, repr=False)

    @property
    def host(self) -> str:
        """The host's name."""
        return self.job.target.name

    def to_json(self) -> RollbackPreviewJson | RollbackRowJson | None:
        """The preview, with what happened once rolled back (None: the host was not previewed)."""
        if self.preview is None:
            return None
        return rollback_row_json(self.preview, self.result) if self.result is not None else self.preview


@dataclass(frozen=True)
class RollbackResult:
    """Every host's rollback, in job order.

    Attributes:
        outcomes: one per job.
        dry_run: previews only, nothing was changed (a dry run, declined, a host not previewed).
        declined: ``confirm`` said no.
        interrupted: ``cancel`` was set.
    """

    outcomes: tuple[RollbackOutcome, ...]
    dry_run: bool = False
    declined: bool = False
    interrupted: bool = False

    @property
    def errors(self) -> tuple[RollbackOutcome, ...]:
        """Hosts that could not be previewed or rolled back (unreachable, refused)."""
        return tuple(o for o in self.outcomes if o.exception is not None)

    def to_json(self) -> list[RollbackPreviewJson | RollbackRowJson]:
        """One row per host previewed (with its outcome once rolled back), secrets masked."""
        return [row for o in self.outcomes if (row := o.to_json()) is not None]


def roll_back(jobs: Sequence[RollbackJob], options: Options | None = None, *,
             hooks: Hooks[RollbackResult] | None = None) -> RollbackResult:
    """Preview every host's rollback, ask ``hooks.confirm`` once, then roll every host back, all
    under one hold of each host's lock (see the module docstring).

    Uses ``options.dry_run`` (preview only), ``forks`` (hosts at once), ``timeout`` (a container
    put back must be running by then) and ``ssh``.

    Example::

        jobs = [remediate.RollbackJob(remediate.Target(h), "vllm") for h in ("ssh://gpu1", "ssh://gpu2")]
        remediate.roll_back(jobs, remediate.Options(forks=8), hooks=remediate.Hooks(confirm=ask))

    Returns:
        One outcome per job: ``restored``; ``rolled back``/``rollback failed`` (the rollback
        failed and was undone, or not); ``error``/``unreachable`` (nothing changed there).
    """
    options = options or Options()
    hooks = hooks or Hooks[RollbackResult]()
    engines = Engines([job.target for job in jobs])
    schedule = Schedule(forks=options.forks, serial=None, max_fail=None, cancel=hooks.cancel)
    hosts = [_Host(job, options, engines) for job in jobs]
    with contextlib.ExitStack() as held:
        for host in hosts:
            held.callback(host.close)
        schedule.run(len(hosts), lambda i: hosts[i].preview())
        preview = RollbackResult(tuple(h.outcome for h in hosts), dry_run=True, interrupted=hooks.cancel.is_set())
        if options.dry_run or preview.interrupted or preview.errors:
            return preview
        if hooks.confirm is not None and not hooks.confirm(preview):
            return dataclasses.replace(preview, declined=True)
        schedule.run(len(hosts), lambda i: hosts[i].roll_back())
    return RollbackResult(tuple(h.outcome for h in hosts), interrupted=hooks.cancel.is_set())


class _Host:
    """One host's rollback: its connection and lock, held from the preview to the end."""

    def __init__(self, job: RollbackJob, options: Options, engines: Engines) -> None:
        self.job, self.options, self.engines = job, options, engines
        self.stack = contextlib.ExitStack()
        self.conn: Connection | None = None
        self.journal: Journal | None = None
        self.started = time.monotonic()
        self.outcome = RollbackOutcome(job, "skipped")

    def close(self) -> None:
        self.stack.close()

    def _done(self, status: RollbackStatus, *, plan: RollbackPlan | None = None,
              preview: RollbackPreviewJson | None = None, result: ContainerResult | None = None,
              error: str | None = None, exception: RemediateError | None = None) -> None:
        self.outcome = RollbackOutcome(self.job, status, plan or self.outcome.plan, preview or self.outcome.preview,
                                       result, error, time.monotonic() - self.started, exception)

    def _failed(self, exc: RemediateError) -> None:
        self._done("unreachable" if isinstance(exc, ConnectError) else "error", error=exc.message, exception=exc)
        self.close()

    def _plan(self, conn: Connection) -> RollbackPlan:
        return plan_rollback(conn, self.job.container, steps=self.job.steps, to=self.job.to, journal=self.journal,
                             locked=True)

    def preview(self) -> None:
        """Connect, take the lock (kept), preview."""
        target = self.job.target
        if (first := self.engines.named_before(target)) is not None:
            self._done("skipped", error=f"the same engine as {first}")
            return
        try:
            conn = self.stack.enter_context(target.connection(self.options.ssh,
                                                              timeout=max(self.options.timeout, 30.0)))
            if (first := self.engines.reached_before(target, conn)) is not None:
                self._done("skipped", error=f"the same engine as {first}")
                self.close()
                return
            # One journal for the preview and the rollback, under one hold of the lock.
            self.journal = self.stack.enter_context(locked_journal(conn, f"rollback {self.job.container}"))
            plan = self._plan(conn)
            self.conn = conn
            self._done("planned", plan=plan, preview=rollback_preview_json(target.name, plan, conn.api_version))
        except RemediateError as exc:
            self._failed(exc)

    def roll_back(self) -> None:
        """Preview again (refused if it changed), roll back, give the lock back."""
        if self.conn is None or self.outcome.plan is None:
            return  # skipped: another target's engine
        try:
            fresh = rollback_preview_json(self.host_name, self._plan(self.conn), self.conn.api_version)
            if fresh != self.outcome.preview:
                raise PlanStaleError(f"{self.host_name}: {self.job.container}: the rollback changed since it was "
                                     "previewed (nothing was changed)", host=self.host_name)
            plan = self.outcome.plan  # one apply back in place: the same container updated back
            result = restore(self.conn, self.job.container, to=None if plan.in_place else plan.backup,
                             timeout=self.options.timeout, journal=self.journal, locked=True)
        except RemediateError as exc:
            self._failed(exc)
            return
        status: RollbackStatus = ("restored" if result.ok else "rolled back" if result.action == Action.ROLLED_BACK
                                  else "rollback failed")
        self._done(status, result=result)
        self.close()

    @property
    def host_name(self) -> str:
        return self.job.target.name
