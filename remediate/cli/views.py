"""What the command line shows: plans as ``docker run`` diffs, results, summaries, live progress,
diagnoses. Used only by :mod:`remediate.cli.main`; everything it prints went through the redaction of
:mod:`remediate.core.redaction` first (mostly in the views of :mod:`remediate.output`), and is printed with
its control characters shown (:func:`console`, :func:`remediate.cli.common.echo`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from remediate.cli.common import echo, verbosity
from remediate.cli.plain import Out, console, escape
from remediate.core import compose
from remediate.core.visible import visible

if TYPE_CHECKING:
    from rich.console import Console

    from remediate import Recovery
    from remediate.core.planner import Plan
    from remediate.core.results import ContainerResult, HostResult
    from remediate.fleet.results import RolloutResult
    from remediate.output.plan import ContainerPlanJson
    from remediate.output.rollback import RollbackPreviewJson


def print_outcomes(out: Out, result: RolloutResult, *, fmt: str, dry_run: bool, plans: bool = True) -> None:
    """The rollout for people (``text``: the plans unless ``plans`` is off, results, a summary of
    several hosts) or programs (``json``)."""
    if fmt == "json":
        from remediate.output.formats import versioned

        data: Any = result.to_json()
        if len(result.outcomes) == 1:  # one host: the plan or the result itself
            only = result.outcomes[0]
            data = (only.result.to_json() if only.result else only.plan.to_json() if only.plan
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


def print_host_plans(out: Out, result: RolloutResult, *, dry_run: bool) -> None:
    """One plan per distinct change; hosts with the same change are grouped."""
    groups: dict[str, tuple[list[str], Any]] = {}
    for outcome in result.outcomes:
        if outcome.plan is None:
            continue
        data = outcome.plan.to_json()
        key = json.dumps([(c["container"], c["action"], c["diff"], c["files"], c["notes"])
                          for c in data["containers"]], sort_keys=True)
        groups.setdefault(key, ([], outcome.plan))[0].append(outcome.target.name)
    for names, plan in groups.values():
        same = f"  (same change on {len(names)} hosts)" if len(names) > 1 else ""
        out.print(f"\n[bold]== {', '.join(names)}[/bold]{same}")
        print_plan(out, plan, dry_run=False, header=False)
    if dry_run:
        out.print("\nDry run: nothing changed.")


def print_summary(out: Out, result: RolloutResult) -> None:
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


def echo_table(rows: Sequence[Mapping[str, Any]], columns: dict[str, str]) -> None:
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


def print_plan(out: Out, plan: Plan, *, dry_run: bool, header: bool = True, brief: bool | None = None) -> None:
    """The plan of one host: a header, then each container's ``docker run`` diff and files; with
    ``brief`` (default: ``--quiet`` was given; pass it from other threads), a line per container.
    Containers with the same change are shown once, with the names of the others."""
    changed = len(plan.changed)
    total = len(plan.containers)
    if total == 0:
        out.print(f"{plan.playbook} on {plan.host}: no container matches; nothing to do")
        return
    updates = sum(1 for cp in plan.changed if cp.action == "update-in-place")
    head = (f"{changed} of {total} container(s) to change" + (f" ({updates} in place)" if updates else "")
            if changed else "no changes")
    if header:
        out.print(f"[bold]{plan.playbook}[/bold] on [bold]{plan.host}[/bold]: {head}")
    if brief is None:
        brief = verbosity() < 0
    if brief:
        for cp in plan.containers:
            out.print(f"  {escape(visible(cp.name))}: {_LABELS.get(cp.action, 'no change')}")
    for data, others in [] if brief else shown_once(plan):
        print_container_plan(out, data)
        if others:
            out.print(f"  [bold]the same on {len(others)} more:[/bold] {escape(', '.join(others))}")
    if dry_run:
        out.print("\nDry run: nothing changed." + (" Run without --dry-run to apply." if changed else ""))
    elif not changed:
        out.print("Nothing to do: every container is already in the target state.")


#: What the text view shows of a container's plan (besides its name and id).
_SHOWN = ("action", "compose", "changes", "diff", "diff_fix", "files", "notes", "dependents", "verify")


def shown_once(plan: Plan) -> list[tuple[ContainerPlanJson, list[str]]]:
    """What :func:`print_plan` shows of the plan's containers: per group of :func:`same_change`,
    the JSON view of its first container and the names of the others, in order.

    The view of a group of identical plans (:func:`remediate.output.plan.identical_plans`) is
    made for its first container only, unless that view spells the container's name elsewhere
    than its ``--name`` line (then each member's view is made: they differ there).
    """
    from remediate.output.plan import PlanViews, identical_plans

    views = PlanViews(plan)
    index = {cp.id: i for i, cp in enumerate(plan.containers)}
    units: list[tuple[ContainerPlanJson, list[int]]] = []  # a view, and the containers it stands for
    for same in identical_plans(plan):
        first = views.container(same[0])
        if len(same) > 1 and _spells_own_name(first):
            units += [(first if i == 0 else views.container(cp), [index[cp.id]]) for i, cp in enumerate(same)]
        else:
            units.append((first, [index[cp.id] for cp in same]))
    units.sort(key=lambda unit: unit[1][0])
    members = {id(data): ids for data, ids in units}
    shown = []
    for group in same_change([data for data, _ in units]):
        ids = sorted(i for data in group for i in members[id(data)])
        shown.append((group[0], [visible(plan.containers[i].name) for i in ids[1:]]))
    return shown


def _spells_own_name(cp: ContainerPlanJson) -> bool:
    """Whether a container plan's view (what the text view shows) names the container elsewhere
    than its ``--name`` line."""
    own = {f" --name {cp['container']}"}
    shown = {key: cp.get(key) for key in _SHOWN}
    shown["diff"] = [line for line in cp.get("diff") or [] if line[1:] not in own and line not in own]
    return str(cp["container"]) in json.dumps(shown, default=str)


def same_change(containers: list[ContainerPlanJson]) -> list[list[ContainerPlanJson]]:
    """Container plans (JSON views) grouped by what the text view shows of them, in order: the
    plans of a group differ only in the container's name (its ``--name`` line) and id."""
    groups: dict[str, list[ContainerPlanJson]] = {}
    for cp in containers:
        own = {f" --name {cp['container']}"}
        shown: dict[str, Any] = {key: value for key, value in cp.items() if key in _SHOWN}
        shown["diff"] = [" --name" if line[1:] in own or line in own else line for line in cp["diff"]]
        groups.setdefault(json.dumps(shown, sort_keys=True, default=str), []).append(cp)
    return list(groups.values())


#: How the text views name a container plan's action.
_LABELS = {"recreate": "recreate", "update-in-place": "update in place"}


def print_container_plan(out: Out, cp: ContainerPlanJson) -> None:
    label = _LABELS.get(cp["action"], "no change")
    out.print(f"\n[bold]{escape(cp['container'])}[/bold] ({cp['id']}): [yellow]{label}[/yellow]")
    if cp["compose"]:
        out.print(f"  {escape(compose.describe(cp['compose']))}")
    for change in cp["changes"]:
        if change["action"] == "noop":
            out.print(f"  = {escape(change['field'])}: {escape(change['reason'])}")
        elif change["reason"]:  # a change the docker run diff cannot show (what an image supplies)
            was, now = ("unset" if v is None else str(v) for v in (change["before"], change["after"]))
            source = f", from {change['fix']}" if change.get("fix") else ""
            out.print(f"  ~ {escape(change['field'])}: {escape(was)} -> {escape(now)} ({escape(change['reason'])}"
                      f"{escape(source)})")
    if cp["action"] != "none":
        print_run_diff(out, cp["diff"], cp.get("diff_fix"))
    for write in cp["files"]:
        if not write["changed"]:
            out.print(f"  = file {escape(write['path'])}: already up to date")
            continue
        shared = f", also needed by {', '.join(write['shared_with'])}" if write["shared_with"] else ""
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


def print_run_diff(out: Out, diff: list[str], fixes: Sequence[str | None] | None = None) -> None:
    """The ``docker run`` diff (``+``/``-``/`` `` lines of :func:`remediate.output.plan.run_diff`),
    coloured; with ``fixes`` (a merged plan's ``diff_fix``), each line a fix makes says which."""
    out.print("  docker run")
    for line, fix in zip(diff, fixes or [None] * len(diff), strict=True):
        style = {"+": "green", "-": "red"}.get(line[0])
        source = f"  # from {fix}" if fix else ""
        text = escape((f"  {line[0]} {line[2:]}" if line[0] in "+-" else f"    {line[2:]}") + source)
        out.print(f"[{style}]{text}[/{style}]" if style else text)


def print_rollback_plans(out: Out, previews: Sequence[RollbackPreviewJson]) -> None:
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


def print_rollback_plan(out: Out, preview: RollbackPreviewJson, *, backups: str | None = None) -> None:
    """What a rollback would put back on one host (:func:`remediate.output.rollback.rollback_preview_json`);
    ``backups``: the backup of each host, for hosts that share this change."""
    back = f"{preview['steps']} apply(s) back" if preview['steps'] else "not one of its earlier versions"
    if preview["backup"] == preview["container"]:  # the last apply was an update in place
        out.print(f"\n[bold]{escape(preview['container'])}[/bold] on [bold]{escape(preview['host'])}[/bold]: "
                  f"updated back in place ({back}): the same container, its earlier limits and restart policy")
    elif backups is None:
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


def print_result(out: Out, result: HostResult) -> None:
    from remediate.output.plan import after_message

    for c in result.containers:
        if c.action == "recreated":
            out.print(f"[green]✔ {escape(c.name)}: recreated[/green] ({(c.id_after or '')[:12]}), "
                      f"backup kept as {escape(c.backup or '')}")
            for check in c.checks:  # probe evidence is redacted when the probe result is made
                out.print(f"    ✔ {escape(check.name)}: {escape(check.evidence)}")
            for note in c.notes:
                out.print(f"    {'[yellow]' if '(warning)' in note else ''}{escape(note)}"
                          f"{'[/yellow]' if '(warning)' in note else ''}")
        elif c.action == "updated":
            out.print(f"[green]✔ {escape(c.name)}: updated in place[/green] ({(c.id_after or '')[:12]}, the same "
                      "container)")
            for check in c.checks:
                out.print(f"    ✔ {escape(check.name)}: {escape(check.evidence)}")
            for note in c.notes:
                out.print(f"    [yellow]{escape(note)}[/yellow]")
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


def print_container_failure(out: Out, c: ContainerResult, state: str | None = None) -> None:
    """A container that failed: why, its checks and logs, and what was restored (``state``: the
    original's, as planned: it runs as before only if it ran)."""
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
def progress(out: Out, fmt: str, hosts: list[str], *, parallel: int = 1) -> Iterator[Any]:
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
        with lock:
            err.print(f"  [dim]{escape(host)}: pull: {escape(line)}[/dim]")
    return report


@contextmanager
def _live_progress(out: Out, hosts: list[str]) -> Iterator[Any]:
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

    live = Live(get_renderable=table, console=_animating(out), refresh_per_second=8, transient=True)

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


def _animating(out: Out) -> Console:
    """``out``, a terminal's: rich's console (:func:`console`; a plain one never animates)."""
    from rich.console import Console

    if not isinstance(out, Console):
        raise TypeError(f"{out!r} is no terminal's console")
    return out


@contextmanager
def countdown(out: Out, due: list[float]) -> Iterator[None]:
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

    with Live(get_renderable=line, console=_animating(out), refresh_per_second=2, transient=True):
        yield


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
