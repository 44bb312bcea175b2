"""Crash safety on each Docker host: a journal of every recreate, written before each step, and a
lock (:mod:`remediate.executor.lock`) so two runs never work on one host at once.

Both live on the Docker host itself, in its state directory ``<root>/<engine ID>/``
(:mod:`remediate.executor.statedir`: ``/var/lib/remediate`` for root, ``~/.local/state/remediate``
for another user, or ``REMEDIATE_STATE_DIR``; trusted only when no other user can write it), so a crash of the controller, a dropped SSH connection or a reboot leaves a record next to the
containers it concerns. ``journal.jsonl`` holds one JSON object a line::

    {"v": 1, "tx": ID, "op": "begin", "container": NAME, "old_id": ..., "backup": ..., "temp": ...,
     "was_running": bool, "restart_policy": {...}, "files": [{"path", "saved", "mode", "written", "owner"}],
     "dirs": [the directories the change creates, outermost first],
     "run": ID of the host's apply (its transactions own its files jointly),
     "tied": [{"name", "id", "was_running"}] (the neighbours joined to it),
     "old_image", "new_image": image ids of an image change (the original's, the new one's), ...}
    {"v": 1, "tx": ID, "op": "step", "step": "files|created|stopped|parked|swapped|started|dependent|verified", ...}
    {"v": 1, "tx": ID, "op": "end", "result": "recreated|rolled back|rollback failed|restored|recovered: ...|..."}

The words are :class:`Kind` (a begin's ``kind``), :class:`Step` and :class:`End`. The records of
a transaction are its undo log: an apply or rollback that fails in-process and ``recover`` undo it
with the same code from them (:func:`remediate.executor.undo.undo`).

``v`` is the record format (records without it are version 0, read the same way). Previous file
contents are saved under ``files/<tx>/<index>`` before they are overwritten (the only place an
undo reads them from, :meth:`Journal.files_of`), and ``written`` is the SHA-256 of what the
transaction puts at the path (null: it removes the file): an undo puts back only a file that still
holds what its transaction wrote there (or already what it had). Nothing secret is written
to the journal itself: specs are not stored, only names, ids and paths.

Damage is expected (a full disk, a crash mid-write, a hand edit): every record is appended as a
whole line of its own (all or nothing, fsynced; see :meth:`remediate.host.files.HostFiles.append`),
and reading skips lines that are not a record of the right shape, with a warning (logger
``remediate.executor.journal``), without losing the record after them. ``recover`` moves damaged lines
aside (:meth:`Journal.heal`). A transaction is settled only by an end that leaves a clean state
(:data:`SETTLED`); any other end (``rollback failed``, ``recover failed``) leaves it for ``recover``.

Every run reads ``journal.jsonl`` to refuse a host with an unfinished apply, so the file is kept
small: once it has grown past :data:`ROTATE_BYTES` and nothing in it is unfinished, it is moved
aside to ``journal-<time>.jsonl``; ``history`` and ``rollback`` still read those.
"""

from __future__ import annotations

import contextlib
import copy
import getpass
import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from remediate.errors import ApplyError, ConnectError, JournalError, RecoverNeeded
from remediate.executor.statedir import state_dir
from remediate.host.connection import Connection

Json = dict[str, Any]
#: Size past which a finished journal file is moved aside (about a hundred applies).
ROTATE_BYTES = 256 * 1024
_ARCHIVE = "journal-"
#: The record format written now (a record without ``v`` is version 0).
VERSION = 1
#: Room held on the host's disk while a run changes anything, freed for its own records if the
#: disk fills up meanwhile: an apply never loses a record it writes after its first change.
RESERVE_BYTES = 16 * 1024


class Kind(StrEnum):
    """What a transaction does (a begin record's ``kind``; none: an apply)."""

    APPLY = "apply"
    ROLLBACK = "rollback"


class Step(StrEnum):
    """A step of a transaction, journaled once it is done (before the next one starts)."""

    FILES = "files"
    CREATED = "created"
    STOPPED = "stopped"
    PARKED = "parked"
    SWAPPED = "swapped"
    STARTED = "started"
    #: A tied container is about to follow the change (its record is under ``dependent``).
    DEPENDENT = "dependent"
    VERIFIED = "verified"


class End(StrEnum):
    """How a transaction ended (an end record's ``result``)."""

    RECREATED = "recreated"
    ROLLED_BACK = "rolled back"
    ROLLBACK_FAILED = "rollback failed"
    RESTORED = "restored"
    RECOVERED_KEPT = "recovered: kept the verified new container"
    RECOVERED_RESTORED = "recovered: restored the original"
    RECOVER_FAILED = "recover failed"


#: End results that leave a clean state; any other end is finished by ``recover``.
SETTLED = (End.RECREATED, End.ROLLED_BACK, End.RESTORED)
_SETTLED_PREFIX = "recovered: "
_OPS = ("begin", "step", "end", "revert-dropped")

RecordHook = Callable[[dict[str, Any]], None]
#: Called with each record once it is durably appended, by every journal made without an
#: ``on_record`` of its own. A test seam (the crash tests pause there); unset in normal use.
default_on_record: RecordHook | None = None

_log = logging.getLogger(__name__)


def digest(content: bytes) -> str:
    """What a file entry's ``written`` holds for ``content``."""
    return hashlib.sha256(content).hexdigest()


def stamp() -> str:
    """A UTC time stamp for backup and file names (sorts by time)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def controller() -> Json:
    """Who is running remediate: user, machine and process."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"user": user, "controller": socket.gethostname(), "pid": os.getpid()}


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

    def __post_init__(self) -> None:
        self.directory = self.directory or state_dir(self.conn)

    @property
    def path(self) -> str:
        """The journal file on the host."""
        return f"{self.directory}/journal.jsonl"

    def append(self, record: Json) -> None:
        """Append one record (durably, as a whole line) to the host's journal; safe from several
        threads.

        Raises:
            JournalError: it could not be written (nothing of it is left in the file).
        """
        versioned = {"v": VERSION, **record}
        line = (json.dumps(versioned, sort_keys=True) + "\n").encode()
        with self._lock:
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
            if record.get("op") == "begin":
                self._written[str(record["tx"])] = Transaction(begin=versioned)
            elif str(record.get("tx")) in self._written:
                self._written[str(record["tx"])].add(versioned)
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
        parsed = parse(self.conn.read_path(path).content or b"", path)
        self._warn(parsed.problems)
        return parsed

    def _warn(self, problems: list[str]) -> None:
        for problem in problems:
            message = f"{self.conn.label}: {problem}"
            if message not in self.warnings:
                self.warnings.append(message)
                _log.warning("%s", message)

    def records(self, *, archived: bool = False) -> list[Json]:
        """Every record of the current file (with ``archived``: of the moved-aside ones before
        it too), oldest first; damaged lines are skipped (see :attr:`warnings`)."""
        archives = sorted(n for n in self.conn.list_dir(self.directory)
                          if n.startswith(_ARCHIVE) and n.endswith(".jsonl")) if archived else []
        records: list[Json] = []
        for path in [*(f"{self.directory}/{n}" for n in archives), self.path]:
            records.extend(self._read(path).records)
        return records

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
        self.conn.write_file(aside, b"\n".join(parsed.damaged) + b"\n", 0o600)
        self.conn.write_file(self.path, parsed.clean, 0o600)
        self._warn([f"moved {len(parsed.damaged)} damaged line(s) of the journal aside to {aside}"])
        return aside

    def transactions(self, *, archived: bool = False) -> list[Transaction]:
        """Transactions rebuilt from the records, oldest first."""
        transactions, orphans = _transactions(self.records(archived=archived))
        self._warn(orphans)
        return transactions

    def unfinished(self) -> list[Transaction]:
        """Transactions not settled: never ended (a crash, a kill, a lost connection) or ended
        in a state that is not clean (``rollback failed``: the engine died, say)."""
        return [t for t in self.transactions() if not t.settled]

    def pending_reverts(self) -> list[Transaction]:
        """Time-boxed applies (``revert_at``) not yet undone: no later transaction touched the
        container (the revert is a rollback of it), and not dropped (see :meth:`drop_revert`)."""
        return _pending_reverts(self.transactions())

    def drop_revert(self, tx: str, reason: str) -> None:
        """Give up a time-boxed revert (its container changed outside remediate)."""
        self.append({"tx": tx, "op": "revert-dropped", "reason": reason, "time": _now()})

    def require_finished(self) -> None:
        """Refuse a host whose journal has an unfinished apply; call it under the host's lock.

        A finished journal grown past ``rotate_bytes`` is moved aside here, so the next run
        reads a small file.

        Raises:
            RecoverNeeded: says which containers, and to run ``remediate recover``.
        """
        parsed = self._read(self.path)
        transactions, orphans = _transactions(parsed.records)
        self._warn(orphans)
        names = _unfinished_names(transactions)
        if names:
            raise RecoverNeeded(f"{self.conn.label}: an earlier apply did not finish ({', '.join(names)}); "
                                "run `remediate recover` first", host=self.conn.label)
        if parsed.size > self.rotate_bytes and not _pending_reverts(transactions):
            self.conn.rename_file(self.path, f"{self.directory}/{_ARCHIVE}{stamp()}.jsonl")

    @staticmethod
    def new_id() -> str:
        """A fresh transaction id."""
        return uuid.uuid4().hex[:12]

    def begin(self, tx: str, **fields: Any) -> None:
        """Start transaction ``tx`` (its previous file contents must already be saved)."""
        self.append({"tx": tx, "op": "begin", "time": _now(), **controller(), **fields})

    def step(self, tx: str, step: Step, **fields: Any) -> None:
        """Record that a step is done (before the next one starts)."""
        self.append({"tx": tx, "op": "step", "step": step, "time": _now(), **fields})

    def end(self, tx: str, result: End, **fields: Any) -> None:
        """Close a transaction with its result."""
        self.append({"tx": tx, "op": "end", "result": result, "time": _now(), **fields})

    def save_file(self, tx: str, index: int, content: bytes) -> str:
        """Keep a file's previous content for undo and rollback; returns where it is saved."""
        path = self._saved_path(tx, index)
        self.conn.write_file(path, content, 0o600)
        return path

    def _saved_path(self, tx: str, index: int) -> str:
        return f"{self.directory}/files/{tx}/{index}"

    def files_of(self, tx: Transaction) -> list[Json]:
        """The file entries of ``tx``'s begin record, checked against the transaction: each path
        absolute and normal, each saved copy the one this journal keeps for that entry
        (``files/<tx>/<index>`` in this state directory).

        Raises:
            JournalError: an entry does not fit (the message names it); nothing was touched.
        """
        entries = tx.begin.get("files") or []
        for index, entry in enumerate(entries):
            path, saved = str(entry["path"]), entry.get("saved")
            if not path.startswith("/") or os.path.normpath(path) != path:
                raise JournalError(f"{self.conn.label}: transaction {tx.id} names a file that is not an absolute, "
                                   f"normal path ({path}); left alone", host=self.conn.label)
            if saved is not None and saved != self._saved_path(tx.id, index):
                raise JournalError(f"{self.conn.label}: transaction {tx.id} names a saved copy of {path} outside "
                                   f"its own ({saved}, not {self._saved_path(tx.id, index)}); left alone",
                                   host=self.conn.label)
        return [dict(e) for e in entries]


@dataclass
class Transaction:
    """One recreate of one container, as the journal tells it."""

    begin: Json
    steps: list[Json] = field(default_factory=list)
    end: Json | None = None
    revert_dropped: bool = False

    def add(self, record: Json) -> None:
        """Add a step, end or revert-dropped record."""
        if record.get("op") == "end":
            self.end = record
        elif record.get("op") == "step":
            self.steps.append(record)
        elif record.get("op") == "revert-dropped":
            self.revert_dropped = True

    @property
    def id(self) -> str:
        """The transaction id."""
        return str(self.begin["tx"])

    @property
    def settled(self) -> bool:
        """True when it ended in a clean state (see :data:`SETTLED`): nothing left for ``recover``."""
        result = str(self.end.get("result")) if self.end else ""
        return result in SETTLED or result.startswith(_SETTLED_PREFIX)

    @property
    def kind(self) -> Kind:
        """What the transaction does (records without a kind are applies)."""
        return Kind.ROLLBACK if self.begin.get("kind") == Kind.ROLLBACK else Kind.APPLY

    @property
    def dependents(self) -> list[Json]:
        """The tied containers it re-created to follow the change (journaled before each was
        touched), in order."""
        return [s["dependent"] for s in self.steps if s.get("step") == Step.DEPENDENT and s.get("dependent")]

    def done(self, step: Step) -> bool:
        """True when the journal says ``step`` completed."""
        return any(s.get("step") == step for s in self.steps)

    def value(self, key: str) -> Any:
        """The last value recorded for ``key`` in begin or step records."""
        for record in reversed(self.steps):
            if key in record:
                return record[key]
        return self.begin.get(key)


@dataclass(frozen=True)
class Parsed:
    """A journal file as read: its records, what was wrong with it, and the file without it."""

    records: list[Json]
    problems: list[str]
    damaged: list[bytes]
    clean: bytes
    size: int


def parse(content: bytes, where: str = "journal") -> Parsed:
    """Read the records of a journal file, skipping (and describing) every damaged line: one that
    is no JSON, JSON of the wrong shape (see :func:`check_record`), or a torn last record.
    A record glued to bytes before it on its line (an older writer did not start each record on
    a fresh line) is still read.
    """
    name = where.rsplit("/", 1)[-1]
    records: list[Json] = []
    problems: list[str] = []
    damaged: list[bytes] = []
    clean: list[bytes] = []
    lines = content.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        record, start = _decode(line)
        why = "not a journal record" if record is None else check_record(record)
        if why is None:
            records.append(record)
            clean.append(line[start:])
            if start:
                damaged.append(line[:start])
                problems.append(f"{name} line {number}: bytes before a record skipped")
            continue
        damaged.append(line)
        torn = number == len(lines) and record is None
        problems.append(f"{name} line {number}: " + ("torn last record (an interrupted write); "
                                                      "`remediate recover` moves it aside" if torn
                                                      else f"{why}; skipped"))
    return Parsed(records, problems, damaged, b"".join(c + b"\n" for c in clean), len(content))


def _decode(line: bytes) -> tuple[Any, int]:
    """The JSON value of a line and where it starts in it (the last ``{`` from which the rest of
    the line is one JSON object); (None, 0) when there is none."""
    try:
        return json.loads(line), 0
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    start = line.rfind(b"{")
    while start > 0:
        try:
            text = line[start:].decode("utf-8")
            value, stop = decoder.raw_decode(text)
            if isinstance(value, dict) and not text[stop:].strip():
                return value, start
        except ValueError:
            pass
        start = line.rfind(b"{", 0, start)
    return None, 0


_BEGIN_TEXT = ("container", "old_id")
_OPTIONAL_TEXT = {"begin": ("kind", "temp", "backup", "playbook", "new_id", "old_image", "new_image"), "step": ("new_id",),
                  "end": ("new_id", "error"), "revert-dropped": ("reason",)}


def check_record(record: Any) -> str | None:
    """Why ``record`` is not a journal record of a shape this version reads, or None if it is.

    Only what is read back is checked: ``tx`` and ``op``; a begin's container, ids, policy and
    files; a step's name and its dependent; an end's result and revert time.

    >>> check_record({"tx": "a1", "op": "begin"})
    'a begin record without container'
    """
    if not isinstance(record, dict):
        return f"not a JSON object ({type(record).__name__})"
    version = record.get("v", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        return "bad record version"
    if not isinstance(record.get("tx"), str) or not record["tx"]:
        return "no transaction id"
    op = record.get("op")
    if op not in _OPS:
        return f"unknown op {str(op)[:20]!r}"
    if op == "begin":
        for key in _BEGIN_TEXT:
            if not isinstance(record.get(key), str) or not record[key]:
                return f"a begin record without {key}"
        if not isinstance(record.get("restart_policy"), dict | None):
            return "a begin record with a bad restart_policy"
        if not isinstance(record.get("was_running", False), bool):
            return "a begin record with a bad was_running"
        if not isinstance(record.get("revert_after"), int | float | None) or isinstance(record.get("revert_after"), bool):
            return "a begin record with a bad revert_after"
        files = record.get("files") or []
        if not isinstance(files, list) or not all(_file_entry(f) for f in files):
            return "a begin record with bad files"
        dirs = record.get("dirs") or []
        if not isinstance(dirs, list) or not all(isinstance(d, str) and d.startswith("/") for d in dirs):
            return "a begin record with bad dirs"
    elif op == "step":
        if not isinstance(record.get("step"), str):
            return "a step record without step"
        dep = record.get("dependent")
        if dep is not None and not (isinstance(dep, dict) and all(isinstance(dep.get(k), str)
                                                                   for k in ("name", "old_id", "temp"))
                                    and isinstance(dep.get("restart_policy"), dict | None)):
            return "a step record with a bad dependent"
    elif op == "end":
        if not isinstance(record.get("result"), str):
            return "an end record without result"
        due = record.get("revert_at")
        if due is not None and (not isinstance(due, int | float) or isinstance(due, bool)):
            return "an end record with a bad revert_at"
    for key in _OPTIONAL_TEXT[op]:
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"a {op} record with a bad {key}"
    return None


def _file_entry(entry: Any) -> bool:
    return (isinstance(entry, dict) and isinstance(entry.get("path"), str)
            and isinstance(entry.get("saved"), str | None) and isinstance(entry.get("written"), str | None)
            and isinstance(entry.get("mode"), int | None) and not isinstance(entry.get("mode"), bool)
            and (entry.get("owner") is None or (isinstance(entry["owner"], list) and len(entry["owner"]) == 2
                                                and all(type(i) is int and i >= 0 for i in entry["owner"]))))


def _transactions(records: list[Json]) -> tuple[list[Transaction], list[str]]:
    """Transactions of the records, and a warning per transaction whose begin is missing."""
    by_tx: dict[str, Transaction] = {}
    orphans: dict[str, None] = {}
    for record in records:
        tx = record["tx"]
        if record["op"] == "begin":
            by_tx[tx] = Transaction(begin=record)
        elif tx in by_tx:
            by_tx[tx].add(record)
        else:
            orphans[tx] = None
    return list(by_tx.values()), [f"records of transaction {tx} without its begin record skipped" for tx in orphans]


def _pending_reverts(transactions: list[Transaction]) -> list[Transaction]:
    pending, touched = [], set()
    for tx in reversed(transactions):
        container = tx.begin.get("container")
        if tx.end and tx.end.get("revert_at") is not None and container not in touched and not tx.revert_dropped:
            pending.append(tx)
        touched.add(container)
    return pending[::-1]


def history(journal: Journal, container: str | None = None) -> Iterator[Json]:
    """Finished and unfinished applies on the host, newest first."""
    transactions = journal.transactions(archived=True)
    pending = {tx.id for tx in _pending_reverts(transactions)}  # later ones decide: archives change nothing
    for tx in reversed(transactions):
        if container and tx.begin.get("container") != container:
            continue
        if tx.end is None:
            result = "unfinished (run remediate recover)"
        else:
            result = str(tx.end.get("result")) + ("" if tx.settled else " (run remediate recover)")
        if tx.id in pending and tx.end:
            due = float(tx.end["revert_at"])
            when = datetime.fromtimestamp(due, UTC).isoformat(timespec="seconds")
            late = "; overdue: run remediate recover" if due < time.time() else ""
            result = f"{result}; time-boxed, restore due {when}{late}"
        yield {
            "time": tx.begin.get("time"), "container": tx.begin.get("container"),
            "playbook": tx.begin.get("playbook"), "user": tx.begin.get("user"),
            "controller": tx.begin.get("controller"), "kind": tx.begin.get("kind", "apply"),
            "result": result,
            "backup": tx.begin.get("backup"), "tx": tx.id,
        }


def warn_unfinished(conn: Connection) -> bool:
    """Log one warning when the host's journal shows an unfinished apply (for the commands that
    only read, a dry run and diagnose, which go on); a host without a file channel (a ``tcp://``
    engine on another machine) is not checked.

    Returns:
        True when it warned.
    """
    try:
        names = _unfinished_names(Journal(conn).unfinished())
    except ConnectError:
        return False
    if names:
        _log.warning("%s: an earlier apply did not finish (%s): run `remediate recover`", conn.label,
                     ", ".join(names))
    return bool(names)


def _unfinished_names(transactions: Iterable[Transaction]) -> list[str]:
    return sorted({str(t.begin.get("container")) for t in transactions if not t.settled})
