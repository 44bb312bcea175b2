"""What a fleet run is given: jobs (a target and its playbooks), options (how to run) and hooks
(what to call back), each one frozen object passed whole, as httpx passes ``Timeout`` and
``Limits``. A new setting is one field here and one read where it is used."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from remediate.core.planner import Plan
from remediate.core.playbook import Playbook
from remediate.fleet.target import Target
from remediate.host.sshoptions import SshOptions

if TYPE_CHECKING:  # a dry run needs no recreate machinery
    from remediate.executor.apply import Decide
    from remediate.fleet.results import RolloutResult

#: Called with ``(host, phase)`` while applying; a container's phases read ``"container: phase"``.
Progress = Callable[[str, str], None]
#: What ``Hooks.confirm`` is asked with: the planned run (a rollout's or a rollback's).
R = TypeVar("R")


class Reviewed(Protocol):
    """A plan reviewed earlier (a :class:`remediate.fleet.saved.SavedPlan`): what differs now."""

    def drift(self, planned: RolloutResult) -> list[str]:
        """What differs between the reviewed plan and ``planned`` (empty: apply may go ahead)."""
        ...


@dataclass(frozen=True)
class Job:
    """One target and the playbooks to run on it, planned and applied under one hold of its lock.

    Attributes:
        target: the host.
        playbooks: applied in this order (each gives one outcome); e.g. the merged fixes of one
            host (:func:`remediate.packs.gitlab_duo.fix.fix_jobs`).
        overrides: ``-e`` variables; they win over inventory vars, which win over defaults. A
            var no playbook of the job declares is refused (``PlaybookError``).
        only: container names to restrict to.
    """

    target: Target
    playbooks: tuple[Playbook, ...]
    overrides: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    only: tuple[str, ...] = ()


def jobs(playbook: Playbook, targets: Sequence[Target], *, overrides: Mapping[str, Any] | None = None,
         only: Sequence[str] = ()) -> list[Job]:
    """One job per target, each running ``playbook`` with ``overrides`` on the containers ``only`` names.

    Example::

        remediate.rollout(remediate.jobs(book, [remediate.Target("local")]), remediate.Options(dry_run=True))
    """
    return [Job(t, (playbook,), dict(overrides or {}), tuple(only)) for t in targets]


@dataclass(frozen=True)
class Options:
    """How a fleet run goes.

    Attributes:
        dry_run: plan only; nothing changes anywhere.
        saved: a plan reviewed earlier (:func:`remediate.fleet.saved.load`): refused with
            ``PlanStaleError`` if it drifted, else applied exactly (also checked with ``dry_run``).
        hold: after an apply that changed a time-boxed playbook's containers everywhere without
            failure, hold the change for ``revert_after`` seconds, then put it back (``reverts``).
        forks: hosts worked on at once.
        serial: hosts per batch; a batch starts only when the previous one is done.
        max_fail: stop once this many hosts failed; the hosts not started are ``skipped``.
        timeout: verification timeout per container.
        keep_backups: backups kept per container.
        parallel: containers recreated at once on each host (see :func:`remediate.executor.apply.apply`).
        container_only: compose services: leave the compose file alone (see :func:`remediate.core.planner.plan`).
        ssh: SSH options shared by all hosts (a host's key file wins).
        pull: whether an image an ``image`` change names that is not on a host is pulled through
            its engine while planning (before ``confirm``, so the plan shows what the new image
            supplies, and before anything stops). Default: unless ``dry_run``; True for a dry run
            that previews an apply, so it shows what the apply will do.
        pull_stall: seconds such a pull may go without progress (a registry that stopped
            sending) before it is aborted: the host fails with ``ImageNotFound``, nothing changed.
    """

    dry_run: bool = False
    saved: Reviewed | None = None
    hold: bool = False
    forks: int = 5
    serial: int | None = None
    max_fail: int | None = None
    timeout: float = 60.0
    keep_backups: int = 3
    parallel: int = 1
    container_only: bool = False
    ssh: SshOptions | None = None
    pull: bool | None = None
    pull_stall: float = 60.0


@dataclass(frozen=True)
class Hooks(Generic[R]):
    """What a fleet run calls back, and how it is interrupted.

    Attributes:
        confirm: asked once, with the planned run of every host (a
            :class:`~remediate.fleet.results.RolloutResult` or a
            :class:`~remediate.fleet.rollback.RollbackResult`), before anything is changed (not
            when nothing would change); False changes nothing (the result is that dry run,
            ``declined``). It may raise to refuse. A rollback asks it while holding every host's lock.
        progress: called with ``(host, phase)`` while applying (not while planning first).
        on_plan: called with each host's plan once it is made and before it is applied (not in a
            dry run, nor for a host with nothing to change).
        decide: step mode: asked before each container; ``quit`` ends the whole run.
        on_hold: called with the seconds of a time-boxed hold just before it starts.
        on_pull: called with ``(host, line)`` for the progress of an image pull (see ``Options.pull``).
        cancel: set it to interrupt: hosts not started are skipped, and each host finishes or
            restores what it has in flight; during the hold, it puts the change back at once.
    """

    confirm: Callable[[R], bool] | None = None
    progress: Progress | None = None
    on_plan: Callable[[Target, Plan], None] | None = None
    decide: Decide | None = None
    on_hold: Callable[[float], None] | None = None
    on_pull: Callable[[str, str], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event, compare=False)
