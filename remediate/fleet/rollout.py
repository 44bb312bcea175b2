"""Many hosts: bounded parallelism (forks), serial batches, a failure threshold that stops the
rollout, and one outcome per host. Each host runs connect -> survey -> plan -> [apply -> verify].

The policy of a safe apply lives here, for the CLI and Python alike: :func:`rollout` with
``confirm`` (or ``saved``) plans every host first, asks (or checks the saved plan), then applies
exactly what was shown: each host plans again under its lock and applies the approved plan only
if nothing differs, else it is refused (``PlanStaleError``) with nothing changed on it. With
``hold``, a time-boxed playbook's change is then held and put back (:func:`hold_then_revert`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from remediate.core.drift import host_drift
from remediate.core.planner import ContainerPlan, Plan
from remediate.core.playbook import Playbook, resolve_vars
from remediate.core.redaction import MASK, marked_secrets, mask_json, redact_text
from remediate.core.results import INTERRUPTED, HostResult
from remediate.errors import (
    ConnectError,
    InventoryError,
    PlanStaleError,
    RemediateError,
    RollbackFailed,
    RolloutError,
)
from remediate.executor import hold as holding
from remediate.executor.observe import plan_host
from remediate.host.connection import Connection
from remediate.host.sshoptions import SshOptions
from remediate.output.report import plan_json, result_json

if TYPE_CHECKING:  # a dry run needs neither inventories nor the recreate machinery
    from remediate.executor.apply import Decide, Decision
    from remediate.fleet.inventory import Host, Inventory

Status = Literal["planned", "ok", "changed", "failed", "rollback failed", "unreachable", "error", "skipped"]
Progress = Callable[[str, str], None]


@dataclass(frozen=True)
class Target:
    """One Docker host to run on.

    Attributes:
        name: label in output (inventory name or the URL).
        url: ``local``, ``unix:///path`` or ``ssh://[user@]host[:port]``.
        docker_host: engine socket on the host, when not the default.
        key_file: SSH private key for this host.
        vars: inventory variables of the host (host over group).
        groups: inventory groups of the host.
    """

    name: str
    url: str = "local"
    docker_host: str | None = None
    key_file: str | None = None
    groups: frozenset[str] = frozenset()
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def connection(self, ssh: SshOptions | None = None, *, timeout: float = 60.0) -> Connection:
        """A (lazily opened) connection to this host: ``ssh`` with this host's own key file, if any."""
        options = ssh or SshOptions()
        if self.key_file:
            options = SshOptions(options.known_hosts, options.accept_new_host_keys, self.key_file,
                                 options.connect_timeout)
        return Connection(self.url, ssh=options, docker_host=self.docker_host, label=self.name, timeout=timeout)

    @property
    def engine_address(self) -> str:
        """Where this target's engine is, spelled one way (``local`` and its socket path, or a host
        name in another case, give the same): two targets with one address are one engine."""
        url = self.url if self.url != "local" else os.environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        if url.startswith("unix://"):
            return "unix://" + os.path.realpath(url.removeprefix("unix://"))
        parts = urllib.parse.urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        default = {"ssh": 22, "tcp": 2376 if os.environ.get("DOCKER_TLS_VERIFY") else 2375}.get(parts.scheme)
        where = f"{parts.scheme}://{user}{(parts.hostname or '').lower()}:{parts.port or default}"
        return where + (f" {self.docker_host}" if self.docker_host else "")


def target_from_url(url: str) -> Target:
    """A target from ``-H``: ``local``, ``unix:///path``, ``tcp://host:port`` (TLS from
    ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH``), ``ssh://user@host:port`` or a bare host name."""
    if url == "local" or url.startswith(("unix://", "tcp://")):
        return Target(name=url, url=url)
    if "://" in url and not url.startswith("ssh://"):
        raise InventoryError(f"-H {url}: unsupported (use local, unix:///path, tcp://host:port or "
                             "ssh://user@host:port)")
    full = url if url.startswith("ssh://") else f"ssh://{url}"
    try:
        parsed = urllib.parse.urlparse(full)
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InventoryError(f"-H {url}: {exc}") from None
    if not parsed.hostname:
        raise InventoryError(f"-H {url}: no host name (use ssh://user@host:port)")
    return Target(name=url, url=full)


def targets_from_inventory(inventory: Inventory, limit: str | None) -> list[Target]:
    """The inventory hosts ``limit`` selects, as targets."""
    return [_target_of(host) for host in inventory.select(limit)]


def _target_of(host: Host) -> Target:
    if host.connection == "local":
        url = host.docker_host if (host.docker_host or "").startswith("unix://") else "local"
        return Target(name=host.name, url=url or "local", groups=host.groups, vars=host.vars)
    user = f"{host.user}@" if host.user else ""
    address = f"[{host.address}]" if ":" in host.address else host.address  # IPv6
    return Target(name=host.name, url=f"ssh://{user}{address}:{host.port}", docker_host=host.docker_host,
                  key_file=host.key_file, groups=host.groups, vars=host.vars)


#: The engine ``local`` means when ``DOCKER_HOST`` names none.
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


def host_json(host: Host, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """How an inventory host is reached, JSON-ready: the effective connection (``ssh`` or
    ``local``), address, port and user (None for a local host), the Docker host, key file, the
    URL remediate connects to, and the groups.

    ``docker_host`` is the engine socket: for a local host the inventory's ``unix://`` one, else
    ``DOCKER_HOST`` in ``environ`` (default ``os.environ``), else :data:`DEFAULT_DOCKER_HOST`; for
    an SSH host ``remediate_docker_host``, or None for that host's default engine (reached with
    ``docker system dial-stdio`` there). A field made from a decrypted ``!vault`` value shows it
    as ``***``.
    """
    target = _target_of(host)
    local = not target.url.startswith("ssh://")
    docker_host: str | None
    if local:
        env = os.environ if environ is None else environ
        docker_host = target.url if target.url != "local" else env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    else:
        docker_host = host.docker_host
    shown = {"host": host.name, "connection": "local" if local else "ssh",
             "address": None if local else host.address, "port": None if local else host.port,
             "user": None if local else host.user, "docker_host": docker_host,
             "key_file": None if local else host.key_file, "url": target.url, "groups": sorted(host.groups)}
    secrets = sorted(set(marked_secrets(host.vars)), key=len, reverse=True)
    return {key: MASK if value is not None and str(value) in secrets else mask_json(value, secrets)
            for key, value in shown.items()}


@dataclass(frozen=True)
class HostOutcome:
    """What happened on one host."""

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
    def failed(self) -> bool:
        """True when this host counts as failed for --max-fail."""
        return self.status in ("failed", "rollback failed", "unreachable", "error")


@dataclass(frozen=True)
class RolloutResult:
    """Outcomes of every host, in target order.

    Attributes:
        outcomes: one per target.
        interrupted: the rollout was interrupted (``cancel``).
        dry_run: the outcomes are plans only, nothing was applied: a dry run, or a ``confirm``
            rollout that stopped after planning (nothing to change, declined, interrupted).
        declined: ``confirm`` said no.
        reverts: what the time-boxed hold put back (``rollout(hold=True)``).
    """

    outcomes: tuple[HostOutcome, ...]
    interrupted: bool = False
    dry_run: bool = False
    declined: bool = False
    reverts: tuple[holding.Revert, ...] = ()

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


class Reviewed(Protocol):
    """A plan reviewed earlier (a :class:`remediate.fleet.saved.SavedPlan`): what differs now."""

    def drift(self, planned: RolloutResult) -> list[str]:
        """What differs between the reviewed plan and ``planned`` (empty: apply may go ahead)."""
        ...


#: Asked with the planned rollout (a dry run of every target) before anything is applied.
Confirm = Callable[[RolloutResult], bool]


class Engines:
    """Which target first named each engine of a run: by address before connecting
    (:attr:`Target.engine_address`), then by the engine's id once connected (one engine reached
    under two addresses). Thread-safe; with several hosts at once, the first to connect keeps it."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self._first: dict[str, str] = {}
        self._lock = threading.Lock()
        for target in targets:
            self._first.setdefault(target.engine_address, target.name)

    def named_before(self, target: Target) -> str | None:
        """The earlier target with the same engine address, or None."""
        first = self._first.get(target.engine_address, target.name)
        return first if first != target.name else None

    def reached_before(self, target: Target, conn: Connection) -> str | None:
        """The target that already reached ``conn``'s engine (asks it its id), or None."""
        engine_id = conn.engine_id
        with self._lock:
            first = self._first.setdefault(engine_id, target.name)
        return first if first != target.name else None


def parse_amount(text: str | None, total: int, option: str) -> int | None:
    """``N`` or ``N%`` of ``total`` (at least 1), or None when not given."""
    if text is None:
        return None
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            if not 0 < percent <= 100:
                raise ValueError
            return max(1, int(total * percent / 100))
        value = int(text)
        if value < 1:
            raise ValueError
        return value
    except ValueError:
        raise InventoryError(f"{option} {text}: expected a positive number or a percentage like 25%") from None


def rollout(
    playbook: Playbook,
    targets: Sequence[Target],
    *,
    overrides: Mapping[str, Any] | None = None,
    dry_run: bool = False,
    confirm: Confirm | None = None,
    saved: Reviewed | None = None,
    hold: bool = False,
    on_hold: Callable[[float], None] | None = None,
    forks: int = 5,
    serial: int | None = None,
    max_fail: int | None = None,
    timeout: float = 60.0,
    keep_backups: int = 3,
    only: Sequence[str] = (),
    ssh: SshOptions | None = None,
    progress: Progress | None = None,
    on_plan: Callable[[Target, Plan], None] | None = None,
    decide: Decide | None = None,
    parallel: int = 1,
    cancel: threading.Event | None = None,
    container_only: bool = False,
    approved: RolloutResult | None = None,
) -> RolloutResult:
    """Plan (and unless ``dry_run``, apply) a playbook on every target.

    The safe flow: with ``confirm`` or ``saved``, every host is planned first (a dry run); a
    saved plan that drifted is refused; ``confirm`` is asked with that dry run (not when nothing
    would change); then exactly those plans are applied (see ``approved``). With ``hold``, a
    time-boxed playbook's change is held and put back afterwards (:func:`hold_then_revert`).

    Args:
        playbook: the playbook.
        targets: hosts, in order.
        overrides: ``-e`` variables; they win over inventory vars, which win over defaults.
        dry_run: plan only.
        confirm: asked with the planned rollout before anything is applied; False applies
            nothing (the result is that dry run, ``declined``). It may raise to refuse.
        saved: a plan reviewed earlier (:func:`remediate.fleet.saved.load`): refused with
            ``PlanStaleError`` if it drifted, else applied exactly (also checked with ``dry_run``).
        hold: after an apply that changed a time-boxed playbook's containers everywhere without
            failure, hold the change for ``revert_after`` seconds, then put it back (``reverts``).
        on_hold: called with the seconds of the hold just before it starts.
        forks: hosts worked on at once.
        serial: hosts per batch; a batch starts only when the previous one is done.
        max_fail: stop once this many hosts failed; the hosts not started are ``skipped``.
        timeout: verification timeout per container.
        keep_backups: backups kept per container.
        only: container names to restrict to.
        ssh: SSH options shared by all hosts (a host's key file wins).
        progress: called with ``(host, phase)`` while applying (not while planning first); a
            container's phases read ``"container: phase"``.
        on_plan: called with each host's plan once it is made and before it is applied (not in a
            dry run, nor for a host with nothing to change).
        decide: step mode: asked before each container; ``quit`` ends the whole rollout.
        parallel: containers recreated at once on each host (see :func:`remediate.executor.apply.apply`).
        cancel: set it to interrupt: hosts not started are skipped, and each host finishes or
            restores what it has in flight (see :func:`remediate.executor.apply.apply`); during
            the hold, it puts the change back at once.
        container_only: compose services: leave the compose file alone (see :func:`remediate.core.planner.plan`).
        approved: a dry run of these targets (same order) that was reviewed: each host applies
            exactly its plan, or is refused (``error``, nothing changed there) when planning
            again under the host's lock gives another plan; a host that could not be planned
            then keeps that outcome (it is not tried again).

    Returns:
        One outcome per target. Failed hosts were rolled back; the rest go on
        (:meth:`RolloutResult.raise_for_failure` raises if any failed).

    Raises:
        PlaybookError: a variable override is not declared by the playbook (before any host).
        PlanStaleError: ``saved`` drifted (nothing was changed).
        RollbackFailed: the hold could not put a change back.
        ValueError: ``approved`` is not a dry run of ``targets``, or is given with ``confirm``/``saved``.
    """
    if approved is not None and (confirm is not None or saved is not None):
        raise ValueError("approved is a reviewed dry run: give it, or confirm/saved, not both")
    run = functools.partial(_rollout, playbook, targets, overrides=overrides or {}, forks=forks, serial=serial,
                            max_fail=max_fail, timeout=timeout, keep_backups=keep_backups, only=only, ssh=ssh,
                            parallel=parallel, container_only=container_only, cancel=cancel or threading.Event())
    if confirm is not None or saved is not None:
        preview = run(dry_run=True)
        if preview.interrupted:
            return preview
        if saved is not None:
            drift = saved.drift(preview)
            if drift:
                raise PlanStaleError("the saved plan no longer matches (nothing was changed):\n  "
                                     + "\n  ".join(drift), result=preview)
        if dry_run:
            return preview
        if confirm is not None:
            if not preview.changes:
                return preview
            if not confirm(preview):
                return dataclasses.replace(preview, declined=True)
        approved = preview
    result = run(dry_run=dry_run, progress=progress, on_plan=on_plan, decide=decide, approved=approved)
    if hold and not dry_run:
        reverts = hold_then_revert(result, ssh=ssh, timeout=timeout, cancel=run.keywords["cancel"], on_hold=on_hold)
        return dataclasses.replace(result, reverts=reverts)
    return result


def _rollout(playbook: Playbook, targets: Sequence[Target], *, overrides: Mapping[str, Any], dry_run: bool,
             forks: int, serial: int | None, max_fail: int | None, timeout: float, keep_backups: int,
             only: Sequence[str], ssh: SshOptions | None, parallel: int, cancel: threading.Event,
             container_only: bool, progress: Progress | None = None,
             on_plan: Callable[[Target, Plan], None] | None = None, decide: Decide | None = None,
             approved: RolloutResult | None = None) -> RolloutResult:
    """:func:`rollout` of one kind: a dry run, or an apply (of ``approved`` plans, if given)."""
    resolve_vars(playbook, overrides)  # fail fast on bad -e, before touching any host
    if approved is not None and [o.target for o in approved.outcomes] != list(targets):
        raise ValueError("approved must be a dry run of the same targets, in order")
    report = progress or (lambda _h, _p: None)
    outcomes: dict[int, HostOutcome] = {}
    engines = Engines(targets)

    stop = threading.Event()
    quit_ = threading.Event()
    failures = 0
    lock = threading.Lock()
    batch = serial or len(targets) or 1

    def decide_and_stop(plan: Plan, cp: ContainerPlan) -> Decision:
        choice = decide(plan, cp) if decide else "apply"
        if cancel.is_set():  # interrupted while the question was open
            choice = "quit"
        if choice == "quit":
            quit_.set()
            stop.set()
        return choice

    def work(index: int, target: Target) -> None:
        nonlocal failures
        if (first := engines.named_before(target)) is not None:
            outcome = HostOutcome(target, "skipped", error=f"the same engine as {first}")
        elif stop.is_set() or cancel.is_set():
            why = INTERRUPTED if cancel.is_set() else "quit in step mode" if quit_.is_set() else "too many failures"
            outcome = HostOutcome(target, "skipped", error=f"rollout stopped: {why}")
        elif approved is not None and approved.outcomes[index].plan is None:
            outcome = approved.outcomes[index]
        else:
            outcome = _run_host(playbook, target, overrides, engines, dry_run=dry_run, timeout=timeout,
                                keep_backups=keep_backups, only=only, ssh=ssh, report=report,
                                on_plan=on_plan, container_only=container_only,
                                decide=decide_and_stop if decide else None, parallel=parallel, cancel=cancel,
                                approved=approved.outcomes[index].plan if approved is not None else None)
        report(target.name, outcome.status)
        with lock:
            outcomes[index] = outcome
            if outcome.failed:
                failures += 1
                if max_fail is not None and failures >= max_fail:
                    stop.set()

    with ThreadPoolExecutor(max_workers=max(1, forks), thread_name_prefix="remediate-host") as pool:
        for start in range(0, len(targets), batch):
            futures = [pool.submit(work, i, targets[i]) for i in range(start, min(start + batch, len(targets)))]
            for future in futures:
                future.result()
    return RolloutResult(tuple(outcomes[i] for i in range(len(targets))), interrupted=cancel.is_set(),
                         dry_run=dry_run)


def _run_host(playbook: Playbook, target: Target, overrides: Mapping[str, Any],
              engines: Engines, *, dry_run: bool,
              timeout: float, keep_backups: int, only: Sequence[str], ssh: SshOptions | None,
              report: Progress, decide: Decide | None, parallel: int, cancel: threading.Event,
              approved: Plan | None, on_plan: Callable[[Target, Plan], None] | None = None,
              container_only: bool = False) -> HostOutcome:
    started = time.monotonic()
    host_vars = {k: v for k, v in target.vars.items() if k in playbook.vars}
    plan: Plan | None = None
    try:
        vars = resolve_vars(playbook, {**host_vars, **overrides})
        report(target.name, "connect")
        with target.connection(ssh, timeout=max(timeout, 30.0)) as conn:
            first = engines.reached_before(target, conn)
            if first is not None:
                return HostOutcome(target, "skipped", error=f"the same engine as {first}")
            with contextlib.ExitStack() as locked:
                if not dry_run:  # plan and apply under one hold of the host's lock
                    from remediate.executor.journal import Journal
                    from remediate.executor.lock import HostLock

                    locked.enter_context(HostLock(conn, f"apply {playbook.name}"))
                    journal = Journal(conn)
                    # Before planning: a half-done apply leaves containers renamed or already
                    # swapped, which planning would report as missing or as "no changes".
                    journal.require_finished()
                else:
                    from remediate.executor.journal import warn_unfinished

                    warn_unfinished(conn)  # a dry run goes on; the apply would be refused
                report(target.name, "plan")
                fresh = plan_host(conn, playbook, vars, only=only, container_only=container_only)
                if approved is not None:
                    _require_approved(target.name, approved, fresh)
                plan = approved if approved is not None else fresh
                if dry_run or not plan.changed:
                    return HostOutcome(target, "planned" if dry_run else "ok", plan, None, None,
                                       time.monotonic() - started)
                plan.check_refusals()  # before the plan is shown for a yes it could not get
                if cancel.is_set():
                    return HostOutcome(target, "skipped", plan, None, f"rollout stopped: {INTERRUPTED}",
                                       time.monotonic() - started)
                if on_plan is not None:
                    on_plan(target, plan)
                from remediate.executor.apply import apply_locked

                result = apply_locked(plan, conn, journal, timeout=timeout, keep_backups=keep_backups, decide=decide,
                                      parallel=parallel, progress=lambda c, phase: report(target.name, f"{c}: {phase}"),
                                      cancel=cancel)
    except ConnectError as exc:
        return HostOutcome(target, "unreachable", plan, None, exc.message, time.monotonic() - started, exc)
    except RemediateError as exc:
        exc.plan = exc.plan or plan
        return HostOutcome(target, "error", plan, None, exc.message, time.monotonic() - started, exc)
    if result.rollback_failed:
        status: Status = "rollback failed"
    else:
        changed = any(c.action == "recreated" for c in result.containers)
        status = ("changed" if changed else "ok") if result.ok else "failed"
    return HostOutcome(target, status, plan, result, None, time.monotonic() - started)


def _require_approved(host: str, approved: Plan, fresh: Plan) -> None:
    """Refuse when the plan made now is not the one approved (a container drifted, appeared, went)."""
    problems = host_drift(host, plan_json(approved), plan_json(fresh), "the plan was reviewed")
    if problems:
        raise PlanStaleError("the plan changed since it was reviewed (nothing was changed): " + "; ".join(problems),
                             host=host, plan=approved)


def hold_then_revert(result: RolloutResult, *, ssh: SshOptions | None = None, timeout: float = 60.0,
                     cancel: threading.Event | None = None,
                     on_hold: Callable[[float], None] | None = None) -> tuple[holding.Revert, ...]:
    """The time-boxed hold of an applied rollout: keep the change of a ``revert_after`` playbook
    for that long (the longest of its hosts), then put it back on every host.

    Nothing is held when nothing time-boxed was recreated, or when the rollout failed somewhere
    or was interrupted (its changes stay due in the journal: ``recover`` puts them back). If this
    process dies during the hold, the journal knows the change is due back: ``remediate recover``
    (or ``apply --restore``) undoes it, once.

    Args:
        result: what :func:`rollout` applied.
        ssh: SSH options (each host's key file wins).
        timeout: seconds a restored container has to run again.
        cancel: set it to end the hold early and put the change back at once.
        on_hold: called with the seconds of the hold just before it starts.

    Returns:
        One revert per container changed: put back, or already put back by someone else.

    Raises:
        RollbackFailed: a change could not be put back (``result``: every revert; ``manual_steps``).
        ConnectError: a host could not be reached to put its change back.
    """
    if result.failed or result.interrupted or result.dry_run:
        return ()
    due = [(o.target, names, o.result.plan) for o in result.outcomes if o.result is not None
           if (names := holding.held(o.result))]
    if not due:
        return ()
    seconds = max(plan.revert_after or 0.0 for _, _, plan in due)
    if on_hold is not None:
        on_hold(seconds)
    holding.wait(seconds, cancel)
    reverts: list[holding.Revert] = []
    for target, names, plan in due:
        with target.connection(ssh, timeout=max(timeout, 30.0)) as conn:
            reverts.extend(holding.revert(conn, playbook=plan.playbook, containers=names, timeout=timeout))
    failed = [r for r in reverts if not r.ok]
    if failed:
        steps = [step for r in failed if r.result is not None for step in r.result.manual_steps]
        first = failed[0]
        raise RollbackFailed(f"{first.host}: {first.container}: the time-boxed change could not be put back"
                             + (f" ({first.result.error})" if first.result and first.result.error else ""),
                             manual_steps=steps, host=first.host, container=first.container, result=tuple(reverts))
    return tuple(reverts)


def rollout_json(result: RolloutResult) -> dict[str, Any]:
    """JSON-ready view of a rollout (secrets masked): one entry per host and a status count."""
    hosts = [{"host": o.target.name, "status": o.status, "error": redact_text(o.error) if o.error else None,
              "seconds": round(o.seconds, 3),
              "plan": plan_json(o.plan) if o.plan else None,
              "result": result_json(o.result) if o.result else None} for o in result.outcomes]
    summary: dict[str, int] = {}
    for o in result.outcomes:
        summary[o.status] = summary.get(o.status, 0) + 1
    return {"hosts": hosts, "summary": summary}
