"""remediate: declarative, verified remediation of Docker containers.

The public API; heavy modules load on first use so the CLI starts fast::

    import remediate
    book = remediate.load_playbook("fix-vllm-404")
    with remediate.Connection("local") as conn:
        plan = remediate.plan_host(conn, book, remediate.resolve_vars(book, {}))
        result = remediate.apply(plan, conn)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "load_playbook": "playbook", "resolve_vars": "playbook", "parse_extra_vars": "playbook",
    "Playbook": "playbook",
    "load_inventory": "inventory", "Inventory": "inventory", "Host": "inventory",
    "ContainerSpec": "spec", "spec_from_inspect": "spec",
    "Change": "planner", "Plan": "planner", "ContainerPlan": "planner", "Observed": "planner", "plan": "planner",
    "plan_host": "survey", "survey": "survey",
    "apply": "recreate", "rollback": "recreate",
    "Connection": "connection",
    "HostResult": "report", "ContainerResult": "report",
    "RemediateError": "errors", "PlaybookError": "errors", "InventoryError": "errors",
    "ConnectError": "errors", "HostUnreachable": "errors", "AuthFailed": "errors",
    "HostKeyRejected": "errors", "InspectError": "errors", "ContainerNotFound": "errors",
    "PlanError": "errors", "PlanStaleError": "errors", "ApplyError": "errors", "ProbeFailed": "errors",
    "RollbackFailed": "errors", "LockedError": "errors", "RolloutError": "errors",
}

__all__ = sorted([*_EXPORTS, "__version__"])

if TYPE_CHECKING:
    from remediate.recreate import apply, rollback
    from remediate.connection import Connection
    from remediate.errors import (
        ApplyError, AuthFailed, ConnectError, ContainerNotFound, HostKeyRejected, HostUnreachable,
        InspectError, InventoryError, LockedError, PlanError, PlanStaleError, PlaybookError,
        ProbeFailed, RemediateError, RollbackFailed, RolloutError,
    )
    from remediate.inventory import Host, Inventory, load_inventory
    from remediate.planner import Change, ContainerPlan, Observed, Plan, plan
    from remediate.playbook import Playbook, load_playbook, parse_extra_vars, resolve_vars
    from remediate.report import ContainerResult, HostResult
    from remediate.spec import ContainerSpec, spec_from_inspect
    from remediate.survey import plan_host, survey


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'remediate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"remediate.{module}"), name)
    globals()[name] = value
    return value
