"""The one orchestrator of a confirm-then-apply run over many hosts: :func:`rollout`.

Each job (a target and its playbooks) runs connect -> survey -> plan -> [apply -> verify], its
playbooks planned and applied under one hold of the host's lock; hosts run as
:class:`~remediate.fleet.schedule.Schedule` says (forks, batches, failure threshold).

The policy of a safe apply lives here, for the CLI, Python and the Ansible modules alike: with
``hooks.confirm`` (or ``options.saved``) every host is planned first, asked once (or checked
against the saved plan), then exactly what was shown is applied: each host plans again under its
lock and applies the approved plans only if nothing differs, else it is refused
(``PlanStaleError``) with nothing changed on it. With ``options.hold``, a time-boxed playbook's
change is then held and put back (:func:`remediate.fleet.timebox.hold_then_revert`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from remediate.core.drift import host_drift
from remediate.core.planner import ContainerPlan, Plan
from remediate.core.playbook import Playbook, resolve_vars
from remediate.core.results import INTERRUPTED, HostResult
from remediate.errors import ConnectError, PlanStaleError, PlaybookError, RemediateError
from remediate.executor.observe import plan_host
from remediate.fleet.engines import Engines
from remediate.fleet.options import Hooks, Job, Options
from remediate.fleet.results import HostOutcome, RolloutResult, Status
from remediate.fleet.schedule import Schedule
from remediate.fleet.timebox import hold_then_revert
from remediate.host.connection import Connection
from remediate.output.plan import plan_json

if TYPE_CHECKING:  # a dry run needs no recreate machinery
    from remediate.executor.apply import Decision
    from remediate.executor.journal import Journal


def rollout(jobs: Sequence[Job], options: Options | None = None, *, hooks: Hooks[RolloutResult] | None = None) -> RolloutResult:
    """Plan (and unless ``options.dry_run``, apply) every job's playbooks on its target.

    The safe flow: with ``hooks.confirm`` or ``options.saved``, every host is planned first (a
    dry run); a saved plan that drifted is refused; ``confirm`` is asked once with that dry run
    (not when nothing would change); then exactly those plans are applied, each host's under one
    hold of its lock. With ``options.hold``, a time-boxed playbook's change is held and put back.

    Example::

        book = remediate.load_playbook("fix-vllm-404")
        result = remediate.rollout(remediate.jobs(book, [remediate.Target("local")]),
                                   remediate.Options(timeout=30), hooks=remediate.Hooks(confirm=ask))

    Args:
        jobs: targets and their playbooks, in order (see :func:`remediate.fleet.options.jobs`).
        options: how to run (:class:`~remediate.fleet.options.Options`).
        hooks: the confirm question, progress, step questions, interrupt (:class:`~remediate.fleet.options.Hooks`).

    Returns:
        One outcome per job and playbook, in order. Failed hosts were rolled back; the rest go
        on (:meth:`RolloutResult.raise_for_failure` raises if any failed).

    Raises:
        PlaybookError: a variable override is not declared by the job's playbooks (before any host).
        PlanStaleError: ``options.saved`` drifted (nothing was changed).
        RollbackFailed: the hold could not put a change back.
    """
    options = options or Options()
    hooks = hooks or Hooks[RolloutResult]()
    for job in jobs:  # fail fast on bad -e, before touching any host
        for book in job.playbooks:
            resolve_vars(book, _book_overrides(job, book))
    approved: RolloutResult | None = None
    pull = not options.dry_run if options.pull is None else options.pull
    if hooks.confirm is not None or options.saved is not None:
        preview = _run(jobs, options, hooks, dry_run=True, pull=pull)
        if preview.interrupted:
            return preview
        if options.saved is not None:
            drift = options.saved.drift(preview)
            if drift:
                raise PlanStaleError("the saved plan no longer matches (nothing was changed):\n  "
                                     + "\n  ".join(drift), result=preview)
        if options.dry_run:
            return preview
        if hooks.confirm is not None:
            if not preview.changes:
                return preview
            if not hooks.confirm(preview):
                return dataclasses.replace(preview, declined=True)
        approved = preview
    result = _run(jobs, options, hooks, dry_run=options.dry_run, pull=pull, approved=approved)
    if options.hold and not options.dry_run:
        reverts = hold_then_revert(result, ssh=options.ssh, timeout=options.timeout, cancel=hooks.cancel,
                                   on_hold=hooks.on_hold)
        return dataclasses.replace(result, reverts=reverts)
    return result


def _book_overrides(job: Job, book: Playbook) -> Mapping[str, Any]:
    """The overrides of ``job`` for one of its playbooks: all of them for a job of one playbook
    (an undeclared one is refused), else those it declares (one no playbook declares is refused)."""
    if len(job.playbooks) == 1:
        return job.overrides
    unknown = sorted(set(job.overrides) - {name for b in job.playbooks for name in b.vars})
    if unknown:
        raise PlaybookError(f"{job.target.name}: unknown variable {', '.join(unknown)} (no playbook of the "
                            f"job declares it: {', '.join(b.name for b in job.playbooks)})")
    return {k: v for k, v in job.overrides.items() if k in book.vars}


def _run(jobs: Sequence[Job], options: Options, hooks: Hooks[RolloutResult], *, dry_run: bool, pull: bool,
         approved: RolloutResult | None = None) -> RolloutResult:
    """One pass over the jobs: a dry run, or an apply (of the ``approved`` plans, if given);
    ``pull``: missing images of ``image`` changes are pulled while planning."""
    schedule = Schedule(forks=1 if hooks.decide and not dry_run else options.forks, serial=options.serial,
                        max_fail=options.max_fail, cancel=hooks.cancel)
    engines = Engines([job.target for job in jobs])
    firsts = [sum(len(j.playbooks) for j in jobs[:i]) for i in range(len(jobs))]
    done: dict[int, list[HostOutcome]] = {}

    def work(index: int) -> None:
        job = jobs[index]
        reviewed = approved.outcomes[firsts[index]:firsts[index] + len(job.playbooks)] if approved else None
        if (first := engines.named_before(job.target)) is not None:
            outcomes = _all(job, "skipped", f"the same engine as {first}")
        elif (why := schedule.stopped()) is not None:
            outcomes = _all(job, "skipped", why)
        elif reviewed is not None and any(o.plan is None for o in reviewed):
            outcomes = list(reviewed)  # it could not be planned: that outcome stands
        else:
            outcomes = _Host(job, options, hooks, schedule, engines).run(
                dry_run=dry_run, pull=pull, approved=[o.plan for o in reviewed] if reviewed is not None else None)
        for outcome in outcomes:
            if hooks.progress:
                hooks.progress(job.target.name, outcome.status)
        done[index] = outcomes
        schedule.count(any(o.failed for o in outcomes))

    schedule.run(len(jobs), work)
    return RolloutResult(tuple(o for i in range(len(jobs)) for o in done[i]), interrupted=hooks.cancel.is_set(),
                         dry_run=dry_run)


def _all(job: Job, status: Status, error: str) -> list[HostOutcome]:
    return [HostOutcome(job.target, status, error=error) for _ in job.playbooks]


class _Host:
    """One job on its host: connect, lock (to apply), plan every playbook, apply each in turn."""

    def __init__(self, job: Job, options: Options, hooks: Hooks[RolloutResult], schedule: Schedule, engines: Engines) -> None:
        self.job, self.options, self.hooks, self.schedule, self.engines = job, options, hooks, schedule, engines
        self.name = job.target.name
        self.started = time.monotonic()

    def report(self, phase: str) -> None:
        if self.hooks.progress:
            self.hooks.progress(self.name, phase)

    def outcome(self, status: Status, plan: Plan | None = None, result: HostResult | None = None,
                error: str | None = None, exception: RemediateError | None = None) -> HostOutcome:
        return HostOutcome(self.job.target, status, plan, result, error, time.monotonic() - self.started, exception)

    def run(self, *, dry_run: bool, pull: bool, approved: list[Plan | None] | None) -> list[HostOutcome]:
        """Every playbook's outcome; a connection or planning error is every unfinished playbook's."""
        done: list[HostOutcome] = []
        plans: list[Plan] = []
        try:
            self._run(dry_run, pull, approved, plans, done)
        except ConnectError as exc:
            done.extend(self.outcome("unreachable", _at(plans, len(done)), None, exc.message, exc)
                        for _ in self.job.playbooks[len(done):])
        except RemediateError as exc:
            exc.plan = exc.plan or _at(plans, len(done))
            done.extend(self.outcome("error", _at(plans, len(done)), None, exc.message, exc)
                        for _ in self.job.playbooks[len(done):])
        return done

    def _run(self, dry_run: bool, pull: bool, approved: list[Plan | None] | None, plans: list[Plan],
             done: list[HostOutcome]) -> None:
        job, options = self.job, self.options
        host_vars = [{k: v for k, v in job.target.vars.items() if k in book.vars} for book in job.playbooks]
        vars = [resolve_vars(book, {**hv, **_book_overrides(job, book)})
                for book, hv in zip(job.playbooks, host_vars, strict=True)]
        self.report("connect")
        with job.target.connection(options.ssh, timeout=max(options.timeout, 30.0)) as conn:
            first = self.engines.reached_before(job.target, conn)
            if first is not None:
                done.extend(_all(job, "skipped", f"the same engine as {first}"))
                return
            with contextlib.ExitStack() as locked:
                if not dry_run:  # plan and apply under one hold of the host's lock
                    from remediate.executor.journal import locked_journal

                    journal = locked.enter_context(locked_journal(conn, f"apply {', '.join(b.name for b in job.playbooks)}"))
                    # Before planning: a half-done apply leaves containers renamed or already
                    # swapped, which planning would report as missing or as "no changes".
                    journal.require_finished()
                else:
                    locked.enter_context(_warned_once_planned(conn))  # a dry run goes on; the apply would be refused
                self.report("plan")
                on_pull = functools.partial(self.hooks.on_pull, self.name) if self.hooks.on_pull else None
                for i, (book, v) in enumerate(zip(job.playbooks, vars, strict=True)):
                    fresh = plan_host(conn, book, v, only=job.only, container_only=options.container_only,
                                      pull=pull, on_pull=on_pull, pull_stall=options.pull_stall)
                    reviewed = approved[i] if approved is not None else None
                    if reviewed is not None:
                        _require_approved(self.name, reviewed, fresh)
                    plans.append(reviewed if reviewed is not None else fresh)
                if not dry_run:
                    for plan in plans:
                        done.append(self._apply(conn, journal, plan))
            if dry_run:  # after the warning: a journal refused is the host's error
                done.extend(self.outcome("planned", plan) for plan in plans)

    def _apply(self, conn: Connection, journal: Journal, plan: Plan) -> HostOutcome:
        if not plan.changed:
            return self.outcome("ok", plan)
        plan.check_refusals()  # before the plan is shown for a yes it could not get
        if (why := self._stopped()) is not None:
            return self.outcome("skipped", plan, error=why)
        if self.hooks.on_plan is not None:
            self.hooks.on_plan(self.job.target, plan)
        from remediate.executor.apply import apply_locked

        result = apply_locked(plan, conn, journal, timeout=self.options.timeout,
                              keep_backups=self.options.keep_backups,
                              decide=self._decide if self.hooks.decide else None,
                              parallel=self.options.parallel, cancel=self.hooks.cancel,
                              progress=lambda c, phase: self.report(f"{c}: {phase}"))
        if result.rollback_failed:
            status: Status = "rollback failed"
        else:
            changed = any(c.action in ("recreated", "updated") for c in result.containers)
            status = ("changed" if changed else "ok") if result.ok else "failed"
        return self.outcome(status, plan, result)

    def _stopped(self) -> str | None:
        """Why a (further) playbook of this host does not start: interrupted, or quit in step mode."""
        if self.hooks.cancel.is_set():
            return f"rollout stopped: {INTERRUPTED}"
        return "rollout stopped: quit in step mode" if self.schedule.quit.is_set() else None

    def _decide(self, plan: Plan, cp: ContainerPlan) -> Decision:
        assert self.hooks.decide is not None
        choice = self.hooks.decide(plan, cp)
        if self.hooks.cancel.is_set():  # interrupted while the question was open
            choice = "quit"
        if choice == "quit":
            self.schedule.stop_quit()
        return choice


def _at(plans: list[Plan], index: int) -> Plan | None:
    return plans[index] if index < len(plans) else None


@contextlib.contextmanager
def _warned_once_planned(conn: Connection) -> Iterator[None]:
    """A dry run's warning of an unfinished apply (:func:`~remediate.executor.history.warn_unfinished`),
    given once the host is planned (also when planning failed; a journal it refuses raises then):
    the engine's id, which says where its journal lives, is asked while the host is planned."""
    from remediate.executor.history import warn_unfinished

    _ = conn.api  # opened here, not by two threads at once
    with ThreadPoolExecutor(1, thread_name_prefix="remediate-info") as asking:
        asking.submit(conn.info)  # its error, if any, is raised again by the warning's own ask
        try:
            yield
        finally:
            asking.shutdown()
            warn_unfinished(conn)


def _require_approved(host: str, approved: Plan, fresh: Plan) -> None:
    """Refuse when the plan made now is not the one approved (a container drifted, appeared, went)."""
    problems = host_drift(host, plan_json(approved), plan_json(fresh), "the plan was reviewed")
    if problems:
        raise PlanStaleError("the plan changed since it was reviewed (nothing was changed): " + "; ".join(problems),
                             host=host, plan=approved)
