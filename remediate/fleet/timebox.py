"""The time-boxed hold of a rollout: keep a ``revert_after`` playbook's change that long, then
put it back on every host (:mod:`remediate.executor.hold` does one host)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from remediate.errors import RollbackFailed
from remediate.executor import hold as holding
from remediate.fleet.engines import each_engine
from remediate.fleet.options import Options
from remediate.fleet.target import Target
from remediate.host.sshoptions import SshOptions

if TYPE_CHECKING:
    from remediate.fleet.results import RolloutResult


def hold_then_revert(result: RolloutResult, *, ssh: SshOptions | None = None, timeout: float = 60.0,
                     cancel: threading.Event | None = None,
                     on_hold: Callable[[float], None] | None = None) -> tuple[holding.Revert, ...]:
    """The time-boxed hold of an applied rollout: keep the change of a ``revert_after`` playbook
    for that long (the longest of its hosts), then put it back on every host.

    Nothing is held when nothing time-boxed was recreated, or when the rollout failed somewhere
    or was interrupted (its changes stay due in the journal: ``recover`` puts them back). If this
    process dies during the hold, the journal knows the change is due back: ``remediate recover``
    (or ``apply --restore``) undoes it, once.

    Args:
        result: what :func:`remediate.fleet.rollout.rollout` applied.
        ssh: SSH options (each host's key file wins).
        timeout: seconds a restored container has to run again.
        cancel: set it to end the hold early and put the change back at once.
        on_hold: called with the seconds of the hold just before it starts.

    Returns:
        One revert per container changed: put back, or already put back by someone else.

    Raises:
        RollbackFailed: a change could not be put back (``result``: every revert; ``manual_steps``).
        ConnectError: a host could not be reached to put its change back.
    """
    if result.failed or result.interrupted or result.dry_run:
        return ()
    due = [(o.target, names, o.result.plan) for o in result.outcomes if o.result is not None
           if (names := holding.held(o.result))]
    if not due:
        return ()
    seconds = max(plan.revert_after or 0.0 for _, _, plan in due)
    if on_hold is not None:
        on_hold(seconds)
    holding.wait(seconds, cancel)
    reverts: list[holding.Revert] = []
    for target, names, plan in due:
        with target.connection(ssh, timeout=max(timeout, 30.0)) as conn:
            reverts.extend(holding.revert(conn, playbook=plan.playbook, containers=names, timeout=timeout))
    failed = [r for r in reverts if not r.ok]
    if failed:
        steps = [step for r in failed if r.result is not None for step in r.result.manual_steps]
        first = failed[0]
        raise RollbackFailed(f"{first.host}: {first.container}: the time-boxed change could not be put back"
                             + (f" ({first.result.error})" if first.result and first.result.error else ""),
                             manual_steps=steps, host=first.host, container=first.container, result=tuple(reverts))
    return tuple(reverts)


def revert_now(targets: Sequence[Target], playbook: str, options: Options | None = None, *,
               containers: Sequence[str] = (),
               on_skip: Callable[[Target, str], None] | None = None) -> tuple[holding.Revert, ...]:
    """Put back now, on every engine of ``targets`` in turn, the time-boxed changes of
    ``playbook`` still in place (``apply --restore``). Uses ``options.timeout`` and ``ssh``.

    Args:
        targets: the hosts; one whose engine an earlier one reached is skipped (``on_skip``).
        playbook: the time-boxed playbook whose changes are put back.
        options: how; default :class:`Options`.
        containers: only these containers (each listed, put back or already put back).
        on_skip: called with a skipped target and the earlier target of its engine.

    Returns:
        One revert per container put back (or given and already put back), host after host.

    Raises:
        ConnectError: a host could not be reached (the hosts before it are put back).
        LockedError, RecoverNeeded: as for a rollback.
    """
    options = options or Options()
    reverts: list[holding.Revert] = []
    for conn in each_engine(targets, options.ssh, on_skip=on_skip):
        reverts.extend(holding.revert(conn, playbook=playbook, containers=containers, timeout=options.timeout))
    return tuple(reverts)
