"""Where built-in playbooks come from: the installed domain packs.

A pack registers a :class:`PlaybookSource` under the ``remediate.packs`` entry-point group (see
``pyproject.toml``); the GitLab Duo pack (:mod:`remediate.packs.gitlab_duo`) is the one shipped. A
second pack, in this distribution or another, adds its own entry point beside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ENTRY_POINTS = "remediate.packs"


@dataclass(frozen=True)
class PlaybookSource:
    """One pack's playbooks (``*.yml``) and the templates they copy byte for byte."""

    name: str
    playbooks: Path
    templates: Path

    def playbook_paths(self) -> list[Path]:
        """The pack's playbooks, sorted by name."""
        return sorted(self.playbooks.glob("*.yml"))


@functools.cache
def playbook_sources() -> tuple[PlaybookSource, ...]:
    """The registered sources, in entry-point name order (a name found in two: the first wins)."""
    found = sorted(metadata.entry_points(group=ENTRY_POINTS), key=lambda ep: ep.name)
    sources = tuple(ep.load() for ep in found)
    for source in sources:
        if not isinstance(source, PlaybookSource):
            raise TypeError(f"entry point {ENTRY_POINTS}: {source!r} is not a PlaybookSource")
    return sources
