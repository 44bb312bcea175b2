"""The exit code of every ``remediate`` command, from what happened: one function, one table.

==== =====================================================================================
code meaning
==== =====================================================================================
0    done, or nothing to do
1    a change failed and the original was restored (or the run was interrupted or aborted)
2    bad input, or nothing could be done (no host reached, locked, drifted, a disk too full)
3    a restore failed too: manual action needed (the steps are printed)
==== =====================================================================================

With ``--detailed-exitcode`` (``apply --dry-run`` and ``diagnose``, for CI; as terraform's
``plan -detailed-exitcode``):

==== =====================================================================================
code meaning
==== =====================================================================================
0    nothing pending: the dry run changes nothing, every diagnose check passes
1    an error: bad input (a usage error too), a host not reached, a plan that failed
2    something pending: the dry run would change a container, a diagnose check fails
==== =====================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Union

import click

from remediate.errors import ApplyError, RemediateError, RollbackFailed, RolloutError

if TYPE_CHECKING:  # loaded when a code is computed: `remediate --help` stays fast
    from remediate import Recovery, Revert
    from remediate.core.results import ContainerResult, HostResult
    from remediate.fleet.results import RolloutResult

OK, FAILED, USAGE, ROLLBACK_FAILED = 0, 1, 2, 3
#: The codes of ``--detailed-exitcode``.
NOTHING_PENDING, ERROR, PENDING = 0, 1, 2
#: The option that switches to them.
DETAILED_OPTION = "--detailed-exitcode"


class DetailedExit(SystemExit):
    """The final exit of a ``--detailed-exitcode`` run (its code is not an error's)."""


def detailed(*, error: bool, pending: bool) -> int:
    """The ``--detailed-exitcode`` code: 1 on an error, else 2 when something is pending, else 0."""
    return ERROR if error else PENDING if pending else NOTHING_PENDING

#: What an exit code can be computed from (an iterable: the worst of its items).
Outcome = Union[BaseException, "RolloutResult", "HostResult", "ContainerResult", "Revert", "Recovery",
                Iterable["Outcome"], None]


def exit_code(outcome: Outcome) -> int:
    """The exit code for ``outcome``: an exception, a result, or several of them (the worst).

    Exceptions: ``RollbackFailed`` 3; ``RolloutError`` as its rollout; an ``ApplyError`` raised
    for a result (``raise_for_failure``) 1; any other ``RemediateError`` 2 (nothing changed, or
    nothing could be done); click's usage errors their own code (2); an abort or an interrupt 1.
    Results: a rollout 3 when a host's restore failed, 2 when no host could be worked on at all,
    1 when a host failed, it was interrupted or its confirm declined, else 0; a container or host result 3 / 1 / 0;
    a revert of a time-boxed change 3 when it failed; a recovery 3 when it left manual steps.
    """
    from remediate import Revert
    from remediate.core.results import Action, ContainerResult, HostResult
    from remediate.fleet.results import RolloutResult

    if outcome is None:
        return OK
    if isinstance(outcome, BaseException):
        return _of_exception(outcome)
    if isinstance(outcome, RolloutResult):
        return _of_rollout(outcome)
    if isinstance(outcome, HostResult):
        return max((exit_code(c) for c in outcome.containers), default=OK)
    if isinstance(outcome, ContainerResult):
        return OK if outcome.ok else ROLLBACK_FAILED if outcome.action is Action.ROLLBACK_FAILED else FAILED
    if isinstance(outcome, Revert):
        return OK if outcome.ok else ROLLBACK_FAILED
    if isinstance(outcome, Iterable):
        return max((exit_code(item) for item in outcome), default=OK)
    return ROLLBACK_FAILED if outcome.manual_steps else OK  # a Recovery


def _of_exception(exc: BaseException) -> int:
    from remediate.core.results import HostResult
    from remediate.fleet.results import RolloutResult

    if isinstance(exc, RollbackFailed):
        return ROLLBACK_FAILED
    if isinstance(exc, RolloutError) and isinstance(exc.result, RolloutResult):
        return _of_rollout(exc.result)
    if isinstance(exc, ApplyError) and isinstance(exc.result, HostResult):
        return FAILED  # the change failed and was restored
    if isinstance(exc, RemediateError):
        return USAGE
    if isinstance(exc, click.ClickException):
        return exc.exit_code
    return FAILED  # an abort, an interrupt


def _of_rollout(result: RolloutResult) -> int:
    statuses = [o.status for o in result.outcomes]
    if "rollback failed" in statuses:
        return ROLLBACK_FAILED
    if statuses and all(s in ("unreachable", "error") for s in statuses):
        return USAGE
    if result.failed or result.interrupted or result.declined:
        return FAILED
    return max((exit_code(r) for r in result.reverts), default=OK)
