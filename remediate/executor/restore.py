"""Putting things back: ``rollback`` (the newest backup of a container, with the files its apply
replaced), ``recover`` (finish an apply or rollback that was interrupted, from the journal) and
``revert_pending`` (undo time-boxed changes still in place).

Both bring the neighbours along (:mod:`remediate.executor.ties`): containers tied to the one put back
are recreated to follow it, or started / restarted to join its namespaces again. A file another
container of the same apply still needs on its new version stays (:mod:`remediate.executor.sharing`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from remediate.core.planner import BACKUP_MARK
from remediate.core.results import Action, ContainerResult
from remediate.errors import ContainerNotFound, HostFileError, ProbeFailed, RemediateError
from remediate.executor import compose_backup, probes, sharing, ties
from remediate.executor.apply import safe_message
from remediate.executor.journal import HostLock, Journal, Transaction
from remediate.executor.swap import Txn, backups_of, stamp, stop_timeout, swap
from remediate.host.connection import Connection

Json = dict[str, Any]


def rollback(conn: Connection, name: str, *, timeout: float = 60.0, journal: Journal | None = None) -> ContainerResult:
    """Put the newest backup of ``name`` back in its place, with the files that apply replaced;
    the current container becomes a backup in turn.

    Raises:
        ContainerNotFound: ``name`` or its backup does not exist.
        LockedError, RecoverNeeded: as for :func:`apply`.
    """
    started = time.monotonic()
    journal = journal or Journal(conn)
    with HostLock(conn, f"rollback {name}"), journal.reserved():
        journal.require_finished()
        current = conn.inspect_container(name)
        backups = backups_of(conn, name)
        if not backups:
            raise ContainerNotFound(f"{conn.label}: no remediate backup of {name}", host=conn.label, container=name)
        backup_name = str(backups[0]["Name"])
        # A compose service's backup gets its compose labels back before it takes the service's place.
        backup_id = compose_backup.rearm(conn, backup_name) or str(backups[0]["Id"])
        made_by = next((t for t in journal.transactions(archived=True) if t.begin.get("backup") == backup_name), None)
        parked = f"{name}{BACKUP_MARK}{stamp()}"
        policy = (current.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}
        # Files another container of that apply still needs on its new version stay (see sharing).
        keep = sharing.kept_paths(conn, journal, made_by.id, archived=True) if made_by else set()
        replaced = [f for f in (made_by.begin.get("files") or [] if made_by else []) if f.get("path") not in keep]
        tied = ties.tied_to(conn, current)  # they follow the container put back
        tx = journal.new_id()
        files = _current_files(conn, journal, tx, replaced)
        journal.begin(tx, kind="rollback", container=name, old_id=str(current["Id"]), backup=parked,
                      temp=backup_name, new_id=backup_id,  # recover parks it again, never removes it
                      was_running=bool((current.get("State") or {}).get("Running")),
                      restart_policy=policy, files=files, tied=[ties.record(t) for t in tied])
        txn = Txn()
        mark = functools.partial(journal.step, tx)
        try:
            _restore_files(conn, replaced, txn, files)
            mark("files")
            if tied:  # after the current one is back (on undo): its joiners join it again
                txn.undo(f"docker restart {' '.join(ties.record(t)['name'] for t in tied)}",
                         lambda: ties.rejoin(conn, str(current["Id"]), [ties.record(t) for t in tied]), late=True)
            swap(conn, current, backup_id, name, parked, txn, mark=mark)
            if not (current.get("State") or {}).get("Running"):
                conn.start(backup_id)
            if policy.get("Name") not in ("", "no"):
                conn.set_restart_policy(backup_id, policy)
            ties.follow(conn, tied, old_id=str(current["Id"]), name=name, parked=parked, new_id=backup_id,
                        txn=txn, mark=mark)
            check = probes.wait_running(conn, backup_id, timeout=timeout)
            if not check.ok:
                raise ProbeFailed(f"restored container is not running: {check.evidence}", host=conn.label,
                                  container=name)
            mark("verified")
            txn.commit()
        except RemediateError as exc:
            left = txn.rollback()
            action = Action.ROLLBACK_FAILED if left else Action.ROLLED_BACK
            journal.end(tx, action, error=safe_message(exc.message))
            if not left:
                compose_backup.disarm(conn, backup_name)  # parked again: out of compose's sight again
            return ContainerResult(name, action, str(current["Id"]), None, None, (), exc.message,
                                   time.monotonic() - started, tuple(left))
        journal.end(tx, "restored", new_id=backup_id)
        compose_backup.disarm(conn, parked)
    return ContainerResult(name, Action.RESTORED, str(current["Id"]), backup_id, parked, (check,), None,
                           time.monotonic() - started)


def _current_files(conn: Connection, journal: Journal, tx: str, files: list[Json]) -> list[Json]:
    """Save what is at each path now (so a failed rollback can put it back)."""
    saved = []
    for i, entry in enumerate(files):
        state = conn.read_path(str(entry["path"]))
        saved.append({"path": entry["path"], "mode": state.mode,
                      "saved": journal.save_file(tx, i, state.content) if state.content is not None else None})
    return saved


def _restore_files(conn: Connection, files: list[Json], txn: Txn | None, current: list[Json] | None = None) -> None:
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
        raise HostFileError(f"{conn.label}: saved copy {entry['saved']} of {entry['path']} is missing",
                            host=conn.label, path=str(entry["saved"]))
    conn.write_file(str(entry["path"]), saved.content, int(entry.get("mode") or 0o644))


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` did about one unfinished apply."""

    container: str
    tx: str
    outcome: Literal["kept the verified new container", "restored the original", "restored the time-boxed change",
                     "manual action needed"]
    detail: str = ""
    manual_steps: tuple[str, ...] = ()


def recover(conn: Connection, *, timeout: float = 60.0, journal: Journal | None = None) -> list[Recovery]:
    """Finish every apply or rollback the journal does not show settled (never ended, or ended
    ``rollback failed`` / ``recover failed``, e.g. when the engine died): keep the new container
    if the journal says it verified and the engine still shows it under the name, else put the
    original back (container, name, restart policy, running state, files). Every step checks what
    the engine shows first, so a half-done restore is finished, not repeated. A damaged journal
    file is healed first (:meth:`Journal.heal`). Then undo time-boxed changes whose hold was cut
    short. A transaction recover cannot finish stays open (``recover failed``): run it again.

    Raises:
        LockedError: another live run holds the host.
    """
    journal = journal or Journal(conn)
    results = []
    with HostLock(conn, "recover"):
        journal.heal()
        for tx in journal.unfinished():
            if _verified_in_place(conn, tx):
                results.append(_roll_forward(conn, journal, tx))
            else:
                results.append(_roll_back(conn, journal, tx))
    for tx_id, r in revert_pending(conn, timeout=timeout, journal=journal):
        outcome: Literal["restored the time-boxed change", "manual action needed"] = (
            "restored the time-boxed change" if r.ok else "manual action needed")
        results.append(Recovery(r.name, tx_id, outcome, r.error or f"backup {r.backup} kept", r.manual_steps))
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
        name = str(tx.begin.get("container"))
        if (playbook and tx.begin.get("playbook") != playbook) or (containers and name not in containers):
            continue
        current = conn.find_container(name)
        if current is None or tx.end is None or str(current["Id"]) != tx.end.get("new_id"):
            journal.drop_revert(tx.id, f"{name} changed since the time-boxed apply")
            continue
        done.append((tx.id, rollback(conn, name, timeout=timeout, journal=journal)))
    return done


def _verified_in_place(conn: Connection, tx: Transaction) -> bool:
    """True when the journal says the new container verified and the engine still has it under
    the name (a restore that failed half-way may have moved or removed it since)."""
    if not tx.done("verified") or not tx.value("new_id"):
        return False
    new = conn.find_container(str(tx.value("new_id")))
    return new is not None and str(new.get("Name", "")).lstrip("/") == tx.begin["container"]


def _roll_forward(conn: Connection, journal: Journal, tx: Transaction) -> Recovery:
    name = str(tx.begin["container"])
    if tx.begin.get("was_running"):  # e.g. the engine restarted since, and its policy is `no`
        _start_if_stopped(conn, str(tx.value("new_id")), name, [])
    for dep in _dependents(tx):  # their old copies are no backups of a change
        old = conn.find_container(str(dep["old_id"]))
        if old is not None and str(old.get("Name", "")).lstrip("/") != dep["name"]:
            conn.remove(str(old["Id"]), missing_ok=True)
    # A time-boxed change whose hold never started is due back now (recover undoes it next).
    due = {"revert_at": round(time.time())} if tx.begin.get("revert_after") else {}
    journal.end(tx.id, "recovered: kept the verified new container", new_id=tx.value("new_id"), **due)
    return Recovery(name, tx.id, "kept the verified new container", f"backup {tx.begin.get('backup')} kept")


def _roll_back(conn: Connection, journal: Journal, tx: Transaction) -> Recovery:
    """Put back what the engine showed before ``tx``: its container under its name, running if it
    ran, its restart policy, its files.

    The other container of the transaction is the new one of an apply (removed), or, for an
    interrupted rollback, the backup it was putting back: that one is parked again, never removed.
    Containers tied to it (``--link``, ``--network/--ipc/--pid container:``) that the apply had
    re-created get their originals back too, and every container joining its namespaces is
    started or restarted to join it again.
    """
    name, old_id = str(tx.begin["container"]), str(tx.begin["old_id"])
    other_ref = str(tx.value("new_id") or tx.begin.get("temp") or "")
    is_rollback = tx.begin.get("kind") == "rollback"
    steps: list[str] = []
    dependents = _dependents(tx)
    try:
        for dep in reversed(dependents):
            _put_back_dependent(conn, dep, steps)
        seen = {old_id}
        for ref in (str(tx.value("new_id") or ""), str(tx.begin.get("temp") or "")):
            other = conn.find_container(ref) if ref else None
            if other is None or str(other["Id"]) in seen:
                continue
            seen.add(str(other["Id"]))
            if is_rollback:
                _repark(conn, other, str(tx.begin.get("temp")), steps)
            else:
                steps.append(f"docker rm -f {ref}")
                conn.remove(ref, missing_ok=True)
        _give_back(conn, old_id, name, tx.begin.get("restart_policy"), steps)
        # Files before the start: the old container may mount them (a missing bind source would
        # be created as a directory by the engine). Not those another container of the same
        # apply still needs on its new version (see sharing).
        keep = sharing.kept_paths(conn, journal, tx.id)
        _restore_files(conn, [f for f in tx.begin.get("files") or [] if f.get("path") not in keep], None)
        if tx.begin.get("was_running"):
            _start_if_stopped(conn, old_id, name, steps)
        for dep in dependents:  # after the container they depend on
            if dep.get("was_running"):
                _start_if_stopped(conn, str(dep["old_id"]), str(dep["name"]), steps)
        _rejoin_all(conn, old_id, tx, dependents, steps)
    except RemediateError as exc:
        journal.end(tx.id, "recover failed", error=safe_message(exc.message))
        first = ((f"docker stop {other_ref[:12]}", f"docker update --restart no {other_ref[:12]}",
                  f"docker rename {other_ref[:12]} {tx.begin.get('temp')}") if is_rollback
                 else (f"docker rm -f {tx.begin.get('temp')}",))
        return Recovery(name, tx.id, "manual action needed", exc.message,
                        (*first, f"docker rename {old_id[:12]} {name}", f"docker start {name}"))
    journal.end(tx.id, "recovered: restored the original")
    return Recovery(name, tx.id, "restored the original", "; ".join(steps) or "nothing left to undo")


def _rejoin_all(conn: Connection, old_id: str, tx: Transaction, dependents: list[Json], steps: list[str]) -> None:
    """Bring every container joining the namespaces of the container put back along with it:
    those journaled before the change (their running state then), and any the engine shows
    joined to it (a sidecar still running in the namespace of its earlier run)."""
    target = conn.inspect_container(old_id)
    journaled = [e for e in tx.begin.get("tied") or [] if isinstance(e, dict) and e.get("id")]
    journaled += [{"name": d["name"], "id": d["old_id"], "was_running": d.get("was_running")} for d in dependents]
    ties.rejoin(conn, old_id, [*journaled, *(ties.record(t) for t in ties.tied_to(conn, target))], steps)


def _dependents(tx: Transaction) -> list[Json]:
    """The tied containers an apply re-created (journaled before each was touched), in order."""
    return [s["dependent"] for s in tx.steps if s.get("step") == "dependent" and s.get("dependent")]


def _put_back_dependent(conn: Connection, dep: Json, steps: list[str]) -> None:
    """Remove the re-created copy of a tied container and give its original back its name and
    restart policy (it is started once the container it depends on runs again)."""
    name, old_id = str(dep["name"]), str(dep["old_id"])
    for ref in (str(dep["temp"]), name):
        other = conn.find_container(ref)
        if other is not None and str(other["Id"]) != old_id:
            steps.append(f"docker rm -f {ref}")
            conn.remove(str(other["Id"]), missing_ok=True)
    _give_back(conn, old_id, name, dep.get("restart_policy"), steps)


def _give_back(conn: Connection, ident: str, name: str, policy: Json | None, steps: list[str]) -> None:
    """Give an original container its name and restart policy back."""
    old = conn.inspect_container(ident)
    if str(old.get("Name", "")).lstrip("/") != name:
        steps.append(f"docker rename {ident[:12]} {name}")
        conn.rename(ident, name)
    if (policy or {}).get("Name") not in (None, "", "no") and (old.get("HostConfig") or {}).get("RestartPolicy") != policy:
        conn.set_restart_policy(ident, policy or {})


def _start_if_stopped(conn: Connection, ident: str, name: str, steps: list[str]) -> None:
    if not (conn.inspect_container(ident).get("State") or {}).get("Running"):
        steps.append(f"docker start {name}")
        conn.start(ident)



def _repark(conn: Connection, inspect: Json, parked: str, steps: list[str]) -> None:
    """Make a backup a backup again: stopped, restart policy ``no``, under its backup name."""
    ident = str(inspect["Id"])
    if ((inspect.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") not in (None, "", "no"):
        conn.set_restart_policy(ident, {"Name": "no"})
    if (inspect.get("State") or {}).get("Running"):
        steps.append(f"docker stop {ident[:12]}")
        conn.stop(ident, timeout=stop_timeout(inspect))
    if str(inspect.get("Name", "")).lstrip("/") != parked:
        steps.append(f"docker rename {ident[:12]} {parked}")
        conn.rename(ident, parked)
