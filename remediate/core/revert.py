"""Undo one change of a text file on a later version of it, line by line (as ``git revert``).

A compose file that two services' fixes edited in turn is put back for one of them by taking out
that fix's lines only: :func:`revert` finds each changed block of ``written`` (what the change
wrote, from ``before``) unchanged in ``current`` and puts ``before``'s lines back there; the other
edits stay byte for byte.

>>> revert("a\\nB\\nc\\nD\\n", before="a\\nb\\nc\\nd\\n", written="a\\nB\\nc\\nd\\n")
'a\\nb\\nc\\nD\\n'
>>> revert("a\\nX\\nc\\n", before="a\\nb\\nc\\n", written="a\\nB\\nc\\n") is None  # its line changed since
True
"""

from __future__ import annotations

from difflib import SequenceMatcher
from itertools import pairwise


def revert(current: str, *, before: str, written: str) -> str | None:
    """``current`` with the change ``before`` -> ``written`` taken out; ``None`` when a block that
    change wrote is not in ``current`` as written (changed since, or its neighbours moved), so it
    cannot be taken out alone."""
    was, wrote = before.splitlines(keepends=True), written.splitlines(keepends=True)
    now = current.splitlines(keepends=True)
    where = _positions(wrote, now)  # line of `written` -> its line in `current`
    edits: list[tuple[int, int, list[str]]] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, wrote, was, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        # the block and a line each side of it must be in `current` as written, in one piece
        lo, hi = max(i1 - 1, 0), min(i2 + 1, len(wrote))
        found = [where.get(i) for i in range(lo, hi)]
        if not _in_one_piece(found):
            return None
        mapped = [n for n in found if n is not None]
        start = mapped[0] + (i1 - lo) if mapped else 0
        edits.append((start, start + i2 - i1, was[j1:j2]))
    for start, end, lines in reversed(edits):
        now[start:end] = lines
    return "".join(now)


def _in_one_piece(lines: list[int | None]) -> bool:
    """True when every line was found, each right after the one before."""
    found = [n for n in lines if n is not None]
    return len(found) == len(lines) and all(b == a + 1 for a, b in pairwise(found))


def _positions(a: list[str], b: list[str]) -> dict[int, int]:
    """Line index in ``a`` -> the same line's index in ``b``, for the lines both keep."""
    matched: dict[int, int] = {}
    for block in SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks():
        matched.update((block.a + k, block.b + k) for k in range(block.size))
    return matched
