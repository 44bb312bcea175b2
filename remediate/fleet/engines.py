"""One engine, worked on once per run, however many targets name it."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from remediate.fleet.target import Target
from remediate.host.connection import Connection


class Engines:
    """Which target first named each engine of a run: by address before connecting
    (:attr:`Target.engine_address`), then by the engine's id once connected (one engine reached
    under two addresses). Thread-safe; with several hosts at once, the first to connect keeps it."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self._first: dict[str, str] = {}
        self._lock = threading.Lock()
        for target in targets:
            self._first.setdefault(target.engine_address, target.name)

    def named_before(self, target: Target) -> str | None:
        """The earlier target with the same engine address, or None."""
        first = self._first.get(target.engine_address, target.name)
        return first if first != target.name else None

    def reached_before(self, target: Target, conn: Connection) -> str | None:
        """The target that already reached ``conn``'s engine (asks it its id), or None."""
        engine_id = conn.engine_id
        with self._lock:
            first = self._first.setdefault(engine_id, target.name)
        return first if first != target.name else None
