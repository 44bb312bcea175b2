"""The typed views of what remediate keeps (history, backups, recover), from the library's own
objects: the words a row says are the view's, not the executor's."""

from __future__ import annotations

from remediate.core.kept import Backup, Entry
from remediate.executor.restore import Outcome, Recovery
from remediate.output.records import backup_row, history_row, recover_row, reported_recover_row

DUE = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _entry(ended: str | None, settled: bool, due: float | None = None) -> Entry:
    return Entry(time="2026-01-01T00:00:00Z", container="vllm", playbook="fix-vllm-404", user="ops", controller="ctl",
                 kind="apply", ended=ended, settled=settled, due=due, backup="vllm-remediate-backup-1", tx="tx1")


def test_a_history_row_says_what_is_left_to_do() -> None:
    assert history_row(_entry(None, False))["result"] == "unfinished (run remediate recover)"
    assert history_row(_entry("recreated", True))["result"] == "recreated"
    assert history_row(_entry("rollback failed", False))["result"] == "rollback failed (run remediate recover)"
    assert (history_row(_entry("recreated", True, DUE), now=DUE - 1)["result"]
            == "recreated; time-boxed, restore due 2026-01-01T00:00:00+00:00")
    assert history_row(_entry("recreated", True, DUE), now=DUE + 1)["result"].endswith(
        "; overdue: run remediate recover")
    assert list(history_row(_entry(None, False))) == ["time", "container", "playbook", "user", "controller", "kind",
                                                      "result", "backup", "tx"]


def test_a_backup_row_shows_a_short_id() -> None:
    row = backup_row(Backup("vllm-remediate-backup-1", "vllm", "1", "a" * 64, "vllm/vllm-openai", "Exited (0)"))
    assert row == {"backup": "vllm-remediate-backup-1", "container": "vllm", "stamp": "1", "id": "a" * 12,
                   "image": "vllm/vllm-openai", "status": "Exited (0)"}


def test_a_recover_row_has_its_steps_only_in_a_dry_run_and_a_report_masks_its_detail() -> None:
    recovery = Recovery("vllm", "tx1", Outcome.RESTORED, "token glpat-abcdefghijklmnopqrstu\x1b[2J", ("docker rm x",),
                        ("docker start vllm",))
    assert "steps" not in recover_row("h1", recovery, dry_run=False)
    row = recover_row("h1", recovery, dry_run=True)
    assert row["steps"] == ["docker start vllm"] and row["outcome"] == "restored the original"
    shown = reported_recover_row(row)["detail"] or ""
    assert "glpat-abcdefghijklmnopqrstu" not in shown and "\x1b" not in shown
    assert reported_recover_row(recover_row("h1", Recovery("vllm", "tx1", Outcome.KEPT), dry_run=False))["detail"] is None
