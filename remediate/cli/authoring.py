"""``remediate lint``, ``remediate schema`` and ``remediate new``: writing playbooks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from remediate.cli import exit_codes
from remediate.cli.common import echo, errors, fail, format_option


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--strict", is_flag=True, help="Warnings fail too (exit 2).")
@format_option
def lint(files: tuple[str, ...], strict: bool, fmt: str) -> None:
    """Check playbook files: every error with its file:line:column and field, and the warnings.

    Exit 0 when no file has an error (warnings are printed but pass, unless --strict), 2 when
    one has. A built-in playbook's name works too. Turn a warning off in a file with a comment
    such as ``# remediate-lint: disable=no-verify``.
    """
    from remediate.core.lint import lint as lint_file
    from remediate.core.playbook import find_playbook
    from remediate.output.formats import versioned

    findings = []
    for name in files:
        with errors():
            path = find_playbook(name)
        findings.extend(lint_file(path, name))
    errors_found = sum(f.severity == "error" for f in findings)
    warnings_found = len(findings) - errors_found
    if fmt == "json":
        echo(json.dumps(versioned({"files": list(files), "errors": errors_found, "warnings": warnings_found,
                                   "findings": [f.to_json() for f in findings]}), indent=2))
    else:
        for finding in findings:
            echo(str(finding))
        echo(f"{len(files)} file(s): {errors_found} error(s), {warnings_found} warning(s)",
             err=bool(findings))
    failed = errors_found or (strict and warnings_found)
    sys.exit(exit_codes.USAGE if failed else exit_codes.OK)


@click.command()
def schema() -> None:
    """Print the playbook JSON Schema (for editors: see the README's "Writing playbooks")."""
    from remediate.core.scaffold import playbook_schema

    echo(json.dumps(playbook_schema(), indent=2))


@click.command()
@click.argument("name")
def new(name: str) -> None:
    """Write NAME.yml in the current directory: a commented skeleton playbook (never overwritten)."""
    from remediate.core.scaffold import skeleton

    with errors():
        text = skeleton(name)
    path = Path(f"{name}.yml")
    try:
        with path.open("x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        fail(f"{path} exists; not overwritten")
    except OSError as exc:
        fail(f"{path}: cannot write ({exc.strerror or exc})")
    echo(f"wrote {path}; check it with: remediate lint {path}")
