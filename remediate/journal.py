"""Crash safety on each Docker host: a journal of every recreate, written before each step, and a
lock so two runs never work on one host at once.

Both live on the Docker host itself, under ``/var/lib/remediate/<engine ID>/`` (the root can be
set with ``REMEDIATE_STATE_DIR``),
so a crash of the controller, a dropped SSH connection or a reboot leaves a record next to the
containers it concerns. ``journal.jsonl`` holds one JSON object a line::

    {"tx": ID, "op": "begin", "container": NAME, "old_id": ..., "backup": ..., "temp": ...,
     "was_running": bool, "restart_policy": {...}, "files": [{"path", "saved", "mode"}], ...}
    {"tx": ID, "op": "step", "step": "files|created|stopped|parked|swapped|started|verified", ...}
    {"tx": ID, "op": "end", "result": "recreated|rolled back|rollback failed|recovered: ..."}

Previous file contents are saved under ``files/<tx>/`` before they are overwritten. Nothing
secret is written to the journal itself: specs are not stored, only names, ids and paths.

Every run reads ``journal.jsonl`` to refuse a host with an unfinished apply, so the file is kept
small: once it has grown past :data:`ROTATE_BYTES` and nothing in it is unfinished, it is moved
aside to ``journal-<time>.jsonl``; ``history`` and ``rollback`` still read those.
"""

from __future__ import annotations

import getpass
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from remediate.connection import Connection
from remediate.errors import LockedError, RecoverNeeded
from remediate.swap import stamp

Json = dict[str, Any]
DEFAULT_STATE_DIR = "/var/lib/remediate"
#: Size past which a finished journal file is moved aside (about a hundred applies).
ROTATE_BYTES = 256 * 1024
_ARCHIVE = "journal-"

#: Fault injection for the crash tests: pause (print, then sleep) right after journaling this step.
_PAUSE_ENV = "REMEDIATE_PAUSE_AT"


def state_dir(conn: Connection) -> str:
    """Where the journal and lock of this host's engine live, on that host."""
    return f"{os.environ.get('REMEDIATE_STATE_DIR') or DEFAULT_STATE_DIR}/{conn.engine_id}"


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
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.directory = self.directory or state_dir(self.conn)

    @property
    def path(self) -> str:
        """The journal file on the host."""
        return f"{self.directory}/journal.jsonl"

    def append(self, record: Json) -> None:
        """Append one record (durably) to the host's journal; safe from several threads."""
        with self._lock:
            self.conn.append_file(self.path, (json.dumps(record, sort_keys=True) + "\n").encode())

    def records(self, *, archived: bool = False) -> list[Json]:
        """Every record of the current file (with ``archived``: of the moved-aside ones before
        it too), oldest first; unreadable lines are skipped."""
        archives = sorted(n for n in self.conn.list_dir(self.directory)
                          if n.startswith(_ARCHIVE) and n.endswith(".jsonl")) if archived else []
        records: list[Json] = []
        for path in [*(f"{self.directory}/{n}" for n in archives), self.path]:
            records.extend(_parse(self.conn.read_path(path).content or b""))
        return records

    def transactions(self, *, archived: bool = False) -> list[Transaction]:
        """Transactions rebuilt from the records, oldest first."""
        return _transactions(self.records(archived=archived))

    def unfinished(self) -> list[Transaction]:
        """Transactions that began and never ended (a crash, a kill, a lost connection)."""
        return [t for t in self.transactions() if t.end is None]

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
        content = self.conn.read_path(self.path).content or b""
        transactions = _transactions(_parse(content))
        unfinished = [t for t in transactions if t.end is None]
        if unfinished:
            names = ", ".join(sorted({str(t.begin.get("container")) for t in unfinished}))
            raise RecoverNeeded(f"{self.conn.label}: an earlier apply did not finish ({names}); "
                                "run `remediate recover` first", host=self.conn.label)
        if len(content) > self.rotate_bytes and not _pending_reverts(transactions):
            self.conn.rename_file(self.path, f"{self.directory}/{_ARCHIVE}{stamp()}.jsonl")

    @staticmethod
    def new_id() -> str:
        """A fresh transaction id."""
        return uuid.uuid4().hex[:12]

    def begin(self, tx: str, **fields: Any) -> None:
        """Start transaction ``tx`` (its previous file contents must already be saved)."""
        self.append({"tx": tx, "op": "begin", "time": _now(), **controller(), **fields})

    def step(self, tx: str, step: str, **fields: Any) -> None:
        """Record that a step is done (before the next one starts)."""
        self.append({"tx": tx, "op": "step", "step": step, "time": _now(), **fields})
        if os.environ.get(_PAUSE_ENV) == step:
            print(f"remediate: paused at {step}", file=sys.stderr, flush=True)
            time.sleep(3600)

    def end(self, tx: str, result: str, **fields: Any) -> None:
        """Close a transaction with its result."""
        self.append({"tx": tx, "op": "end", "result": result, "time": _now(), **fields})

    def save_file(self, tx: str, index: int, content: bytes) -> str:
        """Keep a file's previous content for undo and rollback; returns where it is saved."""
        path = f"{self.directory}/files/{tx}/{index}"
        self.conn.write_file(path, content, 0o600)
        return path


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

    def done(self, step: str) -> bool:
        """True when the journal says ``step`` completed."""
        return any(s.get("step") == step for s in self.steps)

    def value(self, key: str) -> Any:
        """The last value recorded for ``key`` in begin or step records."""
        for record in reversed(self.steps):
            if key in record:
                return record[key]
        return self.begin.get(key)


def _parse(content: bytes) -> list[Json]:
    records = []
    for line in content.decode("utf-8", "replace").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a torn last line after a crash
    return records


def _transactions(records: list[Json]) -> list[Transaction]:
    by_tx: dict[str, Transaction] = {}
    for record in records:
        tx = record.get("tx")
        if not tx:
            continue
        if record.get("op") == "begin":
            by_tx[tx] = Transaction(begin=record)
        elif tx in by_tx:
            by_tx[tx].add(record)
    return list(by_tx.values())


def _pending_reverts(transactions: list[Transaction]) -> list[Transaction]:
    pending, touched = [], set()
    for tx in reversed(transactions):
        container = tx.begin.get("container")
        if tx.end and tx.end.get("revert_at") is not None and container not in touched and not tx.revert_dropped:
            pending.append(tx)
        touched.add(container)
    return pending[::-1]


# --------------------------------------------------------------------------- locks

@dataclass
class HostLock:
    """An exclusive lock on one Docker host, held for an apply, a rollback or a recover."""

    conn: Connection
    purpose: str
    directory: str = ""
    _held: bool = False

    def __post_init__(self) -> None:
        self.directory = self.directory or state_dir(self.conn)

    @property
    def path(self) -> str:
        """The lock file on the host."""
        return f"{self.directory}/lock"

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or take over a stale one.

        Raises:
            LockedError: another live run holds it (the message says who).
        """
        record = {**controller(), "purpose": self.purpose, "time": _now(), "started": _process_start(os.getpid())}
        data = json.dumps(record).encode()
        for _ in range(2):
            if self.conn.create_exclusive(self.path, data):
                self._held = True
                return
            holder = self._holder()
            if holder is not None and not _is_stale(holder):
                raise LockedError(
                    f"{self.conn.label}: locked by {holder.get('user')}@{holder.get('controller')} "
                    f"(pid {holder.get('pid')}, {holder.get('purpose')}, since {holder.get('time')})",
                    host=self.conn.label)
            self.conn.remove_file(self.path)  # stale: its process is gone
        raise LockedError(f"{self.conn.label}: could not take the lock {self.path}", host=self.conn.label)

    def release(self) -> None:
        """Give the lock back (only if we hold it)."""
        if self._held:
            self.conn.remove_file(self.path)
            self._held = False

    def _holder(self) -> Json | None:
        state = self.conn.read_path(self.path)
        if not state.exists or not state.content:
            return None
        try:
            holder = json.loads(state.content)
        except json.JSONDecodeError:
            return None
        return holder if isinstance(holder, dict) else None


def _process_start(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _is_stale(holder: Json) -> bool:
    """A lock is stale when its holder ran on this machine and that process is gone."""
    if holder.get("controller") != socket.gethostname():
        return False  # another machine's process: cannot tell, never break it
    pid = int(holder.get("pid") or 0)
    if pid <= 0:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return holder.get("started") is not None and _process_start(pid) != holder.get("started")


def history(journal: Journal, container: str | None = None) -> Iterator[Json]:
    """Finished and unfinished applies on the host, newest first."""
    transactions = journal.transactions(archived=True)
    pending = {tx.id for tx in _pending_reverts(transactions)}  # later ones decide: archives change nothing
    for tx in reversed(transactions):
        if container and tx.begin.get("container") != container:
            continue
        result = tx.end.get("result") if tx.end else "unfinished (run remediate recover)"
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
