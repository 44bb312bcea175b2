"""Fix what diagnose finds: per host, the fixing playbooks of the failing checks merged per
container (:func:`remediate.core.fixall.merge_fixes`), as one job for the orchestrator
(:func:`remediate.fleet.rollout.rollout`): each host's merged fixes planned and applied under one
hold of its lock, one confirm for every host. What no playbook can fix is left, one line each.

Example::

    found = find_fixes([remediate.Target("local")], error_code="A1003")
    result = found.run(remediate.Options(dry_run=True))
    print(result.left)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from remediate.core.fixall import check_fix_vars, merge_fixes, required_vars
from remediate.core.planner import Observed, select
from remediate.core.playbook import Playbook, builtin_playbooks, load_playbook
from remediate.core.redaction import redact_text
from remediate.errors import ConnectError
from remediate.fleet.options import Hooks, Job, Options
from remediate.fleet.results import RolloutResult
from remediate.fleet.rollout import rollout
from remediate.fleet.target import Target
from remediate.host.sshoptions import SshOptions
from remediate.output.rollout import RolloutJson
from remediate.packs.gitlab_duo.checks import Finding
from remediate.packs.gitlab_duo.diagnose import (
    DEFAULT_MODEL_NAME,
    DiagnosisJson,
    diagnose,
    findings_json,
)

#: The command a line of what is left suggests to run again with the var it needs.
RERUN = "remediate diagnose --fix --dry-run"


class FixJson(RolloutJson):
    """``diagnose --fix --format json``: the rollout, which fixes each container's plan merges
    (host -> container -> fixes), and what is left by hand."""

    merged: dict[str, dict[str, list[str]]]
    left: list[str]


@dataclass(frozen=True)
class FixResult:
    """What ``diagnose --fix`` did: the rollout of the merged fixes, what is left by hand, and the
    hosts that could not be diagnosed."""

    rollout: RolloutResult
    left: tuple[str, ...] = ()
    unreachable: tuple[ConnectError, ...] = ()
    #: host -> container -> the fixes its plan merges (:attr:`Fixes.merged`).
    merged: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def to_json(self) -> FixJson:
        """The rollout's JSON with ``merged`` and ``left`` (secrets masked)."""
        return {**self.rollout.to_json(),
                "merged": {h: {c: list(names) for c, names in by.items()} for h, by in self.merged.items()},
                "left": [redact_text(line) for line in self.left]}


@dataclass(frozen=True)
class Fixes:
    """What the diagnosis of every host asks to fix.

    Attributes:
        jobs: one per host with something a playbook fixes (its merged playbooks).
        left: one line per failing check no playbook fixes here (or a fix that needs a var).
        unreachable: the hosts that could not be diagnosed (the others go on).
        reached: how many hosts were diagnosed.
        diagnosis: each diagnosed host's findings (:func:`~remediate.packs.gitlab_duo.diagnose.findings_json`).
        merged: host -> container -> the fixes merged for it, in the order they apply.
    """

    jobs: tuple[Job, ...] = ()
    left: tuple[str, ...] = ()
    unreachable: tuple[ConnectError, ...] = ()
    reached: int = 0
    diagnosis: tuple[DiagnosisJson, ...] = ()
    merged: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)

    def run(self, options: Options | None = None, *,
            hooks: Hooks[RolloutResult] | None = None) -> FixResult:
        """Roll the merged fixes out (:func:`remediate.fleet.rollout.rollout`)."""
        return FixResult(rollout(self.jobs, options, hooks=hooks), self.left, self.unreachable, self.merged)


def find_fixes(targets: Sequence[Target], *, ssh: SshOptions | None = None,
               overrides: Mapping[str, Any] | None = None, error_code: str | None = None,
               model_name: str = DEFAULT_MODEL_NAME, containers: Sequence[str] = (),
               model_endpoints: Sequence[str] = (), rerun: str = RERUN) -> Fixes:
    """Diagnose every target and turn what fails into jobs of merged fixes.

    Args:
        targets: the hosts, diagnosed one after the other.
        ssh: SSH options (a host's key file wins).
        overrides: vars of the fixing playbooks (``-e``); one no fixing playbook declares is refused.
        error_code, model_name, containers, model_endpoints: as for :func:`~remediate.packs.gitlab_duo.diagnose.diagnose`.
        rerun: the command a fix that needs a var suggests, with ``-e NAME=...`` added.

    Raises:
        PlaybookError: an override no fixing playbook declares.
    """
    given = dict(overrides or {})
    check_fix_vars(given, (load_playbook(p.stem) for p in builtin_playbooks()))
    jobs: list[Job] = []
    left: list[str] = []
    unreachable: list[ConnectError] = []
    diagnosis: list[DiagnosisJson] = []
    merged: dict[str, dict[str, tuple[str, ...]]] = {}
    for target in targets:
        try:
            host = _host_fixes(target, ssh, given, error_code=error_code, model_name=model_name,
                               containers=containers, model_endpoints=model_endpoints, rerun=rerun)
        except ConnectError as exc:
            unreachable.append(exc)
            continue
        left.extend(host.left)
        diagnosis.append(findings_json(host.findings, error_code=error_code, host=target.name))
        if host.books:
            merged[target.name] = host.merged
            declared = {name for book in host.books for name in book.vars}
            jobs.append(Job(target, tuple(host.books), {k: v for k, v in given.items() if k in declared}))
    return Fixes(tuple(jobs), tuple(left), tuple(unreachable), len(targets) - len(unreachable), tuple(diagnosis),
                 merged)


def fix(targets: Sequence[Target], options: Options | None = None, *, hooks: Hooks[RolloutResult] | None = None,
        overrides: Mapping[str, Any] | None = None, error_code: str | None = None,
        model_name: str = DEFAULT_MODEL_NAME, containers: Sequence[str] = (),
        model_endpoints: Sequence[str] = ()) -> FixResult:
    """Diagnose every target and fix what a playbook can fix (:func:`find_fixes`, then :meth:`Fixes.run`).

    Raises:
        PlaybookError: an override no fixing playbook declares.
    """
    options = options or Options()
    return find_fixes(targets, ssh=options.ssh, overrides=overrides, error_code=error_code, model_name=model_name,
                      containers=containers, model_endpoints=model_endpoints).run(options, hooks=hooks)


def _host_fixes(target: Target, ssh: SshOptions | None, overrides: Mapping[str, Any], *, error_code: str | None,
                model_name: str, containers: Sequence[str], model_endpoints: Sequence[str],
                rerun: str) -> _HostFixes:
    """Diagnose one host: its findings, the merged playbooks of its failing checks (and which
    fixes each container's merges), and the lines of what is left by hand (a check no playbook
    fixes, a fix that needs a var: ``rerun`` with it)."""
    with target.connection(ssh) as conn:
        findings = diagnose(conn, error_code=error_code, model_name=model_name, containers=tuple(containers),
                            model_endpoints=tuple(model_endpoints))
        inspects = {f.container: conn.find_container(f.container) for f in findings if f.fix}
    fixes: dict[str, list[Playbook]] = {}
    left: list[str] = []
    for f in (f for f in findings if f.status == "fail"):
        where = f"{target.name}: {f.container}: {f.check}"
        if f.fix is None:
            left.append(f"{where}: {f.evidence} (no playbook fixes it: by hand)")
            continue
        book = load_playbook(f.fix)
        inspect = inspects.get(f.container)
        if inspect is None or not select(book, [Observed(inspect)]):
            left.append(f"{where}: {f.evidence} ({f.fix} does not select this container: by hand)")
            continue
        needed = required_vars(book, {**target.vars, **overrides})
        if needed:
            more = " ".join(f"-e {name}=..." for name in needed)
            left.append(f"{where}: {f.fix} needs {', '.join(needed)}: {rerun} {more}")
            continue
        fixes.setdefault(f.container, []).append(book)
    return _HostFixes(tuple(findings), merge_fixes(fixes), left,
                      {c: tuple(dict.fromkeys(b.name for b in books)) for c, books in sorted(fixes.items())})


class _HostFixes(NamedTuple):
    findings: tuple[Finding, ...]
    books: list[Playbook]
    left: list[str]
    merged: dict[str, tuple[str, ...]]
