"""The text view of a diagnosis: one host's findings as tables, then the commands that fix what fails."""

from __future__ import annotations

import shlex
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING

from remediate.cli.common import verbosity
from remediate.cli.plain import escape
from remediate.cli.views import aligned

if TYPE_CHECKING:
    from remediate.cli.plain import Out
    from remediate.packs.gitlab_duo.diagnose import DiagnosisJson, FindingJson


def print_diagnosis(out: Out, data: DiagnosisJson, *, hosts: Sequence[str] = (),
                    scope: Sequence[str] = ()) -> None:
    """One host's findings as tables, then the commands that fix what fails: they keep ``hosts``
    (the host options given) and ``scope`` (every option that chose what was checked), shell-quoted."""
    error = data["error"]
    if error:
        out.print(f"[bold]Error {error['code']}[/bold]: {escape(error['message'])}")
        out.print(f"  {escape(error['meaning'])}")
        if error["formerly"]:
            out.print(f"  (older GitLab versions show: {escape(error['formerly'])})")
        if error["playbooks"]:
            out.print(f"  Playbooks that may fix it: {', '.join(error['playbooks'])}")
        if error["not_passing"]:
            out.print(f"  [yellow]Related checks not passing here: {', '.join(error['not_passing'])}[/yellow]")
        elif error["checks"]:
            out.print(f"  Related checks ({', '.join(error['checks'])}) pass here.")
        out.print("")
    if not data["findings"]:
        out.print(f"No AI gateway or vLLM container found on {escape(str(data['host']))}.")
        return
    styles = {"pass": "green", "warn": "yellow", "fail": "red"}
    by_container: dict[str, list[FindingJson]] = defaultdict(list)
    for finding in data["findings"]:
        by_container[finding["container"]].append(finding)
    for name, findings in by_container.items():
        kind = {"ai-gateway": "AI gateway", "vllm": "vLLM", "gitlab": "GitLab host"}.get(findings[0]["kind"], "container")
        shown = [f for f in findings if not (f["status"] == "pass" and verbosity() < 0)]  # --quiet: what needs attention
        if not out.is_terminal:  # piped or redirected (a ticket): whole lines, the evidence last, never wrapped
            out.print(f"[bold]{escape(kind)} {escape(name)}[/bold]")
            for line in aligned([[f["check"], f["status"], f["fix"] or "-", " ".join(f["evidence"].split())]
                                 for f in shown]):
                out.print(escape(line))
            out.print("")
            continue
        from rich.table import Table

        table = Table(title=f"{kind} {escape(name)}", title_justify="left", title_style="bold",
                      show_edge=False, box=None, pad_edge=False, padding=(0, 2, 0, 0))
        table.add_column("check", no_wrap=True)
        table.add_column("status", no_wrap=True)
        table.add_column("evidence", overflow="fold")
        table.add_column("fix", no_wrap=True)
        for f in shown:
            style = styles[f["status"]]
            table.add_row(escape(f["check"]), f"[{style}]{f['status']}[/{style}]", escape(f["evidence"]),
                          escape(f["fix"] or ""))
        out.print(table)
        out.print("")
    counts = data["counts"]
    out.print(f"{counts['pass']} pass, {counts['warn']} warn, {counts['fail']} fail")
    fixes = sorted({(f["fix"], f["container"]) for f in data["findings"] if f["fix"] and f["status"] != "pass"})
    if fixes:
        out.print("To fix (dry run first):")
        for fix, name in fixes:
            command = shlex.join(["remediate", "apply", fix, "--container", name, *hosts])
            out.print(f"  {escape(command)}{_var_placeholders(fix)} --dry-run")
        command = shlex.join(["remediate", "diagnose", "--fix", "--dry-run", *scope])
        out.print(f"Or all at once (each container recreated once): {escape(command)}")


def _var_placeholders(fix: str) -> str:
    """`` -e NAME=...`` for each var of the fixing playbook that has no default (the command
    fails without it)."""
    from remediate.core.fixall import required_vars
    from remediate.core.playbook import load_playbook

    return "".join(f" -e {name}=..." for name in required_vars(load_playbook(fix)))
