"""The versions of a container replayed from its journal: rollback goes back, never toggles."""

from __future__ import annotations

import pytest

from remediate.core.lineage import Move, replay


def _apply(n: int) -> Move:
    return Move(f"a{n}", "apply", f"web.rbk-{n}")


def _rollback(n: int, restored: str) -> Move:
    return Move(f"r{n}", "rollback", f"web.rbk-{n}", restored=restored)


def test_steps_follow_the_applies_back() -> None:
    lineage = replay([_apply(1), _apply(2)])

    one, two = lineage.route(steps=1), lineage.route(steps=2)

    assert (one.backup, one.undone, one.between, one.ancestor) == ("web.rbk-2", ("a2",), (), True)
    assert (two.backup, two.undone, two.between) == ("web.rbk-1", ("a2", "a1"), ("web.rbk-2",))
    assert lineage.original == "web.rbk-1"
    with pytest.raises(LookupError, match="only 2 apply"):
        lineage.route(steps=3)


def test_a_rollback_after_a_rollback_goes_further_back() -> None:
    first = replay([_apply(1), _apply(2), _rollback(3, "web.rbk-2")])
    assert first.route().backup == "web.rbk-1"  # not web.rbk-3, the version just undone

    second = replay([_apply(1), _apply(2), _rollback(3, "web.rbk-2"), _rollback(4, "web.rbk-1")])
    with pytest.raises(LookupError, match="only 0 apply"):
        second.route()
    assert second.original is None  # the original is in place, no backup


def test_to_a_later_version_uses_the_files_saved_when_it_was_parked() -> None:
    lineage = replay([_apply(1), _rollback(2, "web.rbk-1"), _apply(3)])

    forward = lineage.route(to="web.rbk-2")  # the version the rollback undid

    assert (forward.ancestor, forward.undone, forward.parked_by) == (False, ("a3",), "r2")
    back = lineage.route(to="web.rbk-3")
    assert (back.ancestor, back.undone, back.parked_by) == (True, ("a3",), "a3")
    assert lineage.original == "web.rbk-3"  # the original, parked again by the second apply


def test_a_backup_the_journal_does_not_know_puts_back_no_files() -> None:
    route = replay([_apply(1)]).route(to="web.rbk-other")

    assert (route.backup, route.undone, route.parked_by, route.ancestor) == ("web.rbk-other", (), "", False)


def test_a_rollback_to_a_backup_the_journal_never_saw_parked_starts_afresh() -> None:
    lineage = replay([_apply(1), _rollback(2, "web.rbk-1"), _rollback(3, "web.rbk-elsewhere")])

    with pytest.raises(LookupError, match="only 0 apply"):
        lineage.route()
    assert lineage.route(to="web.rbk-2").parked_by == "r2"
