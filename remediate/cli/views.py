"""What the command line shows: plans as ``docker run`` diffs, results, summaries, live progress,
diagnoses. Used only by :mod:`remediate.cli.main`; everything it prints went through the redaction of
:mod:`remediate.core.redaction` first (mostly in :mod:`remediate.output.report`), and is printed with
its control characters shown (:func:`console`, :func:`remediate.cli.common.echo`).
"""

from __future__ import annotations

import functools
import json
import shlex
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any

from remediate.cli.common import echo, verbosity
from remediate.core import compose

if TYPE_CHECKING:
    from rich.console import Console

    from remediate.core.planner import Plan
    from remediate.core.results import ContainerResult, HostResult
    from remediate.executor.restore import Recovery
    from remediate.fleet.results import RolloutResult
    from remediate.output.rollout import RollbackPreviewJson


def console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """The console every text view prints to (``file``: into it, as plain text): its strings show
    control characters as escapes (:func:`remediate.core.visible.visible`), so no value can move
    the cursor, recolour or hide what is shown."""
    return _visible_console()(stderr=stderr, file=file, highlight=False, soft_wrap=True)


@functools.cache
def _visible_console() -> type[Console]:
    from rich.console import Console
    from rich.text import Text

    from remediate.core.visible import visible

    class VisibleConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            return super().render_str(visible(text, newlines=True), **kwargs)

    return VisibleConsole


def print_outcomes(out: Console, result: RolloutResult, *, fmt: str, dry_run: bool, plans: bool = True) -> None:
    """The rollout for people (``text``: the plans unless ``plans`` is off, results, a summary of
    several hosts) or programs (``json``)."""
    if fmt == "json":
        from remediate.output.formats import versioned
        from remediate.output.report import plan_json, result_json

        data: Any = result.to_json()
        if len(result.outcomes) == 1:  # one host: the plan or the result itself
            only = result.outcomes[0]
            data = (result_json(only.result) if only.result else plan_json(only.plan) if only.plan
                    else data["hosts"][0])
        echo(json.dumps(versioned(data), indent=2))
        return
    if len(result.outcomes) == 1:
        outcome = result.outcomes[0]
        if outcome.plan is not None and (plans or not outcome.plan.changed):
            print_plan(out, outcome.plan, dry_run=dry_run)
        if outcome.result is not None:
            print_result(out, outcome.result)
        if outcome.error:
            echo(f"remediate: {outcome.error}", err=True)
        return
    if plans:
        print_host_plans(out, result, dry_run=dry_run)
    for outcome in result.outcomes:
        if outcome.result is not None:
            out.print(f"\n[bold]{outcome.target.name}[/bold]")
            print_result(out, outcome.result)
    print_summary(out, result)


def print_host_plans(out: Console, result: RolloutResult, *, dry_run: bool) -> None:
    """One plan per distinct change; hosts with the same change are grouped."""
    from remediate.output.report import plan_json

    groups: dict[str, tuple[list[str], Any]] = {}
    for outcome in result.outcomes:
        if outcome.plan is None:
            continue
        data = plan_json(outcome.plan)
        key = json.dumps([(c["container"], c["action"], c["diff"], c["files"], c["notes"])
                          for c in data["containers"]], sort_keys=True)
        groups.setdefault(key, ([], outcome.plan))[0].append(outcome.target.name)
    for names, plan in groups.values():
        same = f"  (same change on {len(names)} hosts)" if len(names) > 1 else ""
        out.print(f"\n[bold]== {', '.join(names)}[/bold]{same}")
        print_plan(out, plan, dry_run=False, header=False)
    if dry_run:
        out.print("\nDry run: nothing changed.")


def print_summary(out: Console, result: RolloutResult) -> None:
    from rich.table import Table

    table = Table(title="summary", title_justify="left")
    for column in ("host", "changed", "result", "time"):
        table.add_column(column)
    for o in result.outcomes:
        changed = "-" if o.plan is None else str(len(o.plan.changed))
        style = {"changed": "green", "ok": "green", "planned": "cyan", "skipped": "dim"}.get(o.status, "red")
        detail = f" ({o.error})" if o.error else ""
        table.add_row(o.target.name, changed, f"[{style}]{o.status}[/{style}]{escape(detail)}", f"{o.seconds:.1f}s")
    out.print(table)


def echo_table(rows: list[dict[str, Any]], columns: dict[str, str]) -> None:
    """``rows`` as aligned columns (``columns``: key to heading) under a heading line, two spaces
    apart, the last column unpadded; plain text, so it pipes to grep and awk."""
    keys = list(columns)
    cells = [[columns[k] for k in keys]] + [[str(row.get(k) if row.get(k) is not None else "-") for k in keys]
                                            for row in rows]
    for line in aligned(cells):
        echo(line)


def aligned(cells: list[list[str]]) -> list[str]:
    """Rows of cells as lines, columns two spaces apart, the last one unpadded (no trailing
    spaces, never wrapped)."""
    if not cells:
        return []
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]) - 1)]
    return ["  ".join([cell.ljust(width) for cell, width in zip(line, widths)] + [line[-1]]) for line in cells]


def escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_plan(out: Console, plan: Plan, *, dry_run: bool, header: bool = True, brief: bool | None = None) -> None:
    """The plan of one host: a header, then each container's ``docker run`` diff and files; with
    ``brief`` (default: ``--quiet`` was given; pass it from other threads), a line per container."""
    from remediate.output.report import plan_json

    data = plan_json(plan)
    changed = data["changed"]
    total = len(data["containers"])
    if total == 0:
        out.print(f"{plan.playbook} on {plan.host}: no container matches; nothing to do")
        return
    head = f"{changed} of {total} container(s) to recreate" if changed else "no changes"
    if header:
        out.print(f"[bold]{plan.playbook}[/bold] on [bold]{plan.host}[/bold]: {head}")
    if brief is None:
        brief = verbosity() < 0
    for group in ([[cp] for cp in data["containers"]] if brief else same_change(data["containers"])):
        cp = group[0]
        if brief:
            out.print(f"  {escape(cp['container'])}: {'recreate' if cp['action'] == 'recreate' else 'no change'}")
            continue
        print_container_plan(out, cp)
        if len(group) > 1:
            names = ", ".join(other["container"] for other in group[1:])
            out.print(f"  [bold]the same on {len(group) - 1} more:[/bold] {escape(names)}")
    if dry_run:
        out.print("\nDry run: nothing changed." + (" Run without --dry-run to apply." if changed else ""))
    elif not changed:
        out.print("Nothing to do: every container is already in the target state.")


#: What the text view shows of a container's plan (besides its name and id).
_SHOWN = ("action", "compose", "changes", "diff", "diff_fix", "files", "notes", "dependents", "verify")


def same_change(containers: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Container plans (JSON views) grouped by what the text view shows of them, in order: the
    plans of a group differ only in the container's name (its ``--name`` line) and id."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for cp in containers:
        own = {f" --name {cp['container']}"}
        shown = {key: cp.get(key) for key in _SHOWN}
        shown["diff"] = [" --name" if line[1:] in own or line in own else line for line in cp.get("diff") or []]
        groups.setdefault(json.dumps(shown, sort_keys=True, default=str), []).append(cp)
    return list(groups.values())


def print_container_plan(out: Console, cp: dict[str, Any]) -> None:
    from rich.markup import escape

    label = "recreate" if cp["action"] == "recreate" else "no change"
    out.print(f"\n[bold]{escape(cp['container'])}[/bold] ({cp['id']}): [yellow]{label}[/yellow]")
    if cp.get("compose"):
        out.print(f"  {escape(compose.describe(cp['compose']))}")
    for change in cp["changes"]:
        if change["action"] == "noop":
            out.print(f"  = {escape(change['field'])}: {escape(change['reason'])}")
        elif change["reason"]:  # a change the docker run diff cannot show (what an image supplies)
            was, now = ("unset" if v is None else str(v) for v in (change["before"], change["after"]))
            source = f", from {change['fix']}" if change.get("fix") else ""
            out.print(f"  ~ {escape(change['field'])}: {escape(was)} -> {escape(now)} ({escape(change['reason'])}"
                      f"{escape(source)})")
    if cp["action"] == "recreate":
        print_run_diff(out, cp["diff"], cp.get("diff_fix"))
    for write in cp["files"]:
        if not write["changed"]:
            out.print(f"  = file {escape(write['path'])}: already up to date")
            continue
        shared = f", also needed by {', '.join(write['shared_with'])}" if write.get("shared_with") else ""
        shared += f", from {write['fix']}" if write.get("fix") else ""
        out.print(f"  file {escape(write['path'])} (mode {write['mode']}{escape(shared)})")
        for line in write["diff"]:
            style = "green" if line.startswith("+") and not line.startswith("+++") else (
                "red" if line.startswith("-") and not line.startswith("---") else None)
            text = escape(f"    {line}")
            out.print(f"[{style}]{text}[/{style}]" if style else text)
    for note in cp["notes"]:
        out.print(f"  note: {escape(note)}")
    if cp["dependents"] and cp["action"] == "recreate":
        out.print(f"  tied to it (followed on apply): {escape(', '.join(cp['dependents']))}")
    for check in cp["verify"]:
        out.print(f"  verify: {escape(check)}")



def print_run_diff(out: Console, diff: list[str], fixes: Sequence[str | None] | None = None) -> None:
    """The ``docker run`` diff (``+``/``-``/`` `` lines of :func:`remediate.output.report.run_diff`),
    coloured; with ``fixes`` (a merged plan's ``diff_fix``), each line a fix makes says which."""
    from rich.markup import escape

    out.print("  docker run")
    for line, fix in zip(diff, fixes or [None] * len(diff), strict=True):
        style = {"+": "green", "-": "red"}.get(line[0])
        source = f"  # from {fix}" if fix else ""
        text = escape((f"  {line[0]} {line[2:]}" if line[0] in "+-" else f"    {line[2:]}") + source)
        out.print(f"[{style}]{text}[/{style}]" if style else text)


def print_rollback_plans(out: Console, previews: Sequence[RollbackPreviewJson]) -> None:
    """What a rollback would put back on each host; hosts with the same change are shown once
    (``same change on N hosts``), as a dry run of apply shows them."""
    groups: dict[str, list[RollbackPreviewJson]] = {}
    for preview in previews:
        key = json.dumps([preview["container"], preview["steps"], len(preview["between"]), preview["diff"],
                          preview["files"]], sort_keys=True)
        groups.setdefault(key, []).append(preview)
    for same in groups.values():
        if len(same) == 1:
            print_rollback_plan(out, same[0])
            continue
        hosts = ", ".join(p["host"] for p in same)
        out.print(f"\n[bold]== {escape(hosts)}[/bold]  (same change on {len(same)} hosts)")
        print_rollback_plan(out, same[0], backups=", ".join(f"{p['host']}: {p['backup']}" for p in same))


def print_rollback_plan(out: Console, preview: RollbackPreviewJson, *, backups: str | None = None) -> None:
    """What a rollback would put back on one host (:func:`remediate.output.rollout.rollback_preview_json`);
    ``backups``: the backup of each host, for hosts that share this change."""
    from rich.markup import escape

    back = f"{preview['steps']} apply(s) back" if preview['steps'] else "not one of its earlier versions"
    if backups is None:
        out.print(f"\n[bold]{escape(preview['container'])}[/bold] on [bold]{escape(preview['host'])}[/bold]: "
                  f"put back [yellow]{escape(preview['backup'])}[/yellow] ({back}); the container in place becomes "
                  "a backup")
    else:
        out.print(f"[bold]{escape(preview['container'])}[/bold]: put back [yellow]{escape(backups)}[/yellow] "
                  f"({back}); the container in place becomes a backup")
    if preview["between"]:
        out.print(f"  stay as backups: {escape(', '.join(preview['between']))}")
    print_run_diff(out, preview["diff"])
    for f in preview["files"]:
        if not f["changed"]:
            out.print(f"  = file {escape(f['path'])}: already as it was")
            continue
        out.print(f"  file {escape(f['path'])}: {'removed' if f['removed'] else 'put back'}")
        for line in f["diff"]:
            out.print(escape(f"    {line}"))


def print_result(out: Console, result: HostResult) -> None:
    from rich.markup import escape

    from remediate.output.report import after_message

    for c in result.containers:
        if c.action == "recreated":
            out.print(f"[green]✔ {escape(c.name)}: recreated[/green] ({(c.id_after or '')[:12]}), "
                      f"backup kept as {escape(c.backup or '')}")
            for check in c.checks:  # probe evidence is redacted when the probe result is made
                out.print(f"    ✔ {escape(check.name)}: {escape(check.evidence)}")
            for note in c.notes:
                out.print(f"    {'[yellow]' if '(warning)' in note else ''}{escape(note)}"
                          f"{'[/yellow]' if '(warning)' in note else ''}")
        elif c.action == "unchanged":
            out.print(f"= {escape(c.name)}: no change")
        elif c.action == "skipped":
            why = f"you chose {(c.error or '').split()[0]}" if c.declined else c.error or "an earlier container failed"
            out.print(f"- {escape(c.name)}: skipped ({why})")
        else:
            print_container_failure(out, c, next((cp.state for cp in result.plan.containers if cp.name == c.name), None))
    after = after_message(result.plan)
    if result.ok and after and result.plan.changed:
        out.print(f"\n[bold]Left to do by hand:[/bold] {escape(' '.join(after.split()))}")


def print_container_failure(out: Console, c: ContainerResult, state: str | None = None) -> None:
    """A container that failed: why, its checks and logs, and what was restored (``state``: the
    original's, as planned: it runs as before only if it ran)."""
    from rich.markup import escape

    from remediate.core.redaction import redact_text

    out.print(f"[red]✘ {escape(c.name)}: {escape(redact_text(c.error or 'failed'))}[/red]")
    for check in c.checks:
        mark = "✔" if check.ok else "✘"
        out.print(f"    {mark} {escape(check.name)}: {escape(check.evidence)}")
    if c.health:
        out.print("  Docker's health log of the new container (each healthcheck run: exit code, output):")
        for run in c.health:
            for line in run.output.splitlines() or [""]:
                out.print(escape(f"    [exit {run.exit_code}] {line}"))
    if c.logs:
        out.print(f"  last {len(c.logs)} log lines of the new container:")
        for line in c.logs:
            out.print(f"    | {escape(line)}")
    if c.action == "rolled back":
        how = {"running": "runs as before", "paused": "is back, paused as before",
               "stopped": "is back, stopped as before"}.get(state or "", "is back as it was")
        out.print(f"  [yellow]restored: the original container {c.id_before[:12]} {how}[/yellow]")
    else:
        out.print("  [red bold]ROLLBACK FAILED — run these by hand:[/red bold]")
        for step in c.manual_steps:
            out.print(f"    {escape(redact_text(step))}")


#: Phases a single host's plain progress leaves out (the plan and the results say them), but -v.
_QUIET_PHASES = frozenset({"connect", "plan", "planned", "ok", "changed", "failed", "rollback failed",
                           "unreachable", "error", "skipped"})


#: Steps after which nothing more happens to that host or container (their time stops).
_FINAL_STEPS = frozenset({"waiting", "planned", "ok", "changed", "failed", "rollback failed", "unreachable", "error",
                          "skipped", "done"})


@contextmanager
def progress(out: Console, fmt: str, hosts: list[str], *, parallel: int = 1) -> Iterator[Any]:
    """Report phases with the seconds since the start: on a terminal that animates, with several
    hosts or containers worked on at once (``parallel``), a live table (a line per host, and one
    per container being worked on); plain lines otherwise; nothing with ``--quiet`` or JSON.

    The live table appears with the first phase reported (a confirm prompt before it is not
    drawn over), and goes when the block ends.
    """
    level = verbosity()
    if fmt != "text" or level < 0:
        yield lambda _host, _phase: None
        return
    if out.is_interactive and (len(hosts) > 1 or parallel > 1):
        with _live_progress(out, hosts) as live_report:
            yield live_report
        return
    lock = threading.Lock()
    many = len(hosts) > 1
    started = time.monotonic()

    def report(host: str, phase: str) -> None:
        if not many and phase in _QUIET_PHASES and level < 1:
            return
        line = f"{host}: {phase}" if many else phase
        with lock:
            out.print(f"  [dim]{time.monotonic() - started:5.1f}s  {escape(line)}[/dim]")
    yield report


def pull_progress(fmt: str) -> Any:
    """The progress of an image pull, one line per layer and status, on stderr (its stdout is the
    plan's and the results'): ``host: pull: <layer>: <status>``; None with ``--quiet`` or JSON."""
    if fmt != "text" or verbosity() < 0:
        return None
    err = console(stderr=True)
    lock = threading.Lock()

    def report(host: str, line: str) -> None:
        from rich.markup import escape

        with lock:
            err.print(f"  [dim]{escape(host)}: pull: {escape(line)}[/dim]")
    return report


@contextmanager
def _live_progress(out: Console, hosts: list[str]) -> Iterator[Any]:
    """The live table of :func:`progress`: a row per host and per container in work (its step),
    with the seconds since the start: counting while the step runs, frozen once it ended."""
    from rich.live import Live
    from rich.table import Table

    lock = threading.Lock()
    started = time.monotonic()
    many = len(hosts) > 1
    rows: dict[str, tuple[str, float | None]] = {host: ("waiting", 0.0) for host in hosts}

    def table() -> Table:
        now = time.monotonic() - started
        grid = Table(show_header=False, box=None)
        with lock:
            for row, (step, ended) in rows.items():
                grid.add_row(escape(row), escape(step), f"{now if ended is None else ended:.1f}s")
        return grid

    live = Live(get_renderable=table, console=out, refresh_per_second=8, transient=True)

    def report(host: str, phase: str) -> None:
        container, _, step = phase.rpartition(": ")
        key = (f"{host}  {container}" if many else container) if container else host
        with lock:
            rows[key] = (step, time.monotonic() - started if step in _FINAL_STEPS else None)
            if container and rows[host][0] in ("connect", "plan"):
                rows[host] = ("applying", None)
        if not live.is_started:
            live.start()
    try:
        yield report
    finally:
        if live.is_started:
            live.stop()


@contextmanager
def countdown(out: Console, due: list[float]) -> Iterator[None]:
    """On a terminal, one live line counting down to ``due[0]`` once it is set (the time-boxed
    hold), gone when the block ends; nothing elsewhere."""
    if not out.is_terminal:
        yield
        return
    from rich.live import Live
    from rich.text import Text

    def line() -> Text:
        if not due:
            return Text("")
        left = max(0, round(due[0] - time.monotonic()))
        return Text(f"  restoring in {left // 60}:{left % 60:02d} (Ctrl-C restores now)", style="yellow")

    with Live(get_renderable=line, console=out, refresh_per_second=2, transient=True):
        yield


def print_diagnosis(out: Console, data: dict[str, Any], *, hosts: Sequence[str] = (),
                    scope: Sequence[str] = ()) -> None:
    """One host's findings as tables, then the commands that fix what fails: they keep ``hosts``
    (the host options given) and ``scope`` (every option that chose what was checked), shell-quoted."""
    from rich.markup import escape
    from rich.table import Table

    error = data["error"]
    if error:
        out.print(f"[bold]Error {error['code']}[/bold]: {escape(error['message'])}")
        out.print(f"  {escape(error['meaning'])}")
        if error.get("formerly"):
            out.print(f"  (older GitLab versions show: {escape(error['formerly'])})")
        if error["playbooks"]:
            out.print(f"  Playbooks that may fix it: {', '.join(error['playbooks'])}")
        if error["not_passing"]:
            out.print(f"  [yellow]Related checks not passing here: {', '.join(error['not_passing'])}[/yellow]")
        elif error["checks"]:
            out.print(f"  Related checks ({', '.join(error['checks'])}) pass here.")
        out.print("")
    if not data["findings"]:
        out.print(f"No AI gateway or vLLM container found on {escape(str(data['host']))}.")
        return
    styles = {"pass": "green", "warn": "yellow", "fail": "red"}
    by_container: dict[str, list[dict[str, Any]]] = {}
    for finding in data["findings"]:
        by_container.setdefault(finding["container"], []).append(finding)
    for name, findings in by_container.items():
        kind = {"ai-gateway": "AI gateway", "vllm": "vLLM", "gitlab": "GitLab host"}.get(findings[0]["kind"], "container")
        shown = [f for f in findings if not (f["status"] == "pass" and verbosity() < 0)]  # --quiet: what needs attention
        if not out.is_terminal:  # piped or redirected (a ticket): whole lines, the evidence last, never wrapped
            out.print(f"[bold]{escape(kind)} {escape(name)}[/bold]")
            for line in aligned([[f["check"], f["status"], f["fix"] or "-", " ".join(f["evidence"].split())]
                                 for f in shown]):
                out.print(escape(line))
            out.print("")
            continue
        table = Table(title=f"{kind} {escape(name)}", title_justify="left", title_style="bold",
                      show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("evidence", overflow="fold")
        table.add_column("fix", no_wrap=True)
        for f in shown:
            style = styles[f["status"]]
            table.add_row(escape(f["check"]), f"[{style}]{f['status']}[/{style}]", escape(f["evidence"]),
                          escape(f["fix"] or ""))
        out.print(table)
        out.print("")
    counts = data["counts"]
    out.print(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    fixes = sorted({(f["fix"], f["container"]) for f in data["findings"] if f["fix"] and f["status"] != "pass"})
    if fixes:
        out.print("To fix (dry run first):")
        for fix, name in fixes:
            command = shlex.join(["remediate", "apply", fix, "--container", name, *hosts])
            out.print(f"  {escape(command)}{_var_placeholders(fix)} --dry-run")
        command = shlex.join(["remediate", "diagnose", "--fix", "--dry-run", *scope])
        out.print(f"Or all at once (each container recreated once): {escape(command)}")


def _var_placeholders(fix: str) -> str:
    """`` -e NAME=...`` for each var of the fixing playbook that has no default (the command
    fails without it)."""
    from remediate.core.fixall import required_vars
    from remediate.core.playbook import load_playbook

    return "".join(f" -e {name}=..." for name in required_vars(load_playbook(fix)))


def print_recovery(host: str, recovery: Recovery, *, dry_run: bool) -> None:
    """What recover did (or, ``dry_run``, would do) about one interrupted apply."""
    if dry_run:
        what = _WOULD.get(str(recovery.outcome), str(recovery.outcome))
        echo(f"{host}: {recovery.container}: would {what}"
                   + (", at most by:" if recovery.steps else f" ({recovery.detail})"))
    else:
        echo(f"{host}: {recovery.container}: {recovery.outcome} ({recovery.detail})")
    for step in (*recovery.steps, *recovery.manual_steps):
        echo(f"    {step}")


#: What recover would do, said before it does it (its outcomes are said after it).
_WOULD = {"kept the verified new container": "keep the verified new container",
          "restored the original": "restore the original",
          "restored the time-boxed change": "restore the time-boxed change",
          "manual action needed": "need manual action"}
