"""What the journals tell a reader: the applies and rollbacks on a host (``remediate history``),
and a warning for the commands that only read when an earlier apply did not finish."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from remediate.core.kept import Entry
from remediate.errors import ConnectError
from remediate.executor.journal import Journal
from remediate.executor.transaction import pending_reverts, unfinished_names
from remediate.host.connection import Connection

_log = logging.getLogger(__name__)


def history(journal: Journal, container: str | None = None) -> Iterator[Entry]:
    """Finished and unfinished applies and rollbacks on the host (the moved-aside journal files
    too), newest first; optionally of one container."""
    transactions = journal.transactions(archived=True)
    pending = {tx.id for tx in pending_reverts(transactions)}  # later ones decide: archives change nothing
    for tx in reversed(transactions):
        if container and tx.container != container:
            continue
        begin = tx.begin
        yield Entry(time=begin.time, container=begin.container, playbook=begin.playbook, user=begin.user,
                    controller=begin.controller, kind=begin.kind or "apply", backup=begin.backup, tx=tx.id,
                    ended=tx.end.result if tx.end is not None else None, settled=tx.settled,
                    due=tx.due if tx.id in pending else None)


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
