"""The one orchestrator's contract without an engine: jobs of several playbooks, options and hooks
as frozen objects, overrides checked before any host, the fleet rollback's grouped preview."""

from __future__ import annotations

import dataclasses
import io

import pytest
from rich.console import Console

import remediate
from remediate import errors
from remediate.cli import views
from remediate.output.rollback import RollbackPreviewJson

NO_SOCKET = "unix:///nonexistent/remediate-test.sock"


def _books() -> tuple[remediate.Playbook, remediate.Playbook]:
    return remediate.load_playbook("fix-vllm-404"), remediate.load_playbook("enable-custom-models")


def test_options_and_hooks_are_frozen_values() -> None:
    options = remediate.Options(forks=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.forks = 1  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        remediate.Hooks().confirm = None  # type: ignore[misc]
    assert dataclasses.replace(options, dry_run=True).forks == 8


def test_a_job_of_several_playbooks_gives_one_outcome_each_in_order() -> None:
    gone = remediate.Target("gone", url=NO_SOCKET)
    result = remediate.rollout([remediate.Job(gone, _books()), remediate.Job(remediate.Target("also", url=NO_SOCKET),
                                                                             _books()[:1])],
                               remediate.Options(dry_run=True))

    assert [(o.target.name, o.status) for o in result.outcomes] == [("gone", "unreachable")] * 2 + [
        ("also", "skipped")]  # the same engine address as "gone"
    assert all(isinstance(o.exception, errors.HostUnreachable) for o in result.outcomes[:2])
    assert result.to_json()["summary"] == {"unreachable": 2, "skipped": 1}


def test_an_override_no_playbook_of_the_job_declares_is_refused_before_any_host() -> None:
    vllm, gateway = _books()
    asked: list[object] = []
    job = remediate.Job(remediate.Target("gone", url=NO_SOCKET), (vllm, gateway), {"no_such_var": 1})

    with pytest.raises(errors.PlaybookError, match="no_such_var"):
        remediate.rollout([job], hooks=remediate.Hooks(progress=lambda *a: asked.append(a)))
    assert asked == []  # no host was touched
    # A var one of them declares goes to that one only.
    declared = next(iter(vllm.vars))
    result = remediate.rollout([dataclasses.replace(job, overrides={declared: "x"})], remediate.Options(dry_run=True))
    assert [o.status for o in result.outcomes] == ["unreachable", "unreachable"]


def _preview(host: str, backup: str, diff: list[str]) -> RollbackPreviewJson:
    return {"host": host, "container": "vllm", "backup": backup, "steps": 1, "between": [], "files": [],
            "diff": diff}


def test_a_fleet_rollback_shows_the_same_change_once() -> None:
    out = Console(file=io.StringIO(), width=200, color_system=None)
    same = ["  docker run \\\\", "- --env NEW_FLAG=1 \\\\"]
    views.print_rollback_plans(out, [_preview("h1", "vllm.remediate-backup-1", same),
                                     _preview("h2", "vllm.remediate-backup-2", same),
                                     _preview("h3", "vllm.remediate-backup-3", ["+ --env OTHER=1"])])

    text = out.file.getvalue()  # type: ignore[attr-defined]
    assert "== h1, h2  (same change on 2 hosts)" in text
    assert text.count("- --env NEW_FLAG=1") == 1
    assert "h1: vllm.remediate-backup-1, h2: vllm.remediate-backup-2" in text
    assert "vllm on h3: put back vllm.remediate-backup-3" in text


def test_fix_goes_on_past_a_host_it_cannot_diagnose_and_refuses_an_unknown_var_first() -> None:
    found = remediate.find_fixes([remediate.Target("gone", url=NO_SOCKET)])
    assert found.jobs == () and found.reached == 0
    assert [type(e) for e in found.unreachable] == [errors.HostUnreachable]

    with pytest.raises(errors.PlaybookError, match="no fixing playbook has this var"):
        remediate.fix([remediate.Target("gone", url=NO_SOCKET)], overrides={"no_such_var": 1})

    result = remediate.fix([remediate.Target("gone", url=NO_SOCKET)], remediate.Options(dry_run=True))
    assert result.rollout.outcomes == () and result.to_json() == {"hosts": [], "summary": {}, "merged": {}, "left": []}
