"""``--report FILE.md|FILE.json`` of apply, diagnose, rollback and recover: what every report
carries (who ran what, when, on which host, engine and OS), written 0600, then said where."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import click

from remediate import __version__
from remediate.cli.common import echo, iso, writing

if TYPE_CHECKING:
    from remediate import SshOptions, Target
    from remediate.host.connection import Connection
    from remediate.output.environment import EnvironmentJson

#: The ``--report`` option, as each command that writes one offers it.
report_option = click.option(
    "--report", "report_path", type=click.Path(dir_okay=False), metavar="FILE.md|FILE.json",
    help="Write a shareable report (Markdown, or JSON for FILE.json), mode 0600; secrets redacted.")


def header(command: str, mode: str, started: float) -> dict[str, Any]:
    """The start of every report: the tool, the command, the operator (``user@controller``, as
    the journal records them), when it started and finished."""
    from remediate.executor.record import controller

    who = controller()
    return {"tool": f"remediate {__version__}", "command": command, "mode": mode,
            "operator": f"{who['user']}@{who['controller']}", "started": iso(started), "finished": iso(time.time())}


def environment(conn: Connection) -> EnvironmentJson:
    """Where ``conn`` leads: the engine's version and OS (``docker info``), or why unknown."""
    from remediate.errors import RemediateError
    from remediate.output.environment import environment_json

    try:
        return environment_json(conn.label, conn.info(), api=conn.api_version)
    except RemediateError as exc:
        return environment_json(conn.label, None, exc.message)


def environments(targets: Iterable[Target], ssh: SshOptions | None) -> list[EnvironmentJson]:
    """:func:`environment` of each target, connected to in turn (one not reached says why)."""
    found = []
    for target in targets:
        with target.connection(ssh) as conn:
            found.append(environment(conn))
    return found


def write_report(path: str, data: Mapping[str, Any], *, say: bool = True) -> None:
    """Write the report ``data`` (already redacted JSON views) to ``path``: its JSON when the name
    ends in ``.json``, else Markdown; mode 0600, never through a symlink. Then, with ``say``, say
    where on stderr (not after bad input: its one line is the error). A file that cannot be
    written is one line and exit 2."""
    from remediate.output.formats import versioned
    from remediate.output.markdown import markdown_report
    from remediate.output.private import write_private

    with writing("--report", path):
        write_private(path, json.dumps(versioned(data), indent=2) + "\n" if path.endswith(".json")
                      else markdown_report(data))
    if say:
        echo(f"report written to {path}", err=True)
