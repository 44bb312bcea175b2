"""Execute a Plan on one host: the recreate algorithm with backup, verify, and automatic restore.

Under the host's lock, refusing a host whose journal shows an unfinished apply, and journaling
each step before the next (see :mod:`remediate.journal`), per container that changes (several at
once with ``parallel``, when no neighbours are tied to them):

1. re-inspect; refuse if it drifted since planning (``PlanStaleError``);
2. write the plan's files (previous content kept for undo);
3. create the new container under a temporary name (bad config fails here, old untouched);
4. stop the old one, make it inert (restart policy ``no``), rename it to the backup name;
   rename the new one and start it; recreate containers tied to it by ``--link`` or
   ``--network container:`` so they follow the new one;
5. verify: running, stable, healthy if it has a healthcheck, and the playbook's probes;
6. success: keep the backup (stopped) for ``remediate rollback``, prune older ones;
   failure: remove the new one, rename the backup back, restore its restart policy, start it,
   restore the files. If that fails too: ``rollback failed`` with the manual steps.

Also here: ``rollback`` (put the newest backup back, with the files it replaced) and ``recover``
(finish an interrupted apply or rollback from the journal).
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from remediate import probes
from remediate.connection import Connection
from remediate.errors import (
    ApplyError,
    ContainerNotFound,
    PlanStaleError,
    ProbeFailed,
    RecoverNeeded,
    RemediateError,
)
from remediate.journal import HostLock, Journal, Transaction
from remediate.planner import BACKUP_MARK, NEW_MARK, ContainerPlan, Plan, fingerprint
from remediate.report import STEP_MODE, ContainerResult, HostResult
from remediate.spec import ContainerSpec, anonymous_volumes, create_body, spec_from_inspect

DEFAULT_KEEP_BACKUPS = 3
Json = dict[str, Any]

Progress = Callable[[str, str], None]


Decision = Literal["apply", "skip", "quit"]
Decide = Callable[[ContainerPlan], Decision]


def apply(plan: Plan, conn: Connection, *, timeout: float = 60.0, keep_backups: int = DEFAULT_KEEP_BACKUPS,
          progress: Progress | None = None, decide: Decide | None = None,
          journal: Journal | None = None, parallel: int = 1) -> HostResult:
    """Apply a plan on the host it was made for, under the host's lock, journaling every step.

    Args:
        plan: from :func:`remediate.planner.plan` on this host.
        conn: the host.
        timeout: seconds verification keeps retrying before it counts as failed.
        keep_backups: backups kept per container after a successful apply.
        progress: called with ``(container, phase)`` as work advances.
        decide: asked before each container that changes (step mode): apply, skip, or quit
            (the rest is skipped; what is done stays done and verified).
        journal: the host's journal (default: in the host's state directory).
        parallel: containers recreated (and verified) at once on this host; 1 when a change
            has neighbours tied to it, or in step mode.

    Returns:
        The host result; containers not started after a failed one are ``skipped``.

    Raises:
        LockedError: another run holds the host.
        RecoverNeeded: an earlier apply on the host did not finish.
        PlanStaleError: a container changed since the plan was made (nothing was changed).
    """
    started = time.monotonic()
    report = progress or (lambda _c, _p: None)
    journal = journal or Journal(conn)
    if not plan.changed:
        # An interrupted apply can make a container look done (the new one already swapped in):
        # "no changes" is only true once the journal is finished.
        ready(conn, f"apply {plan.playbook}", journal)
        return HostResult(plan.host, plan, tuple(ContainerResult(c.name, "unchanged", c.id, c.id)
                                                 for c in plan.containers), time.monotonic() - started)
    with HostLock(conn, f"apply {plan.playbook}"):
        require_finished(journal)
        for cp in plan.changed:
            _check_fresh(conn, cp)
        if decide is None and parallel > 1 and not any(cp.dependents for cp in plan.changed):
            results = _apply_parallel(conn, plan, journal, parallel, timeout=timeout,
                                      keep_backups=keep_backups, report=report)
        else:
            results = _apply_serial(conn, plan, journal, decide, timeout=timeout,
                                    keep_backups=keep_backups, report=report)
    return HostResult(plan.host, plan, tuple(results), time.monotonic() - started)


def _apply_serial(conn: Connection, plan: Plan, journal: Journal, decide: Decide | None, *, timeout: float,
                  keep_backups: int, report: Progress) -> list[ContainerResult]:
    results: list[ContainerResult] = []
    stop, why = False, None  # why: None after a failure, "quit (step mode)" after a quit
    for cp in plan.containers:
        if stop:
            results.append(ContainerResult(cp.name, "skipped", cp.id, error=why))
            continue
        if cp.action == "none":
            results.append(ContainerResult(cp.name, "unchanged", cp.id, cp.id))
            continue
        choice = decide(cp) if decide else "apply"
        if choice != "apply":
            results.append(ContainerResult(cp.name, "skipped", cp.id, error=f"{choice} {STEP_MODE}"))
            stop, why = choice == "quit", f"quit {STEP_MODE}"
            continue
        result = _apply_container(conn, cp, journal, plan.playbook, timeout=timeout,
                                  keep_backups=keep_backups, report=report)
        results.append(result)
        stop, why = not result.ok, None
    return results


def _apply_parallel(conn: Connection, plan: Plan, journal: Journal, workers: int, *, timeout: float,
                    keep_backups: int, report: Progress) -> list[ContainerResult]:
    """Recreate independent containers ``workers`` at a time; after a failure, start no more."""
    failed = threading.Event()

    def one(cp: ContainerPlan) -> ContainerResult:
        if cp.action == "none":
            return ContainerResult(cp.name, "unchanged", cp.id, cp.id)
        if failed.is_set():
            return ContainerResult(cp.name, "skipped", cp.id)
        result = _apply_container(conn, cp, journal, plan.playbook, timeout=timeout,
                                  keep_backups=keep_backups, report=report)
        if not result.ok:
            failed.set()
        return result

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="remediate-recreate") as pool:
        return list(pool.map(one, plan.containers))


def ready(conn: Connection, purpose: str, journal: Journal | None = None) -> None:
    """Check, under the host's lock (taken and given back), that an apply could start now.

    Raises:
        LockedError: another live run holds the host (the message says who).
        RecoverNeeded: an earlier apply on the host did not finish.
    """
    with HostLock(conn, purpose):
        require_finished(journal or Journal(conn))


def require_finished(journal: Journal) -> None:
    """Refuse to work on a host whose journal has an unfinished apply.

    Raises:
        RecoverNeeded: says which containers, and to run ``remediate recover``.
    """
    unfinished = journal.unfinished()
    if unfinished:
        names = ", ".join(sorted({str(t.begin.get("container")) for t in unfinished}))
        raise RecoverNeeded(f"{journal.conn.label}: an earlier apply did not finish ({names}); "
                            "run `remediate recover` first", host=journal.conn.label)


def _check_fresh(conn: Connection, cp: ContainerPlan) -> None:
    inspect = conn.inspect_container(cp.id)
    spec = spec_from_inspect(inspect, conn.inspect_image(str(inspect.get("Image", ""))))
    if fingerprint(spec, str(inspect["Id"])) != cp.fingerprint:
        raise PlanStaleError(f"{conn.label}: container {cp.name} changed since the plan was made; plan again",
                             host=conn.label, container=cp.name)


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")[:-3]


class _Txn:
    """Undo steps recorded as the apply advances, and clean-ups kept for success.

    ``undo`` steps run newest first on failure; ``late`` steps (restarting dependents) run after
    them, once the container they depend on is back.
    """

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._late: list[tuple[str, Callable[[], None]]] = []
        self._success: list[Callable[[], None]] = []

    def undo(self, description: str, step: Callable[[], None], *, late: bool = False) -> None:
        (self._late if late else self._undo).append((description, step))

    def on_success(self, step: Callable[[], None]) -> None:
        self._success.append(step)

    def commit(self) -> None:
        for step in self._success:
            step()

    def rollback(self) -> list[str]:
        """Run every undo step; return the manual commands of those that failed."""
        failed = []
        for description, step in [*reversed(self._undo), *self._late]:
            try:
                step()
            except RemediateError as exc:
                failed.append(f"{description}    # failed: {exc.message}")
        return failed


def _apply_container(conn: Connection, cp: ContainerPlan, journal: Journal, playbook: str, *, timeout: float,
                     keep_backups: int, report: Progress) -> ContainerResult:
    started = time.monotonic()
    txn = _Txn()
    backup = f"{cp.name}{BACKUP_MARK}{_stamp()}"
    new_id: str | None = None
    checks: tuple[probes.ProbeResult, ...] = ()
    old = conn.inspect_container(cp.id)
    tx = journal.new_id()
    changed_files = [w for w in cp.files if w.changed]
    journal.begin(
        tx, kind="apply", playbook=playbook, container=cp.name, old_id=cp.id, backup=backup,
        temp=f"{cp.name}{NEW_MARK}", was_running=bool((old.get("State") or {}).get("Running")),
        restart_policy=(old.get("HostConfig") or {}).get("RestartPolicy"),
        files=[{"path": w.path, "mode": w.before_mode,
                "saved": journal.save_file(tx, i, w.before) if w.before is not None else None}
               for i, w in enumerate(changed_files)])
    mark = functools.partial(journal.step, tx)
    try:
        report(cp.name, "write files")
        _write_files(conn, cp, txn)
        mark("files")
        report(cp.name, "create")
        new_id = _create(conn, cp.after, f"{cp.name}{NEW_MARK}", anonymous_volumes(old), txn, cp.before)
        mark("created", new_id=new_id)
        report(cp.name, "swap")
        _swap(conn, old, new_id, cp.name, backup, txn, mark=mark)
        report(cp.name, "dependents")
        _follow_dependents(conn, cp, str(old["Id"]), new_id, backup, txn)
        report(cp.name, "verify")
        checks = _verify(conn, new_id, cp, timeout)
        failed = next((c for c in checks if not c.ok), None)
        if failed is not None:
            raise ProbeFailed(f"verify failed: {failed.name}: {failed.evidence}", host=conn.label,
                              container=cp.name)
        mark("verified")
        txn.commit()
    except RemediateError as exc:
        report(cp.name, "restore")
        left = txn.rollback()
        action: Literal["rolled back", "rollback failed"] = "rollback failed" if left else "rolled back"
        journal.end(tx, action, error=_safe(exc.message))
        return ContainerResult(cp.name, action, cp.id, None, None, checks, exc.message,
                               time.monotonic() - started, tuple(left))
    report(cp.name, "done")
    _prune_backups(conn, cp.name, keep_backups)
    journal.end(tx, "recreated", new_id=new_id)
    return ContainerResult(cp.name, "recreated", cp.id, new_id, backup, checks, None, time.monotonic() - started)


def _safe(message: str) -> str:
    from remediate.report import redact_text

    return redact_text(message)


def _write_files(conn: Connection, cp: ContainerPlan, txn: _Txn) -> None:
    for write in cp.files:
        if not write.changed:
            continue
        if write.before is None:
            txn.undo(f"rm {write.path}", lambda w=write: conn.remove_file(w.path))  # type: ignore[misc]
        else:
            txn.undo(f"restore {write.path} from the plan",
                     lambda w=write: conn.write_file(w.path, w.before or b"", w.before_mode or 0o644))  # type: ignore[misc]
        conn.write_file(write.path, write.content, write.mode)


def _create(conn: Connection, spec: ContainerSpec, name: str, volumes: dict[str, str], txn: _Txn,
            before: ContainerSpec | None = None) -> str:
    body, extra_networks = create_body(spec, volumes=volumes)
    # Pass a platform only when the plan changes it: older engines reject the parameter otherwise.
    platform = spec.platform if before is not None and spec.platform != before.platform else None
    new_id = conn.create(body, name, platform)
    txn.undo(f"docker rm -f {new_id[:12]}", lambda: conn.remove(new_id, missing_ok=True))
    for network, endpoint in extra_networks.items():
        conn.connect_network(new_id, network, endpoint)
    return new_id


def _swap(conn: Connection, old: dict[str, Any], new_id: str, name: str, parked: str, txn: _Txn,
          *, late: bool = False, mark: Callable[[str], None] = lambda _step: None) -> None:
    """Put ``new_id`` in place of the container ``old`` under ``name``; ``old`` is parked stopped.

    Order matters: the old one stops before it gives up its name, and the undo removes the new
    one before the old one takes its name back, then restarts it.
    """
    old_id = str(old["Id"])
    was_running = bool((old.get("State") or {}).get("Running"))
    policy = (old.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}
    if was_running:
        txn.undo(f"docker start {name}", lambda: conn.start(old_id), late=late)
    conn.stop(old_id, timeout=_stop_timeout(old))
    mark("stopped")
    if policy.get("Name") not in ("", "no"):
        # A parked container must stay down, even when the daemon restarts.
        txn.undo(f"docker update --restart {policy.get('Name')} {name}",
                 lambda: conn.set_restart_policy(old_id, policy))
        conn.set_restart_policy(old_id, {"Name": "no"})
    txn.undo(f"docker rename {parked} {name}", lambda: conn.rename(old_id, name))
    conn.rename(old_id, parked)
    mark("parked")
    conn.rename(new_id, name)
    txn.undo(f"docker rm -f {new_id[:12]}", lambda: conn.remove(new_id, missing_ok=True))
    mark("swapped")
    if was_running:
        conn.start(new_id)
        mark("started")


def _stop_timeout(inspect: dict[str, Any]) -> int:
    value = (inspect.get("Config") or {}).get("StopTimeout")
    return int(value) if value is not None else 10


def _follow_dependents(conn: Connection, cp: ContainerPlan, old_id: str, new_id: str, parked: str,
                       txn: _Txn) -> None:
    """Recreate containers linked to / sharing the network of the old one, so they follow the new one.

    The engine renamed their links along with the old container (to ``parked``): the recreated
    dependents link to ``cp.name`` again. ``--volumes-from`` dependents need nothing: the
    volumes are handed over by name.
    """
    for name in cp.dependents:
        dep = conn.inspect_container(name)
        host = dep.get("HostConfig") or {}
        mode = str(host.get("NetworkMode") or "")
        tied_by_net = mode in (f"container:{old_id}", f"container:{cp.name}")
        linked = any(link.split(":", 1)[0].lstrip("/") in (cp.name, parked) for link in host.get("Links") or [])
        if not (tied_by_net or linked):
            continue
        spec = spec_from_inspect(dep, conn.inspect_image(str(dep.get("Image", ""))))
        host_config = dict(spec.host_config)
        if tied_by_net:
            host_config["NetworkMode"] = f"container:{new_id}"
        if linked:
            host_config["Links"] = [_relink(link, parked, cp.name) for link in host_config.get("Links") or []]
        replacement = _create(conn, spec.replace(host_config=host_config), f"{name}{NEW_MARK}",
                              anonymous_volumes(dep), txn)
        _swap(conn, dep, replacement, name, f"{name}{BACKUP_MARK}{_stamp()}", txn, late=True)
        # Its old copy is no backup of a change: drop it once the whole apply succeeded.
        txn.on_success(lambda dep_id=str(dep["Id"]): conn.remove(dep_id, missing_ok=True))  # type: ignore[misc]


def _relink(link: str, parked: str, name: str) -> str:
    target, sep, alias = link.partition(":")
    return f"{name}{sep}{alias}" if target == parked else link


def _verify(conn: Connection, new_id: str, cp: ContainerPlan, timeout: float) -> tuple[probes.ProbeResult, ...]:
    deadline = time.monotonic() + timeout
    results = [probes.wait_running(conn, new_id, timeout=timeout)]
    if not results[0].ok:
        return tuple(results)
    run_started = probes.started_at(conn, new_id)
    for probe in cp.verify:
        remaining = max(deadline - time.monotonic(), 1.0)
        results.append(probes.http_probe(conn, new_id, probe, timeout=remaining))
        if not results[-1].ok:
            return tuple(results)
    # A crash right after the probes (e.g. a port clash on a second port) must count too.
    results.append(probes.still_running(conn, new_id, run_started))
    return tuple(results)


def backups_of(conn: Connection, name: str) -> list[dict[str, Any]]:
    """Backup containers of ``name``, newest first."""
    prefix = f"/{name}{BACKUP_MARK}"
    found = [c for c in conn.list_containers() if any(n.startswith(prefix) for n in c.get("Names") or [])]
    return sorted(found, key=lambda c: max(c.get("Names") or [""]), reverse=True)


def list_backups(conn: Connection, container: str | None = None) -> list[Json]:
    """Every remediate backup on the host (optionally of one container), newest first."""
    rows = []
    for c in conn.list_containers():
        name = str((c.get("Names") or ["/"])[0]).lstrip("/")
        original, mark, stamp = name.partition(BACKUP_MARK)
        if mark and (container is None or original == container):
            rows.append({"backup": name, "container": original, "stamp": stamp, "id": str(c["Id"])[:12],
                         "image": c.get("Image"), "status": c.get("Status")})
    return sorted(rows, key=lambda r: str(r["stamp"]), reverse=True)


def _prune_backups(conn: Connection, name: str, keep: int) -> None:
    for old in backups_of(conn, name)[keep:]:
        conn.remove(str(old["Id"]))


def rollback(conn: Connection, name: str, *, timeout: float = 60.0, journal: Journal | None = None) -> ContainerResult:
    """Put the newest backup of ``name`` back in its place, with the files that apply replaced;
    the current container becomes a backup in turn.

    Raises:
        ContainerNotFound: ``name`` or its backup does not exist.
        LockedError, RecoverNeeded: as for :func:`apply`.
    """
    started = time.monotonic()
    journal = journal or Journal(conn)
    with HostLock(conn, f"rollback {name}"):
        require_finished(journal)
        current = conn.inspect_container(name)
        backups = backups_of(conn, name)
        if not backups:
            raise ContainerNotFound(f"{conn.label}: no remediate backup of {name}", host=conn.label, container=name)
        backup_id = str(backups[0]["Id"])
        backup_name = str(backups[0]["Names"][0]).lstrip("/")
        made_by = next((t for t in journal.transactions() if t.begin.get("backup") == backup_name), None)
        parked = f"{name}{BACKUP_MARK}{_stamp()}"
        policy = (current.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}
        tx = journal.new_id()
        files = _current_files(conn, journal, tx, made_by.begin.get("files") or [] if made_by else [])
        journal.begin(tx, kind="rollback", container=name, old_id=str(current["Id"]), backup=parked,
                      temp=backup_name, new_id=backup_id,  # recover parks it again, never removes it
                      was_running=bool((current.get("State") or {}).get("Running")),
                      restart_policy=policy, files=files)
        txn = _Txn()
        try:
            _restore_files(conn, made_by.begin.get("files") or [] if made_by else [], txn, files)
            journal.step(tx, "files")
            _swap(conn, current, backup_id, name, parked, txn, mark=functools.partial(journal.step, tx))
            if not (current.get("State") or {}).get("Running"):
                conn.start(backup_id)
            if policy.get("Name") not in ("", "no"):
                conn.set_restart_policy(backup_id, policy)
            check = probes.wait_running(conn, backup_id, timeout=timeout)
            if not check.ok:
                raise ProbeFailed(f"restored container is not running: {check.evidence}", host=conn.label,
                                  container=name)
            journal.step(tx, "verified")
        except RemediateError as exc:
            left = txn.rollback()
            action: Literal["rolled back", "rollback failed"] = "rollback failed" if left else "rolled back"
            journal.end(tx, action, error=_safe(exc.message))
            return ContainerResult(name, action, str(current["Id"]), None, None, (), exc.message,
                                   time.monotonic() - started, tuple(left))
        journal.end(tx, "restored", new_id=backup_id)
    return ContainerResult(name, "restored", str(current["Id"]), backup_id, parked, (check,), None,
                           time.monotonic() - started)


def _current_files(conn: Connection, journal: Journal, tx: str, files: list[Json]) -> list[Json]:
    """Save what is at each path now (so a failed rollback can put it back)."""
    saved = []
    for i, entry in enumerate(files):
        state = conn.read_path(str(entry["path"]))
        saved.append({"path": entry["path"], "mode": state.mode,
                      "saved": journal.save_file(tx, i, state.content) if state.content is not None else None})
    return saved


def _restore_files(conn: Connection, files: list[Json], txn: _Txn | None, current: list[Json] | None = None) -> None:
    """Put back the files an apply replaced, from the copies saved in the journal directory."""
    for i, entry in enumerate(files):
        path = str(entry["path"])
        if txn is not None and current is not None:
            now = current[i]
            if now.get("saved"):
                txn.undo(f"restore {path}", lambda n=now: _copy_saved(conn, n))  # type: ignore[misc]
            else:
                txn.undo(f"rm {path}", lambda p=path: conn.remove_file(p))  # type: ignore[misc]
        if entry.get("saved"):
            _copy_saved(conn, entry)
        else:
            conn.remove_file(path)


def _copy_saved(conn: Connection, entry: Json) -> None:
    saved = conn.read_path(str(entry["saved"]))
    if not saved.exists or saved.content is None:
        raise ApplyError(f"{conn.label}: saved copy {entry['saved']} of {entry['path']} is missing", host=conn.label)
    conn.write_file(str(entry["path"]), saved.content, int(entry.get("mode") or 0o644))


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` did about one unfinished apply."""

    container: str
    tx: str
    outcome: Literal["kept the verified new container", "restored the original", "manual action needed"]
    detail: str = ""
    manual_steps: tuple[str, ...] = ()


def recover(conn: Connection, *, journal: Journal | None = None) -> list[Recovery]:
    """Finish every unfinished apply on the host: keep the new container if the journal says it
    verified, else put the original back (container, restart policy, files). Decided from the
    journal and what the engine shows.

    Raises:
        LockedError: another live run holds the host.
    """
    journal = journal or Journal(conn)
    results = []
    with HostLock(conn, "recover"):
        for tx in journal.unfinished():
            if tx.done("verified"):
                results.append(_roll_forward(conn, journal, tx))
            else:
                results.append(_roll_back(conn, journal, tx))
    return results


def _roll_forward(conn: Connection, journal: Journal, tx: Transaction) -> Recovery:
    name = str(tx.begin["container"])
    journal.end(tx.id, "recovered: kept the verified new container")
    return Recovery(name, tx.id, "kept the verified new container", f"backup {tx.begin.get('backup')} kept")


def _roll_back(conn: Connection, journal: Journal, tx: Transaction) -> Recovery:
    """Put back what the engine showed before ``tx``: its container under its name, running if it
    ran, its restart policy, its files.

    The other container of the transaction is the new one of an apply (removed), or, for an
    interrupted rollback, the backup it was putting back: that one is parked again, never removed.
    """
    name, old_id = str(tx.begin["container"]), str(tx.begin["old_id"])
    other_ref = str(tx.value("new_id") or tx.begin.get("temp") or "")
    is_rollback = tx.begin.get("kind") == "rollback"
    steps: list[str] = []
    try:
        seen = {old_id}
        for ref in (str(tx.value("new_id") or ""), str(tx.begin.get("temp") or "")):
            other = _inspect_if_there(conn, ref) if ref else None
            if other is None or str(other["Id"]) in seen:
                continue
            seen.add(str(other["Id"]))
            if is_rollback:
                _repark(conn, other, str(tx.begin.get("temp")), steps)
            else:
                steps.append(f"docker rm -f {ref}")
                conn.remove(ref, missing_ok=True)
        old = conn.inspect_container(old_id)
        if str(old.get("Name", "")).lstrip("/") != name:
            steps.append(f"docker rename {old_id[:12]} {name}")
            conn.rename(old_id, name)
        policy = tx.begin.get("restart_policy") or {}
        if policy.get("Name") not in (None, "", "no") and (old.get("HostConfig") or {}).get("RestartPolicy") != policy:
            conn.set_restart_policy(old_id, policy)
        # Files before the start: the old container may mount them (a missing bind source would
        # be created as a directory by the engine).
        _restore_files(conn, tx.begin.get("files") or [], None)
        if tx.begin.get("was_running") and not (old.get("State") or {}).get("Running"):
            steps.append(f"docker start {name}")
            conn.start(old_id)
    except RemediateError as exc:
        journal.end(tx.id, "recover failed", error=_safe(exc.message))
        first = ((f"docker stop {other_ref[:12]}", f"docker update --restart no {other_ref[:12]}",
                  f"docker rename {other_ref[:12]} {tx.begin.get('temp')}") if is_rollback
                 else (f"docker rm -f {tx.begin.get('temp')}",))
        return Recovery(name, tx.id, "manual action needed", exc.message,
                        (*first, f"docker rename {old_id[:12]} {name}", f"docker start {name}"))
    journal.end(tx.id, "recovered: restored the original")
    return Recovery(name, tx.id, "restored the original", "; ".join(steps) or "nothing left to undo")


def _inspect_if_there(conn: Connection, ref: str) -> Json | None:
    try:
        return conn.inspect_container(ref)
    except ContainerNotFound:
        return None


def _repark(conn: Connection, inspect: Json, parked: str, steps: list[str]) -> None:
    """Make a backup a backup again: stopped, restart policy ``no``, under its backup name."""
    ident = str(inspect["Id"])
    if ((inspect.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") not in (None, "", "no"):
        conn.set_restart_policy(ident, {"Name": "no"})
    if (inspect.get("State") or {}).get("Running"):
        steps.append(f"docker stop {ident[:12]}")
        conn.stop(ident, timeout=_stop_timeout(inspect))
    if str(inspect.get("Name", "")).lstrip("/") != parked:
        steps.append(f"docker rename {ident[:12]} {parked}")
        conn.rename(ident, parked)
