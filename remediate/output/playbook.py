"""The views of playbooks: a row of ``remediate list``, and one playbook as its YAML says it
(``remediate show --format json``); secrets masked."""

from __future__ import annotations

from typing import Any, TypedDict

from remediate.core.playbook import Playbook
from remediate.core.redaction import redact_mapping


class PlaybookRowJson(TypedDict):
    """One playbook of ``remediate list``."""

    name: str
    safety: str
    description: str
    vars: list[str]
    time_boxed: bool


def playbook_row(book: Playbook) -> PlaybookRowJson:
    """One playbook, as ``remediate list`` shows it (its description on one line)."""
    return {"name": book.name, "safety": book.safety, "description": " ".join(book.description.split()),
            "vars": sorted(book.vars), "time_boxed": book.revert_after is not None}


def playbook_json(book: Playbook) -> dict[str, Any]:
    """The playbook as its YAML says it (defaults filled in, ``select`` always a list), secrets masked."""
    data = book.model_dump(mode="json", by_alias=True)
    data["select"] = [sel.model_dump(mode="json", exclude_defaults=True) for sel in book.selectors]
    return redact_mapping(data)
