"""What every view shows of a string: its control characters escaped (:mod:`remediate.core.visible`),
so no value can rewrite what a terminal shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar, cast

from remediate.core.visible import visible

_T = TypeVar("_T")


def shown_json(data: _T) -> _T:
    """JSON-like data with the control characters of every string (keys too) escaped."""
    return cast(_T, _shown_json(data))


def _shown_json(data: Any) -> Any:
    if isinstance(data, str):
        return visible(data)
    if isinstance(data, Mapping):
        return {_shown_json(k): _shown_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_shown_json(v) for v in data]
    return data
