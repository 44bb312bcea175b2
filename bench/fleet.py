"""Shared helpers of the benchmarks: engines, the container fleet, the change, timing, clean-up.

The fleet (issue 7): N busybox containers made by the docker CLI, each with ``--init``, labels,
restart policy ``unless-stopped``, a bind mount of a temp dir (spelled ``:rw``, as people do), a
port published on 127.0.0.1 with an engine-chosen host port, command ``sleep 1d``::

    docker run -d --name bench-<tag>-007 --init --label remediate-bench.run=<tag> \\
        --restart unless-stopped -v /tmp/bench-<tag>-XXXX:/data:rw -p 127.0.0.1::80 \\
        remediate-test/busybox:1 sleep 1d

The change: add one env var, ``BENCH_FLAG=1``, through a playbook file the benchmark writes.

Everything the benchmarks create carries the run's label and a ``bench-`` name, and is removed
by those two marks only - other people's containers on the same engine are never touched.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

IMAGE = "remediate-test/busybox:1"
LABEL = "remediate-bench.run"
FLAG = ("BENCH_FLAG", "1")
LOCAL_SOCK = "/var/run/docker.sock"
LAB_KEYS = Path("/var/tmp/remediate-bench-lab-keys")
#: The remediate beside this interpreter (the project venv's), else the one on PATH: a pyenv shim
#: first on PATH would add its own start-up and another interpreter's packages to every timed run.
REMEDIATE = shutil.which("remediate", path=str(Path(sys.executable).parent)) or shutil.which("remediate") or "remediate"
#: Timed Python processes keep their byte-code, as an installed tool would (this environment may set
#: PYTHONDONTWRITEBYTECODE, which makes every run recompile the editable remediate from source); the
#: cache lives outside the work tree.
PYCACHE = "/var/tmp/remediate-bench-pycache"


# --------------------------------------------------------------------------- engines


@dataclass(frozen=True)
class Engine:
    """A Docker engine the benchmark works on: the local one, or a lab host's.

    ``sock`` is the engine's socket as seen from this machine (lab engines' sockets are in the
    shared file system); ``lab`` is the :class:`tests.lab.hosts.LabHost` for SSH access.
    """

    name: str
    sock: str = LOCAL_SOCK
    lab: Any = None

    @property
    def url(self) -> str:
        return f"unix://{self.sock}"

    def docker(self, *args: str) -> list[str]:
        return ["docker", "-H", self.url, *args]

    def remediate_host_args(self) -> list[str]:
        """remediate options that target this engine (nothing for the local one)."""
        if self.lab is None:
            return []
        h = self.lab
        return ["-H", h.ssh_url, "--known-hosts", str(h.known_hosts_file), "--private-key", str(h.identity_file)]


LOCAL = Engine("local")


def new_tag() -> str:
    """A short run tag: names are ``bench-<tag>-NNN`` and the label value is the tag."""
    return secrets.token_hex(3)


# --------------------------------------------------------------------------- fleet


@dataclass
class Fleet:
    """The containers of one benchmark run on one engine."""

    engine: Engine
    tag: str
    bind_dir: str
    publish: str = "127.0.0.1::80"  # docker run -p; "80" gives the engine's HostIp "" spelling
    names: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"bench-{self.tag}-"

    def create(self, n: int, *, workers: int = 4) -> None:
        """``docker run`` N containers (a few at a time); replaces any of this run's leftovers."""
        self.remove()
        self.names = [f"{self.prefix}{i:03d}" for i in range(n)]

        def run(name: str) -> None:
            argv = self.engine.docker(
                "run", "-d", "--name", name, "--init",
                "--label", f"{LABEL}={self.tag}", "--label", "remediate-bench.role=fleet",
                "--restart", "unless-stopped",
                "-v", f"{self.bind_dir}:/data:rw",
                "-p", self.publish,
                IMAGE, "sleep", "1d",
            )  # fmt: skip
            p = subprocess.run(argv, capture_output=True, text=True, check=False)
            if p.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)}: {p.stderr.strip()}")

        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run, self.names))

    def ids(self) -> dict[str, str]:
        """name -> id of this run's containers that carry a fleet name (not backups)."""
        out = {}
        for c in _ours(self.engine, self.tag):
            if c["name"] in self.names:
                out[c["name"]] = c["id"]
        return out

    def with_flag(self) -> int:
        """How many fleet containers have the target env."""
        ids = list(self.ids().values())
        if not ids:
            return 0
        p = subprocess.run(self.engine.docker("inspect", *ids), capture_output=True, text=True, check=True)
        want = f"{FLAG[0]}={FLAG[1]}"
        return sum(1 for c in json.loads(p.stdout) if want in (c["Config"].get("Env") or []))

    def remove(self) -> None:
        """Remove every container of this run (fleet, backups, replacements) on the engine."""
        remove_ours(self.engine, self.tag)


def _ours(engine: Engine, tag: str) -> list[dict[str, str]]:
    p = subprocess.run(
        engine.docker("ps", "-a", "--filter", f"label={LABEL}={tag}", "--format", "{{.ID}} {{.Names}}"),
        capture_output=True, text=True, check=False,
    )
    found = []
    for line in p.stdout.splitlines():
        cid, _, name = line.partition(" ")
        if name.startswith("bench-"):  # both marks, or it is not ours
            found.append({"id": cid, "name": name})
    return found


def remove_ours(engine: Engine, tag: str, *, batch_timeout: float = 300.0) -> None:
    """``docker rm -f`` the containers with this run's label and a ``bench-`` name; says on stderr
    what is left when the engine did not remove them all (a batch is given up after
    ``batch_timeout`` seconds: a hung engine must not keep the benchmark, and the engine lock
    it runs under, forever)."""
    ids = [c["id"] for c in _ours(engine, tag)]
    for i in range(0, len(ids), 50):
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run(engine.docker("rm", "-f", *ids[i:i + 50]), capture_output=True, check=False,
                           timeout=batch_timeout)
    left = _ours(engine, tag)
    if left:
        print(f"bench: {len(left)} containers of run {tag} are left on {engine.name} "
              f"(label {LABEL}={tag}): remove them with docker rm -f", file=sys.stderr)


@contextlib.contextmanager
def bind_dir(tag: str) -> Iterator[str]:
    """The temp dir every fleet container bind-mounts (the lab hosts share this file system)."""
    path = tempfile.mkdtemp(prefix=f"bench-{tag}-")
    os.chmod(path, 0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_playbook(directory: Path, prefix: str) -> Path:
    """The change as a remediate playbook: select ``bench-<tag>-*``, add BENCH_FLAG=1."""
    path = directory / "bench-env-flag.yml"
    path.write_text(
        "name: bench-env-flag\n"
        "description: Benchmark change - add one env var to the bench fleet.\n"
        "safety: auto\n"
        "select:\n"
        f'  - name: "{prefix}*"\n'
        "changes:\n"
        f'  - env: {{{FLAG[0]}: "{FLAG[1]}"}}\n'
    )
    return path


# --------------------------------------------------------------------------- labs


@contextlib.contextmanager
def lab(count: int, prefix: str) -> Iterator[list[Engine]]:
    """``count`` lab hosts (netns + dockerd + sshd) with the busybox image; torn down on exit."""
    from tests.lab.hosts import lab_hosts

    with lab_hosts(count, prefix=prefix, images=[IMAGE], keys_dir=LAB_KEYS) as hosts:
        yield [Engine(h.name, h.docker_sock, h) for h in hosts]


# --------------------------------------------------------------------------- timing


@dataclass
class Run:
    """One timed process."""

    argv: list[str]
    seconds: float
    rc: int
    stdout: str
    stderr: str
    lines: list[tuple[float, str]]  # (seconds since start, stdout line)


def timed(argv: Sequence[str], *, env: dict[str, str] | None = None, ok: Sequence[int] = (0,),
          cwd: str | Path | None = None) -> Run:
    """Run a process, timing it from spawn to exit; stdout lines carry their arrival time."""
    full_env = {**os.environ, "PYTHONPYCACHEPREFIX": PYCACHE, **(env or {})}
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)
    started = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=full_env, cwd=cwd)
    lines: list[tuple[float, str]] = []
    err: list[str] = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        drain = pool.submit(lambda: err.append(proc.stderr.read()))  # type: ignore[union-attr]
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.perf_counter() - started, line.rstrip("\n")))
        rc = proc.wait()
        seconds = time.perf_counter() - started
        drain.result()
    run = Run(list(argv), seconds, rc, "\n".join(text for _, text in lines), "".join(err), lines)
    if rc not in ok:
        raise RuntimeError(f"{' '.join(argv)} exited {rc}:\n{run.stderr[-2000:]}\n{run.stdout[-2000:]}")
    return run


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def fmt_s(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:.2f} s"


def fmt_ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table (readable as text, pasteable into an issue note)."""
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM ends the benchmark like Ctrl-C does; the clean-up that follows is not interrupted."""

    def stop(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    old_term = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old_term)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ignore Ctrl-C / SIGTERM while the block (a clean-up) runs."""
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
