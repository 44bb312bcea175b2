"""The views of what remediate keeps on a host: its history (the journal's applies and
rollbacks), its backups (the containers kept for rollback) and what ``recover`` did; typed.

Each view reads the library's own values (:mod:`remediate.core.kept`), not the executor that
makes them."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import NotRequired, TypedDict

from remediate.core.kept import Backup, Entry, HistoryFields, Recovery
from remediate.core.redaction import redact_text
from remediate.output.shown import shown_json


class HistoryRowJson(HistoryFields):
    """One apply or rollback on a host (``result``: how it ended, and what is left to do)."""

    result: str


def history_row(entry: Entry, *, now: float | None = None) -> HistoryRowJson:
    """One transaction of the history: how it ended, ``(run remediate recover)`` when it did not
    settle, and when a time-boxed change is due back (``overdue`` once ``now`` is past it)."""
    ended, due = entry["ended"], entry["due"]
    if ended is None:
        result = "unfinished (run remediate recover)"
    else:
        result = ended + ("" if entry["settled"] else " (run remediate recover)")
    if due is not None:
        when = datetime.fromtimestamp(due, UTC).isoformat(timespec="seconds")
        late = "; overdue: run remediate recover" if due < (time.time() if now is None else now) else ""
        result = f"{result}; time-boxed, restore due {when}{late}"
    return {"time": entry["time"], "container": entry["container"], "playbook": entry["playbook"],
            "user": entry["user"], "controller": entry["controller"], "kind": entry["kind"], "result": result,
            "backup": entry["backup"], "tx": entry["tx"]}


class BackupRowJson(TypedDict):
    """One backup kept for rollback: its name, the container it backs up, when, what it runs."""

    backup: str
    container: str
    stamp: str
    id: str
    image: str | None
    status: str | None


def backup_row(backup: Backup) -> BackupRowJson:
    """One backup, as ``remediate backups`` lists it."""
    return {"backup": backup.name, "container": backup.container, "stamp": backup.stamp, "id": backup.id[:12],
            "image": backup.image, "status": backup.status}


class RecoverRowJson(TypedDict):
    """What ``recover`` did (or, ``steps``: would do) about one unfinished transaction on a host."""

    host: str
    container: str
    tx: str
    outcome: str
    detail: str | None
    manual_steps: list[str]
    steps: NotRequired[list[str]]


def recover_row(host: str, recovery: Recovery, *, dry_run: bool) -> RecoverRowJson:
    """One transaction recovered on ``host`` (a dry run: with the steps it would take)."""
    row: RecoverRowJson = {"host": host, "container": recovery.container, "tx": recovery.tx,
                           "outcome": recovery.outcome, "detail": recovery.detail,
                           "manual_steps": list(recovery.manual_steps)}
    if dry_run:
        row["steps"] = list(recovery.steps)
    return row


def reported_recover_row(row: RecoverRowJson) -> RecoverRowJson:
    """A recover row as a report keeps it: its detail's secret shapes masked (None when empty),
    control characters escaped."""
    reported: RecoverRowJson = {**row, "detail": redact_text(row["detail"] or "") or None}
    return shown_json(reported)
