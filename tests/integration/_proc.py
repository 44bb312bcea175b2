"""Helpers for the crash-safety and pairing tests: run `remediate` as a real process (so it can be
killed with SIGKILL), wait for what it prints with bounded waits, and seed fake vLLM containers.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.lab.containers import LabContainer, http_ready
from tests.lab.engines import Engine

#: The console script next to this interpreter (not a pyenv shim: its PID is remediate's PID).
REMEDIATE = str(Path(sys.executable).with_name("remediate"))
VLLM_IMAGE = "vllm/vllm-openai:v0.6.3"
MODEL_ARGS = ["--model", "mistralai/Mistral-7B-Instruct-v0.3", "--max-model-len", "17776"]
REPO = Path(__file__).resolve().parents[2]
SEED_TEMPLATE = REPO / "templates/vllm/mistral_chat_template.jinja"
PLAYBOOK = REPO / "playbooks/fix-vllm-404.yml"

#: Upper bound of every wait in these tests (never asserted on: a bound, not a measurement).
WAIT = 120.0

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def strip_ansi(text: str) -> str:
    """Text without terminal escape sequences."""
    return _ANSI.sub("", text)


def engine_state_dir(state_dir: str) -> Path:
    """Where remediate keeps the journal and lock of the local engine under ``state_dir``."""
    from remediate.host.connection import Connection

    with Connection("local") as conn:
        return Path(state_dir, conn.engine_id)


def pad_journal(journal: Path, count: int = 1500) -> None:
    """Append ``count`` finished applies of some other container to a host's journal file (past
    the size at which remediate moves it aside), as months of use would."""
    lines = []
    for _ in range(count):
        tx = uuid.uuid4().hex[:12]
        lines.append(json.dumps({"tx": tx, "op": "begin", "kind": "apply", "container": "rt-elsewhere", "old_id": tx,
                                 "playbook": "fix-vllm-404", "time": "2026-01-01T00:00:00+00:00",
                                 "backup": f"rt-elsewhere-remediate-backup-{tx}"}))
        lines.append(json.dumps({"tx": tx, "op": "end", "result": "recreated"}))
    journal.parent.mkdir(parents=True, exist_ok=True)
    with journal.open("a") as fh:
        fh.write("\n".join(lines) + "\n")


def fill_disk(disk: Path, leave: int) -> Path:
    """Fill the file system of ``disk`` with one file, leaving ``leave`` bytes free."""
    import shutil

    filler = disk / "filler"
    filler.write_bytes(b"x" * (shutil.disk_usage(disk).free - leave))
    return filler


def remediate_env(state_dir: str, **extra: str) -> dict[str, str]:
    """Environment for a remediate process: its own state directory, no inherited knobs."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("REMEDIATE_") or k == "REMEDIATE_STABLE_SECONDS"}
    env.update({"REMEDIATE_STATE_DIR": state_dir, "COLUMNS": "200", "PYTHONUNBUFFERED": "1",
                # The code under test is this checkout, whatever the editable install points at.
                "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p)})
    env.update(extra)
    return env


@dataclass
class Result:
    """A finished remediate process."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run(args: Sequence[str], state_dir: str, *, timeout: float = WAIT, **extra_env: str) -> Result:
    """Run `remediate ARGS` to completion (bounded), with its own state directory."""
    proc = subprocess.run([REMEDIATE, *args], env=remediate_env(state_dir, **extra_env), capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@dataclass
class Background:
    """A remediate process running in the background; its stdout and stderr are read as they come."""

    args: Sequence[str]
    env: Mapping[str, str]
    #: The command line as run (e.g. :meth:`tests.lab.engines.Engine.argv`: in an engine's network namespace).
    wrap: Callable[[Sequence[str]], list[str]] = list
    proc: subprocess.Popen[str] = field(init=False)
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    _lines: queue.Queue[tuple[str, str | None]] = field(default_factory=queue.Queue)
    _pumps: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        # A pause is injected by a test-only entry point (the library has just a journal hook).
        injected = "REMEDIATE_PAUSE_AT" in self.env or "REMEDIATE_FAIL_AT" in self.env
        command = [sys.executable, "-m", "tests.integration.pausing_remediate"] if injected else [REMEDIATE]
        self.proc = subprocess.Popen(self.wrap([*command, *self.args]), env=dict(self.env), stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                                     start_new_session=True)
        for name, stream, sink in (("stdout", self.proc.stdout, self.stdout),
                                   ("stderr", self.proc.stderr, self.stderr)):
            pump = threading.Thread(target=self._pump, args=(name, stream, sink), daemon=True)
            pump.start()
            self._pumps.append(pump)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _pump(self, name: str, stream: Any, sink: list[str]) -> None:
        with stream:
            for line in stream:
                sink.append(line)
                self._lines.put((name, line))
        self._lines.put((name, None))

    def wait_for(self, text: str, stream: str = "stderr", timeout: float = WAIT, *, count: int = 1) -> None:
        """Block until ``count`` lines of ``stream`` contain ``text`` (bounded); fail if the process ends first."""
        deadline = time.monotonic() + timeout
        closed = set()
        # The pumps append to the stream's lines before they queue them: count there, wait here.
        while sum(text in line for line in list(getattr(self, stream))) < count:
            if time.monotonic() >= deadline or len(closed) == 2:
                raise AssertionError(f"remediate never printed {text!r} on {stream} {count} time(s) "
                                     f"(exit {self.proc.poll()}):\n"
                                     f"stdout: {''.join(self.stdout)}\nstderr: {''.join(self.stderr)}")
            try:
                name, line = self._lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                closed.add(name)

    def kill(self) -> int:
        """SIGKILL the process by its PID and reap it (a zombie would still look alive)."""
        os.kill(self.proc.pid, signal.SIGKILL)
        return self.wait()

    def wait(self, timeout: float = WAIT) -> int:
        """Wait (bounded) for the process to end and its output to be read."""
        code = self.proc.wait(timeout=timeout)
        for pump in self._pumps:
            pump.join(timeout=timeout)
        return code

    def stop(self) -> None:
        """Kill it if it still runs (teardown)."""
        if self.proc.poll() is None:
            self.kill()


def start(args: Sequence[str], state_dir: str, *, wrap: Callable[[Sequence[str]], list[str]] = list,
          **extra_env: str) -> Background:
    """Start `remediate ARGS` in the background; with ``REMEDIATE_PAUSE_AT=<step>`` (and
    optionally ``REMEDIATE_RESUME_FILE``) it pauses after that journal step, with
    ``REMEDIATE_FAIL_AT=<step>`` it fails there (see :mod:`tests.integration.pausing_remediate`).
    ``wrap`` makes the command line run, e.g. an engine's ``argv`` (its network namespace)."""
    return Background(list(args), remediate_env(state_dir, **extra_env), wrap)


# --------------------------------------------------------------------------- containers

def names_with_prefix(client: Any, prefix: str) -> set[str]:
    """Names of all containers (running or not) that start with ``prefix``."""
    return {n.lstrip("/") for c in client.api.containers(all=True) for n in c["Names"]
            if n.lstrip("/").startswith(prefix)}


def host_port(client: Any, name: str, port: str = "8000/tcp") -> int:
    """The host port the engine chose for a container port published on 127.0.0.1."""
    ports = client.api.inspect_container(name)["NetworkSettings"]["Ports"][port]
    return int(ports[0]["HostPort"])


def wait_healthy(port: int, timeout: float = WAIT) -> None:
    """Wait (bounded) until the fake vLLM on 127.0.0.1:port answers /health."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"fake vLLM on 127.0.0.1:{port} did not come up")


def run_vllm(client: Any, name: str, *, args: Sequence[str] = (), env: Mapping[str, str] | None = None,
             restart: str = "unless-stopped", **options: Any) -> dict[str, Any]:
    """Start a deliberately broken fake vLLM (no served name `mistral`, no chat template) on an
    engine-chosen port of 127.0.0.1 of the local engine, through testcontainers, which waits until
    it answers; return its inspect. ``options`` go to ``containers.create`` (e.g.
    ``ipc_mode="shareable"``). The callers remove it by name, with the copies remediate makes."""
    vllm = (LabContainer(VLLM_IMAGE, labels={"app": "vllm"}).with_name(name).with_command([*MODEL_ARGS, *args])
            .with_envs(**dict(env or {})).with_loopback_port("8000/tcp")
            .with_kwargs(restart_policy={"Name": restart}, **options).waiting_for(http_ready(8000, "/health", WAIT)))
    try:
        vllm.start()
    finally:
        vllm.get_docker_client().client.close()
    inspect: dict[str, Any] = client.api.inspect_container(name)
    return inspect


class EngineUser:
    """A fake vLLM (or gateway) on an engine in its own network namespace, and remediate run
    against it as a user on that host runs it: the real ``remediate`` process in that namespace
    with ``DOCKER_HOST`` set to the engine, so verify probes and the tests' HTTP checks reach the
    container's ``port`` published on that namespace's 127.0.0.1. A subclass starts the container
    named ``name``."""

    def __init__(self, engine: Engine, client: Any, tmp_path: Path, name: str, port: int = 8000) -> None:
        self.engine, self.client, self.name, self.port = engine, client, name, port
        self.template = tmp_path / "etc" / "chat_template.jinja"
        self.state_dir = str(tmp_path / "state")

    def inspect(self) -> dict[str, Any]:
        return dict(self.client.api.inspect_container(self.name))

    def status(self, path: str, body: str = "", until: float = 0.0) -> int:
        host_port = self.inspect()["NetworkSettings"]["Ports"][f"{self.port}/tcp"][0]["HostPort"]
        return self.engine.http_status(f"http://127.0.0.1:{host_port}{path}", body, until=until)

    def chat(self) -> int:
        """Status of the chat completion GitLab sends (model ``mistral``), once the server is up."""
        self.status("/health", until=WAIT)
        body = json.dumps({"model": "mistral", "messages": [{"role": "user", "content": "Hi"}]})
        return self.status("/v1/chat/completions", body)

    def remediate(self, *args: str) -> tuple[int, str]:
        proc = self.engine.run([REMEDIATE, *args], env=remediate_env(self.state_dir), timeout=WAIT)
        return proc.returncode, proc.stdout + proc.stderr

    def apply(self, *extra: str, playbook: str = "fix-vllm-404") -> tuple[int, str]:
        return self.remediate("apply", playbook, "--container", self.name,
                              "-e", f"template_host_path={self.template}", *extra)


def wrong_name_playbook(tmp_path: Path) -> Path:
    """fix-vllm-404 as ``wrong-name``, its verify waiting for a model name never served: every
    apply of it fails verification (and restores the original)."""
    data = yaml.safe_load(PLAYBOOK.read_text())
    data["name"] = "wrong-name"
    data["verify"][0]["http"]["contains"] = "never-served-name"
    path = tmp_path / "wrong-name.yml"
    path.write_text(yaml.safe_dump(data))
    return path
