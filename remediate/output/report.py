"""JSON-ready views of plans and results. Every view here is redacted by :mod:`remediate.core.redaction`
(the container's config before it is rendered, the values of secret vars and of secret places
wherever they flow, see :mod:`remediate.core.secret_flow`), so secret values never reach a
terminal, a file or a log; and every string in them has its control characters escaped
(:mod:`remediate.core.visible`), so no value can rewrite what a terminal shows.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypedDict, TypeVar, cast

from remediate.core import compose
from remediate.core.lineage import RollbackPlan
from remediate.core.paths import DIR_MODE
from remediate.core.planner import ContainerPlan, FileWrite, Plan
from remediate.core.redaction import (
    mask_json,
    mask_values,
    redact_mapping,
    redact_text,
    redact_value,
)
from remediate.core.results import HostResult
from remediate.core.runview import RunView, run_view
from remediate.core.secret_flow import plan_secrets, secrets_digest, spec_secrets
from remediate.core.spec import ContainerSpec
from remediate.core.visible import visible

Json = dict[str, Any]
_T = TypeVar("_T")

# --------------------------------------------------------------------------- views

def shown_run_view(spec: ContainerSpec, engine_api: str | None = None, secrets: Sequence[str] = ()) -> RunView:
    """The ``docker run`` view of a spec with secrets masked (and the literal ``secrets`` values)."""
    return run_view(spec, engine_api=engine_api, redact=True, secrets=secrets)


def run_diff(before: ContainerSpec, after: ContainerSpec, engine_api: str | None = None,
             secrets: Sequence[str] = ()) -> list[str]:
    """Line diff of two specs' ``docker run`` views: ``"  "`` same, ``"- "`` removed, ``"+ "`` added."""
    return _line_diff(shown_run_view(before, engine_api, secrets), shown_run_view(after, engine_api, secrets))


def _line_diff(before: RunView, after: RunView) -> list[str]:
    return [line for line in difflib.ndiff(before.lines(), after.lines()) if line.startswith(("  ", "- ", "+ "))]


def file_diff(write: FileWrite, secrets: Sequence[str] = ()) -> list[str]:
    """Unified diff of a file write (a new file is all ``+``), secret shapes and values masked,
    then what else the write does: the mode, the directories it creates, the symlinks it goes
    through, the hard links and owner it keeps. Content that is not world-readable is shown by
    its size and digest only."""
    shown = write.before if write.before_shown else None
    before = (shown or b"").decode("utf-8", "replace").splitlines(keepends=False)
    after = write.content.decode("utf-8", "replace").splitlines(keepends=False)
    label_from = write.path if shown is not None else "/dev/null"
    lines = list(difflib.unified_diff(before, after, label_from, write.path, lineterm=""))
    if write.before is not None and not write.before_shown:
        digest = hashlib.sha256(write.before).hexdigest()[:16]
        lines.insert(0, f"current content not shown ({len(write.before)} bytes, sha256 {digest}…): "
                        f"mode {write.before_mode or 0:04o} is not world-readable; it is replaced by:")
    if write.before_mode is not None and write.before_mode != write.mode:
        lines.append(f"mode {write.before_mode:04o} -> {write.mode:04o}")
    lines += [f"new directory {d} (mode {DIR_MODE:04o})" for d in write.new_dirs]
    if write.via is not None:
        lines.append(f"{write.via} leads to {write.path} through symlinks: {write.path} is written, the links stay")
    if write.links > 1:
        lines.append(f"{write.links} hard links: written in place, so every link keeps sharing it")
    if write.owner is not None:
        lines.append(f"owner {write.owner[0]}:{write.owner[1]} kept")
    return [visible(mask_values(redact_text(line), secrets)) for line in lines]


def rollback_plan_json(plan: RollbackPlan, engine_api: str | None = None) -> Json:
    """JSON-ready view of what a rollback would do (secrets masked): the ``docker run`` diff from
    the container in place to the backup put back, and the diff of each file put back."""
    files = []
    for f in plan.files:
        old = (f.now or b"").decode("utf-8", "replace").splitlines()
        new = (f.restored or b"").decode("utf-8", "replace").splitlines()
        lines: Iterable[str] = difflib.unified_diff(old, new, f.path if f.now is not None else "/dev/null",
                                                    f.path if f.restored is not None else "/dev/null", lineterm="")
        if f.mode is not None and not f.mode & 0o004 and f.restored is not None:
            digest = hashlib.sha256(f.restored).hexdigest()[:16]
            lines = [(f"content not shown: mode {f.mode:04o} is not world-readable ({len(f.restored)} bytes, "
                      f"sha256 {digest}… put back)")]
        files.append({"path": f.path, "changed": f.changed, "removed": f.restored is None,
                      "mode": f"{f.mode:04o}" if f.mode is not None else None,
                      "diff": [redact_text(line) for line in lines]})
    secrets = sorted({*spec_secrets(plan.current), *spec_secrets(plan.target)}, key=len, reverse=True)
    return shown_json(mask_json({"container": plan.name, "backup": plan.backup, "steps": plan.steps,
                                 "between": list(plan.between), "files": files,
                                 "diff": run_diff(plan.current, plan.target, engine_api)}, secrets))


def _compose_json(cp: ContainerPlan) -> Json | None:
    found = compose.owner(cp.before.config.get("Labels"))
    return found.to_json() if found else None


def container_plan_json(cp: ContainerPlan, engine_api: str | None = None, secrets: Sequence[str] = (),
                        file_users: Mapping[str, tuple[str, ...]] | None = None) -> Json:
    """JSON-ready view of one container's plan (secrets masked, and the literal ``secrets`` values:
    those of :func:`remediate.core.secret_flow.plan_secrets`); ``file_users`` (from
    :meth:`Plan.file_users`) names the other planned containers that need each of its files.
    ``secrets`` (the key) is a digest of what is masked (:func:`remediate.core.secret_flow.secrets_digest`)."""
    users = file_users or {}
    before, after = shown_run_view(cp.before, engine_api, secrets), shown_run_view(cp.after, engine_api, secrets)
    data: Json = {
        "container": cp.name,
        "id": cp.id[:12],
        "action": cp.action,
        "fingerprint": cp.fingerprint,
        "secrets": secrets_digest(cp, secrets),
        "state": cp.state,
        "state_after": cp.state_after,
        "changes": [
            {"field": c.field, "action": c.action, "reason": c.reason,
             "before": _shown(c.field, c.before), "after": _shown(c.field, c.after), **_fix(c.fix)}
            for c in cp.changes
        ],
        "run_before": before.lines(),
        "run_after": after.lines(),
        "diff": _line_diff(before, after),
        "shell_before": before.commands(),
        "shell_after": after.commands(),
        "files": [
            {"path": f.path, "mode": f"{f.mode:04o}", "changed": f.changed, "diff": file_diff(f, secrets),
             "via": f.via, "new_dirs": list(f.new_dirs),
             "shared_with": [n for n in users.get(f.path, ()) if n != cp.name], **_fix(f.fix)}
            for f in cp.files
        ],
        "compose": _compose_json(cp),
        "dependents": list(cp.dependents),
        "notes": list(cp.notes),
        "verify": [f"http {p.method} {p.path} on port {p.port} -> {p.status}"
                   + (f" containing {p.contains!r}" if p.contains else "") for p in cp.verify],
    }
    if cp.fix_specs:  # a plan merging fixes: the fix each diff line comes from
        data["diff_fix"] = _diff_fixes(data["diff"], cp, engine_api, secrets)
    if cp.image is not None:  # an image change: the image it was planned against (a saved plan's drift)
        data["image"] = {"from": cp.before.image, "from_id": cp.before.image_id, "to": cp.image,
                         "to_id": cp.after.image_id}
    return shown_json(mask_json(data, secrets))


def _fix(name: str | None) -> Json:
    return {"fix": name} if name else {}


def _diff_fixes(diff: Sequence[str], cp: ContainerPlan, engine_api: str | None,
                secrets: Sequence[str]) -> list[str | None]:
    """Per line of a merged plan's ``docker run`` diff, the fix it comes from: the first whose
    changes add the line (``+``) or drop it (``-``); None for an unchanged line, or one no fix
    makes (the image pinned by id on recreate, say)."""
    views = [(fix, set(shown_run_view(spec, engine_api, secrets).lines())) for fix, spec in cp.fix_specs]
    found: list[str | None] = []
    for line in diff:
        text, sign = line[2:], line[:2]
        found.append(next((fix for fix, lines in views if (text in lines) == (sign == "+ ")), None)
                     if sign in ("+ ", "- ") else None)
    return found


def plan_json(plan: Plan) -> Json:
    """JSON-ready view of a plan (secrets masked)."""
    secrets = plan_secrets(plan)
    users = plan.file_users()
    return shown_json({
        "playbook": plan.playbook,
        "host": plan.host,
        "vars": mask_json(redact_mapping(plan.vars), secrets),
        "containers": [container_plan_json(cp, plan.engine_api, secrets, users) for cp in plan.containers],
        "changed": len(plan.changed),
    })


def after_message(plan: Plan) -> str | None:
    """The playbook's ``after`` text for this plan, with the values of secret vars masked."""
    return visible(mask_values(plan.after_message, plan_secrets(plan))) if plan.after_message else None


def shown_json(data: _T) -> _T:
    """JSON-like data with the control characters of every string (keys too) escaped."""
    return cast(_T, _shown_json(data))


def _shown_json(data: Any) -> Any:
    if isinstance(data, str):
        return visible(data)
    if isinstance(data, Mapping):
        return {_shown_json(k): _shown_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_shown_json(v) for v in data]
    return data


def result_json(result: HostResult) -> Json:
    """JSON-ready view of an apply result (secrets masked)."""
    secrets = plan_secrets(result.plan)
    data: Json = {
        "host": result.host,
        "ok": result.ok,
        "seconds": round(result.seconds, 3),
        "plan": plan_json(result.plan),
        "containers": [
            {"container": c.name, "action": c.action, "id_before": c.id_before[:12],
             "id_after": (c.id_after or "")[:12] or None, "backup": c.backup,
             "error": redact_text(c.error) if c.error else None,
             "checks": [{"name": p.name, "ok": p.ok, "evidence": p.evidence,
                         "attempts": p.attempts} for p in c.checks],
             "manual_steps": [redact_text(s) for s in c.manual_steps],
             "logs": [redact_text(line) for line in c.logs],
             "health": [{"exit_code": h.exit_code, "output": h.output, "start": h.start} for h in c.health],
             "notes": list(c.notes),
             "seconds": round(c.seconds, 3)}
            for c in result.containers
        ],
    }
    data["containers"] = shown_json(mask_json(data["containers"], secrets))
    data["host"] = visible(data["host"])
    return data


def _shown(field: str, value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    name = field.split(".", 1)[1] if "." in field else field
    return redact_value(name, str(value))


# --------------------------------------------------------------------------- Markdown report

class EnvironmentJson(TypedDict):
    """Where a report's host runs: its engine and OS as ``docker info`` says (``error``: why not said)."""

    host: str
    name: str | None
    engine: str | None
    os: str | None
    kernel: str | None
    arch: str | None
    error: str | None


def environment_json(host: str, info: Mapping[str, Any] | None, error: str | None = None, *,
                     api: str | None = None) -> EnvironmentJson:
    """A host's engine and OS from its ``docker info`` and the API version spoken with it (``info``
    None: ``error`` says why unknown)."""
    info = {**(info or {}), **({"ApiVersion": api} if api else {})}

    def text(key: str) -> str | None:
        value = info.get(key)
        return visible(str(value)) if value not in (None, "") else None

    engine = text("ServerVersion")
    return {"host": visible(host), "name": text("Name"),
            "engine": f"{engine} (API {info['ApiVersion']})" if engine and info.get("ApiVersion") else engine,
            "os": text("OperatingSystem"), "kernel": text("KernelVersion"), "arch": text("Architecture"),
            "error": visible(redact_text(error)) if error else None}


def markdown_report(data: Mapping[str, Any]) -> str:
    """A shareable Markdown record of a run (from already-redacted JSON data: the report's JSON).

    Readable on a ticket without the tool: who ran what, where (host, engine, OS), what diagnose
    found, what changed (``docker run`` lines before/after, file diffs), how it was verified, the
    result, and what is left to do by hand. Long evidence is folded whole, never cut.
    """
    return "\n".join(visible(line, newlines=False) for line in _markdown_lines(data)) + "\n"


def _markdown_lines(data: Mapping[str, Any]) -> list[str]:
    title = data.get("playbook") or data.get("command") or "run"
    lines = [f"# remediate report: {title} ({data.get('mode')})", ""]
    lines += [f"- tool: {data.get('tool')}", f"- command: {_md(data.get('command'))}",
              f"- operator: {_md(data.get('operator'))}", f"- started: {data.get('started')}",
              f"- finished: {data.get('finished')}", f"- hosts: {len(data.get('environment') or [])}", ""]
    if data.get("description"):
        lines += [f"> {' '.join(str(data['description']).split())}", ""]
    if data.get("environment"):
        lines += ["## Hosts", "", "| host | name | engine | OS | kernel | arch |", "|---|---|---|---|---|---|"]
        for env in data["environment"]:
            if env.get("error"):
                lines.append(f"| {_cell(env['host'])} | unknown: {_cell(env['error'])} | | | | |")
            else:
                lines.append("| " + " | ".join(_cell(env.get(k)) for k in ("host", "name", "engine", "os", "kernel",
                                                                             "arch")) + " |")
        lines.append("")
    for diagnosis in data.get("diagnosis") or []:
        lines += _diagnosis_markdown(diagnosis)
    if data.get("hosts"):
        lines += _rollout_markdown(data)
    for row in data.get("rollback") or []:
        lines += _rollback_markdown(row)
    for row in data.get("recover") or []:
        lines += _recover_markdown(row)
    left = data.get("left")
    if left is not None:
        lines += ["## Left to do by hand", ""]
        lines += [f"- {item}" for item in left] if left else ["Nothing."]
        lines.append("")
    return lines


def _rollout_markdown(data: Mapping[str, Any]) -> list[str]:
    lines = ["## Summary", "", "| host | status | containers changed | time |", "|---|---|---|---|"]
    for host in data.get("hosts") or []:
        changed = (host.get("plan") or {}).get("changed", "-")
        lines.append(f"| {host['host']} | {host['status']} | {changed} | {host['seconds']:.1f} s |")
    first_plan = next((h["plan"] for h in data.get("hosts") or [] if h.get("plan")), None)
    if first_plan and first_plan.get("vars"):
        lines += ["", "## Variables", "", "| name | value |", "|---|---|"]
        lines += [f"| {k} | {_md(v)} |" for k, v in first_plan["vars"].items()]
    merged = data.get("merged") or {}
    for host in data.get("hosts") or []:
        lines += ["", f"## Host {host['host']}: {host['status']}", ""]
        if host.get("error"):
            lines += [f"Error: {host['error']}", ""]
        fixes = merged.get(host["host"]) or {}
        results = {c["container"]: c for c in ((host.get("result") or {}).get("containers") or [])}
        for cp in (host.get("plan") or {}).get("containers") or []:
            lines += _container_markdown(cp, results.get(cp["container"]), fixes.get(cp["container"]))
    return lines


def _diagnosis_markdown(diagnosis: Mapping[str, Any]) -> list[str]:
    counts = diagnosis.get("counts") or {}
    lines = [(f"## Diagnosis of {diagnosis.get('host')}: {counts.get('pass', 0)} pass, {counts.get('warn', 0)} warn, "
             f"{counts.get('fail', 0)} fail"), ""]
    error = diagnosis.get("error")
    if error:
        lines += [f"Error {error['code']}: {error['message']}", "", f"> {error['meaning']}", ""]
    if not diagnosis.get("findings"):
        lines += ["No AI gateway or vLLM container found.", ""]
    for f in diagnosis.get("findings") or []:
        fix = f" (fix: `{f['fix']}`)" if f.get("fix") else ""
        lines += [f"- **{f['status']}** {f['container']}: `{f['check']}`{fix}", *_evidence_markdown(f["evidence"])]
    return [*lines, ""]


def _rollback_markdown(row: Mapping[str, Any]) -> list[str]:
    lines = [f"## Rollback of {row['container']} on {row['host']}: {row.get('action', 'previewed')}", "",
             f"- put back: `{row['backup']}`" + (f" ({row['steps']} applies back)" if (row.get("steps") or 1) > 1
                                                 else "")]
    if row.get("restored_id"):
        lines.append(f"- running now: {row['restored_id']}; the replaced one kept as {_md(row.get('parked_as'))}")
    if row.get("error"):
        lines.append(f"- error: {row['error']}")
    lines += [f"- manual: `{step}`" for step in row.get("manual_steps") or []]
    if row.get("diff"):
        lines += ["", "Diff:", "", "```diff", *[x if x[0] in "+-" else " " + x[1:] for x in row["diff"]], "```"]
    for f in row.get("files") or []:
        if f.get("changed"):
            lines += ["", f"File `{f['path']}`:", "", "```diff", *f["diff"], "```"]
    return [*lines, ""]


def _recover_markdown(row: Mapping[str, Any]) -> list[str]:
    lines = [f"## Recover of {row['container']} on {row['host']}: {row['outcome']}", "",
             f"- transaction: {row['tx']}", f"- detail: {_md(row.get('detail'))}"]
    lines += [f"- step: {step}" for step in row.get("steps") or []]
    lines += [f"- manual: `{step}`" for step in row.get("manual_steps") or []]
    return [*lines, ""]


#: Evidence up to this many characters on one line is shown inline; longer is folded whole.
_INLINE = 100


def _evidence_markdown(text: str) -> list[str]:
    """A check's evidence: short, inline; long, folded whole in a ``<details>`` block (a JSON
    document pretty-printed), never cut."""
    if _short(text):
        return [f"  - evidence: `{text}`"] if text else []
    try:
        shown = json.dumps(json.loads(text), indent=2, ensure_ascii=False).splitlines()
    except ValueError:
        shown = text.splitlines()
    # Four backticks: evidence holding a fence cannot end the block early.
    return ["", "  <details><summary>evidence</summary>", "", "  ````", *[f"  {x}" for x in shown], "  ````", "",
            "  </details>", ""]


def _short(text: str) -> bool:
    return len(text) <= _INLINE and "\n" not in text and "`" not in text


def _md(value: Any) -> str:
    """A value in Markdown: ``unset`` for None, code otherwise."""
    if value is None:
        return "unset"
    text = str(value)
    tick = "``" if "`" in text else "`"
    return f"{tick}{text}{tick}" if text else "`\"\"`"


def _cell(value: Any) -> str:
    return "unset" if value is None else str(value).replace("|", "\\|")


def _script(run_lines: list[str]) -> list[str]:
    """``docker run`` lines as a shell script: the options continued with backslashes, then the
    ``docker network connect`` commands and remarks on their own lines."""
    run = [x for x in run_lines if not x.startswith(("docker ", "# "))]
    rest = [x for x in run_lines if x.startswith(("docker ", "# "))]
    return ["docker run -d \\", *[f"  {x.strip()} \\" for x in run[:-1]], f"  {run[-1].strip()}", *rest]


def _container_markdown(cp: Mapping[str, Any], result: Mapping[str, Any] | None,
                        fixes: Sequence[str] | None = None) -> list[str]:
    lines = [f"### {cp['container']} ({cp['id']}): {cp['action']}", ""]
    if fixes:
        lines += [f"Merged fixes: {', '.join(f'`{f}`' for f in fixes)}", ""]
    for change in cp.get("changes") or []:
        if change["action"] == "noop":
            lines.append(f"- `{change['field']}`: no change ({change['reason']})")
        else:
            source = f" (from `{change['fix']}`)" if change.get("fix") else ""
            lines.append(f"- `{change['field']}`: {_md(change['before'])} -> {_md(change['after'])}{source}")
    for note in cp.get("notes") or []:
        lines.append(f"- note: {note}")
    if cp["action"] == "recreate":
        lines += ["", "Before:", "", "```sh", *_script(cp["run_before"]), "```",
                  "", "After:", "", "```sh", *_script(cp["run_after"]), "```",
                  "", "Diff:", "", "```diff", *diff_lines(cp), "```"]
    for write in cp.get("files") or []:
        if write.get("changed"):
            source = f", from `{write['fix']}`" if write.get("fix") else ""
            lines += ["", f"File `{write['path']}` (mode {write['mode']}{source}):", "", "```diff", *write["diff"], "```"]
    if cp.get("verify"):
        lines += ["", "Verify: " + "; ".join(cp["verify"])]
    if result is not None:
        lines += ["", f"Result: **{result['action']}** in {result['seconds']:.1f} s"
                  + (f", new id {result['id_after']}" if result.get("id_after") else "")
                  + (f", backup `{result['backup']}`" if result.get("backup") else "")]
        if result.get("error"):
            lines.append(f"Error: {result['error']}")
        for check in result.get("checks") or []:
            mark = f"- {'✔' if check['ok'] else '✘'} {check['name']}"
            folded = _evidence_markdown(check["evidence"])
            lines += [f"{mark}: {check['evidence']}"] if _short(check["evidence"]) else [f"{mark}:", *folded]
        for step in result.get("manual_steps") or []:
            lines.append(f"- manual: `{step}`")
        for note in result.get("notes") or []:
            lines.append(f"- {note}")
        if result.get("health"):
            lines += ["", "Docker's health log of the new container (each healthcheck run: exit code, output):", "",
                      "````", *(f"[exit {h['exit_code']}] {line}" for h in result["health"]
                                for line in (h["output"].splitlines() or [""])), "````"]
        if result.get("logs"):
            # Four backticks: a log line holding a fence cannot end the block early.
            lines += ["", "Last log lines of the new container (before it was removed):", "", "````",
                      *result["logs"], "````"]
    return [*lines, ""]


def diff_lines(cp: Mapping[str, Any]) -> list[str]:
    """A container plan's ``docker run`` diff as diff text (``+``, ``-``, `` ``), each line a
    merged plan's fix adds or drops followed by ``  # from FIX``."""
    fixes = cp.get("diff_fix") or [None] * len(cp["diff"])
    return [(x if x[0] in "+-" else " " + x[1:]) + (f"  # from {fix}" if fix else "")
            for x, fix in zip(cp["diff"], fixes, strict=True)]
