"""The time-boxed hold on one host: which changes of an apply are held (``revert_after``
playbooks such as troubleshoot-mode), waiting out the hold, and putting them back.

The journal records when each held change is due back (``revert_at``), so a hold that dies with
its process is finished by ``remediate recover`` (:func:`remediate.executor.restore.recover`);
a change already put back is never put back twice. Spanning hosts:
:func:`remediate.fleet.timebox.hold_then_revert`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from remediate.core.results import Action, ContainerResult, HostResult
from remediate.host.connection import Connection

#: How often the wait looks at ``cancel`` (seconds).
_TICK = 0.2


@dataclass(frozen=True)
class Revert:
    """One held change at its end.

    Attributes:
        host: the host label.
        container: the container name.
        result: the rollback that put it back; None when it was already put back (by
            ``recover``, ``--restore`` or a later change) and nothing was done.
    """

    host: str
    container: str
    result: ContainerResult | None = None

    @property
    def ok(self) -> bool:
        """True when the original is back (now, or already)."""
        return self.result is None or self.result.ok


def held(result: HostResult) -> tuple[str, ...]:
    """The containers of an apply whose change is time-boxed (recreated by a ``revert_after`` plan)."""
    if not result.plan.revert_after:
        return ()
    return tuple(c.name for c in result.containers if c.action is Action.RECREATED)


def wait(seconds: float, cancel: threading.Event | None = None) -> bool:
    """Wait ``seconds``, or until ``cancel`` is set; True when the time ran out.

    Polls rather than ``cancel.wait()``: a signal handler that sets ``cancel`` in the main
    thread would block on the lock that ``wait`` holds.
    """
    deadline = time.monotonic() + seconds
    while cancel is None or not cancel.is_set():
        left = deadline - time.monotonic()
        if left <= 0:
            return True
        time.sleep(min(_TICK, left))
    return False


def revert(conn: Connection, *, playbook: str | None = None, containers: Sequence[str] = (),
           timeout: float = 60.0) -> list[Revert]:
    """Put back the time-boxed changes still in place on the host (of ``playbook``, of
    ``containers``; default all), each by a rollback under the host's lock.

    Args:
        conn: the host.
        playbook: only the changes of this playbook.
        containers: only these containers; a name given here that has nothing left to put back
            is listed with ``result`` None.
        timeout: seconds a restored container has to run again.

    Returns:
        One revert per container put back (or given and already put back).

    Raises:
        LockedError, RecoverNeeded: as for a rollback.
    """
    # The recreate machinery, loaded only when something is put back.
    from remediate.executor.restore import revert_pending

    done = [Revert(conn.label, r.name, r) for _, r in
            revert_pending(conn, timeout=timeout, playbook=playbook, containers=containers)]
    reverted = {r.container for r in done}
    return done + [Revert(conn.label, name) for name in containers if name not in reverted]
