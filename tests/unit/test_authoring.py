"""The authoring kit: ``remediate lint`` on a corpus of broken playbooks (tests/unit/lint_cases),
``remediate schema`` against the catalog, ``remediate new`` and its skeleton."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from remediate.core.lint import RULES, lint
from remediate.core.playbook import builtin_playbooks
from remediate.output.formats import FORMAT_VERSION, schema
from tests.conftest import Cli

CASES = Path(__file__).parent / "lint_cases"


def _found(name: str) -> list[str]:
    return [str(f).removeprefix(str(CASES / name)) for f in lint(CASES / name)]


def test_every_error_of_a_file_is_reported_with_its_location() -> None:
    assert _found("two-errors.yml") == [
        ":7:15: error: changes[0].mount.source: source must be an absolute path, not 'relative/path'",
        ":11:13: error: verify[0].http.port: port must be a number from 1 to 65535, not '70000'",
    ]


def test_many_schema_errors_in_one_file() -> None:
    assert _found("many-errors.yml") == [
        ":1:7: error: name: String should match pattern '^[a-z0-9][a-z0-9-]*$'",
        ":3:9: error: safety: Input should be 'auto' or 'confirm'",
        ":5:3: error: select.imag: Extra inputs are not permitted",
        ":7:5: error: changes[0]: must be a mapping with exactly one of: env, args, network, platform, mount, file, ports, tmpfs, ipc, shm_size, image, gpus, restart, resources",
        ":9:5: error: changes[1]: must be a mapping with exactly one of: env, args, network, platform, mount, file, ports, tmpfs, ipc, shm_size, image, gpus, restart, resources",
        ":11:7: error: changes[2].file: give exactly one of template or content",
        ":13:12: error: changes[3].args.set: 'port' is not a flag (must start with -)",
        ":16:13: error: verify[0].http.port: port must be a number from 1 to 65535, not 'abc'",
        ":17:15: error: verify[0].http.status: Input should be less than or equal to 599",
        ":18:15: error: revert_after: 'soon' is not a duration (seconds, or a number with s/m/h)",
        ":20:11: error: require[0].that: not a jinja2 expression: unexpected '='",
    ]


def test_a_select_list_reports_its_own_errors_only(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text("name: p\ndescription: d\nselect:\n  - image: a\n  - imag: b\nchanges:\n  - network: host\n"
                    "verify:\n  - http: {port: 80}\n")

    assert [str(f) for f in lint(path)] == [f"{path}:5:5: error: select[1].imag: Extra inputs are not permitted"]


def test_warnings_each_with_its_rule() -> None:
    assert _found("warnings.yml") == [
        (":1:1: warning: verify: no verify step: only 'the container keeps running' is checked after the change"
        " [no-verify]"),
        (":3:9: warning: safety: safety: auto applies a network change (changes[0]) without asking; "
        "use safety: confirm [risky-auto]"),
        ":5:3: warning: vars.unused: var 'unused' is declared but no template uses it [unused-var]",
        (":12:15: warning: changes[1].mount.source: with the default vars: source must be an absolute path, "
        "not 'relative' [default-vars]"),
        (":14:14: warning: changes[2].env: with the default vars: 'not_declared' is undefined "
        "(template '{{ not_declared }}') [default-vars]"),
        ":15:5: warning: changes[3]: changes[3] overrides changes[2] (env A) [override]",
        ":16:8: warning: after: with the default vars: 'nope' is undefined (template '{{ nope }}') [default-vars]",
    ]


def test_other_errors() -> None:
    assert _found("not-yaml.yml") == [":3:1: error: did not find expected ',' or ']'"]
    assert _found("missing-template.yml") == [
        ":8:17: error: changes[0].file.template: template 'no-such-template.conf' not found under templates/"]


def test_a_comment_turns_warnings_off(tmp_path: Path) -> None:
    assert _found("disabled.yml") == []
    text = (CASES / "disabled.yml").read_text().replace("unused-var", "unused-vars")
    (tmp_path / "d.yml").write_text(text)

    assert [str(f).removeprefix(str(tmp_path)) for f in lint(tmp_path / "d.yml")] == [
        f"/d.yml:1:27: warning: remediate-lint: no rule 'unused-vars' (rules: {', '.join(RULES)})",
        "/d.yml:5:3: warning: vars.unused: var 'unused' is declared but no template uses it [unused-var]"]


def test_the_shipped_catalog_lints_clean() -> None:
    books = builtin_playbooks()

    assert len(books) >= 9
    assert {str(p): [str(f) for f in lint(p)] for p in books} == {str(p): [] for p in books}


def test_lint_cli_exit_codes_and_json(cli: Cli) -> None:
    code, out = cli("lint", str(CASES / "two-errors.yml"), str(CASES / "warnings.yml"))
    assert code == 2
    assert "two-errors.yml:11:13: error: verify[0].http.port" in out
    assert "2 file(s): 2 error(s), 7 warning(s)" in out

    assert cli("lint", str(CASES / "warnings.yml"))[0] == 0  # warnings pass...
    assert cli("lint", "--strict", str(CASES / "warnings.yml"))[0] == 2  # ...unless --strict
    assert cli("lint", "fix-vllm-404") == (0, "1 file(s): 0 error(s), 0 warning(s)\n")
    assert cli("lint", "no/such.yml")[0] == 2

    code, out = cli("lint", "--format", "json", str(CASES / "two-errors.yml"))
    data = json.loads(out)
    jsonschema.validate(data, schema("lint"))
    assert (code, data["format_version"], data["errors"]) == (2, FORMAT_VERSION, 2)
    assert data["findings"][1] == {"path": str(CASES / "two-errors.yml"), "line": 11, "column": 13,
                                   "severity": "error", "field": "verify[0].http.port", "rule": None,
                                   "message": "port must be a number from 1 to 65535, not '70000'"}


def test_schema_validates_the_catalog_and_refuses_broken_playbooks(cli: Cli) -> None:
    code, out = cli("schema")
    playbook_schema = json.loads(out)
    validator = jsonschema.Draft202012Validator(playbook_schema)
    validator.check_schema(playbook_schema)

    assert code == 0
    for path in builtin_playbooks():
        assert list(validator.iter_errors(yaml.safe_load(path.read_text()))) == [], path
    broken = yaml.safe_load((CASES / "many-errors.yml").read_text())
    assert {e.absolute_path[0] for e in validator.iter_errors(broken)} >= {"name", "safety", "select", "changes"}


def test_new_writes_a_skeleton_that_lints_clean(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    assert cli("new", "my-fix") == (0, "wrote my-fix.yml; check it with: remediate lint my-fix.yml\n")
    assert lint(tmp_path / "my-fix.yml") == []
    assert cli("lint", "my-fix.yml")[0] == 0
    text = (tmp_path / "my-fix.yml").read_text()
    assert "name: my-fix\n" in text
    assert "# yaml-language-server: $schema=playbook.schema.json" in text

    (tmp_path / "my-fix.yml").write_text("mine")
    assert cli("new", "my-fix") == (2, "remediate: my-fix.yml exists; not overwritten\n")
    assert (tmp_path / "my-fix.yml").read_text() == "mine"
    code, out = cli("new", "My_Fix")
    assert code == 2
    assert "'My_Fix' is not a playbook name" in out
    assert not (tmp_path / "My_Fix.yml").exists()
