"""The version of every ``--format json`` document, and the JSON Schemas that describe them.

Each JSON document remediate prints carries ``format_version``: at its top level, or, for the
outputs that are a list of rows (``list``, ``hosts``, ``history``, ``backups``, ``rollback``,
``recover``, ``diagnose`` of several hosts), in every row. A new field is a minor bump
(``1.1``); a field removed or changed in meaning is a major one (``2.0``). The schema of each
output is shipped in ``remediate/output/schemas/<output>.json`` (:func:`schema`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

#: The version of the JSON outputs (major.minor).
FORMAT_VERSION = "1.3"

#: The outputs that have a schema: ``remediate/output/schemas/<name>.json``.
OUTPUTS = ("apply", "report", "diagnose", "fix", "list", "show", "hosts", "history", "backups", "rollback",
           "recover", "lint")


def versioned(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` with ``format_version`` first."""
    return {"format_version": FORMAT_VERSION, **data}


def versioned_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each row with ``format_version`` first."""
    return [versioned(row) for row in rows]


def schema(output: str) -> dict[str, Any]:
    """The JSON Schema of an output (one of :data:`OUTPUTS`).

    Raises:
        KeyError: no such output.
    """
    if output not in OUTPUTS:
        raise KeyError(output)
    text = resources.files("remediate.output").joinpath("schemas", f"{output}.json").read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded
