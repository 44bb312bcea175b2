"""Transactions as the journal tells them: the records of one recreate (apply or rollback) of
one container, grouped by transaction id (:func:`group`).

A transaction is settled only by an end that leaves a clean state (:data:`SETTLED`); any other
end (``rollback failed``, ``recover failed``) leaves it for ``recover``. Its records are its undo
log (:func:`remediate.executor.undo.undo`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from remediate.executor.record import (
    Begin,
    Dependent,
    End,
    Ended,
    Kind,
    Record,
    RevertDropped,
    Step,
    StepDone,
)

#: End results that leave a clean state; any other end is finished by ``recover``.
SETTLED = (End.RECREATED, End.UPDATED, End.ROLLED_BACK, End.RESTORED)
_SETTLED_PREFIX = "recovered: "


@dataclass
class Transaction:
    """One recreate of one container, as the journal tells it."""

    begin: Begin
    steps: list[StepDone] = field(default_factory=list)
    end: Ended | None = None
    revert_dropped: bool = False

    def add(self, record: Record) -> None:
        """Add a step, end or revert-dropped record (a begin is the transaction's own)."""
        if isinstance(record, Ended):
            self.end = record
        elif isinstance(record, StepDone):
            self.steps.append(record)
        elif isinstance(record, RevertDropped):
            self.revert_dropped = True

    @property
    def id(self) -> str:
        """The transaction id."""
        return self.begin.tx

    @property
    def container(self) -> str:
        """The name of the container it changes."""
        return self.begin.container

    @property
    def settled(self) -> bool:
        """True when it ended in a clean state (see :data:`SETTLED`): nothing left for ``recover``."""
        result = self.end.result if self.end else ""
        return result in SETTLED or result.startswith(_SETTLED_PREFIX)

    @property
    def kind(self) -> Kind:
        """What the transaction does (records without a kind are applies)."""
        return Kind.ROLLBACK if self.begin.kind == Kind.ROLLBACK else Kind.APPLY

    @property
    def dependents(self) -> list[Dependent]:
        """The tied containers it re-created to follow the change (journaled before each was
        touched), in order."""
        return [s.dependent for s in self.steps if s.step == Step.DEPENDENT and s.dependent is not None]

    @property
    def new_id(self) -> str | None:
        """The id of its other container, as last recorded (a step's, else the begin's)."""
        return next((s.new_id for s in reversed(self.steps) if "new_id" in s.model_fields_set), self.begin.new_id)

    @property
    def due(self) -> float | None:
        """When a time-boxed change is due back (epoch seconds), once it ended; else None."""
        return self.end.revert_at if self.end is not None else None

    def done(self, step: Step) -> bool:
        """True when the journal says ``step`` completed."""
        return any(s.step == step for s in self.steps)


def group(records: Iterable[Record]) -> tuple[list[Transaction], list[str]]:
    """Transactions of the records, oldest first, and a warning per transaction whose begin is missing."""
    by_tx: dict[str, Transaction] = {}
    orphans: dict[str, None] = {}
    for record in records:
        if isinstance(record, Begin):
            by_tx[record.tx] = Transaction(begin=record)
        elif record.tx in by_tx:
            by_tx[record.tx].add(record)
        else:
            orphans[record.tx] = None
    return list(by_tx.values()), [f"records of transaction {tx} without its begin record skipped" for tx in orphans]


def pending_reverts(transactions: Sequence[Transaction]) -> list[Transaction]:
    """Time-boxed applies (``revert_at``) not yet undone: no later transaction touched the
    container (the revert is a rollback of it), and not dropped."""
    pending, touched = [], set()
    for tx in reversed(transactions):
        if tx.due is not None and tx.container not in touched and not tx.revert_dropped:
            pending.append(tx)
        touched.add(tx.container)
    return pending[::-1]


def unfinished_names(transactions: Iterable[Transaction]) -> list[str]:
    """The containers of the transactions not settled, sorted."""
    return sorted({t.container for t in transactions if not t.settled})
