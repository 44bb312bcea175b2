"""``remediate list`` and ``remediate show``: the playbooks there are, and what one does."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from remediate.cli import views
from remediate.cli.common import complete_playbooks, echo, errors, format_option

if TYPE_CHECKING:
    from remediate.core.playbook import Playbook


@click.command("list")
@format_option
def list_cmd(fmt: str) -> None:
    """List the built-in playbooks: name, safety, description."""
    from remediate.core.playbook import builtin_playbooks, load_playbook
    from remediate.output.playbook import playbook_row

    with errors():
        rows = [playbook_row(load_playbook(p.stem)) for p in builtin_playbooks()]
    if fmt == "json":
        from remediate.output.formats import versioned_rows

        echo(json.dumps(versioned_rows(rows), indent=2))
        return
    views.echo_table(rows, {"name": "NAME", "safety": "SAFETY", "description": "DESCRIPTION"})


@click.command()
@click.argument("playbook", shell_complete=complete_playbooks)
@format_option
def show(playbook: str, fmt: str) -> None:
    """Show what a playbook selects, its vars, changes and verify steps."""
    from remediate.core.playbook import load_playbook

    with errors():
        book = load_playbook(playbook)
    from remediate.output.formats import versioned
    from remediate.output.playbook import playbook_json

    echo(json.dumps(versioned(playbook_json(book)), indent=2) if fmt == "json" else describe(book))


def describe(book: Playbook) -> str:
    """The playbook for people: what it selects, its vars (secrets masked), changes, verify steps."""
    import yaml

    from remediate.core.redaction import redact_mapping

    lines = [f"{book.name}  (safety: {book.safety})", "", " ".join(book.description.split()), ""]
    lines.append("select (any of):" if len(book.selectors) > 1 else "select:")
    for sel in book.selectors:
        lines.append("  - " + ", ".join(f"{k}={v}" for k, v in sel.model_dump(exclude_defaults=True).items()))
    lines.append("vars:" if book.vars else "vars: none")
    lines.extend(f"  {k} = {v!r}" for k, v in redact_mapping(book.vars).items())
    lines.append("changes:")
    for change in book.changes:
        text = yaml.safe_dump(redact_mapping(change.model_dump(exclude_defaults=True, by_alias=True)),
                              default_flow_style=True, sort_keys=False, width=1000).strip()
        lines.append(f"  - {text}")
    lines.append("verify:" if book.verify else "verify: container running (and healthy, if it has a healthcheck)")
    for check in book.verify:
        http = check.http
        lines.append(f"  - http {http.method} {http.path} on container port {http.port} -> {http.status}"
                     + (f" containing {http.contains!r}" if http.contains else ""))
    if book.verify:
        lines.append("  - and the container keeps running (healthy, if it has a healthcheck)")
    if book.require:
        lines.append("require:")
        lines.extend(f"  - {rule.that}" for rule in book.require)
    if book.revert_after is not None:
        lines.append(f"revert_after: {book.revert_after} (the change is undone after that many seconds)")
    if book.after:
        lines += ["after:", f"  {book.after.strip()}"]
    return "\n".join(lines)
