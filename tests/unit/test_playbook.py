"""Playbook schema, loading errors, variables and rendering: pure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from remediate.core.playbook import (
    builtin_playbooks,
    load_playbook,
    parse_extra_vars,
    playbook_dir,
    resolve_vars,
)
from remediate.core.templating import render_value
from remediate.errors import PlaybookError


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "p.yml"
    path.write_text(text)
    return str(path)


BASE = "name: p\ndescription: d\nselect: {image: 'x*'}\n"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("changes:\n  - env: {A: [1]}\n", "changes[0].env: value must be a string or null"),
        ("changes:\n  - envv: {A: '1'}\n", "changes[0]: must be a mapping with exactly one of: env, args"),
        ("changes:\n  - env: {A: '1'}\n    network: host\n", "changes[0]: must be a mapping with exactly one of"),
        ("changes:\n  - args: {set: {served-model-name: x}}\n", "changes[0].args.set: 'served-model-name' is not a flag"),
        ("changes:\n  - file: {dest: /x}\n", "changes[0].file: Value error, give exactly one of template or content"
         .replace("Value error, ", "")),
        ("changes:\n  - file: {dest: relative, content: x}\n", "changes[0].file.dest: dest must be an absolute path"),
        ("changes: []\n", "changes: List should have at least 1 item"),
        ("changes:\n  - env: {A: '1'}\nverify:\n  - tcp: {port: 1}\n", "verify[0]: must be a mapping with exactly one of: http"),
        ("changes:\n  - env: {A: '1'}\nsafety: maybe\n", "safety: Input should be 'auto' or 'confirm'"),
        ("changes:\n  - env: {A: '1'}\nextra: 1\n", "extra: Extra inputs are not permitted"),
    ],
)
def test_invalid_playbooks_name_file_field_and_reason(tmp_path: Path, body: str, message: str) -> None:
    path = write(tmp_path, BASE + body)
    with pytest.raises(PlaybookError) as err:
        load_playbook(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_yaml_errors_carry_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, BASE + "changes:\n  - env: {A: '1'\n")
    with pytest.raises(PlaybookError, match=rf"^{path}:\d+: "):
        load_playbook(path)


def test_yaml_booleans_become_lowercase_strings(tmp_path: Path) -> None:
    book = load_playbook(write(tmp_path, BASE + "changes:\n  - env: {A: true, B: 5, C: null}\n"))
    assert book.changes[0].env == {"A": "true", "B": "5", "C": None}  # type: ignore[union-attr]


def test_every_builtin_loads() -> None:
    names = [p.stem for p in builtin_playbooks()]
    assert "fix-vllm-404" in names
    for name in names:
        assert load_playbook(name).name == name


def test_playbook_dir_is_a_files_directory_and_none_for_a_builtin(tmp_path: Path) -> None:
    path = Path(write(tmp_path, "name: x\n"))
    assert playbook_dir(str(path)) == tmp_path
    assert playbook_dir("fix-vllm-404") is None
    with pytest.raises(PlaybookError, match="no such playbook"):
        playbook_dir(str(tmp_path / "missing.yml"))


def test_unknown_playbook_lists_the_builtins() -> None:
    with pytest.raises(PlaybookError, match="no such playbook .*fix-vllm-404"):
        load_playbook("fix-nothing")


def test_extra_vars_forms(tmp_path: Path) -> None:
    vars_file = tmp_path / "v.yml"
    vars_file.write_text("a: 1\nb: two\n")
    assert parse_extra_vars(["x=1", "y=a=b", f"@{vars_file}", "b=three"]) == {"x": "1", "y": "a=b", "a": 1, "b": "three"}
    for bad in ("novalue", "=x", "bad key=1"):
        with pytest.raises(PlaybookError, match="expected key=value"):
            parse_extra_vars([bad])


def test_undeclared_override_names_the_declared_vars() -> None:
    book = load_playbook("fix-vllm-404")
    with pytest.raises(PlaybookError, match=r"unknown variable nope \(declared vars: served_model_name, "):
        resolve_vars(book, {"nope": "1"})
    assert resolve_vars(book, {"served_model_name": "x"})["served_model_name"] == "x"


def test_rendering_is_strict() -> None:
    assert render_value({"a": ["{{ x }}-y"]}, {"x": "1"}, playbook="p", field="w") == {"a": ["1-y"]}
    with pytest.raises(PlaybookError, match=r"^p: w: 'missing' is undefined \(template '\{\{ missing \}\}'\)$"):
        render_value("{{ missing }}", {}, playbook="p", field="w")


@pytest.mark.parametrize("name", [p.stem for p in builtin_playbooks()])
def test_show_prints_selectors_vars_changes_and_verify(name: str) -> None:
    from click.testing import CliRunner

    from remediate.cli.main import main

    result = CliRunner().invoke(main, ["show", name])
    book = load_playbook(name)

    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{name}  (safety: {book.safety})")
    for var in book.vars:
        assert f"  {var} = " in result.output
    assert "changes:" in result.output and "verify" in result.output
    if book.revert_after is not None:
        assert "revert_after:" in result.output
    if book.require:
        assert "require:" in result.output


def test_list_is_a_table_one_line_per_playbook() -> None:
    from click.testing import CliRunner

    from remediate.cli.main import main

    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0
    header, *rows = result.output.splitlines()
    assert header.split() == ["NAME", "SAFETY", "DESCRIPTION"]
    assert [line.split()[0] for line in rows] == [p.stem for p in builtin_playbooks()]
    assert {line.index(line.split()[1]) for line in rows} == {header.index("SAFETY")}  # aligned


def test_list_and_show_as_json() -> None:
    from click.testing import CliRunner

    from remediate.cli.main import main

    listed = CliRunner().invoke(main, ["list", "--format", "json"])
    assert listed.exit_code == 0
    rows = json.loads(listed.output)
    assert [row["name"] for row in rows] == [p.stem for p in builtin_playbooks()]
    assert {row["safety"] for row in rows} <= {"auto", "confirm"}
    [boxed] = [row for row in rows if row["time_boxed"]]
    assert boxed["name"] == "troubleshoot-mode" and "duration" in boxed["vars"]

    shown = CliRunner().invoke(main, ["show", "fix-vllm-404", "--format", "json"])
    assert shown.exit_code == 0
    book = json.loads(shown.output)
    assert book["name"] == "fix-vllm-404" and book["vars"]["served_model_name"] == "mistral"
    assert book["select"][0] == {"image": "vllm/vllm-openai*"}
    assert next(c["args"]["set"] for c in book["changes"] if "args" in c)["--served-model-name"] \
        == "{{ served_model_name }}"


def test_show_masks_secrets_in_vars_and_changes_but_not_ordinary_values(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from remediate.cli.main import main

    book = tmp_path / "with-a-secret.yml"
    book.write_text("name: with-a-secret\ndescription: sets a token\nsafety: auto\n"
                    "vars: {api_token: tok-live-5f3c9a1b7e, region: eu-west-1}\n"
                    "select: {name: gw}\nchanges:\n"
                    "  - env: {AIGW_GITLAB_API_TOKEN: glpat-abcdefghijklmnop1234, LOG_LEVEL: debug}\n")
    for fmt in ("text", "json"):
        result = CliRunner().invoke(main, ["show", str(book), "--format", fmt])
        assert result.exit_code == 0, result.output
        assert "tok-live-5f3c9a1b7e" not in result.output and "glpat-abcdefghijklmnop1234" not in result.output
        assert "eu-west-1" in result.output and "debug" in result.output and "AIGW_GITLAB_API_TOKEN" in result.output
