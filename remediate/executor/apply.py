"""Execute a Plan on one host: the recreate algorithm with backup, verify, and automatic restore.

Under the host's lock, refusing a host whose journal shows an unfinished apply, and journaling
each step before the next (see :mod:`remediate.executor.journal`), per container that changes (several at
once with ``parallel``, when no neighbours are tied to them and they share no file: ``parallel``
recreates at once, each container's verification overlapping the next recreates):

1. re-inspect; refuse if it drifted since planning (``PlanStaleError``);
2. write the plan's files (previous content kept for undo);
3. create the new container under a temporary name (bad config fails here, old untouched); a
   compose service's with the config hash its just-written compose file gives
   (:mod:`remediate.executor.compose_hash`);
4. stop the old one, make it inert (restart policy ``no``), rename it to the backup name;
   rename the new one and start it; recreate containers tied to it by ``--link`` or
   ``--network/--ipc/--pid container:`` so they follow the new one (:mod:`remediate.executor.ties`);
5. verify: running, stable, healthy if it has a healthcheck, and the playbook's probes;
6. success: keep the backup (stopped) for ``remediate rollback``, prune older ones;
   failure: keep the new one's last log lines and Docker's health log, then undo the transaction from its
   journal records, as ``remediate recover`` would (:func:`remediate.executor.undo.undo`): the
   neighbours' copies go, the new one is removed, the backup gets its name and restart policy
   back, the files are restored, it starts, the neighbours rejoin it. If that fails too (e.g. the
   engine died): ``rollback failed`` with the manual steps, and the journal keeps the
   transaction open for ``remediate recover``.

All of it runs while the journal holds room on the host's disk (``Journal.reserved``): a full
disk fails before anything changed. An end record that still cannot be written is a
``JournalError`` saying what state the container is in (never a plain success).

A container whose plan is an update in place (``update-in-place``: only its restart policy and
limits change, see :mod:`remediate.core.live`) is not recreated: its begin record holds the values
set and those that put it back, ``docker update`` sets them, verify checks that the engine shows
them and that the container still runs (and the probes); a failure updates the same container
back, through the same undo.

Files belong to the host's apply, not to one container: a file that several planned containers
need is put back only if none of them stays on the new version (:mod:`remediate.executor.sharing`). So
when the first verified and the second failed, the file stays new for the first, and the second
gets its original configuration back (which does not use the new file).

The swap itself lives in :mod:`remediate.executor.swap`, its undo in :mod:`remediate.executor.undo`;
putting things back on request (``rollback``, ``recover``) in :mod:`remediate.executor.restore`.
"""

from __future__ import annotations

import dataclasses
import functools
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Literal

from remediate.core.live import LiveUpdate
from remediate.core.naming import backup_name, staged_name
from remediate.core.planner import (
    ContainerPlan,
    Plan,
    RunState,
    fingerprint,
)
from remediate.core.redaction import mask_values, redact_text
from remediate.core.results import (
    INTERRUPTED,
    STEP_MODE,
    Action,
    ContainerResult,
    HealthRun,
    HostResult,
    ProbeResult,
)
from remediate.core.secret_flow import plan_secrets
from remediate.core.spec import ContainerSpec, anonymous_volumes
from remediate.errors import (
    PlanError,
    PlanStaleError,
    ProbeFailed,
    RemediateError,
    RollbackFailed,
)
from remediate.executor import probes, record, ties
from remediate.executor.compose_hash import up_check, with_config_hash
from remediate.executor.journal import Journal, locked_journal
from remediate.executor.observe import observe
from remediate.executor.record import End, FileEntry, Kind, Step, digest
from remediate.executor.swap import create, prune, swap
from remediate.executor.txn import Txn, safe_message
from remediate.executor.undo import RECOVER_STEP, Undone
from remediate.host.connection import Connection

DEFAULT_KEEP_BACKUPS = 3
#: Log lines kept of a new container that failed to start or exited during verify.
LOG_LINES = 50
Json = dict[str, Any]

Progress = Callable[[str, str], None]

#: With ``parallel`` N, a container starts only when those ``TRAIL * N`` places before it have
#: finished: verification trails the recreates by at most that many containers.
TRAIL = 3
_TICK = 0.25  # how often a scheduler waiting for a slot looks for an interrupt


Decision = Literal["apply", "skip", "quit"]
Decide = Callable[[Plan, ContainerPlan], Decision]


def apply(plan: Plan, conn: Connection, *, timeout: float = 60.0, keep_backups: int = DEFAULT_KEEP_BACKUPS,
          progress: Progress | None = None, decide: Decide | None = None,
          journal: Journal | None = None, parallel: int = 1, cancel: threading.Event | None = None) -> HostResult:
    """Apply a plan on the host it was made for, under the host's lock, journaling every step.

    Args:
        plan: from :func:`remediate.core.planner.plan` on this host.
        conn: the host.
        timeout: seconds verification keeps retrying before it counts as failed.
        keep_backups: backups kept per container after a successful apply (the newest ones, and
            always the original: the container before any remediate change).
        progress: called with ``(container, phase)`` as work advances.
        decide: asked before each container that changes (step mode): apply, skip, or quit
            (the rest is skipped; what is done stays done and verified).
        journal: the host's journal (default: in the host's state directory).
        parallel: containers recreated at once on this host, each one's verification
            overlapping the next recreates (at most ``TRAIL * parallel`` unverified at once);
            one at a time (recreated and verified) when a change has neighbours tied to it,
            containers share a file, or in step mode.
        cancel: once set (an interrupt), no further container starts, and one being verified
            counts as failed and is restored.

    Returns:
        The host result; containers not started after a failed one (or an interrupt) are ``skipped``.

    Raises:
        LockedError: another run holds the host.
        RecoverNeeded: an earlier apply on the host did not finish.
        PlanStaleError: a container changed since the plan was made (nothing was changed).
        PlanError: an image change's image was not on the host when planned, or the plan of a
            container carries a refusal (e.g. GPUs on an engine without a GPU runtime); nothing was
            changed.
    """
    with locked_journal(conn, f"apply {plan.playbook}", journal) as held:
        # Also with no changes: an interrupted apply can make a container look done (the new one
        # already swapped in); "no changes" is only true once the journal is finished.
        held.require_finished()
        return apply_locked(plan, conn, held, timeout=timeout, keep_backups=keep_backups, progress=progress,
                            decide=decide, parallel=parallel, cancel=cancel)


def apply_locked(plan: Plan, conn: Connection, journal: Journal, *, timeout: float = 60.0,
                 keep_backups: int = DEFAULT_KEEP_BACKUPS, progress: Progress | None = None,
                 decide: Decide | None = None, parallel: int = 1,
                 cancel: threading.Event | None = None) -> HostResult:
    """:func:`apply` for a caller that holds the host's lock and has checked its journal
    (``Journal.require_finished``), e.g. to plan under that same lock."""
    started = time.monotonic()
    if not plan.changed:
        return HostResult(plan.host, plan, tuple(ContainerResult(c.name, Action.UNCHANGED, c.id, c.id)
                                                 for c in plan.containers), time.monotonic() - started)
    report = progress or (lambda _c, _p: None)
    _check_images(conn, plan.changed)
    plan.check_refusals()  # before anything stops: e.g. GPUs the engine cannot give
    _check_fresh(conn, plan.changed)
    cancel = cancel or threading.Event()
    run = journal.new_id()  # ties this apply's transactions together: they own its files jointly
    # One at a time when neighbours are tied to a change, or containers share a file (a failed
    # one must not put a file back while another that needs it is verifying).
    shared = any(len(users) > 1 for users in plan.file_users().values())
    with journal.reserved():  # a full disk fails here, before anything changed
        if decide is None and parallel > 1 and not shared and not any(cp.dependents for cp in plan.changed):
            results = _apply_parallel(conn, plan, journal, run, parallel, timeout=timeout,
                                      keep_backups=keep_backups, report=report, cancel=cancel)
        else:
            results = _apply_serial(conn, plan, journal, run, decide, timeout=timeout,
                                    keep_backups=keep_backups, report=report, cancel=cancel)
    return HostResult(plan.host, plan, tuple(results), time.monotonic() - started)


def _apply_serial(conn: Connection, plan: Plan, journal: Journal, run: str, decide: Decide | None, *, timeout: float,
                  keep_backups: int, report: Progress, cancel: threading.Event) -> list[ContainerResult]:
    results: list[ContainerResult] = []
    stop, why = False, None  # why: None after a failure, "quit (step mode)" after a quit
    for cp in plan.containers:
        if cancel.is_set() and cp.action != "none":
            stop, why = True, INTERRUPTED
        if stop:
            results.append(ContainerResult(cp.name, Action.SKIPPED, cp.id, error=why))
            continue
        if cp.action == "none":
            results.append(ContainerResult(cp.name, Action.UNCHANGED, cp.id, cp.id))
            continue
        choice = decide(plan, cp) if decide else "apply"
        if choice != "apply":
            results.append(ContainerResult(cp.name, Action.SKIPPED, cp.id, error=f"{choice} {STEP_MODE}"))
            stop, why = choice == "quit", f"quit {STEP_MODE}"
            continue
        result = _apply_container(conn, cp, journal, plan, run, timeout=timeout,
                                  keep_backups=keep_backups, report=report, cancel=cancel)
        results.append(result)
        stop, why = not result.ok, INTERRUPTED if cancel.is_set() else None
    return results


def _apply_parallel(conn: Connection, plan: Plan, journal: Journal, run: str, workers: int, *, timeout: float,
                    keep_backups: int, report: Progress, cancel: threading.Event) -> list[ContainerResult]:
    """Recreate independent containers in plan order, ``workers`` at a time, each one's verification
    overlapping the next ones' recreates; after a failure or an interrupt, start no more.

    A container is started only when every container started :data:`TRAIL` ``* workers`` places
    before it has finished (verified, or restored): so at most that many are unverified at once,
    and once a failure is known no container more than that many places after it has started.
    """
    trail = TRAIL * workers
    cond = threading.Condition()
    swapping = 0  # started containers not yet in verification
    finished: list[bool] = []  # per started container, in start order
    stopped = False  # a container failed or raised: start no more

    def one(slot: int, cp: ContainerPlan) -> ContainerResult:
        nonlocal swapping, stopped
        verifying = False

        def swapped() -> None:  # the new container runs: the next recreate may start
            nonlocal swapping, verifying
            with cond:
                if not verifying:
                    verifying, swapping = True, swapping - 1
                    cond.notify_all()

        ok = False
        try:
            result = _apply_container(conn, cp, journal, plan, run, timeout=timeout, keep_backups=keep_backups,
                                      report=report, cancel=cancel, swapped=swapped)
            ok = result.ok
            return result
        finally:
            with cond:
                if not verifying:
                    swapping -= 1
                finished[slot] = True
                stopped = stopped or not ok
                cond.notify_all()

    def may_start() -> bool:  # or decide not to: a failure, an interrupt
        oldest = next((i for i, done in enumerate(finished) if not done), len(finished))
        return stopped or cancel.is_set() or (swapping < workers and len(finished) - oldest < trail)

    results: list[ContainerResult | Future[ContainerResult]] = []
    with ThreadPoolExecutor(max_workers=trail, thread_name_prefix="remediate-recreate") as pool:
        for cp in plan.containers:
            if cp.action == "none":
                results.append(ContainerResult(cp.name, Action.UNCHANGED, cp.id, cp.id))
                continue
            with cond:
                # The timeout only lets an interrupt be seen while every slot is busy.
                while not cond.wait_for(may_start, timeout=_TICK):
                    pass
                if stopped or cancel.is_set():
                    results.append(ContainerResult(cp.name, Action.SKIPPED, cp.id,
                                                   error=INTERRUPTED if cancel.is_set() else None))
                    continue
                swapping += 1
                finished.append(False)
                results.append(pool.submit(one, len(finished) - 1, cp))
    return [r.result() if isinstance(r, Future) else r for r in results]


def _check_images(conn: Connection, changed: Sequence[ContainerPlan]) -> None:
    """Refuse, before anything changes, a plan whose image change found no image to move to
    (planned without pulling, e.g. a dry run's plan): the plan never showed what it supplies."""
    for cp in changed:
        if cp.image is not None and cp.after.image_id is None:
            raise PlanError(f"{conn.label}: {cp.name}: {cp.image} was not on the host when the plan was made; plan "
                            "again with pull (an apply without --dry-run pulls it first); nothing was changed",
                            host=conn.label, container=cp.name)


def _check_fresh(conn: Connection, changed: Sequence[ContainerPlan]) -> None:
    """Raise ``PlanStaleError`` for the first container that changed since it was planned."""
    images: dict[str, Json | None] = {}  # one inspect per image, as planning does
    for cp in changed:
        if fingerprint(observe(conn, conn.inspect_container(cp.id), images=images)) != cp.fingerprint:
            raise PlanStaleError(f"{conn.label}: container {cp.name} changed since the plan was made; plan again",
                                 host=conn.label, container=cp.name)


def _apply_container(conn: Connection, cp: ContainerPlan, journal: Journal, plan: Plan, run: str, *,
                     timeout: float, keep_backups: int, report: Progress, cancel: threading.Event,
                     swapped: Callable[[], None] = lambda: None) -> ContainerResult:
    """Recreate one container (or update it in place) and verify it; ``swapped`` is called once
    the new one runs, before its verification (the parallel scheduler starts the next recreate then)."""
    if cp.live is not None:
        try:
            return _update_container(conn, cp, cp.live, journal, plan, run, timeout=timeout, report=report,
                                     cancel=cancel)
        finally:
            swapped()
    started = time.monotonic()
    backup = backup_name(cp.name)
    new_id: str | None = None
    checks: tuple[ProbeResult, ...] = ()
    old = conn.inspect_container(cp.id)  # now, not at the freshness check: others may have taken minutes
    # Before anything stops: a PID joiner dies with its namespace's owner, yet it ran.
    tied = [t for t in (conn.find_container(name) for name in cp.dependents) if t is not None]
    tx = journal.new_id()
    changed_files = [w for w in cp.files if w.changed]
    secrets = plan_secrets(plan)
    logs: tuple[str, ...] = ()
    health: tuple[HealthRun, ...] = ()

    def keep_logs(exc: RemediateError) -> None:  # before the undo removes the new container
        nonlocal logs, health
        logs, health = _evidence(conn, new_id, secrets, failed_verify=isinstance(exc, ProbeFailed))
        report(cp.name, "restore")

    begin = record.begin(
        tx=tx, kind=Kind.APPLY, playbook=plan.playbook, container=cp.name,
        revert_after=plan.revert_after, old_id=cp.id, backup=backup, temp=staged_name(cp.name),
        was_running=bool((old.get("State") or {}).get("Running")), was_paused=bool((old.get("State") or {}).get("Paused")),
        restart_policy=(old.get("HostConfig") or {}).get("RestartPolicy"), run=run, tied=[ties.record(t) for t in tied],
        # An image change: the image the original runs (a rollback's) and the one it moves to.
        **({"old_image": str(old.get("Image") or ""), "new_image": cp.after.image_id} if cp.image else {}),
        files=[FileEntry(path=w.path, mode=w.before_mode, written=digest(w.content),
                         owner=list(w.owner) if w.owner else None,
                         saved=journal.save_file(tx, i, w.before) if w.before is not None else None)
               for i, w in enumerate(changed_files)],
        dirs=list(cp.created_dirs))
    # An undo that fails leaves the transaction open ("rollback failed"): `recover` finishes it.
    with Txn(conn, journal, begin, mask=functools.partial(safe_message, secrets=secrets), before_undo=keep_logs) as txn:
        report(cp.name, "write files")
        for write in changed_files:
            conn.write_file(write.path, write.content, write.mode)
        txn.mark(Step.FILES)
        report(cp.name, "create")
        # A compose service whose compose file was just written: the hash compose now expects.
        after = with_config_hash(conn, cp.after, {w.path for w in cp.files})
        new_id = _create(conn, after, staged_name(cp.name), anonymous_volumes(old), cp.before)
        txn.mark(Step.CREATED, new_id=new_id)
        report(cp.name, "swap")
        swap(conn, old, new_id, cp.name, backup, mark=txn.mark, was_running=cp.state_after is not RunState.STOPPED,
             paused=cp.state_after is RunState.PAUSED)
        report(cp.name, "dependents")
        ties.follow(conn, tied, old_id=cp.id, name=cp.name, parked=backup, new_id=new_id, mark=txn.mark)
        report(cp.name, "verify")
        swapped()
        checks = _verify(conn, new_id, cp, after, timeout, cancel, secrets)
        _passed(conn, plan, cp, checks)
        txn.mark(Step.VERIFIED)
        report(cp.name, "done")
        # Kept on leaving: the neighbours' old copies go; a compose backup is disarmed. A
        # time-boxed change: the journal knows when it is due back, for `recover` if the hold dies.
        txn.succeed(End.RECREATED, new_id=new_id,
                    revert_at=round(time.time() + plan.revert_after) if plan.revert_after else None)
    if txn.error is not None:
        return _undone(cp, txn, txn.error, checks, started, logs, health)
    prune(conn, journal, cp.name, keep_backups)
    # Said only once asked: whether compose's next `up -d` leaves the fixed service (and the rest) alone;
    # asked after the last service of the plan that edits its compose file (the others are not done before).
    users = plan.file_users()
    last = all(users[w.path][-1] == cp.name for w in cp.files)
    checked = up_check(conn, after, {w.path for w in cp.files}) if last else None
    return ContainerResult(cp.name, Action.RECREATED, cp.id, new_id, backup, checks, None, time.monotonic() - started,
                           notes=(checked,) if checked else ())


def _update_container(conn: Connection, cp: ContainerPlan, live: LiveUpdate, journal: Journal, plan: Plan, run: str, *,
                      timeout: float, report: Progress, cancel: threading.Event) -> ContainerResult:
    """Update one container in place (``docker update``) and verify it: the engine shows the new
    values, and the container runs as before (and passes the playbook's probes). On failure the
    same container is updated back (:func:`remediate.executor.undo.undo`)."""
    started = time.monotonic()
    old = conn.inspect_container(cp.id)
    state = old.get("State") or {}
    secrets = plan_secrets(plan)
    checks: tuple[ProbeResult, ...] = ()
    logs: tuple[str, ...] = ()
    health: tuple[HealthRun, ...] = ()

    def keep_logs(exc: RemediateError) -> None:  # what the container said, before it is updated back
        nonlocal logs, health
        logs, health = _evidence(conn, cp.id, secrets, failed_verify=isinstance(exc, ProbeFailed))
        report(cp.name, "restore")

    begin = record.begin(
        tx=journal.new_id(), kind=Kind.APPLY, playbook=plan.playbook, container=cp.name, old_id=cp.id, new_id=cp.id,
        run=run, was_running=bool(state.get("Running")), was_paused=bool(state.get("Paused")),
        restart_policy=(old.get("HostConfig") or {}).get("RestartPolicy"),
        live=record.Live(before=live.before, after=live.after))
    with Txn(conn, journal, begin, mask=functools.partial(safe_message, secrets=secrets), before_undo=keep_logs) as txn:
        report(cp.name, "update")
        warnings = conn.update_container(cp.id, live.after)
        txn.mark(Step.UPDATED)
        report(cp.name, "verify")
        checks = (probes.updated(conn, cp.id, live.after), *_verify(conn, cp.id, cp, cp.after, timeout, cancel, secrets))
        _passed(conn, plan, cp, checks)
        txn.mark(Step.VERIFIED)
        report(cp.name, "done")
        txn.succeed(End.UPDATED, new_id=cp.id)
    if txn.error is not None:
        return _undone(cp, txn, txn.error, checks, started, logs, health)
    notes = tuple(f"engine warning: {w}" for w in warnings)
    return ContainerResult(cp.name, Action.UPDATED, cp.id, cp.id, None, checks, None, time.monotonic() - started,
                           notes=notes)


def _passed(conn: Connection, plan: Plan, cp: ContainerPlan, checks: Sequence[ProbeResult]) -> None:
    """Raise ``ProbeFailed`` for the first check that failed."""
    failed = next((c for c in checks if not c.ok), None)
    if failed is not None:
        raise ProbeFailed(f"verify failed: {failed.name}: {failed.evidence}", host=conn.label,
                          container=cp.name, plan=plan, checks=tuple(checks))


def _undone(cp: ContainerPlan, txn: Txn, error: RemediateError, checks: tuple[ProbeResult, ...], started: float,
            logs: tuple[str, ...], health: tuple[HealthRun, ...]) -> ContainerResult:
    """The result of a container whose change failed and was undone (or whose undo failed too)."""
    undone = txn.undone or Undone(())
    manual = () if undone.ok else (*undone.manual_steps, RECOVER_STEP)
    return ContainerResult(cp.name, Action.ROLLED_BACK if undone.ok else Action.ROLLBACK_FAILED, cp.id, None,
                           None, checks, error.message, time.monotonic() - started, manual, logs, health,
                           _failure(error, manual))


def _failure(exc: RemediateError, manual: tuple[str, ...]) -> RemediateError:
    """What a failed container's result carries: the exception met (its message masked like the
    result's ``error``), or when the restore left manual steps, a ``RollbackFailed`` caused by it."""
    if not manual:
        return exc
    failure = RollbackFailed(f"{exc.message}; restoring failed too", manual_steps=manual, host=exc.host,
                             container=exc.container, plan=exc.plan)
    failure.__cause__ = exc
    return failure


def _evidence(conn: Connection, new_id: str | None, secrets: Sequence[str], *,
              failed_verify: bool) -> tuple[tuple[str, ...], tuple[HealthRun, ...]]:
    """Why a new container failed, read before the undo removes it: its last :data:`LOG_LINES`
    log lines and Docker's health log (each healthcheck run's exit code and output), secret
    shapes and ``secrets`` masked.

    The logs of a failed verification always (a running service that answers wrongly says why in
    them); after another failure only if the new container is down (it failed to start, exited or
    restarted). Nothing when it was never created or is gone.
    """
    if new_id is None:
        return (), ()
    try:
        inspect = conn.inspect_container(new_id)
        state = inspect.get("State") or {}
        health = tuple(HealthRun(run.get("ExitCode"), mask_values(str(run.get("Output") or "").rstrip(), secrets),
                                 str(run.get("Start") or ""))
                       for run in ((state.get("Health") or {}).get("Log") or []))
        # Running now may be between two crashes of a restart policy: a restart counts as down.
        if not failed_verify and state.get("Running") and not state.get("Restarting") and not inspect.get("RestartCount"):
            return (), health
        text = conn.logs(new_id, tail=LOG_LINES)
    except RemediateError:
        return (), ()  # the engine cannot tell (gone, unreachable): the undo reports what matters
    return tuple(mask_values(redact_text(line), secrets) for line in text.splitlines()[-LOG_LINES:]), health


def _create(conn: Connection, spec: ContainerSpec, name: str, volumes: dict[str, str], before: ContainerSpec) -> str:
    # Pass a platform only when the plan changes it: older engines reject the parameter otherwise.
    return create(conn, spec, name, volumes, spec.platform if spec.platform != before.platform else None)


def _verify(conn: Connection, new_id: str, cp: ContainerPlan, created: ContainerSpec, timeout: float,
            cancel: threading.Event, secrets: Sequence[str]) -> tuple[ProbeResult, ...]:
    """The verify steps' results; a probe rendered from a secret var shows it masked (name, evidence).

    A new container that is not to run (its original is stopped or paused) is checked for its
    state and its configuration (``created``: the spec it was created from) only: probes need it
    running.
    """
    if cp.state_after is RunState.RUNNING:
        results = _run_probes(conn, new_id, cp, timeout, cancel)
    else:
        results = (probes.configured(conn, new_id, created, paused=cp.state_after is RunState.PAUSED),)
    return tuple(dataclasses.replace(r, name=mask_values(r.name, secrets), evidence=mask_values(r.evidence, secrets))
                 for r in results)


def _run_probes(conn: Connection, new_id: str, cp: ContainerPlan, timeout: float,
                cancel: threading.Event) -> tuple[ProbeResult, ...]:
    deadline = time.monotonic() + timeout
    results = [probes.wait_running(conn, new_id, timeout=timeout, cancel=cancel)]
    if not results[0].ok:
        return tuple(results)
    run_started = probes.started_at(conn, new_id)
    for probe in cp.verify:
        remaining = max(deadline - time.monotonic(), 1.0)
        results.append(probes.http_probe(conn, new_id, probe, timeout=remaining, cancel=cancel))
        if not results[-1].ok:
            return tuple(results)
    # A crash right after the probes (e.g. a port clash on a second port) must count too.
    results.append(probes.still_running(conn, new_id, run_started))
    return tuple(results)


