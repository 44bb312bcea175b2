"""The fleet scheduler: a bounded pool of hosts (``forks``), serial batches, a failure threshold
that stops new hosts, and an interrupt; shared by :func:`remediate.fleet.rollout.rollout` and
:func:`remediate.fleet.rollback.roll_back`."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from remediate.core.results import INTERRUPTED


class Schedule:
    """When hosts run, and when the run stops starting new ones.

    Args:
        forks: hosts worked on at once.
        serial: hosts per batch; a batch starts only when the previous one is done.
        max_fail: stop once this many hosts failed.
        cancel: set from outside to interrupt.
    """

    def __init__(self, *, forks: int, serial: int | None, max_fail: int | None, cancel: threading.Event) -> None:
        self.forks = max(1, forks)
        self.serial = serial
        self.max_fail = max_fail
        self.cancel = cancel
        self.quit = threading.Event()
        self._stop = threading.Event()
        self._failures = 0
        self._lock = threading.Lock()

    def stopped(self) -> str | None:
        """Why no new host starts (``rollout stopped: ...``), or None while they may."""
        if not (self._stop.is_set() or self.cancel.is_set()):
            return None
        why = (INTERRUPTED if self.cancel.is_set() else "quit in step mode" if self.quit.is_set()
               else "too many failures")
        return f"rollout stopped: {why}"

    def stop_quit(self) -> None:
        """Step mode said ``quit``: no new host (nor playbook) starts."""
        self.quit.set()
        self._stop.set()

    def count(self, failed: bool) -> None:
        """One host done; a failed one counts toward ``max_fail``."""
        if not failed:
            return
        with self._lock:
            self._failures += 1
            if self.max_fail is not None and self._failures >= self.max_fail:
                self._stop.set()

    def run(self, count: int, work: Callable[[int], None]) -> None:
        """``work(i)`` for every host index, ``forks`` at once, batch after batch."""
        batch = self.serial or count or 1
        with ThreadPoolExecutor(max_workers=self.forks, thread_name_prefix="remediate-host") as pool:
            for start in range(0, count, batch):
                futures = [pool.submit(work, i) for i in range(start, min(start + batch, count))]
                for future in futures:
                    future.result()
