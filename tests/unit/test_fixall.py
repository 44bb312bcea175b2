"""Merging the fixes diagnose found into one playbook per group of containers: pure."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from remediate.cli.main import main
from remediate.core.fixall import MERGED_NAME, merge_fixes, required_vars
from remediate.core.planner import Observed, plan, select
from remediate.core.playbook import Playbook, load_playbook
from remediate.errors import PlaybookError

CASES = Path(__file__).resolve().parents[1] / "cases"


def book(name: str, changes: list[dict[str, Any]], **fields: Any) -> Playbook:
    return Playbook.model_validate({"name": name, "description": name, "select": {"image": "*"},
                                    "changes": changes, **fields})


def observed(case: str, name: str) -> Observed:
    inspect = json.loads((CASES / case / "container.json").read_text())
    return Observed({**inspect, "Name": f"/{name}"}, json.loads((CASES / case / "image.json").read_text()))


def test_the_gateway_fixes_become_one_playbook_and_vllm_another() -> None:
    custom, bypass, vllm = (load_playbook(n) for n in ("enable-custom-models", "disable-auth-bypass", "fix-vllm-404"))
    merged = merge_fixes({"gw": [custom, bypass], "gw2": [custom, bypass, custom], "vllm": [vllm]})

    assert [(b.name, [s.name for s in b.selectors]) for b in merged] == [
        (MERGED_NAME, ["gw", "gw2"]), (MERGED_NAME, ["vllm"])]
    gateway, model = merged
    assert gateway.changes == custom.changes + bypass.changes  # in the findings' order, each fix once
    assert gateway.verify == bypass.verify  # enable-custom-models' healthz probe is the same as bypass's first
    assert (gateway.safety, model.safety) == ("auto", "confirm")  # the strictest of the group
    assert model.vars == vllm.vars and model.changes == vllm.changes and model.verify == vllm.verify


def test_a_merged_playbook_selects_only_the_containers_named() -> None:
    [merged] = merge_fixes({"gw[1]*": [load_playbook("enable-custom-models")]})
    containers = [observed("busybox-minimal", n) for n in ("gw[1]*", "gw1x", "gw[1]x", "other")]

    assert [o.name for o in select(merged, containers)] == ["gw[1]*"]


def test_one_plan_holds_every_change_of_the_fixes() -> None:
    a = book("a", [{"env": {"A": "1"}}])
    b = book("b", [{"env": {"B": "2", "A": "1"}}, {"args": {"set": {"--flag": "x"}}}])
    [merged] = merge_fixes({"box": [a, b]})
    obs = observed("busybox-minimal", "box")

    [cp] = plan(merged, merged.vars, [obs]).containers
    assert [(c.field, c.after) for c in cp.changes] == [("env.A", "1"), ("env.B", "2"), ("args.--flag", "x")]
    assert merged.changes[1] == book("x", [{"env": {"B": "2"}}]).changes[0]  # A=1 is set once, by a
    assert cp.action == "recreate"


def test_each_diff_line_change_and_file_of_a_merged_plan_names_its_fix(tmp_path: Path) -> None:
    from remediate.output.markdown import diff_lines
    from remediate.output.plan import plan_json

    a = book("fix-a", [{"env": {"A": "1"}}, {"file": {"dest": str(tmp_path / "a.conf"), "content": "a"}}])
    b = book("fix-b", [{"env": {"B": "2", "A": "1"}}, {"args": {"set": {"--flag": "x"}}}])
    [merged] = merge_fixes({"box": [a, b]})

    [cp] = plan_json(plan(merged, merged.vars, [observed("busybox-minimal", "box")]))["containers"]

    assert [(line, fix) for line, fix in zip(cp["diff"], cp["diff_fix"], strict=True) if line[0] != " "] == [
        ("+ --env A=1", "fix-a"), ("+ --env B=2", "fix-b"), ("+   --flag x", "fix-b")]
    assert all(fix is None for line, fix in zip(cp["diff"], cp["diff_fix"], strict=True) if line[0] == " ")
    assert [(c["field"], c["fix"]) for c in cp["changes"]] == [
        ("env.A", "fix-a"), ("env.B", "fix-b"), ("args.--flag", "fix-b")]
    assert [f["fix"] for f in cp["files"]] == ["fix-a"]
    assert [line for line in diff_lines(cp) if "#" in line] == [
        "+ --env A=1  # from fix-a", "+ --env B=2  # from fix-b", "+   --flag x  # from fix-b"]


def test_a_line_one_fix_drops_names_that_fix() -> None:
    from remediate.output.plan import plan_json

    a = book("fix-a", [{"env": {"A": "1"}}])
    b = book("fix-b", [{"env": {"VLLM_LOGGING_LEVEL": None}}, {"args": {"set": {"--port": "8001"}}}])
    [merged] = merge_fixes({"vllm": [a, b]})

    [cp] = plan_json(plan(merged, merged.vars, [observed("vllm-secrets", "vllm")]))["containers"]

    changed = [(line, fix) for line, fix in zip(cp["diff"], cp["diff_fix"], strict=True) if line[0] != " "]
    assert changed == [("- --env VLLM_LOGGING_LEVEL=INFO", "fix-b"), ("+ --env A=1", "fix-a"),
                       ("-   --port 8000", "fix-b"), ("+   --port 8001", "fix-b")], cp["diff"]


def test_a_changed_secret_of_a_merged_plan_names_the_fix_that_changes_it() -> None:
    from remediate.output.plan import VALUE_CHANGED, plan_json

    a = book("fix-a", [{"env": {"A": "1"}}])
    b = book("fix-b", [{"env": {"HF_TOKEN": "hf_rotatedvalue123"}}])
    [merged] = merge_fixes({"vllm": [a, b]})
    obs = observed("vllm-secrets", "vllm")
    token = next(e for e in obs.inspect["Config"]["Env"] if e.startswith("HF_TOKEN="))

    [cp] = plan_json(plan(merged, merged.vars, [obs]))["containers"]

    changed = [(line, fix) for line, fix in zip(cp["diff"], cp["diff_fix"], strict=True) if line[0] != " "]
    assert changed == [("- --env 'HF_TOKEN=***'", "fix-b"), (f"+ --env 'HF_TOKEN=***'{VALUE_CHANGED}", "fix-b"),
                       ("+ --env A=1", "fix-a")], cp["diff"]
    assert "hf_rotatedvalue123" not in str(cp) and token.partition("=")[2] not in str(cp)


def test_a_plan_of_one_playbook_names_no_fix() -> None:
    from remediate.output.plan import plan_json

    a = book("fix-a", [{"env": {"A": "1"}}])
    [cp] = plan_json(plan(a, a.vars, [observed("busybox-minimal", "box")]))["containers"]
    assert "diff_fix" not in cp and all("fix" not in c for c in cp["changes"])


@pytest.mark.parametrize(("first", "second", "field"), [
    ([{"env": {"A": "1"}}], [{"env": {"A": "2"}}], "env A"),
    ([{"env": {"A": "1"}}], [{"env": {"A": None}}], "env A"),
    ([{"args": {"set": {"--x": "1"}}}], [{"args": {"remove": ["--x"]}}], "flag --x"),
    ([{"network": "host"}], [{"network": "bridge"}], "network"),
    ([{"platform": "linux/amd64"}], [{"platform": "linux/arm64"}], "platform"),
    ([{"mount": {"source": "/a", "target": "/t"}}], [{"mount": {"source": "/b", "target": "/t"}}], "mount /t"),
    ([{"file": {"dest": "/f", "content": "a"}}], [{"file": {"dest": "/f", "content": "b"}}], "file /f"),
    ([{"ports": {"publish": ["127.0.0.1:1:80"]}}], [{"ports": {"unpublish": [80, 81]}}], "port 80/tcp"),
])
def test_two_fixes_setting_one_field_differently_are_refused(first: list[dict[str, Any]],
                                                             second: list[dict[str, Any]], field: str) -> None:
    with pytest.raises(PlaybookError) as caught:
        merge_fixes({"box": [book("one", first), book("two", second)]})
    assert caught.value.message == (f"box: one and two both set {field}, to different values: "
                                    "apply one of them alone")


def test_the_same_value_twice_is_no_conflict_and_other_containers_do_not_clash() -> None:
    merged = merge_fixes({"box": [book("one", [{"env": {"A": "1"}}]), book("two", [{"env": {"A": "1"}}])],
                          "other": [book("three", [{"env": {"A": "2"}}])]})
    assert len(merged) == 2


def test_vars_with_different_defaults_and_time_boxed_fixes_are_refused() -> None:
    one = book("one", [{"env": {"A": "{{ v }}"}}], vars={"v": "1"})
    two = book("two", [{"env": {"B": "{{ v }}"}}], vars={"v": "2"})
    with pytest.raises(PlaybookError, match="^one and two both declare var v, with different defaults"):
        merge_fixes({"box": [one, two]})
    assert merge_fixes({"box": [one, book("three", [{"env": {"B": "{{ v }}"}}], vars={"v": "1"})]})[0].vars == {"v": "1"}
    with pytest.raises(PlaybookError, match="^troubleshoot-mode is time-boxed"):
        merge_fixes({"box": [load_playbook("troubleshoot-mode")]})


def test_nothing_to_fix_is_no_playbook() -> None:
    assert merge_fixes({"box": []}) == []


def test_required_vars_are_the_ones_without_a_default() -> None:
    url = load_playbook("fix-gitlab-url")
    assert required_vars(url) == ["gitlab_url"]
    assert required_vars(url, {"gitlab_url": "https://gitlab.example.com"}) == []
    assert required_vars(load_playbook("fix-vllm-404")) == []


@pytest.mark.parametrize("option", [["--yes"], ["--dry-run"], ["--step"], ["-e", "a=1"]])
def test_the_fix_options_need_fix(option: list[str]) -> None:
    result = CliRunner().invoke(main, ["diagnose", *option], env={"REMEDIATE_YES": ""})

    assert result.exit_code == 2
    assert result.stderr == f"remediate: {option[0]} is for diagnose --fix\n"


@pytest.mark.parametrize("command", [["apply", "fix-vllm-404", "--dry-run"], ["diagnose", "--fix", "--dry-run"]])
def test_a_pull_stall_under_a_second_is_refused_in_one_line(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--pull-stall", "0.5"], env={"REMEDIATE_YES": ""})

    assert result.exit_code == 2
    assert "--pull-stall" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", [["diagnose"], ["diagnose", "--fix", "--dry-run"], ["rollback", "box", "--dry-run"],
                                     ["recover"]])
def test_a_report_that_cannot_be_written_is_refused_before_any_host(command: list[str]) -> None:
    result = CliRunner().invoke(main, [*command, "--report", "/nonexistent/r.md"],
                                env={"REMEDIATE_YES": "", "DOCKER_HOST": "unix:///nonexistent.sock"})

    assert result.exit_code == 2
    assert result.stderr == ("remediate: --report /nonexistent/r.md: cannot write there "
                             "(/nonexistent is not a writable directory)\n")


def test_an_extra_var_no_fix_declares_is_refused_with_the_closest_one() -> None:
    result = CliRunner().invoke(main, ["diagnose", "--fix", "--dry-run", "-e", "gitlab_ulr=https://gitlab.example.com"],
                                env={"REMEDIATE_YES": "", "DOCKER_HOST": "unix:///nonexistent.sock"})

    assert result.exit_code == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("remediate: -e gitlab_ulr: no fixing playbook has this var; did you mean gitlab_url? ")
    assert "served_model_name" in line


def test_quiet_and_verbose_exclude_each_other() -> None:
    result = CliRunner().invoke(main, ["apply", "fix-vllm-404", "--dry-run", "-q", "-v"], env={"REMEDIATE_YES": ""},
                                prog_name="remediate")

    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "remediate: --quiet and --verbose exclude each other (see `remediate apply --help`)"]
