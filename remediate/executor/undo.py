"""Undo one transaction from its journal records: the one path that puts back what the engine
showed before an apply or a rollback of one container.

An apply or a rollback that fails in the process undoes its transaction from the records it has
just written (:meth:`remediate.executor.journal.Journal.written`); ``recover`` from the records
it reads back. Either way the same steps run in the same order, each checking what the engine
shows first, so a half-done undo is finished, not repeated. The order, and why:

1. the tied containers the change re-created (``dependent`` steps, newest first): their copies
   go, their originals get their names and restart policies back (before the container they
   are tied to: a copy joins the new one);
2. the other container of the transaction: the new one of an apply is removed; the backup a
   rollback was putting back is parked again (stopped, restart policy ``no``, its backup name),
   never removed;
3. the original gets its name and restart policy back;
4. the files, before the start: the original may mount them (a missing bind source would be
   created as a directory by the engine); not those another container of the same apply keeps
   on the new version (:mod:`remediate.executor.sharing`), and only from the transaction's own
   saved copies, and only where the file still holds what the transaction wrote
   (:meth:`~remediate.executor.journal.Journal.files_of`); then the directories the change
   created (for its files, or bind sources the engine made), if empty;
5. the original starts if it ran (and is paused again if it was paused), then the tied containers
   that ran (after the one they depend on);
6. every container joining its namespaces is started or restarted to join it again
   (:func:`remediate.executor.ties.rejoin`);
7. a rollback's backup, parked again, goes out of compose's sight again
   (:mod:`remediate.executor.compose_backup`).

An update in place (the begin's ``live``: an apply made by ``docker update``, or the rollback of
one) is undone in place: the container is updated back to the values it had (where the engine
shows others), then started if it ran and is down (a lower memory limit may have stopped it), and
paused again if it was.

The first step that fails stops the undo (the later ones build on it): :class:`Undone` names it
and those left as manual steps, and the transaction stays open for ``remediate recover``.

A change that is kept is settled by :func:`keep`, the same for apply, rollback and ``recover``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from remediate.core.fields import RenderContext, host_field
from remediate.core.live import differing
from remediate.errors import HostFileError, RemediateError
from remediate.executor import compose_backup, sharing, tie_lookup, ties
from remediate.executor.journal import Journal
from remediate.executor.record import Dependent, FileEntry, Kind, Tied, digest
from remediate.executor.swap import stop_timeout
from remediate.executor.transaction import Transaction
from remediate.host.connection import Connection

Json = dict[str, Any]

#: The last manual step after an undo that failed in the process: the journal still has the
#: whole transaction.
RECOVER_STEP = "remediate recover    # once the engine answers again: finishes this from the journal"


@dataclass(frozen=True)
class Undone:
    """What undoing one transaction did."""

    #: What was done, as commands (none: the engine showed everything undone already).
    done: tuple[str, ...]
    #: Why the undo stopped; None when it finished.
    error: RemediateError | None = None
    #: When it stopped: the step that failed (``# failed: why``) and those left, as commands.
    manual_steps: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when everything is back as it was before the transaction."""
        return self.error is None


@dataclass(frozen=True)
class _Step:
    """One step of an undo: what it does as commands (for the manual steps), and doing it
    (appending what it did to the list it is given)."""

    commands: tuple[str, ...]
    run: Callable[[list[str]], None]
    #: Said for the step when it fails and has no commands of its own.
    what: str = ""


def undo(conn: Connection, journal: Journal, tx: Transaction) -> Undone:
    """Put back what the engine showed before transaction ``tx`` (an apply or a rollback of one
    container), from its journal records; see the module docstring for the steps.

    Args:
        conn: the host.
        journal: the host's journal (asked which files another container of the apply keeps).
        tx: the transaction, as written (in the process) or read back (``recover``).

    Returns:
        What was done; when a step failed, why and the manual steps left (nothing is raised).
    """
    done: list[str] = []
    steps = _steps(conn, journal, tx)
    try:
        journal.files_of(tx)  # a record that does not fit its transaction: nothing is done from it
    except RemediateError as exc:
        return Undone((), exc, tuple(c for step in steps for c in step.commands))
    for index, step in enumerate(steps):
        try:
            step.run(done)
        except RemediateError as exc:
            first, *rest = step.commands or (step.what,)
            left = [c for later in steps[index + 1:] for c in later.commands]
            return Undone(tuple(done), exc, (f"{first}    # failed: {exc.message}", *rest, *left))
    return Undone(tuple(done))


def planned(conn: Connection, journal: Journal, tx: Transaction) -> tuple[str, ...]:
    """The steps :func:`undo` would take for ``tx``, as commands, at most (each step checks the
    engine first and skips what is done already); nothing is changed.

    Raises:
        JournalError: a record of ``tx`` does not fit it (:meth:`Journal.files_of`): undo would refuse it.
    """
    journal.files_of(tx)
    return tuple(c for step in _steps(conn, journal, tx) for c in step.commands)


def keep(conn: Connection, tx: Transaction) -> None:
    """Settle a change that is kept (it verified): the old copies of the tied containers that
    followed it go (they are no backups of a change), and its backup goes out of compose's sight
    (a compose service's backup must not count as its container)."""
    ties.drop_replaced(conn, tx.dependents)
    if tx.begin.backup:
        compose_backup.disarm(conn, tx.begin.backup)


def restore_files(conn: Connection, entries: Sequence[FileEntry]) -> None:
    """Put files back from the copies saved in the journal directory (``saved``; none: the file
    did not exist, it is removed), with their mode and their owner and group (``owner``); a file
    with other hard links is written in place, so they share it again."""
    put_files(conn, [(entry, saved_content(conn, entry)) for entry in entries])


def saved_content(conn: Connection, entry: FileEntry) -> bytes | None:
    """The copy of ``entry``'s file saved in the journal directory (None: the file did not exist).

    Raises:
        HostFileError: the saved copy is gone.
    """
    if not entry.saved:
        return None
    saved = conn.read_path(entry.saved)
    if not saved.exists or saved.content is None:
        raise HostFileError(f"{conn.label}: saved copy {entry.saved} of {entry.path} is missing",
                            host=conn.label, path=entry.saved)
    return saved.content


def put_files(conn: Connection, contents: Sequence[tuple[FileEntry, bytes | None]]) -> None:
    """Write each entry's file with the content given (None: remove it), with the entry's mode and
    owner; a file with other hard links is written in place, so they share it again."""
    for entry, content in contents:
        if content is None:
            conn.remove_file(entry.path)
        else:
            owner = (entry.owner[0], entry.owner[1]) if entry.owner else None
            conn.write_file(entry.path, content, entry.mode or 0o644, owner)


def remove_dirs(conn: Connection, dirs: Sequence[str]) -> None:
    """Remove the directories a change created (a file's, or a bind source the engine made), the
    deepest first, each only if it is empty (what someone put there since stays, with its
    directories)."""
    for path in sorted(dirs, key=lambda d: d.count("/"), reverse=True):
        conn.remove_dir(path)


def update_command(name: str, values: Json) -> str:
    """``docker update`` with the options that set ``values`` (``HostConfig`` keys) on ``name``."""
    ctx = RenderContext()
    options = [" ".join(o) for key, value in values.items() for o in host_field(key).options(value, ctx)
               if isinstance(o, tuple)]
    return " ".join(["docker update", *options, name])


def _live_steps(conn: Connection, tx: Transaction) -> list[_Step]:
    begin = tx.begin
    live, name, ident = begin.live, begin.container, begin.old_id
    before = live.before if live is not None else {}
    steps = [_Step((update_command(name, before),), functools.partial(_update_back, conn, ident, name, before))]
    if begin.was_running:
        steps.append(_Step((f"docker start {name}",), functools.partial(_start_if_stopped, conn, ident, name)))
    if begin.was_paused:
        steps.append(_Step((f"docker pause {name}",), functools.partial(_pause_if_running, conn, ident, name)))
    return steps


def _update_back(conn: Connection, ident: str, name: str, values: Json, done: list[str]) -> None:
    """Update the container back to ``values`` unless the engine shows them already."""
    shown = conn.inspect_container(ident).get("HostConfig") or {}
    if differing(shown, values):
        done.append(update_command(name, values))
        conn.update_container(ident, values)


def _steps(conn: Connection, journal: Journal, tx: Transaction) -> list[_Step]:
    begin = tx.begin
    if begin.live is not None:
        return _live_steps(conn, tx)
    name, old_id = begin.container, begin.old_id
    temp, other = begin.temp or "", (tx.new_id or "")[:12]
    dependents = tx.dependents
    steps = [_Step((f"docker rm -f {dep.temp}", *_give_back_commands(dep.old_id, dep.name, dep.restart_policy)),
                   functools.partial(_put_back_dependent, conn, dep)) for dep in reversed(dependents)]
    if tx.kind is Kind.ROLLBACK:
        ref = other or temp
        steps.append(_Step((f"docker stop {ref}", f"docker update --restart no {ref}", f"docker rename {ref} {temp}"),
                           functools.partial(_put_away_other, conn, tx)))
    else:
        steps.append(_Step((f"docker rm -f {other or temp}",), functools.partial(_put_away_other, conn, tx)))
    steps.append(_Step(_give_back_commands(old_id, name, begin.restart_policy),
                       functools.partial(_give_back, conn, old_id, name, begin.restart_policy)))
    if begin.files:
        steps.append(_Step(tuple(f"restore {f.path} from {f.saved}" if f.saved else f"rm {f.path}"
                                 for f in begin.files), functools.partial(_put_back_files, conn, journal, tx)))
    dirs = begin.dirs or []
    if dirs:
        steps.append(_Step(tuple(f"rmdir {d}" for d in sorted(dirs, key=lambda d: d.count("/"), reverse=True)),
                           lambda _done: remove_dirs(conn, dirs)))
    if begin.was_running:
        steps.append(_Step((f"docker start {name}",), functools.partial(_start_if_stopped, conn, old_id, name)))
    if begin.was_paused:
        steps.append(_Step((f"docker pause {name}",), functools.partial(_pause_if_running, conn, old_id, name)))
    for dep in dependents:  # after the container they depend on
        if dep.was_running:
            steps.append(_Step((f"docker start {dep.name}",),
                               functools.partial(_start_if_stopped, conn, dep.old_id, dep.name)))
    joiners = sorted({*(e.name for e in begin.tied or []), *(d.name for d in dependents)})
    steps.append(_Step((f"docker restart {' '.join(joiners)}",) if joiners else (),
                       functools.partial(_rejoin_all, conn, old_id, tx),
                       what=f"docker restart <the containers joining {name}>"))
    if tx.kind is Kind.ROLLBACK:
        steps.append(_Step((), functools.partial(_disarm, conn, temp),
                           what=f"remediate recover    # takes {temp} out of compose's sight again"))
    return steps


def _put_away_other(conn: Connection, tx: Transaction, done: list[str]) -> None:
    """The other container of ``tx``: the new one of an apply is removed; the backup a rollback
    was putting back is parked again."""
    old_id, temp = tx.begin.old_id, tx.begin.temp or ""
    seen = {old_id}
    for ref in (tx.new_id or "", temp):
        other = conn.find_container(ref) if ref else None
        if other is None or str(other["Id"]) in seen:
            continue
        seen.add(str(other["Id"]))
        if tx.kind is Kind.ROLLBACK:
            _repark(conn, other, temp, done)
        else:
            done.append(f"docker rm -f {ref}")
            conn.remove(ref, missing_ok=True)


def _put_back_dependent(conn: Connection, dep: Dependent, done: list[str]) -> None:
    """Remove the re-created copy of a tied container and give its original back its name and
    restart policy (it is started once the container it depends on runs again)."""
    name, old_id = dep.name, dep.old_id
    for ref in (dep.temp, name):
        other = conn.find_container(ref)
        if other is not None and str(other["Id"]) != old_id:
            done.append(f"docker rm -f {ref}")
            conn.remove(str(other["Id"]), missing_ok=True)
    _give_back(conn, old_id, name, dep.restart_policy, done)


def _give_back_commands(old_id: str, name: str, policy: Json | None) -> tuple[str, ...]:
    rename = f"docker rename {old_id[:12]} {name}"
    if (policy or {}).get("Name") in (None, "", "no"):
        return (rename,)
    return rename, f"docker update --restart {(policy or {})['Name']} {name}"


def _give_back(conn: Connection, ident: str, name: str, policy: Json | None, done: list[str]) -> None:
    """Give an original container its name and restart policy back."""
    old = conn.inspect_container(ident)
    if str(old.get("Name", "")).lstrip("/") != name:
        done.append(f"docker rename {ident[:12]} {name}")
        conn.rename(ident, name)
    if (policy or {}).get("Name") not in (None, "", "no") and (old.get("HostConfig") or {}).get("RestartPolicy") != policy:
        conn.set_restart_policy(ident, policy or {})


def _put_back_files(conn: Connection, journal: Journal, tx: Transaction, done: list[str]) -> None:
    """Put back the files of ``tx`` that still hold what it wrote (or what they had); a file
    changed since by someone else is left as it is, and said."""
    keep = sharing.kept_paths(conn, journal, tx.id)
    ours = []
    for entry in journal.files_of(tx):  # a saved copy only from the transaction's own place
        if entry.path in keep:
            continue
        if _still_ours(conn, entry):
            ours.append(entry)
        else:
            done.append(f"# left {entry.path} as it is: it changed since remediate wrote it")
    restore_files(conn, ours)


def _still_ours(conn: Connection, entry: FileEntry) -> bool:
    """True when the file at an entry's path is what its transaction wrote there (``written``),
    already what it had before, or gone. A record without ``written`` (an older version's) is
    trusted to restore its own saved copy, never to delete."""
    now = conn.read_path(entry.path)
    if not now.exists:
        return True
    if not entry.written_known:
        return bool(entry.saved)
    if now.content is None:
        return False  # a directory: no transaction writes one
    if entry.written is not None and digest(now.content) == entry.written:
        return True
    if not entry.saved:
        return False
    return conn.read_path(entry.saved).content == now.content


def _start_if_stopped(conn: Connection, ident: str, name: str, done: list[str]) -> None:
    if not (conn.inspect_container(ident).get("State") or {}).get("Running"):
        done.append(f"docker start {name}")
        conn.start(ident)


def _pause_if_running(conn: Connection, ident: str, name: str, done: list[str]) -> None:
    state = conn.inspect_container(ident).get("State") or {}
    if state.get("Running") and not state.get("Paused"):
        done.append(f"docker pause {name}")
        conn.pause(ident)


def _rejoin_all(conn: Connection, old_id: str, tx: Transaction, done: list[str]) -> None:
    """Bring every container joining the namespaces of the container put back along with it:
    those journaled before the change (their running state then), and any the engine shows
    joined to it (a sidecar still running in the namespace of its earlier run)."""
    target = conn.inspect_container(old_id)
    journaled = [e for e in tx.begin.tied or [] if e.id]
    journaled += [Tied(name=d.name, id=d.old_id, was_running=d.was_running) for d in tx.dependents]
    ties.rejoin(conn, old_id, [*journaled, *(ties.record(t) for t in tie_lookup.tied_to(conn, target))], done)


def _repark(conn: Connection, inspect: Json, parked: str, done: list[str]) -> None:
    """Make a backup a backup again: stopped, restart policy ``no``, under its backup name."""
    ident = str(inspect["Id"])
    if ((inspect.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") not in (None, "", "no"):
        conn.set_restart_policy(ident, {"Name": "no"})
    if (inspect.get("State") or {}).get("Running"):
        done.append(f"docker stop {ident[:12]}")
        conn.stop(ident, timeout=stop_timeout(inspect))
    if str(inspect.get("Name", "")).lstrip("/") != parked:
        done.append(f"docker rename {ident[:12]} {parked}")
        conn.rename(ident, parked)


def _disarm(conn: Connection, backup: str, _done: list[str]) -> None:
    compose_backup.disarm(conn, backup)
