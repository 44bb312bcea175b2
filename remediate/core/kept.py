"""What remediate keeps on a host, as values: the entries of its history (the journal's applies
and rollbacks), its backups, and what ``recover`` did about an unfinished transaction.
:mod:`remediate.executor.history`, :mod:`remediate.executor.swap` and
:mod:`remediate.executor.restore` make them; :mod:`remediate.output.records` shows them. One
definition each: the fields a history row shows are :class:`HistoryFields`, which the entry and
its row both extend."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TypedDict


class HistoryFields(TypedDict):
    """What the history shows of one apply or rollback as it began (its journal's begin record)."""

    time: str | None
    container: str
    playbook: str | None
    user: str | None
    controller: str | None
    kind: str
    backup: str | None
    tx: str


class Entry(HistoryFields):
    """One apply or rollback of the history (:func:`remediate.output.records.history_row` is its view).

    Keys beyond :class:`HistoryFields`:
        ended: how it ended (the end record's result); None: it never did.
        settled: it ended in a clean state: nothing left for ``recover``.
        due: when its time-boxed change is due back (epoch seconds), while it still is.
    """

    ended: str | None
    settled: bool
    due: float | None


@dataclass(frozen=True)
class Backup:
    """A backup remediate keeps (:func:`remediate.output.records.backup_row` is its view)."""

    name: str
    #: The container it is a backup of, and when it was parked (the name's stamp).
    container: str
    stamp: str
    id: str
    image: str | None
    status: str | None


class Outcome(StrEnum):
    """What ``recover`` did about one transaction (:attr:`Recovery.outcome`)."""

    KEPT = "kept the verified new container"
    RESTORED = "restored the original"
    REVERTED = "restored the time-boxed change"
    MANUAL = "manual action needed"


@dataclass(frozen=True)
class Recovery:
    """What ``recover`` did about one unfinished apply."""

    container: str
    tx: str
    outcome: Outcome
    detail: str = ""
    manual_steps: tuple[str, ...] = ()
    #: Of :func:`plan_recover`: the steps it would take (commands, at most).
    steps: tuple[str, ...] = ()
