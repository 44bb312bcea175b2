"""`--report` on diagnose (with and without --fix), rollback and recover, on the real engine: a
Markdown (or JSON) file only its owner reads, naming the host, its engine and OS, remediate's
version and the operator, with the findings, the plan (and the fixes it merges), the results and
what is left by hand; no secret in it; "report written to FILE" on stderr."""

from __future__ import annotations

import getpass
import json
import os
import socket
import stat
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from remediate import __version__
from remediate.output.formats import schema
from tests.conftest import Cli
from tests.integration.rtcat import Lab

pytestmark = pytest.mark.integration

SECRET = "sk-rt-ticket-secret-8842"


def _private(path: Path) -> str:
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return path.read_text()


def _where(md: str, docker_client: Any) -> None:
    """The report names the host, its engine and OS, remediate's version and the operator."""
    info = docker_client.info()
    assert f"| local | {info['Name']} | {info['ServerVersion']} (API " in md
    assert info["OperatingSystem"] in md and info["KernelVersion"] in md
    assert f"- tool: remediate {__version__}" in md
    assert f"- operator: `{getpass.getuser()}@{socket.gethostname()}`" in md


def test_diagnose_writes_a_report_without_fix(cli: Cli, lab: Lab, docker_client: Any, tmp_path: Path) -> None:
    gw = lab.gateway("ticket-diag", {"AIGW_AUTH__BYPASS_EXTERNAL": "true",
                                     "AIGW_SELF_SIGNED_JWT__SIGNING_KEY": SECRET})
    report, as_json = tmp_path / "diag.md", tmp_path / "diag.json"

    code, out = cli("diagnose", "--container", gw["name"], "--report", str(report))

    assert code == 1, out
    assert f"report written to {report}" in out
    md = _private(report)
    _where(md, docker_client)
    assert md.startswith("# remediate report: diagnose (check)")
    assert f"- **fail** {gw['name']}: `auth-bypass` (fix: `disable-auth-bypass`)" in md
    assert f"{gw['name']}: auth-bypass: fixed by playbook disable-auth-bypass" in md.split("## Left to do by hand")[1]
    code, out = cli("diagnose", "--container", gw["name"], "--report", str(as_json), "--format", "json")
    data = json.loads(_private(as_json))
    jsonschema.validate(data, schema("report"))
    assert data["command"] == "diagnose" and data["environment"][0]["engine"].startswith(docker_client.info()["ServerVersion"])
    assert "auth-bypass" in [f["check"] for f in data["diagnosis"][0]["findings"] if f["status"] == "fail"]
    assert all(SECRET not in text for text in (md, out, as_json.read_text()))


def test_the_merged_fix_plan_names_its_fixes(cli: Cli, lab: Lab, gitlab_port: int, tmp_path: Path) -> None:
    gitlab = f"http://gitlab.example.com:{gitlab_port}"
    gw = lab.gateway("ticket-merge", {"AIGW_GITLAB_URL": gitlab, "AIGW_GITLAB_API_URL": f"{gitlab}/api/v4/",
                                      "AIGW_AUTH__BYPASS_EXTERNAL": "true", "AIGW_CUSTOM_MODELS__ENABLED": "false",
                                      "AIGW_SELF_SIGNED_JWT__SIGNING_KEY": SECRET})
    report = tmp_path / "fix.md"

    code, out = cli("diagnose", "--fix", "--dry-run", "--container", gw["name"], "--report", str(report))

    assert code in (0, 1), out
    line = next(x for x in out.splitlines() if "the plan merges the fixes" in x)
    assert gw["name"] in line and "disable-auth-bypass" in line and "enable-custom-models" in line, out
    md = _private(report)
    merged = next(x for x in md.splitlines() if x.startswith("Merged fixes:"))
    assert "`disable-auth-bypass`" in merged and "`enable-custom-models`" in merged
    assert "## Diagnosis of local" in md and "- **fail**" in md and "docker run -d" in md
    # Each line of the diff says which fix it comes from: in the text, the report and the JSON.
    for shown in (out, md):
        assert "- --env AIGW_AUTH__BYPASS_EXTERNAL=true  # from disable-auth-bypass" in shown, shown
        assert "+ --env AIGW_CUSTOM_MODELS__ENABLED=true  # from enable-custom-models" in shown, shown
    text = out
    code, out = cli("diagnose", "--fix", "--dry-run", "--container", gw["name"], "--format", "json")
    data = json.loads(out)
    assert data["merged"] == {"local": {gw["name"]: ["disable-auth-bypass", "enable-custom-models"]}}
    [cp] = data["hosts"][0]["plan"]["containers"]
    fixes = {line: fix for line, fix in zip(cp["diff"], cp["diff_fix"], strict=True) if line[0] != " "}
    assert fixes == {"- --env AIGW_AUTH__BYPASS_EXTERNAL=true": "disable-auth-bypass",
                     "- --env AIGW_CUSTOM_MODELS__ENABLED=false": "enable-custom-models",
                     "+ --env AIGW_CUSTOM_MODELS__ENABLED=true": "enable-custom-models"}, cp["diff"]
    assert {c["field"]: c["fix"] for c in cp["changes"] if c["action"] != "noop"} == {
        "env.AIGW_AUTH__BYPASS_EXTERNAL": "disable-auth-bypass", "env.AIGW_CUSTOM_MODELS__ENABLED": "enable-custom-models"}
    jsonschema.validate(data, schema("fix"))
    assert SECRET not in md and SECRET not in out and SECRET not in text


def test_rollback_and_recover_write_reports(cli: Cli, lab: Lab, docker_client: Any, tmp_path: Path) -> None:
    box = lab.busybox("ticket-rollback", {"AIGW_LOGGING__LEVEL": "info", "API_TOKEN": SECRET})
    playbook = tmp_path / "flag.yml"
    playbook.write_text(f"name: flag\ndescription: one env var\nselect:\n  name: {box['name']}\n"
                        "changes:\n  - env:\n      FLAG: '1'\n")
    code, out = cli("apply", str(playbook), "--yes", "--timeout", "20")
    assert code == 0, out
    preview, done = tmp_path / "preview.md", tmp_path / "rollback.md"

    code, out = cli("rollback", box["name"], "--dry-run", "--report", str(preview))

    assert code == 0, out
    assert f"report written to {preview}" in out
    assert f"## Rollback of {box['name']} on local: previewed" in _private(preview)
    code, out = cli("rollback", box["name"], "--yes", "--timeout", "20", "--report", str(done))
    assert code == 0, out
    assert f"report written to {done}" in out
    md = _private(done)
    _where(md, docker_client)
    assert f"## Rollback of {box['name']} on local: restored" in md and "- put back: `" in md
    assert "- --env FLAG=1" in md and "## Left to do by hand\n\nNothing." in md
    assert "FLAG=1" not in " ".join(docker_client.api.inspect_container(box["name"])["Config"]["Env"])

    recovered = tmp_path / "recover.json"
    code, out = cli("recover", "--report", str(recovered))
    assert code == 0, out
    assert f"report written to {recovered}" in out
    data = json.loads(_private(recovered))
    jsonschema.validate(data, schema("report"))
    assert data["command"] == "recover" and data["recover"] == [] and data["left"] == []
    assert data["environment"][0]["host"] == "local" and data["environment"][0]["os"]
    assert SECRET not in md and SECRET not in preview.read_text()
