"""The one exception tree of remediate.

::

    RemediateError
    ├── PlaybookError (ValueError)      bad playbook file, field or -e variable
    ├── InventoryError (ValueError)     bad inventory file or --limit pattern
    ├── ConnectError                    cannot talk to a Docker engine / SSH host
    │   ├── HostUnreachable
    │   ├── AuthFailed
    │   └── HostKeyRejected
    ├── InspectError                    the engine answered, but not what we need
    │   └── ContainerNotFound
    ├── PlanError                       a plan cannot be built or is no longer valid
    │   └── PlanStaleError              the container drifted since it was planned
    ├── ApplyError                      the change failed; the original was restored
    │   ├── ProbeFailed                 verification failed after the change
    │   └── JournalError                the host's journal could not be written (disk full)
    ├── RollbackFailed                  the change failed AND restoring failed
    ├── LockedError                     another run holds the host or container
    │   └── RecoverNeeded               an earlier apply on the host did not finish
    └── RolloutError                    some hosts of a rollout failed

Messages never contain secret values; they name keys, never print their values.
"""

from __future__ import annotations

from typing import Any


class RemediateError(Exception):
    """Root of every error remediate raises on purpose."""

    def __init__(self, message: str, *, host: str | None = None, container: str | None = None):
        super().__init__(message)
        self.message = message
        self.host = host
        self.container = container


class PlaybookError(RemediateError, ValueError):
    """A playbook could not be found, parsed, validated or rendered."""

    def __init__(self, message: str, *, path: str | None = None, field: str | None = None):
        super().__init__(message)
        self.path = path
        self.field = field


class InventoryError(RemediateError, ValueError):
    """An inventory file or a host pattern is invalid."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None):
        super().__init__(message)
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
    """A container named on the command line does not exist."""


class PlanError(RemediateError):
    """A plan cannot be built (e.g. a change is not possible for this container)."""


class PlanStaleError(PlanError):
    """A container changed between planning and applying."""


class ApplyError(RemediateError):
    """Applying a plan failed and the original container was restored."""

    def __init__(self, message: str, *, result: Any = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.result = result


class ProbeFailed(ApplyError):
    """Verification failed after the change; the original was restored."""


class JournalError(ApplyError):
    """A record could not be written to the host's journal (a full disk, a lost connection)."""


class RollbackFailed(RemediateError):
    """Applying failed and restoring the original failed too: manual action needed."""

    def __init__(self, message: str, *, manual_steps: list[str] | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.manual_steps = manual_steps or []


class LockedError(RemediateError):
    """Another remediate run holds the lock of this host or container."""


class RecoverNeeded(LockedError):
    """The host's journal has an unfinished apply: run ``remediate recover`` first."""


class RolloutError(RemediateError):
    """One or more hosts of a rollout failed; ``results`` maps host to outcome."""

    def __init__(self, message: str, *, results: Any = None):
        super().__init__(message)
        self.results = results
