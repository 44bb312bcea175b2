"""``remediate apply``: plan a playbook on Docker hosts, show the diff, ask, apply, verify, hold a
time-boxed change. The policy is the library's (:func:`remediate.fleet.rollout.rollout`); here are
the prompts and the printing."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import click

from remediate.cli import exit_codes, plain, reporting, views
from remediate.cli.common import (
    check_writable,
    complete_containers,
    complete_playbooks,
    detailed_exitcode_option,
    errors,
    fail,
    format_option,
    host_options,
    interruptible,
    parse_amount,
    prompting,
    pull_stall_option,
    run_options,
    say_skipped,
    select_targets,
    ssh_options,
    verbosity,
    verbosity_options,
    writing,
)
from remediate.cli.exit_codes import exit_code

if TYPE_CHECKING:
    from remediate import Options, Revert, RolloutResult, SshOptions, Target
    from remediate.cli.plain import Out
    from remediate.core.planner import Plan
    from remediate.core.playbook import Playbook
    from remediate.fleet.saved import SavedPlan


@click.command()
@click.argument("playbook", required=False, shell_complete=complete_playbooks)
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--yes", "-y", is_flag=True, envvar="REMEDIATE_YES", help="Apply without asking (also REMEDIATE_YES=1).")
@click.option("--container", "containers", multiple=True, metavar="NAME", shell_complete=complete_containers,
              help="Only these containers (repeatable).")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, metavar="KEY=VALUE|@FILE", help="Override a playbook var (repeatable).")
@format_option
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Seconds verification keeps retrying before it counts as failed.")
@pull_stall_option
@click.option("--keep-backups", type=click.IntRange(min=1), default=3, show_default=True,
              help="Backups kept per container after a successful apply.")
@host_options
@click.option("--forks", type=click.IntRange(min=1), default=5, show_default=True, help="Hosts worked on at once.")
@click.option("--parallel", type=click.IntRange(min=1), default=4, show_default=True,
              help="Containers recreated at once on one host (1 when neighbours are tied to a change).")
@click.option("--serial", metavar="N|N%", help="Hosts per batch; a batch starts when the previous one verified.")
@click.option("--max-fail", metavar="N|N%", help="Stop the rollout once this many hosts failed.")
@click.option("--step", is_flag=True, help="Before each container: show its diff, ask apply/skip/diff again/quit.")
@reporting.report_option
@click.option("--out", "out_path", type=click.Path(dir_okay=False), help="With --dry-run: save the plan to apply later.")
@click.option("--plan", "plan_path", type=click.Path(dir_okay=False, exists=True),
              help="Apply exactly a saved plan; refused if any container drifted since.")
@click.option("--restore", is_flag=True, help="Undo a time-boxed playbook (revert_after) now.")
@click.option("--container-only", is_flag=True,
              help="Compose services: change the container only, not the compose file (the output warns).")
@detailed_exitcode_option("the dry run would change something (with --dry-run)")
@verbosity_options
def apply(**options: Any) -> None:
    """Plan PLAYBOOK (a built-in name or a file) on Docker hosts, then apply it.

    Without -H or -i, the local engine (DOCKER_HOST or /var/run/docker.sock).
    """
    args = ApplyArgs(**{k: v for k, v in options.items() if k in ApplyArgs._fields})
    run = run_options(options)
    out = plain.console()
    started = time.time()
    if args.detailed_exitcode and not args.dry_run:
        fail("--detailed-exitcode is for --dry-run (what is pending)")
    with errors():
        request = _request(args)
        if args.restore:
            _restore_now(out, args, request)
        result = _run(out, args, request, run)
        if args.out_path:
            from remediate.fleet import saved

            with writing("--out", args.out_path):
                saved.save(args.out_path, request.book, request.source, request.overrides, request.containers,
                           result, container_only=request.container_only)
    _finish(out, args, request, result, started)


class ApplyArgs(NamedTuple):
    """The options of ``remediate apply`` the command itself reads, as click parsed them (those
    named like a field of :class:`remediate.Options` go there whole: :func:`run_options`)."""

    playbook: str | None
    dry_run: bool
    yes: bool
    containers: tuple[str, ...]
    extra_vars: tuple[str, ...]
    fmt: str
    timeout: float
    hosts: tuple[str, ...]
    inventory: str | None
    limit: str | None
    known_hosts: str | None
    accept_new_host_keys: bool
    private_key: str | None
    serial: str | None
    max_fail: str | None
    step: bool
    report_path: str | None
    out_path: str | None
    plan_path: str | None
    restore: bool
    parallel: int
    container_only: bool
    detailed_exitcode: bool = False

    @property
    def confirm(self) -> bool:
        """True when the user is asked before anything is applied (a ``safety: confirm`` playbook)."""
        return not self.step and not self.dry_run and not self.yes


class Request(NamedTuple):
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


def _saved_plan(path: str) -> SavedPlan:
    from remediate.fleet import saved

    return saved.load(path)


def _request(args: ApplyArgs) -> Request:
    """Load and check the input: -e vars, a saved plan, the playbook, the hosts, the output files."""
    from remediate.core.playbook import load_playbook, parse_extra_vars
    overrides = parse_extra_vars(args.extra_vars)
    saved_plan = _saved_plan(args.plan_path) if args.plan_path else None
    source, containers = args.playbook, args.containers
    if saved_plan is not None:
        overrides = _saved_overrides(args, saved_plan, overrides)
        source, containers = saved_plan.source, saved_plan.containers
    if not source:
        fail("give a PLAYBOOK (built-in name or file), or --plan FILE")
    if args.out_path and not args.dry_run:
        fail("--out saves a plan: use it with --dry-run")
    check_writable("--out", args.out_path)
    check_writable("--report", args.report_path)
    book = load_playbook(source)
    if saved_plan is not None and not (args.hosts or args.inventory or args.limit):
        targets = saved_plan.targets(overrides)
    else:
        targets = select_targets(args.hosts, args.inventory, args.limit, source)
        if saved_plan is not None:
            saved_plan.check_targets(targets)
    ssh = ssh_options(args.known_hosts, args.accept_new_host_keys, args.private_key)
    container_only = saved_plan.container_only if saved_plan is not None else args.container_only
    return Request(book, source, targets, containers, overrides, saved_plan, ssh, container_only)


def _saved_overrides(args: ApplyArgs, saved_plan: SavedPlan, overrides: dict[str, Any]) -> dict[str, Any]:
    """The vars of a saved plan with the -e given now; refuse a --plan run that lacks its secrets
    or names other containers."""
    missing = [v for v in saved_plan.secret_vars if v not in overrides]
    if missing:
        fail(f"{args.plan_path}: secret vars are not saved; pass them again: "
              + " ".join(f"-e {v}=..." for v in missing))
    if args.containers and set(args.containers) != set(saved_plan.containers):
        fail(f"{args.plan_path}: --container: the plan applies to the containers it was saved for "
              f"({', '.join(saved_plan.containers) or 'all it selects'}); drop --container")
    if args.container_only and not saved_plan.container_only:
        fail(f"{args.plan_path}: --container-only: the plan was saved with the compose file edits; "
              "plan again with --container-only, or drop it")
    return {**saved_plan.vars, **overrides}


def _run(out: Out, args: ApplyArgs, req: Request, run: Options) -> RolloutResult:
    """The rollout: plan, (confirm or check the saved plan), apply; step mode asks per container.
    Exits when it stopped before applying (interrupted, declined, nothing to do)."""
    result = _rollout(out, args, req, run)
    if result.dry_run and not args.dry_run:  # it stopped before applying
        stop_unapplied(out, result)
        sys.exit(exit_code(result))
    return result


def stop_unapplied(out: Out, result: RolloutResult, *, show: bool = True) -> None:
    """A rollout that stopped before applying: exit when interrupted or declined, else print
    (with ``show``) its "nothing to do"."""
    if result.interrupted:
        fail("interrupted, nothing changed", exit_codes.FAILED)
    if result.declined:
        fail("aborted, nothing changed", exit_code(result))
    if show:
        views.print_outcomes(out, result, fmt="text", dry_run=False)  # nothing to change: "nothing to do"


def _rollout(out: Out, args: ApplyArgs, req: Request, run: Options) -> RolloutResult:
    """One rollout as ``apply`` runs it (:func:`remediate.rollout`): the confirm or step prompts,
    the plan printed before the progress, Ctrl-C handling. Refuses a prompt without a terminal."""
    from remediate import Hooks, jobs, rollout

    confirm = args.confirm and req.book.safety == "confirm"
    if args.step or confirm:
        require_terminal("--step" if args.step else f"playbook {req.book.name} is safety: confirm;")
    names = [t.name for t in req.targets]
    options = dataclasses.replace(run, saved=req.saved, serial=parse_amount(args.serial, len(req.targets), "--serial"),
                                  max_fail=parse_amount(args.max_fail, len(req.targets), "--max-fail"),
                                  parallel=1 if args.step else run.parallel, container_only=req.container_only,
                                  ssh=req.ssh)
    with interruptible() as cancel, views.progress(out, args.fmt, names, parallel=options.parallel) as progress:
        hooks: Hooks[RolloutResult] = Hooks(
            confirm=_confirm_prompt(out) if confirm else None, progress=progress, cancel=cancel,
            decide=step_prompt(out) if args.step and not args.dry_run else None,
            on_plan=_plan_printer(out) if args.fmt == "text" and not (confirm or args.step) else None,
            on_pull=views.pull_progress(args.fmt))
        return rollout(jobs(req.book, req.targets, overrides=req.overrides, only=req.containers), options,
                       hooks=hooks)


def _plan_printer(out: Out) -> Callable[[Target, Plan], None]:
    """Without a prompt: each host's plan, printed before it is applied (not after; called from the
    rollout's threads, so --quiet is read here)."""
    brief = verbosity() < 0

    def show(_target: Target, plan: Plan) -> None:
        views.print_plan(out, plan, dry_run=False, brief=brief)
    return show


def _confirm_prompt(out: Out) -> Callable[[RolloutResult], bool]:
    """The confirm step: show the plan of every host, then ask."""

    def confirm(planned: RolloutResult) -> bool:
        views.print_outcomes(out, planned, fmt="text", dry_run=False)  # not yet applied, not a dry run
        return ask_to_apply()
    return confirm


def require_terminal(what: str) -> None:
    """Refuse to ask without a terminal: ``WHAT needs a terminal; pass --yes ...``, exit 2."""
    if not sys.stdin.isatty():
        fail(f"{what} needs a terminal; pass --yes (or set REMEDIATE_YES=1) to apply without one")


def ask_to_apply() -> bool:
    """``Apply these changes? [y/N]`` (Ctrl-C at the question aborts)."""
    with prompting():
        return click.confirm("Apply these changes?", default=False)


def _finish(out: Out, args: ApplyArgs, req: Request, result: RolloutResult, started: float) -> NoReturn:
    """Print the outcome, the saved plan's and the report's files, hold a time-boxed change; exit."""
    # An apply showed its plans before applying (the prompt, the step questions or _plan_printer).
    views.print_outcomes(out, result, fmt=args.fmt, dry_run=args.dry_run, plans=args.dry_run)
    if args.out_path:
        out.print(f"Plan saved to {args.out_path}; apply it with: remediate apply --plan {args.out_path}")
    if args.report_path:
        reporting.write_report(args.report_path, report_data(req.book, result, started, command="apply",
                                                             dry_run=args.dry_run, targets=req.targets, ssh=req.ssh),
                               say=exit_code(result) != exit_codes.USAGE)
    if not args.dry_run and req.book.revert_after is not None and exit_code(result) == exit_codes.OK:
        _hold(out, req, result, args.timeout)
    if args.detailed_exitcode:
        raise exit_codes.DetailedExit(exit_codes.detailed(error=exit_code(result) != exit_codes.OK,
                                                          pending=result.changes))
    sys.exit(exit_code(result))


def step_prompt(out: Out) -> Any:
    """Step mode: show each container's diff, then ask what to do with it."""
    from remediate.core.secret_flow import plan_secrets
    from remediate.output.plan import container_plan_json

    def decide(plan: Any, cp: Any) -> str:
        data = container_plan_json(cp, plan.engine_api, plan_secrets(plan))
        while True:
            views.print_container_plan(out, data)
            answer = click.prompt("apply / skip / diff again / quit", type=click.Choice(["a", "s", "d", "q"]),
                                  default="s", show_choices=True)  # Enter: nothing changes
            if answer != "d":
                return {"a": "apply", "s": "skip", "q": "quit"}[answer]
    return decide


def _restore_now(out: Out, args: ApplyArgs, req: Request) -> NoReturn:
    """--restore: put back the containers a time-boxed playbook changed, on every host."""
    from remediate import Options, revert_now

    if req.book.revert_after is None:
        fail(f"--restore is for time-boxed playbooks (revert_after); {req.book.name} is not one")
    reverts = revert_now(req.targets, req.book.name, Options(timeout=args.timeout, ssh=req.ssh),
                         containers=req.containers, on_skip=say_skipped)
    results = [(r.host, r.result) for r in reverts if r.result is not None]
    for host, r in results:
        out.print(f"{host}: {r.name}: {r.action}" + (f" ({r.error})" if r.error else ""))
    if not results:
        out.print("nothing to restore")
    sys.exit(exit_code(r for _, r in results))


def _hold(out: Out, req: Request, result: RolloutResult, timeout: float) -> None:
    """A time-boxed playbook: hold the change, then put it back (Ctrl-C: now); print each revert."""
    from remediate import RollbackFailed, hold_then_revert

    due: list[float] = []  # when the hold ends, once it is announced (the countdown's clock)

    def announce(seconds: float) -> None:
        out.print(f"Time-boxed change: restoring in {seconds:g} s (Ctrl-C restores now; or later: "
                  "remediate apply ... --restore; if this process is stopped, remediate recover restores it).")
        due.append(time.monotonic() + seconds)

    # Ctrl-C is caught from before the line that offers it: pressed right after it, it restores too.
    with errors(), interruptible("restoring now") as cancel, views.countdown(out, due):
        try:
            reverts = hold_then_revert(result, ssh=req.ssh, timeout=timeout, cancel=cancel, on_hold=announce)
        except RollbackFailed as exc:
            _print_reverts(out, exc.result)
            raise
    _print_reverts(out, reverts)


def _print_reverts(out: Out, reverts: Iterable[Revert]) -> None:
    for r in reverts:
        if r.result is None:
            out.print(f"{r.host}: {r.container}: already restored (by recover, --restore or a later change)")
        else:
            out.print(f"{r.host}: {r.container}: {'restored' if r.ok else r.result.action}"
                      + (f" ({r.result.error})" if r.result.error else ""))


def report_data(book: Playbook, result: RolloutResult, started: float, *, command: str, dry_run: bool,
                targets: Iterable[Target], ssh: SshOptions | None) -> dict[str, Any]:
    """The report of a rollout (apply, ``diagnose --fix``): its header, the hosts' engines, every
    host's plan and result."""
    return {**reporting.header(command, "dry-run" if dry_run else "apply", started), "playbook": book.name,
            "description": book.description, "environment": reporting.environments(targets, ssh),
            **result.to_json()}
