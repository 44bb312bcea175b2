"""The ``remediate`` command line: parse, call the library, print, exit.

The package :mod:`remediate.cli` is the only one that prints, prompts or exits (with the commands
each domain pack adds, :attr:`remediate.core.sources.Pack.commands`): a module per command
(:mod:`~remediate.cli.apply`, :mod:`~remediate.cli.rollback`, :mod:`~remediate.cli.records`,
:mod:`~remediate.cli.catalog`, :mod:`~remediate.cli.authoring`), what they share in
:mod:`~remediate.cli.common`, the text views in :mod:`~remediate.cli.views`. Exit codes come from
:func:`remediate.cli.exit_codes.exit_code`.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import logging
import re
import sys
from typing import Any

import click

from remediate import __version__
from remediate.cli import exit_codes
from remediate.cli.common import echo, fail
from remediate.cli.exit_codes import exit_code
from remediate.errors import PlaybookError

#: Each command: the module of :mod:`remediate.cli` that defines it, and its name there. A
#: command's module is imported when the command runs (or ``--help`` lists it), not at start.
_COMMANDS = {
    "apply": ("apply", "apply"), "backups": ("records", "backups"), "history": ("records", "history"),
    "hosts": ("records", "hosts"), "lint": ("authoring", "lint"), "list": ("catalog", "list_cmd"),
    "new": ("authoring", "new"), "recover": ("rollback", "recover"), "rollback": ("rollback", "rollback"),
    "schema": ("authoring", "schema"), "show": ("catalog", "show"),
}


class _Commands(click.Group):
    """The command group; a usage error is one line on stderr and exit 2, like any bad input."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_COMMANDS, *(c.name or "" for c in _pack_commands())})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            module, name = _COMMANDS[cmd_name]
            self.add_command(getattr(importlib.import_module(f"remediate.cli.{module}"), name), cmd_name)
        elif cmd_name not in self.commands:
            for command in _pack_commands():
                if command.name == cmd_name:
                    self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        # A run is short and loads much (pydantic builds its models as they are imported): the
        # young generation is collected every 200,000 allocations instead of 700, as mypy does.
        gc.set_threshold(200_000, 30, 30)
        # On the way out the interpreter collects every generation as it unloads the modules
        # (about 70 ms of a dry run here), though all a run made dies with the process anyway.
        # Frozen at exit (atexit runs before those collections), it is skipped; the exit
        # handlers (temp dirs, logging, thread joins) still run.
        atexit.unregister(gc.freeze)
        atexit.register(gc.freeze)
        argv = kwargs.get("args", args[0] if args else None)
        argv = sys.argv[1:] if argv is None else list(argv)
        detailed = exit_codes.DETAILED_OPTION in argv[: argv.index("--") if "--" in argv else None]
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help text
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "remediate"
            fail(f"{exc.format_message()} (see `{where} --help`)",
                 exit_codes.ERROR if detailed else exit_code(exc))
        except click.ClickException as exc:
            fail(exc.format_message(), exit_codes.ERROR if detailed else exit_code(exc))
        except click.Abort as exc:
            fail("aborted", exit_code(exc))
        sys.exit(code if isinstance(code, int) else exit_codes.OK)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remediate")
def main() -> None:
    """Declarative, verified remediation of Docker containers.

    Inspect, show a dry-run diff, recreate faithfully (every option you did not ask to change is
    kept), verify, and roll back on failure.
    """
    # Here, not at import: `remediate --help` needs none of it.
    from remediate.executor.probes import stable_window

    library = logging.getLogger("remediate")
    library.setLevel(logging.NOTSET)  # -v / -vv of the command raise it
    for handler in [h for h in library.handlers if isinstance(h, _LogLines)]:
        library.removeHandler(handler)
    library.addHandler(_LogLines())
    try:
        stable_window()  # a bad REMEDIATE_STABLE_SECONDS is refused before anything is read
    except PlaybookError as exc:
        fail(str(exc))


_FULL_ID = re.compile(r"\b[0-9a-f]{64}\b")


class _LogLines(logging.Handler):
    """The library's log on stderr, redacted: warnings (e.g. damaged journal lines skipped) one
    line each, each once per run; with -v / -vv also its info and debug lines."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        from remediate.core.redaction import redact_text

        text = _FULL_ID.sub(lambda m: m[0][:12], redact_text(record.getMessage()))  # ids as docker ps shows them
        if record.levelno < logging.WARNING:
            echo(f"remediate: {text}", err=True)
        elif text not in self.seen:
            self.seen.add(text)
            echo(f"remediate: warning: {text}", err=True)


def _pack_commands() -> list[click.Command]:
    """The commands the domain packs add (e.g. diagnose, bundle; :attr:`remediate.core.sources.Pack.commands`),
    imported only when one of them runs or ``--help`` lists them."""
    from remediate.core.sources import packs

    return [c for pack in packs() if pack.commands for c in importlib.import_module(pack.commands).COMMANDS]
