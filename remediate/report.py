"""Results, redaction and JSON-ready output. Every output path goes through :func:`redact_value`
and :func:`redact_text`, so secret values never reach a terminal, a file or a log.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from remediate.planner import ContainerPlan, FileWrite, Plan
from remediate.probes import ProbeResult
from remediate.runview import run_lines
from remediate.spec import MASK, ContainerSpec, is_secret_name

Json = dict[str, Any]

_PEM = re.compile(r"-----BEGIN [A-Z0-9 ]+-----.*?(-----END [A-Z0-9 ]+-----|$)", re.DOTALL)
_SECRET_ASSIGN = re.compile(
    r"(?P<key>[A-Za-z0-9_.-]*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)[A-Za-z0-9_]*|AWS_[A-Z0-9_]+)"
    r"(?P<sep>\s*[=:]\s*|\s+)(?P<quote>[\"']?)(?P<value>[^\s\"',}]+)",
    re.IGNORECASE,
)
#: Ends the ``error`` of a container the user chose not to apply in step mode ("skip (step mode)").
STEP_MODE = "(step mode)"
#: Why containers (and hosts) were skipped after an interrupt.
INTERRUPTED = "interrupted"
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)


def redact_value(name: str, value: str) -> str:
    """The value to show for a named setting: masked when the name looks secret or it holds a PEM."""
    if is_secret_name(name):
        return MASK
    return redact_text(value)


def redact_text(text: str) -> str:
    """Mask PEM blocks, ``KEY=value`` / ``--api-key value`` pairs and bearer tokens in free text."""
    text = _PEM.sub("-----BEGIN REDACTED-----" + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _SECRET_ASSIGN.sub(lambda m: f"{m.group('key')}{m.group('sep')}{m.group('quote')}{MASK}", text)


@dataclass(frozen=True)
class ContainerResult:
    """What happened to one container during apply."""

    name: str
    action: Literal["unchanged", "recreated", "restored", "rolled back", "rollback failed", "skipped"]
    id_before: str
    id_after: str | None = None
    backup: str | None = None
    checks: tuple[ProbeResult, ...] = ()
    error: str | None = None
    seconds: float = 0.0
    manual_steps: tuple[str, ...] = ()
    #: Last log lines (secrets masked) of a new container that failed to start or exited.
    logs: tuple[str, ...] = ()

    @property
    def declined(self) -> bool:
        """True when the user chose not to apply it (step mode: skip, or quit before it)."""
        return self.action == "skipped" and (self.error or "").endswith(STEP_MODE)

    @property
    def ok(self) -> bool:
        """True when the container ended as planned (or as the user chose in step mode)."""
        return self.action in ("unchanged", "recreated", "restored") or self.declined


@dataclass(frozen=True)
class HostResult:
    """The outcome of applying a plan on one host."""

    host: str
    plan: Plan
    containers: tuple[ContainerResult, ...]
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when every container ended as planned."""
        return all(c.ok for c in self.containers)

    @property
    def rollback_failed(self) -> bool:
        """True when some container could not be restored."""
        return any(c.action == "rollback failed" for c in self.containers)


# --------------------------------------------------------------------------- views

def shown_run_lines(spec: ContainerSpec) -> list[str]:
    """``docker run`` lines of a spec with secrets masked."""
    return run_lines(spec, redact=redact_value)


def run_diff(before: ContainerSpec, after: ContainerSpec) -> list[str]:
    """Line diff of two specs' ``docker run`` views: ``"  "`` same, ``"- "`` removed, ``"+ "`` added."""
    old, new = shown_run_lines(before), shown_run_lines(after)
    out = []
    for line in difflib.ndiff(old, new):
        if line.startswith(("  ", "- ", "+ ")):
            out.append(line)
    return out


def file_diff(write: FileWrite) -> list[str]:
    """Unified diff of a file write (a new file is all ``+``); binary or secret content summarised."""
    before = (write.before or b"").decode("utf-8", "replace").splitlines(keepends=False)
    after = write.content.decode("utf-8", "replace").splitlines(keepends=False)
    label_from = write.path if write.before is not None else "/dev/null"
    lines = list(difflib.unified_diff(before, after, label_from, write.path, lineterm=""))
    if write.before_mode is not None and write.before_mode != write.mode:
        lines.append(f"mode {write.before_mode:04o} -> {write.mode:04o}")
    return [redact_text(line) for line in lines]


def container_plan_json(cp: ContainerPlan, file_users: Mapping[str, tuple[str, ...]] | None = None) -> Json:
    """JSON-ready view of one container's plan (secrets masked); ``file_users`` (from
    :meth:`Plan.file_users`) names the other planned containers that need each of its files."""
    users = file_users or {}
    return {
        "container": cp.name,
        "id": cp.id[:12],
        "action": cp.action,
        "fingerprint": cp.fingerprint,
        "changes": [
            {"field": c.field, "action": c.action, "reason": c.reason,
             "before": _shown(c.field, c.before), "after": _shown(c.field, c.after)}
            for c in cp.changes
        ],
        "run_before": shown_run_lines(cp.before),
        "run_after": shown_run_lines(cp.after),
        "diff": run_diff(cp.before, cp.after),
        "files": [
            {"path": f.path, "mode": f"{f.mode:04o}", "changed": f.changed, "diff": file_diff(f),
             "shared_with": [n for n in users.get(f.path, ()) if n != cp.name]}
            for f in cp.files
        ],
        "dependents": list(cp.dependents),
        "notes": list(cp.notes),
        "verify": [f"http {p.method} {p.path} on port {p.port} -> {p.status}"
                   + (f" containing {p.contains!r}" if p.contains else "") for p in cp.verify],
    }


def plan_json(plan: Plan) -> Json:
    """JSON-ready view of a plan (secrets masked)."""
    return {
        "playbook": plan.playbook,
        "host": plan.host,
        "vars": redact_mapping(plan.vars),
        "containers": [container_plan_json(cp, plan.file_users()) for cp in plan.containers],
        "changed": len(plan.changed),
    }


def result_json(result: HostResult) -> Json:
    """JSON-ready view of an apply result (secrets masked)."""
    return {
        "host": result.host,
        "ok": result.ok,
        "seconds": round(result.seconds, 3),
        "plan": plan_json(result.plan),
        "containers": [
            {"container": c.name, "action": c.action, "id_before": c.id_before[:12],
             "id_after": (c.id_after or "")[:12] or None, "backup": c.backup,
             "error": redact_text(c.error) if c.error else None,
             "checks": [{"name": p.name, "ok": p.ok, "evidence": redact_text(p.evidence),
                         "attempts": p.attempts} for p in c.checks],
             "manual_steps": [redact_text(s) for s in c.manual_steps],
             "logs": [redact_text(line) for line in c.logs],
             "seconds": round(c.seconds, 3)}
            for c in result.containers
        ],
    }


def redact_mapping(values: Mapping[str, Any]) -> Json:
    """Mask the values of secret-looking keys (recursively) and PEM blocks anywhere."""
    out: Json = {}
    for key, value in values.items():
        if isinstance(value, Mapping):
            out[key] = redact_mapping(value)
        elif is_secret_name(str(key)) and value not in (None, ""):
            out[key] = MASK
        elif isinstance(value, str):
            out[key] = redact_text(value)
        else:
            out[key] = value
    return out


def _shown(field: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    name = field.split(".", 1)[1] if "." in field else field
    return redact_value(name, str(value))


# --------------------------------------------------------------------------- Markdown report

def markdown_report(data: Mapping[str, Any]) -> str:
    """A shareable Markdown record of a run (from already-redacted JSON data).

    Readable on a ticket without the tool: what ran, where, what changed (``docker run`` lines
    before/after, file diffs), how it was verified, and the result.
    """
    lines = [f"# remediate report: {data.get('playbook')} ({data.get('mode')})", ""]
    lines += [f"- tool: {data.get('tool')}", f"- started: {data.get('started')}",
              f"- finished: {data.get('finished')}", f"- hosts: {len(data.get('hosts') or [])}", ""]
    if data.get("description"):
        lines += [f"> {' '.join(str(data['description']).split())}", ""]
    lines += ["## Summary", "", "| host | status | containers changed | time |", "|---|---|---|---|"]
    for host in data.get("hosts") or []:
        changed = (host.get("plan") or {}).get("changed", "-")
        lines.append(f"| {host['host']} | {host['status']} | {changed} | {host['seconds']:.1f} s |")
    first_plan = next((h["plan"] for h in data.get("hosts") or [] if h.get("plan")), None)
    if first_plan and first_plan.get("vars"):
        lines += ["", "## Variables", "", "| name | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in first_plan["vars"].items()]
    for host in data.get("hosts") or []:
        lines += ["", f"## Host {host['host']}: {host['status']}", ""]
        if host.get("error"):
            lines += [f"Error: {redact_text(str(host['error']))}", ""]
        results = {c["container"]: c for c in ((host.get("result") or {}).get("containers") or [])}
        for cp in (host.get("plan") or {}).get("containers") or []:
            lines += _container_markdown(cp, results.get(cp["container"]))
    return redact_text("\n".join(lines)) + "\n"


def _container_markdown(cp: Mapping[str, Any], result: Mapping[str, Any] | None) -> list[str]:
    lines = [f"### {cp['container']} ({cp['id']}): {cp['action']}", ""]
    for change in cp.get("changes") or []:
        if change["action"] == "noop":
            lines.append(f"- `{change['field']}`: no change ({change['reason']})")
        else:
            lines.append(f"- `{change['field']}`: `{change['before']}` -> `{change['after']}`")
    for note in cp.get("notes") or []:
        lines.append(f"- note: {note}")
    if cp["action"] == "recreate":
        lines += ["", "Before:", "", "```", "docker run \\", *[f"  {x} \\" for x in cp["run_before"]], "```",
                  "", "After:", "", "```", "docker run \\", *[f"  {x} \\" for x in cp["run_after"]], "```",
                  "", "Diff:", "", "```diff", *[x if x[0] in "+-" else " " + x[1:] for x in cp["diff"]], "```"]
    for write in cp.get("files") or []:
        if write.get("changed"):
            lines += ["", f"File `{write['path']}` (mode {write['mode']}):", "", "```diff", *write["diff"], "```"]
    if cp.get("verify"):
        lines += ["", "Verify: " + "; ".join(cp["verify"])]
    if result is not None:
        lines += ["", f"Result: **{result['action']}** in {result['seconds']:.1f} s"
                  + (f", new id {result['id_after']}" if result.get("id_after") else "")
                  + (f", backup `{result['backup']}`" if result.get("backup") else "")]
        if result.get("error"):
            lines.append(f"Error: {result['error']}")
        for check in result.get("checks") or []:
            lines.append(f"- {'✔' if check['ok'] else '✘'} {check['name']}: {check['evidence']}")
        for step in result.get("manual_steps") or []:
            lines.append(f"- manual: `{step}`")
        if result.get("logs"):
            # Four backticks: a log line holding a fence cannot end the block early.
            lines += ["", "Last log lines of the new container (before it was removed):", "", "````",
                      *result["logs"], "````"]
    return [*lines, ""]
