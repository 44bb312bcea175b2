"""The ``restart`` and ``resources`` change kinds on each engine generation (20.10 and 26.1), as a
user runs them: the real ``remediate`` process against a fake vLLM.

A change of the restart policy and limits alone is made in place (``docker update``): a dry run
changes nothing and its ``shell_before`` / ``shell_after`` run with the real docker CLI make the
containers the plan describes; the saved plan applies to the same container (same id, not
restarted, the new values in inspect); a second run changes nothing; ``rollback`` updates it back;
a failing verify updates it back to exactly its previous values. A limit added where there was
none is made by a recreate (``docker update`` could not clear it again). In a Compose v2 project the
change lands in the compose file (by a recreate, which carries compose's new config hash),
``docker compose up -d`` afterwards leaves the fixed container alone, and ``rollback`` puts the
file and the container back: for these changes and test_host_option_kinds' (tmpfs, ipc, shm_size).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import OWNER_LABELS, remove_owned
from tests.integration import test_host_option_kinds as host_options
from tests.integration._proc import REMEDIATE, WAIT, remediate_env
from tests.integration.test_change_kinds import Box, started
from tests.integration.test_host_option_kinds import refuses_bad_values, shell_round_trip
from tests.lab.engines import Engine

pytestmark = pytest.mark.integration

CHANGES = [{"restart": "unless-stopped"}, {"resources": {"memory": "384m", "pids_limit": 512}}]
#: The container's limits before (set by the box fixture), and what CHANGES set, as the engine shows them.
BEFORE = {"Memory": 256 << 20, "MemorySwap": 512 << 20}
AFTER = {"RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0}, "Memory": 384 << 20, "PidsLimit": 512}


@pytest.fixture
def box(engine: Engine, client: Any, tmp_path: Path) -> Iterator[Box]:
    with started(engine, client, tmp_path) as b:
        client.api.update_container(b.name, mem_limit=BEFORE["Memory"], memswap_limit=BEFORE["MemorySwap"])
        yield b


def _live(inspect: dict[str, Any]) -> dict[str, Any]:
    """What an update in place may change, as compared: no limit and a limit of 0 are one."""
    host = inspect["HostConfig"]
    return {"Id": inspect["Id"], "StartedAt": inspect["State"]["StartedAt"], "Memory": host["Memory"],
            "MemorySwap": host["MemorySwap"], "PidsLimit": host.get("PidsLimit") or None,
            "RestartPolicy": host["RestartPolicy"]["Name"] or "no"}


def test_dry_run_shell_round_trip_apply_in_place_and_rollback(box: Box) -> None:
    before = box.inspect()
    out_path = box.tmp / "plan.json"
    playbook = box.playbook(CHANGES)

    code, out = box.apply(playbook, "--dry-run", "--out", str(out_path))

    assert code == 0, out
    assert "update in place" in out and "+ --restart unless-stopped" in out and "+ --pids-limit 512" in out, out
    assert _live(box.inspect()) == _live(before)
    [cp] = json.loads(out_path.read_text())["hosts"][0]["plan"]["containers"]
    assert cp["action"] == "update-in-place"
    shell_round_trip(box, cp, before, AFTER)

    code, out = box.remediate("apply", "--plan", str(out_path), "--yes")

    assert code == 0 and "updated in place" in out, out
    now = box.inspect()
    assert (now["Id"], now["State"]["StartedAt"]) == (before["Id"], before["State"]["StartedAt"])  # not restarted
    assert {k: now["HostConfig"][k] for k in AFTER} == AFTER
    code, out = box.apply(playbook, "--yes")
    assert code == 0 and "no changes" in out, out
    code, out = box.remediate("history", "--format", "json")
    assert code == 0 and json.loads(out)[0]["result"] == "updated in place", out

    code, out = box.remediate("rollback", box.name, "--dry-run")
    assert code == 0 and "updated back in place" in out and "- --restart unless-stopped" in out, out
    code, out = box.remediate("rollback", box.name, "--yes")

    assert code == 0, out
    assert _live(box.inspect()) == _live(before)


def test_failing_verify_updates_back_to_exactly_the_previous_values(box: Box) -> None:
    original = box.inspect()

    code, out = box.apply(box.playbook(CHANGES, verify="/no-such-path"), "--yes", "--timeout", "3")

    assert code == 1, out
    assert "verify failed" in out and "restored" in out, out
    assert _live(box.inspect()) == _live(original)
    code, out = box.remediate("recover")
    assert code == 0, out  # nothing left open


def test_a_limit_added_where_there_was_none_is_made_by_a_recreate(box: Box) -> None:
    before = box.inspect()

    code, out = box.apply(box.playbook([{"resources": {"cpus": 1.5}}]), "--yes")

    assert code == 0 and "recreated" in out, out
    now = box.inspect()
    assert now["Id"] != before["Id"] and now["HostConfig"]["NanoCpus"] == 1_500_000_000
    code, out = box.remediate("rollback", box.name, "--yes")
    assert code == 0 and box.inspect()["Id"] == before["Id"], out


def test_rollback_steps_count_the_updates_in_place(box: Box) -> None:
    original = box.inspect()
    assert box.apply(box.playbook([{"env": {"STEP": "recreated"}}]), "--yes")[0] == 0
    recreated = box.inspect()
    for memory in ("320m", "384m"):
        code, out = box.apply(box.playbook([{"resources": {"memory": memory}}]), "--yes")
        assert code == 0 and "updated in place" in out, out

    code, out = box.remediate("rollback", box.name, "--steps", "2", "--yes")  # both in place: one at a time
    assert code == 2 and "roll them back one step at a time" in out and len(out.strip().splitlines()) == 1, out
    code, out = box.remediate("rollback", box.name, "--yes")  # 384m -> 320m
    assert code == 0 and box.inspect()["HostConfig"]["Memory"] == 320 << 20, out
    code, out = box.remediate("rollback", box.name, "--yes")  # 320m -> as recreated, not past the recreate
    assert code == 0 and _live(box.inspect()) == _live(recreated), out
    assert box.apply(box.playbook([{"resources": {"memory": "384m"}}]), "--yes")[0] == 0

    code, out = box.remediate("rollback", box.name, "--steps", "2", "--dry-run", "--format", "json")
    assert code == 0 and json.loads(out)[0]["steps"] == 2, out  # the update and the recreate
    code, out = box.remediate("rollback", box.name, "--steps", "2", "--yes")
    assert code == 0, out
    assert box.inspect()["Id"] == original["Id"] and "STEP=recreated" not in box.inspect()["Config"]["Env"]


def test_rollback_of_a_recreate_that_changed_the_restart_policy_gives_the_old_one_back(box: Box) -> None:
    before = box.inspect()

    code, out = box.apply(box.playbook([{"restart": "unless-stopped"}, {"resources": {"cpus": 1.5}}]), "--yes")

    assert code == 0 and "recreated" in out, out
    assert box.inspect()["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    code, out = box.remediate("rollback", box.name, "--dry-run")
    assert code == 0 and "- --restart unless-stopped" in out, out

    code, out = box.remediate("rollback", box.name, "--yes")

    assert code == 0, out
    now = box.inspect()
    assert now["Id"] == before["Id"] and now["HostConfig"]["RestartPolicy"] == before["HostConfig"]["RestartPolicy"]


def test_bad_values_are_one_line_and_change_nothing(box: Box) -> None:
    refuses_bad_values(box, [({"restart": "sometimes"}, "is not one of no, always, unless-stopped, on-failure"),
                             ({"resources": {"memory": "lots"}}, "is not a size"),
                             ({"resources": {"memory": "1g", "memory_swap": "512m"}}, "is more than memory_swap")])


COMPOSE = """\
# remediate test project: a model server that needs more shared memory
services:
  vllm:
    image: vllm/vllm-openai:v0.6.3
    entrypoint: ["sleep", "600"]
    labels: {labels}
    shm_size: 64m   # too small for tensor parallel
"""

#: Per kind of change: the changes, the compose file they make of the original, and what the
#: engine shows of them.
COMPOSE_FIXES: dict[str, tuple[list[Any], Callable[[str], str], dict[str, Any]]] = {
    "live": (CHANGES, lambda original: original + "    restart: unless-stopped\n    mem_limit: 384m\n    pids_limit: 512\n",
             AFTER),
    "host-options": (host_options.CHANGES, lambda original: original.replace("shm_size: 64m   #", "shm_size: 128m  #")
                     + "    tmpfs:\n      - /scratch:rw,size=16m,mode=1770\n    ipc: shareable\n", host_options.AFTER),
}


@pytest.fixture
def project(engine: Engine, client: Any, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    name = f"rt-hopt-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "stack" / "compose.yaml"
    path.parent.mkdir()
    path.write_text(COMPOSE.format(labels=json.dumps(OWNER_LABELS)))
    up = engine.run(["docker", "compose", "-p", name, "-f", str(path), "up", "-d"], timeout=WAIT)
    if up.returncode != 0 and "is not a docker command" in up.stderr:
        pytest.skip("no Compose v2 here")
    assert up.returncode == 0, up.stderr
    try:
        yield name, path
    finally:
        engine.run(["docker", "compose", "-p", name, "-f", str(path), "down", "-t", "0"], timeout=WAIT)
        remove_owned(client, name)


@pytest.mark.parametrize("kind", COMPOSE_FIXES)
def test_compose_v2_fix_lands_in_the_file_and_compose_up_keeps_it(
        kind: str, engine: Engine, client: Any, tmp_path: Path, project: tuple[str, Path]) -> None:
    changes, edited, after = COMPOSE_FIXES[kind]
    name, path = project
    original = path.read_text()

    def compose(*args: str) -> str:
        proc = engine.run(["docker", "compose", "-p", name, "-f", str(path), *args], timeout=WAIT)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout

    [container] = compose("ps", "-q").split()
    was = client.api.inspect_container(container)["HostConfig"]
    playbook = tmp_path / "p.yml"
    playbook.write_text(yaml.safe_dump({"name": kind, "description": "test", "safety": "auto",
                                        "select": {"labels": {"com.docker.compose.project": name}},
                                        "changes": changes}))
    env = remediate_env(str(tmp_path / "state"))

    proc = engine.run([REMEDIATE, "apply", str(playbook), "--yes"], env=env, timeout=WAIT)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "recreated" in proc.stdout, proc.stdout
    text = path.read_text()
    assert text == edited(original), text
    [fixed] = compose("ps", "-q").split()
    assert fixed != container
    host = client.api.inspect_container(fixed)["HostConfig"]
    assert {k: host[k] for k in after} == after

    compose("up", "-d")

    assert compose("ps", "-q").split() == [fixed]  # compose finds the service up to date

    proc = engine.run([REMEDIATE, "rollback", client.api.inspect_container(fixed)["Name"].lstrip("/"), "--yes"],
                      env=env, timeout=WAIT)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert path.read_text() == original
    [restored] = compose("ps", "-q").split()  # a copy of the original (compose's backups are disarmed copies)
    host = client.api.inspect_container(restored)["HostConfig"]
    assert restored != fixed and {k: host.get(k) for k in after} == {k: was.get(k) for k in after}
    assert host["ShmSize"] == 64 << 20 and not host.get("Tmpfs")
