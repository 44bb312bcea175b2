"""Files shared by several containers of one apply (e.g. fix-vllm-404 on a host with two vLLM
containers that mount the same template).

Policy: files are owned by the host's apply, not by each container. A file an apply wrote is put
back (by the undo of a failed container, ``rollback`` or ``recover``) only if no other container
of that apply whose plan writes the same content there stays on the new version. (Two services of
one compose file write it in turn, each on top of the other's edit: the second one's undo puts
back the first one's version, which it saved.) The journal tells: every apply
transaction carries its host apply's ``run`` id and the files it wrote; one that ended with its
new container kept, and whose container still is that new one, still needs them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from remediate.errors import ContainerNotFound
from remediate.executor.journal import Journal
from remediate.executor.record import Begin, End
from remediate.executor.transaction import Transaction
from remediate.host.connection import Connection

#: Results of an apply transaction whose new container was kept.
KEPT = (End.RECREATED, End.RECOVERED_KEPT)


def needed_elsewhere(transactions: Sequence[Transaction], tx: str,
                     current_ids: Mapping[str, str]) -> set[str]:
    """Paths written by transaction ``tx`` that another container of the same host apply needs.

    Args:
        transactions: the host's journal, oldest first.
        tx: the transaction being undone.
        current_ids: container name -> id it has now (missing: no such container).

    Returns:
        The paths to leave as they are.

    Example: ``a`` and ``b`` of one run both wrote ``/t``; ``a`` ended ``recreated`` and still
    runs that new container: undoing ``b`` keeps ``/t``.
    """
    this = next((t for t in transactions if t.id == tx), None)
    if this is None or not this.begin.run:
        return set()
    mine = _written(this.begin)
    kept: set[str] = set()
    for other in transactions:
        begin = other.begin
        if (other.id == tx or begin.run != this.begin.run or begin.container == this.begin.container
                or other.end is None):
            continue
        if other.end.result in KEPT and current_ids.get(begin.container) == other.end.new_id:
            kept |= {path for path, written in _written(begin).items() if path in mine and mine[path] == written}
    return kept


def kept_paths(conn: Connection, journal: Journal, tx: str, *, archived: bool = False) -> set[str]:
    """:func:`needed_elsewhere` on the host: the journal (with ``archived``, the moved-aside files
    too) and the containers the engine shows now."""
    transactions = journal.transactions(archived=archived)
    this = next((t for t in transactions if t.id == tx), None)
    if this is None or not this.begin.run:
        return set()
    names = {t.container for t in transactions if t.begin.run == this.begin.run and t.id != tx}
    return needed_elsewhere(transactions, tx, _current_ids(conn, names))


def _current_ids(conn: Connection, names: set[str]) -> dict[str, str]:
    ids = {}
    for name in names:
        try:
            ids[name] = str(conn.inspect_container(name)["Id"])
        except ContainerNotFound:
            continue
    return ids


def _written(begin: Begin) -> dict[str, str | None]:
    """Path -> digest of what the transaction wrote there."""
    return {f.path: f.written for f in begin.files or []}
