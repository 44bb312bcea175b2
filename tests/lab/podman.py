"""Podman engines the integration tests run against, through Podman's Docker-compatible API.

* ``podman-4.3``: Debian 12's podman 4.3.1 (``apt-get install podman``, by ``dev/podman``).
* ``podman-5.4``: Debian 13's podman 5.4, in a minimal Debian 13 root file system that
  ``dev/podman`` makes with ``debootstrap --variant=minbase`` under ``/var/tmp/podman5/root``.
  Its binaries need glibc 2.38 (Debian 12 has 2.36), so they cannot run unpacked here: the
  service runs in a private mount namespace whose ``/usr`` is that tree's (Debian 12 and 13 both
  merge ``/bin``, ``/lib`` and ``/sbin`` into ``/usr``), so every other path, the tests' bind
  sources and remediate's state directory included, is this machine's.

Each :func:`podman_engine` is one ``podman system service`` of the lab's own: storage, run and
network directories under ``/var/tmp/remediate-podman/<name>``, its socket there, in its own
network namespace (published ports are on that namespace's loopback, as for the modern Docker
engine: :meth:`tests.lab.engines.Engine.run`), configured as CI's machine needs (root without
CAP_SYS_RESOURCE, no systemd): ``default_ulimits`` at or below the hard limits, runc, catatonit
for ``--init``, cgroupfs, events in a file. Without systemd nothing runs healthchecks, so the
lab runs ``podman healthcheck run`` for every container that has one, each second. Both
processes are stopped by PID; leftovers of a killed run are removed before a start.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tests.lab.engines import IMAGES, Engine, _describe
from tests.lab.hosts import LabError

__all__ = ["PODMAN4", "PODMAN5", "PODMAN5_ROOT", "podman_available", "podman_engine"]

PODMAN4 = "podman-4.3"
PODMAN5 = "podman-5.4"
#: The Debian 13 root file system of podman 5.4 (dev/podman).
PODMAN5_ROOT = Path(os.environ.get("REMEDIATE_PODMAN5", "/var/tmp/podman5/root"))
_BASE = Path("/var/tmp/remediate-podman")
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
#: Each engine's subnet (its own network namespace: they never meet, but stay apart anyway).
_SUBNETS = {PODMAN4: "10.231.60", PODMAN5: "10.231.61"}

_CONTAINERS_CONF = """\
[containers]
# Podman's default raises nofile and nproc to 1048576, which needs CAP_SYS_RESOURCE.
default_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]
init_path = "/usr/bin/catatonit"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "{dir}/events.log"
[network]
network_config_dir = "{dir}/networks"
default_subnet = "{subnet}.0/24"
"""

_STORAGE_CONF = """\
[storage]
driver = "overlay"
graphroot = "{dir}/graph"
runroot = "{dir}/run"
"""

# The service and the healthcheck loop, in one mount namespace (podman 5.4: Debian 13's /usr).
_LAUNCH = """\
set -e
if [ -n "$TREE" ]; then mount --make-rprivate / && mount --bind "$TREE/usr" /usr; fi
( while :; do
    for id in $(podman ps -q --filter health=starting --filter health=healthy --filter health=unhealthy \
                2>/dev/null); do
      podman healthcheck run "$id" >/dev/null 2>&1 || true
    done
    sleep 1
  done ) </dev/null &
echo $! > "$DIR/health.pid"
exec podman system service --time 0 "unix://$DIR/podman.sock"
"""


def podman_available(name: str) -> str | None:
    """Why the Podman engine ``name`` cannot run here (None when it can)."""
    if name == PODMAN4:
        return None if shutil.which("podman") else "podman missing: run `bash dev/setup` (dev/podman)"
    if not (PODMAN5_ROOT / "usr/bin/podman").exists():
        return f"{PODMAN5_ROOT}/usr/bin/podman missing: run `bash dev/setup` (dev/podman)"
    return None


@contextlib.contextmanager
def podman_engine(name: str, images: Sequence[str] = IMAGES) -> Iterator[Engine]:
    """Start the Podman engine ``name`` (:data:`PODMAN4` or :data:`PODMAN5`) with ``images``
    copied in from the local engine (tagged ``docker.io/...`` as a pull would name them); stop
    it and remove everything it made on exit."""
    missing = podman_available(name)
    if missing:
        raise LabError(missing)
    tag = f"{name.replace('.', '')}{_WORKER}"
    directory = _BASE / tag
    netns = f"rpd{tag.removeprefix('podman-')}"
    _remove(directory, netns)
    directory.mkdir(parents=True)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    # nproc at the hard limit itself (96367 here) fails at start: "error setting rlimit type 6".
    nproc = min(resource.getrlimit(resource.RLIMIT_NPROC)[1], 4096)
    (directory / "containers.conf").write_text(_CONTAINERS_CONF.format(
        nofile=nofile, nproc=nproc, dir=directory, subnet=_SUBNETS[name]))
    (directory / "storage.conf").write_text(_STORAGE_CONF.format(dir=directory))
    subprocess.run(["ip", "netns", "add", netns], check=True, capture_output=True)
    subprocess.run(["ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up"], check=True, capture_output=True)
    env = {**os.environ, "CONTAINERS_CONF": str(directory / "containers.conf"),
           "CONTAINERS_STORAGE_CONF": str(directory / "storage.conf"), "DIR": str(directory),
           "TREE": str(PODMAN5_ROOT) if name == PODMAN5 else "", "TMPDIR": str(directory)}
    env.pop("DOCKER_HOST", None)
    with (directory / "service.log").open("wb") as log:
        service = subprocess.Popen(
            ["nsenter", f"--net=/var/run/netns/{netns}", "unshare", "--mount", "sh", "-c", _LAUNCH],
            env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (directory / "service.pid").write_text(f"{service.pid}\n")
    url = f"unix://{directory}/podman.sock"
    try:
        _wait_for(url, service, directory)
        _load(url, images)
        engine = _describe(name, url, netns=netns)
        yield engine
    finally:
        _stop(url, service, directory)
        _remove(directory, netns)


def _wait_for(url: str, service: subprocess.Popen[bytes], directory: Path) -> None:
    """Wait (bounded) until the service accepts connections on its socket, then ask it once.
    Polled with a socket of our own: docker-py leaks its socket when a unix connect fails."""
    import docker

    deadline = time.monotonic() + 60
    while not _accepts(url.removeprefix("unix://")):
        if service.poll() is not None:
            raise LabError(f"podman service exited {service.returncode}: {(directory / 'service.log').read_text()}")
        if time.monotonic() > deadline:
            raise LabError(f"podman service did not answer in 60 s: {(directory / 'service.log').read_text()}")
        time.sleep(0.1)
    client = docker.DockerClient(base_url=url, version="auto", timeout=60)
    try:
        client.ping()
    finally:
        client.close()


def _accepts(path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.connect(path)
        except OSError:
            return False
    return True


def _load(url: str, images: Sequence[str]) -> None:
    """Copy ``images`` from the local engine; ``podman load`` names an archive's ``a/b:c`` as
    ``localhost/a/b:c``, a pull as ``docker.io/a/b:c``: the lab's images get the pulled name."""
    import docker

    env = {**os.environ, "DOCKER_HOST": url}
    subprocess.run(["sh", "-c", 'docker -H unix:///var/run/docker.sock save "$@" | docker load -q', "-", *images],
                   env=env, check=True, capture_output=True, timeout=300)
    podman = docker.APIClient(base_url=url, version="auto", timeout=300)
    try:
        for ref in images:
            first = ref.split("/", 1)[0]
            if "." in first or ":" in first:
                continue
            repository, _, tag = ref.rpartition(":")
            podman.tag(f"localhost/{ref}", f"docker.io/{repository}", tag)
            podman.remove_image(f"localhost/{ref}", noprune=True)
    finally:
        podman.close()


def _stop(url: str, service: subprocess.Popen[bytes], directory: Path) -> None:
    """Remove every container (through the API: the service's mount namespace holds their
    layers), then stop the healthcheck loop and the service by PID."""
    import docker

    with contextlib.suppress(docker.errors.DockerException, OSError):
        api: Any = docker.APIClient(base_url=url, version="auto", timeout=60)
        try:
            for container in api.containers(all=True):
                # A forced remove waits out the stop timeout first (a `sleep` as PID 1 ignores
                # SIGTERM): kill it at once.
                with contextlib.suppress(docker.errors.DockerException):
                    api.kill(container["Id"])
                with contextlib.suppress(docker.errors.DockerException):
                    api.remove_container(container["Id"], force=True, v=True)
        finally:
            api.close()
    _kill_pidfile(directory / "health.pid", directory)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(service.pid, signal.SIGTERM)
    try:
        service.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(service.pid, signal.SIGKILL)
        service.wait(timeout=20)


def _kill_pidfile(path: Path, directory: Path, *, group: bool = False) -> None:
    """SIGKILL the process (``group``: its process group) a pid file names, only if it still is
    this lab's: a pid file outlives its process, and the pid may since name another process
    (e.g. a containerd shim of the shared Docker engine)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(path.read_text().strip())
        if _ours(pid, directory):
            (os.killpg if group else os.kill)(pid, signal.SIGKILL)


def _ours(pid: int, directory: Path) -> bool:
    """True when process ``pid`` belongs to the lab in ``directory``: its command line or its
    environment names that directory (the service's ``DIR``, conmon's run paths)."""
    mark = str(directory).encode()
    for part in ("cmdline", "environ"):
        with contextlib.suppress(OSError):
            if mark in Path(f"/proc/{pid}/{part}").read_bytes():
                return True
    return False


def _remove(directory: Path, netns: str) -> None:
    """Remove a (killed) earlier run's service, its processes, files and network namespace."""
    for pidfile in (directory / "health.pid", directory / "service.pid"):
        _kill_pidfile(pidfile, directory, group=True)
        _kill_pidfile(pidfile, directory)
    # Container processes (conmon, the containers) of a killed service: by their cgroup-less
    # parentage nothing finds them; their run directory does (conmon's pid files).
    for pidfile in directory.glob("run/overlay-containers/*/userdata/conmon.pid"):
        _kill_pidfile(pidfile, directory)
    if (Path("/var/run/netns") / netns).exists():
        subprocess.run(["ip", "netns", "del", netns], check=False, capture_output=True)
    if directory.exists():
        _unmount_under(directory)
        shutil.rmtree(directory, ignore_errors=True)


def _unmount_under(directory: Path) -> None:
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for mount in sorted((m for m in mounts if m.startswith(f"{directory}/")), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
