"""The ``remediate`` command line: parse, call the library, print, exit.

The only module (with :mod:`remediate.cli.views`) that prints, prompts or exits. The policy (plan,
confirm, apply under the lock, the time-boxed hold) is the library's
(:func:`remediate.fleet.rollout.rollout`); here are the prompts. Exit codes come from
:func:`remediate.cli.exit_codes.exit_code`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import click
from click.shell_completion import CompletionItem

from remediate import __version__
from remediate.cli import exit_codes, views
from remediate.cli.exit_codes import exit_code

if TYPE_CHECKING:
    from rich.console import Console

    from remediate.core.planner import Plan
    from remediate.core.playbook import Playbook
    from remediate.core.results import ContainerResult
    from remediate.executor.hold import Revert
    from remediate.executor.restore import Recovery
    from remediate.fleet.rollout import RolloutResult, Target
    from remediate.fleet.saved import SavedPlan
    from remediate.host.connection import Connection
    from remediate.host.sshoptions import SshOptions


def _fail(message: str, code: int = exit_codes.USAGE) -> NoReturn:
    click.echo(f"remediate: {message}", err=True)
    sys.exit(code)


@contextmanager
def _errors() -> Iterator[None]:
    """Map library errors to one line and their exit code; nothing else escapes as a traceback."""
    from remediate.errors import RemediateError

    try:
        yield
    except RemediateError as exc:
        _fail(exc.message, exit_code(exc))


class _Commands(click.Group):
    """The command group; a usage error is one line on stderr and exit 2, like any bad input."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        if not kwargs.get("standalone_mode", True):
            return super().main(*args, **kwargs)
        try:
            code = super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.NoArgsIsHelpError as exc:
            exc.show()  # the help text
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "remediate"
            _fail(f"{exc.format_message()} (see `{where} --help`)", exit_code(exc))
        except click.ClickException as exc:
            _fail(exc.format_message(), exit_code(exc))
        except click.Abort as exc:
            _fail("aborted", exit_code(exc))
        sys.exit(code if isinstance(code, int) else exit_codes.OK)


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="remediate")
def main() -> None:
    """Declarative, verified remediation of Docker containers.

    Inspect, show a dry-run diff, recreate faithfully (every option you did not ask to change is
    kept), verify, and roll back on failure.
    """
    library = logging.getLogger("remediate")
    for handler in [h for h in library.handlers if isinstance(h, _WarnOnce)]:
        library.removeHandler(handler)
    library.addHandler(_WarnOnce())


class _WarnOnce(logging.Handler):
    """The library's warnings (e.g. damaged journal lines skipped) on stderr: one line each,
    each once per run, redacted."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        from remediate.core.redaction import redact_text

        text = redact_text(record.getMessage())
        if text not in self.seen:
            self.seen.add(text)
            click.echo(f"remediate: warning: {text}", err=True)


@main.command("list")
def list_cmd() -> None:
    """List the built-in playbooks: name, safety, description."""
    from remediate.core.playbook import builtin_playbooks, load_playbook

    with _errors():
        books = [load_playbook(p.stem) for p in builtin_playbooks()]
    width = max((len(b.name) for b in books), default=0)
    for book in books:
        summary = " ".join(book.description.split())
        click.echo(f"{book.name:<{width}}  {book.safety:<7}  {summary}")



def _complete_playbooks(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion: the built-in playbook names."""
    from remediate.core.playbook import builtin_playbooks

    return [CompletionItem(p.stem) for p in builtin_playbooks() if p.stem.startswith(incomplete)]


def _complete_containers(_ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    """Shell completion: the container names on the engine ``DOCKER_HOST`` names (none when it
    does not answer within 2 s; remediate's own backups left out)."""
    from remediate.core.planner import is_remediate_copy
    from remediate.errors import RemediateError
    from remediate.host.connection import Connection

    try:
        with Connection("local", timeout=2) as conn:
            names = sorted(str(c["Name"]) for c in conn.list_containers())
    except RemediateError:
        return []
    return [CompletionItem(n) for n in names if n.startswith(incomplete) and not is_remediate_copy(n)]

@main.command()
@click.argument("playbook", shell_complete=_complete_playbooks)
def show(playbook: str) -> None:
    """Show what a playbook selects, its vars, changes and verify steps."""
    from remediate.core.playbook import load_playbook

    with _errors():
        book = load_playbook(playbook)
    click.echo(_describe(book))


def _describe(book: Playbook) -> str:
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
        text = yaml.safe_dump(change.model_dump(exclude_defaults=True, by_alias=True), default_flow_style=True,
                              sort_keys=False, width=1000).strip()
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


def _host_options(func: Any) -> Any:
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


@main.command()
@click.argument("playbook", required=False, shell_complete=_complete_playbooks)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--yes", "-y", is_flag=True, envvar="REMEDIATE_YES", help="Apply without asking (also REMEDIATE_YES=1).")
@click.option("--container", "containers", multiple=True, metavar="NAME", shell_complete=_complete_containers,
              help="Only these containers (repeatable).")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, metavar="KEY=VALUE|@FILE", help="Override a playbook var (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds verification keeps retrying before it counts as failed.")
@click.option("--keep-backups", type=click.IntRange(min=1), default=3, show_default=True,
              help="Backups kept per container after a successful apply.")
@_host_options
@click.option("--forks", type=click.IntRange(min=1), default=5, show_default=True, help="Hosts worked on at once.")
@click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True,
              help="Containers recreated at once on one host (1 when neighbours are tied to a change).")
@click.option("--serial", metavar="N|N%", help="Hosts per batch; a batch starts when the previous one verified.")
@click.option("--max-fail", metavar="N|N%", help="Stop the rollout once this many hosts failed.")
@click.option("--step", is_flag=True, help="Before each container: show its diff, ask apply/skip/diff again/quit.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="Write a shareable report (FILE.md or FILE.json); secrets redacted.")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="With --dry-run: save the plan to apply later.")
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, exists=True),
              help="Apply exactly a saved plan; refused if any container drifted since.")
@click.option("--restore", is_flag=True, help="Undo a time-boxed playbook (revert_after) now.")
@click.option("--container-only", is_flag=True,
              help="Compose services: change the container only, not the compose file (the output warns).")
def apply(**options: Any) -> None:
    """Plan PLAYBOOK (a built-in name or a file) on Docker hosts, then apply it.

    Without -H or -i, the local engine (DOCKER_HOST or /var/run/docker.sock).
    """
    args = _ApplyArgs(**options)
    out = views.console()
    started = time.time()
    with _errors():
        request = _request(args)
        if args.restore:
            _restore_now(out, args, request)
        result = _run(out, args, request)
        if args.out_path:
            from remediate.fleet import saved

            with _writing("--out", args.out_path):
                saved.save(args.out_path, request.book, request.source, request.overrides, request.containers,
                           result, container_only=request.container_only)
    _finish(out, args, request, result, started)


class _ApplyArgs(NamedTuple):
    """The options of ``remediate apply``, as click parsed them."""

    playbook: str | None
    dry_run: bool
    yes: bool
    containers: tuple[str, ...]
    extra_vars: tuple[str, ...]
    fmt: str
    timeout: float
    keep_backups: int
    hosts: tuple[str, ...]
    inventory: str | None
    limit: str | None
    known_hosts: str | None
    accept_new_host_keys: bool
    private_key: str | None
    forks: int
    serial: str | None
    max_fail: str | None
    step: bool
    report_path: str | None
    out_path: str | None
    plan_path: str | None
    restore: bool
    parallel: int
    container_only: bool

    @property
    def confirm(self) -> bool:
        """True when the user is asked before anything is applied (a ``safety: confirm`` playbook)."""
        return not self.step and not self.dry_run and not self.yes


class _Request(NamedTuple):
    """What ``remediate apply`` works on, once its input is checked."""

    book: Playbook
    source: str
    targets: list[Target]
    containers: tuple[str, ...]
    overrides: dict[str, Any]
    saved: SavedPlan | None
    ssh: SshOptions
    #: Compose services: the container only (``--container-only``, or as the saved plan was made).
    container_only: bool


def _request(args: _ApplyArgs) -> _Request:
    """Load and check the input: -e vars, a saved plan, the playbook, the hosts, the output files."""
    from remediate.core.playbook import load_playbook, parse_extra_vars
    from remediate.fleet import saved
    from remediate.host.sshoptions import SshOptions

    overrides = parse_extra_vars(args.extra_vars)
    saved_plan = saved.load(args.plan_path) if args.plan_path else None
    source, containers = args.playbook, args.containers
    if saved_plan is not None:
        overrides = _saved_overrides(args, saved_plan, overrides)
        source, containers = saved_plan.source, saved_plan.containers
    if not source:
        _fail("give a PLAYBOOK (built-in name or file), or --plan FILE")
    if args.out_path and not args.dry_run:
        _fail("--out saves a plan: use it with --dry-run")
    _check_writable("--out", args.out_path)
    _check_writable("--report", args.report_path)
    book = load_playbook(source)
    if saved_plan is not None and not (args.hosts or args.inventory or args.limit):
        targets = saved_plan.targets(overrides)
    else:
        targets = _targets(args.hosts, args.inventory, args.limit)
        if saved_plan is not None:
            saved_plan.check_targets(targets)
    ssh = SshOptions(known_hosts=args.known_hosts, accept_new_host_keys=args.accept_new_host_keys,
                     key_file=args.private_key)
    container_only = saved_plan.container_only if saved_plan is not None else args.container_only
    return _Request(book, source, targets, containers, overrides, saved_plan, ssh, container_only)


def _saved_overrides(args: _ApplyArgs, saved_plan: SavedPlan, overrides: dict[str, Any]) -> dict[str, Any]:
    """The vars of a saved plan with the -e given now; refuse a --plan run that lacks its secrets
    or names other containers."""
    missing = [v for v in saved_plan.secret_vars if v not in overrides]
    if missing:
        _fail(f"{args.plan_path}: secret vars are not saved; pass them again: "
              + " ".join(f"-e {v}=..." for v in missing))
    if args.containers and set(args.containers) != set(saved_plan.containers):
        _fail(f"{args.plan_path}: --container: the plan applies to the containers it was saved for "
              f"({', '.join(saved_plan.containers) or 'all it selects'}); drop --container")
    if args.container_only and not saved_plan.container_only:
        _fail(f"{args.plan_path}: --container-only: the plan was saved with the compose file edits; "
              "plan again with --container-only, or drop it")
    return {**saved_plan.vars, **overrides}


def _run(out: Console, args: _ApplyArgs, req: _Request) -> RolloutResult:
    """The rollout: plan, (confirm or check the saved plan), apply; step mode asks per container.
    Exits when it stopped before applying (interrupted, declined, nothing to do)."""
    result = _rollout_once(out, args, req)
    if result.dry_run and not args.dry_run:  # it stopped before applying
        _stop_unapplied(out, result)
        sys.exit(exit_code(result))
    return result


def _stop_unapplied(out: Console, result: RolloutResult, *, show: bool = True) -> None:
    """A rollout that stopped before applying: exit when interrupted or declined, else print
    (with ``show``) its "nothing to do"."""
    if result.interrupted:
        _fail("interrupted, nothing changed", exit_codes.FAILED)
    if result.declined:
        _fail("aborted, nothing changed", exit_code(result))
    if show:
        views.print_outcomes(out, result, fmt="text", dry_run=False)  # nothing to change: "nothing to do"


def _rollout_once(out: Console, args: _ApplyArgs, req: _Request) -> RolloutResult:
    from remediate.fleet.rollout import parse_amount, rollout

    confirm = args.confirm and req.book.safety == "confirm"
    if (args.step or confirm) and not sys.stdin.isatty():
        _fail(f"{'--step' if args.step else f'playbook {req.book.name} is safety: confirm;'} needs a terminal; "
              "pass --yes (or set REMEDIATE_YES=1) to apply without one")
    with _interruptible() as cancel, views.progress(out, args.fmt, [t.name for t in req.targets]) as progress:
        result = rollout(
            req.book, req.targets, overrides=req.overrides, dry_run=args.dry_run,
            confirm=_confirm_prompt(out) if confirm else None, saved=req.saved,
            forks=1 if args.step else args.forks, serial=parse_amount(args.serial, len(req.targets), "--serial"),
            max_fail=parse_amount(args.max_fail, len(req.targets), "--max-fail"), timeout=args.timeout,
            keep_backups=args.keep_backups, only=req.containers, ssh=req.ssh,
            parallel=1 if args.step else args.parallel, container_only=req.container_only,
            progress=progress, decide=_step_prompt(out) if args.step and not args.dry_run else None, cancel=cancel,
            on_plan=_plan_printer(out) if args.fmt == "text" and not (confirm or args.step) else None)
    return result


def _plan_printer(out: Console) -> Callable[[Target, Plan], None]:
    """Without a prompt: each host's plan, printed before it is applied (not after)."""

    def show(_target: Target, plan: Plan) -> None:
        views.print_plan(out, plan, dry_run=False)
    return show


def _confirm_prompt(out: Console) -> Callable[[RolloutResult], bool]:
    """The confirm step: show the plan of every host, then ask (Ctrl-C at the question aborts)."""

    def confirm(planned: RolloutResult) -> bool:
        views.print_outcomes(out, planned, fmt="text", dry_run=False)  # not yet applied, not a dry run
        with _prompting():
            return click.confirm("Apply these changes?", default=False)
    return confirm


def _finish(out: Console, args: _ApplyArgs, req: _Request, result: RolloutResult, started: float) -> NoReturn:
    """Print the outcome, the saved plan's and the report's files, hold a time-boxed change; exit."""
    # An apply showed its plans before applying (the prompt, the step questions or _plan_printer).
    views.print_outcomes(out, result, fmt=args.fmt, dry_run=args.dry_run, plans=args.dry_run)
    if args.out_path:
        out.print(f"Plan saved to {args.out_path}; apply it with: remediate apply --plan {args.out_path}")
    if args.report_path:
        with _writing("--report", args.report_path):
            _write_report(args.report_path, req.book, result, started, dry_run=args.dry_run)
    if not args.dry_run and exit_code(result) == exit_codes.OK:
        _hold(out, req, result, args.timeout)
    sys.exit(exit_code(result))


def _step_prompt(out: Console) -> Any:
    """Step mode: show each container's diff, then ask what to do with it."""
    from remediate.core.redaction import secret_values
    from remediate.output.report import container_plan_json

    def decide(plan: Any, cp: Any) -> str:
        data = container_plan_json(cp, plan.engine_api, secret_values(plan.vars))
        while True:
            views.print_container_plan(out, data)
            answer = click.prompt("apply / skip / diff again / quit", type=click.Choice(["a", "s", "d", "q"]),
                                  default="a", show_choices=True)
            if answer != "d":
                return {"a": "apply", "s": "skip", "q": "quit"}[answer]
    return decide


def _restore_now(out: Console, args: _ApplyArgs, req: _Request) -> NoReturn:
    """--restore: put back the containers a time-boxed playbook changed, on every host."""
    from remediate.executor import hold

    if req.book.revert_after is None:
        _fail(f"--restore is for time-boxed playbooks (revert_after); {req.book.name} is not one")
    results: list[tuple[str, ContainerResult]] = []
    for target in req.targets:
        with target.connection(req.ssh) as conn:
            results.extend((r.host, r.result) for r in hold.revert(conn, playbook=req.book.name,
                                                                    containers=req.containers, timeout=args.timeout)
                           if r.result is not None)
    for host, r in results:
        out.print(f"{host}: {r.name}: {r.action}" + (f" ({r.error})" if r.error else ""))
    if not results:
        out.print("nothing to restore")
    sys.exit(exit_code(r for _, r in results))


def _hold(out: Console, req: _Request, result: RolloutResult, timeout: float) -> None:
    """A time-boxed playbook: hold the change, then put it back (Ctrl-C: now); print each revert."""
    from remediate.errors import RollbackFailed
    from remediate.fleet.rollout import hold_then_revert

    due: list[float] = []  # when the hold ends, once it is announced (the countdown's clock)

    def announce(seconds: float) -> None:
        out.print(f"Time-boxed change: restoring in {seconds:g} s (Ctrl-C restores now; or later: "
                  "remediate apply ... --restore; if this process is stopped, remediate recover restores it).")
        due.append(time.monotonic() + seconds)

    # Ctrl-C is caught from before the line that offers it: pressed right after it, it restores too.
    with _errors(), _interruptible("restoring now") as cancel, views.countdown(out, due):
        try:
            reverts = hold_then_revert(result, ssh=req.ssh, timeout=timeout, cancel=cancel, on_hold=announce)
        except RollbackFailed as exc:
            _print_reverts(out, exc.result)
            raise
    _print_reverts(out, reverts)


def _print_reverts(out: Console, reverts: Iterable[Revert]) -> None:
    for r in reverts:
        if r.result is None:
            out.print(f"{r.host}: {r.container}: already restored (by recover, --restore or a later change)")
        else:
            out.print(f"{r.host}: {r.container}: {'restored' if r.ok else r.result.action}"
                      + (f" ({r.result.error})" if r.result.error else ""))


def _check_writable(option: str, path: str | None) -> None:
    """Refuse an output file that cannot be written, before any work starts."""
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        _fail(f"{option} {path}: cannot write there ({folder} is not a writable directory)")


@contextmanager
def _writing(option: str, path: str) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        _fail(f"{option} {path}: cannot write ({exc.strerror or exc})")


def _write_report(path: str, book: Playbook, result: RolloutResult, started: float, *, dry_run: bool) -> None:
    from remediate.fleet.rollout import rollout_json
    from remediate.output.report import markdown_report

    data = {"tool": f"remediate {__version__}", "playbook": book.name, "description": book.description,
            "mode": "dry-run" if dry_run else "apply", "started": _iso(started), "finished": _iso(time.time()),
            **rollout_json(result)}
    text = json.dumps(data, indent=2) if path.endswith(".json") else markdown_report(data)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def _iso(stamp: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


def _targets(hosts: tuple[str, ...], inventory: str | None, limit: str | None) -> list[Target]:
    from remediate.fleet.rollout import target_from_url, targets_from_inventory

    if inventory:
        from remediate.fleet.inventory import load_inventory

        selected = targets_from_inventory(load_inventory(inventory), limit)
        return selected + [target_from_url(h) for h in hosts]
    if limit:
        _fail("--limit needs -i/--inventory")
    return [target_from_url(h) for h in hosts] or [target_from_url("local")]


@contextmanager
def _interruptible(
        first: str = "restoring what is not verified yet, starting nothing new") -> Iterator[threading.Event]:
    """Ctrl-C or SIGTERM sets the yielded event (the work in the block winds down: ``first`` says
    how); a second one stops at once, and the journal lets `remediate recover` finish.

    The handler sets the event in the main thread: the main thread must never ``wait()`` on it
    (the handler would block on the lock that wait holds); other threads may.
    """
    cancel = threading.Event()

    def interrupt(signum: int, frame: Any) -> None:
        if cancel.is_set():
            click.echo("remediate: stopped at once; run `remediate recover` to finish what was in flight", err=True)
            os._exit(128 + signum)
        cancel.set()
        click.echo(f"remediate: interrupted: {first} (press Ctrl-C again to stop at once)", err=True)

    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield cancel
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def _prompting() -> Iterator[None]:
    """Ctrl-C at a question (asked while nothing is in flight) aborts, as it does anywhere else."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@main.command()
@click.option("-i", "--inventory", required=True, help="Ansible inventory source: file, directory, script or h1,h2,.")
@click.option("--limit", metavar="PATTERN", help="Host pattern: names, groups, globs, a:b, a:&b, a:!b.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def hosts(inventory: str, limit: str | None, fmt: str) -> None:
    """List the hosts an inventory pattern selects, and how each is reached."""
    from remediate.fleet.inventory import load_inventory
    from remediate.fleet.rollout import host_json

    with _errors():
        selected = [host_json(h) for h in load_inventory(inventory).select(limit)]
    if fmt == "json":
        click.echo(json.dumps(selected, indent=2))
        return
    width = max((len(h["host"]) for h in selected), default=0)
    for h in selected:
        groups = ",".join(g for g in h["groups"] if g != "all")
        extra = f"  docker={h['docker_host']}" if h["docker_host"] else ""
        click.echo(f"{h['host']:<{width}}  {h['url']}{extra}  groups={groups or '-'}")
    click.echo(f"{len(selected)} host(s)")


def _connections(hosts: tuple[str, ...], inventory: str | None, limit: str | None, known_hosts: str | None,
                 accept_new_host_keys: bool, private_key: str | None) -> Iterator[Connection]:
    """One connection per selected engine (with the host's own key file, if any), opened and closed
    in turn; an engine named twice (``-H local -H unix:///var/run/docker.sock``) is visited once."""
    from remediate.fleet.rollout import Engines
    from remediate.host.sshoptions import SshOptions

    ssh = SshOptions(known_hosts=known_hosts, accept_new_host_keys=accept_new_host_keys, key_file=private_key)
    targets = _targets(hosts, inventory, limit)
    engines = Engines(targets)
    for target in targets:
        with target.connection(ssh) as conn:
            first = engines.named_before(target) or engines.reached_before(target, conn)
            if first is not None:
                click.echo(f"remediate: {target.name}: the same engine as {first}; skipped", err=True)
                continue
            yield conn


@main.command()
@click.argument("container", shell_complete=_complete_containers)
@click.option("--steps", type=click.IntRange(min=1), default=None, metavar="N",
              help="Go back N applies (default 1); a rollback after a rollback goes further back.")
@click.option("--to", "to", metavar="BACKUP", help="Put this backup back (a name `remediate backups` lists).")
@click.option("--dry-run", is_flag=True, help="Show what would be put back (the docker run diff, the files); change nothing.")
@click.option("--yes", "-y", is_flag=True, envvar="REMEDIATE_YES", help="Roll back without asking (also REMEDIATE_YES=1).")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_host_options
def rollback(container: str, steps: int | None, to: str | None, dry_run: bool, yes: bool, timeout: float, fmt: str,
             **where: Any) -> None:
    """Put CONTAINER back as it was before its last apply (or --steps N applies back, or --to a
    backup), with the files those applies replaced. The container replaced, and any backups in
    between, stay as backups."""
    from remediate.executor.restore import plan_rollback
    from remediate.executor.restore import rollback as run_rollback
    from remediate.output.report import rollback_plan_json

    if steps is not None and to is not None:
        _fail("--steps and --to exclude each other")
    ask = not (dry_run or yes)
    if ask and not sys.stdin.isatty():
        _fail("rollback needs a terminal to ask; pass --yes (or set REMEDIATE_YES=1) to roll back without one, "
              "or --dry-run to see what it would do")
    out = views.console()
    previews: list[dict[str, Any]] = []
    results: list[tuple[dict[str, Any], ContainerResult]] = []
    with _errors():
        for conn in _connections(**where):
            plan = plan_rollback(conn, container, steps=steps, to=to)
            preview = {"host": conn.label, **rollback_plan_json(plan, conn.api_version)}
            previews.append(preview)
            if dry_run:
                continue
            if ask:
                views.print_rollback_plan(out, preview)
                with _prompting():
                    if not click.confirm("Roll back?", default=False):
                        _fail(f"aborted, nothing changed{f' on {conn.label}' if results else ''}", exit_codes.FAILED)
            elif fmt == "text":
                views.print_rollback_plan(out, preview)
            results.append((preview, run_rollback(conn, container, to=plan.backup, timeout=timeout)))
    if dry_run:
        if fmt == "json":
            click.echo(json.dumps(previews, indent=2))
        else:
            for preview in previews:
                views.print_rollback_plan(out, preview)
            out.print("\nDry run: nothing changed.")
        return
    if fmt == "json":
        click.echo(json.dumps([{**preview, "action": r.action, "error": r.error,
                                "restored_id": (r.id_after or "")[:12] or None, "parked_as": r.backup,
                                "manual_steps": list(r.manual_steps)} for preview, r in results], indent=2))
    for preview, result in results:
        if fmt == "json":
            continue
        if result.ok:
            back = f" ({preview['steps']} applies back)" if (preview["steps"] or 1) > 1 else ""
            kept = f"; {', '.join(preview['between'])} stay as backups too" if preview["between"] else ""
            click.echo(f"{preview['host']}: {container}: restored the previous container {preview['backup']}{back} "
                       f"({(result.id_after or '')[:12]}); the replaced one is kept as {result.backup}{kept}")
        else:
            views.print_container_failure(views.console(), result)
    sys.exit(exit_code(r for _, r in results))


@main.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_host_options
def recover(fmt: str, **where: Any) -> None:
    """Finish applies that were interrupted (killed, connection lost, reboot) on each host.

    From the host's journal and what the engine shows: a change that verified is kept, anything
    else is put back to the original container and files.
    """
    from remediate.executor.restore import recover as run_recover

    done: list[tuple[str, Recovery]] = []
    with _errors():
        for conn in _connections(**where):
            done.extend((conn.label, r) for r in run_recover(conn))
    if fmt == "json":
        click.echo(json.dumps([{"host": h, "container": r.container, "tx": r.tx, "outcome": r.outcome,
                                "detail": r.detail, "manual_steps": list(r.manual_steps)} for h, r in done], indent=2))
    elif not done:
        click.echo("nothing to recover: every apply finished")
    for host, r in done:
        if fmt == "text":
            click.echo(f"{host}: {r.container}: {r.outcome} ({r.detail})")
            for step in r.manual_steps:
                click.echo(f"    {step}")
    sys.exit(exit_code(r for _, r in done))


@main.command()
@click.option("--container", help="Only this container.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_host_options
def history(container: str | None, fmt: str, **where: Any) -> None:
    """Past applies and rollbacks on each host, newest first: result, who ran it, when."""
    from remediate.executor.journal import Journal
    from remediate.executor.journal import history as read_history

    _echo_host_rows(where, lambda conn: read_history(Journal(conn), container), fmt, "no history",
                    lambda row: f"{row['time']}  {row['host']}  {row['container']}  {row['kind']}"
                                f"{' ' + row['playbook'] if row.get('playbook') else ''}  {row['result']}  "
                                f"by {row['user']}@{row['controller']}")


@main.command()
@click.option("--container", help="Only backups of this container.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@_host_options
def backups(container: str | None, fmt: str, **where: Any) -> None:
    """The backups remediate keeps (stopped, for `remediate rollback`), newest first."""
    from remediate.executor.swap import list_backups

    _echo_host_rows(where, lambda conn: list_backups(conn, container), fmt, "no backups",
                    lambda row: f"{row['host']}  {row['backup']}  of {row['container']}  {row['image']}  "
                                f"{row['status']}")


def _echo_host_rows(where: dict[str, Any], read: Callable[[Connection], Iterable[dict[str, Any]]], fmt: str,
                    empty: str, line: Callable[[dict[str, Any]], str]) -> None:
    """The rows ``read`` gives for each selected host (with its ``host``): as JSON, or a line each."""
    rows: list[dict[str, Any]] = []
    with _errors():
        for conn in _connections(**where):
            rows.extend({"host": conn.label, **row} for row in read(conn))
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(empty)
    for row in rows:
        click.echo(line(row))


# --------------------------------------------------------------------------- diagnose

@main.command("diagnose")
@click.option("--error", "error_code", type=click.Choice(["A1000", "A1001", "A1002", "A1003", "A9999"],
              case_sensitive=False), metavar="CODE",
              help="A Duo Chat error code (A1000, A1001, A1002, A1003, A9999): explain it and run its checks.")
@click.option("--model-name", default="mistral", show_default=True,
              help="The model name the gateway sends to vLLM (must be a served model name).")
@click.option("--container", "containers", multiple=True, metavar="NAME", shell_complete=_complete_containers,
              help="Only these containers (repeatable).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--gitlab-host", metavar="ssh://USER@HOST", help="Also run the GitLab host's own checks over SSH.")
@click.option("--model-endpoint", "model_endpoints", multiple=True, metavar="URL",
              help="A model endpoint the gateway must reach, checked from inside it (repeatable; "
                   "default: the vLLM containers found, as localhost endpoints).")
@_host_options
@click.option("--fix", is_flag=True,
              help="Apply the fixing playbooks of every failing check at once: each container recreated "
                   "and verified once (with --dry-run: show the diff; asks unless --yes).")
@click.option("--dry-run", is_flag=True, help="With --fix: show what would change; change nothing.")
@click.option("--yes", "-y", is_flag=True, envvar="REMEDIATE_YES", help="With --fix: apply without asking.")
@click.option("--step", is_flag=True, help="With --fix: before each container, ask apply/skip/diff again/quit.")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, metavar="KEY=VALUE|@FILE",
              help="With --fix: a var of the fixing playbooks (repeatable), e.g. -e gitlab_url=https://...")
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="With --fix: write a shareable report (FILE.md or FILE.json); secrets redacted.")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="With --fix: seconds verification keeps retrying.")
@click.option("--keep-backups", type=click.IntRange(min=1), default=3, show_default=True,
              help="With --fix: backups kept per container after a successful apply.")
def diagnose_cmd(error_code: str | None, model_name: str, containers: tuple[str, ...], fmt: str,
                 gitlab_host: str | None, model_endpoints: tuple[str, ...], fix: bool, dry_run: bool, yes: bool,
                 step: bool, extra_vars: tuple[str, ...], report_path: str | None, timeout: float,
                 keep_backups: int, **where: Any) -> None:
    """Check the AI gateway and vLLM containers against the troubleshooting guide. Read-only.

    Exit code 0 when nothing fails, 1 when some check fails, 2 when no host could be reached.
    With --fix: the fixes of the failing checks are applied (exit codes as for apply, and at least
    1 when something is left to do by hand: a check no playbook fixes, a fix that needs a var).
    """
    from remediate.errors import ConnectError
    from remediate.executor.journal import warn_unfinished
    from remediate.packs.gitlab_duo import diagnose as diagnosing

    code = error_code.upper() if error_code else None
    fix_options = {"--dry-run": dry_run, "--yes": yes, "--step": step, "-e": bool(extra_vars),
                   "--report": report_path is not None}
    if not fix:
        used = [name for name, given in fix_options.items() if given]
        if used:
            _fail(f"{used[0]} is for diagnose --fix")
    else:
        if gitlab_host:
            _fail("--gitlab-host is not for --fix (no playbook changes the GitLab host)")
        args = _ApplyArgs(playbook=None, dry_run=dry_run, yes=yes, containers=(), extra_vars=extra_vars, fmt=fmt,
                          timeout=timeout, keep_backups=keep_backups, forks=1, serial=None, max_fail=None,
                          step=step, report_path=report_path, out_path=None, plan_path=None, restore=False,
                          parallel=4, container_only=False, **where)
        _fix_all(args, error_code=code, model_name=model_name, containers=containers,
                 model_endpoints=model_endpoints)
    reports: list[dict[str, Any]] = []
    unreachable = 0
    with _errors():
        connections = _connections(**where)
        while True:
            try:
                conn = next(connections)
                warn_unfinished(conn)
                findings = diagnosing.diagnose(conn, error_code=code, model_name=model_name, containers=containers,
                                               model_endpoints=model_endpoints)
            except StopIteration:
                break
            except ConnectError as exc:
                unreachable += 1
                click.echo(f"remediate: {exc.message}", err=True)
                continue
            reports.append(diagnosing.findings_json(findings, error_code=code, host=conn.label))
        if gitlab_host:
            from remediate.host.sshoptions import SshOptions
            from remediate.packs.gitlab_duo.gitlab_host import check_gitlab

            ssh = SshOptions(known_hosts=where["known_hosts"], accept_new_host_keys=where["accept_new_host_keys"],
                             key_file=where["private_key"])
            reports.append(diagnosing.findings_json(check_gitlab(gitlab_host, ssh), host=gitlab_host))
    if fmt == "json":
        click.echo(json.dumps(reports[0] if len(reports) == 1 and not unreachable else reports, indent=2))
    else:
        for data in reports:
            if len(reports) > 1:
                views.console().print(f"\n[bold]== {views.escape(str(data['host']))}[/bold]")
            views.print_diagnosis(views.console(), data)
    if not reports:
        sys.exit(exit_codes.USAGE)  # no host could be checked
    sys.exit(exit_codes.OK if all(d["ok"] for d in reports) and not unreachable else exit_codes.FAILED)


def _fix_all(args: _ApplyArgs, *, error_code: str | None, model_name: str, containers: tuple[str, ...],
             model_endpoints: tuple[str, ...]) -> NoReturn:
    """``diagnose --fix``: per host, diagnose, merge the fixes of the failing checks per container
    (:func:`remediate.core.fixall.merge_fixes`), roll each merged playbook out as ``apply`` does;
    then list what is left by hand."""
    from remediate.core.fixall import MERGED_NAME, merge_fixes, required_vars
    from remediate.core.planner import Observed, select
    from remediate.core.playbook import load_playbook, parse_extra_vars
    from remediate.fleet.rollout import RolloutResult
    from remediate.host.sshoptions import SshOptions
    from remediate.packs.gitlab_duo.diagnose import diagnose

    out = views.console()
    started = time.time()
    results: list[RolloutResult] = []
    left: list[str] = []
    merged: list[Playbook] = []
    with _errors():
        overrides = parse_extra_vars(args.extra_vars)
        _check_writable("--report", args.report_path)
        ssh = SshOptions(known_hosts=args.known_hosts, accept_new_host_keys=args.accept_new_host_keys,
                         key_file=args.private_key)
        for target in _targets(args.hosts, args.inventory, args.limit):
            with target.connection(ssh) as conn:
                findings = diagnose(conn, error_code=error_code, model_name=model_name, containers=containers,
                                    model_endpoints=model_endpoints)
                inspects = {f.container: conn.find_container(f.container) for f in findings if f.fix}
            fixes: dict[str, list[Playbook]] = {}
            for f in (f for f in findings if f.status == "fail"):
                inspect = inspects.get(f.container)
                if f.fix is not None and (inspect is None or not select(load_playbook(f.fix), [Observed(inspect)])):
                    left.append(f"{target.name}: {f.container}: {f.check}: {f.evidence} ({f.fix} does not select "
                                "this container: by hand)")
                    continue
                if f.fix is None:
                    left.append(f"{target.name}: {f.container}: {f.check}: {f.evidence} (no playbook fixes it: "
                                "by hand)")
                    continue
                book = load_playbook(f.fix)
                needed = required_vars(book, {**target.vars, **overrides})
                if needed:
                    more = " ".join(f"-e {name}=..." for name in needed)
                    left.append(f"{target.name}: {f.container}: {f.check}: {f.fix} needs {', '.join(needed)}: "
                                f"remediate diagnose --fix {more} --dry-run")
                    continue
                fixes.setdefault(f.container, []).append(book)
            groups = merge_fixes(fixes)
            merged.extend(groups)
            for book in groups:
                req = _Request(book, MERGED_NAME, [target], (),
                               {k: v for k, v in overrides.items() if k in book.vars}, None, ssh, False)
                result = _fix_group(out, args, req)
                results.append(result)
    combined = RolloutResult(outcomes=tuple(o for r in results for o in r.outcomes), dry_run=args.dry_run)
    if args.fmt == "json":  # one document: every merged playbook's outcome, then what is left
        from remediate.core.redaction import redact_text
        from remediate.fleet.rollout import rollout_json

        click.echo(json.dumps({**rollout_json(combined), "left": [redact_text(line) for line in left]}, indent=2))
    else:
        if not merged:
            out.print("Nothing to fix with a playbook." if not left else "No playbook can fix what failed.")
        if left:
            out.print("Left to do:")
            for line in left:
                out.print(f"  {views.escape(line)}")
    if args.report_path and results:
        with _writing("--report", args.report_path):
            _write_report(args.report_path, merged[0] if len(merged) == 1 else _described(merged), combined,
                          started, dry_run=args.dry_run)
    sys.exit(max(exit_code(results), exit_codes.FAILED if left else exit_codes.OK))


def _fix_group(out: Console, args: _ApplyArgs, req: _Request) -> RolloutResult:
    """One merged playbook rolled out like ``apply``: its diff (and prompt), progress, outcome."""
    result = _rollout_once(out, args, req)
    if result.dry_run and not args.dry_run:
        _stop_unapplied(out, result, show=args.fmt == "text")
    elif args.fmt == "text":  # JSON: one document for all of them, at the end
        views.print_outcomes(out, result, fmt=args.fmt, dry_run=args.dry_run, plans=args.dry_run)
    return result


def _described(books: list[Playbook]) -> Playbook:
    """The first merged playbook, described as all of them (for the report's header)."""
    return books[0].model_copy(update={"description": "; ".join(b.description for b in books)})
