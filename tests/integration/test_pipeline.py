"""A pipelined apply (--parallel): a failed verify restores that container and starts no container
beyond the trail (TRAIL x parallel places) of the one that failed; the ones started before it stay."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediate.executor.apply import TRAIL
from tests.conftest import OWNER_LABELS, Cli, remove_owned

PREFIX = "rt-pipe-"
IMAGE = "remediate-test/busybox:1"
PARALLEL = 2
# Exits at once when NEW_FLAG is set and the container is named fragile: its verify fails.
SCRIPT = 'case "$NEW_FLAG:$HOSTNAME" in 1:fragile) exit 3;; esac; exec sleep 3600'
COUNT = 2 * TRAIL * PARALLEL


@pytest.fixture
def fleet(docker_client: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    tag = uuid.uuid4().hex[:6]
    names = [f"{PREFIX}{tag}-{i:02d}" for i in range(COUNT)]
    for i, name in enumerate(names):
        # Planned newest first: the second-newest is the second container the apply starts.
        docker_client.containers.run(IMAGE, ["sh", "-c", SCRIPT], name=name, detach=True, init=True,
                                     hostname="fragile" if i == COUNT - 2 else f"c{i}",
                                     restart_policy={"Name": "unless-stopped"}, labels={"rt-pipe": tag, **OWNER_LABELS})
    playbook = tmp_path / "flag.yml"
    playbook.write_text(f"name: flag\ndescription: set a flag\nsafety: auto\nselect: {{labels: {{rt-pipe: '{tag}'}}}}\n"
                        "changes:\n  - env: {NEW_FLAG: '1'}\n")
    try:
        yield {"names": names, "playbook": str(playbook), "fragile": names[COUNT - 2]}
    finally:
        remove_owned(docker_client, f"{PREFIX}{tag}")


def test_a_failed_verify_restores_it_keeps_the_started_ones_and_starts_none_beyond_the_trail(
        cli: Cli, fleet: dict[str, Any], docker_client: Any) -> None:
    before = {n: docker_client.api.inspect_container(n)["Id"] for n in fleet["names"]}

    # The fragile one fails only at the end of --timeout, long after the first one verified.
    code, out = cli("apply", fleet["playbook"], "--yes", "--parallel", str(PARALLEL), "--timeout", "10",
                    "--format", "json")

    assert code == 1, out
    results = json.loads(out)["containers"]
    order = [c["container"] for c in results]
    assert sorted(order) == sorted(fleet["names"]) and order.index(fleet["fragile"]) == 1, order
    actions = [c["action"] for c in results]
    trail = TRAIL * PARALLEL
    # Before it, and in its trail (started while it was verifying): recreated and verified.
    assert actions[0] == "recreated" and actions[2:1 + trail] == ["recreated"] * (trail - 1), actions
    assert actions[1] == "rolled back"
    # Beyond the trail: not started once the failure was known.
    assert actions[1 + trail:] == ["skipped"] * (COUNT - 1 - trail), actions
    after = {n: docker_client.api.inspect_container(n) for n in fleet["names"]}
    for name, action in zip(order, actions, strict=True):
        env = after[name]["Config"]["Env"]
        assert after[name]["State"]["Running"], name
        if action == "recreated":
            assert after[name]["Id"] != before[name] and "NEW_FLAG=1" in env
            assert all(check["ok"] for check in results[order.index(name)]["checks"])
        else:
            assert after[name]["Id"] == before[name] and "NEW_FLAG=1" not in env
