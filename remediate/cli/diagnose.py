"""``remediate diagnose``: check the AI gateway and vLLM containers against the troubleshooting
guide; with ``--fix``, apply the fixing playbooks of what fails, each container recreated once."""

from __future__ import annotations

import json
import shlex
import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

import click

from remediate.cli import exit_codes, views
from remediate.cli.apply import (
    ApplyArgs,
    Request,
    ask_to_apply,
    require_terminal,
    rollout_once,
    stop_unapplied,
    write_report,
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
    scope_args,
    select_targets,
    ssh_options,
    verbosity_options,
    writing,
)
from remediate.cli.exit_codes import exit_code

if TYPE_CHECKING:
    from rich.console import Console

    from remediate.core.playbook import Playbook
    from remediate.fleet.rollout import RolloutResult, Target
    from remediate.host.sshoptions import SshOptions


_DEFAULT_MODEL = "mistral"


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
@click.option("--model-name", default=_DEFAULT_MODEL, show_default=True,
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
@click.option("--report", "report_path", type=click.Path(dir_okay=False),
              help="With --fix: write a shareable report (FILE.md or FILE.json); secrets redacted.")
@click.option("--timeout", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="With --fix: seconds verification keeps retrying.")
@click.option("--keep-backups", type=click.IntRange(min=1), default=3, show_default=True,
              help="With --fix: backups kept per container after a successful apply.")
@detailed_exitcode_option("a check fails (not with --fix)")
@verbosity_options
def diagnose_cmd(error_code: str | None, model_name: str, containers: tuple[str, ...], fmt: str,
                 gitlab_host: str | None, model_endpoints: tuple[str, ...], fix: bool, dry_run: bool, yes: bool,
                 step: bool, extra_vars: tuple[str, ...], report_path: str | None, timeout: float,
                 keep_backups: int, detailed_exitcode: bool, **where: Any) -> None:
    """Check the AI gateway and vLLM containers against the troubleshooting guide. Read-only.

    Exit code 0 when nothing fails, 1 when some check fails, 2 when no host could be reached.
    With --fix: the fixes of the failing checks are applied (exit codes as for apply, and at least
    1 when something is left to do by hand: a check no playbook fixes, a fix that needs a var).
    With --detailed-exitcode: 0 when every check passes, 2 when one fails, 1 on an error (a host
    not reached, bad input).
    """
    from remediate.errors import ConnectError
    from remediate.executor.journal import warn_unfinished
    from remediate.packs.gitlab_duo import diagnose as diagnosing

    if detailed_exitcode and fix:
        fail("--detailed-exitcode is not for --fix (use apply --dry-run --detailed-exitcode)")
    code = error_code.upper() if error_code else None
    fix_options = {"--dry-run": dry_run, "--yes": yes, "--step": step, "-e": bool(extra_vars),
                   "--report": report_path is not None}
    if not fix:
        used = [name for name, given in fix_options.items() if given]
        if used:
            fail(f"{used[0]} is for diagnose --fix")
    else:
        if gitlab_host:
            fail("--gitlab-host is not for --fix (no playbook changes the GitLab host)")
        args = ApplyArgs(playbook=None, dry_run=dry_run, yes=yes, containers=(), extra_vars=extra_vars, fmt=fmt,
                          timeout=timeout, keep_backups=keep_backups, forks=1, serial=None, max_fail=None,
                          step=step, report_path=report_path, out_path=None, plan_path=None, restore=False,
                          parallel=4, container_only=False, **where)
        _fix_all(args, error_code=code, model_name=model_name, containers=containers,
                 model_endpoints=model_endpoints)
    reports: list[dict[str, Any]] = []
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
                continue
            reports.append(diagnosing.findings_json(findings, error_code=code, host=conn.label))
        if gitlab_host:
            reports.append(diagnosing.findings_json(gitlab_findings, host=gitlab_host))
    if fmt == "json":
        from remediate.output.formats import versioned_rows

        rows = versioned_rows(reports)
        echo(json.dumps(rows[0] if len(rows) == 1 and not unreachable else rows, indent=2))
    else:
        for data in reports:
            if len(reports) > 1:
                views.console().print(f"\n[bold]== {views.escape(str(data['host']))}[/bold]")
            views.print_diagnosis(views.console(), data, hosts=scope_args(where),
                                  scope=_diagnose_scope(where, error_code=code, model_name=model_name,
                                                        containers=containers, model_endpoints=model_endpoints))
    if detailed_exitcode:
        raise exit_codes.DetailedExit(exit_codes.detailed(error=not reports or bool(unreachable),
                                                          pending=not all(d["ok"] for d in reports)))
    if not reports:
        sys.exit(exit_codes.USAGE)  # no host could be checked
    sys.exit(exit_codes.OK if all(d["ok"] for d in reports) and not unreachable else exit_codes.FAILED)


def _diagnose_scope(where: dict[str, Any], *, error_code: str | None, model_name: str,
                    containers: tuple[str, ...], model_endpoints: tuple[str, ...],
                    extra_vars: tuple[str, ...] = ()) -> list[str]:
    """The options that chose what diagnose checked (and the -e given to --fix), to repeat in
    the commands it prints (a secret in an -e or an endpoint is masked there)."""
    from remediate.core.redaction import redact_text

    argv = [*(["--error", error_code] if error_code else []),
            *(["--model-name", model_name] if model_name != _DEFAULT_MODEL else []),
            *(a for name in containers for a in ("--container", name)),
            *(a for url in model_endpoints for a in ("--model-endpoint", redact_text(url))),
            *(a for var in extra_vars for a in ("-e", redact_text(var)))]
    return [*argv, *scope_args(where)]


def _fix_all(args: ApplyArgs, *, error_code: str | None, model_name: str, containers: tuple[str, ...],
             model_endpoints: tuple[str, ...]) -> NoReturn:
    """``diagnose --fix``: per host, diagnose and merge the fixes of the failing checks per
    container (:func:`remediate.core.fixall.merge_fixes`); show every merged plan and ask once
    (``--step``: per container), then apply each as ``apply`` does; list what is left by hand.
    A host that cannot be reached is reported and the others go on."""
    from remediate.core.fixall import MERGED_NAME, check_fix_vars
    from remediate.core.playbook import builtin_playbooks, load_playbook, parse_extra_vars
    from remediate.errors import ConnectError
    from remediate.fleet.rollout import RolloutResult

    out = views.console()
    started = time.time()
    left: list[str] = []
    requests: list[Request] = []
    reached = unreachable = 0
    scope = _diagnose_scope(args._asdict(), error_code=error_code, model_name=model_name, containers=containers,
                            model_endpoints=model_endpoints, extra_vars=args.extra_vars)
    with errors():
        overrides = parse_extra_vars(args.extra_vars)
        check_fix_vars(overrides, (load_playbook(p.stem) for p in builtin_playbooks()))
        check_writable("--report", args.report_path)
        ssh = ssh_options(args.known_hosts, args.accept_new_host_keys, args.private_key)
        for target in select_targets(args.hosts, args.inventory, args.limit):
            try:
                books, host_left = _host_fixes(target, ssh, overrides, error_code=error_code, model_name=model_name,
                                               containers=containers, model_endpoints=model_endpoints,
                                               scope=scope)
            except ConnectError as exc:
                unreachable += 1
                echo(f"remediate: {exc.message}", err=True)
                continue
            reached += 1
            left.extend(host_left)
            requests.extend(Request(book, MERGED_NAME, [target], (),
                                    {k: v for k, v in overrides.items() if k in book.vars}, None, ssh, False)
                            for book in books)
        results = [_fix_group(out, args, req) for req in requests] if args.step else _fix_reviewed(out, args, requests)
    if not reached:
        sys.exit(exit_codes.USAGE)  # no host could be checked
    combined = RolloutResult(outcomes=tuple(o for r in results for o in r.outcomes), dry_run=args.dry_run)
    _print_fix_outcome(out, args.fmt, combined, [r.book for r in requests], left)
    if args.report_path and results:
        merged = [r.book for r in requests]
        with writing("--report", args.report_path):
            write_report(args.report_path, merged[0] if len(merged) == 1 else _described(merged), combined,
                         started, dry_run=args.dry_run)
    sys.exit(max(exit_code(results), exit_codes.FAILED if left or unreachable else exit_codes.OK))


def _host_fixes(target: Target, ssh: SshOptions, overrides: dict[str, Any], *, error_code: str | None,
                model_name: str, containers: tuple[str, ...], model_endpoints: tuple[str, ...],
                scope: list[str]) -> tuple[list[Playbook], list[str]]:
    """Diagnose one host: the merged playbooks of its failing checks, and the lines of what is
    left by hand (a check no playbook fixes, a fix that needs a var: the command to run then,
    with ``scope``)."""
    from remediate.core.fixall import merge_fixes, required_vars
    from remediate.core.planner import Observed, select
    from remediate.core.playbook import load_playbook
    from remediate.packs.gitlab_duo.diagnose import diagnose

    with target.connection(ssh) as conn:
        findings = diagnose(conn, error_code=error_code, model_name=model_name, containers=containers,
                            model_endpoints=model_endpoints)
        inspects = {f.container: conn.find_container(f.container) for f in findings if f.fix}
    fixes: dict[str, list[Playbook]] = {}
    left: list[str] = []
    for f in (f for f in findings if f.status == "fail"):
        where = f"{target.name}: {f.container}: {f.check}"
        if f.fix is None:
            left.append(f"{where}: {f.evidence} (no playbook fixes it: by hand)")
            continue
        book = load_playbook(f.fix)
        inspect = inspects.get(f.container)
        if inspect is None or not select(book, [Observed(inspect)]):
            left.append(f"{where}: {f.evidence} ({f.fix} does not select this container: by hand)")
            continue
        needed = required_vars(book, {**target.vars, **overrides})
        if needed:
            more = " ".join(f"-e {name}=..." for name in needed)
            command = shlex.join(["remediate", "diagnose", "--fix", "--dry-run", *scope])
            left.append(f"{where}: {f.fix} needs {', '.join(needed)}: {command} {more}")
            continue
        fixes.setdefault(f.container, []).append(book)
    return merge_fixes(fixes), left


def _fix_reviewed(out: Console, args: ApplyArgs, requests: list[Request]) -> list[RolloutResult]:
    """Plan every merged playbook, show the plans, ask once (a ``safety: confirm`` fix, unless
    --yes), then apply exactly those plans; the dry runs themselves with --dry-run."""
    confirm = args.confirm and any(req.book.safety == "confirm" for req in requests)
    if confirm:
        require_terminal("a fix is safety: confirm;")  # before anything is planned, as apply does
    previews = [rollout_once(out, args._replace(dry_run=True), req) for req in requests]
    for preview in previews:
        stop_unapplied(out, preview, show=False)  # interrupted while planning: nothing changed
    if args.fmt == "text":
        for preview in previews:
            views.print_outcomes(out, preview, fmt="text", dry_run=args.dry_run and preview is previews[-1])
    if args.dry_run or not any(p.changes for p in previews):
        return previews
    changing = [req for req, p in zip(requests, previews) if p.changes]
    if confirm and any(req.book.safety == "confirm" for req in changing) and not ask_to_apply():
        fail("aborted, nothing changed", exit_codes.FAILED)
    results = []
    for req, preview in zip(requests, previews):
        result = rollout_once(out, args, req._replace(approved=preview))
        if args.fmt == "text" and preview.changes:  # "nothing to do" was said with the plan
            views.print_outcomes(out, result, fmt="text", dry_run=False, plans=False)
        results.append(result)
    return results


def _fix_group(out: Console, args: ApplyArgs, req: Request) -> RolloutResult:
    """--step: one merged playbook rolled out like ``apply --step``: a question per container."""
    result = rollout_once(out, args, req)
    if result.dry_run:
        stop_unapplied(out, result, show=args.fmt == "text")
    elif args.fmt == "text":  # JSON: one document for all of them, at the end
        views.print_outcomes(out, result, fmt=args.fmt, dry_run=False, plans=False)
    return result


def _print_fix_outcome(out: Console, fmt: str, combined: RolloutResult, merged: list[Playbook],
                       left: list[str]) -> None:
    """JSON: one document, every merged playbook's outcome and what is left; text: what is left."""
    if fmt == "json":
        from remediate.core.redaction import redact_text
        from remediate.fleet.rollout import rollout_json
        from remediate.output.formats import versioned

        echo(json.dumps(versioned({**rollout_json(combined), "left": [redact_text(line) for line in left]}),
                        indent=2))
        return
    if not merged:
        out.print("Nothing to fix with a playbook." if not left else "No playbook can fix what failed.")
    if left:
        out.print("Left to do:")
        for line in left:
            out.print(f"  {views.escape(line)}")


def _described(books: list[Playbook]) -> Playbook:
    """The first merged playbook, described as all of them (for the report's header)."""
    return books[0].model_copy(update={"description": "; ".join(b.description for b in books)})
