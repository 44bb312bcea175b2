"""The journal reader on plain bytes: damaged lines are skipped with a reason, never the record
after them; what recover keeps and moves aside."""

from __future__ import annotations

import json

import pytest

from remediate.executor.lines import parse
from remediate.executor.record import Begin, End, Kind, Record, Step, encode, problem, read
from remediate.executor.restore import Outcome
from remediate.executor.transaction import Transaction, group

BEGIN = {"v": 1, "tx": "t1", "op": "begin", "container": "vllm", "old_id": "abc", "temp": "vllm-remediate-new",
         "backup": "vllm-remediate-backup-1", "was_running": True, "restart_policy": {"Name": "always"},
         "files": [{"path": "/etc/x", "saved": None, "mode": None}]}
STEP = {"v": 1, "tx": "t1", "op": "step", "step": "created", "new_id": "def"}
END = {"v": 1, "tx": "t1", "op": "end", "result": "recreated", "new_id": "def"}


def _line(record: object) -> bytes:
    return json.dumps(record).encode() + b"\n"


def _dicts(records: list[Record]) -> list[dict[str, object]]:
    """Records as the JSON objects they were read from."""
    return [r.model_dump(mode="json", exclude_unset=True) for r in records]


def test_whole_journal_reads_back_with_no_problem() -> None:
    parsed = parse(_line(BEGIN) + _line(STEP) + _line(END))

    assert _dicts(parsed.records) == [BEGIN, STEP, END]
    assert parsed.problems == [] and parsed.damaged == []


@pytest.mark.parametrize("bad", [[1, 2, 3], 42, "x", None, {"tx": [1]}, {"tx": "t9", "op": "begin"},
                                 {"tx": "t9", "op": "begin", "container": "c"}, {"tx": "t9", "op": "teleport"},
                                 {"tx": "t9", "op": "end"}, {"tx": "t9", "op": "step", "step": 3},
                                 {**BEGIN, "tx": "t9", "files": "all"}, {**BEGIN, "tx": "t9", "restart_policy": "x"},
                                 {**BEGIN, "tx": "t9", "v": "one"}, {**END, "tx": "t9", "revert_at": "soon"},
                                 {**STEP, "tx": "t9", "step": "dependent", "dependent": {"name": 1}}])
def test_a_record_of_the_wrong_shape_is_skipped_with_a_reason(bad: object) -> None:
    parsed = parse(_line(BEGIN) + _line(bad) + _line(END), "/s/journal.jsonl")

    assert _dicts(parsed.records) == [BEGIN, END]
    [problem] = parsed.problems
    assert problem.startswith("journal.jsonl line 2: ") and problem.endswith("; skipped")
    assert parsed.clean == _line(BEGIN) + _line(END)


def test_bytes_glued_before_a_record_lose_nothing_of_it() -> None:
    parsed = parse(_line(BEGIN) + b"garbage{not json" + _line(STEP) + _line(END))

    assert _dicts(parsed.records) == [BEGIN, STEP, END]
    assert parsed.problems == ["journal line 2: bytes before a record skipped"]
    assert parsed.damaged == [b"garbage{not json"]
    assert parsed.clean == _line(BEGIN) + _line(STEP) + _line(END)


def test_a_torn_last_record_is_told_apart_and_moved_aside() -> None:
    torn = _line(END)[:20]
    parsed = parse(_line(BEGIN) + _line(STEP) + torn)

    assert _dicts(parsed.records) == [BEGIN, STEP]
    assert parsed.problems == [("journal line 3: torn last record (an interrupted write); "
                                "`remediate recover` moves it aside")]
    assert parsed.damaged == [torn]
    assert parsed.clean == _line(BEGIN) + _line(STEP)


def test_invalid_utf8_is_a_damaged_line() -> None:
    parsed = parse(_line(BEGIN) + b"\xff\xfe\n" + _line(END))

    assert _dicts(parsed.records) == [BEGIN, END] and len(parsed.problems) == 1


def test_a_record_without_version_is_version_0() -> None:
    old = {k: v for k, v in BEGIN.items() if k != "v"}

    assert problem(old) is None
    assert problem({**BEGIN, "v": True}) == "bad record version"


def test_records_of_a_transaction_without_its_begin_are_reported() -> None:
    transactions, orphans = group([read(STEP), read({**END, "tx": "t2"})])

    assert transactions == []
    assert orphans == ["records of transaction t1 without its begin record skipped",
                       "records of transaction t2 without its begin record skipped"]


@pytest.mark.parametrize(("result", "settled"), [
    (None, False), ("recreated", True), ("updated in place", True), ("rolled back", True), ("restored", True),
    ("recovered: restored the original", True), ("rollback failed", False), ("recover failed", False)])
def test_only_a_clean_end_settles_a_transaction(result: str | None, settled: bool) -> None:
    tx = Transaction(begin=Begin.model_validate(BEGIN))
    if result is not None:
        tx.add(read({**END, "result": result}))

    assert tx.settled is settled


def test_the_typed_words_are_those_journals_and_json_hold() -> None:
    """Journals written before the enums read the same, and new ones are byte-identical."""
    assert [str(s) for s in Step] == ["files", "created", "stopped", "parked", "swapped", "started", "dependent",
                                      "updated", "verified"]
    assert [str(e) for e in End] == ["recreated", "updated in place", "rolled back", "rollback failed", "restored",
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
    tx = Transaction(begin=Begin.model_validate(BEGIN))
    for record in (STEP, {**STEP, "step": "dependent", "dependent": dep},
                   {**STEP, "step": "dependent", "dependent": {**dep, "name": "other"}}):
        tx.add(read(record))

    assert tx.kind is Kind.APPLY and Transaction(begin=Begin.model_validate({**BEGIN, "kind": "rollback"})).kind is Kind.ROLLBACK
    assert [d.name for d in tx.dependents] == ["side", "other"]
    assert tx.done(Step.CREATED) and not tx.done(Step.VERIFIED)


def test_a_record_read_back_is_written_as_the_same_line() -> None:
    """The JSONL format is kept byte for byte: a record read from a line this version writes is
    encoded to that same line (sorted keys, the keys it was given only)."""
    dep = {"name": "side", "old_id": "s1", "temp": "side-remediate-new", "backup": "side-remediate-backup-1",
           "was_running": True, "restart_policy": None}
    for record in (BEGIN, {**BEGIN, "tied": [{"name": "side", "id": "s1", "was_running": False}], "dirs": ["/d"],
                           "files": [{"path": "/etc/x", "saved": "/s/files/t1/0", "mode": 420, "written": None,
                                      "owner": [0, 0]}], "revert_after": 30.5, "time": "2026-01-01T00:00:00+00:00"},
                   STEP, {**STEP, "step": "dependent", "dependent": dep}, {**END, "revert_at": 1767225600},
                   {"v": 1, "tx": "t1", "op": "revert-dropped", "reason": "changed"}):
        line = (json.dumps(record, sort_keys=True) + "\n").encode()
        assert encode(read(json.loads(line))) == line


def test_a_file_entry_tells_an_unknown_written_from_a_removal() -> None:
    """An older version's entry has no ``written`` (undo trusts its saved copy only); null says the
    transaction removes the file."""
    old, removal = (Begin.model_validate({**BEGIN, "files": [entry]}).files or [None]
                    for entry in ({"path": "/etc/x", "saved": None}, {"path": "/etc/x", "saved": None, "written": None}))
    assert old[0] is not None and not old[0].written_known
    assert removal[0] is not None and removal[0].written_known and removal[0].written is None


@pytest.mark.parametrize(("bad", "why"), [
    ({"tx": "t9", "op": "begin", "old_id": "a"}, "a begin record without container"),
    ({**BEGIN, "container": ""}, "a begin record without container"),
    ({**BEGIN, "was_running": "yes"}, "a begin record with a bad was_running"),
    ({**BEGIN, "revert_after": True}, "a begin record with a bad revert_after"),
    ({**BEGIN, "dirs": ["relative"]}, "a begin record with bad dirs"),
    ({**BEGIN, "files": [{"path": "/x", "owner": [0, -1]}]}, "a begin record with bad files"),
    ({**BEGIN, "files": [{"path": "/x", "mode": True}]}, "a begin record with bad files"),
    ({**BEGIN, "kind": 3}, "a begin record with a bad kind"),
    ({**END, "result": None}, "an end record without result"),
    ({**END, "error": 5}, "an end record with a bad error"),
    ({"tx": "t1", "op": "revert-dropped", "reason": []}, "a revert-dropped record with a bad reason"),
    ({"v": -1, "tx": "t1", "op": "end"}, "bad record version"),
    ({"tx": "", "op": "end"}, "no transaction id"),
    ({"tx": "t1"}, "unknown op 'None'"),
    ([BEGIN], "not a JSON object (list)"),
])
def test_each_wrong_shape_gets_one_line_saying_why(bad: object, why: str) -> None:
    assert problem(bad) == why


def test_who_and_when_are_read_whatever_json_holds_them() -> None:
    """Shown-only fields never make a record unreadable (an older or a foreign writer)."""
    record = read({**BEGIN, "time": 1767225600, "user": None, "controller": ["box"], "pid": "12"})

    assert isinstance(record, Begin) and record.time == "1767225600" and record.controller == '["box"]'
