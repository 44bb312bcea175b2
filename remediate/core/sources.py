"""The installed domain packs: their playbooks and templates, how they spell their own
environment values, and the commands they add to the ``remediate`` command line.

A pack registers a :class:`Pack` under the ``remediate.packs`` entry-point group (see
``pyproject.toml``); :mod:`remediate.packs` holds the one shipped. A second pack, in this
distribution or another, adds its own entry point beside it. The core knows no pack: it asks
:func:`packs` for what they registered.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ENTRY_POINTS = "remediate.packs"


@dataclass(frozen=True)
class Pack:
    """One domain pack.

    Attributes:
        name: the pack's name (its entry point's).
        playbooks: the folder of its playbooks (``*.yml``).
        templates: the folder of the templates they copy byte for byte.
        env_value: how the pack spells a value of its own environment variables in a playbook's
            ``env`` change, given the name and the value (None: removed); it returns the value
            as the playbook means it (e.g. a boolean's one spelling), or the value unchanged.
        commands: the module of the pack's commands for the ``remediate`` command line (its
            ``COMMANDS``, click commands), None when it adds none.
    """

    name: str
    playbooks: Path
    templates: Path
    env_value: Callable[[str, str | None], str | None] | None = None
    commands: str | None = None

    def playbook_paths(self) -> list[Path]:
        """The pack's playbooks, sorted by name."""
        return sorted(self.playbooks.glob("*.yml"))


@functools.cache
def packs() -> tuple[Pack, ...]:
    """The registered packs, in entry-point name order (a playbook name found in two: the first wins)."""
    found = sorted(metadata.entry_points(group=ENTRY_POINTS), key=lambda ep: ep.name)
    loaded = tuple(ep.load() for ep in found)
    for pack in loaded:
        if not isinstance(pack, Pack):
            raise TypeError(f"entry point {ENTRY_POINTS}: {pack!r} is not a Pack")
    return loaded


def pack_env_value(name: str, value: str | None) -> str | None:
    """``value`` of the env var ``name`` as the packs spell it (:attr:`Pack.env_value`)."""
    for pack in packs():
        if pack.env_value is not None:
            value = pack.env_value(name, value)
    return value
