"""remediate: declarative, verified remediation of Docker containers.

The public API; each name loads its module on first use so the CLI starts fast.

The safe flow, as ``remediate apply`` runs it: plan every host, show the plans and ask, then apply
exactly what was shown (each host re-plans under its lock and refuses if anything drifted),
verify, restore on failure; a time-boxed playbook is held and put back (``hold=True``)::

    import remediate

    def confirm(planned: remediate.RolloutResult) -> bool:   # every host's plan; nothing changed yet
        return input(f"apply {sum(len(o.plan.changed) for o in planned.outcomes if o.plan)} change(s)? ") == "y"

    book = remediate.load_playbook("fix-vllm-404")
    result = remediate.rollout(remediate.jobs(book, [remediate.Target("local")]), remediate.Options(hold=True),
                               hooks=remediate.Hooks(confirm=confirm))
    result.raise_for_failure()      # RolloutError (.result); its cause e.g. ProbeFailed (.checks)

A job is a target and its playbooks (``remediate.Job``), planned and applied under one hold of
the host's lock; ``remediate.Options`` say how (``dry_run``, ``forks``, ``timeout``, ...) and
``remediate.Hooks`` what to call back (``confirm``, ``progress``, ``decide``, ``cancel``). The same
flow fixes what ``diagnose`` finds (``remediate.fix``) and rolls back many hosts
(``remediate.roll_back``: preview, confirm and roll back under one hold of each host's lock).

One step at a time, on one host::

    with remediate.Connection("local") as conn:
        plan = remediate.plan_host(conn, book, remediate.resolve_vars(book, {}))
        remediate.apply(plan, conn).raise_for_failure()

Every outcome has a typed JSON-ready view, secrets masked: ``plan.to_json()`` (``PlanJson``),
``result.to_json()`` (``ResultJson``), ``RolloutResult.to_json()``, ``RollbackResult.to_json()``,
``HostRecovery.to_json()``. Who prints their own output (the Ansible collection) masks it with the
same helpers: ``redact_text``, ``redact_mapping``, ``mask_json``, ``secret_values``, ``plan_secrets``,
``visible``. Recover and ``apply --restore`` walk many hosts too (``recover_all``, ``revert_now``).

The layers, top to bottom (each imports only from those below it; ``lint-imports`` checks it):
``cli`` → ``packs`` (GitLab Duo) → ``fleet`` → ``executor`` | ``output`` → ``host`` → ``core`` →
``errors``.
"""

import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"

#: Where each public name lives (loaded on first access; mypy reads the imports below instead).
_EXPORTS = {
    "Playbook": "remediate.core.playbook",
    "Selector": "remediate.core.playbook",
    "load_playbook": "remediate.core.playbook",
    "parse_extra_vars": "remediate.core.playbook",
    "resolve_vars": "remediate.core.playbook",
    "Change": "remediate.core.planner",
    "ChangeAction": "remediate.core.planner",
    "ContainerAction": "remediate.core.planner",
    "RunState": "remediate.core.planner",
    "ContainerPlan": "remediate.core.planner",
    "FileWrite": "remediate.core.planner",
    "Observed": "remediate.core.planner",
    "Plan": "remediate.core.planner",
    "plan": "remediate.core.planner",
    "HostLogin": "remediate.core.paths",
    "HostPath": "remediate.core.paths",
    "PathOwner": "remediate.core.paths",
    "FileRestore": "remediate.core.lineage",
    "RollbackPlan": "remediate.core.lineage",
    "Action": "remediate.core.results",
    "ContainerResult": "remediate.core.results",
    "HostResult": "remediate.core.results",
    "ProbeResult": "remediate.core.results",
    "ContainerSpec": "remediate.core.spec",
    "spec_from_inspect": "remediate.core.spec",
    "ApplyError": "remediate.errors",
    "AuthFailed": "remediate.errors",
    "ConnectError": "remediate.errors",
    "ContainerNotFound": "remediate.errors",
    "HostKeyRejected": "remediate.errors",
    "HostUnreachable": "remediate.errors",
    "InspectError": "remediate.errors",
    "InventoryError": "remediate.errors",
    "LockedError": "remediate.errors",
    "PlanError": "remediate.errors",
    "PlanStaleError": "remediate.errors",
    "PlaybookError": "remediate.errors",
    "ProbeFailed": "remediate.errors",
    "RecoverNeeded": "remediate.errors",
    "RemediateError": "remediate.errors",
    "RollbackFailed": "remediate.errors",
    "RolloutError": "remediate.errors",
    "StateDirError": "remediate.errors",
    "HostFileError": "remediate.errors",
    "ImageNotFound": "remediate.errors",
    "JournalError": "remediate.errors",
    "NetworkNotFound": "remediate.errors",
    "apply": "remediate.executor.apply",
    "Revert": "remediate.executor.hold",
    "plan_host": "remediate.executor.observe",
    "Recovery": "remediate.core.kept",
    "plan_recover": "remediate.executor.restore",
    "plan_rollback": "remediate.executor.restore",
    "recover": "remediate.executor.restore",
    "rollback": "remediate.executor.restore",
    "Host": "remediate.fleet.inventory",
    "Inventory": "remediate.fleet.inventory",
    "load_inventory": "remediate.fleet.inventory",
    "HostOutcome": "remediate.fleet.results",
    "RolloutResult": "remediate.fleet.results",
    "Target": "remediate.fleet.target",
    "hold_then_revert": "remediate.fleet.timebox",
    "rollout": "remediate.fleet.rollout",
    "Job": "remediate.fleet.options",
    "jobs": "remediate.fleet.options",
    "Options": "remediate.fleet.options",
    "Hooks": "remediate.fleet.options",
    "RollbackJob": "remediate.fleet.rollback",
    "RollbackOutcome": "remediate.fleet.rollback",
    "RollbackResult": "remediate.fleet.rollback",
    "roll_back": "remediate.fleet.rollback",
    "Fixes": "remediate.packs.gitlab_duo.fix",
    "FixResult": "remediate.packs.gitlab_duo.fix",
    "find_fixes": "remediate.packs.gitlab_duo.fix",
    "fix": "remediate.packs.gitlab_duo.fix",
    "HostOutcomeJson": "remediate.output.rollout",
    "RolloutJson": "remediate.output.rollout",
    "RollbackPreviewJson": "remediate.output.rollback",
    "RollbackRowJson": "remediate.output.rollback",
    "FixJson": "remediate.packs.gitlab_duo.fix",
    "PlanJson": "remediate.output.plan",
    "plan_json": "remediate.output.plan",
    "after_message": "remediate.output.plan",
    "ResultJson": "remediate.output.result",
    "result_json": "remediate.output.result",
    "redact_text": "remediate.core.redaction",
    "redact_mapping": "remediate.core.redaction",
    "mask_json": "remediate.core.redaction",
    "secret_values": "remediate.core.redaction",
    "MASK": "remediate.core.redaction",
    "is_maskable": "remediate.core.redaction",
    "is_secret_name": "remediate.core.redaction",
    "masked_parts": "remediate.core.secret_flow",
    "plan_secrets": "remediate.core.secret_flow",
    "visible": "remediate.core.visible",
    "diagnose": "remediate.packs.gitlab_duo.diagnose",
    "explain": "remediate.packs.gitlab_duo.diagnose",
    "findings_json": "remediate.packs.gitlab_duo.diagnose",
    "Finding": "remediate.packs.gitlab_duo.checks",
    "ErrorCode": "remediate.packs.gitlab_duo.diagnose",
    "DiagnosisJson": "remediate.packs.gitlab_duo.diagnose",
    "HostRecovery": "remediate.fleet.recovery",
    "recover_all": "remediate.fleet.recovery",
    "revert_now": "remediate.fleet.timebox",
    "RecoverRowJson": "remediate.output.records",
    "Connection": "remediate.host.connection",
    "Dialect": "remediate.host.dialect",
    "HostFiles": "remediate.host.files",
    "SshOptions": "remediate.host.sshoptions",
}

__all__ = [  # noqa: RUF022 (plain sorted order, as the public API test reads it)
    "Action",
    "ApplyError",
    "AuthFailed",
    "Change",
    "ChangeAction",
    "ConnectError",
    "Connection",
    "ContainerAction",
    "ContainerNotFound",
    "ContainerPlan",
    "ContainerResult",
    "ContainerSpec",
    "DiagnosisJson",
    "Dialect",
    "ErrorCode",
    "FileRestore",
    "FileWrite",
    "Finding",
    "FixJson",
    "FixResult",
    "Fixes",
    "Hooks",
    "Host",
    "HostFileError",
    "HostFiles",
    "HostKeyRejected",
    "HostLogin",
    "HostOutcome",
    "HostOutcomeJson",
    "HostPath",
    "HostRecovery",
    "HostResult",
    "HostUnreachable",
    "ImageNotFound",
    "InspectError",
    "Inventory",
    "InventoryError",
    "Job",
    "JournalError",
    "LockedError",
    "MASK",
    "NetworkNotFound",
    "Observed",
    "Options",
    "PathOwner",
    "Plan",
    "PlanError",
    "PlanJson",
    "PlanStaleError",
    "Playbook",
    "PlaybookError",
    "ProbeFailed",
    "ProbeResult",
    "RecoverNeeded",
    "RecoverRowJson",
    "Recovery",
    "RemediateError",
    "ResultJson",
    "Revert",
    "RollbackFailed",
    "RollbackJob",
    "RollbackOutcome",
    "RollbackPlan",
    "RollbackPreviewJson",
    "RollbackResult",
    "RollbackRowJson",
    "RolloutError",
    "RolloutJson",
    "RolloutResult",
    "RunState",
    "Selector",
    "SshOptions",
    "StateDirError",
    "Target",
    "__version__",
    "after_message",
    "apply",
    "diagnose",
    "explain",
    "find_fixes",
    "findings_json",
    "fix",
    "hold_then_revert",
    "is_maskable",
    "is_secret_name",
    "jobs",
    "load_inventory",
    "load_playbook",
    "mask_json",
    "masked_parts",
    "parse_extra_vars",
    "plan",
    "plan_host",
    "plan_json",
    "plan_recover",
    "plan_rollback",
    "plan_secrets",
    "recover",
    "recover_all",
    "redact_mapping",
    "redact_text",
    "resolve_vars",
    "result_json",
    "revert_now",
    "roll_back",
    "rollback",
    "rollout",
    "secret_values",
    "spec_from_inspect",
    "visible",
]

if _typing.TYPE_CHECKING:
    from remediate.core.kept import (
        Recovery as Recovery,
    )
    from remediate.core.lineage import (
        FileRestore as FileRestore,
    )
    from remediate.core.lineage import (
        RollbackPlan as RollbackPlan,
    )
    from remediate.core.paths import (
        HostLogin as HostLogin,
    )
    from remediate.core.paths import (
        HostPath as HostPath,
    )
    from remediate.core.paths import (
        PathOwner as PathOwner,
    )
    from remediate.core.planner import (
        Change as Change,
    )
    from remediate.core.planner import (
        ChangeAction as ChangeAction,
    )
    from remediate.core.planner import (
        ContainerAction as ContainerAction,
    )
    from remediate.core.planner import (
        ContainerPlan as ContainerPlan,
    )
    from remediate.core.planner import (
        FileWrite as FileWrite,
    )
    from remediate.core.planner import (
        Observed as Observed,
    )
    from remediate.core.planner import (
        Plan as Plan,
    )
    from remediate.core.planner import (
        RunState as RunState,
    )
    from remediate.core.planner import (
        plan as plan,
    )
    from remediate.core.playbook import (
        Playbook as Playbook,
    )
    from remediate.core.playbook import (
        Selector as Selector,
    )
    from remediate.core.playbook import (
        load_playbook as load_playbook,
    )
    from remediate.core.playbook import (
        parse_extra_vars as parse_extra_vars,
    )
    from remediate.core.playbook import (
        resolve_vars as resolve_vars,
    )
    from remediate.core.redaction import MASK as MASK
    from remediate.core.redaction import is_maskable as is_maskable
    from remediate.core.redaction import is_secret_name as is_secret_name
    from remediate.core.redaction import (
        mask_json as mask_json,
    )
    from remediate.core.redaction import (
        redact_mapping as redact_mapping,
    )
    from remediate.core.redaction import (
        redact_text as redact_text,
    )
    from remediate.core.redaction import (
        secret_values as secret_values,
    )
    from remediate.core.results import (
        Action as Action,
    )
    from remediate.core.results import (
        ContainerResult as ContainerResult,
    )
    from remediate.core.results import (
        HostResult as HostResult,
    )
    from remediate.core.results import (
        ProbeResult as ProbeResult,
    )
    from remediate.core.secret_flow import masked_parts as masked_parts
    from remediate.core.secret_flow import (
        plan_secrets as plan_secrets,
    )
    from remediate.core.spec import (
        ContainerSpec as ContainerSpec,
    )
    from remediate.core.spec import (
        spec_from_inspect as spec_from_inspect,
    )
    from remediate.core.visible import (
        visible as visible,
    )
    from remediate.errors import (
        ApplyError as ApplyError,
    )
    from remediate.errors import (
        AuthFailed as AuthFailed,
    )
    from remediate.errors import (
        ConnectError as ConnectError,
    )
    from remediate.errors import (
        ContainerNotFound as ContainerNotFound,
    )
    from remediate.errors import (
        HostFileError as HostFileError,
    )
    from remediate.errors import (
        HostKeyRejected as HostKeyRejected,
    )
    from remediate.errors import (
        HostUnreachable as HostUnreachable,
    )
    from remediate.errors import (
        ImageNotFound as ImageNotFound,
    )
    from remediate.errors import (
        InspectError as InspectError,
    )
    from remediate.errors import (
        InventoryError as InventoryError,
    )
    from remediate.errors import (
        JournalError as JournalError,
    )
    from remediate.errors import (
        LockedError as LockedError,
    )
    from remediate.errors import (
        NetworkNotFound as NetworkNotFound,
    )
    from remediate.errors import (
        PlanError as PlanError,
    )
    from remediate.errors import (
        PlanStaleError as PlanStaleError,
    )
    from remediate.errors import (
        PlaybookError as PlaybookError,
    )
    from remediate.errors import (
        ProbeFailed as ProbeFailed,
    )
    from remediate.errors import (
        RecoverNeeded as RecoverNeeded,
    )
    from remediate.errors import (
        RemediateError as RemediateError,
    )
    from remediate.errors import (
        RollbackFailed as RollbackFailed,
    )
    from remediate.errors import (
        RolloutError as RolloutError,
    )
    from remediate.errors import (
        StateDirError as StateDirError,
    )
    from remediate.executor.apply import (
        apply as apply,
    )
    from remediate.executor.hold import (
        Revert as Revert,
    )
    from remediate.executor.observe import (
        plan_host as plan_host,
    )
    from remediate.executor.restore import (
        plan_recover as plan_recover,
    )
    from remediate.executor.restore import (
        plan_rollback as plan_rollback,
    )
    from remediate.executor.restore import (
        recover as recover,
    )
    from remediate.executor.restore import (
        rollback as rollback,
    )
    from remediate.fleet.inventory import (
        Host as Host,
    )
    from remediate.fleet.inventory import (
        Inventory as Inventory,
    )
    from remediate.fleet.inventory import (
        load_inventory as load_inventory,
    )
    from remediate.fleet.options import (
        Hooks as Hooks,
    )
    from remediate.fleet.options import (
        Job as Job,
    )
    from remediate.fleet.options import (
        Options as Options,
    )
    from remediate.fleet.options import (
        jobs as jobs,
    )
    from remediate.fleet.recovery import (
        HostRecovery as HostRecovery,
    )
    from remediate.fleet.recovery import (
        recover_all as recover_all,
    )
    from remediate.fleet.results import (
        HostOutcome as HostOutcome,
    )
    from remediate.fleet.results import (
        RolloutResult as RolloutResult,
    )
    from remediate.fleet.rollback import (
        RollbackJob as RollbackJob,
    )
    from remediate.fleet.rollback import (
        RollbackOutcome as RollbackOutcome,
    )
    from remediate.fleet.rollback import (
        RollbackResult as RollbackResult,
    )
    from remediate.fleet.rollback import (
        roll_back as roll_back,
    )
    from remediate.fleet.rollout import (
        rollout as rollout,
    )
    from remediate.fleet.target import (
        Target as Target,
    )
    from remediate.fleet.timebox import (
        hold_then_revert as hold_then_revert,
    )
    from remediate.fleet.timebox import (
        revert_now as revert_now,
    )
    from remediate.host.connection import (
        Connection as Connection,
    )
    from remediate.host.dialect import (
        Dialect as Dialect,
    )
    from remediate.host.files import (
        HostFiles as HostFiles,
    )
    from remediate.host.sshoptions import (
        SshOptions as SshOptions,
    )
    from remediate.output.plan import (
        PlanJson as PlanJson,
    )
    from remediate.output.plan import (
        after_message as after_message,
    )
    from remediate.output.plan import (
        plan_json as plan_json,
    )
    from remediate.output.records import (
        RecoverRowJson as RecoverRowJson,
    )
    from remediate.output.result import (
        ResultJson as ResultJson,
    )
    from remediate.output.result import (
        result_json as result_json,
    )
    from remediate.output.rollback import RollbackPreviewJson as RollbackPreviewJson
    from remediate.output.rollback import RollbackRowJson as RollbackRowJson
    from remediate.output.rollout import HostOutcomeJson as HostOutcomeJson
    from remediate.output.rollout import RolloutJson as RolloutJson
    from remediate.packs.gitlab_duo.checks import (
        Finding as Finding,
    )
    from remediate.packs.gitlab_duo.diagnose import (
        DiagnosisJson as DiagnosisJson,
    )
    from remediate.packs.gitlab_duo.diagnose import (
        ErrorCode as ErrorCode,
    )
    from remediate.packs.gitlab_duo.diagnose import (
        diagnose as diagnose,
    )
    from remediate.packs.gitlab_duo.diagnose import (
        explain as explain,
    )
    from remediate.packs.gitlab_duo.diagnose import (
        findings_json as findings_json,
    )
    from remediate.packs.gitlab_duo.fix import (
        Fixes as Fixes,
    )
    from remediate.packs.gitlab_duo.fix import (
        FixJson as FixJson,
    )
    from remediate.packs.gitlab_duo.fix import (
        FixResult as FixResult,
    )
    from remediate.packs.gitlab_duo.fix import (
        find_fixes as find_fixes,
    )
    from remediate.packs.gitlab_duo.fix import (
        fix as fix,
    )
else:
    def __getattr__(name: str) -> object:
        module = _EXPORTS.get(name)
        if module is None:
            raise AttributeError(f"module 'remediate' has no attribute {name!r}")
        value = getattr(_importlib.import_module(module), name)
        globals()[name] = value
        return value
