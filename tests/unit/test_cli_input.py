"""Bad command-line input exits 2 with one clear line, before any engine is needed (pure).

The CLI runs in-process (click's CliRunner); none of these inputs reaches a Docker engine.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["apply", "no-such-playbook", "--dry-run"], "no such playbook"),
        (["apply", "fix-vllm-404", "--dry-run", "-e", "not_declared=1"], "declared vars: served_model_name"),
        (["apply", "fix-vllm-404", "--dry-run", "-e", "novalue"], "expected key=value"),
        (["apply", "fix-vllm-404", "--dry-run", "-e", "@/nonexistent/vars.yml"], "cannot read vars file"),
        (["apply", "fix-vllm-404", "--dry-run", "-H", "ssh://root@gpu:notaport"], "Port could not be cast"),
        (["apply", "fix-vllm-404", "--dry-run", "-H", "ssh://"], "no host name"),
        (["apply", "fix-vllm-404", "--dry-run", "-H", "ftp://gpu"], "unsupported"),
        (["apply", "fix-vllm-404", "--dry-run", "-i", "/nonexistent/inventory.ini"], "cannot read inventory"),
        (["apply", "fix-vllm-404", "--dry-run", "--limit", "gpu"], "--limit needs -i"),
        (["apply", "fix-vllm-404", "--dry-run", "--out", "/nonexistent/plan.json"], "cannot write there"),
        (["apply", "fix-vllm-404", "--dry-run", "--report", "/nonexistent/r.md"], "cannot write there"),
        (["apply", "--plan", "/nonexistent/plan.json", "--yes"], "does not exist"),
        (["apply", "fix-vllm-404", "--bogus"], "No such option '--bogus'"),
        (["diagnose", "--error", "A7"], "unknown Duo Chat error code 'A7' (known: A1000"),
        (["no-such-command"], "No such command"),
    ],
)
def test_bad_input_exits_2_with_one_line(cli: Cli, args: list[str], message: str) -> None:
    code, out = cli(*args)

    assert code == 2
    assert message in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_unreadable_files_exit_2_with_one_line(cli: Cli, tmp_path: Path) -> None:
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe")
    not_a_plan = tmp_path / "plan.json"
    not_a_plan.write_text('{"format": "remediate-plan/1", "playbook": "fix-vllm-404"}')

    for args, message in [
        (["apply", str(binary), "--dry-run"], "not UTF-8 text"),
        (["apply", "fix-vllm-404", "--dry-run", "-e", f"@{binary}"], "not a YAML vars file"),
        (["apply", "--plan", str(binary), "--yes"], "not a readable saved plan"),
        (["apply", "--plan", str(not_a_plan), "--yes"], "not a remediate saved plan"),
        (["hosts", "-i", str(binary)], "not UTF-8 text"),
    ]:
        code, out = cli(*args)

        assert code == 2 and message in out and len(out.strip().splitlines()) == 1, (args, out)


def test_invalid_playbook_names_file_field_and_reason(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "my.yml"
    bad.write_text("name: my\ndescription: d\nselect: {image: x}\nchanges:\n  - env: {A: '1'}\n  - env: {B: [1]}\n")
    broken = tmp_path / "broken.yml"
    broken.write_text("name: [unclosed\n")

    assert cli("apply", str(bad), "--dry-run") == (2, f"remediate: {bad}: changes[1].env: value must be a string or null\n")
    code, out = cli("apply", str(broken), "--dry-run")
    assert code == 2 and out.startswith(f"remediate: {broken}:2:") and "Traceback" not in out
