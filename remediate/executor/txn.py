"""Running one transaction: the one skeleton of apply, rollback and ``recover``.

A :class:`Txn` is a context manager: entering it journals the begin record, :meth:`Txn.mark`
journals each step once it is done, and leaving it ends the transaction::

    with Txn(conn, journal, Begin(tx=..., container=..., ...)) as txn:
        ...                      # change things
        txn.mark(Step.SWAPPED)
        txn.succeed(End.RECREATED, new_id=new_id)
    if txn.error is not None:    # it failed, and was undone (see txn.undone)
        ...

- the block finishes: the change is kept (:func:`remediate.executor.undo.keep`) and the end
  given to :meth:`Txn.succeed` is journaled;
- the block raises a :class:`~remediate.errors.RemediateError`: the transaction is undone from
  the records just written (:func:`remediate.executor.undo.undo`, as ``recover`` would), ended
  with the failure's (masked) message, and the error is kept in :attr:`Txn.error`, not raised;
- an end record that cannot be written raises a ``JournalError`` saying what state the container
  is in and to run ``remediate recover`` (never a plain success, nor a plain failure).

``recover`` settles a transaction read back from the journal the same way (:meth:`Txn.resume`,
then :meth:`Txn.commit` or :meth:`Txn.abort`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from remediate.core.redaction import mask_values, redact_text
from remediate.errors import JournalError, RemediateError
from remediate.executor.journal import Journal
from remediate.executor.record import Begin, Dependent, End, Ended, Step, StepDone, now
from remediate.executor.transaction import Transaction
from remediate.executor.undo import Undone, keep, undo
from remediate.host.connection import Connection


def safe_message(message: str, secrets: Sequence[str] = ()) -> str:
    """A message fit for the journal and the result: the secret shapes of the engine/service text in
    it masked (plain words never are; see :mod:`remediate.core.redaction`), and the ``secrets`` values."""
    return mask_values(redact_text(message), secrets)


@dataclass
class Txn:
    """One transaction (an apply or rollback of one container) being run or settled.

    Attributes:
        conn: the host.
        journal: the host's journal.
        begin: its begin record (written on enter, unless it is :meth:`resumed <resume>`).
        undone_end: the end once a failure is undone (``recover``: ``recovered: restored the original``).
        failed_end: the end when the undo fails too (it stays open for ``recover``).
        mask: applied to the error message journaled (and kept) on failure (default:
            :func:`safe_message`).
        before_undo: called with the error before the undo (e.g. to keep the new container's logs).
        error: the error the block raised (masked), once it was undone; None while it went well.
        undone: what the undo did, once it ran.
    """

    conn: Connection
    journal: Journal
    begin: Begin
    undone_end: End = End.ROLLED_BACK
    failed_end: End = End.ROLLBACK_FAILED
    mask: Callable[[str], str] = safe_message
    before_undo: Callable[[RemediateError], None] | None = None
    error: RemediateError | None = None
    undone: Undone | None = None
    _read_back: Transaction | None = field(default=None, repr=False)
    _success: tuple[End, dict[str, Any]] | None = field(default=None, repr=False)

    @classmethod
    def resume(cls, conn: Connection, journal: Journal, tx: Transaction) -> Txn:
        """A transaction read back from the journal, for ``recover`` to settle."""
        return cls(conn, journal, tx.begin, End.RECOVERED_RESTORED, End.RECOVER_FAILED, _read_back=tx)

    @property
    def id(self) -> str:
        """The transaction id."""
        return self.begin.tx

    def __enter__(self) -> Self:
        if self._read_back is None:
            self.journal.append(self.begin)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        if exc is None:
            if self._success is None:
                raise RuntimeError(f"transaction {self.id} finished without a result (Txn.succeed)")
            result, fields = self._success
            self.commit(result, **fields)
            return False
        if not isinstance(exc, RemediateError):
            return False  # an interrupt or a bug: the journal keeps it open for `recover`
        self.abort(exc)
        return True

    def mark(self, step: Step, *, new_id: str | None = None, dependent: Dependent | None = None) -> None:
        """Journal that ``step`` is done (before the next one starts)."""
        given = {k: v for k, v in (("new_id", new_id), ("dependent", dependent)) if v is not None}
        self.journal.append(StepDone.model_validate({"tx": self.id, "step": step, "time": now(), **given}))

    def succeed(self, result: End, *, new_id: str | None = None, revert_at: int | None = None) -> None:
        """Say how the transaction ends once the block finishes (``revert_at``: a time-boxed
        change's due time, epoch seconds)."""
        self._success = result, {"new_id": new_id, **({"revert_at": revert_at} if revert_at is not None else {})}

    def commit(self, result: End, *, new_id: str | None = None, revert_at: int | None = None) -> None:
        """Keep the change (:func:`remediate.executor.undo.keep`) and end the transaction with ``result``.

        Raises:
            JournalError: the end could not be written (the change is kept; ``recover`` settles it).
        """
        keep(self.conn, self.transaction())
        self._end(result, new_id=new_id, **({"revert_at": revert_at} if revert_at is not None else {}))

    def abort(self, exc: RemediateError | None = None) -> Undone:
        """Undo the transaction from its records and end it (:attr:`undone_end`, or
        :attr:`failed_end` when the undo stopped); ``exc``: why (masked into the end record).

        Raises:
            JournalError: the end could not be written.
        """
        if exc is not None:
            exc.message = self.mask(exc.message)
            exc.args = (exc.message,)
            self.error = exc
            if self.before_undo is not None:
                self.before_undo(exc)
        self.undone = undo(self.conn, self.journal, self.transaction())
        why = exc.message if exc is not None else self.mask(self.undone.error.message) if self.undone.error else None
        self._end(self.undone_end if self.undone.ok else self.failed_end, **({"error": why} if why else {}))
        return self.undone

    def transaction(self) -> Transaction:
        """The transaction as its records tell it: as written by this process, or as read back."""
        return self._read_back if self._read_back is not None else self.journal.written(self.id)

    def _end(self, result: End, **fields: Any) -> None:
        try:
            self.journal.append(Ended(tx=self.id, result=result, time=now(), **fields))
        except JournalError as exc:
            name = self.begin.container
            raise JournalError(f"{exc.message}; {name} is {result} but the journal does not say so: "
                               "run `remediate recover` to finish it", host=exc.host, container=name) from exc
