"""`remediate rollback` against the real engine: --steps goes back (never toggles), --to, the
--dry-run preview, the confirm prompt, and the original kept through pruning."""

from __future__ import annotations

import json
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

PREFIX = "rt-rollback-"
MODELS = ("mistral", "codestral", "mixtral", "llama")


@pytest.fixture
def name(docker_client: Any) -> Iterator[str]:
    """A container name for this test (removed afterwards, with its backups)."""
    base = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        yield base
    finally:
        remove_owned(docker_client, base)


@pytest.fixture
def template(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "chat_template.jinja"


def _apply(name: str, template: Path, state_dir: str, model: str, *extra: str) -> None:
    result = run(["apply", "fix-vllm-404", "--container", name, "-e", f"template_host_path={template}",
                  "-e", f"served_model_name={model}", "--yes", *extra], state_dir)
    assert result.code == 0, result.output


def _id(client: Any, name: str) -> str:
    return str(client.api.inspect_container(name)["Id"])


def _backups(name: str, state_dir: str) -> dict[str, str]:
    """Backup name -> short id."""
    rows = json.loads(run(["backups", "--container", name, "--format", "json"], state_dir).stdout)
    return {r["backup"]: r["id"] for r in rows}


def test_steps_2_after_two_applies_puts_the_original_back(name: str, template: Path, docker_client: Any,
                                                          state_dir: str) -> None:
    original = run_vllm(docker_client, name)["Id"]
    _apply(name, template, state_dir, "mistral")
    first = _id(docker_client, name)
    _apply(name, template, state_dir, "codestral")
    second = _id(docker_client, name)
    [original_backup] = [b for b, i in _backups(name, state_dir).items() if i == original[:12]]

    dry = run(["rollback", name, "--steps", "2", "--dry-run"], state_dir)
    preview = run(["rollback", name, "--steps", "2", "--dry-run", "--format", "json"], state_dir)

    assert dry.code == 0 and preview.code == 0, dry.output + preview.output
    assert _id(docker_client, name) == second and template.exists()  # nothing changed
    text = strip_ansi(dry.stdout)
    assert f"put back {original_backup} (2 apply(s) back)" in text and "Dry run: nothing changed." in text
    assert any(line.startswith("  - ") and "--served-model-name codestral" in line for line in text.splitlines())
    [shown] = json.loads(preview.stdout)
    assert shown["backup"] == original_backup and shown["steps"] == 2 and len(shown["between"]) == 1
    assert any(line.startswith("- ") and "codestral" in line for line in shown["diff"])
    assert f"  --name {name}" in shown["diff"] and not any("--name" in line for line in shown["diff"]
                                                          if line[0] in "+-")  # put back under its name
    # As it will be put back: with the restart policy of the container it replaces, not the
    # parked backup's `no` (the preview showed `- --restart unless-stopped`).
    assert "  --restart unless-stopped" in shown["diff"] and not any("--restart" in line for line in shown["diff"]
                                                                     if line[0] in "+-")
    assert [(f["path"], f["removed"]) for f in shown["files"]] == [(str(template), True)]

    rolled = run(["rollback", name, "--steps", "2", "--yes"], state_dir)

    assert rolled.code == 0, rolled.output
    assert f"restored the previous container {original_backup} (2 applies back)" in rolled.stdout
    assert "stay as backups too" in rolled.stdout
    assert _id(docker_client, name) == original and not template.exists()
    assert docker_client.api.inspect_container(name)["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    # Nothing is lost: both applied containers are backups now.
    assert set(_backups(name, state_dir).values()) == {first[:12], second[:12]}


def test_a_second_rollback_goes_further_back_never_forward(name: str, template: Path, docker_client: Any,
                                                           state_dir: str) -> None:
    original = run_vllm(docker_client, name)["Id"]
    _apply(name, template, state_dir, "mistral")
    first = _id(docker_client, name)
    _apply(name, template, state_dir, "codestral")

    refused = run(["rollback", name], state_dir)  # no terminal to ask, no --yes
    assert refused.code == 2 and "pass --yes" in refused.stderr, refused.output

    once = run(["rollback", name, "--yes"], state_dir)
    assert once.code == 0, once.output
    assert _id(docker_client, name) == first
    twice = run(["rollback", name, "--yes", "--format", "json"], state_dir)
    assert twice.code == 0, twice.output
    assert _id(docker_client, name) == original
    [result] = json.loads(twice.stdout)
    assert result["action"] == "restored" and result["restored_id"] == original[:12] and result["steps"] == 1

    third = run(["rollback", name, "--yes"], state_dir)

    assert third.code == 2 and len(third.stderr.strip().splitlines()) == 1, third.output
    assert "only 0 apply(s) to go back" in third.stderr
    assert _id(docker_client, name) == original


def test_to_puts_that_backup_back_and_a_missing_one_is_refused(name: str, template: Path, docker_client: Any,
                                                               state_dir: str) -> None:
    original = run_vllm(docker_client, name)["Id"]
    _apply(name, template, state_dir, "mistral")
    _apply(name, template, state_dir, "codestral")
    second = _id(docker_client, name)
    [original_backup] = [b for b, i in _backups(name, state_dir).items() if i == original[:12]]

    rolled = run(["rollback", name, "--to", original_backup, "--yes"], state_dir)

    assert rolled.code == 0, rolled.output
    assert _id(docker_client, name) == original and not template.exists()
    # Forward again, to the version just undone (its file comes back too).
    [second_backup] = [b for b, i in _backups(name, state_dir).items() if i == second[:12]]
    assert run(["rollback", name, "--to", second_backup, "--yes"], state_dir).code == 0
    assert _id(docker_client, name) == second and template.exists()

    missing = run(["rollback", name, "--to", original_backup + "0", "--yes"], state_dir)

    assert missing.code == 2 and len(missing.stderr.strip().splitlines()) == 1, missing.output
    assert "no longer exists" in missing.stderr
    assert _id(docker_client, name) == second


def test_declining_at_the_prompt_changes_nothing(name: str, template: Path, docker_client: Any,
                                                 state_dir: str) -> None:
    run_vllm(docker_client, name)
    _apply(name, template, state_dir, "mistral")
    applied = _id(docker_client, name)
    child = pexpect.spawn(REMEDIATE, ["rollback", name], env=remediate_env(state_dir, TERM="dumb"),
                          encoding="utf-8", timeout=WAIT, dimensions=(50, 200))

    child.expect(r"Roll back\? \[y/N\]")
    shown = strip_ansi(str(child.before))
    child.sendline("n")
    child.expect(pexpect.EOF)
    rest = strip_ansi(str(child.before))
    child.close()

    assert "put back" in shown and "--served-model-name mistral" in shown
    assert child.exitstatus == 1 and "aborted, nothing changed" in rest
    assert _id(docker_client, name) == applied and template.exists()


def test_the_original_survives_pruning_with_keep_backups_3(name: str, template: Path, docker_client: Any,
                                                                state_dir: str) -> None:
    original = run_vllm(docker_client, name)["Id"]
    for model in MODELS:
        _apply(name, template, state_dir, model, "--keep-backups", "3")
    _apply(name, template, state_dir, "mistral", "--keep-backups", "3")

    ids = list(_backups(name, state_dir).values())

    assert len(ids) == 4 and ids[-1] == original[:12]  # the 3 newest and the original
    pruned = run(["rollback", name, "--steps", "4", "--yes"], state_dir)
    assert pruned.code == 2 and "no longer exists" in pruned.stderr, pruned.output
    assert run(["rollback", name, "--steps", "5", "--yes"], state_dir).code == 0
    assert _id(docker_client, name) == original


def test_a_misspelled_container_is_one_line_with_the_close_name(name: str, docker_client: Any,
                                                                state_dir: str) -> None:
    run_vllm(docker_client, name)
    typo = name[:-1] + ("x" if name[-1] != "x" else "y")

    for args in (["--dry-run"], ["--yes"]):
        result = run(["rollback", typo, *args], state_dir)

        assert result.code == 2, result.output
        assert result.stderr.splitlines() == [f"remediate: local: no container named {typo}; did you mean {name}?"]
