"""How much `remediate apply` says, on the real engine: --quiet (a line per container, no diff,
no progress), -v (every phase and each engine change), -vv (each verify attempt too), and the
live line per container that --parallel draws on a terminal."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import remove_owned
from tests.integration._proc import (
    REMEDIATE,
    WAIT,
    remediate_env,
    run,
    run_vllm,
    strip_ansi,
)

pytestmark = pytest.mark.integration

PREFIX = "rt-levels-"


@pytest.fixture
def vllms(docker_client: Any) -> Iterator[list[str]]:
    """Two broken fake vLLMs (fix-vllm-404 recreates both), removed with their backups afterwards."""
    run_tag = uuid.uuid4().hex[:6]
    names = [f"{PREFIX}{run_tag}-{i}" for i in (1, 2)]
    try:
        for name in names:
            run_vllm(docker_client, name)
        yield names
    finally:
        remove_owned(docker_client, f"{PREFIX}{run_tag}-")


def _apply(names: list[str], template: Path, *more: str) -> list[str]:
    only = [a for name in names for a in ("--container", name)]
    return ["apply", "fix-vllm-404", *only, "-e", f"template_host_path={template}", *more]


def test_quiet_dry_run_says_a_line_per_container(vllms: list[str], tmp_path: Path, state_dir: str) -> None:
    result = run(_apply(vllms, tmp_path / "t.jinja", "--dry-run", "--quiet"), state_dir)

    assert result.code == 0, result.output
    for name in vllms:
        assert f"  {name}: recreate\n" in result.stdout
    assert "docker run" not in result.stdout and "verify:" not in result.stdout
    assert "Dry run: nothing changed." in result.stdout and result.stderr == ""


def test_quiet_apply_prints_the_results_only(vllms: list[str], tmp_path: Path, state_dir: str) -> None:
    result = run(_apply(vllms[:1], tmp_path / "t.jinja", "--yes", "-q"), state_dir)

    assert result.code == 0, result.output
    assert f"✔ {vllms[0]}: recreated" in result.stdout
    assert "docker run" not in result.stdout and not re.search(r"\d\.\ds  ", result.stdout)  # no progress


def test_verbose_shows_every_phase_and_engine_change(vllms: list[str], tmp_path: Path, state_dir: str) -> None:
    name = vllms[0]
    result = run(_apply([name], tmp_path / "t.jinja", "--yes", "-v"), state_dir)

    assert result.code == 0, result.output
    assert re.search(r"^ +\d+\.\ds  connect$", result.stdout, re.MULTILINE), result.stdout  # quiet without -v
    for change in (f"engine: create {name}-remediate-new", "engine: stop ", "engine: rename ", "engine: start "):
        assert change in result.stderr, result.stderr
    assert "engine: inspect" not in result.stderr  # reads are for -vv
    assert not re.search(r"[0-9a-f]{64}", result.stderr)  # ids shortened as docker ps does

    again = run(_apply([vllms[1]], tmp_path / "t.jinja", "--yes", "-vv"), state_dir)

    assert again.code == 0, again.output
    assert re.search(r"^remediate: local: [0-9a-f]{12}: running: attempt 1: ", again.stderr, re.MULTILINE), \
        again.stderr
    assert "engine: inspect" in again.stderr


def test_parallel_on_a_terminal_draws_a_live_line_per_container(vllms: list[str], tmp_path: Path,
                                                                state_dir: str) -> None:
    child = pexpect.spawn(REMEDIATE, _apply(vllms, tmp_path / "t.jinja", "--yes", "--parallel", "2"),
                          env=remediate_env(state_dir, TERM="xterm"), encoding="utf-8", timeout=WAIT,
                          dimensions=(50, 200))
    child.expect(pexpect.EOF)
    out = strip_ansi(str(child.before))
    child.close()

    assert child.exitstatus == 0, out
    for name in vllms:  # a row of its own, its step and the seconds counting
        assert re.search(rf"{re.escape(name)} +verify +\d+\.\ds", out), out
        assert f"✔ {name}: recreated" in out
    assert not re.search(r"^ +\d+\.\ds  \S+: verify", out, re.MULTILINE)  # no plain progress lines
