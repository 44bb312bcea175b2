"""Bounds on input: each absurd playbook, vars file, -e value, inventory or saved plan is one
line on stderr and exit 2, before any host is contacted (pure: no engine is needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from remediate.cli.main import main
from remediate.core import limits

pytestmark = pytest.mark.timeout(30)

NOWHERE = "unix:///nonexistent/sbx-docker.sock"  # planning would need it: nothing gets that far
HEAD = "name: sbx\ndescription: d\nsafety: auto\nselect: {image: 'x*'}\nchanges:\n  - env: {A: '1'}\n"


def short(value: object) -> str:
    """A readable test id for a case holding a huge input."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:30]}...({len(text)} chars)"


def laughs(width: int, levels: int) -> str:
    """A billion-laughs document under ``vars``: ``width ** levels`` values once expanded."""
    lines = ["vars:", f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


#: Deep nesting is refused by remediate's own bound or, first, by the YAML parser (PyYAML 6.0.4
#: has a bound of its own): either way one line naming the file, exit 2, whatever its wording.
TOO_DEEP = ""


def one_line_error(*args: str) -> str:
    """Run the CLI; it must exit 2 with exactly one line on stderr, which is returned."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    lines = result.stderr.splitlines()
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    return lines[0]


@pytest.mark.parametrize(("doc", "why"), [
    (laughs(10, 9), "more than 100000 values once aliases are expanded"),
    ("vars: &a {x: *a}\n", "an alias refers to a node that contains it"),
    ("vars: {x: " + "[" * 100_000 + "]" * 100_000 + "}\n", TOO_DEEP),
    ("vars:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(70)), TOO_DEEP),
    ("vars: {x: " + "9" * 5000 + "}\n", "an integer has more than 100 digits"),
    ("vars: {x: 0x" + "f" * 200 + "}\n", "an integer has more than 100 digits"),
    ("vars: {x: " + "a" * (limits.MAX_VALUE_CHARS + 1) + "}\n", "characters (at most 1 MiB)"),
    ("vars: {x: " + "a" * (5 * 1024 * 1024) + "}\n", "more than the 4 MiB accepted"),
    ("vars: {" + ", ".join(f"k{i}: {i}" for i in range(60_000)) + "}\n", "more than 100000 values"),
], ids=short)
def test_an_absurd_playbook_is_one_line(tmp_path: Path, doc: str, why: str) -> None:
    path = tmp_path / "p.yml"
    path.write_text(HEAD + doc)
    for args in (["show", str(path)], ["apply", str(path), "--dry-run", "-H", NOWHERE]):
        line = one_line_error(*args)
        assert line.startswith(f"remediate: {path}:") and why in line, line


def test_within_the_bounds_a_playbook_loads(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    nested = "[" * 60 + "]" * 60
    path.write_text(HEAD + laughs(10, 4) + f"  deep: {nested}\n  big: {'9' * 100}\n  long: {'a' * 100_000}\n")
    result = CliRunner().invoke(main, ["show", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def test_too_many_changes(tmp_path: Path) -> None:
    path = tmp_path / "p.yml"
    path.write_text(HEAD + "".join("  - env: {A: '1'}\n" for _ in range(101)))
    assert "changes: List should have at most 100 items" in one_line_error("show", str(path))


@pytest.mark.parametrize(("doc", "why"), [
    (laughs(10, 9).replace("vars:\n", "").replace("  ", ""), "once aliases are expanded"),
    ("x: " + "[" * 10_000 + "]" * 10_000 + "\n", TOO_DEEP),
    ("x: " + "1" * 5000 + "\n", "more than 100 digits"),
    ("x: " + "a" * (2 * 1024 * 1024) + "\n", "at most 1 MiB"),
], ids=short)
def test_an_absurd_vars_file_is_one_line(tmp_path: Path, doc: str, why: str) -> None:
    vars_file = tmp_path / "v.yml"
    vars_file.write_text(doc)
    line = one_line_error("apply", "fix-vllm-404", "--dry-run", "-H", NOWHERE, "-e", f"@{vars_file}")
    assert line.startswith(f"remediate: -e @{vars_file}: ") and why in line, line


def test_an_absurd_extra_var_is_one_line() -> None:
    line = one_line_error("apply", "fix-vllm-404", "--dry-run", "-H", NOWHERE,
                          "-e", "served_model_name=" + "m" * (limits.MAX_VALUE_CHARS + 1))
    assert line.startswith("remediate: -e served_model_name: a value of ")


@pytest.mark.parametrize(("name", "text", "why"), [
    ("inv.ini", "h[1:99999999]\n", "host range [1:99999999] has more than 10000 hosts"),
    ("inv.ini", "h[1:1000][1:1000]\n", "expands to more than 10000 hosts"),
    ("inv.ini", "h[1:" + "9" * 5000 + "]\n", "bounds of more than 9 digits"),
    ("inv.ini", "h[1:9:" + "9" * 5000 + "]\n", "step must be a positive integer"),
    ("inv.ini", "".join(f"h{i}-[1:5000]\n" for i in range(3)), "more than 10000 hosts"),
    ("inv.ini", "h x=" + "[" * 5000 + "]" * 5000 + "\n", None),  # kept as a string, as Ansible does
    ("inv.ini", "h x=" + "a" * (2 * 1024 * 1024) + "\n", "line of 2097156 characters (at most 65536)"),
    ("inv.yml", "all:\n  hosts:\n    h[1:99999999]:\n", "has more than 10000 hosts"),
    ("inv.yml", laughs(10, 9).replace("vars:", "all:\n  vars:").replace("  l", "    l"), "once aliases are expanded"),
    ("inv.yml", "all: " + "[" * 10_000 + "]" * 10_000 + "\n", TOO_DEEP),
    ("inv", "all:\n  vars: {x: " + "9" * 5000 + "}\n", "more than 100 digits"),
], ids=short)
def test_an_absurd_inventory_is_one_line(tmp_path: Path, name: str, text: str, why: str | None) -> None:
    path = tmp_path / name
    path.write_text(text)
    if why is None:
        result = CliRunner().invoke(main, ["hosts", "-i", str(path)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return
    for args in (["hosts", "-i", str(path)], ["apply", "fix-vllm-404", "--dry-run", "-i", str(path)]):
        line = one_line_error(*args)
        assert line.startswith(f"remediate: {path}") and why in line, line


def test_the_largest_range_accepted(tmp_path: Path) -> None:
    path = tmp_path / "inv.ini"
    path.write_text("h[00001:10000] ansible_connection=local\n")
    result = CliRunner().invoke(main, ["hosts", "-i", str(path), "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 0 and len(json.loads(result.stdout)) == 10_000


@pytest.mark.parametrize(("text", "why"), [
    ("[" * 100_000 + "]" * 100_000, "nested more than 64 levels deep"),
    ('{"a": ' + "1" * 5000 + "}", "more than 100 digits"),
    ('{"a": "' + "x" * (2 * 1024 * 1024) + '"}', "at most 1 MiB"),
    (json.dumps({"a": [[0] * 1000] * 200}), "more than 100000 items"),
], ids=short)
def test_an_absurd_saved_plan_is_one_line(tmp_path: Path, text: str, why: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(text)
    line = one_line_error("apply", "--plan", str(path), "--dry-run", "-H", NOWHERE)
    assert line.startswith(f"remediate: {path}: ") and why in line, line


def test_json_brackets_inside_strings_are_not_nesting() -> None:
    assert limits.load_json(json.dumps({"a": "[" * 1000})) == {"a": "[" * 1000}


def test_the_yaml_loader_builds_what_safe_load_builds() -> None:
    text = "a: &x {b: [1, 2.5, true, null, '3', 2024-01-02]}\nc: *x\nd: !!binary aGk=\n<<: {e: 1}\n"
    assert limits.load_yaml(text) == yaml.safe_load(text)
    assert limits.load_yaml("") is None
