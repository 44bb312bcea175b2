"""What the host layer reports about a path on the Docker host (kept apart so opening a
connection never loads the planner)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HostPath:
    """What exists at a path on the Docker host (``content`` is None for a directory)."""

    exists: bool
    content: bytes | None = None
    mode: int | None = None
