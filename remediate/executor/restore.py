"""Putting things back: ``rollback`` (a container as it was some applies back, or a backup named,
with the files those applies replaced; ``plan_rollback`` shows what it would do), ``recover`` (finish an apply or rollback that was interrupted, from the journal) and
``revert_pending`` (undo time-boxed changes still in place).

Both bring the neighbours along (:mod:`remediate.executor.ties`): containers tied to the one put back
are recreated to follow it, or started / restarted to join its namespaces again. A file another
container of the same apply still needs on its new version stays (:mod:`remediate.executor.sharing`).
A rollback that fails, and ``recover`` of an unfinished apply or rollback, undo it with the one
undo path (:func:`remediate.executor.undo.undo`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from remediate.core import compose
from remediate.core.fields import host_field
from remediate.core.kept import Outcome, Recovery
from remediate.core.lineage import FileRestore, RollbackPlan, Route
from remediate.core.naming import backup_name, is_backup_of, is_remediate_copy
from remediate.core.results import Action, ContainerResult, ProbeResult
from remediate.core.spec import ContainerSpec, spec_from_inspect
from remediate.core.suggest import did_you_mean
from remediate.errors import ContainerNotFound, PlanError, ProbeFailed, RemediateError
from remediate.executor import compose_backup, probes, record, sharing, tie_lookup, ties
from remediate.executor.compose_putback import compose_contents
from remediate.executor.journal import Journal, locked_journal
from remediate.executor.lock import HostLock
from remediate.executor.record import End, FileEntry, Kind, Step, digest
from remediate.executor.swap import backups_of, lineage, swap
from remediate.executor.transaction import Transaction
from remediate.executor.txn import Txn
from remediate.executor.undo import (
    RECOVER_STEP,
    Undone,
    planned,
    put_files,
    remove_dirs,
    saved_content,
)
from remediate.host.connection import Connection

Json = dict[str, Any]


def plan_rollback(conn: Connection, name: str, *, steps: int | None = None, to: str | None = None,
                  journal: Journal | None = None, locked: bool = False) -> RollbackPlan:
    """What :func:`rollback` would do (nothing changes): the container in place and the backup that
    would take its place, ``steps`` applies back (default 1) or the backup named ``to``, and the
    files that would be put back.

    The host's lock is held while it reads (the journal and the containers as one state), so
    a host where another run is under way, or an apply did not finish, is refused as
    :func:`rollback` refuses it. With ``locked``, the caller holds that lock already.

    Raises:
        ContainerNotFound: ``name`` does not exist, or that backup does not (any more).
        LockedError, RecoverNeeded: as for :func:`rollback`.
    """
    with locked_journal(conn, f"rollback {name} (preview)", journal, locked=locked) as held:
        held.require_finished()
        current = _inspect_named(conn, name)
        pending, left = _in_place(held, name, current, steps, to)
        if pending is not None and pending.begin.live is not None:
            now = _spec(conn, current)
            host_config = {**now.host_config, **pending.begin.live.before}
            target = now.replace(host_config={k: v for k, v in host_config.items() if not host_field(k).is_unset(v)})
            return RollbackPlan(name, name, now, target, (), (), 1, in_place=True)
        route = _route(conn, held, name, left, to)
        backup = conn.inspect_container(route.backup)
        # The backup is shown as it will be: under the container's name, with the restart policy it
        # had before it was parked (parked, it has none).
        put_back = {**backup, "Name": f"/{name}", "HostConfig": {
            **(backup.get("HostConfig") or {}), "RestartPolicy": _policy_put_back(held, route.backup, current)}}
        now, target = _spec(conn, current), _spec(conn, put_back)
        files = [FileRestore(entry.path, conn.read_path(entry.path).content, content, entry.mode)
                 for entry, content in _contents(conn, _files(conn, held, route), now, target)]
        kept = {str(b["Name"]) for b in backups_of(conn, name)}  # the user may have removed some
    in_place = (steps or 1) - (left or 1)  # the applies in place it goes back past
    return RollbackPlan(name, route.backup, now, target, tuple(files), tuple(b for b in route.between if b in kept),
                        len(route.undone) + in_place if route.ancestor else None)


def rollback(conn: Connection, name: str, *, steps: int | None = None, to: str | None = None,
             timeout: float = 60.0, journal: Journal | None = None, locked: bool = False) -> ContainerResult:
    """Put back the container of ``name`` from ``steps`` applies back (default 1: the one before
    the last apply in place), or the backup named ``to``, with the files those applies replaced;
    the current container becomes a backup in turn, and the backups in between stay.

    The journal says which backup holds which version, so a rollback after a rollback goes
    further back, never forward again (:mod:`remediate.core.lineage`). With ``locked``, the
    caller holds the host's lock already (:func:`remediate.fleet.rollback.roll_back` previews,
    confirms and rolls back under one hold).

    Raises:
        ContainerNotFound: ``name`` or that backup does not exist, or there are not ``steps``
            applies to go back.
        LockedError, RecoverNeeded: as for :func:`apply`.
    """
    started = time.monotonic()
    with locked_journal(conn, f"rollback {name}", journal, locked=locked) as held, held.reserved():
        held.require_finished()
        current = _inspect_named(conn, name)
        pending, steps = _in_place(held, name, current, steps, to)
        if pending is not None:
            return _update_back(conn, held, name, current, pending, timeout, started)
        route = _route(conn, held, name, steps, to)
        restoring = route.backup
        # A compose service's backup gets its compose labels back before it takes the service's place.
        backup_id = compose_backup.rearm(conn, restoring) or str(conn.inspect_container(restoring)["Id"])
        parked = backup_name(name)
        policy = _policy(current)
        restored_policy = _policy_put_back(held, restoring, current)
        replaced = _contents(conn, _files(conn, held, route), _spec(conn, current),
                             _spec(conn, conn.inspect_container(backup_id)))
        tied = tie_lookup.tied_to(conn, current)  # they follow the container put back
        tx = held.new_id()
        files = _current_files(conn, held, tx, replaced)
        begin = record.begin(tx=tx, kind=Kind.ROLLBACK, container=name, old_id=str(current["Id"]), backup=parked,
                             temp=restoring, new_id=backup_id,  # the undo parks it again, never removes it
                             was_running=bool((current.get("State") or {}).get("Running")),
                             restart_policy=policy, files=files, tied=[ties.record(t) for t in tied])
        # On failure, the same undo as `recover`, from the records just written (the backup is parked again).
        with Txn(conn, held, begin) as txn:
            put_files(conn, replaced)
            txn.mark(Step.FILES)
            swap(conn, current, backup_id, name, parked, mark=txn.mark, paused=False)
            remove_dirs(conn, _dirs(held, route))  # the one that needed them is parked now
            if not (current.get("State") or {}).get("Running"):
                conn.start(backup_id)
            if restored_policy.get("Name") not in ("", "no"):
                conn.set_restart_policy(backup_id, restored_policy)
            ties.follow(conn, tied, old_id=str(current["Id"]), name=name, parked=parked, new_id=backup_id,
                        mark=txn.mark)
            check = probes.wait_running(conn, backup_id, timeout=timeout)
            if not check.ok:
                raise ProbeFailed(f"restored container is not running: {check.evidence}", host=conn.label,
                                  container=name)
            txn.mark(Step.VERIFIED)
            txn.succeed(End.RESTORED, new_id=backup_id)  # the current one, parked now, out of compose's sight
    if txn.error is not None:
        undone = txn.undone or Undone(())
        return ContainerResult(name, Action.ROLLED_BACK if undone.ok else Action.ROLLBACK_FAILED,
                               str(current["Id"]), None, None, (), txn.error.message, time.monotonic() - started,
                               (*undone.manual_steps, RECOVER_STEP) if not undone.ok else ())
    return ContainerResult(name, Action.RESTORED, str(current["Id"]), backup_id, parked, (check,), None,
                           time.monotonic() - started)


#: The ends of a transaction that leave its change in place.
_TOOK_EFFECT = (End.RECREATED, End.UPDATED, End.RESTORED, End.RECOVERED_KEPT)


def _in_place(journal: Journal, name: str, current: Json, steps: int | None,
              to: str | None) -> tuple[Transaction | None, int | None]:
    """How a rollback ``steps`` back (default 1) goes past the applies made in place (``docker
    update``) on the container in place: the one to update back (one step), else the steps left
    for the backups (:mod:`remediate.core.lineage` counts only the applies that recreated).

    Raises:
        PlanError: more than one step back, all of them applies in place.
    """
    updates = [] if to is not None else _updates_in_place(journal, name, current)
    count = steps or 1
    if not updates:
        return None, steps
    if count == 1:
        return updates[-1], None
    if count <= len(updates):
        raise PlanError(f"{journal.conn.label}: {name}: the last {count} changes were made in place (docker update); "
                        "roll them back one step at a time", host=journal.conn.label, container=name)
    # The backup before them predates them all: putting it back undoes them too.
    return None, count - len(updates)


def _updates_in_place(journal: Journal, name: str, current: Json) -> list[Transaction]:
    """The applies made in place on the container in place that no rollback has updated back,
    oldest first (a recreate or a restore starts over: another container is in place)."""
    stack: list[Transaction] = []
    for t in journal.transactions(archived=True):
        if t.container != name or t.end is None or t.end.result not in _TOOK_EFFECT:
            continue
        if t.begin.live is None:
            stack.clear()
        elif t.kind is Kind.APPLY:
            stack.append(t)
        elif stack:
            stack.pop()
    return [t for t in stack if t.begin.old_id == str(current["Id"])]


def _update_back(conn: Connection, journal: Journal, name: str, current: Json, applied: Transaction, timeout: float,
                 started: float) -> ContainerResult:
    """Roll back an apply made in place: the same container updated back to the values it had
    (journaled as a rollback with its own ``live`` values, undone in place if it fails)."""
    live = applied.begin.live
    ident = str(current["Id"])
    state = current.get("State") or {}
    back = live.before if live is not None else {}
    begin = record.begin(tx=journal.new_id(), kind=Kind.ROLLBACK, container=name, old_id=ident, new_id=ident,
                         was_running=bool(state.get("Running")), was_paused=bool(state.get("Paused")),
                         restart_policy=_policy(current),
                         live=record.Live(before=live.after if live is not None else {}, after=back))
    checks: tuple[ProbeResult, ...] = ()
    with Txn(conn, journal, begin) as txn:
        conn.update_container(ident, back)
        txn.mark(Step.UPDATED)
        check = probes.updated(conn, ident, back)
        if check.ok and state.get("Running"):
            check = probes.wait_running(conn, ident, timeout=timeout)
        if not check.ok:
            raise ProbeFailed(f"{name} updated back is not as it was: {check.evidence}", host=conn.label,
                              container=name)
        checks = (check,)
        txn.mark(Step.VERIFIED)
        txn.succeed(End.RESTORED, new_id=ident)
    if txn.error is not None:
        undone = txn.undone or Undone(())
        return ContainerResult(name, Action.ROLLED_BACK if undone.ok else Action.ROLLBACK_FAILED, ident, None, None,
                               (), txn.error.message, time.monotonic() - started,
                               (*undone.manual_steps, RECOVER_STEP) if not undone.ok else ())
    return ContainerResult(name, Action.RESTORED, ident, ident, None, checks, None, time.monotonic() - started)


def _route(conn: Connection, journal: Journal, name: str, steps: int | None, to: str | None) -> Route:
    """The route back to the backup asked for, which must exist."""
    if to is not None and not is_backup_of(to, name):
        raise ContainerNotFound(f"{conn.label}: {to} is no remediate backup of {name}", host=conn.label,
                                container=name)
    try:
        route = lineage(journal, name).route(steps=steps, to=to)
    except LookupError as exc:
        raise ContainerNotFound(f"{conn.label}: {name}: {exc}", host=conn.label, container=name) from exc
    if conn.find_container(route.backup) is None:
        raise ContainerNotFound(f"{conn.label}: backup {route.backup} of {name} no longer exists", host=conn.label,
                                container=name)
    return route


def _files(conn: Connection, journal: Journal, route: Route) -> list[FileEntry]:
    """The journal's saved copies that put the files back along ``route``: the previous contents
    saved by each apply undone (the oldest wins), then, for a backup that is no ancestor, those
    saved when it was parked. A file another container of that apply still needs on its new
    version stays (see :mod:`remediate.executor.sharing`)."""
    by_id = {t.id: t for t in journal.transactions(archived=True)}
    chosen: dict[str, FileEntry] = {}
    for tx in [*route.undone, *(() if route.ancestor else (route.parked_by,))]:
        if tx not in by_id:
            continue
        kept = sharing.kept_paths(conn, journal, tx, archived=True)
        chosen.update((f.path, f) for f in journal.files_of(by_id[tx]) if f.path not in kept)
    return list(chosen.values())


def _policy(current: Json) -> Json:
    """A container's restart policy (``no`` when it has none)."""
    return dict((current.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"})


def _policy_put_back(journal: Journal, backup: str, current: Json) -> Json:
    """The restart policy a rollback gives the container it puts back: the one ``backup`` had
    when it was parked (the journal's record of the transaction that parked it: an apply that
    changed the policy is undone too); a backup the journal does not know: the current one's."""
    for tx in reversed(journal.transactions(archived=True)):
        if tx.begin.backup == backup and tx.begin.restart_policy is not None:
            return dict(tx.begin.restart_policy)
    return _policy(current)


def _dirs(journal: Journal, route: Route) -> list[str]:
    """The directories the applies undone along ``route`` created."""
    by_id = {t.id: t for t in journal.transactions(archived=True)}
    return [d for tx in route.undone if tx in by_id for d in by_id[tx].begin.dirs or []]


def _inspect_named(conn: Connection, name: str) -> Json:
    """The container named ``name``; not there: one line with the closest name on the host."""
    found = conn.find_container(name)
    if found is None:
        names = (str(c["Name"]) for c in conn.list_containers() if not is_remediate_copy(str(c["Name"])))
        raise ContainerNotFound(f"{conn.label}: no container named {name}{did_you_mean(name, names)}",
                                host=conn.label, container=name)
    return found


def _spec(conn: Connection, inspect: Json) -> ContainerSpec:
    """The container's spec; a compose backup's with its compose labels back, as it is put back."""
    spec = spec_from_inspect(inspect, conn.inspect_image(str(inspect.get("Image", ""))))
    labels = spec.config.get("Labels") or {}
    return spec.replace(config={**spec.config, "Labels": compose.armed(labels)}) if compose.is_disarmed(labels) else spec


def _contents(conn: Connection, entries: Sequence[FileEntry], current: ContainerSpec,
              target: ContainerSpec) -> list[tuple[FileEntry, bytes | None]]:
    """What each file a rollback puts back gets: its saved copy; but a compose file of the
    container that changed since the apply wrote it (e.g. another service's fix went in on top)
    gets only this service's part put back, so what else changed in it stays
    (:mod:`remediate.executor.compose_putback`).

    Raises:
        PlanError: that part cannot be put back alone; nothing was changed.
    """
    rebased = compose_contents(conn, entries, current, target)
    return [(entry, rebased[entry.path] if entry.path in rebased else saved_content(conn, entry)) for entry in entries]


def _current_files(conn: Connection, journal: Journal, tx: str,
                   files: list[tuple[FileEntry, bytes | None]]) -> list[FileEntry]:
    """Save what is at each path now (so a failed rollback can put it back), with the digest of
    what the rollback puts there."""
    saved = []
    for i, (entry, putting) in enumerate(files):
        state = conn.read_path(entry.path)
        saved.append(FileEntry(path=entry.path, mode=state.mode, written=digest(putting) if putting is not None else None,
                               owner=list(state.owner) if state.owner else None,
                               saved=journal.save_file(tx, i, state.content) if state.content is not None else None))
    return saved


def plan_recover(conn: Connection, *, containers: Sequence[str] = (), journal: Journal | None = None) -> list[Recovery]:
    """What :func:`recover` would do (nothing changes, no lock is taken, nothing is created): per
    unfinished transaction (of ``containers`` only, when given), keep the verified new container
    or restore the original with which steps; then the time-boxed changes it would roll back.
    A transaction whose records do not fit it is shown as ``manual action needed``, with why."""
    journal = journal or Journal(conn)
    plans = []
    for tx in _chosen(journal.unfinished(), containers):
        name = tx.container
        if _verified_in_place(conn, tx):
            plans.append(Recovery(name, tx.id, Outcome.KEPT, _kept(tx)))
            continue
        try:
            plans.append(Recovery(name, tx.id, Outcome.RESTORED, "", steps=planned(conn, journal, tx)))
        except RemediateError as exc:
            plans.append(Recovery(name, tx.id, Outcome.MANUAL, exc.message))
    for tx in _chosen(journal.pending_reverts(), containers):
        name = tx.container
        current = conn.find_container(name)
        if current is not None and tx.end is not None and str(current["Id"]) == tx.end.new_id:
            plans.append(Recovery(name, tx.id, Outcome.REVERTED, f"roll back to {tx.begin.backup}"))
    return plans


def _chosen(transactions: Sequence[Transaction], containers: Sequence[str]) -> list[Transaction]:
    return [t for t in transactions if not containers or t.container in containers]


def recover(conn: Connection, *, timeout: float = 60.0, containers: Sequence[str] = (),
            journal: Journal | None = None) -> list[Recovery]:
    """Finish every apply or rollback the journal does not show settled (never ended, or ended
    ``rollback failed`` / ``recover failed``, e.g. when the engine died): keep the new container
    if the journal says it verified and the engine still shows it under the name, else put the
    original back (container, name, restart policy, running state, files). Every step checks what
    the engine shows first, so a half-done restore is finished, not repeated. A damaged journal
    file is healed first (:meth:`Journal.heal`). Then undo time-boxed changes whose hold was cut
    short. A transaction recover cannot finish stays open (``recover failed``): run it again.
    With ``containers``, only the transactions of those containers (:func:`plan_recover` shows
    what it would do).

    Raises:
        LockedError: another live run holds the host.
    """
    journal = journal or Journal(conn)
    results = []
    with HostLock(conn, "recover"):
        journal.heal()
        for tx in _chosen(journal.unfinished(), containers):
            if _verified_in_place(conn, tx):
                results.append(_roll_forward(conn, journal, tx))
            else:
                results.append(_roll_back(conn, journal, tx))
    for tx_id, r in revert_pending(conn, timeout=timeout, containers=containers, journal=journal):
        results.append(Recovery(r.name, tx_id, Outcome.REVERTED if r.ok else Outcome.MANUAL,
                                r.error or f"backup {r.backup} kept", r.manual_steps))
    return results


def revert_pending(conn: Connection, *, timeout: float = 60.0, playbook: str | None = None,
                   containers: Sequence[str] = (), journal: Journal | None = None) -> list[tuple[str, ContainerResult]]:
    """Undo the time-boxed changes (``revert_after``) on the host that are still in place, by a
    rollback of each; optionally only those of one playbook or of some containers.

    A container changed since (outside remediate) is left alone, and its revert dropped.

    Returns:
        (apply transaction id, rollback result) per change undone.
    """
    journal = journal or Journal(conn)
    done = []
    for tx in journal.pending_reverts():
        name = tx.container
        if (playbook and tx.begin.playbook != playbook) or (containers and name not in containers):
            continue
        current = conn.find_container(name)
        if current is None or tx.end is None or str(current["Id"]) != tx.end.new_id:
            journal.drop_revert(tx.id, f"{name} changed since the time-boxed apply")
            continue
        done.append((tx.id, rollback(conn, name, to=str(tx.begin.backup), timeout=timeout, journal=journal)))
    return done


def _verified_in_place(conn: Connection, tx: Transaction) -> bool:
    """True when the journal says the new container verified and the engine still has it under
    the name (a restore that failed half-way may have moved or removed it since)."""
    if not tx.done(Step.VERIFIED) or not tx.new_id:
        return False
    new = conn.find_container(tx.new_id)
    return new is not None and str(new.get("Name", "")).lstrip("/") == tx.container


def _roll_forward(conn: Connection, journal: Journal, tx: Transaction) -> Recovery:
    if tx.begin.was_running:  # e.g. the engine restarted since, and its policy is `no`
        new = conn.inspect_container(str(tx.new_id))
        if not (new.get("State") or {}).get("Running"):
            conn.start(str(new["Id"]))
    # Kept as an apply (or rollback) that verified is. A time-boxed change whose hold never
    # started is due back now (recover undoes it next).
    Txn.resume(conn, journal, tx).commit(End.RECOVERED_KEPT, new_id=tx.new_id,
                                         revert_at=round(time.time()) if tx.begin.revert_after else None)
    return Recovery(tx.container, tx.id, Outcome.KEPT, _kept(tx))


def _kept(tx: Transaction) -> str:
    return "updated in place, kept" if tx.begin.live is not None else f"backup {tx.begin.backup} kept"


def _roll_back(conn: Connection, journal: Journal, tx: Transaction) -> Recovery:
    """Undo ``tx`` (:func:`remediate.executor.undo.undo`, as a failed apply or rollback does) and
    close it: ``recovered: restored the original``, or ``recover failed`` with the manual steps."""
    undone = Txn.resume(conn, journal, tx).abort()
    if undone.error is not None:
        return Recovery(tx.container, tx.id, Outcome.MANUAL, undone.error.message, undone.manual_steps)
    return Recovery(tx.container, tx.id, Outcome.RESTORED, "; ".join(undone.done) or "nothing left to undo")
