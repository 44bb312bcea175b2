"""Hostile templates and bad values against a real engine: `remediate apply` refuses them while
planning, in one line with exit 2, before anything changes (also without --dry-run)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import payloads
from tests.conftest import OWNER_LABELS, Cli, remove_owned
from tests.integration import _proc
from tests.integration.rtcat import BUSYBOX

PREFIX = "sbx-sandbox-"


def _state(client: Any) -> dict[str, Any]:
    """What must not change: every container with our prefix, its id, config and start time."""
    return {name: (i["Id"], i["Config"], i["HostConfig"], i["State"]["StartedAt"], i["State"]["Running"])
            for name in sorted(_proc.names_with_prefix(client, PREFIX))
            for i in [client.api.inspect_container(name)]}


@pytest.fixture
def target(docker_client: Any) -> Iterator[str]:
    """A running busybox container that the test playbooks select by name."""
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    docker_client.containers.run(BUSYBOX, ["sleep", "3600"], name=name, detach=True,
                                 restart_policy={"Name": "unless-stopped"}, labels=OWNER_LABELS)
    try:
        yield name
    finally:
        remove_owned(docker_client, PREFIX)


def _playbook(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / "sbx.yml"
    path.write_text("name: sbx\ndescription: d\nsafety: auto\n"
                    "vars: {port: '8000', dest: /tmp/sbx-sandbox-never-written}\n"
                    f"select: {{name: {json.dumps(name)}}}\n" + body)
    return str(path)


def _one_line(cli: Cli, *args: str) -> str:
    from click.testing import CliRunner

    from remediate.cli.main import main

    result = CliRunner().invoke(main, list(args), env=cli.env, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.output, result.stderr
    return result.stderr


def test_no_payload_runs_or_changes_anything(cli: Cli, target: str, docker_client: Any, tmp_path: Path) -> None:
    before = _state(docker_client)
    for payload in payloads.ALL:
        marker = payloads.pwned_path()
        body = f"changes:\n  - env: {{A: {json.dumps(payloads.fill(payload, marker))}}}\n"
        line = _one_line(cli, "apply", _playbook(tmp_path, target, body), "--dry-run")
        assert line.startswith("remediate: sbx: changes[0].env.A: "), line
        assert not Path(marker).exists(), payload
    assert _state(docker_client) == before
    assert not payloads.pwned()


@pytest.mark.parametrize("port", ["abc", "70000", "-1"])
def test_a_bad_verify_port_is_refused_before_the_swap(cli: Cli, target: str, docker_client: Any,
                                                      tmp_path: Path, port: str) -> None:
    before = _state(docker_client)
    body = "changes:\n  - env: {A: '1'}\nverify:\n  - http: {port: '{{ port }}'}\n"
    line = _one_line(cli, "apply", _playbook(tmp_path, target, body), "--yes", "-e", f"port={port}")
    assert line == f"remediate: sbx: verify[0].http.port: port must be a number from 1 to 65535, not {port!r}\n"
    assert _state(docker_client) == before  # same id, not stopped, no backup or staged container


def test_a_relative_template_host_path_is_one_line(cli: Cli, docker_client: Any, state_dir: str) -> None:
    name = f"{PREFIX}vllm-{uuid.uuid4().hex[:6]}"
    try:
        _proc.run_vllm(docker_client, name)
        before = _state(docker_client)
        result = _proc.run(["apply", "fix-vllm-404", "--container", name, "--yes",
                            "-e", "template_host_path=chat.jinja"], state_dir)
        assert result.code == 2, result.output
        assert result.stderr == ("remediate: fix-vllm-404: changes[0].file.dest: dest must be an absolute path, "
                                 "not 'chat.jinja'\n")
        assert "Traceback" not in result.output and not Path("chat.jinja").exists()
        assert _state(docker_client) == before
    finally:
        remove_owned(docker_client, PREFIX)


@pytest.mark.parametrize("dry_run", [True, False])
def test_an_escape_attempt_as_a_real_process(target: str, docker_client: Any, tmp_path: Path, state_dir: str,
                                             dry_run: bool) -> None:
    marker = payloads.pwned_path()
    payload = payloads.fill(payloads.INTERNALS[0], marker)
    path = _playbook(tmp_path, target, f"changes:\n  - file: {{dest: /tmp/sbx-x, content: {json.dumps(payload)}}}\n")
    before = _state(docker_client)
    result = _proc.run(["apply", path, "--dry-run" if dry_run else "--yes"], state_dir)
    assert result.code == 2 and len(result.stderr.splitlines()) == 1, result.output
    assert "access to attribute '__init__' of 'type' object is unsafe" in result.stderr
    assert not Path(marker).exists() and not Path("/tmp/sbx-x").exists()
    assert _state(docker_client) == before


def test_an_alias_bomb_as_a_real_process(target: str, tmp_path: Path, state_dir: str) -> None:
    bomb = "vars:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"  l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
    path = tmp_path / "bomb.yml"
    path.write_text(f"name: sbx\ndescription: d\nselect: {{name: {target}}}\nchanges:\n  - env: {{A: '1'}}\n" + bomb)
    result = _proc.run(["apply", str(path), "--dry-run"], state_dir, timeout=30)
    assert result.code == 2 and result.stderr.startswith(f"remediate: {path}: line "), result.output
    assert "once aliases are expanded" in result.stderr and len(result.stderr.splitlines()) == 1
