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


@dataclass(frozen=True)
class PathOwner:
    """Who owns what is at a path on the Docker host, and its type and permission bits (``st_mode``)."""

    uid: int
    mode: int


@dataclass(frozen=True)
class HostLogin:
    """The user remediate acts as on the Docker host: its uid and its XDG state home
    (``$XDG_STATE_HOME``, default ``~/.local/state``)."""

    uid: int
    state_home: str
