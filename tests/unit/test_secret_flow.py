"""remediate.core.secret_flow: a value in a secret place is secret wherever it flows, and a plan's
digest of what it masks changes when a masked secret does (and only then)."""

from __future__ import annotations

import dataclasses

import pytest

from remediate.core.drift import host_drift
from remediate.core.lineage import FileRestore, RollbackPlan
from remediate.core.planner import Change, ContainerPlan, FileWrite, Plan
from remediate.core.redaction import secret_var_names
from remediate.core.runview import run_lines
from remediate.core.secret_flow import masked_parts, plan_secrets, secrets_digest
from remediate.core.spec import ContainerSpec
from remediate.output.plan import VALUE_CHANGED, file_diff, marked_changes, plan_json, run_diff
from remediate.output.rollback import rollback_plan_json


@pytest.mark.parametrize(("original", "shown", "parts"), [
    ("HF_TOKEN=hub-value-1", "HF_TOKEN=***", ["hub-value-1"]),
    ("X=https://u:pw-1@h/p?sig=abc&b=1", "X=https://u:***@h/p?sig=***&b=1", ["pw-1", "abc"]),
    ("plain", "plain", []),
    ("--api-key=", "--api-key=", []),
])
def test_masked_parts(original: str, shown: str, parts: list[str]) -> None:
    assert masked_parts(original, shown) == parts


def _plan(hub: str, *, file: bytes = b"x") -> Plan:
    before = ContainerSpec(name="vllm", image="vllm/vllm-openai:v0.6.3",
                           config={"Env": ["HF_TOKEN=old-hub-value", "AWS_REGION=us-east-1"]})
    after = dataclasses.replace(before, config={"Env": [f"HF_TOKEN={hub}", f"HUB_NOTE=from {hub}", "AWS_REGION=us-east-1"]})
    cp = ContainerPlan(id="c" * 64, name="vllm", fingerprint="f1", before=before, after=after, changes=(),
                       files=(FileWrite("/etc/x", file, 0o644, None),), verify=())
    return Plan(playbook="hub-flow", host="local", vars={"hub_value": hub, "region": "us-east-1"}, containers=(cp,))


def test_a_value_rendered_into_a_secret_place_is_masked_everywhere() -> None:
    plan = _plan("hub-flow-value-7311")

    assert plan_secrets(plan) == ["hub-flow-value-7311", "old-hub-value"]
    data = plan_json(plan)
    assert data["vars"] == {"hub_value": "***", "region": "us-east-1"}
    assert "hub-flow-value-7311" not in str(data) and "old-hub-value" not in str(data)
    assert "+ --env 'HUB_NOTE=from ***'" in data["containers"][0]["diff"]
    assert secret_var_names(plan.vars, plan_secrets(plan)) == ["hub_value"]
    assert secret_var_names(plan.vars) == []  # by name and shape alone, hub_value is harmless


def test_the_digest_tells_a_changed_secret_and_nothing_else() -> None:
    reviewed = plan_json(_plan("hub-flow-value-7311"))
    same = plan_json(_plan("hub-flow-value-7311"))
    other = plan_json(_plan("hub-other-value-9042"))

    digest = reviewed["containers"][0]["secrets"]
    assert digest and "hub-flow-value-7311" not in digest
    assert reviewed["containers"][0]["diff"] == other["containers"][0]["diff"]  # masked alike
    assert host_drift("local", reviewed, same, "the plan was saved") == []
    assert host_drift("local", reviewed, other, "the plan was saved") == [
        "local: vllm: a secret value of the change differs from the reviewed one (shown masked)"]
    assert secrets_digest(_plan("a-b-c-d", file=b"y").containers[0], ["a-b-c-d"]) != \
        secrets_digest(_plan("a-b-c-d").containers[0], ["a-b-c-d"])  # a file rendered from a secret


def test_no_digest_without_secrets() -> None:
    spec = ContainerSpec(name="n", image="img", config={"Env": ["MODE=a"]})
    cp = ContainerPlan(id="c" * 64, name="n", fingerprint="f", before=spec, after=spec, changes=(), files=(), verify=())
    assert secrets_digest(cp, []) is None


def test_a_changed_secret_is_marked_changed_in_every_diff_never_shown() -> None:
    data = plan_json(_plan("hub-flow-value-7311", file=b"HF_TOKEN=hub-flow-value-7311\nA=1\n"))
    [cp] = data["containers"]
    assert "- --env 'HF_TOKEN=***'" in cp["diff"] and f"+ --env 'HF_TOKEN=***'{VALUE_CHANGED}" in cp["diff"]
    assert "  --env AWS_REGION=us-east-1" in cp["diff"]  # unchanged: not marked
    write = FileWrite("/etc/hub.env", b"HF_TOKEN=hub-new-value-1\nA=1\n", 0o644, b"HF_TOKEN=hub-old-value-2\nA=1\n")
    assert f"+HF_TOKEN=***{VALUE_CHANGED}" in file_diff(write) and "-HF_TOKEN=***" in file_diff(write)
    assert "hub-flow-value-7311" not in str(data) and "old-hub-value" not in str(data)


def test_only_a_line_that_differs_unmasked_is_marked() -> None:
    assert marked_changes(["-A=1", "+A=2", " B", "+A=1"], ["-A=1", "+A=2", " B", "+A=1"]) == ["-A=1", "+A=2", " B", "+A=1"]
    # difflib shows a popular line of a long file removed and added as it was: no secret changed there
    assert marked_changes(["-K=***", "+K=***"], ["-K=***", "+K=***"]) == ["-K=***", "+K=***"]
    assert marked_changes(["--- a", "+++ a", "-K=***", " x", "+K=***"], ["--- a", "+++ a", "-K=1", " x", "+K=2"]) == [
        "--- a", "+++ a", "-K=***", " x", "+K=***"]  # not the same change


def test_only_the_secret_that_changed_is_marked_in_the_run_diff() -> None:
    before = ContainerSpec(name="n", image="img", config={"Env": ["HF_TOKEN=hub-old-1", "DB_PASSWORD=db-1", "A=1"]})
    after = dataclasses.replace(before, config={"Env": ["HF_TOKEN=hub-new-2", "DB_PASSWORD=db-1", "A=2"]})

    assert [line for line in run_diff(before, after) if line[0] in "+-"] == [
        "- --env 'HF_TOKEN=***'", f"+ --env 'HF_TOKEN=***'{VALUE_CHANGED}", "- --env A=1", "+ --env A=2"]
    assert run_diff(before, before) == [f"  {line}" for line in run_lines(before, redact=True)]


def test_a_changed_secret_in_a_change_line_is_marked() -> None:
    plan = _plan("hub-flow-value-7311")
    cp = dataclasses.replace(plan.containers[0], changes=(
        Change("env.HF_TOKEN", "old-hub-value", "hub-flow-value-7311", "recreate", "supplied by the image"),
        Change("env.MODE", "1", 1, "recreate", "supplied by the image")))
    shown = plan_json(dataclasses.replace(plan, containers=(cp,)))["containers"][0]["changes"]
    assert [(c["before"], c["after"]) for c in shown] == [("***", f"***{VALUE_CHANGED}"), ("1", "1")]


def test_a_rollback_preview_marks_a_changed_secret() -> None:
    current = ContainerSpec(name="n", image="img", config={"Env": ["HF_TOKEN=hub-new-value-2", "A=1"]})
    target = dataclasses.replace(current, config={"Env": ["HF_TOKEN=hub-old-value-1", "A=1"]})
    restore = FileRestore("/etc/hub.env", b"API_KEY=key-new-value-2\n", b"API_KEY=key-old-value-1\n", 0o644)
    data = rollback_plan_json(RollbackPlan("n", "n_backup", current, target, (restore,), (), 1))

    assert f"+ --env 'HF_TOKEN=***'{VALUE_CHANGED}" in data["diff"] and "  --env A=1" in data["diff"]
    assert data["files"][0]["diff"][2:] == ["@@ -1 +1 @@", "-API_KEY=***", f"+API_KEY=***{VALUE_CHANGED}"]
    assert "value-1" not in str(data) and "value-2" not in str(data)
