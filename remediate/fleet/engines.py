"""One engine, worked on once per run, however many targets name it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence

from remediate.fleet.target import Target
from remediate.host.connection import Connection
from remediate.host.sshoptions import SshOptions


class Engines:
    """Which target first named each engine of a run: by address before connecting
    (:attr:`Target.engine_address`), then by the engine's id once connected (one engine reached
    under two addresses). Thread-safe; with several hosts at once, the first to connect keeps it."""

    def __init__(self, targets: Sequence[Target]) -> None:
        self._alone = len(targets) < 2
        self._first: dict[str, str] = {}
        self._lock = threading.Lock()
        for target in targets:
            self._first.setdefault(target.engine_address, target.name)

    def named_before(self, target: Target) -> str | None:
        """The earlier target with the same engine address, or None."""
        first = self._first.get(target.engine_address, target.name)
        return first if first != target.name else None

    def reached_before(self, target: Target, conn: Connection) -> str | None:
        """The target that already reached ``conn``'s engine (asks it its id), or None (a run of
        one target asks nothing)."""
        if self._alone:
            return None
        engine_id = conn.engine_id
        with self._lock:
            first = self._first.setdefault(engine_id, target.name)
        return first if first != target.name else None


def each_engine(targets: Sequence[Target], ssh: SshOptions | None = None, *,
                on_skip: Callable[[Target, str], None] | None = None) -> Iterator[Connection]:
    """One connection per engine of ``targets`` (with each host's own key file), opened and closed
    in turn; a target whose engine an earlier one named or reached is skipped (``on_skip`` is
    called with it and the earlier target's name).

    Raises:
        ConnectError: a host could not be reached (the walk stops there).
    """
    engines = Engines(targets)
    for target in targets:
        with target.connection(ssh) as conn:
            first = engines.named_before(target) or engines.reached_before(target, conn)
            if first is not None:
                if on_skip is not None:
                    on_skip(target, first)
                continue
            yield conn
