"""The engine dies mid-apply: a lab host's own dockerd is killed (by its PID) at each phase of a
recreate over SSH, the apply runs on into the dead engine, the dockerd is started again the way
the lab starts it, and `remediate recover -H ssh://...` must reach a correct end state: the
original under its name, running, with its restart policy and its id, or the new container
only if it had verified.

The apply pauses after the phase's journal step (tests.integration.pausing_remediate); the test
kills the dockerd, then lets the apply carry on. One lab host serves every phase, and the tests of
the journal written over SFTP (garbage before a record, a full disk).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.integration._proc import PLAYBOOK, WAIT, fill_disk, run, start
from tests.lab.hosts import LabHost, kill_dockerd, lab_hosts, restart_dockerd

IMAGE = "remediate-test/fake-vllm:1"
NAME = "rt-death-vllm"
POLICY = {"Name": "unless-stopped", "MaximumRetryCount": 0}


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabHost]:
    with lab_hosts(1, prefix="rjd", images=[IMAGE], keys_dir=tmp_path_factory.mktemp("lab-keys")) as hosts:
        yield hosts[0]


@pytest.fixture
def engine(host: LabHost) -> Iterator[Any]:
    """The host's engine through its socket (not the tool under test), with a broken fake vLLM."""
    client = docker.APIClient(base_url=host.docker_url, version="1.41", timeout=60)
    _reset(client)
    container = client.create_container(
        IMAGE, ["--model", "mistralai/Mistral-7B-Instruct-v0.3"], name=NAME, ports=[8000],
        host_config=client.create_host_config(port_bindings={8000: ("127.0.0.1", None)}, restart_policy=POLICY))
    client.start(container)
    yield client
    client.close()
    with docker.APIClient(base_url=host.docker_url, version="1.41", timeout=60) as after:  # a new engine process
        _reset(after)


def _reset(client: Any) -> None:
    for c in client.containers(all=True):
        if any(n.lstrip("/").startswith(NAME) for n in c["Names"]):
            client.remove_container(c["Id"], force=True)


def _names(client: Any) -> set[str]:
    return {n.lstrip("/") for c in client.containers(all=True) for n in c["Names"] if n.lstrip("/").startswith(NAME)}


def _where(host: LabHost) -> list[str]:
    return ["-H", host.ssh_url, "--known-hosts", str(host.known_hosts_file), "--private-key", str(host.identity_file)]


def _never_verifies(tmp_path: Path) -> Path:
    """fix-vllm-404 that also makes the new container never answer: its verify keeps polling."""
    slow = tmp_path / "slow-vllm.yml"
    slow.write_text(PLAYBOOK.read_text().replace("name: fix-vllm-404", "name: slow-vllm").replace(
        "changes:\n", "changes:\n  - env: {FAKE_VLLM_STARTUP_DELAY: '3600'}\n", 1))
    return slow


PHASES = ["created", "stopped", "parked", "swapped", "verify", "verified"]


@pytest.mark.parametrize("phase", PHASES)
def test_engine_killed_mid_apply_then_recover_reaches_a_correct_state(
        phase: str, host: LabHost, engine: Any, state_dir: str, tmp_path: Path) -> None:
    original = engine.inspect_container(NAME)
    resume = tmp_path / "resume"
    args = ["apply", str(_never_verifies(tmp_path)) if phase == "verify" else "fix-vllm-404", *_where(host),
            "-e", f"template_host_path={tmp_path}/tpl.jinja", "--yes", "--timeout", "15"]
    if phase == "verify":
        proc = start(args, state_dir)
        proc.wait_for(": verify", stream="stdout")
    else:
        proc = start(args, state_dir, REMEDIATE_PAUSE_AT=phase, REMEDIATE_RESUME_FILE=str(resume))
        proc.wait_for(f"remediate: paused at {phase}")
    try:
        kill_dockerd(host)
        resume.touch()
        code = proc.wait()  # it runs on into the dead engine
    finally:
        proc.stop()
        restart_dockerd(host)
    output = "".join(proc.stdout + proc.stderr)
    assert "Traceback" not in output
    # Before a verify: the restore cannot reach the engine either (exit 3, recover named). After it:
    # the backup prune cannot (exit 2); the journal has no end, the verified container is kept.
    assert code == (2 if phase == "verified" else 3), output
    if phase != "verified":
        assert "remediate recover" in output

    result = run(["recover", *_where(host)], state_dir)

    assert "Traceback" not in result.output
    assert result.code == 0, result.output
    engine.close()  # its connection was to the killed daemon
    client = docker.APIClient(base_url=host.docker_url, version="1.41", timeout=60)
    now = _wait_settled(client, NAME)
    if phase == "verified":
        assert f"{NAME}: kept the verified new container" in result.stdout
        assert now["Id"] != original["Id"] and "--served-model-name" in now["Args"]
        [backup] = _names(client) - {NAME}
        parked = client.inspect_container(backup)
        assert parked["Id"] == original["Id"] and parked["HostConfig"]["RestartPolicy"]["Name"] == "no"
    else:
        assert f"{NAME}: restored the original" in result.stdout
        assert now["Id"] == original["Id"]
        assert now["Args"] == original["Args"] and now["Config"]["Env"] == original["Config"]["Env"]
        assert _names(client) == {NAME}  # nothing staged or parked left
        assert not (tmp_path / "tpl.jinja").exists()
    assert now["State"]["Running"]
    assert now["HostConfig"]["RestartPolicy"] == POLICY
    rows = json.loads(run(["history", "--format", "json", *_where(host)], state_dir).stdout)
    assert rows[0]["result"].startswith("recovered: ")
    assert run(["recover", *_where(host)], state_dir).stdout.startswith("nothing to recover")
    client.close()


def _wait_settled(client: Any, name: str) -> dict[str, Any]:
    """The container under ``name`` once it is running (the restarted engine may still be starting
    it by its restart policy); bounded."""
    deadline = time.monotonic() + WAIT
    while True:
        inspect: dict[str, Any] = client.inspect_container(name)
        if inspect["State"]["Running"] or time.monotonic() > deadline:
            return inspect
        time.sleep(0.2)


# --------------------------------------------------------------------------- the journal over SFTP

def _journal_dir(host: LabHost, state_dir: str) -> Path:
    """The host's journal directory (the lab hosts share this machine's file system)."""
    from remediate.host.connection import Connection

    with Connection(host.docker_url) as conn:
        return Path(state_dir, conn.engine_id)


def test_garbage_before_a_record_over_sftp_loses_no_record(host: LabHost, engine: Any, state_dir: str,
                                                           tmp_path: Path) -> None:
    original = engine.inspect_container(NAME)
    journal = _journal_dir(host, state_dir) / "journal.jsonl"
    journal.parent.mkdir(parents=True)
    journal.write_bytes(b"\x00\x01 not a record")  # no newline at the end
    proc = start(["apply", "fix-vllm-404", *_where(host), "-e", f"template_host_path={tmp_path}/tpl.jinja", "--yes"],
                 state_dir, REMEDIATE_PAUSE_AT="parked")
    try:
        proc.wait_for("remediate: paused at parked")
    finally:
        proc.stop()
    assert journal.read_bytes().startswith(b"\x00\x01 not a record\n{")  # the begin on a line of its own

    result = run(["recover", *_where(host)], state_dir)

    assert "Traceback" not in result.output
    assert result.code == 0, result.output
    assert f"{NAME}: restored the original" in result.stdout
    assert "journal.jsonl line 1: not a journal record; skipped" in result.stderr
    now = engine.inspect_container(NAME)
    assert now["Id"] == original["Id"] and now["State"]["Running"] and now["HostConfig"]["RestartPolicy"] == POLICY


@pytest.mark.parametrize("leave", [16, 8192], ids=["few-bytes", "room-for-the-lock-only"])
def test_a_full_disk_over_sftp_fails_before_anything_changed(leave: int, host: LabHost, engine: Any,
                                                            small_disk: Path, tmp_path: Path) -> None:
    original = engine.inspect_container(NAME)
    _journal_dir(host, str(small_disk)).mkdir()
    fill_disk(small_disk, leave)

    result = run(["apply", "fix-vllm-404", *_where(host), "-e", f"template_host_path={tmp_path}/tpl.jinja", "--yes"],
                 str(small_disk))

    assert "Traceback" not in result.output
    assert result.code == 2, result.output
    [line] = result.stderr.splitlines()
    assert "cannot create" in line or "no room for the journal, nothing was changed" in line, line
    assert _names(engine) == {NAME} and engine.inspect_container(NAME)["Id"] == original["Id"]
    assert not (tmp_path / "tpl.jinja").exists()
    left = sorted(p.name for p in _journal_dir(host, str(small_disk)).iterdir())
    assert left == [], left  # no lock, no reserve, no torn record
