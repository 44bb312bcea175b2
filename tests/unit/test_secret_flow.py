"""remediate.core.secret_flow: a value in a secret place is secret wherever it flows, and a plan's
digest of what it masks changes when a masked secret does (and only then)."""

from __future__ import annotations

import dataclasses

import pytest

from remediate.core.drift import host_drift
from remediate.core.planner import ContainerPlan, FileWrite, Plan
from remediate.core.redaction import secret_var_names
from remediate.core.secret_flow import masked_parts, plan_secrets, secrets_digest
from remediate.core.spec import ContainerSpec
from remediate.output.plan import plan_json


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
