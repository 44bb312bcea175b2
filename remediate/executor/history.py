"""What the journals tell a reader: the applies and rollbacks on a host (``remediate history``),
and a warning for the commands that only read when an earlier apply did not finish."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from remediate.errors import ConnectError
from remediate.executor.journal import Journal
from remediate.executor.transaction import pending_reverts, unfinished_names
from remediate.host.connection import Connection

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Entry:
    """One apply or rollback of the history (:func:`remediate.output.records.history_row` is its view).

    Attributes:
        ended: how it ended (the end record's result); None: it never did.
        settled: it ended in a clean state: nothing left for ``recover``.
        due: when its time-boxed change is due back (epoch seconds), while it still is.
    """

    time: str | None
    container: str
    playbook: str | None
    user: str | None
    controller: str | None
    kind: str
    ended: str | None
    settled: bool
    due: float | None
    backup: str | None
    tx: str


def history(journal: Journal, container: str | None = None) -> Iterator[Entry]:
    """Finished and unfinished applies and rollbacks on the host (the moved-aside journal files
    too), newest first; optionally of one container."""
    transactions = journal.transactions(archived=True)
    pending = {tx.id for tx in pending_reverts(transactions)}  # later ones decide: archives change nothing
    for tx in reversed(transactions):
        if container and tx.container != container:
            continue
        begin = tx.begin
        yield Entry(begin.time, begin.container, begin.playbook, begin.user, begin.controller, begin.kind or "apply",
                    tx.end.result if tx.end is not None else None, tx.settled,
                    tx.due if tx.id in pending else None, begin.backup, tx.id)


def warn_unfinished(conn: Connection) -> bool:
    """Log one warning when the host's journal shows an unfinished apply (for the commands that
    only read, a dry run and diagnose, which go on); a host without a file channel (a ``tcp://``
    engine on another machine) is not checked.

    Returns:
        True when it warned.
    """
    try:
        names = unfinished_names(Journal(conn).unfinished())
    except ConnectError:
        return False
    if names:
        _log.warning("%s: an earlier apply did not finish (%s): run `remediate recover`", conn.label,
                     ", ".join(names))
    return bool(names)
