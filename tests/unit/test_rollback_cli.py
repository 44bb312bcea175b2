"""`remediate rollback` refuses bad input before any engine is needed (in-process, pure)."""

from __future__ import annotations

import pytest

from tests.conftest import Cli


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["rollback", "vllm", "--steps", "2", "--to", "vllm-remediate-backup-1", "--yes"], "exclude each other"),
        (["rollback", "vllm", "--steps", "0", "--yes"], "0 is not in the range x>=1"),
        (["rollback", "vllm"], "needs a terminal to ask; pass --yes"),  # CliRunner's stdin is no terminal
    ],
)
def test_bad_rollback_input_exits_2_with_one_line(cli: Cli, args: list[str], message: str) -> None:
    code, out = cli(*args)

    assert code == 2, out
    assert message in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1
