"""CI on the real engine: ``--detailed-exitcode`` both ways (apply --dry-run, diagnose), and the
``--format json`` outputs of real runs validated against the schemas shipped in the package."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from remediate.output.formats import FORMAT_VERSION, schema
from tests.conftest import Cli, remove_owned
from tests.integration.rtcat import Lab
from tests.integration.test_diagnose import _healthy

pytestmark = pytest.mark.integration


@pytest.fixture
def owned_lab(lab: Lab, docker_client: Any) -> Iterator[Lab]:
    """The lab, and afterwards every container of this run that carries this process's owner label
    (remediate's backups of them too)."""
    try:
        yield lab
    finally:
        remove_owned(docker_client, lab.run)


def _valid(output: str, kind: str) -> Any:
    data = json.loads(output)
    jsonschema.validate(data, schema(kind))
    rows = data if isinstance(data, list) else [data]
    assert all(row["format_version"] == FORMAT_VERSION for row in rows)
    return data


def test_apply_dry_run_detailed_exitcode_and_the_json_of_every_step(cli: Cli, owned_lab: Lab, tmp_path: Path) -> None:
    gw = owned_lab.gateway("ci-gate", {"AIGW_AUTH__BYPASS_EXTERNAL": "true"})
    name = gw["name"]
    dry = ("apply", "disable-auth-bypass", "--container", name, "--dry-run", "--format", "json")

    assert cli(*dry)[0] == 0  # without the option: a pending change is still 0
    code, out = cli(*dry, "--detailed-exitcode")
    assert code == 2, out  # a change pending
    assert _valid(out, "apply")["changed"] == 1

    report = tmp_path / "report.json"
    code, out = cli("apply", "disable-auth-bypass", "--container", name, "--yes", "--format", "json",
                    "--report", str(report))
    assert code == 0, out
    said = f"report written to {report}\n"  # on stderr (the runner shows both)
    assert out.endswith(said)
    assert _valid(out.removesuffix(said), "apply")["ok"]
    assert _valid(report.read_text(), "report")["summary"] == {"changed": 1}

    code, out = cli(*dry, "--detailed-exitcode")
    assert code == 0, out  # nothing pending
    assert _valid(out, "apply")["changed"] == 0

    history = _valid(cli("history", "--container", name, "--format", "json")[1], "history")
    assert [row["result"] for row in history] == ["recreated"]
    backups = _valid(cli("backups", "--container", name, "--format", "json")[1], "backups")
    assert [row["container"] for row in backups] == [name]
    code, out = cli("rollback", name, "--dry-run", "--format", "json")
    assert code == 0, out
    assert _valid(out, "rollback")[0]["backup"] == backups[0]["backup"]
    code, out = cli("rollback", name, "--yes", "--format", "json")
    assert code == 0, out
    assert _valid(out, "rollback")[0]["action"] == "restored"

    code, out = cli(*dry, "--detailed-exitcode")
    assert code == 2, out  # pending again once rolled back


def test_detailed_exitcode_errors_are_1(cli: Cli, owned_lab: Lab) -> None:
    name = owned_lab.gateway("ci-error", {"AIGW_AUTH__BYPASS_EXTERNAL": "true"})["name"]

    assert cli("apply", "disable-auth-bypass", "--container", name, "--detailed-exitcode")[0] == 1  # not a dry run
    assert cli("apply", "no-such-playbook", "--dry-run", "--detailed-exitcode")[0] == 1
    assert cli("apply", "no-such-playbook", "--dry-run")[0] == 2
    assert cli("apply", "disable-auth-bypass", "--dry-run", "--bogus", "--detailed-exitcode")[0] == 1
    assert cli("apply", "disable-auth-bypass", "--dry-run", "--bogus")[0] == 2
    assert cli("apply", "disable-auth-bypass", "--dry-run", "-H", "tcp://127.0.0.1:1", "--detailed-exitcode")[0] == 1
    assert cli("diagnose", "--fix", "--detailed-exitcode")[0] == 1
    assert cli("diagnose", "-H", "tcp://127.0.0.1:1", "--detailed-exitcode")[0] == 1


def test_diagnose_detailed_exitcode_and_json(cli: Cli, owned_lab: Lab, gitlab_port: int) -> None:
    bad = owned_lab.gateway("ci-diag", {"AIGW_AUTH__BYPASS_EXTERNAL": "true"})["name"]

    code, out = cli("diagnose", "--container", bad, "--format", "json", "--detailed-exitcode")
    assert code == 2, out  # a failing check
    assert not _valid(out, "diagnose")["ok"]
    assert cli("diagnose", "--container", bad)[0] == 1  # without the option, as before

    names = _healthy(owned_lab, gitlab_port)
    args = [a for name in names for a in ("--container", name)]
    code, out = cli("diagnose", *args, "--format", "json", "--detailed-exitcode")
    assert code == 0, out  # every check passes
    assert _valid(out, "diagnose")["ok"]

    code, out = cli("diagnose", "--fix", "--dry-run", "--container", bad, "--format", "json")
    fix = _valid(out, "fix")
    assert fix["summary"] == {"planned": 1}
    assert code == (1 if fix["left"] else 0), out  # 1: something is left to do by hand
