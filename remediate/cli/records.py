"""What remediate keeps and reads: ``history`` (the journal), ``backups`` (the containers kept for
rollback), ``hosts`` (what an inventory selects)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

from remediate.cli import views
from remediate.cli.common import connections, echo, errors, format_option, host_options
from remediate.output.formats import versioned_rows

if TYPE_CHECKING:
    from remediate.host.connection import Connection


@click.command()
@click.option("--container", help="Only this container.")
@format_option
@host_options
def history(container: str | None, fmt: str, **where: Any) -> None:
    """Past applies and rollbacks on each host, newest first: result, who ran it, when."""
    from remediate.executor.history import history as read_history
    from remediate.executor.journal import Journal
    from remediate.output.records import history_row

    _echo_host_rows(where, lambda conn: map(history_row, read_history(Journal(conn), container)), fmt, "no history",
                    {"time": "TIME", "host": "HOST", "container": "CONTAINER", "kind": "KIND",
                     "playbook": "PLAYBOOK", "result": "RESULT", "by": "BY"},
                    lambda row: {**row, "by": f"{row.get('user')}@{row.get('controller')}"})


@click.command()
@click.option("--container", help="Only backups of this container.")
@format_option
@host_options
def backups(container: str | None, fmt: str, **where: Any) -> None:
    """The backups remediate keeps (stopped, for `remediate rollback`), newest first."""
    from remediate.executor.swap import list_backups
    from remediate.output.records import backup_row

    _echo_host_rows(where, lambda conn: map(backup_row, list_backups(conn, container)), fmt, "no backups",
                    {"host": "HOST", "backup": "BACKUP", "container": "OF", "image": "IMAGE", "status": "STATUS"})


def _echo_host_rows(where: dict[str, Any], read: Callable[[Connection], Iterable[Mapping[str, Any]]], fmt: str,
                    empty: str, columns: dict[str, str],
                    shown: Callable[[dict[str, Any]], dict[str, Any]] = lambda row: row) -> None:
    """The rows ``read`` gives for each selected host (with its ``host``): as JSON, or a table of
    ``columns`` of the rows as ``shown`` makes them."""
    rows: list[dict[str, Any]] = []
    with errors():
        for conn in connections(**where):
            rows.extend({"host": conn.label, **row} for row in read(conn))
    if fmt == "json":
        echo(json.dumps(versioned_rows(rows), indent=2))
    elif not rows:
        echo(empty)
    else:
        views.echo_table([shown(row) for row in rows], columns)


@click.command()
@click.option("-i", "--inventory", required=True, help="Ansible inventory source: file, directory, script or h1,h2,.")
@click.option("--limit", metavar="PATTERN", help="Host pattern: names, groups, globs, a:b, a:&b, a:!b.")
@format_option
def hosts(inventory: str, limit: str | None, fmt: str) -> None:
    """List the hosts an inventory pattern selects, and how each is reached."""
    from remediate.fleet.inventory import load_inventory
    from remediate.fleet.target import host_json

    with errors():
        selected = [host_json(h) for h in load_inventory(inventory).select(limit)]
    if fmt == "json":
        echo(json.dumps(versioned_rows(selected), indent=2))
        return
    views.echo_table([{**h, "groups": ",".join(g for g in h["groups"] if g != "all") or None} for h in selected],
                     {"host": "HOST", "url": "REACHED AT", "docker_host": "DOCKER HOST", "groups": "GROUPS"})
    echo(f"{len(selected)} host(s)")
