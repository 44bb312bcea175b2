"""Many hosts: bounded parallelism (forks), serial batches, a failure threshold that stops the
rollout, and one outcome per host. Each host runs connect -> survey -> plan -> [apply -> verify].

A rollout can apply plans someone approved (a dry run's, shown at a prompt or checked against a
saved plan): each host then plans again under its lock and applies the approved plan only if
nothing differs, else it is refused (``PlanStaleError``) with nothing changed on it.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from remediate.core.drift import host_drift
from remediate.core.planner import ContainerPlan, Plan
from remediate.core.playbook import Playbook, resolve_vars
from remediate.core.redaction import redact_text
from remediate.core.results import INTERRUPTED, HostResult
from remediate.errors import ConnectError, InventoryError, PlanStaleError, RemediateError
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


def target_from_url(url: str) -> Target:
    """A target from ``-H``: ``local``, ``unix:///path``, ``ssh://user@host:port`` or a bare host name."""
    if url == "local" or url.startswith("unix://"):
        return Target(name=url, url=url)
    if "://" in url and not url.startswith("ssh://"):
        raise InventoryError(f"-H {url}: unsupported (use local, unix:///path or ssh://user@host:port)")
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
    ``docker system dial-stdio`` there).
    """
    target = _target_of(host)
    local = not target.url.startswith("ssh://")
    docker_host: str | None
    if local:
        env = os.environ if environ is None else environ
        docker_host = target.url if target.url != "local" else env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
    else:
        docker_host = host.docker_host
    return {"host": host.name, "connection": "local" if local else "ssh",
            "address": None if local else host.address, "port": None if local else host.port,
            "user": None if local else host.user, "docker_host": docker_host,
            "key_file": None if local else host.key_file, "url": target.url, "groups": sorted(host.groups)}


@dataclass(frozen=True)
class HostOutcome:
    """What happened on one host."""

    target: Target
    status: Status
    plan: Plan | None = None
    result: HostResult | None = None
    error: str | None = None
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        """True when this host counts as failed for --max-fail."""
        return self.status in ("failed", "rollback failed", "unreachable", "error")


@dataclass(frozen=True)
class RolloutResult:
    """Outcomes of every host, in target order."""

    outcomes: tuple[HostOutcome, ...]
    interrupted: bool = False

    @property
    def succeeded(self) -> tuple[HostOutcome, ...]:
        """Hosts that ended as planned."""
        return tuple(o for o in self.outcomes if o.status in ("planned", "ok", "changed"))

    @property
    def failed(self) -> tuple[HostOutcome, ...]:
        """Hosts that failed (including unreachable ones)."""
        return tuple(o for o in self.outcomes if o.failed)


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
    forks: int = 5,
    serial: int | None = None,
    max_fail: int | None = None,
    timeout: float = 60.0,
    keep_backups: int = 3,
    only: Sequence[str] = (),
    ssh: SshOptions | None = None,
    progress: Progress | None = None,
    decide: Decide | None = None,
    parallel: int = 1,
    cancel: threading.Event | None = None,
    container_only: bool = False,
    approved: RolloutResult | None = None,
) -> RolloutResult:
    """Plan (and unless ``dry_run``, apply) a playbook on every target.

    Args:
        playbook: the playbook.
        targets: hosts, in order.
        overrides: ``-e`` variables; they win over inventory vars, which win over defaults.
        dry_run: plan only.
        forks: hosts worked on at once.
        serial: hosts per batch; a batch starts only when the previous one is done.
        max_fail: stop once this many hosts failed; the hosts not started are ``skipped``.
        timeout: verification timeout per container.
        keep_backups: backups kept per container.
        only: container names to restrict to.
        ssh: SSH options shared by all hosts (a host's key file wins).
        progress: called with ``(host, phase)``.
        decide: step mode: asked before each container; ``quit`` ends the whole rollout.
        parallel: containers recreated at once on each host (see :func:`remediate.executor.apply.apply`).
        cancel: set it to interrupt: hosts not started are skipped, and each host finishes or
            restores what it has in flight (see :func:`remediate.executor.apply.apply`).
        container_only: compose services: leave the compose file alone (see :func:`remediate.core.planner.plan`).
        approved: a dry run of these targets (same order) that was reviewed: each host applies
            exactly its plan, or is refused (``error``, nothing changed there) when planning
            again under the host's lock gives another plan; a host that could not be planned
            then keeps that outcome (it is not tried again).

    Returns:
        One outcome per target. Failed hosts were rolled back; the rest go on.

    Raises:
        PlaybookError: a variable override is not declared by the playbook (before any host).
        ValueError: ``approved`` is not a dry run of ``targets``.
    """
    resolve_vars(playbook, overrides or {})  # fail fast on bad -e, before touching any host
    if approved is not None and [o.target for o in approved.outcomes] != list(targets):
        raise ValueError("approved must be a dry run of the same targets, in order")
    report = progress or (lambda _h, _p: None)
    outcomes: dict[int, HostOutcome] = {}
    stop = threading.Event()
    quit_ = threading.Event()
    failures = 0
    lock = threading.Lock()
    batch = serial or len(targets) or 1
    cancel = cancel or threading.Event()

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
        if stop.is_set() or cancel.is_set():
            why = INTERRUPTED if cancel.is_set() else "quit in step mode" if quit_.is_set() else "too many failures"
            outcome = HostOutcome(target, "skipped", error=f"rollout stopped: {why}")
        elif approved is not None and approved.outcomes[index].plan is None:
            outcome = approved.outcomes[index]
        else:
            outcome = _run_host(playbook, target, overrides or {}, dry_run=dry_run, timeout=timeout,
                                keep_backups=keep_backups, only=only, ssh=ssh, report=report,
                                container_only=container_only,
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
    return RolloutResult(tuple(outcomes[i] for i in range(len(targets))), interrupted=cancel.is_set())


def _run_host(playbook: Playbook, target: Target, overrides: Mapping[str, Any], *, dry_run: bool,
              timeout: float, keep_backups: int, only: Sequence[str], ssh: SshOptions | None,
              report: Progress, decide: Decide | None, parallel: int, cancel: threading.Event,
              approved: Plan | None, container_only: bool = False) -> HostOutcome:
    started = time.monotonic()
    options = ssh or SshOptions()
    if target.key_file:
        options = SshOptions(options.known_hosts, options.accept_new_host_keys, target.key_file,
                             options.connect_timeout)
    host_vars = {k: v for k, v in target.vars.items() if k in playbook.vars}
    plan: Plan | None = None
    try:
        vars = resolve_vars(playbook, {**host_vars, **overrides})
        report(target.name, "connect")
        with Connection(target.url, ssh=options, docker_host=target.docker_host, label=target.name,
                        timeout=max(timeout, 30.0)) as conn:
            conn.info()
            with contextlib.ExitStack() as locked:
                if not dry_run:  # plan and apply under one hold of the host's lock
                    from remediate.executor.journal import HostLock, Journal

                    locked.enter_context(HostLock(conn, f"apply {playbook.name}"))
                    journal = Journal(conn)
                    # Before planning: a half-done apply leaves containers renamed or already
                    # swapped, which planning would report as missing or as "no changes".
                    journal.require_finished()
                report(target.name, "plan")
                fresh = plan_host(conn, playbook, vars, only=only, container_only=container_only)
                if approved is not None:
                    _require_approved(target.name, approved, fresh)
                plan = approved if approved is not None else fresh
                if dry_run or not plan.changed:
                    return HostOutcome(target, "planned" if dry_run else "ok", plan, None, None,
                                       time.monotonic() - started)
                if cancel.is_set():
                    return HostOutcome(target, "skipped", plan, None, f"rollout stopped: {INTERRUPTED}",
                                       time.monotonic() - started)
                from remediate.executor.apply import apply_locked

                result = apply_locked(plan, conn, journal, timeout=timeout, keep_backups=keep_backups, decide=decide,
                                      parallel=parallel, progress=lambda _c, phase: report(target.name, phase),
                                      cancel=cancel)
    except ConnectError as exc:
        return HostOutcome(target, "unreachable", plan, None, exc.message, time.monotonic() - started)
    except RemediateError as exc:
        return HostOutcome(target, "error", plan, None, exc.message, time.monotonic() - started)
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
                             host=host)


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
