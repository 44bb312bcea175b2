"""The journal reader on plain bytes: damaged lines are skipped with a reason, never the record
after them; what recover keeps and moves aside."""

from __future__ import annotations

import json

import pytest

from remediate.executor.journal import (
    End,
    Kind,
    Step,
    Transaction,
    _transactions,
    check_record,
    parse,
)
from remediate.executor.restore import Outcome

BEGIN = {"v": 1, "tx": "t1", "op": "begin", "container": "vllm", "old_id": "abc", "temp": "vllm-remediate-new",
         "backup": "vllm-remediate-backup-1", "was_running": True, "restart_policy": {"Name": "always"},
         "files": [{"path": "/etc/x", "saved": None, "mode": None}]}
STEP = {"v": 1, "tx": "t1", "op": "step", "step": "created", "new_id": "def"}
END = {"v": 1, "tx": "t1", "op": "end", "result": "recreated", "new_id": "def"}


def _line(record: object) -> bytes:
    return json.dumps(record).encode() + b"\n"


def test_whole_journal_reads_back_with_no_problem() -> None:
    parsed = parse(_line(BEGIN) + _line(STEP) + _line(END))

    assert parsed.records == [BEGIN, STEP, END]
    assert parsed.problems == [] and parsed.damaged == []


@pytest.mark.parametrize("bad", [[1, 2, 3], 42, "x", None, {"tx": [1]}, {"tx": "t9", "op": "begin"},
                                 {"tx": "t9", "op": "begin", "container": "c"}, {"tx": "t9", "op": "teleport"},
                                 {"tx": "t9", "op": "end"}, {"tx": "t9", "op": "step", "step": 3},
                                 {**BEGIN, "tx": "t9", "files": "all"}, {**BEGIN, "tx": "t9", "restart_policy": "x"},
                                 {**BEGIN, "tx": "t9", "v": "one"}, {**END, "tx": "t9", "revert_at": "soon"},
                                 {**STEP, "tx": "t9", "step": "dependent", "dependent": {"name": 1}}])
def test_a_record_of_the_wrong_shape_is_skipped_with_a_reason(bad: object) -> None:
    parsed = parse(_line(BEGIN) + _line(bad) + _line(END), "/s/journal.jsonl")

    assert parsed.records == [BEGIN, END]
    [problem] = parsed.problems
    assert problem.startswith("journal.jsonl line 2: ") and problem.endswith("; skipped")
    assert parsed.clean == _line(BEGIN) + _line(END)


def test_bytes_glued_before_a_record_lose_nothing_of_it() -> None:
    parsed = parse(_line(BEGIN) + b"garbage{not json" + _line(STEP) + _line(END))

    assert parsed.records == [BEGIN, STEP, END]
    assert parsed.problems == ["journal line 2: bytes before a record skipped"]
    assert parsed.damaged == [b"garbage{not json"]
    assert parsed.clean == _line(BEGIN) + _line(STEP) + _line(END)


def test_a_torn_last_record_is_told_apart_and_moved_aside() -> None:
    torn = _line(END)[:20]
    parsed = parse(_line(BEGIN) + _line(STEP) + torn)

    assert parsed.records == [BEGIN, STEP]
    assert parsed.problems == [("journal line 3: torn last record (an interrupted write); "
                                "`remediate recover` moves it aside")]
    assert parsed.damaged == [torn]
    assert parsed.clean == _line(BEGIN) + _line(STEP)


def test_invalid_utf8_is_a_damaged_line() -> None:
    parsed = parse(_line(BEGIN) + b"\xff\xfe\n" + _line(END))

    assert parsed.records == [BEGIN, END] and len(parsed.problems) == 1


def test_a_record_without_version_is_version_0() -> None:
    old = {k: v for k, v in BEGIN.items() if k != "v"}

    assert check_record(old) is None
    assert check_record({**BEGIN, "v": True}) == "bad record version"


def test_records_of_a_transaction_without_its_begin_are_reported() -> None:
    transactions, orphans = _transactions([STEP, {**END, "tx": "t2"}])

    assert transactions == []
    assert orphans == ["records of transaction t1 without its begin record skipped",
                       "records of transaction t2 without its begin record skipped"]


@pytest.mark.parametrize(("result", "settled"), [
    (None, False), ("recreated", True), ("rolled back", True), ("restored", True),
    ("recovered: restored the original", True), ("rollback failed", False), ("recover failed", False)])
def test_only_a_clean_end_settles_a_transaction(result: str | None, settled: bool) -> None:
    tx = Transaction(begin=BEGIN)
    if result is not None:
        tx.add({**END, "result": result})

    assert tx.settled is settled


def test_the_typed_words_are_those_journals_and_json_hold() -> None:
    """Journals written before the enums read the same, and new ones are byte-identical."""
    assert [str(s) for s in Step] == ["files", "created", "stopped", "parked", "swapped", "started", "dependent",
                                      "verified"]
    assert [str(e) for e in End] == ["recreated", "rolled back", "rollback failed", "restored",
                                     "recovered: kept the verified new container", "recovered: restored the original",
                                     "recover failed"]
    assert [str(k) for k in Kind] == ["apply", "rollback"]
    assert [str(o) for o in Outcome] == ["kept the verified new container", "restored the original",
                                         "restored the time-boxed change", "manual action needed"]
    assert json.dumps({"step": Step.VERIFIED, "result": End.ROLLED_BACK}) == '{"step": "verified", "result": "rolled back"}'
    # recover's end names what it did
    assert End.RECOVERED_KEPT == f"recovered: {Outcome.KEPT}" and End.RECOVERED_RESTORED == f"recovered: {Outcome.RESTORED}"


def test_a_transaction_read_back_tells_its_kind_and_dependents_in_order() -> None:
    dep = {"name": "side", "old_id": "s1", "temp": "side-remediate-new", "restart_policy": None}
    tx = Transaction(begin=BEGIN)
    for record in (STEP, {**STEP, "step": "dependent", "dependent": dep},
                   {**STEP, "step": "dependent", "dependent": {**dep, "name": "other"}}):
        tx.add(record)

    assert tx.kind is Kind.APPLY and Transaction(begin={**BEGIN, "kind": "rollback"}).kind is Kind.ROLLBACK
    assert [d["name"] for d in tx.dependents] == ["side", "other"]
    assert tx.done(Step.CREATED) and not tx.done(Step.VERIFIED)
