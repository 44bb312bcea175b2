"""The ticket report on fixtures: who ran what where (host, engine, OS, operator), the findings,
the plan with its merged fixes, the results with Docker's health log and the last log lines,
evidence folded whole (never cut mid-JSON), ``None`` as "unset", what is left by hand; and
its JSON valid against the shipped schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from remediate.core.evidence import JSON_WHOLE, body_evidence
from remediate.core.planner import Plan
from remediate.core.results import Action, ContainerResult, HealthRun, HostResult
from remediate.output.environment import environment_json
from remediate.output.formats import schema, versioned
from remediate.output.markdown import markdown_report
from remediate.output.result import result_json

INFO = {"Name": "gpu-01", "ServerVersion": "26.1.5", "ApiVersion": "1.45", "OperatingSystem": "Debian GNU/Linux 13",
        "KernelVersion": "6.1.0-18-amd64", "Architecture": "x86_64"}
BIG = {"object": "list", "data": [{"id": f"model-{i}", "owned_by": "vllm", "max_model_len": 32768} for i in range(12)]}
TOKEN = "glpat-" + "A1b2C3d4E5f6G7h8I9j0"


def _container(cp_name: str = "vllm") -> dict[str, Any]:
    return {"container": cp_name, "id": "0123456789ab", "action": "recreate",
            "changes": [{"field": "args.--served-model-name", "action": "recreate", "reason": "",
                         "before": None, "after": "mistral"}],
            "run_before": ["-e A=1", "image:1"], "run_after": ["-e A=1", "--served-model-name mistral", "image:1"],
            "diff": ["  -e A=1", "+ --served-model-name mistral", "  image:1"], "files": [], "notes": [],
            "verify": ["http GET /v1/models on port 8000 -> 200"]}


def _report() -> dict[str, Any]:
    result = {"container": "vllm", "action": "rolled back", "id_before": "0123456789ab", "id_after": None,
              "backup": None, "error": "verify failed: running: health unhealthy", "seconds": 3.2,
              "checks": [{"name": "running", "ok": False, "evidence": "running, health unhealthy", "attempts": 4},
                         {"name": "http GET /v1/models on port 8000", "ok": False, "attempts": 2,
                          "evidence": json.dumps(BIG)}],
              "manual_steps": [], "notes": [], "logs": ["INFO loading", "ERROR model not found: mistral"],
              "health": [{"exit_code": 1, "output": "curl: (7) Failed to connect", "start": "t1"},
                         {"exit_code": 1, "output": "curl: (22) 404 Not Found", "start": "t2"}]}
    return {"tool": "remediate 0.9", "command": "diagnose --fix", "mode": "apply", "operator": "ops@laptop",
            "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:00:09+00:00",
            "playbook": "diagnose-fix", "description": "the fixes diagnose found",
            "environment": [environment_json("gpu-01", INFO), environment_json("gpu-02", None, "connection refused")],
            "diagnosis": [{"host": "gpu-01", "ok": False, "counts": {"pass": 1, "warn": 0, "fail": 1}, "error": None,
                           "findings": [{"container": "vllm", "kind": "vllm", "check": "served-model-name",
                                         "status": "fail", "fix": "fix-vllm-404", "evidence": json.dumps(BIG)},
                                        {"container": "vllm", "kind": "vllm", "check": "running", "status": "pass",
                                         "fix": None, "evidence": "running"}]}],
            "hosts": [{"host": "gpu-01", "status": "failed", "error": None, "seconds": 9.0,
                       "plan": {"vars": {"model": None}, "changed": 1, "containers": [_container()]},
                       "result": {"containers": [result]}}],
            "summary": {"failed": 1}, "merged": {"gpu-01": {"vllm": ["fix-vllm-404", "fix-vllm-max-len"]}},
            "left": ["gpu-01: aigw: gateway-url: by hand"]}


def test_the_report_says_who_ran_what_where() -> None:
    md = markdown_report(_report())

    assert "- operator: `ops@laptop`" in md and "- command: `diagnose --fix`" in md
    assert "| gpu-01 | gpu-01 | 26.1.5 (API 1.45) | Debian GNU/Linux 13 | 6.1.0-18-amd64 | x86_64 |" in md
    assert "| gpu-02 | unknown: connection refused |" in md


def test_findings_merged_fixes_health_log_logs_and_left_to_do_are_in_it() -> None:
    md = markdown_report(_report())

    assert "## Diagnosis of gpu-01: 1 pass, 0 warn, 1 fail" in md
    assert "- **fail** vllm: `served-model-name` (fix: `fix-vllm-404`)" in md
    assert "  - evidence: `running`" in md
    assert "Merged fixes: `fix-vllm-404`, `fix-vllm-max-len`" in md
    assert "[exit 1] curl: (22) 404 Not Found" in md and "ERROR model not found: mistral" in md
    assert "## Left to do by hand\n\n- gpu-01: aigw: gateway-url: by hand" in md


def test_none_is_unset_not_code() -> None:
    md = markdown_report(_report())

    assert "`args.--served-model-name`: unset -> `mistral`" in md
    assert "| model | unset |" in md
    assert "`None`" not in md


def test_long_evidence_is_folded_whole_never_cut() -> None:
    md = markdown_report(_report())

    pretty = json.dumps(BIG, indent=2).splitlines()
    assert md.count("<details><summary>evidence</summary>") == 2  # the finding's and the check's
    block = md.split("<details><summary>evidence</summary>", 1)[1].split("</details>", 1)[0]
    assert [line.strip() for line in block.strip().splitlines()[1:-1]] == [line.strip() for line in pretty]


def test_a_diagnose_only_report_has_no_plan_and_says_nothing_is_left() -> None:
    data = {k: v for k, v in _report().items() if k not in ("hosts", "summary", "merged", "playbook", "description")}
    data |= {"command": "diagnose", "mode": "check", "left": []}

    md = markdown_report(data)

    assert md.startswith("# remediate report: diagnose (check)")
    assert "## Summary" not in md and "## Left to do by hand\n\nNothing." in md
    jsonschema.validate(versioned(data), schema("report"))


def test_rollback_and_recover_rows() -> None:
    rollback = {"host": "gpu-01", "container": "vllm", "backup": "vllm-remediate-backup-1", "steps": None,
                "between": [], "files": [], "diff": ["- --served-model-name mistral", "  image:1"],
                "action": "restored", "error": None, "restored_id": "abcdefabcdef", "parked_as": None,
                "manual_steps": []}
    recover = {"host": "gpu-01", "container": "vllm", "tx": "tx-1", "outcome": "restored", "detail": None,
               "manual_steps": ["docker start vllm"]}
    data = {"tool": "remediate 0.9", "command": "rollback", "mode": "rollback", "operator": "ops@laptop",
            "started": "s", "finished": "f", "environment": [environment_json("gpu-01", INFO)],
            "rollback": [rollback], "recover": [recover], "left": ["docker start vllm"]}

    md = markdown_report(data)

    assert "## Rollback of vllm on gpu-01: restored" in md and "- put back: `vllm-remediate-backup-1`" in md
    assert "the replaced one kept as unset" in md and "-  --served-model-name mistral" not in md
    assert "## Recover of vllm on gpu-01: restored" in md and "- detail: unset" in md
    assert "- manual: `docker start vllm`" in md
    jsonschema.validate(versioned(data), schema("report"))


def test_the_header_findings_merged_fixes_and_left_are_valid_for_the_schema() -> None:
    # The hosts' plans and results are the rollout's views, validated on real runs (integration).
    data = {k: v for k, v in _report().items() if k not in ("hosts", "summary")}

    jsonschema.validate(versioned(data), schema("report"))
    data["environment"][0]["engine"] = 26
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(versioned(data), schema("report"))


def test_a_result_carries_the_health_log_masked() -> None:
    run = HealthRun(1, f"probe failed, token {TOKEN}", "t")
    container = ContainerResult("vllm", Action.ROLLED_BACK, "0123456789abcdef", error="verify failed",
                                logs=(f"boot with {TOKEN}",), health=(run,))

    data = result_json(HostResult("h1", Plan("p", "h1", {}, ()), (container,)))

    [shown] = data["containers"]
    assert shown["health"] == [{"exit_code": 1, "output": "probe failed, token ***", "start": "t"}]
    assert TOKEN not in json.dumps(data)


def test_a_json_body_is_evidence_whole_and_other_text_is_cut_visibly() -> None:
    assert body_evidence(json.dumps(BIG, indent=4)) == json.dumps(BIG, separators=(",", ":"))
    assert body_evidence("not json " * 100, 20) == "not json not json no… (879 more characters not shown)"
    huge = json.dumps({"x": "y" * JSON_WHOLE})
    assert body_evidence(huge, 50).endswith("more characters not shown)")
    assert body_evidence("  short\n answer ") == "short answer"


def test_a_plan_and_a_result_give_their_own_views() -> None:
    container = ContainerResult("vllm", Action.RECREATED, "0123456789abcdef", error=f"token {TOKEN}")
    result = HostResult("h1", Plan("p", "h1", {"api_token": TOKEN}, ()), (container,))

    assert result.to_json() == result_json(result)
    assert result.plan.to_json() == result.to_json()["plan"]
    assert result.plan.to_json()["vars"] == {"api_token": "***"}
    assert TOKEN not in json.dumps(result.to_json())
