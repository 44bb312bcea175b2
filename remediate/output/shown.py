"""What every view shows of a string: its control characters escaped (:mod:`remediate.core.visible`),
so no value can rewrite what a terminal shows."""

from __future__ import annotations

from typing import TypeVar, cast

from remediate.core.redaction import each_string
from remediate.core.visible import visible

_T = TypeVar("_T")


def shown_json(data: _T) -> _T:
    """JSON-like data with the control characters of every string (keys too) escaped."""
    return cast(_T, each_string(data, visible, keys=True))
