"""What the journals tell a reader: the applies and rollbacks on a host (``remediate history``),
and a warning for the commands that only read when an earlier apply did not finish."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from remediate.errors import ConnectError
from remediate.executor.statedir import JOURNAL, state_dir
from remediate.host.connection import Connection

if TYPE_CHECKING:
    from remediate.core.kept import Entry
    from remediate.executor.journal import Journal

_log = logging.getLogger(__name__)


def history(journal: Journal, container: str | None = None) -> Iterator[Entry]:
    """Finished and unfinished applies and rollbacks on the host (the moved-aside journal files
    too), newest first; optionally of one container."""
    from remediate.core.kept import Entry
    from remediate.executor.transaction import pending_reverts

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
        directory = state_dir(conn)
        if conn.path_owner(f"{directory}/{JOURNAL}") is None:
            return False  # nothing was ever journaled here: nothing to read (nor to load to read it)
        from remediate.executor.journal import Journal
        from remediate.executor.transaction import unfinished_names

        names = unfinished_names(Journal(conn, directory=directory).unfinished())
    except ConnectError:
        return False
    if names:
        _log.warning("%s: an earlier apply did not finish (%s): run `remediate recover`", conn.label,
                     ", ".join(names))
    return bool(names)
