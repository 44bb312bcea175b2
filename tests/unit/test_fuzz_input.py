"""Fuzzing the input paths with hypothesis: hostile or absurd playbooks, ``-e`` values, vars
files and inventories (pure: no engine).

The CLI runs in-process (click's CliRunner) with ``show``, ``hosts`` and ``apply --dry-run``
against a socket that does not exist, so nothing past input handling can happen; rendering is
fuzzed through the pure planner against captured inspect data. Every case must end with the
exit code its strategy predicts (2, or 0 for inputs that are valid), exactly one stderr line on
exit 2, no traceback, and no file created by a payload. Examples are derandomized (the same in
every run) and each one has a 5 s deadline as a hang detector.
"""

from __future__ import annotations

import json
import string
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from remediate.cli.main import main
from remediate.core import limits, planner
from remediate.core import playbook as pb
from remediate.errors import PlanError, PlaybookError
from tests import payloads
from tests.unit.test_templating import FIELDS, HEAD, playbook_text

DATA = Path(__file__).parent / "catalog_data"
NOWHERE = "unix:///nonexistent/sbx-docker.sock"
pytestmark = pytest.mark.timeout(120)


def fuzz(examples: int) -> Any:
    """Hypothesis settings of this suite: reproducible, no example database, 5 s per example."""
    return settings(max_examples=examples, deadline=5000, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)  # no lone surrogates: not UTF-8
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | TEXT
STRUCTURES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=5)
                          | st.dictionaries(TEXT, inner, max_size=5), max_leaves=25)


@contextmanager
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="sbx-fuzz-") as name:
        yield Path(name)


def run(*args: str, expect: set[int] | int) -> str:
    """Run the CLI in-process; check the exit code, one stderr line on 2, no traceback, no payload ran."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    expected = {expect} if isinstance(expect, int) else expect
    assert result.exit_code in expected, (result.exit_code, result.output[-2000:])
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        # One error line; warnings about what was skipped on the way may stand before it.
        errors = [line for line in result.stderr.splitlines() if not line.startswith("remediate: warning:")]
        assert len(errors) == 1, result.stderr[-2000:]
    assert not payloads.pwned(), payloads.pwned()
    return result.stderr


def observed(name: str) -> planner.Observed:
    data = json.loads((DATA / f"{name}.json").read_text())
    return planner.Observed(data["container"], data["image"])


VLLM, AIGW = observed("vllm"), observed("aigw")


def plan_or_refuse(book: pb.Playbook, overrides: dict[str, Any], obs: planner.Observed) -> str | None:
    """Plan like a dry run; None when it plans, else the one-line error (PlaybookError or PlanError)."""
    try:
        vars = pb.resolve_vars(book, overrides)
        paths = planner.host_paths_needed(book, vars, [obs])
        planner.plan(book, vars, [obs], host_paths={p: planner.HostPath(False) for p in paths})
    except (PlaybookError, PlanError) as exc:
        assert "\n" not in str(exc)
        return str(exc)
    return None


# --------------------------------------------------------------------------- templates


@fuzz(150)
@given(payload=st.sampled_from(payloads.ALL), field=st.sampled_from(sorted(FIELDS)))
def test_a_payload_in_any_field_is_refused_and_runs_nothing(payload: str, field: str) -> None:
    marker = payloads.pwned_path()
    with workdir() as tmp:
        path = tmp / "p.yml"
        path.write_text(playbook_text(field, payloads.fill(payload, marker)))
        run("show", str(path), expect={0, 2})  # loading compiles only `require`
        try:
            book = pb.load_playbook(str(path))
        except PlaybookError as exc:
            assert "\n" not in str(exc)
        else:
            assert plan_or_refuse(book, {}, VLLM) is not None
    assert not Path(marker).exists()


CATALOG = [p.stem for p in pb.builtin_playbooks()]


@fuzz(120)
@given(name=st.sampled_from(CATALOG), data=st.data())
def test_any_var_values_plan_or_are_one_line(name: str, data: st.DataObject) -> None:
    book = pb.load_playbook(name)
    value = TEXT | st.integers() | st.sampled_from(payloads.ALL) | st.sampled_from(["chat.jinja", "/a:b", "abc", "-1"])
    overrides = data.draw(st.dictionaries(st.sampled_from(sorted(book.vars) or ["none"]), value, max_size=3)
                          if book.vars else st.just({}))
    obs = VLLM if "vllm" in name or "platform" in name else AIGW
    plan_or_refuse(book, {k: payloads.fill(v, payloads.pwned_path()) if isinstance(v, str) else v
                          for k, v in overrides.items()}, obs)
    assert not payloads.pwned()


# --------------------------------------------------------------------------- playbook files


@fuzz(60)
@given(doc=STRUCTURES)
def test_a_random_yaml_document_is_not_a_playbook(doc: Any) -> None:
    with workdir() as tmp:
        path = tmp / "p.yml"
        path.write_text(yaml.safe_dump(doc))
        run("show", str(path), expect=2)
        run("apply", str(path), "--dry-run", "-H", NOWHERE, expect=2)


BASE = {"name": "sbx", "description": "d", "safety": "auto", "vars": {"port": "8000", "p": "/x"},
        "select": {"image": "x*"},
        "changes": [{"env": {"A": "1"}}, {"file": {"dest": "/tmp/sbx-fuzz-never", "content": "x"}}],
        "verify": [{"http": {"port": 8000}}]}
SLOTS = [("name",), ("description",), ("safety",), ("vars",), ("select",), ("changes",), ("changes", 0),
         ("changes", 0, "env"), ("changes", 1, "file", "dest"), ("changes", 1, "file", "mode"), ("verify",),
         ("verify", 0, "http", "port"), ("verify", 0, "http", "status"), ("after",), ("require",),
         ("revert_after",), ("extra",)]


@fuzz(80)
@given(slot=st.sampled_from(SLOTS), value=STRUCTURES)
def test_a_playbook_with_one_field_replaced_loads_or_is_one_line(slot: tuple[Any, ...], value: Any) -> None:
    doc = json.loads(json.dumps(BASE))
    target = doc
    for key in slot[:-1]:
        target = target[key]
    target[slot[-1]] = value
    with workdir() as tmp:
        path = tmp / "p.yml"
        path.write_text(yaml.safe_dump(doc))
        run("show", str(path), expect={0, 2})


def nested(depth: int, block: bool) -> str:
    if block:
        return "vars:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(depth)) + "  " * (depth + 1) + "x: 1\n"
    return "vars: {x: " + "[" * depth + "]" * depth + "}\n"


@fuzz(40)
@given(depth=st.integers(1, 100_000), block=st.booleans())
def test_nesting_beyond_64_is_refused(depth: int, block: bool) -> None:
    assume(not block or depth < 1000)  # block style costs two spaces per level (4 MiB at 2000)
    total = 2 + depth  # the document's mapping, vars, then the nested levels
    with workdir() as tmp:
        path = tmp / "p.yml"
        path.write_text(pb_head() + nested(depth, block))
        stderr = run("show", str(path), expect=0 if total <= limits.MAX_DEPTH else 2)
        # refused by remediate's bound or, first, by the YAML parser's own (PyYAML >= 6.0.4):
        # the behaviour, not the wording, is what counts
        assert not stderr or stderr.startswith(f"remediate: {path}:"), stderr


def pb_head() -> str:
    return "name: sbx\ndescription: d\nselect: {image: 'x*'}\nchanges:\n  - env: {A: '1'}\n"


@fuzz(30)
@given(digits=st.integers(1, 20_000), sign=st.sampled_from(["", "-", "+"]))
def test_integers_beyond_100_digits_are_refused(digits: int, sign: str) -> None:
    with workdir() as tmp:
        path = tmp / "p.yml"
        path.write_text(pb_head() + f"vars: {{x: {sign}{'7' * digits}}}\n")
        run("show", str(path), expect=0 if digits <= limits.MAX_INT_DIGITS else 2)


@fuzz(40)
@given(width=st.integers(1, 12), levels=st.integers(1, 10), where=st.sampled_from(["vars", "select"]))
def test_alias_bombs_are_refused(width: int, levels: int, where: str) -> None:
    expanded = width ** levels
    assume(expanded <= 10_000 or expanded >= 200_000)  # clear of the bound's exact bookkeeping
    lines = [f"  l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    doc = pb_head() + "vars:\n" + "\n".join(lines) + "\n"
    with workdir() as tmp:
        path = tmp / "p.yml"
        path.write_text(doc)
        run("show", str(path), expect=0 if expanded <= 10_000 else 2)


@fuzz(60)
@given(port=st.integers(-100_000, 200_000) | TEXT | st.floats() | st.booleans() | st.none())
def test_a_literal_verify_port_must_be_1_to_65535(port: Any) -> None:
    assume(not (isinstance(port, str) and "{" in port))  # a template: checked once rendered (below)
    ok = (isinstance(port, int) and not isinstance(port, bool) and 1 <= port <= 65535) or (
        isinstance(port, str) and port.strip().isascii() and port.strip().isdigit() and len(port.strip()) <= 5
        and 1 <= int(port.strip()) <= 65535)
    with workdir() as tmp:
        path = tmp / "p.yml"
        path.write_text(HEAD + "changes:\n  - env: {A: '1'}\nverify:\n  - http: {port: " + json.dumps(port) + "}\n")
        run("show", str(path), expect=0 if ok else 2)


@fuzz(60)
@given(port=st.integers(-100_000, 200_000).map(str) | TEXT)
def test_a_rendered_verify_port_must_be_1_to_65535(port: str) -> None:
    book = pb.Playbook.model_validate(yaml.safe_load(
        HEAD.replace("vars: {x: abc}", "vars: {port: '1'}")
        + "changes:\n  - env: {A: '1'}\nverify:\n  - http: {port: '{{ port }}'}\n"))
    text = port.strip()
    ok = text.isascii() and text.isdigit() and len(text) <= 5 and 1 <= int(text) <= 65535
    error = plan_or_refuse(book, {"port": port}, VLLM)
    assert (error is None) == ok, error
    if error:
        assert error.startswith("sbx: verify[0].http.port: port must be a number from 1 to 65535")


@fuzz(60)
@given(path=TEXT)
def test_a_template_host_path_must_be_absolute(path: str) -> None:
    book = pb.load_playbook("fix-vllm-404")
    ok = path.startswith("/") and "\0" not in path and ":" not in path
    error = plan_or_refuse(book, {"template_host_path": path}, VLLM)
    assert (error is None) == ok, error
    if not ok and "\0" not in path:
        run("apply", "fix-vllm-404", "--dry-run", "-H", NOWHERE, "-e", f"template_host_path={path}", expect=2)


# --------------------------------------------------------------------------- -e and vars files


@fuzz(60)
@given(item=TEXT, big=st.booleans())
def test_any_extra_var_is_one_line(item: str, big: bool) -> None:
    assume("\0" not in item)
    if big:
        item = "served_model_name=" + "m" * (limits.MAX_VALUE_CHARS + 1)
    run("apply", "fix-vllm-404", "--dry-run", "-H", NOWHERE, "-e", item, expect=2)


@fuzz(40)
@given(doc=STRUCTURES)
def test_any_vars_file_is_one_line(doc: Any) -> None:
    with workdir() as tmp:
        path = tmp / "v.yml"
        path.write_text(yaml.safe_dump(doc))
        run("apply", "fix-vllm-404", "--dry-run", "-H", NOWHERE, "-e", f"@{path}", expect=2)


# --------------------------------------------------------------------------- inventories


RANGE_BOUND = st.integers(0, 10**6) | st.integers(0, 10**12)


@fuzz(60)
@given(ranges=st.lists(st.tuples(RANGE_BOUND, RANGE_BOUND, st.none() | st.integers(0, 10**4)), min_size=1,
                        max_size=3))
def test_an_inventory_range_expands_to_at_most_10000_hosts(ranges: list[tuple[int, int, int | None]]) -> None:
    name, total, valid = "h", 1, True
    for begin, end, step in ranges:
        name += f"[{begin}:{end}" + (f":{step}" if step is not None else "") + "]-"
        if len(str(begin)) > 9 or len(str(end)) > 9 or begin > end or step == 0:
            valid = False
            continue
        total *= (end - begin) // (step or 1) + 1
    valid = valid and total <= limits.MAX_HOSTS
    with workdir() as tmp:
        path = tmp / "inv.ini"
        path.write_text(f"{name}x ansible_connection=local\n")
        run("hosts", "-i", str(path), "--format", "json", expect=0 if valid else 2)


INI_TEXT = st.text(string.printable + "[]:=", max_size=60)


@fuzz(80)
@given(lines=st.lists(INI_TEXT, max_size=8))
def test_a_random_ini_inventory_is_read_or_one_line(lines: list[str]) -> None:
    with workdir() as tmp:
        path = tmp / "inv.ini"
        path.write_text("\n".join(lines) + "\n")
        run("hosts", "-i", str(path), "--format", "json", expect={0, 2})


@fuzz(60)
@given(doc=STRUCTURES, suffix=st.sampled_from([".yml", ""]))
def test_a_random_yaml_inventory_is_read_or_one_line(doc: Any, suffix: str) -> None:
    with workdir() as tmp:
        path = tmp / f"inv{suffix}"
        path.write_text(yaml.safe_dump(doc))
        run("hosts", "-i", str(path), "--format", "json", expect={0, 2})
