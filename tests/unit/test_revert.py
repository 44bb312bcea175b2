"""Taking one change out of a later version of a file, line by line (core/revert.py)."""

from __future__ import annotations

import doctest

import pytest

from remediate.core import revert as module
from remediate.core.revert import revert

BASE = "services:\r\n  a:\r\n    image: x\r\n  b:\r\n    image: y\r\n"
A_ADDS = BASE.replace("    image: x\r\n", "    image: x\r\n    environment:\r\n      K: v\r\n")
BOTH = A_ADDS.replace("    image: y\r\n", "    image: y\r\n    environment:\r\n      K: v\r\n")


def test_the_examples() -> None:
    assert doctest.testmod(module).failed == 0


def test_a_change_comes_out_and_a_later_one_stays_byte_for_byte() -> None:
    assert revert(BOTH, before=BASE, written=A_ADDS) == BASE.replace(
        "    image: y\r\n", "    image: y\r\n    environment:\r\n      K: v\r\n")
    b_adds = BASE.replace("    image: y\r\n", "    image: y\r\n    environment:\r\n      K: v\r\n")
    assert revert(BOTH, before=A_ADDS, written=BOTH) == A_ADDS
    assert revert(b_adds, before=b_adds, written=b_adds) == b_adds  # no change: nothing to take out


@pytest.mark.parametrize(("before", "written"), [
    ("a\nb\nc\n", "a\nc\n"),            # a removed line comes back
    ("a\nb\nc\n", "a\nb\nB2\nc\n"),     # an added line goes
    ("a\nb\nc\n", "a\nX\nc\n"),         # a replaced line is put back
    ("a\nb", "a\nb\nc\n"),              # at the end, without a final newline before
    ("b\nc\n", "a\nb\nc\n"),            # at the start
])
def test_each_kind_of_block_on_an_unchanged_file_gives_before(before: str, written: str) -> None:
    assert revert(written, before=before, written=written) == before
    assert revert("top\n" + written, before=before, written=written) == "top\n" + before  # an edit above stays


@pytest.mark.parametrize("current", [
    "a\nX2\nc\n",        # the line it wrote changed since
    "a\nnew\nX\nc\n",    # a line came in right beside it
    "c\nX\na\n",         # its neighbours moved
])
def test_a_block_not_in_current_as_written_is_none(current: str) -> None:
    assert revert(current, before="a\nb\nc\n", written="a\nX\nc\n") is None
