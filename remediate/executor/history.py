"""What the journals tell a reader: the applies and rollbacks on a host (``remediate history``),
and a warning for the commands that only read when an earlier apply did not finish."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from remediate.errors import ConnectError
from remediate.executor.journal import Journal
from remediate.executor.transaction import pending_reverts, unfinished_names
from remediate.host.connection import Connection

_log = logging.getLogger(__name__)


def history(journal: Journal, container: str | None = None) -> Iterator[dict[str, Any]]:
    """Finished and unfinished applies and rollbacks on the host (the moved-aside journal files
    too), newest first; optionally of one container."""
    transactions = journal.transactions(archived=True)
    pending = {tx.id for tx in pending_reverts(transactions)}  # later ones decide: archives change nothing
    for tx in reversed(transactions):
        if container and tx.container != container:
            continue
        if tx.end is None:
            result = "unfinished (run remediate recover)"
        else:
            result = tx.end.result + ("" if tx.settled else " (run remediate recover)")
        if tx.id in pending and tx.due is not None:
            when = datetime.fromtimestamp(tx.due, UTC).isoformat(timespec="seconds")
            late = "; overdue: run remediate recover" if tx.due < time.time() else ""
            result = f"{result}; time-boxed, restore due {when}{late}"
        begin = tx.begin
        yield {"time": begin.time, "container": begin.container, "playbook": begin.playbook, "user": begin.user,
               "controller": begin.controller, "kind": begin.kind or "apply", "result": result,
               "backup": begin.backup, "tx": tx.id}


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
