"""``recover`` over many hosts: on each engine in turn, finish the applies its journal shows
unfinished (:func:`remediate.executor.restore.recover` does one host)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from remediate.core.kept import Recovery
from remediate.executor.restore import plan_recover
from remediate.executor.restore import recover as recover_host
from remediate.fleet.engines import each_engine
from remediate.fleet.options import Options
from remediate.fleet.target import Target
from remediate.output.records import RecoverRowJson, recover_row


@dataclass(frozen=True)
class HostRecovery:
    """What ``recover`` did (a dry run: would do) about one unfinished transaction of one host."""

    host: str
    recovery: Recovery
    dry_run: bool = False

    def to_json(self) -> RecoverRowJson:
        """JSON-ready: host, container, transaction, outcome, detail, manual steps (a dry run:
        and the steps it would take)."""
        return recover_row(self.host, self.recovery, dry_run=self.dry_run)


def recover_all(targets: Sequence[Target], options: Options | None = None, *, containers: Sequence[str] = (),
                on_skip: Callable[[Target, str], None] | None = None) -> tuple[HostRecovery, ...]:
    """Finish the interrupted applies on every engine of ``targets``, one after the other: a change
    that verified is kept, anything else is put back (``options.dry_run``: only say which, and
    the steps). Uses ``options.dry_run``, ``timeout`` (a container put back must run by then) and
    ``ssh``.

    Args:
        targets: the hosts; one whose engine an earlier one reached is skipped (``on_skip``).
        options: how; default :class:`Options`.
        containers: only the unfinished transactions of these containers.
        on_skip: called with a skipped target and the earlier target of its engine.

    Returns:
        One per transaction recovered, host after host.

    Raises:
        ConnectError: a host could not be reached (the hosts before it are recovered).
        LockedError: a host is locked by a run in progress.
    """
    options = options or Options()
    found: list[HostRecovery] = []
    for conn in each_engine(targets, options.ssh, on_skip=on_skip):
        done = (plan_recover(conn, containers=containers) if options.dry_run
                else recover_host(conn, containers=containers, timeout=options.timeout))
        found.extend(HostRecovery(conn.label, r, options.dry_run) for r in done)
    return tuple(found)
