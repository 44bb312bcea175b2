"""Several containers on one host recreated at once (--parallel): each verified, a failure restored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS, Cli, remove_owned

PREFIX = "rt-par-"
IMAGE = "remediate-test/busybox:1"
# Exits at once when NEW_FLAG is set and the container is named *-fragile: its verify fails.
SCRIPT = 'case "$NEW_FLAG:$HOSTNAME" in 1:fragile) exit 3;; esac; exec sleep 3600'


@pytest.fixture
def fleet(docker_client: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:6]
    names = [f"{PREFIX}{tag}-{i}" for i in range(5)]
    for i, name in enumerate(names):
        docker_client.containers.run(IMAGE, ["sh", "-c", SCRIPT], name=name, detach=True, init=True,
                                     hostname="fragile" if i == 2 else f"c{i}",
                                     restart_policy={"Name": "unless-stopped"}, labels={"rt-par": tag, **OWNER_LABELS})
    playbook = tmp_path / "flag.yml"
    playbook.write_text(f"name: flag\ndescription: set a flag\nsafety: auto\nselect: {{labels: {{rt-par: '{tag}'}}}}\n"
                        "changes:\n  - env: {NEW_FLAG: '1'}\n")
    try:
        yield {"names": names, "playbook": str(playbook)}
    finally:
        remove_owned(docker_client, f"{PREFIX}{tag}")


def test_parallel_apply_recreates_verifies_and_restores_the_failure(cli: Cli, fleet: dict[str, Any],
                                                                     docker_client: Any) -> None:
    before = {n: docker_client.api.inspect_container(n)["Id"] for n in fleet["names"]}

    code, out = cli("apply", fleet["playbook"], "--yes", "--parallel", "5", "--timeout", "5", "--format", "json")

    assert code == 1, out
    results = {c["container"]: c for c in json.loads(out)["containers"]}
    fragile = fleet["names"][2]
    assert results[fragile]["action"] == "rolled back"
    after = {n: docker_client.api.inspect_container(n) for n in fleet["names"]}
    assert after[fragile]["Id"] == before[fragile] and after[fragile]["State"]["Running"]
    for name in fleet["names"]:
        if name == fragile:
            continue
        # All five started together: the others were recreated and verified.
        assert results[name]["action"] == "recreated"
        assert "NEW_FLAG=1" in after[name]["Config"]["Env"] and after[name]["State"]["Running"]

    code, out = cli("apply", fleet["playbook"], "--yes", "--parallel", "5", "--timeout", "5", "--format", "json")
    statuses = {c["container"]: c["action"] for c in json.loads(out)["containers"]}
    assert statuses[fragile] == "rolled back"
    assert all(statuses[n] == "unchanged" for n in fleet["names"] if n != fragile)
