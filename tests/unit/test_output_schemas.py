"""The JSON Schemas shipped in remediate/output/schemas: valid schemas, one per output, and the
outputs that need no engine (list, show, hosts) validated against theirs. The engine's outputs
(apply, diagnose, history, backups, rollback) are validated in tests/integration/test_ci_outputs.py."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from remediate.core.playbook import builtin_playbooks
from remediate.output.formats import FORMAT_VERSION, OUTPUTS, schema
from tests.conftest import Cli


def test_one_valid_schema_per_output() -> None:
    shipped = {p.name.removesuffix(".json") for p in resources.files("remediate.output").joinpath("schemas").iterdir()}

    assert shipped == set(OUTPUTS)
    for name in OUTPUTS:
        jsonschema.Draft202012Validator.check_schema(schema(name))
    with pytest.raises(KeyError):
        schema("../formats")


def _valid(out: str, kind: str) -> list[dict[str, object]]:
    data = json.loads(out)
    jsonschema.validate(data, schema(kind))
    rows = data if isinstance(data, list) else [data]
    assert rows and all(row["format_version"] == FORMAT_VERSION for row in rows)
    return rows


def test_list_and_show(cli: Cli) -> None:
    code, out = cli("list", "--format", "json")

    assert code == 0
    assert len(_valid(out, "list")) == len(builtin_playbooks())
    for path in builtin_playbooks():
        code, out = cli("show", path.stem, "--format", "json")
        assert code == 0
        assert _valid(out, "show")[0]["name"] == path.stem


def test_hosts(cli: Cli, tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("[gpu]\ngpu-01 ansible_host=10.0.0.5 ansible_user=ops\nlocalhost ansible_connection=local\n")

    code, out = cli("hosts", "-i", str(inventory), "--format", "json")

    assert code == 0, out
    assert [row["connection"] for row in _valid(out, "hosts")] == ["ssh", "local"]


def test_a_schema_refuses_an_output_without_its_version(cli: Cli) -> None:
    row = json.loads(cli("list", "--format", "json")[1])[0]
    del row["format_version"]

    with pytest.raises(jsonschema.ValidationError, match="format_version"):
        jsonschema.validate([row], schema("list"))
