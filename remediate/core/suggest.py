"""The "did you mean" of a name that is not there."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean NAME?"`` for the closest of ``choices`` to a misspelled ``word``, or ``""``
    when none is close (difflib's ratio of at least 0.75, or one contains the other)."""
    names = sorted(set(choices))
    close = difflib.get_close_matches(word, names, n=1, cutoff=0.75)
    if not close and len(word) >= 3:
        close = [n for n in names if word in n][:1]
    return f"; did you mean {close[0]}?" if close else ""
