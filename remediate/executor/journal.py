"""The journal of each Docker host: every recreate, a record written before each step
(:mod:`remediate.executor.record`), so a crash of the controller, a dropped SSH connection or a
reboot leaves the undo log next to the containers it concerns.

It lives on the Docker host itself, in its state directory ``<root>/<engine ID>/``
(:mod:`remediate.executor.statedir`), as ``journal.jsonl``: one record a line. Previous file
contents are saved under ``files/<tx>/<index>`` before they are overwritten (the only place an
undo reads them from, :meth:`Journal.files_of`), and a file entry's ``written`` is the SHA-256 of
what the transaction puts at the path (null: it removes the file): an undo puts back only a file
that still holds what its transaction wrote there (or already what it had). Nothing secret is
written to the journal itself: specs are not stored, only names, ids and paths.

Every record is appended as a whole line of its own (all or nothing, fsynced; see
:meth:`remediate.host.files.HostFiles.append`); reading skips damaged lines with a warning
(logger ``remediate.executor.journal``, :mod:`remediate.executor.lines`), and ``recover`` moves
them aside (:meth:`Journal.heal`).

Every run reads ``journal.jsonl`` to refuse a host with an unfinished apply, so the file is kept
small: once it has grown past :data:`ROTATE_BYTES` and nothing in it is unfinished, it is moved
aside to ``journal-<time>.jsonl``; ``history`` and ``rollback`` still read those. Running a
transaction is :mod:`remediate.executor.txn`; the host's lock :mod:`remediate.executor.lock`.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from remediate.core.naming import stamp
from remediate.errors import ApplyError, JournalError, RecoverNeeded
from remediate.executor.lines import Parsed, parse
from remediate.executor.lock import HostLock
from remediate.executor.record import Begin, Ended, FileEntry, Record, RevertDropped, encode, now
from remediate.executor.statedir import JOURNAL, state_dir
from remediate.executor.transaction import Transaction, group, pending_reverts, unfinished_names
from remediate.host.connection import Connection

#: Size past which a finished journal file is moved aside (about a hundred applies).
ROTATE_BYTES = 256 * 1024
_ARCHIVE = "journal-"
#: Room held on the host's disk while a run changes anything, freed for its own records if the
#: disk fills up meanwhile: an apply never loses a record it writes after its first change.
RESERVE_BYTES = 16 * 1024

RecordHook = Callable[[Record], None]
#: Called with each record once it is durably appended, by every journal made without an
#: ``on_record`` of its own. A test seam (the crash tests pause there); unset in normal use.
default_on_record: RecordHook | None = None

_log = logging.getLogger(__name__)


@dataclass
class Journal:
    """The journal of one Docker host (appends only)."""

    conn: Connection
    directory: str = ""
    rotate_bytes: int = ROTATE_BYTES
    #: Called with each record once it is durably appended (see :data:`default_on_record`).
    on_record: RecordHook | None = field(default_factory=lambda: default_on_record)
    #: What reading found damaged (each said once): lines skipped, records without a begin.
    warnings: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _reserve: str | None = field(default=None, repr=False)
    _written: dict[str, Transaction] = field(default_factory=dict, repr=False)
    #: The caller holds the host's lock (:meth:`under`): nothing but this journal changes its
    #: files meanwhile, so each is read from the host once, and again only after this journal
    #: changed it.
    held: bool = False
    #: Each file's bytes as last read, and their parse: one rollback reads the journal several
    #: times, and the same bytes are not validated again.
    _parsed: dict[str, tuple[bytes, Parsed]] = field(default_factory=dict, repr=False)
    _archives: list[str] | None = field(default=None, repr=False)
    _changes: int = field(default=0, repr=False)

    def __post_init__(self) -> None:
        self.directory = self.directory or state_dir(self.conn)

    @classmethod
    def under(cls, lock: HostLock) -> Journal:
        """The journal of the host ``lock`` is taken on, for as long as it is held (``held``):
        a rollback reads it a dozen times, each a walk of its path and a read over SSH."""
        return cls(lock.conn, directory=lock.directory, held=True)

    @property
    def path(self) -> str:
        """The journal file on the host."""
        return f"{self.directory}/{JOURNAL}"

    def append(self, record: Record) -> None:
        """Append one record (durably, as a whole line) to the host's journal; safe from several
        threads.

        Raises:
            JournalError: it could not be written (nothing of it is left in the file).
        """
        line = encode(record)
        with self._lock, self._changing():
            try:
                self.conn.append_file(self.path, line)
            except ApplyError as exc:
                if self._reserve is None:
                    raise self._unwritable(exc) from exc
                # The disk filled up during the run: its reserve makes room for its own records.
                self._free_reserve()
                try:
                    self.conn.append_file(self.path, line)
                except ApplyError as again:
                    raise self._unwritable(again) from again
            if isinstance(record, Begin):
                self._written[record.tx] = Transaction(begin=record)
            elif record.tx in self._written:
                self._written[record.tx].add(record)
        if self.on_record is not None:
            self.on_record(record)

    def written(self, tx: str) -> Transaction:
        """Transaction ``tx`` as this journal wrote it (the records appended, as the file holds
        them): what undoes it in the process that made it.

        Raises:
            KeyError: this journal wrote no begin of ``tx``.
        """
        with self._lock:
            return copy.deepcopy(self._written[tx])

    def _unwritable(self, exc: ApplyError) -> JournalError:
        label = self.conn.label
        return JournalError(f"{label}: cannot write the journal: {exc.message.removeprefix(f'{label}: ')}", host=label)

    @contextlib.contextmanager
    def reserved(self) -> Iterator[None]:
        """Hold :data:`RESERVE_BYTES` of the host's disk beside the journal for the block (a run
        that changes things), so a disk filling up meanwhile cannot cost a record of it.

        Raises:
            JournalError: no room for it: the host's disk is full, nothing was changed.
        """
        path = f"{self.directory}/reserve"
        try:
            self.conn.write_file(path, b"\0" * RESERVE_BYTES, 0o600)
        except ApplyError as exc:
            label = self.conn.label
            raise JournalError(f"{label}: no room for the journal, nothing was changed: "
                               f"{exc.message.removeprefix(f'{label}: ')}", host=label) from exc
        self._reserve = path
        try:
            yield
        finally:
            with self._lock:
                self._free_reserve()

    def _free_reserve(self) -> None:
        if self._reserve is not None:
            path, self._reserve = self._reserve, None
            self.conn.remove_file(path)

    def _read(self, path: str) -> Parsed:
        known = self._parsed.get(path)
        if known is None or not self.held:
            changes = self._changes
            content = self.conn.read_path(path).content or b""
            if known is None or known[0] != content:
                known = (content, parse(content, path))
                if changes == self._changes:  # else another thread changed the file meanwhile
                    self._parsed[path] = known
        self._warn(known[1].problems)
        return known[1]

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Around a change of the files: what was read of them is forgotten once it is made,
        and a read another thread made meanwhile is not kept."""
        try:
            yield
        finally:
            self._changes += 1
            self._parsed.clear()
            self._archives = None

    def _warn(self, problems: list[str]) -> None:
        for problem in problems:
            message = f"{self.conn.label}: {problem}"
            if message not in self.warnings:
                self.warnings.append(message)
                _log.warning("%s", message)

    def records(self, *, archived: bool = False) -> list[Record]:
        """Every record of the current file (with ``archived``: of the moved-aside ones before
        it too), oldest first; damaged lines are skipped (see :attr:`warnings`)."""
        archives = self._archived() if archived else []
        records: list[Record] = []
        for path in [*(f"{self.directory}/{n}" for n in archives), self.path]:
            records.extend(self._read(path).records)
        return records

    def _archived(self) -> list[str]:
        """The names of the moved-aside files, oldest first."""
        if self._archives is not None and self.held:
            return self._archives
        changes = self._changes
        names = sorted(n for n in self.conn.list_dir(self.directory) if n.startswith(_ARCHIVE) and n.endswith(".jsonl"))
        if changes == self._changes:
            self._archives = names
        return names

    def heal(self) -> str | None:
        """Move the damaged lines of the journal file (a torn last record, bytes that are no
        record) aside to ``damaged-<time>.txt`` and keep the rest; call it under the host's lock.

        Returns:
            Where the damaged lines went, or None when there were none.
        """
        parsed = self._read(self.path)
        if not parsed.damaged:
            return None
        aside = f"{self.directory}/damaged-{stamp()}.txt"
        with self._changing():
            self.conn.write_file(aside, b"\n".join(parsed.damaged) + b"\n", 0o600)
            self.conn.write_file(self.path, parsed.clean, 0o600)
        self._warn([f"moved {len(parsed.damaged)} damaged line(s) of the journal aside to {aside}"])
        return aside

    def transactions(self, *, archived: bool = False) -> list[Transaction]:
        """Transactions rebuilt from the records, oldest first."""
        transactions, orphans = group(self.records(archived=archived))
        self._warn(orphans)
        return transactions

    def unfinished(self) -> list[Transaction]:
        """Transactions not settled: never ended (a crash, a kill, a lost connection) or ended
        in a state that is not clean (``rollback failed``: the engine died, say)."""
        return [t for t in self.transactions() if not t.settled]

    def pending_reverts(self) -> list[Transaction]:
        """Time-boxed applies (``revert_at``) not yet undone: no later transaction touched the
        container (the revert is a rollback of it), and not dropped (see :meth:`drop_revert`)."""
        return pending_reverts(self.transactions())

    def drop_revert(self, tx: str, reason: str) -> None:
        """Give up a time-boxed revert (its container changed outside remediate)."""
        self.append(RevertDropped(tx=tx, reason=reason, time=now()))

    def require_finished(self) -> None:
        """Refuse a host whose journal has an unfinished apply; call it under the host's lock.

        A finished journal grown past ``rotate_bytes`` is moved aside here, so the next run
        reads a small file.

        Raises:
            RecoverNeeded: says which containers, and to run ``remediate recover``.
        """
        parsed = self._read(self.path)
        transactions, orphans = group(parsed.records)
        self._warn(orphans)
        names = unfinished_names(transactions)
        if names:
            raise RecoverNeeded(f"{self.conn.label}: an earlier apply did not finish ({', '.join(names)}); "
                                "run `remediate recover` first", host=self.conn.label)
        if parsed.size > self.rotate_bytes and not pending_reverts(transactions):
            with self._changing():
                self.conn.rename_file(self.path, f"{self.directory}/{_ARCHIVE}{stamp()}.jsonl")

    @staticmethod
    def new_id() -> str:
        """A fresh transaction id."""
        return uuid.uuid4().hex[:12]

    def end(self, tx: str, result: str, **fields: object) -> None:
        """Close a transaction with its result (an :class:`~remediate.executor.record.End` word);
        ``fields`` as :class:`~remediate.executor.record.Ended` has them."""
        self.append(Ended.model_validate({"tx": tx, "result": result, "time": now(), **fields}))

    def save_file(self, tx: str, index: int, content: bytes) -> str:
        """Keep a file's previous content for undo and rollback; returns where it is saved."""
        path = self._saved_path(tx, index)
        self.conn.write_file(path, content, 0o600)
        return path

    def _saved_path(self, tx: str, index: int) -> str:
        return f"{self.directory}/files/{tx}/{index}"

    def files_of(self, tx: Transaction) -> list[FileEntry]:
        """The file entries of ``tx``'s begin record, checked against the transaction: each path
        absolute and normal, each saved copy the one this journal keeps for that entry
        (``files/<tx>/<index>`` in this state directory).

        Raises:
            JournalError: an entry does not fit (the message names it); nothing was touched.
        """
        entries = tx.begin.files or []
        for index, entry in enumerate(entries):
            path, saved = entry.path, entry.saved
            if not path.startswith("/") or os.path.normpath(path) != path:
                raise JournalError(f"{self.conn.label}: transaction {tx.id} names a file that is not an absolute, "
                                   f"normal path ({path}); left alone", host=self.conn.label)
            if saved is not None and saved != self._saved_path(tx.id, index):
                raise JournalError(f"{self.conn.label}: transaction {tx.id} names a saved copy of {path} outside "
                                   f"its own ({saved}, not {self._saved_path(tx.id, index)}); left alone",
                                   host=self.conn.label)
        return list(entries)


@contextlib.contextmanager
def locked_journal(conn: Connection, purpose: str, journal: Journal | None = None, *,
                   locked: bool = False) -> Iterator[Journal]:
    """The host's lock, taken for ``purpose`` for the block (not when the caller holds it:
    ``locked``), and the journal to use under it: ``journal`` when given, else one opened under
    the lock (:meth:`Journal.under`).

    Raises:
        LockedError: another run holds the host.
        StateDirError: the state directory is not safe or not usable.
    """
    if locked:
        yield journal or Journal(conn)
        return
    with HostLock(conn, purpose) as lock:
        yield journal or Journal.under(lock)
