"""The Markdown report of a run (``--report FILE.md``), made from its JSON views: readable on a
ticket without the tool."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from remediate.core.visible import visible


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
        lines += ["No container to diagnose found.", ""]
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
    lines += [_change_markdown(change) for change in cp.get("changes") or []]
    lines += [f"- note: {note}" for note in cp.get("notes") or []]
    if cp["action"] != "none":
        lines += ["", "Before:", "", "```sh", *_script(cp["run_before"]), "```",
                  "", "After:", "", "```sh", *_script(cp["run_after"]), "```",
                  "", "Diff:", "", "```diff", *diff_lines(cp), "```"]
    for write in cp.get("files") or []:
        if write.get("changed"):
            source = f", from `{write['fix']}`" if write.get("fix") else ""
            lines += ["", f"File `{write['path']}` (mode {write['mode']}{source}):", "", "```diff", *write["diff"],
                      "```"]
    if cp.get("verify"):
        lines += ["", "Verify: " + "; ".join(cp["verify"])]
    if result is not None:
        lines += _result_markdown(result)
    return [*lines, ""]


def _result_markdown(result: Mapping[str, Any]) -> list[str]:
    """What became of one container: its action, error, checks, manual steps, notes, and the
    health log and last log lines of a new container that failed."""
    lines = ["", f"Result: **{result['action']}** in {result['seconds']:.1f} s"
             + (f", new id {result['id_after']}" if result.get("id_after") else "")
             + (f", backup `{result['backup']}`" if result.get("backup") else "")]
    if result.get("error"):
        lines.append(f"Error: {result['error']}")
    for check in result.get("checks") or []:
        mark = f"- {'✔' if check['ok'] else '✘'} {check['name']}"
        folded = _evidence_markdown(check["evidence"])
        lines += [f"{mark}: {check['evidence']}"] if _short(check["evidence"]) else [f"{mark}:", *folded]
    lines += [f"- manual: `{step}`" for step in result.get("manual_steps") or []]
    lines += [f"- {note}" for note in result.get("notes") or []]
    if result.get("health"):
        lines += ["", "Docker's health log of the new container (each healthcheck run: exit code, output):", "",
                  "````", *(f"[exit {h['exit_code']}] {line}" for h in result["health"]
                            for line in (h["output"].splitlines() or [""])), "````"]
    if result.get("logs"):
        # Four backticks: a log line holding a fence cannot end the block early.
        lines += ["", "Last log lines of the new container (before it was removed):", "", "````",
                  *result["logs"], "````"]
    return lines


def _change_markdown(change: Mapping[str, Any]) -> str:
    if change["action"] == "noop":
        return f"- `{change['field']}`: no change ({change['reason']})"
    source = f" (from `{change['fix']}`)" if change.get("fix") else ""
    return f"- `{change['field']}`: {_md(change['before'])} -> {_md(change['after'])}{source}"


def diff_lines(cp: Mapping[str, Any]) -> list[str]:
    """A container plan's ``docker run`` diff as diff text (``+``, ``-``, `` ``), each line a
    merged plan's fix adds or drops followed by ``  # from FIX``."""
    fixes = cp.get("diff_fix") or [None] * len(cp["diff"])
    return [(x if x[0] in "+-" else " " + x[1:]) + (f"  # from {fix}" if fix else "")
            for x, fix in zip(cp["diff"], fixes, strict=True)]
