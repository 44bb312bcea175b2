"""``remediate diagnose``: check the AI gateway and vLLM containers against the troubleshooting
guide; with ``--fix``, apply the fixing playbooks of what fails, each container recreated once."""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import click

from remediate.cli import exit_codes, plain, reporting, views
from remediate.cli.apply import (
    ask_to_apply,
    require_terminal,
    step_prompt,
    stop_unapplied,
)
from remediate.cli.common import (
    check_writable,
    complete_containers,
    connections,
    detailed_exitcode_option,
    echo,
    errors,
    fail,
    format_option,
    host_options,
    interruptible,
    pull_stall_option,
    scope_args,
    select_targets,
    ssh_options,
    verbosity_options,
)
from remediate.cli.exit_codes import exit_code
from remediate.cli.plain import escape
from remediate.packs.gitlab_duo import DEFAULT_MODEL_NAME
from remediate.packs.gitlab_duo.commands.views import print_diagnosis

if TYPE_CHECKING:
    from remediate import Playbook, RolloutResult
    from remediate.cli.plain import Out
    from remediate.output.environment import EnvironmentJson
    from remediate.packs.gitlab_duo.diagnose import DiagnosisJson
    from remediate.packs.gitlab_duo.fix import FixResult



class FixArgs(NamedTuple):
    """The options of ``diagnose --fix``, as click parsed them."""

    dry_run: bool
    yes: bool
    step: bool
    extra_vars: tuple[str, ...]
    fmt: str
    report_path: str | None
    timeout: float
    keep_backups: int
    pull_stall: float


def _error_code(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--error: a code the pack knows (case-insensitive), upper-cased."""
    from remediate.packs.gitlab_duo.diagnose import explain

    if value is None:
        return None
    try:
        return explain(value).code
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _complete_error_codes(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    from remediate.packs.gitlab_duo.diagnose import ERROR_CODES

    return [code for code in ERROR_CODES if code.startswith(incomplete.upper())]


@click.command("diagnose")
@click.option("--error", "error_code", metavar="CODE", callback=_error_code, shell_complete=_complete_error_codes,
              help="An error code (e.g. A1003): explain it and run its checks (an unknown code lists the known ones).")
@click.option("--model-name", default=DEFAULT_MODEL_NAME, show_default=True,
              help="The model name the gateway sends to vLLM (must be a served model name).")
@click.option("--container", "containers", multiple=True, metavar="NAME", shell_complete=complete_containers,
              help="Only these containers (repeatable).")
@format_option
@click.option("--gitlab-host", metavar="ssh://USER@HOST", help="Also run the GitLab host's own checks over SSH.")
@click.option("--model-endpoint", "model_endpoints", multiple=True, metavar="URL",
              help="A model endpoint the gateway must reach, checked from inside it (repeatable; "
                   "default: the vLLM containers found, as localhost endpoints).")
@host_options
@click.option("--fix", is_flag=True,
              help="Apply the fixing playbooks of every failing check at once: each container recreated "
                   "and verified once (with --dry-run: show the diff; asks unless --yes).")
@click.option("--dry-run", is_flag=True, help="With --fix: show what would change; change nothing.")
@click.option("--yes", "-y", is_flag=True, envvar="REMEDIATE_YES", help="With --fix: apply without asking.")
@click.option("--step", is_flag=True, help="With --fix: before each container, ask apply/skip/diff again/quit.")
@click.option("-e", "--extra-vars", "extra_vars", multiple=True, metavar="KEY=VALUE|@FILE",
              help="With --fix: a var of the fixing playbooks (repeatable), e.g. -e gitlab_url=https://...")
@reporting.report_option
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="With --fix: seconds verification keeps retrying.")
@click.option("--keep-backups", type=click.IntRange(min=1), default=3, show_default=True,
              help="With --fix: backups kept per container after a successful apply.")
@pull_stall_option
@detailed_exitcode_option("a check fails (not with --fix)")
@verbosity_options
def diagnose_cmd(error_code: str | None, model_name: str, containers: tuple[str, ...], fmt: str,
                 gitlab_host: str | None, model_endpoints: tuple[str, ...], fix: bool, dry_run: bool, yes: bool,
                 step: bool, extra_vars: tuple[str, ...], report_path: str | None, timeout: float,
                 keep_backups: int, pull_stall: float, detailed_exitcode: bool, **where: Any) -> None:
    """Check the AI gateway and vLLM containers against the troubleshooting guide. Read-only.

    Exit code 0 when nothing fails, 1 when some check fails, 2 when no host could be reached.
    With --fix: the fixes of the failing checks are applied (exit codes as for apply, and at least
    1 when something is left to do by hand: a check no playbook fixes, a fix that needs a var).
    With --detailed-exitcode: 0 when every check passes, 2 when one fails, 1 on an error (a host
    not reached, bad input).
    """
    from remediate.errors import ConnectError
    from remediate.executor.history import warn_unfinished
    from remediate.output.environment import environment_json
    from remediate.packs.gitlab_duo import diagnose as diagnosing

    if detailed_exitcode and fix:
        fail("--detailed-exitcode is not for --fix (use apply --dry-run --detailed-exitcode)")
    code = error_code.upper() if error_code else None
    fix_options = {"--dry-run": dry_run, "--yes": yes, "--step": step, "-e": bool(extra_vars)}
    if not fix:
        used = [name for name, given in fix_options.items() if given]
        if used:
            fail(f"{used[0]} is for diagnose --fix")
    else:
        if gitlab_host:
            fail("--gitlab-host is not for --fix (no playbook changes the GitLab host)")
        _fix_all(FixArgs(dry_run, yes, step, extra_vars, fmt, report_path, timeout, keep_backups, pull_stall),
                 error_code=code, model_name=model_name, containers=containers, model_endpoints=model_endpoints,
                 where=where)
    started = time.time()
    check_writable("--report", report_path)
    reports: list[DiagnosisJson] = []
    reached: list[EnvironmentJson] = []
    unreachable = 0
    with errors():
        gitlab = None
        if gitlab_host:  # first: the container checks compare with what GitLab says
            from remediate.packs.gitlab_duo.gitlab_host import check_gitlab

            ssh = ssh_options(where["known_hosts"], where["accept_new_host_keys"], where["private_key"])
            gitlab_findings, gitlab = check_gitlab(gitlab_host, ssh)
        hosts_reached = connections(**where)
        while True:
            try:
                conn = next(hosts_reached)
                warn_unfinished(conn)
                findings = diagnosing.diagnose(conn, error_code=code, model_name=model_name, containers=containers,
                                               model_endpoints=model_endpoints, gitlab=gitlab)
            except StopIteration:
                break
            except ConnectError as exc:
                unreachable += 1
                echo(f"remediate: {exc.message}", err=True)
                if report_path:
                    reached.append(environment_json(exc.host or "?", None, exc.message))
                continue
            reports.append(diagnosing.findings_json(findings, error_code=code, host=conn.label))
            if report_path:
                reached.append(reporting.environment(conn))
        if gitlab_host:
            reports.append(diagnosing.findings_json(gitlab_findings, host=gitlab_host))
    if fmt == "json":
        from remediate.output.formats import versioned_rows

        rows = versioned_rows(reports)
        echo(json.dumps(rows[0] if len(rows) == 1 and not unreachable else rows, indent=2))
    else:
        for data in reports:
            if len(reports) > 1:
                plain.console().print(f"\n[bold]== {escape(str(data['host']))}[/bold]")
            print_diagnosis(plain.console(), data, hosts=scope_args(where),
                                  scope=_diagnose_scope(where, error_code=code, model_name=model_name,
                                                        containers=containers, model_endpoints=model_endpoints))
    if report_path:
        reporting.write_report(report_path, {**reporting.header("diagnose", "check", started), "environment": reached,
                                             "diagnosis": reports, "left": _left(reports)})
    if detailed_exitcode:
        raise exit_codes.DetailedExit(exit_codes.detailed(error=not reports or bool(unreachable),
                                                          pending=not all(d["ok"] for d in reports)))
    if not reports:
        sys.exit(exit_codes.USAGE)  # no host could be checked
    sys.exit(exit_codes.OK if all(d["ok"] for d in reports) and not unreachable else exit_codes.FAILED)


def _left(reports: list[DiagnosisJson]) -> list[str]:
    """What fails, one line each: the playbook that fixes it (``diagnose --fix``), or by hand."""
    return [f"{data['host']}: {f['container']}: {f['check']}: "
            + (f"fixed by playbook {f['fix']} (remediate diagnose --fix)" if f["fix"] else "by hand")
            for data in reports for f in data["findings"] if f["status"] == "fail"]


def _diagnose_scope(where: dict[str, Any], *, error_code: str | None, model_name: str,
                    containers: tuple[str, ...], model_endpoints: tuple[str, ...],
                    extra_vars: tuple[str, ...] = ()) -> list[str]:
    """The options that chose what diagnose checked (and the -e given to --fix), to repeat in
    the commands it prints (a secret in an -e or an endpoint is masked there)."""
    from remediate.core.redaction import redact_text

    argv = [*(["--error", error_code] if error_code else []),
            *(["--model-name", model_name] if model_name != DEFAULT_MODEL_NAME else []),
            *(a for name in containers for a in ("--container", name)),
            *(a for url in model_endpoints for a in ("--model-endpoint", redact_text(url))),
            *(a for var in extra_vars for a in ("-e", redact_text(var)))]
    return [*argv, *scope_args(where)]


def _fix_all(fix: FixArgs, *, error_code: str | None, model_name: str, containers: tuple[str, ...],
             model_endpoints: tuple[str, ...], where: dict[str, Any]) -> NoReturn:
    """``diagnose --fix``: the pack's :func:`~remediate.packs.gitlab_duo.fix.find_fixes` (each
    host's failing checks, their fixes merged per container), then one rollout of them all
    (:func:`remediate.rollout`): every plan shown, one question (``--step``: per container), each
    host's fixes applied under one hold of its lock; then what is left by hand."""
    from remediate import Hooks, Options
    from remediate.core.playbook import parse_extra_vars
    from remediate.packs.gitlab_duo.fix import find_fixes

    out = plain.console()
    started = time.time()
    scope = _diagnose_scope(where, error_code=error_code, model_name=model_name, containers=containers,
                            model_endpoints=model_endpoints, extra_vars=fix.extra_vars)
    with errors():
        overrides = parse_extra_vars(fix.extra_vars)
        check_writable("--report", fix.report_path)
        ssh = ssh_options(where["known_hosts"], where["accept_new_host_keys"], where["private_key"])
        targets = select_targets(where["hosts"], where["inventory"], where["limit"])
        found = find_fixes(targets, ssh=ssh, overrides=overrides, error_code=error_code, model_name=model_name,
                           containers=containers, model_endpoints=model_endpoints,
                           rerun=shlex.join(["remediate", "diagnose", "--fix", "--dry-run", *scope]))
        for exc in found.unreachable:
            echo(f"remediate: {exc.message}", err=True)
        books = [book for job in found.jobs for book in job.playbooks]
        confirming = {b.name for b in books if b.safety == "confirm"} if not (fix.step or fix.dry_run or fix.yes) else set()
        if confirming:
            require_terminal("a fix is safety: confirm;")  # before anything is planned, as apply does
        shown: list[bool] = []

        def confirm(planned: RolloutResult) -> bool:
            _print_previews(out, fix, planned, found.merged)
            shown.append(True)
            changing = {o.plan.playbook for o in planned.outcomes if o.plan is not None and o.plan.changed}
            return not (changing & confirming) or ask_to_apply()

        options = Options(dry_run=fix.dry_run, forks=1, timeout=fix.timeout, keep_backups=fix.keep_backups,
                          parallel=1 if fix.step else 4, ssh=ssh, pull_stall=fix.pull_stall)
        names = [job.target.name for job in found.jobs]
        with interruptible() as cancel, views.progress(out, fix.fmt, names, parallel=options.parallel) as progress:
            hooks: Hooks[RolloutResult] = Hooks(
                confirm=None if fix.step else confirm, progress=progress, cancel=cancel,
                decide=step_prompt(out) if fix.step and not fix.dry_run else None,
            )
            result = found.run(options, hooks=hooks)
    if not found.reached:
        sys.exit(exit_codes.USAGE)  # no host could be checked
    _print_fixed(out, fix, result.rollout, found.merged, previewed=bool(shown))
    _print_fix_outcome(out, fix.fmt, result, books)
    if fix.report_path:
        described = {"playbook": _described(books).name, "description": _described(books).description} if books else {}
        reporting.write_report(fix.report_path, {
            **reporting.header("diagnose --fix", "dry-run" if fix.dry_run else "apply", started), **described,
            "environment": reporting.environments(targets, ssh), "diagnosis": list(found.diagnosis),
            **result.to_json()})
    sys.exit(max(exit_code(result.rollout),
                 exit_codes.FAILED if result.left or result.unreachable else exit_codes.OK))


def _print_fixed(out: Out, fix: FixArgs, rollout: RolloutResult, merged: Mapping[str, Mapping[str, tuple[str, ...]]],
                 *, previewed: bool) -> None:
    """What the rollout of the fixes did, per host (text; JSON is one document at the end): the
    plans of a dry run not shown yet, each ``--step`` outcome, each host that changed."""
    from remediate import RolloutResult

    if rollout.dry_run:
        stop_unapplied(out, rollout, show=False)  # interrupted or declined: nothing changed
        if not previewed and not fix.step:
            _print_previews(out, fix, rollout, merged)
        elif fix.step and fix.fmt == "text":
            for outcome in rollout.outcomes:
                views.print_outcomes(out, RolloutResult((outcome,), dry_run=True), fmt="text", dry_run=False)
    elif fix.fmt == "text":
        for outcome in rollout.outcomes:
            if fix.step or (outcome.plan is not None and outcome.plan.changed):  # "nothing to do" was said
                views.print_outcomes(out, RolloutResult((outcome,)), fmt="text", dry_run=False, plans=False)


def _print_previews(out: Out, fix: FixArgs, planned: RolloutResult,
                    merged: Mapping[str, Mapping[str, tuple[str, ...]]]) -> None:
    """Each host's merged fixes, planned: which fixes each container's plan merges, then the plan,
    one host after the other (the last says "Dry run")."""
    from remediate import RolloutResult

    if fix.fmt != "text":
        return
    for i, outcome in enumerate(planned.outcomes):
        for container, names in (merged.get(outcome.host) or {}).items():
            out.print(f"{escape(outcome.host)}: {escape(container)}: the plan merges the fixes "
                      f"{escape(', '.join(names))}")
        views.print_outcomes(out, RolloutResult((outcome,), dry_run=True), fmt="text",
                             dry_run=fix.dry_run and i == len(planned.outcomes) - 1)


def _print_fix_outcome(out: Out, fmt: str, result: FixResult, merged: list[Playbook]) -> None:
    """JSON: one document, every merged playbook's outcome and what is left; text: what is left."""
    if fmt == "json":
        from remediate.output.formats import versioned

        echo(json.dumps(versioned(result.to_json()), indent=2))
        return
    if not merged:
        out.print("Nothing to fix with a playbook." if not result.left else "No playbook can fix what failed.")
    if result.left:
        out.print("Left to do:")
        for line in result.left:
            out.print(f"  {escape(line)}")


def _described(books: list[Playbook]) -> Playbook:
    """The first merged playbook, described as all of them (for the report's header)."""
    return books[0] if len(books) == 1 else books[0].model_copy(
        update={"description": "; ".join(b.description for b in books)})
