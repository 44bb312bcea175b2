"""A failed verification says why: Docker's health log of the new container (each healthcheck
run's exit code and output) and its last log lines, read before the undo removes it, in the
text output, the JSON result and the Markdown report; secrets masked in all three."""

from __future__ import annotations

import json
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS, Cli, remove_owned
from tests.lab.defaults_image import BUSYBOX

pytestmark = pytest.mark.integration

PREFIX = "rt-evidence-"
SECOND = 1_000_000_000
SECRET = "rt-evidence-secret-5f3a9c"
# The service logs a known line (and its token); its healthcheck rejects FLAG, saying why.
COMMAND = ['sh', '-c', 'echo "service up, API_TOKEN=$API_TOKEN"; echo "last words: flag=$FLAG"; exec sleep 3600']
HEALTH = ["CMD-SHELL", 'if [ -n "$FLAG" ]; then echo "health: FLAG is not allowed (token $API_TOKEN)"; exit 3; fi']


@pytest.fixture
def unhealthy_after_fix(docker_client: Any) -> Iterator[str]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    container = docker_client.containers.create(
        BUSYBOX, COMMAND, name=name, labels=OWNER_LABELS, use_config_proxy=False,
        environment={"API_TOKEN": SECRET},
        healthcheck={"test": HEALTH, "interval": SECOND, "timeout": SECOND, "retries": 1})
    try:
        container.start()
        yield name
    finally:
        remove_owned(docker_client, PREFIX)


def test_a_failed_verify_shows_the_health_log_and_the_last_log_lines(
        cli: Cli, unhealthy_after_fix: str, docker_client: Any, tmp_path: Path) -> None:
    name = unhealthy_after_fix
    original = docker_client.api.inspect_container(name)["Id"]
    playbook = tmp_path / "set-flag.yml"
    playbook.write_text(f"name: set-flag\ndescription: one env var\nselect:\n  name: {name}\n"
                        "changes:\n  - env:\n      FLAG: '1'\n")
    report = tmp_path / "ticket.md"

    code, out = cli("apply", str(playbook), "--yes", "--timeout", "30", "--report", str(report))

    assert code == 1, out
    assert "health unhealthy" in out and "health log" in out, out
    assert "[exit 3] health: FLAG is not allowed (token ***)" in out, out
    assert "last words: flag=1" in out, out
    code, json_out = cli("apply", str(playbook), "--yes", "--timeout", "30", "--format", "json")
    assert code == 1, json_out
    [result] = json.loads(json_out)["containers"]
    assert result["action"] == "rolled back"
    assert {"exit_code": 3}.items() <= result["health"][-1].items()
    assert result["health"][-1]["output"].strip() == "health: FLAG is not allowed (token ***)"
    assert "last words: flag=1" in result["logs"]
    markdown = report.read_text()
    assert "health log of the new container" in markdown
    assert "[exit 3] health: FLAG is not allowed (token ***)" in markdown and "last words: flag=1" in markdown
    assert stat.S_IMODE(os.stat(report).st_mode) == 0o600
    assert all(SECRET not in text for text in (out, json_out, markdown))
    after = docker_client.api.inspect_container(name)
    assert after["Id"] == original and after["State"]["Running"]
