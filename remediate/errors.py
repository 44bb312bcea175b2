"""The one exception tree of remediate.

::

    RemediateError                      .host .container (names), .plan, .result (objects)
    ├── PlaybookError (ValueError)      bad playbook file, field or -e variable
    ├── InventoryError (ValueError)     bad inventory file, --limit pattern or -H URL
    ├── ConnectError                    cannot talk to a Docker engine / SSH host
    │   ├── HostUnreachable
    │   ├── AuthFailed
    │   └── HostKeyRejected
    ├── InspectError                    the engine answered, but not what we need
    │   ├── ContainerNotFound
    │   ├── ImageNotFound
    │   └── NetworkNotFound
    ├── PlanError                       a plan cannot be built or is no longer valid
    │   └── PlanStaleError              a container drifted since it was planned (or reviewed)
    ├── ApplyError                      the change failed; the original was restored
    │   ├── ProbeFailed                 verification failed after the change (.checks)
    │   ├── HostFileError               a file on the Docker host could not be read or written (.path)
    │   └── JournalError                the host's journal could not be written (disk full), or a
    │                                   record read back does not fit its transaction
    ├── RollbackFailed                  the change failed AND restoring failed (.manual_steps)
    ├── StateDirError                   the host's state directory is unsafe or unusable (.path)
    ├── LockedError                     another run holds the host or container
    │   └── RecoverNeeded               an earlier apply on the host did not finish
    └── RolloutError                    some hosts of a rollout failed (.result: the RolloutResult)

Every attribute is keyword-only and optional. ``result`` is the object the error is about when
there is one: a :class:`~remediate.core.results.HostResult` (``ApplyError``, ``ProbeFailed``,
``RollbackFailed`` raised by ``HostResult.raise_for_failure``), the reverts of a time-boxed hold
(``RollbackFailed`` raised by the hold), or a ``RolloutResult`` (``RolloutError``). The classes
here import nothing of remediate (they are the lowest layer), so those attributes are typed
``Any``.

Messages never contain secret values; they name keys, never print their values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class RemediateError(Exception):
    """Root of every error remediate raises on purpose.

    Args:
        message: one line, fit to print (no secret values).
        host: the host label it concerns.
        container: the container name it concerns.
        plan: the :class:`~remediate.core.planner.Plan` it concerns.
        result: the result it concerns (see the module docstring).
    """

    def __init__(self, message: str, *, host: str | None = None, container: str | None = None,
                 plan: Any = None, result: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.host = host
        self.container = container
        self.plan = plan
        self.result = result


class PlaybookError(RemediateError, ValueError):
    """A playbook could not be found, parsed, validated or rendered."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path
        self.field = field


class InventoryError(RemediateError, ValueError):
    """An inventory file, a host pattern or a host URL is invalid."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path
        self.line = line


class ConnectError(RemediateError):
    """A Docker engine or SSH host could not be reached or used."""


class HostUnreachable(ConnectError):
    """Nothing answered at the host's address, socket or port."""


class AuthFailed(ConnectError):
    """The host answered but refused our credentials."""


class HostKeyRejected(ConnectError):
    """The SSH host key is unknown (and not accepted) or has changed."""


class InspectError(RemediateError):
    """The engine could not describe a container or image as needed."""


class ContainerNotFound(InspectError):
    """A container (named on the command line, or referenced by a step) does not exist."""


class ImageNotFound(InspectError):
    """An image the engine needs (e.g. to create a container) does not exist on the host.

    Args:
        image: the image reference, when known.
    """

    def __init__(self, message: str, *, image: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.image = image


class NetworkNotFound(InspectError):
    """A network a container joins does not exist on the host.

    Args:
        network: the network name, when known.
    """

    def __init__(self, message: str, *, network: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.network = network


class PlanError(RemediateError):
    """A plan cannot be built (e.g. a change is not possible for this container)."""


class PlanStaleError(PlanError):
    """A container changed between planning (or reviewing) and applying; nothing was changed."""


class ApplyError(RemediateError):
    """Applying a plan failed and the original container was restored."""


class ProbeFailed(ApplyError):
    """Verification failed after the change; the original was restored.

    Args:
        checks: the :class:`~remediate.core.results.ProbeResult` of every verify step that ran
            (the last one failed).
    """

    def __init__(self, message: str, *, checks: Sequence[Any] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.checks = tuple(checks)


class HostFileError(ApplyError):
    """A file on the Docker host could not be read, written or removed.

    Args:
        path: the file on the host.
    """

    def __init__(self, message: str, *, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class JournalError(ApplyError):
    """A record could not be written to the host's journal (a full disk, a lost connection), or a
    record read back names a file its transaction did not keep (a saved copy outside the state
    directory, a path that is not absolute and normal)."""


class RollbackFailed(RemediateError):
    """Applying failed and restoring the original failed too: manual action needed.

    Args:
        manual_steps: the commands to run by hand.
    """

    def __init__(self, message: str, *, manual_steps: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.manual_steps = tuple(manual_steps)


class StateDirError(RemediateError):
    """The state directory on a Docker host (journal, lock) is not safe to trust (another user
    could write it) or cannot be used; nothing was changed.

    Args:
        path: the directory (or file in it) at fault.
    """

    def __init__(self, message: str, *, path: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.path = path


class LockedError(RemediateError):
    """Another remediate run holds the lock of this host or container."""


class RecoverNeeded(LockedError):
    """The host's journal has an unfinished apply: run ``remediate recover`` first."""


class RolloutError(RemediateError):
    """One or more hosts of a rollout failed; ``result`` is the whole ``RolloutResult``
    (``result.failed`` the hosts that failed, each outcome's ``exception`` why)."""
