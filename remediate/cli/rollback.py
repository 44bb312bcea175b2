"""``remediate rollback`` and ``remediate recover``: put a container back as it was, and finish
applies that were interrupted."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from remediate.cli import exit_codes, views
from remediate.cli.common import (
    complete_containers,
    connections,
    echo,
    errors,
    fail,
    format_option,
    host_options,
    prompting,
    verbosity,
    verbosity_options,
)
from remediate.cli.exit_codes import exit_code
from remediate.output.formats import versioned_rows

if TYPE_CHECKING:
    from remediate.core.results import ContainerResult
    from remediate.executor.restore import Recovery


@click.command()
@click.argument("container", shell_complete=complete_containers)
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Go back N applies (default 1); a rollback after a rollback goes further back.")
@click.option("--to", "to", metavar="BACKUP", help="Put this backup back (a name `remediate backups` lists).")
@click.option("--dry-run", is_flag=True, help="Show what would be put back (the docker run diff, the files); change nothing.")
@click.option("--yes", "-y", is_flag=True, envvar="REMEDIATE_YES", help="Roll back without asking (also REMEDIATE_YES=1).")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True)
@format_option
@host_options
@verbosity_options
def rollback(container: str, steps: int | None, to: str | None, dry_run: bool, yes: bool, timeout: float, fmt: str,
             **where: Any) -> None:
    """Put CONTAINER back as it was before its last apply (or --steps N applies back, or --to a
    backup), with the files those applies replaced. The container replaced, and any backups in
    between, stay as backups."""
    from remediate.executor.restore import plan_rollback
    from remediate.executor.restore import rollback as run_rollback
    from remediate.output.report import rollback_plan_json

    if steps is not None and to is not None:
        fail("--steps and --to exclude each other")
    ask = not (dry_run or yes)
    if ask and not sys.stdin.isatty():
        fail("rollback needs a terminal to ask; pass --yes (or set REMEDIATE_YES=1) to roll back without one, "
              "or --dry-run to see what it would do")
    out = views.console()
    previews: list[dict[str, Any]] = []
    results: list[tuple[dict[str, Any], ContainerResult]] = []
    with errors():
        for conn in connections(**where):
            plan = plan_rollback(conn, container, steps=steps, to=to)
            preview = {"host": conn.label, **rollback_plan_json(plan, conn.api_version)}
            previews.append(preview)
            if dry_run:
                continue
            if ask:
                views.print_rollback_plan(out, preview)
                with prompting():
                    if not click.confirm("Roll back?", default=False):
                        fail(f"aborted, nothing changed{f' on {conn.label}' if results else ''}", exit_codes.FAILED)
            elif fmt == "text" and verbosity() >= 0:  # --quiet: the outcome only
                views.print_rollback_plan(out, preview)
            results.append((preview, run_rollback(conn, container, to=plan.backup, timeout=timeout)))
    if dry_run:
        if fmt == "json":
            echo(json.dumps(versioned_rows(previews), indent=2))
        else:
            for preview in previews:
                views.print_rollback_plan(out, preview)
            out.print("\nDry run: nothing changed.")
        return
    if fmt == "json":
        rows = [{**preview, "action": r.action, "error": r.error, "restored_id": (r.id_after or "")[:12] or None,
                 "parked_as": r.backup, "manual_steps": list(r.manual_steps)} for preview, r in results]
        echo(json.dumps(versioned_rows(rows), indent=2))
    for preview, result in results:
        if fmt == "json":
            continue
        if result.ok:
            back = f" ({preview['steps']} applies back)" if (preview["steps"] or 1) > 1 else ""
            kept = f"; {', '.join(preview['between'])} stay as backups too" if preview["between"] else ""
            echo(f"{preview['host']}: {container}: restored the previous container {preview['backup']}{back} "
                       f"({(result.id_after or '')[:12]}); the replaced one is kept as {result.backup}{kept}")
        else:
            views.print_container_failure(views.console(), result)
    sys.exit(exit_code(r for _, r in results))


@click.command()
@click.option("--container", "containers", multiple=True, metavar="NAME", shell_complete=complete_containers,
              help="Only the interrupted applies of these containers (repeatable).")
@click.option("--dry-run", is_flag=True, help="Show what recover would do, step by step; change nothing.")
@format_option
@host_options
def recover(containers: tuple[str, ...], dry_run: bool, fmt: str, **where: Any) -> None:
    """Finish applies that were interrupted (killed, connection lost, reboot) on each host.

    From the host's journal and what the engine shows: a change that verified is kept, anything
    else is put back to the original container and files. --dry-run shows which, and the steps.
    """
    from remediate.executor.restore import plan_recover
    from remediate.executor.restore import recover as run_recover

    done: list[tuple[str, Recovery]] = []
    with errors():
        for conn in connections(**where):
            found = (plan_recover(conn, containers=containers) if dry_run
                     else run_recover(conn, containers=containers))
            done.extend((conn.label, r) for r in found)
    if fmt == "json":
        rows = [{"host": h, "container": r.container, "tx": r.tx, "outcome": r.outcome, "detail": r.detail,
                 "manual_steps": list(r.manual_steps), **({"steps": list(r.steps)} if dry_run else {})}
                for h, r in done]
        echo(json.dumps(versioned_rows(rows), indent=2))
    elif not done:
        echo("nothing to recover: every apply finished" if not containers
                   else f"nothing to recover for {', '.join(containers)}")
    for host, r in done:
        if fmt == "text":
            views.print_recovery(host, r, dry_run=dry_run)
    if dry_run:
        if fmt == "text":
            echo("Dry run: nothing changed.")
        sys.exit(exit_codes.OK)
    sys.exit(exit_code(r for _, r in done))
