"""``remediate rollback`` and ``remediate recover``: put a container back as it was, and finish
applies that were interrupted."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

import click

from remediate.cli import exit_codes, plain, reporting, views
from remediate.cli.common import (
    check_writable,
    complete_containers,
    echo,
    errors,
    fail,
    format_option,
    host_options,
    interruptible,
    prompting,
    say_skipped,
    select_targets,
    ssh_options,
    verbosity,
    verbosity_options,
)
from remediate.cli.exit_codes import exit_code
from remediate.output.formats import versioned_rows

if TYPE_CHECKING:  # the library loads when a command runs
    from remediate import RollbackResult, SshOptions, Target
    from remediate.cli.plain import Out
    from remediate.core.results import ContainerResult
    from remediate.output.rollback import RollbackPreviewJson


@click.command()
@click.argument("container", shell_complete=complete_containers)
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Go back N applies (default 1); a rollback after a rollback goes further back.")
@click.option("--to", "to", metavar="BACKUP", help="Put this backup back (a name `remediate backups` lists).")
@click.option("--dry-run", is_flag=True, help="Show what would be put back (the docker run diff, the files); change nothing.")
@click.option("--yes", "-y", is_flag=True, envvar="REMEDIATE_YES", help="Roll back without asking (also REMEDIATE_YES=1).")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True)
@click.option("--forks", type=click.IntRange(min=1), default=5, show_default=True, help="Hosts worked on at once.")
@format_option
@reporting.report_option
@host_options
@verbosity_options
def rollback(container: str, steps: int | None, to: str | None, dry_run: bool, yes: bool, timeout: float,
             forks: int, fmt: str, report_path: str | None, **where: Any) -> None:
    """Put CONTAINER back as it was before its last apply (or --steps N applies back, or --to a
    backup), with the files those applies replaced. The container replaced, and any backups in
    between, stay as backups.

    Every host is previewed, asked once, and rolled back under one hold of its lock; if any host
    cannot be previewed, none is rolled back.
    """
    from remediate import Hooks, Options, RollbackJob, roll_back

    if steps is not None and to is not None:
        fail("--steps and --to exclude each other")
    started = time.time()
    check_writable("--report", report_path)
    ask = not (dry_run or yes)
    if ask and not sys.stdin.isatty():
        fail("rollback needs a terminal to ask; pass --yes (or set REMEDIATE_YES=1) to roll back without one, "
              "or --dry-run to see what it would do")
    out = plain.console()
    with errors():
        targets = select_targets(where["hosts"], where["inventory"], where["limit"])
        ssh = ssh_options(where["known_hosts"], where["accept_new_host_keys"], where["private_key"])
        with interruptible() as cancel:
            hooks: Hooks[RollbackResult] = Hooks(confirm=_confirmer(out, ask=ask, show=fmt == "text"),
                                                 cancel=cancel)
            result = roll_back([RollbackJob(t, container, steps=steps, to=to) for t in targets],
                               Options(dry_run=dry_run, forks=forks, timeout=timeout, ssh=ssh), hooks=hooks)
        for o in result.outcomes:
            if o.status == "skipped" and o.error:
                echo(f"remediate: {o.host}: {o.error}; skipped", err=True)
        if result.dry_run and result.errors and (first := result.errors[0].exception) is not None:
            raise first  # one line, its exit code: nothing was rolled back anywhere
    if result.interrupted and result.dry_run:
        fail("interrupted, nothing changed", exit_codes.FAILED)
    if result.declined:
        fail("aborted, nothing changed", exit_codes.FAILED)
    if report_path:
        _write_report(report_path, result, targets, ssh, dry_run, started)
    if fmt == "json":
        echo(json.dumps(versioned_rows(result.to_json()), indent=2))
    if dry_run:
        if fmt == "text":
            views.print_rollback_plans(out, [o.preview for o in result.outcomes if o.preview is not None])
            out.print("\nDry run: nothing changed.")
        return
    _finish(result, container, text=fmt == "text")


def _finish(result: RollbackResult, container: str, *, text: bool) -> NoReturn:
    """Say what each host's rollback did (text), and exit with the code of the outcomes."""
    done = [(o.preview, o.result) for o in result.outcomes if o.preview is not None and o.result is not None]
    for preview, r in done if text else ():
        if r.ok:
            echo(_rolled_back(preview, r, container))
        else:
            views.print_container_failure(plain.console(), r)
    for o in result.errors:  # refused after the question (drifted, connection lost): nothing changed there
        echo(f"remediate: {o.error}", err=True)
    sys.exit(exit_code([*(r for _, r in done), *(o.exception for o in result.errors)]))


def _confirmer(out: Out, *, ask: bool, show: bool) -> Callable[[RollbackResult], bool]:
    """The confirm hook: the previews of every host (not with --quiet, unless it asks), then
    ``Roll back?`` when it asks."""
    def confirm(planned: RollbackResult) -> bool:
        previews = [o.preview for o in planned.outcomes if o.preview is not None]
        if ask or (show and verbosity() >= 0):
            views.print_rollback_plans(out, previews)
        if not ask:
            return True
        with prompting():
            return click.confirm("Roll back?", default=False)
    return confirm


def _write_report(path: str, result: RollbackResult, targets: Sequence[Target], ssh: SshOptions, dry_run: bool,
                  started: float) -> None:
    """``--report``: the rollback's rows, and what is left to do by hand."""
    from remediate.core.redaction import redact_text

    reporting.write_report(path, {
        **reporting.header("rollback", "dry-run" if dry_run else "rollback", started),
        "environment": reporting.environments(targets, ssh), "rollback": result.to_json(),
        "left": [*(redact_text(step) for o in result.outcomes if o.result for step in o.result.manual_steps),
                 *(redact_text(o.error) for o in result.errors if o.error)]})


def _rolled_back(preview: RollbackPreviewJson, r: ContainerResult, container: str) -> str:
    """The line that says what a rollback that succeeded put back on one host."""
    back = f" ({preview['steps']} applies back)" if (preview["steps"] or 1) > 1 else ""
    if preview["backup"] == preview["container"]:  # the last apply was an update in place
        return (f"{preview['host']}: {container}: updated back in place{back}: the same container "
                f"({(r.id_after or '')[:12]}), its earlier limits and restart policy")
    kept = f"; {', '.join(preview['between'])} stay as backups too" if preview["between"] else ""
    return (f"{preview['host']}: {container}: restored the previous container {preview['backup']}{back} "
            f"({(r.id_after or '')[:12]}); the replaced one is kept as {r.backup}{kept}")


@click.command()
@click.option("--container", "containers", multiple=True, metavar="NAME", shell_complete=complete_containers,
              help="Only the interrupted applies of these containers (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what recover would do, step by step; change nothing.")
@format_option
@reporting.report_option
@host_options
def recover(containers: tuple[str, ...], dry_run: bool, fmt: str, report_path: str | None, **where: Any) -> None:
    """Finish applies that were interrupted (killed, connection lost, reboot) on each host.

    From the host's journal and what the engine shows: a change that verified is kept, anything
    else is put back to the original container and files. --dry-run shows which, and the steps.
    """
    from remediate import Options, recover_all
    from remediate.core.redaction import redact_text
    from remediate.output.records import reported_recover_row

    started = time.time()
    check_writable("--report", report_path)
    with errors():
        targets = select_targets(where["hosts"], where["inventory"], where["limit"])
        ssh = ssh_options(where["known_hosts"], where["accept_new_host_keys"], where["private_key"])
        done = recover_all(targets, Options(dry_run=dry_run, ssh=ssh), containers=containers, on_skip=say_skipped)
    if report_path:
        reporting.write_report(report_path, {
            **reporting.header("recover", "dry-run" if dry_run else "recover", started),
            "environment": reporting.environments(targets, ssh),
            "recover": [reported_recover_row(d.to_json()) for d in done],
            "left": [redact_text(step) for d in done for step in d.recovery.manual_steps]})
    if fmt == "json":
        echo(json.dumps(versioned_rows(d.to_json() for d in done), indent=2))
    elif not done:
        echo("nothing to recover: every apply finished" if not containers
                   else f"nothing to recover for {', '.join(containers)}")
    for d in done:
        if fmt == "text":
            views.print_recovery(d.host, d.recovery, dry_run=dry_run)
    if dry_run:
        if fmt == "text":
            echo("Dry run: nothing changed.")
        sys.exit(exit_codes.OK)
    sys.exit(exit_code(d.recovery for d in done))
