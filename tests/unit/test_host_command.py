"""Programs run on a local Docker host (``Connection.run_command``): no engine contacted."""

from __future__ import annotations

from pathlib import Path

from remediate.host.connection import Connection


def test_a_host_command_talks_to_the_connections_engine_in_the_given_directory(tmp_path: Path) -> None:
    conn = Connection("unix:///run/remediate-test/docker.sock")
    assert conn.run_command(["printenv", "DOCKER_HOST"]) == (0, "unix:///run/remediate-test/docker.sock\n")
    assert conn.run_command(["pwd"], cwd=str(tmp_path)) == (0, f"{tmp_path}\n")
    assert conn.run_command(["sh", "-c", "echo out; echo err >&2; exit 3"]) == (3, "out\n")


def test_a_missing_program_is_127() -> None:
    assert Connection("local").run_command(["remediate-no-such-program"]) == (127, "")
