"""remediate: declarative, verified remediation of Docker containers.

The public API; heavy modules load on first use so the CLI starts fast::

    import remediate
    book = remediate.load_playbook("fix-vllm-404")
    with remediate.Connection("local") as conn:
        plan = remediate.plan_host(conn, book, remediate.resolve_vars(book, {}))
        result = remediate.apply(plan, conn)
"""

import importlib as _importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

_EXPORTS = {
    "load_playbook": "playbook", "resolve_vars": "playbook", "parse_extra_vars": "playbook",
    "Playbook": "playbook",
    "load_inventory": "inventory", "Inventory": "inventory", "Host": "inventory",
    "ContainerSpec": "spec", "spec_from_inspect": "spec",
    "Change": "planner", "Plan": "planner", "ContainerPlan": "planner", "Observed": "planner", "plan": "planner",
    "plan_host": "survey",
    "apply": "recreate", "rollback": "restore", "recover": "restore",
    "rollout": "fleet", "RolloutResult": "fleet", "Target": "fleet", "SshOptions": "sshoptions",
    "Connection": "connection",
    "HostResult": "report", "ContainerResult": "report",
    "RemediateError": "errors", "PlaybookError": "errors", "InventoryError": "errors",
    "ConnectError": "errors", "HostUnreachable": "errors", "AuthFailed": "errors",
    "HostKeyRejected": "errors", "InspectError": "errors", "ContainerNotFound": "errors",
    "PlanError": "errors", "PlanStaleError": "errors", "ApplyError": "errors", "ProbeFailed": "errors",
    "RollbackFailed": "errors", "LockedError": "errors", "RecoverNeeded": "errors", "RolloutError": "errors",
}

__all__ = [
    "ApplyError",
    "AuthFailed",
    "Change",
    "ConnectError",
    "Connection",
    "ContainerNotFound",
    "ContainerPlan",
    "ContainerResult",
    "ContainerSpec",
    "Host",
    "HostKeyRejected",
    "HostResult",
    "HostUnreachable",
    "InspectError",
    "Inventory",
    "InventoryError",
    "LockedError",
    "Observed",
    "Plan",
    "PlanError",
    "PlanStaleError",
    "Playbook",
    "PlaybookError",
    "ProbeFailed",
    "RecoverNeeded",
    "RemediateError",
    "RollbackFailed",
    "RolloutError",
    "RolloutResult",
    "SshOptions",
    "Target",
    "__version__",
    "apply",
    "load_inventory",
    "load_playbook",
    "parse_extra_vars",
    "plan",
    "plan_host",
    "recover",
    "resolve_vars",
    "rollback",
    "rollout",
    "spec_from_inspect",
]

if TYPE_CHECKING:
    from remediate.connection import Connection
    from remediate.errors import (
        ApplyError,
        AuthFailed,
        ConnectError,
        ContainerNotFound,
        HostKeyRejected,
        HostUnreachable,
        InspectError,
        InventoryError,
        LockedError,
        PlanError,
        PlanStaleError,
        PlaybookError,
        ProbeFailed,
        RecoverNeeded,
        RemediateError,
        RollbackFailed,
        RolloutError,
    )
    from remediate.fleet import RolloutResult, Target, rollout
    from remediate.inventory import Host, Inventory, load_inventory
    from remediate.planner import Change, ContainerPlan, Observed, Plan, plan
    from remediate.playbook import Playbook, load_playbook, parse_extra_vars, resolve_vars
    from remediate.recreate import apply
    from remediate.report import ContainerResult, HostResult
    from remediate.restore import recover, rollback
    from remediate.spec import ContainerSpec, spec_from_inspect
    from remediate.sshoptions import SshOptions
    from remediate.survey import plan_host


del TYPE_CHECKING


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'remediate' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f"remediate.{module}"), name)
    globals()[name] = value
    return value
