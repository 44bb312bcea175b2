"""Crash safety on the real engine: `remediate apply` killed with SIGKILL at every step of the
recreate, then `remediate recover`; host locks (concurrent apply refused, stale lock taken over).

The apply runs as a real process with REMEDIATE_PAUSE_AT=<step> (the test-only entry point
tests.integration.pausing_remediate): it journals the step, prints `remediate: paused at <step>`
and sleeps; the test kills it by PID and reaps it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from remediate.executor.lock import identity
from tests.conftest import OWNER_LABELS, remove_owned
from tests.conftest import vllm_chat as _chat
from tests.integration._proc import (
    PLAYBOOK,
    SEED_TEMPLATE,
    Background,
    engine_state_dir,
    fill_disk,
    host_port,
    names_with_prefix,
    pad_journal,
    run,
    run_vllm,
    start,
    wait_healthy,
)

PREFIX = "rt-crash-"
OLD_CONTENT = "{# the operator's own template, before remediate #}\n"
STEPS = ["files", "created", "stopped", "parked", "swapped", "started"]


@dataclass
class Vllm:
    """A broken fake vLLM container of this test, its original inspect, and its template path."""

    name: str
    original: dict[str, Any]
    template: Path
    state_dir: str
    procs: list[Background] = field(default_factory=list)

    def apply_args(self, *extra: str, playbook: str = "fix-vllm-404") -> list[str]:
        return ["apply", playbook, "--container", self.name, "-e", f"template_host_path={self.template}", *extra]

    def start_apply(self, pause_at: str | None, *extra: str, playbook: str = "fix-vllm-404") -> Background:
        env = {"REMEDIATE_PAUSE_AT": pause_at} if pause_at else {}
        proc = start(self.apply_args("--yes", *extra, playbook=playbook), self.state_dir, **env)
        self.procs.append(proc)
        return proc


@pytest.fixture
def vllm(docker_client: Any, tmp_path: Path, state_dir: str) -> Iterator[Vllm]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    original = run_vllm(docker_client, name, env={"HF_TOKEN": "hf_crashtestvalue"})
    target = Vllm(name, original, tmp_path / "etc" / "chat_template.jinja", state_dir)
    try:
        yield target
    finally:
        for proc in target.procs:
            proc.stop()
        remove_owned(docker_client, name)


def _inspect(client: Any, ref: str) -> dict[str, Any]:
    result: dict[str, Any] = client.api.inspect_container(ref)
    return result


def _backups(client: Any, name: str) -> set[str]:
    return {n for n in names_with_prefix(client, name) if n.startswith(f"{name}-remediate-backup-")}


def _assert_half_done(client: Any, vllm: Vllm, step: str) -> None:
    """The engine shows the state the journal says the killed apply reached (the kill is real)."""
    name, old_id = vllm.name, vllm.original["Id"]
    names = names_with_prefix(client, name)
    assert vllm.template.read_bytes() == SEED_TEMPLATE.read_bytes()  # files are written first
    if step == "files":
        assert names == {name} and _inspect(client, name)["Id"] == old_id
        return
    if step in ("created", "stopped"):
        assert names == {name, f"{name}-remediate-new"}
        assert _inspect(client, name)["State"]["Running"] is (step == "created")
        return
    [backup] = _backups(client, name)
    assert _inspect(client, backup)["Id"] == old_id
    assert _inspect(client, backup)["HostConfig"]["RestartPolicy"]["Name"] == "no"  # parked: stays down
    if step == "parked":
        assert names == {backup, f"{name}-remediate-new"}
        return
    assert names == {backup, name}
    new = _inspect(client, name)
    assert new["Id"] != old_id and new["State"]["Running"] is (step != "swapped")


def _assert_original_back(client: Any, vllm: Vllm, template: bytes | None) -> None:
    """Exactly one container named X: the original (id, config), running, restart policy back; the
    file as it was before the apply; nothing staged or parked left."""
    assert names_with_prefix(client, vllm.name) == {vllm.name}
    now = _inspect(client, vllm.name)
    assert now["Id"] == vllm.original["Id"]
    assert now["State"]["Running"]
    assert now["Config"] == vllm.original["Config"]
    assert now["Args"] == vllm.original["Args"]
    assert now["HostConfig"]["RestartPolicy"] == vllm.original["HostConfig"]["RestartPolicy"]
    assert now["HostConfig"] == vllm.original["HostConfig"]
    if template is None:
        assert not vllm.template.exists()
    else:
        assert vllm.template.read_bytes() == template
    port = host_port(client, vllm.name)
    wait_healthy(port)
    assert _chat(port) == 404  # still the unfixed original


def _assert_refuses_until_recovered(vllm: Vllm) -> None:
    result = run(vllm.apply_args("--yes"), vllm.state_dir)
    assert result.code == 2, result.output
    assert f"an earlier apply did not finish ({vllm.name}); run `remediate recover` first" in result.stderr
    assert "Traceback" not in result.output
    history = run(["history", "--container", vllm.name], vllm.state_dir)
    assert "unfinished (run remediate recover)" in history.stdout


# --------------------------------------------------------------------------- kill at each step

@pytest.mark.parametrize("step", STEPS)
def test_kill_at_step_then_recover_restores_the_original(step: str, vllm: Vllm, docker_client: Any) -> None:
    vllm.template.parent.mkdir(parents=True)
    vllm.template.write_text(OLD_CONTENT)
    proc = vllm.start_apply(step)
    proc.wait_for(f"remediate: paused at {step}")

    proc.kill()

    _assert_half_done(docker_client, vllm, step)
    _assert_refuses_until_recovered(vllm)

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    assert f"{vllm.name}: restored the original" in result.stdout
    _assert_original_back(docker_client, vllm, OLD_CONTENT.encode())
    history = run(["history", "--container", vllm.name], vllm.state_dir)
    assert history.code == 0
    assert "recovered: restored the original" in history.stdout
    assert "unfinished" not in history.stdout
    assert run(["recover"], vllm.state_dir).stdout.startswith("nothing to recover")


def test_recover_dry_run_shows_the_steps_and_container_chooses(vllm: Vllm, docker_client: Any) -> None:
    vllm.template.parent.mkdir(parents=True)
    vllm.template.write_text(OLD_CONTENT)
    proc = vllm.start_apply("swapped")
    proc.wait_for("remediate: paused at swapped")
    proc.kill()
    journal = engine_state_dir(vllm.state_dir) / "journal.jsonl"
    before = (journal.read_bytes(), sorted(p.name for p in journal.parent.iterdir()))

    dry = run(["recover", "--dry-run"], vllm.state_dir)

    assert dry.code == 0, dry.output
    assert f"local: {vllm.name}: would restore the original, at most by:" in dry.stdout
    assert "    docker rm -f " in dry.stdout  # the new container
    assert f"    restore {vllm.template} from " in dry.stdout and f"    docker start {vllm.name}" in dry.stdout
    assert dry.stdout.rstrip().endswith("Dry run: nothing changed.")
    as_json = json.loads(run(["recover", "--dry-run", "--format", "json"], vllm.state_dir).stdout)
    assert [(r["container"], r["outcome"]) for r in as_json] == [(vllm.name, "restored the original")]
    assert f"docker start {vllm.name}" in as_json[0]["steps"]
    # Nothing changed: the engine, the files, the journal, no lock taken.
    _assert_half_done(docker_client, vllm, "swapped")
    assert (journal.read_bytes(), sorted(p.name for p in journal.parent.iterdir())) == before

    other = run(["recover", "--container", f"{vllm.name}-other"], vllm.state_dir)

    assert other.code == 0 and f"nothing to recover for {vllm.name}-other" in other.stdout, other.output
    _assert_half_done(docker_client, vllm, "swapped")

    result = run(["recover", "--container", vllm.name], vllm.state_dir)

    assert result.code == 0, result.output
    _assert_original_back(docker_client, vllm, OLD_CONTENT.encode())


def test_recover_leaves_a_file_changed_since_the_apply_wrote_it(vllm: Vllm, docker_client: Any) -> None:
    proc = vllm.start_apply("started")
    proc.wait_for("remediate: paused at started")
    proc.kill()
    vllm.template.write_text("the operator's edit, after the apply\n")  # not what the apply wrote

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    assert f"left {vllm.template} as it is: it changed since remediate wrote it" in result.stdout
    assert vllm.template.read_text() == "the operator's edit, after the apply\n"
    assert _inspect(docker_client, vllm.name)["Id"] == vllm.original["Id"]


def test_kill_after_start_without_a_previous_file_removes_the_written_file(vllm: Vllm, docker_client: Any) -> None:
    proc = vllm.start_apply("started")
    proc.wait_for("remediate: paused at started")
    proc.kill()

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    _assert_original_back(docker_client, vllm, None)


def _never_ready(tmp_path: Path) -> Path:
    """A copy of fix-vllm-404 that also makes the new container slow to start (its verify cannot pass)."""
    slow = tmp_path / "slow-vllm.yml"
    slow.write_text(PLAYBOOK.read_text().replace("name: fix-vllm-404", "name: slow-vllm").replace(
        "changes:\n", "changes:\n  - env: {FAKE_VLLM_STARTUP_DELAY: '3600'}\n", 1))
    return slow


def _start_never_ready(vllm: Vllm, tmp_path: Path) -> Background:
    """Start fix-vllm-404 with a copy that also makes the new container slow to start; return once
    its verify phase has begun (it keeps polling and cannot succeed)."""
    proc = vllm.start_apply(None, "--timeout", "600", playbook=str(_never_ready(tmp_path)))
    proc.wait_for(": verify", stream="stdout")
    return proc


def test_kill_during_verify_then_recover_restores_the_original(vllm: Vllm, docker_client: Any, tmp_path: Path) -> None:
    vllm.template.parent.mkdir(parents=True)
    vllm.template.write_text(OLD_CONTENT)
    proc = _start_never_ready(vllm, tmp_path)

    proc.kill()

    new = _inspect(docker_client, vllm.name)
    assert new["Id"] != vllm.original["Id"] and new["State"]["Running"]
    assert "FAKE_VLLM_STARTUP_DELAY=3600" in new["Config"]["Env"]
    _assert_refuses_until_recovered(vllm)

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    assert "restored the original" in result.stdout
    _assert_original_back(docker_client, vllm, OLD_CONTENT.encode())
    assert "recovered: restored the original" in run(["history"], vllm.state_dir).stdout


def test_kill_after_verified_then_recover_keeps_the_new_container(vllm: Vllm, docker_client: Any) -> None:
    proc = vllm.start_apply("verified")
    proc.wait_for("remediate: paused at verified")

    proc.kill()
    _assert_refuses_until_recovered(vllm)

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    assert f"{vllm.name}: kept the verified new container" in result.stdout
    [backup] = _backups(docker_client, vllm.name)
    assert names_with_prefix(docker_client, vllm.name) == {vllm.name, backup}
    new = _inspect(docker_client, vllm.name)
    assert new["Id"] != vllm.original["Id"] and new["State"]["Running"]
    assert "--served-model-name" in new["Args"]
    assert new["HostConfig"]["RestartPolicy"] == vllm.original["HostConfig"]["RestartPolicy"]
    parked = _inspect(docker_client, backup)
    assert parked["Id"] == vllm.original["Id"] and not parked["State"]["Running"]
    assert parked["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert vllm.template.read_bytes() == SEED_TEMPLATE.read_bytes()
    port = host_port(docker_client, vllm.name)
    wait_healthy(port)
    assert _chat(port) == 200
    history = run(["history", "--container", vllm.name], vllm.state_dir)
    assert "recovered: kept the verified new container" in history.stdout

    again = run(vllm.apply_args("--yes"), vllm.state_dir)  # the host is usable again: nothing to do

    assert again.code == 0, again.output
    assert "no changes" in again.stdout
    assert _inspect(docker_client, vllm.name)["Id"] == new["Id"]


def test_apply_after_recover_works(vllm: Vllm, docker_client: Any) -> None:
    proc = vllm.start_apply("parked")
    proc.wait_for("remediate: paused at parked")
    proc.kill()
    assert run(["recover"], vllm.state_dir).code == 0

    result = run(vllm.apply_args("--yes"), vllm.state_dir)

    assert result.code == 0, result.output
    assert "recreated" in result.stdout
    assert _inspect(docker_client, vllm.name)["Id"] != vllm.original["Id"]
    assert _backups(docker_client, vllm.name)  # the original is the backup now
    rows = json.loads(run(["history", "--format", "json"], vllm.state_dir).stdout)
    assert [r["result"] for r in rows] == ["recreated", "recovered: restored the original"]



# --------------------------------------------------------------------------- tied neighbours

def _sidecar(client: Any, vllm: Vllm) -> dict[str, Any]:
    """A container sharing the vLLM's network namespace (an apply re-creates it to follow)."""
    container = client.containers.run("remediate-test/busybox:1", ["sleep", "3600"], name=f"{vllm.name}-sidecar",
                                      detach=True, network_mode=f"container:{vllm.original['Id']}",
                                      restart_policy={"Name": "unless-stopped"}, labels=OWNER_LABELS)
    return _inspect(client, container.id)


def test_kill_during_verify_then_recover_puts_tied_neighbours_back(vllm: Vllm, docker_client: Any,
                                                                   tmp_path: Path) -> None:
    sidecar = _sidecar(docker_client, vllm)
    proc = _start_never_ready(vllm, tmp_path)
    proc.kill()
    followed = _inspect(docker_client, sidecar["Name"].lstrip("/"))
    assert followed["Id"] != sidecar["Id"]  # re-created to follow the new vLLM

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    _assert_original_back_with(docker_client, vllm, sidecar)
    assert names_with_prefix(docker_client, vllm.name) == {vllm.name, sidecar["Name"].lstrip("/")}


def test_kill_after_verified_then_recover_drops_the_old_neighbour(vllm: Vllm, docker_client: Any) -> None:
    sidecar = _sidecar(docker_client, vllm)
    proc = vllm.start_apply("verified")
    proc.wait_for("remediate: paused at verified")
    proc.kill()

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    new_sidecar = _inspect(docker_client, sidecar["Name"].lstrip("/"))
    assert new_sidecar["HostConfig"]["NetworkMode"] == f"container:{_inspect(docker_client, vllm.name)['Id']}"
    assert new_sidecar["State"]["Running"]
    [backup] = _backups(docker_client, vllm.name)
    assert names_with_prefix(docker_client, vllm.name) == {vllm.name, backup, sidecar["Name"].lstrip("/")}


def _assert_original_back_with(client: Any, vllm: Vllm, sidecar: dict[str, Any]) -> None:
    assert _inspect(client, vllm.name)["Id"] == vllm.original["Id"]
    now = _inspect(client, sidecar["Name"].lstrip("/"))
    assert now["Id"] == sidecar["Id"] and now["State"]["Running"]
    assert now["HostConfig"]["NetworkMode"] == f"container:{vllm.original['Id']}"
    assert now["HostConfig"]["RestartPolicy"] == sidecar["HostConfig"]["RestartPolicy"]

# --------------------------------------------------------------------------- one undo path

def _end_state(client: Any, vllm: Vllm, sidecar: str) -> dict[str, Any]:
    """What an undone apply leaves: the containers named like X (each one's id, config, host
    config, running state), whether the sidecar really shares X's network namespace (from
    /proc), and the template file."""
    def netns(name: str) -> str:
        return os.readlink(f"/proc/{_inspect(client, name)['State']['Pid']}/ns/net")

    state: dict[str, Any] = {"names": names_with_prefix(client, vllm.name),
                             "file": vllm.template.read_bytes() if vllm.template.exists() else None,
                             "joined": netns(sidecar) == netns(vllm.name)}
    for name in (vllm.name, sidecar):
        now = _inspect(client, name)
        state[name] = (now["Id"], now["Config"], now["HostConfig"], now["State"]["Running"])
    return state


@pytest.mark.parametrize("point", ["files", "stopped", "swapped", "dependent", "verify"])
def test_a_failure_in_process_and_a_kill_then_recover_end_the_same(point: str, vllm: Vllm, docker_client: Any,
                                                                     tmp_path: Path) -> None:
    """One undo path: an apply that fails at a step (its verify, or an engine call right after
    the step is journaled) and an apply killed at that step, then `recover`, end in the same
    state: X's original back with its tied sidecar and its file."""
    vllm.template.parent.mkdir(parents=True)
    vllm.template.write_text(OLD_CONTENT)
    sidecar = _sidecar(docker_client, vllm)["Name"].lstrip("/")
    before = _end_state(docker_client, vllm, sidecar)

    if point == "verify":  # it never gets ready: the verify fails by itself
        failing = vllm.start_apply(None, "--timeout", "5", playbook=str(_never_ready(tmp_path)))
    else:
        failing = start(vllm.apply_args("--yes"), vllm.state_dir, REMEDIATE_FAIL_AT=point)
        vllm.procs.append(failing)
    code = failing.wait()
    in_process = _end_state(docker_client, vllm, sidecar)

    assert code == 1, "".join(failing.stdout + failing.stderr)
    assert "restored: the original container" in "".join(failing.stdout), failing.stdout
    if point == "verify":
        killed = _start_never_ready(vllm, tmp_path)
    else:
        killed = vllm.start_apply(point)
        killed.wait_for(f"remediate: paused at {point}")
    killed.kill()
    result = run(["recover"], vllm.state_dir)
    recovered = _end_state(docker_client, vllm, sidecar)

    assert result.code == 0, result.output
    assert f"{vllm.name}: restored the original" in result.stdout
    assert in_process == recovered == before
    rows = json.loads(run(["history", "--format", "json"], vllm.state_dir).stdout)
    assert [r["result"] for r in rows] == ["recovered: restored the original", "rolled back"]


def _joiners(client: Any, x: Vllm) -> dict[str, str]:
    """Three containers joining X's namespaces: IPC, PID, network (SIGKILL stops them at once)."""
    names = {kind: f"{x.name}-{kind}" for kind in ("ipc", "pid", "net")}
    for kind, name in names.items():
        mode = {f"{kind}_mode" if kind != "net" else "network_mode": f"container:{x.original['Id']}"}
        client.containers.run("remediate-test/busybox:1", ["sleep", "3600"], name=name, detach=True,
                              stop_signal="SIGKILL", labels=OWNER_LABELS, **mode)
    return names


def _assert_joined(client: Any, x: str, joiners: dict[str, str]) -> None:
    """Each joiner runs and really shares its namespace with X's current container (from /proc)."""
    def ns(name: str, kind: str) -> str:
        return os.readlink(f"/proc/{_inspect(client, name)['State']['Pid']}/ns/{kind}")

    x_id = _inspect(client, x)["Id"]
    for kind, name in joiners.items():
        now = _inspect(client, name)
        assert now["State"]["Running"], name
        key = {"ipc": "IpcMode", "pid": "PidMode", "net": "NetworkMode"}[kind]
        assert now["HostConfig"][key] == f"container:{x_id}"
        assert ns(name, kind) == ns(x, kind), f"{name} is not in the {kind} namespace of {x}"


@pytest.mark.parametrize("step", ["stopped", "started", "verify"])
def test_kill_then_recover_brings_namespace_joiners_back_to_the_restored_original(
        step: str, vllm: Vllm, docker_client: Any, tmp_path: Path) -> None:
    name = f"{vllm.name}-x"
    x = Vllm(name, run_vllm(docker_client, name, ipc_mode="shareable"), vllm.template, vllm.state_dir, vllm.procs)
    joiners = _joiners(docker_client, x)
    originals = {n: _inspect(docker_client, n)["Id"] for n in joiners.values()}
    if step == "verify":  # the joiners were re-created to follow the new X
        proc = _start_never_ready(x, tmp_path)
    else:  # X stopped (the PID joiner died with it) or its new copy started; the joiners not yet followed
        proc = x.start_apply(step)
        proc.wait_for(f"remediate: paused at {step}")
    proc.kill()

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    assert _inspect(docker_client, name)["Id"] == x.original["Id"]
    assert {n: _inspect(docker_client, n)["Id"] for n in joiners.values()} == originals
    _assert_joined(docker_client, name, joiners)
    assert not [n for n in names_with_prefix(docker_client, name) if "-remediate-" in n]


# --------------------------------------------------------------------------- shared files

def _shared_file_setup(vllm: Vllm, client: Any, tmp_path: Path) -> tuple[str, str, Path]:
    """Two fake vLLMs that fix-vllm-404 gives the same template file; the second one's verify
    cannot pass (a var of its own makes the probe expect a model it never serves). Returns the
    names in the order the apply takes them, and a playbook copy."""
    playbook = tmp_path / "shared.yml"
    playbook.write_text(PLAYBOOK.read_text().replace("name: fix-vllm-404", "name: rt-shared").replace(
        """contains: '"{{ served_model_name if served_model_name is string else served_model_name[0] }}"'""",
        """contains: '"{{ container.env.get("RT_EXPECT_MODEL", served_model_name) }}"'"""))
    good, bad = f"{vllm.name}-good", f"{vllm.name}-bad"
    run_vllm(client, bad, env={"RT_EXPECT_MODEL": "never-served"})
    run_vllm(client, good)  # the engine lists the newest first: the apply takes it first
    return good, bad, playbook


def _shared_apply_args(vllm: Vllm, playbook: Path, good: str, bad: str, *extra: str) -> list[str]:
    return ["apply", str(playbook), "--container", good, "--container", bad, "-e",
            f"template_host_path={vllm.template}", "--yes", *extra]


def test_a_shared_file_stays_for_the_verified_container_when_the_next_one_fails(
        vllm: Vllm, docker_client: Any, tmp_path: Path) -> None:
    good, bad, playbook = _shared_file_setup(vllm, docker_client, tmp_path)
    before = {n: _inspect(docker_client, n) for n in (good, bad)}

    dry = run(_shared_apply_args(vllm, playbook, good, bad, "--dry-run"), vllm.state_dir)
    assert f"file {vllm.template} (mode 0644, also needed by {bad})" in dry.stdout, dry.output

    result = run(_shared_apply_args(vllm, playbook, good, bad, "--timeout", "5", "--format", "json"), vllm.state_dir)

    assert result.code == 1, result.output
    outcome = {c["container"]: c["action"] for c in json.loads(result.stdout)["containers"]}
    assert list(outcome.items()) == [(good, "recreated"), (bad, "rolled back")]
    # The file stays new: the verified container needs it.
    assert vllm.template.read_bytes() == SEED_TEMPLATE.read_bytes()
    fixed = _inspect(docker_client, good)
    assert fixed["Id"] != before[good]["Id"] and fixed["State"]["Running"]
    wait_healthy(host_port(docker_client, good))
    assert _chat(host_port(docker_client, good)) == 200
    # The failed one has its original configuration back (it never mounted the file).
    restored = _inspect(docker_client, bad)
    assert restored["Id"] == before[bad]["Id"] and restored["State"]["Running"]
    assert restored["HostConfig"] == before[bad]["HostConfig"] and restored["Args"] == before[bad]["Args"]

    rolled = run(["rollback", good, "--yes"], vllm.state_dir)  # now no container keeps the new file

    assert rolled.code == 0, rolled.output
    assert _inspect(docker_client, good)["Id"] == before[good]["Id"]
    assert not vllm.template.exists()  # it did not exist before the apply


def test_kill_during_the_second_verify_then_recover_keeps_the_shared_file(
        vllm: Vllm, docker_client: Any, tmp_path: Path) -> None:
    good, bad, playbook = _shared_file_setup(vllm, docker_client, tmp_path)
    before = {n: _inspect(docker_client, n)["Id"] for n in (good, bad)}
    proc = start(_shared_apply_args(vllm, playbook, good, bad, "--timeout", "600"), vllm.state_dir)
    vllm.procs.append(proc)
    proc.wait_for(": done", stream="stdout")  # the first one verified ...
    proc.wait_for(": verify", stream="stdout", count=2)  # ... the second one is verifying
    proc.kill()

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    assert f"{bad}: restored the original" in result.stdout
    assert _inspect(docker_client, bad)["Id"] == before[bad] and _inspect(docker_client, bad)["State"]["Running"]
    assert _inspect(docker_client, good)["Id"] != before[good]
    assert vllm.template.read_bytes() == SEED_TEMPLATE.read_bytes()
    assert _chat(host_port(docker_client, good)) == 200


# --------------------------------------------------------------------------- locks

def test_concurrent_apply_is_refused_with_who_holds_the_lock(vllm: Vllm, docker_client: Any) -> None:
    first = vllm.start_apply("created")
    first.wait_for("remediate: paused at created")

    second = run(vllm.apply_args("--yes"), vllm.state_dir)

    assert second.code == 2, second.output
    user = _user()
    assert f"locked by {user}@{socket.gethostname()} (pid {first.pid}, apply fix-vllm-404" in second.stderr
    assert "Traceback" not in second.output
    # A rollback and a recover are refused too while the apply runs.
    assert run(["recover"], vllm.state_dir).code == 2
    assert f"(pid {first.pid}" in run(["rollback", vllm.name, "--yes"], vllm.state_dir).stderr
    assert f"{vllm.name}-remediate-new" in names_with_prefix(docker_client, vllm.name)  # untouched by the others

    # The holder dies: its lock is stale, `recover` takes it over and puts the original back.
    first.kill()
    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    _assert_original_back(docker_client, vllm, None)
    assert not (engine_state_dir(vllm.state_dir) / "lock").exists()


def test_a_second_container_on_the_same_host_is_refused_too(vllm: Vllm, docker_client: Any) -> None:
    other = f"{vllm.name}-b"
    run_vllm(docker_client, other)
    first = vllm.start_apply("stopped")
    first.wait_for("remediate: paused at stopped")

    second = run(["apply", "fix-vllm-404", "--container", other, "-e", f"template_host_path={vllm.template}",
                  "--yes"], vllm.state_dir)

    assert second.code == 2, second.output
    assert f"(pid {first.pid}" in second.stderr
    assert _inspect(docker_client, other)["State"]["Running"]


def _user() -> str:
    import getpass

    return getpass.getuser()


def _lock_file(vllm: Vllm, holder: dict[str, Any]) -> Path:
    lock = engine_state_dir(vllm.state_dir) / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_text(json.dumps(holder))
    return lock


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_stale_lock_of_a_dead_process_is_taken_over(vllm: Vllm, docker_client: Any) -> None:
    lock = _lock_file(vllm, {"user": "someone", "controller": socket.gethostname(), "pid": _dead_pid(),
                                "purpose": "apply fix-vllm-404", "time": "2024-01-01T00:00:00+00:00",
                                **identity(), "started": "1"})

    result = run(vllm.apply_args("--yes"), vllm.state_dir)

    assert result.code == 0, result.output
    assert "recreated" in result.stdout
    assert _inspect(docker_client, vllm.name)["Id"] != vllm.original["Id"]
    assert not lock.exists()


def test_lock_of_a_reused_pid_is_stale(vllm: Vllm) -> None:
    # The pid is alive (this test) but its process started at another time: not the holder.
    _lock_file(vllm, {"user": "someone", "controller": socket.gethostname(), "pid": os.getpid(),
                                "purpose": "apply fix-vllm-404", "time": "2024-01-01T00:00:00+00:00",
                                **identity(), "started": "1"})

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    assert "nothing to recover" in result.stdout


def test_lock_held_from_another_machine_is_never_broken(vllm: Vllm, docker_client: Any) -> None:
    lock = _lock_file(vllm, {"user": "alice", "controller": "laptop-of-alice", "pid": 4242,
                                "purpose": "apply fix-vllm-404", "time": "2024-01-01T00:00:00+00:00"})

    result = run(vllm.apply_args("--yes"), vllm.state_dir)

    assert result.code == 2, result.output
    assert "locked by alice@laptop-of-alice (pid 4242, apply fix-vllm-404" in result.stderr
    assert _inspect(docker_client, vllm.name)["Id"] == vllm.original["Id"]
    assert lock.exists()


# --------------------------------------------------------------------------- kill a rollback

def _assert_applied_with_backup_parked(docker_client: Any, vllm: Vllm, new_id: str, backup: str) -> None:
    """As after the apply: the applied container runs with its file, the original is the parked
    backup (stopped, restart policy no)."""
    assert names_with_prefix(docker_client, vllm.name) == {vllm.name, backup}
    now = _inspect(docker_client, vllm.name)
    assert now["Id"] == new_id and now["State"]["Running"]
    assert now["HostConfig"]["RestartPolicy"] == vllm.original["HostConfig"]["RestartPolicy"]
    parked = _inspect(docker_client, backup)
    assert parked["Id"] == vllm.original["Id"] and not parked["State"]["Running"]
    assert parked["HostConfig"]["RestartPolicy"]["Name"] == "no"
    assert vllm.template.read_bytes() == SEED_TEMPLATE.read_bytes()


@pytest.mark.parametrize("step", ["files", "stopped", "parked", "swapped", "started"])
def test_kill_during_rollback_then_recover_keeps_the_backup(step: str, vllm: Vllm, docker_client: Any) -> None:
    assert run(vllm.apply_args("--yes"), vllm.state_dir).code == 0
    new_id = _inspect(docker_client, vllm.name)["Id"]
    [backup] = _backups(docker_client, vllm.name)
    proc = start(["rollback", vllm.name, "--yes"], vllm.state_dir, REMEDIATE_PAUSE_AT=step)
    vllm.procs.append(proc)
    proc.wait_for(f"remediate: paused at {step}")
    proc.kill()

    result = run(["recover"], vllm.state_dir)

    assert result.code == 0, result.output
    # Back to before the rollback: the applied container runs, the original is still the backup.
    _assert_applied_with_backup_parked(docker_client, vllm, new_id, backup)

    again = run(["rollback", vllm.name, "--yes"], vllm.state_dir)  # and the rollback can be done after all

    assert again.code == 0, again.output
    restored = _inspect(docker_client, vllm.name)
    assert restored["Id"] == vllm.original["Id"] and restored["State"]["Running"]
    assert restored["HostConfig"] == vllm.original["HostConfig"]
    assert not vllm.template.exists()
    [replaced] = _backups(docker_client, vllm.name)  # the applied one is the backup now
    assert _inspect(docker_client, replaced)["Id"] == new_id
    assert "recovered: restored the original" in run(["history"], vllm.state_dir).stdout



@pytest.mark.parametrize("step", ["files", "swapped", "started"])
def test_a_rollback_failing_in_process_keeps_the_backup_as_recover_does(step: str, vllm: Vllm,
                                                                         docker_client: Any) -> None:
    """The undo of a failed rollback is recover's: the backup it was putting back is parked
    again, never removed; the applied container runs again, with its file."""
    assert run(vllm.apply_args("--yes"), vllm.state_dir).code == 0
    new_id = _inspect(docker_client, vllm.name)["Id"]
    [backup] = _backups(docker_client, vllm.name)
    proc = start(["rollback", vllm.name, "--yes"], vllm.state_dir, REMEDIATE_FAIL_AT=step)
    vllm.procs.append(proc)

    code = proc.wait()

    output = "".join(proc.stdout + proc.stderr)
    assert code == 1 and "Traceback" not in output, output
    _assert_applied_with_backup_parked(docker_client, vllm, new_id, backup)
    rows = json.loads(run(["history", "--format", "json"], vllm.state_dir).stdout)
    assert [(r["kind"], r["result"]) for r in rows] == [("rollback", "rolled back"), ("apply", "recreated")]


# --------------------------------------------------------------------------- interrupts

NEVER_VERIFIES = """\
name: rt-never-verifies
description: a change whose verification never passes (the interrupt tests stop it)
safety: auto
select: {name: "rt-crash-*"}
changes:
  - env: {RT_INTERRUPT_TEST: "1"}
verify:
  - http: {port: 8000, path: /health-never, status: 200}
"""


def _never_verifies(vllm: Vllm, tmp_path: Path, *containers: str, sig: signal.Signals) -> Background:
    """Start an apply of NEVER_VERIFIES on ``containers`` one at a time, signal it once it verifies."""
    playbook = tmp_path / "never.yml"
    playbook.write_text(NEVER_VERIFIES)
    args = ["apply", str(playbook), "--yes", "--parallel", "1", "--timeout", "300"]
    proc = start([*args, *(a for c in containers for a in ("--container", c))], vllm.state_dir)
    vllm.procs.append(proc)
    proc.wait_for(": verify", stream="stdout")
    os.kill(proc.pid, sig)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_restores_the_container_in_flight_and_starts_no_other(
        sig: signal.Signals, vllm: Vllm, docker_client: Any, tmp_path: Path) -> None:
    second = f"{vllm.name}-b"
    originals = {vllm.name: vllm.original["Id"], second: run_vllm(docker_client, second)["Id"]}

    proc = _never_verifies(vllm, tmp_path, vllm.name, second, sig=sig)

    assert proc.wait() == 1, proc.stdout + proc.stderr
    output = "".join(proc.stdout + proc.stderr)
    assert "interrupted: restoring what is not verified yet" in output
    assert "verify failed: running: interrupted" in output and "restored: the original container" in output
    assert "skipped (interrupted)" in output, output
    for name, old_id in originals.items():  # one restored, one never touched: both as they were
        assert _inspect(docker_client, name)["Id"] == old_id and _inspect(docker_client, name)["State"]["Running"]
        assert "RT_INTERRUPT_TEST=1" not in _inspect(docker_client, name)["Config"]["Env"]
    assert names_with_prefix(docker_client, vllm.name) == set(originals)  # nothing staged or parked left
    rows = json.loads(run(["history", "--format", "json"], vllm.state_dir).stdout)
    assert [r["result"] for r in rows] == ["rolled back"]  # finished: no recover needed


def test_second_interrupt_stops_at_once_and_recover_finishes(vllm: Vllm, docker_client: Any,
                                                              tmp_path: Path) -> None:
    proc = _never_verifies(vllm, tmp_path, vllm.name, sig=signal.SIGINT)
    proc.wait_for("interrupted: restoring")
    os.kill(proc.pid, signal.SIGINT)

    code = proc.wait()

    assert code in (1, 128 + signal.SIGINT), code  # the restore may have finished before the second one
    if code == 128 + signal.SIGINT:
        assert "stopped at once" in "".join(proc.stderr)
        assert run(["recover"], vllm.state_dir).code == 0
    assert _inspect(docker_client, vllm.name)["Id"] == vllm.original["Id"]
    assert names_with_prefix(docker_client, vllm.name) == {vllm.name}
    assert run(["recover"], vllm.state_dir).stdout.startswith("nothing to recover")


# --------------------------------------------------------------------------- journal size

def test_a_grown_journal_is_moved_aside_and_still_read_by_history_and_rollback(vllm: Vllm,
                                                                                docker_client: Any) -> None:
    from remediate.executor.journal import ROTATE_BYTES

    journal_dir = engine_state_dir(vllm.state_dir)
    vllm.template.parent.mkdir(parents=True)
    vllm.template.write_text(OLD_CONTENT)
    pad_journal(journal_dir / "journal.jsonl")
    assert (journal_dir / "journal.jsonl").stat().st_size > ROTATE_BYTES

    applied = run(vllm.apply_args("--yes"), vllm.state_dir)

    assert applied.code == 0, applied.output
    [first] = sorted(journal_dir.glob("journal-*.jsonl"))
    assert "rt-elsewhere" in first.read_text() and vllm.name not in first.read_text()
    assert vllm.name in (journal_dir / "journal.jsonl").read_text()  # only this apply is left to read
    rows = json.loads(run(["history", "--format", "json"], vllm.state_dir).stdout)
    assert len(rows) == 1501 and rows[0]["container"] == vllm.name

    pad_journal(journal_dir / "journal.jsonl")  # the rollback's own check moves the apply's record aside...
    rolled = run(["rollback", vllm.name, "--yes"], vllm.state_dir)

    assert rolled.code == 0, rolled.output
    assert len(list(journal_dir.glob("journal-*.jsonl"))) == 2
    assert vllm.template.read_text() == OLD_CONTENT  # ...and still found there: the file is restored
    assert _inspect(docker_client, vllm.name)["Id"] == vllm.original["Id"]


# --------------------------------------------------------------------------- a damaged journal

def _journal(vllm: Vllm) -> Path:
    path = engine_state_dir(vllm.state_dir) / "journal.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _no_traceback(*results: Any) -> None:
    for result in results:
        assert "Traceback" not in result.output, result.output


def test_garbage_without_newline_then_a_kill_while_parked_is_recovered(vllm: Vllm, docker_client: Any) -> None:
    journal = _journal(vllm)
    journal.write_bytes(b'{"tx": "half-written')  # no newline: the next record must not be glued on
    proc = vllm.start_apply("parked")
    proc.wait_for("remediate: paused at parked")
    proc.kill()
    assert journal.read_bytes().startswith(b'{"tx": "half-written\n{')  # begin on a line of its own

    result = run(["recover"], vllm.state_dir)

    _no_traceback(result)
    assert result.code == 0, result.output
    assert f"{vllm.name}: restored the original" in result.stdout
    assert "torn last record" not in result.stderr  # not the last line any more: skipped...
    assert "journal.jsonl line 1: not a journal record; skipped" in result.stderr
    assert "moved 1 damaged line(s) of the journal aside" in result.stderr  # ...and moved aside
    _assert_original_back(docker_client, vllm, None)
    [aside] = engine_state_dir(vllm.state_dir).glob("damaged-*.txt")
    assert aside.read_bytes() == b'{"tx": "half-written\n'
    again = run(["history"], vllm.state_dir)
    assert again.code == 0 and again.stderr == ""  # healed: nothing left to warn about


WRONG_SHAPES = [b"[1,2,3]", b"42", b'{"tx":[1]}', b'{"tx": "b0", "op": "begin"}', b'"text"', b"null"]


def test_wrong_shape_records_are_skipped_with_one_warning_each(vllm: Vllm, docker_client: Any) -> None:
    _journal(vllm).write_bytes(b"\n".join(WRONG_SHAPES) + b"\n")

    applied = run(vllm.apply_args("--yes"), vllm.state_dir)
    history = run(["history", "--format", "json"], vllm.state_dir)

    _no_traceback(applied, history)
    assert applied.code == 0, applied.output
    assert "recreated" in applied.stdout
    warnings = [line for line in applied.stderr.splitlines() if line.startswith("remediate: warning: ")]
    assert len(warnings) == len(WRONG_SHAPES), applied.stderr  # each said once
    assert "journal.jsonl line 4: a begin record without container; skipped" in applied.stderr
    assert history.code == 0
    assert [r["result"] for r in json.loads(history.stdout)] == ["recreated"]
    assert "line 1: not a JSON object (list); skipped" in history.stderr

    recovered = run(["recover"], vllm.state_dir)

    _no_traceback(recovered)
    assert recovered.code == 0 and recovered.stdout.startswith("nothing to recover")
    assert f"moved {len(WRONG_SHAPES)} damaged line(s) of the journal aside" in recovered.stderr
    assert run(["history"], vllm.state_dir).stderr == ""
    assert run(vllm.apply_args("--yes"), vllm.state_dir).stdout.count("no changes") == 1


def test_a_torn_end_record_is_healed_by_recover_and_the_next_apply_works(vllm: Vllm, docker_client: Any) -> None:
    assert run(vllm.apply_args("--yes"), vllm.state_dir).code == 0
    new_id = _inspect(docker_client, vllm.name)["Id"]
    journal = _journal(vllm)
    whole = journal.read_bytes()
    last = whole.rstrip(b"\n").rsplit(b"\n", 1)[1]
    assert b'"op": "end"' in last
    journal.write_bytes(whole[:len(whole) - len(last) // 2 - 1])  # the end record torn half-way

    refused = run(vllm.apply_args("--yes"), vllm.state_dir)

    _no_traceback(refused)
    assert refused.code == 2
    assert "torn last record (an interrupted write); `remediate recover` moves it aside" in refused.stderr
    assert "run `remediate recover` first" in refused.stderr

    result = run(["recover"], vllm.state_dir)

    _no_traceback(result)
    assert result.code == 0, result.output
    assert f"{vllm.name}: kept the verified new container" in result.stdout  # it had verified
    assert _inspect(docker_client, vllm.name)["Id"] == new_id
    assert journal.read_bytes().endswith(b"\n")
    again = run(vllm.apply_args("--yes"), vllm.state_dir)
    assert again.code == 0 and "no changes" in again.stdout and again.stderr == "", again.output
    rows = json.loads(run(["history", "--format", "json"], vllm.state_dir).stdout)
    assert [r["result"] for r in rows] == ["recovered: kept the verified new container"]


# --------------------------------------------------------------------------- a full disk

@pytest.mark.parametrize("leave", [16, 8192], ids=["few-bytes", "room-for-the-lock-only"])
def test_a_full_disk_fails_the_apply_before_the_swap(leave: int, vllm: Vllm, docker_client: Any,
                                                    small_disk: Path) -> None:
    import dataclasses

    full = dataclasses.replace(vllm, state_dir=str(small_disk))
    engine_state_dir(full.state_dir).mkdir()
    fill_disk(small_disk, leave)

    result = run(full.apply_args("--yes"), full.state_dir)

    _no_traceback(result)
    assert result.code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "No space left on device" in line, line
    assert "recreated" not in result.stdout
    assert names_with_prefix(docker_client, vllm.name) == {vllm.name}  # nothing created, nothing parked
    now = _inspect(docker_client, vllm.name)
    assert now["Id"] == vllm.original["Id"] and now["State"]["Running"]
    assert not vllm.template.exists()  # not even the playbook's file
    left = sorted(p.name for p in engine_state_dir(full.state_dir).iterdir())
    assert left in ([], ["journal.jsonl"]), left  # no lock, no reserve, no torn record
    if left:
        assert not (engine_state_dir(full.state_dir) / "journal.jsonl").read_bytes()


def test_a_disk_filling_up_during_the_apply_costs_no_record(vllm: Vllm, docker_client: Any,
                                                            small_disk: Path) -> None:
    import dataclasses

    from remediate.executor.journal import RESERVE_BYTES
    from remediate.executor.lines import parse
    from remediate.executor.record import StepDone

    full = dataclasses.replace(vllm, state_dir=str(small_disk))
    engine_state_dir(full.state_dir).mkdir()
    fill_disk(small_disk, RESERVE_BYTES + 4096)  # the lock and the reserve take it all: no room for the journal

    result = run(full.apply_args("--yes"), full.state_dir)

    _no_traceback(result)
    assert result.code == 0, result.output
    assert "recreated" in result.stdout
    parsed = parse((engine_state_dir(full.state_dir) / "journal.jsonl").read_bytes())
    assert parsed.problems == []
    assert [r.step if isinstance(r, StepDone) else r.op for r in parsed.records][-2:] == ["verified", "end"]
    assert sorted(p.name for p in engine_state_dir(full.state_dir).iterdir()) == ["files", "journal.jsonl"] or \
        sorted(p.name for p in engine_state_dir(full.state_dir).iterdir()) == ["journal.jsonl"]


def test_an_end_record_that_cannot_be_written_is_no_success(vllm: Vllm, docker_client: Any, small_disk: Path,
                                                             tmp_path: Path) -> None:
    import dataclasses

    full = dataclasses.replace(vllm, state_dir=str(small_disk))
    resume = tmp_path / "resume"
    proc = start(full.apply_args("--yes"), full.state_dir, REMEDIATE_PAUSE_AT="verified",
                 REMEDIATE_RESUME_FILE=str(resume))
    vllm.procs.append(proc)
    proc.wait_for("remediate: paused at verified")
    (engine_state_dir(full.state_dir) / "reserve").unlink()  # someone else takes the room it held...
    journal = engine_state_dir(full.state_dir) / "journal.jsonl"
    with journal.open("ab") as fh:  # blank lines (read as nothing) up to the page end: the next record
        fh.write(b"\n" * (-journal.stat().st_size % 4096))  # needs a new page of the disk...
    filler = fill_disk(small_disk, 0)  # ...and the rest is taken too
    resume.touch()

    code = proc.wait()

    output = "".join(proc.stdout + proc.stderr)
    assert "Traceback" not in output
    assert code == 2, output
    assert "is recreated but the journal does not say so: run `remediate recover` to finish it" in output
    new = _inspect(docker_client, vllm.name)
    assert new["Id"] != vllm.original["Id"] and new["State"]["Running"]  # verified: kept
    filler.unlink()
    assert "run `remediate recover` first" in run(full.apply_args("--yes"), full.state_dir).stderr

    result = run(["recover"], full.state_dir)

    assert result.code == 0, result.output
    assert f"{vllm.name}: kept the verified new container" in result.stdout
    assert _inspect(docker_client, vllm.name)["Id"] == new["Id"]
    assert "no changes" in run(full.apply_args("--yes"), full.state_dir).stdout


def test_a_rollback_whose_end_cannot_be_written_says_so_as_an_apply_does(vllm: Vllm, docker_client: Any,
                                                                         small_disk: Path, tmp_path: Path) -> None:
    """One transaction runner: rollback (and recover) say what state the container is in and to run
    recover when the end record cannot be written, as apply does; recover then settles it."""
    import dataclasses

    full = dataclasses.replace(vllm, state_dir=str(small_disk))
    assert run(full.apply_args("--yes"), full.state_dir).code == 0
    resume = tmp_path / "resume"
    proc = start(["rollback", vllm.name, "--yes"], full.state_dir, REMEDIATE_PAUSE_AT="verified",
                 REMEDIATE_RESUME_FILE=str(resume))
    vllm.procs.append(proc)
    proc.wait_for("remediate: paused at verified")
    (engine_state_dir(full.state_dir) / "reserve").unlink()
    journal = engine_state_dir(full.state_dir) / "journal.jsonl"
    with journal.open("ab") as fh:
        fh.write(b"\n" * (-journal.stat().st_size % 4096))
    filler = fill_disk(small_disk, 0)
    resume.touch()

    code = proc.wait()

    output = "".join(proc.stdout + proc.stderr)
    assert "Traceback" not in output
    assert code == 2, output
    assert f"{vllm.name} is restored but the journal does not say so: run `remediate recover` to finish it" in output
    restored = _inspect(docker_client, vllm.name)
    assert restored["Id"] == vllm.original["Id"] and restored["State"]["Running"]  # verified: kept
    filler.unlink()
    assert run(["recover"], full.state_dir).code == 0
    assert _inspect(docker_client, vllm.name)["Id"] == vllm.original["Id"]
    assert "recovered: kept the verified new container" in run(["history"], full.state_dir).stdout

