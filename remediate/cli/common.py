"""What every command shares: the one-line failure, the error mapping, the host and output options,
shell completion, choosing the hosts, Ctrl-C handling and output files."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NoReturn

import click
from click.shell_completion import CompletionItem

from remediate.cli import exit_codes
from remediate.cli.exit_codes import exit_code

if TYPE_CHECKING:
    from remediate import Options
    from remediate.fleet.target import Target
    from remediate.host.connection import Connection
    from remediate.host.sshoptions import SshOptions


def echo(text: str, *, err: bool = False) -> None:
    """Print ``text`` as :func:`click.echo` does, its control characters shown as escapes, never
    obeyed by the terminal (:func:`remediate.core.visible.visible`; line breaks are kept)."""
    from remediate.core.visible import visible

    click.echo(visible(text, newlines=True), err=err)


def fail(message: str, code: int = exit_codes.USAGE) -> NoReturn:
    """Print ``remediate: MESSAGE`` on stderr and exit with ``code``."""
    echo(f"remediate: {message}", err=True)
    sys.exit(code)


@contextmanager
def errors() -> Iterator[None]:
    """Map library errors to one line and their exit code; nothing else escapes as a traceback."""
    from remediate.errors import RemediateError

    try:
        yield
    except RemediateError as exc:
        fail(exc.message, exit_code(exc))


@contextmanager
def detailed_exitcodes(enabled: bool) -> Iterator[None]:
    """With ``--detailed-exitcode``: any exit that is not 0 or the run's own
    :class:`~remediate.cli.exit_codes.DetailedExit` becomes 1 (an error)."""
    try:
        yield
    except exit_codes.DetailedExit:
        raise
    except SystemExit as exc:
        if enabled and exc.code not in (0, None):
            raise SystemExit(exit_codes.ERROR) from None
        raise


def detailed_exitcode_option(what: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """``--detailed-exitcode``: 0 nothing pending, 1 an error, 2 ``what`` (see exit_codes); the
    command runs under :func:`detailed_exitcodes`."""
    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        @functools.wraps(command)
        def run(**options: Any) -> None:
            with detailed_exitcodes(bool(options.get("detailed_exitcode"))):
                command(**options)
        return click.option(exit_codes.DETAILED_OPTION, "detailed_exitcode", is_flag=True,
                            help=f"For CI: exit 0 when nothing is pending, 2 when {what}, 1 on any error.")(run)
    return decorate


def format_option(func: Any) -> Any:
    """``--format text|json``."""
    return click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                        show_default=True, help="text for people, json for programs.")(func)


def pull_stall_option(func: Any) -> Any:
    """``--pull-stall SECONDS`` (also ``REMEDIATE_PULL_STALL``): :attr:`remediate.Options.pull_stall`."""
    return click.option("--pull-stall", type=click.FloatRange(min=1), default=60.0, show_default=True,
                        metavar="SECONDS", envvar="REMEDIATE_PULL_STALL",
                        help="An image pull with no progress for this long is aborted (a registry that stopped "
                             "sending); nothing changes. Also REMEDIATE_PULL_STALL.")(func)


def host_options(func: Any) -> Any:
    """Options that choose the Docker hosts: -H, -i/--limit, SSH settings."""
    options = [
        click.option("-H", "--host", "hosts", multiple=True, metavar="URL",
                     help="Docker host: local, unix:///path, tcp://host:port or ssh://user@host:port (repeatable)."),
        click.option("-i", "--inventory", help="Ansible inventory source: file, directory, script or h1,h2,."),
        click.option("--limit", metavar="PATTERN", help="Inventory host pattern: names, groups, a:b, a:&b, a:!b."),
        click.option("--known-hosts", type=click.Path(dir_okay=False), envvar="REMEDIATE_KNOWN_HOSTS",
                     help="known_hosts file (default ~/.ssh/known_hosts)."),
        click.option("--accept-new-host-keys", is_flag=True,
                     help="Record the key of a host seen for the first time (a changed key is always refused)."),
        click.option("--private-key", type=click.Path(dir_okay=False), help="SSH private key file."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def scope_args(where: dict[str, Any]) -> list[str]:
    """The :func:`host_options` as given, as arguments of a printed follow-up command (so the
    command it suggests works on the same hosts, with the same SSH settings)."""
    argv = [a for url in where.get("hosts") or () for a in ("-H", str(url))]
    for option, key in (("-i", "inventory"), ("--limit", "limit"), ("--known-hosts", "known_hosts"),
                        ("--private-key", "private_key")):
        if where.get(key):
            argv += [option, str(where[key])]
    return [*argv, *(["--accept-new-host-keys"] if where.get("accept_new_host_keys") else [])]


# --------------------------------------------------------------------------- -q / -v

def verbosity(ctx: click.Context | None = None) -> int:
    """-1 with ``--quiet``, 0 by default, 1 with ``-v``, 2 with ``-vv``."""
    ctx = ctx or click.get_current_context(silent=True)
    return int(ctx.meta.get("remediate.verbosity", 0)) if ctx is not None else 0


def verbosity_options(func: Any) -> Any:
    """``-q/--quiet`` (results, warnings and errors only) and ``-v/--verbose`` (every step; ``-vv``
    also each verify attempt and engine call)."""

    def quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            _set_verbosity(ctx, -1)

    def verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
        if value:
            _set_verbosity(ctx, min(value, 2))

    func = click.option("-v", "--verbose", count=True, expose_value=False, callback=verbose,
                        help="Show every step; -vv also each verify attempt and engine call (on stderr).")(func)
    return click.option("-q", "--quiet", is_flag=True, expose_value=False, callback=quiet,
                        help="Only results, warnings and errors: no diffs, no progress.")(func)


def _set_verbosity(ctx: click.Context, level: int) -> None:
    if ctx.meta.get("remediate.verbosity", 0) not in (0, level):
        raise click.UsageError("--quiet and --verbose exclude each other", ctx)
    ctx.meta["remediate.verbosity"] = level
    if level > 0:
        logging.getLogger("remediate").setLevel(logging.INFO if level == 1 else logging.DEBUG)


# --------------------------------------------------------------------------- completion

def complete_playbooks(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion: the built-in playbook names."""
    from remediate.core.playbook import builtin_playbooks

    return [CompletionItem(p.stem) for p in builtin_playbooks() if p.stem.startswith(incomplete)]


def complete_containers(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion: the container names on the engine ``DOCKER_HOST`` names (none when it
    does not answer within 2 s; remediate's own backups left out)."""
    from remediate.core.naming import is_remediate_copy
    from remediate.errors import RemediateError
    from remediate.host.connection import Connection

    try:
        with Connection("local", timeout=2) as conn:
            names = sorted(str(c["Name"]) for c in conn.list_containers())
    except RemediateError:
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete) and not is_remediate_copy(n)]


# --------------------------------------------------------------------------- hosts

def ssh_options(known_hosts: str | None, accept_new_host_keys: bool, private_key: str | None) -> SshOptions:
    """The SSH settings of :func:`host_options`."""
    from remediate.host.sshoptions import SshOptions

    return SshOptions(known_hosts=known_hosts, accept_new_host_keys=accept_new_host_keys, key_file=private_key)


def select_targets(hosts: tuple[str, ...], inventory: str | None, limit: str | None,
                   playbook: str | None = None) -> list[Target]:
    """The hosts -i/--limit select, then those -H names; the local engine when none is given.
    With a ``playbook`` file, the ``group_vars/`` and ``host_vars/`` beside it count too."""
    from remediate.fleet.target import target_from_url, targets_from_inventory

    if inventory:
        from remediate.fleet.inventory import load_inventory

        folder = None
        if playbook is not None:
            from remediate.core.playbook import playbook_dir

            folder = playbook_dir(playbook)
        selected = targets_from_inventory(load_inventory(inventory, playbook_dir=folder), limit)
        return selected + [target_from_url(h) for h in hosts]
    if limit:
        fail("--limit needs -i/--inventory")
    return [target_from_url(h) for h in hosts] or [target_from_url("local")]


def parse_amount(text: str | None, total: int, option: str) -> int | None:
    """``N`` or ``N%`` of ``total`` (at least 1), or None when not given.

    Raises:
        InventoryError: not a positive number or percentage (:func:`errors` prints it as one line).
    """
    from remediate.errors import InventoryError

    if text is None:
        return None
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            if not 0 < percent <= 100:
                raise ValueError
            return max(1, int(total * percent / 100))
        value = int(text)
        if value < 1:
            raise ValueError
        return value
    except ValueError:
        raise InventoryError(f"{option} {text}: expected a positive number or a percentage like 25%") from None


def run_options(params: Mapping[str, Any], **computed: Any) -> Options:
    """The library's :class:`remediate.Options` from the click parameters named like its fields
    (``--dry-run``, ``--forks``, ``--timeout``, ``--keep-backups``, ``--parallel``,
    ``--container-only``), and ``computed`` ones: a new option is its field, its click option and
    its use, nothing in between."""
    import dataclasses

    from remediate import Options

    names = {f.name for f in dataclasses.fields(Options)}
    return Options(**{**{k: v for k, v in params.items() if k in names}, **computed})


def connections(hosts: tuple[str, ...], inventory: str | None, limit: str | None, known_hosts: str | None,
                accept_new_host_keys: bool, private_key: str | None) -> Iterator[Connection]:
    """One connection per selected engine (with the host's own key file, if any), opened and closed
    in turn; an engine named twice (``-H local -H unix:///var/run/docker.sock``) is visited once."""
    from remediate.fleet.engines import each_engine

    yield from each_engine(select_targets(hosts, inventory, limit),
                           ssh_options(known_hosts, accept_new_host_keys, private_key), on_skip=say_skipped)


def say_skipped(target: Target, first: str) -> None:
    """``remediate: HOST: the same engine as FIRST; skipped`` on stderr."""
    echo(f"remediate: {target.name}: the same engine as {first}; skipped", err=True)


# --------------------------------------------------------------------------- Ctrl-C

@contextmanager
def interruptible(
        first: str = "restoring what is not verified yet, starting nothing new") -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM sets the yielded event (the work in the block winds down: ``first`` says
    how); a second one stops at once, and the journal lets `remediate recover` finish.

    The handler sets the event in the main thread: the main thread must never ``wait()`` on it
    (the handler would block on the lock that wait holds); other threads may.
    """
    cancel = threading.Event()

    def interrupt(signum: int, frame: Any) -> None:
        if cancel.is_set():
            echo("remediate: stopped at once; run `remediate recover` to finish what was in flight", err=True)
            os._exit(128 + signum)
        cancel.set()
        echo(f"remediate: interrupted: {first} (press Ctrl-C again to stop at once)", err=True)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def prompting() -> Iterator[None]:
    """Ctrl-C at a question (asked while nothing is in flight) aborts, as it does anywhere else."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --------------------------------------------------------------------------- output files

def check_writable(option: str, path: str | None) -> None:
    """Refuse an output file that cannot be written, before any work starts."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        fail(f"{option} {path}: cannot write there ({folder} is not a writable directory)")


@contextmanager
def writing(option: str, path: str) -> Iterator[None]:
    """Writing the file of ``option``: an OSError is one line and exit 2."""
    try:
        yield
    except OSError as exc:
        fail(f"{option} {path}: cannot write ({exc.strerror or exc})")


def iso(stamp: float) -> str:
    """A UNIX time as ISO 8601 UTC, to the second."""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")
