"""The tmpfs, ipc and shm_size change kinds on each engine generation (20.10 and 26.1), as a user
runs them: the real ``remediate`` process against a fake vLLM.

A dry run changes nothing, and the plan's ``shell_before`` / ``shell_after`` run with the real
docker CLI make the containers the plan describes; the saved plan applies and the kernel shows
the result (``/proc/mounts``: the tmpfs with its size, ``/dev/shm`` with the new size); a second
run changes nothing; a failing verify restores the original exactly; ``tmpfs`` with ``state:
absent`` removes it again; rollback puts the previous container back; ``ipc: container:NAME``
joins another container and stays a no-op on the next run (the engine records the donor's id).
In a Compose v2 project the fix lands in the compose file and ``docker compose up -d`` afterwards
leaves the fixed container alone (test_live_update's compose test, with these changes too).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediate.core.spec import spec_from_inspect
from tests.conftest import OWNER_LABELS
from tests.integration._proc import VLLM_IMAGE
from tests.integration.test_change_kinds import Box, _user_view, started
from tests.lab.engines import Engine

pytestmark = pytest.mark.integration

CHANGES = [{"tmpfs": {"target": "/scratch", "options": "rw,size=16m,mode=1770"}}, {"ipc": "shareable"},
           {"shm_size": "128m"}]
#: What CHANGES set, as the engine shows it.
AFTER = {"Tmpfs": {"/scratch": "rw,size=16m,mode=1770"}, "IpcMode": "shareable", "ShmSize": 128 << 20}


@pytest.fixture
def box(engine: Engine, client: Any, tmp_path: Path) -> Iterator[Box]:
    with started(engine, client, tmp_path) as b:
        yield b


def _mounts(box: Box, name: str | None = None) -> dict[str, str]:
    """Mount point -> options of the tmpfs mounts the kernel shows in the container."""
    out = box.client.api.exec_start(box.client.api.exec_create(name or box.name, ["cat", "/proc/mounts"]))
    rows = [line.split() for line in out.decode().splitlines()]
    return {row[1]: row[3] for row in rows if row[2] == "tmpfs"}


def _twin(box: Box, command: str, key: str) -> str:
    """``command`` (a ``docker run -d`` line of the plan) run as a created twin; its name."""
    twin = f"{box.name}-{key}"
    command = command.replace("docker run -d ", "docker create ", 1).replace(f"--name {box.name} ", f"--name {twin} ")
    box.engine.run(["sh", "-c", command], timeout=60, check=True)
    return twin


def shell_round_trip(box: Box, cp: dict[str, Any], before: dict[str, Any], changed: dict[str, Any]) -> None:
    """The plan's ``shell_before`` and ``shell_after`` (of the container ``before`` inspects), run
    with the real docker CLI, make the container before and with the ``changed`` HostConfig keys."""
    image = box.client.api.inspect_image(before["Config"]["Image"])
    was = spec_from_inspect(before, image)
    wanted = was.replace(host_config={**was.host_config, **changed})
    for key, want in (("shell_before", was), ("shell_after", wanted)):
        [command] = [c for c in cp[key] if not c.startswith("#")]
        twin = _twin(box, command, key[6:])
        made = spec_from_inspect(box.inspect(twin), image)
        box.client.api.remove_container(twin, force=True)
        assert made.replace(name=want.name).comparable() == want.comparable(), command


def test_dry_run_shell_round_trip_saved_plan_apply_and_rollback(box: Box) -> None:
    before = box.inspect()
    out_path = box.tmp / "plan.json"
    playbook = box.playbook(CHANGES)

    code, out = box.apply(playbook, "--dry-run", "--out", str(out_path))

    assert code == 0, out
    assert "+ --tmpfs /scratch:rw,size=16m,mode=1770" in out and "+ --shm-size 134217728" in out, out
    assert "+ --ipc shareable" in out, out
    assert _user_view(box.inspect()) == _user_view(before)
    [cp] = json.loads(out_path.read_text())["hosts"][0]["plan"]["containers"]
    shell_round_trip(box, cp, before, AFTER)

    code, out = box.remediate("apply", "--plan", str(out_path), "--yes")

    assert code == 0 and "recreated" in out, out
    host = box.inspect()["HostConfig"]
    assert {k: host[k] for k in AFTER} == AFTER
    mounts = _mounts(box)
    assert "size=16384k" in mounts["/scratch"] and "mode=1770" in mounts["/scratch"], mounts
    assert "size=131072k" in mounts["/dev/shm"], mounts
    code, out = box.apply(playbook, "--yes")
    assert code == 0 and "no changes" in out, out

    code, out = box.remediate("rollback", box.name, "--yes")

    assert code == 0, out
    assert box.inspect()["Id"] == before["Id"]
    assert "/scratch" not in _mounts(box) and "size=65536k" in _mounts(box)["/dev/shm"]


def test_failing_verify_restores_the_original_exactly(box: Box) -> None:
    original = box.inspect()

    code, out = box.apply(box.playbook(CHANGES, verify="/no-such-path"), "--yes", "--timeout", "3")

    assert code == 1, out
    assert "verify failed" in out and "restored" in out
    assert _user_view(box.inspect(), restarted=True) == _user_view(original, restarted=True)
    assert "/scratch" not in _mounts(box)


def test_tmpfs_removal_and_ipc_host_then_rollback(box: Box) -> None:
    code, out = box.apply(box.playbook([CHANGES[0]]), "--yes")
    assert code == 0, out
    with_tmpfs = box.inspect()

    code, out = box.apply(box.playbook([{"tmpfs": {"target": "/scratch", "state": "absent"}}, {"ipc": "host"}]),
                          "--yes")

    assert code == 0 and "ipc (warning): host" in out, out
    host = box.inspect()["HostConfig"]
    assert not host.get("Tmpfs") and host["IpcMode"] == "host"
    assert "/scratch" not in _mounts(box)

    code, out = box.remediate("rollback", box.name, "--yes")

    assert code == 0, out
    assert box.inspect()["Id"] == with_tmpfs["Id"] and "/scratch" in _mounts(box)


def test_bad_values_are_one_line_and_change_nothing(box: Box) -> None:
    refuses_bad_values(box, [({"ipc": "everything"}, "is not one of host, private, shareable, none or container:NAME"),
                             ({"shm_size": "8 gigs"}, "is not a size"),
                             ({"tmpfs": {"target": "/tmp", "options": "rw,bogus"}}, "tmpfs option 'bogus'")])


def refuses_bad_values(box: Box, cases: list[tuple[dict[str, Any], str]]) -> None:
    """Each change of ``cases`` is refused in one line saying its message (exit 2), and the
    container stays as it was."""
    before = box.inspect()
    for change, message in cases:
        code, out = box.apply(box.playbook([change]), "--yes")
        assert code == 2 and message in out and len(out.strip().splitlines()) == 1, out
    assert _user_view(box.inspect()) == _user_view(before)


def test_ipc_container_name_joins_the_donor_and_is_a_no_op_next_time(box: Box, client: Any) -> None:
    donor = client.containers.run(VLLM_IMAGE, entrypoint=["sleep", "600"], detach=True, ipc_mode="shareable",
                                  name=f"{box.name}-donor", labels=OWNER_LABELS)
    playbook = box.playbook([{"ipc": f"container:{donor.name}"}])

    code, out = box.apply(playbook, "--yes")

    assert code == 0 and "recreated" in out, out
    assert box.inspect()["HostConfig"]["IpcMode"] == f"container:{donor.id}"
    code, out = box.apply(playbook, "--yes")
    assert code == 0 and "no changes" in out, out
