"""A lab of real remote hosts on this machine, for integration tests and benchmarks.

Each lab host is a network namespace with its own dockerd and its own sshd:

* ``ip netns add <prefix>-hN``; a veth pair ``<prefix>-hN-v`` (root namespace) <-> ``eth0``
  (host namespace) on its own /30 taken from 10.231.0.0/16: the root side is ``10.231.K.1``,
  the host is ``10.231.K.2``.  The root namespace reaches every host address directly.
  No NAT is set up and, by default, no default route either (see ``default_route``).
* A UTS namespace per host (bind-mounted at ``/run/<name>/uts``) whose hostname is ``<name>``.
* ``dockerd`` started with ``nsenter --net=/var/run/netns/<name> --uts=...`` (not ``ip netns exec``,
  which remounts /sys and hides the cgroup mounts dockerd needs).  Its own data-root
  ``/var/lib/<name>-docker``, exec-root ``/run/<name>/exec``, socket
  ``/run/<name>/docker.sock``, its own managed containerd, its own ``docker0`` and iptables
  (every network namespace has its own), so published ports work the normal way.
  The socket is usable from the root namespace too: ``docker -H unix:///run/<name>/docker.sock``.
  ``lab_hosts(..., dockerd=Dockerd(binary, path))`` runs another engine generation instead of
  the system's (e.g. Debian 13's unpacked dockerd 26 with its containerd first on PATH:
  ``tests/lab/engines.py``).
* ``sshd`` in the same namespace, listening on ``<address>:22``, with a host key generated for
  this run, root login by the lab client key only, and ``SetEnv DOCKER_HOST=unix://<sock>``,
  so ``ssh root@<address> docker ...`` and the Docker SDK's ``ssh://`` transport (which runs
  ``docker system dial-stdio`` on the remote side) reach *that* host's dockerd.

Usage::

    with lab_hosts(3, images=["remediate-test/busybox:1"], keys_dir=tmp) as hosts:
        h = hosts[0]
        h.name, h.address, h.ssh_url, h.docker_sock, h.known_hosts_line

How a client connects (all paths are also on every ``LabHost``):

* Docker SDK (docker-py 7.1, paramiko transport, ``use_ssh_client=False``).  Its SSH adapter
  takes no key or known_hosts arguments: it reads ``~/.ssh/config`` (``IdentityFile``,
  ``User``, ``Port``, ``ProxyCommand``), calls ``load_system_host_keys()`` (i.e.
  ``~/.ssh/known_hosts``) with ``RejectPolicy`` and connects with paramiko's defaults
  (``look_for_keys``: ``~/.ssh/id_*``; the agent if ``SSH_AUTH_SOCK`` is set).  ``~`` is
  ``$HOME`` for paramiko, so the lab prepares ``<keys_dir>/home/.ssh/{config, id_ed25519,
  known_hosts}`` and a client only needs ``HOME=<keys_dir>/home`` while the DockerClient is
  created (it connects in its constructor; it reconnects - re-reading ``$HOME`` - only after
  ``close()``)::

      monkeypatch.setenv("HOME", str(host.ssh_home))       # or: with host.home_env(): ...
      client = docker.DockerClient(base_url=host.ssh_url, use_ssh_client=False)

  ``LabHost.docker_client()`` does exactly that.  (``use_ssh_client=True`` shells out to
  OpenSSH's ``ssh``, which reads the *real* home directory whatever ``$HOME`` says, and takes
  no ``-i``/``-o`` options from docker-py: do not use it against the lab.)
* paramiko directly::

      c = paramiko.SSHClient()
      c.load_host_keys(str(host.known_hosts_file))
      c.set_missing_host_key_policy(paramiko.RejectPolicy())
      c.connect(host.address, port=host.ssh_port, username=host.user,
                key_filename=str(host.identity_file), look_for_keys=False, allow_agent=False)

  (``LabHost.paramiko_client()``.)
* fabric 3 (``Connection`` sets ``AutoAddPolicy`` and never loads known_hosts)::

      conn = fabric.Connection(host.address, user=host.user, port=host.ssh_port,
                               connect_kwargs={"key_filename": str(host.identity_file),
                                               "look_for_keys": False, "allow_agent": False})
      conn.client.load_host_keys(str(host.known_hosts_file))
      conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())

* OpenSSH: ``ssh -F <keys_dir>/home/.ssh/config root@<address> docker info`` (the config names
  the key and the known_hosts file, ``IdentitiesOnly``, ``StrictHostKeyChecking yes``), or
  ``ssh -i <key> -o IdentitiesOnly=yes -o UserKnownHostsFile=<known_hosts> root@<address>``.

Concurrency and leftovers:

* One lab per prefix at a time on the machine: ``lab_hosts`` holds ``flock`` on
  ``/run/remediate-lab/<prefix>.lock`` for its lifetime (a second lab with the same prefix
  waits; give parallel workers distinct prefixes).  The kernel drops the lock when the
  process dies, so the next lab (or ``cleanup_lab``) can clean what a killed run left.
* Subnets are allocated under a machine-wide lock from the /30s not yet assigned in the root
  namespace, so labs with different prefixes never collide.
* ``lab_hosts`` calls ``cleanup_lab(prefix)`` before it starts.  ``cleanup_lab`` only kills
  processes recorded in this lab's pidfiles (checked against their start time and network
  namespace, so a recycled PID is never hit), then processes still inside the lab's own
  network namespaces (only the lab's daemons, their sessions and shims can be there), then
  containers of a stale lab dockerd (found through the cgroups named after the container
  ids in the lab's data-root).  Then it unmounts what dockerd left under the lab's
  data-root/exec-root, deletes the namespaces and veths, and removes the lab directories.

Run ``python -m tests.lab.hosts up 3`` to get a lab for manual exploration (Ctrl-C ends it),
``python -m tests.lab.hosts cleanup rl`` to remove leftovers.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

__all__ = ["Dockerd", "LabError", "LabHost", "cleanup_lab", "dockerd_pid", "ensure_client_key", "kill_dockerd",
           "lab_hosts", "restart_dockerd"]

LOCK_DIR = Path("/run/remediate-lab")
NETNS_DIR = Path("/var/run/netns")
SUBNET_PREFIX = "10.231"  # /30s 10.231.K.0/30, K in 1..254
DOCKERD = "dockerd"
SSHD = "/usr/sbin/sshd"
SSH_PORT = 22

_PREFIX_RE = re.compile(r"^[a-z][a-z0-9]{0,7}$")
#: The daemons of the labs this process runs, per host name.
_LIVE: dict[str, list[subprocess.Popen[bytes]]] = {}


class LabError(RuntimeError):
    """The lab could not be set up (the message carries the daemons' log tails)."""


@dataclasses.dataclass(frozen=True)
class Dockerd:
    """Which dockerd the hosts of a lab run.

    Attributes:
        binary: the dockerd executable (default: the system's, from PATH).
        path: directories put first on its PATH, where it finds the containerd, shims,
            ``docker-proxy`` and ``docker-init`` of its own generation (it starts its own
            containerd from there).
    """

    binary: str = DOCKERD
    path: tuple[str, ...] = ()

    def env(self) -> dict[str, str] | None:
        """The environment to start it with (None: this process's own)."""
        if not self.path:
            return None
        return {**os.environ, "PATH": os.pathsep.join([*self.path, os.environ.get("PATH", os.defpath)])}


@dataclasses.dataclass(frozen=True)
class LabHost:
    name: str  # "rl-h1"; also the netns name
    netns: str
    address: str  # the host's IPv4 (its end of the veth)
    ssh_port: int
    user: str
    docker_sock: str  # in the root file system: /run/<name>/docker.sock
    host_key_pub: str  # "ssh-ed25519 AAAA..." of this host's sshd
    known_hosts_line: str  # "<address> ssh-ed25519 AAAA..."
    ssh_url: str  # "ssh://root@<address>:22"
    # Extras (beyond the minimal contract) that make connecting one-liners:
    peer_address: str  # root namespace's end of the veth
    data_root: str  # dockerd --data-root
    identity_file: Path  # lab client private key (<keys_dir>/id_ed25519)
    known_hosts_file: Path  # <keys_dir>/known_hosts (all hosts of the lab)
    ssh_home: Path  # a $HOME for paramiko/docker-py: .ssh/{config,id_ed25519,known_hosts}

    @property
    def docker_url(self) -> str:
        """The engine's socket as a Docker base_url (root namespace, no SSH)."""
        return f"unix://{self.docker_sock}"

    @contextlib.contextmanager
    def home_env(self) -> Iterator[None]:
        """Temporarily point $HOME at the lab's ssh home (process-wide!)."""
        old = os.environ.get("HOME")
        os.environ["HOME"] = str(self.ssh_home)
        try:
            yield
        finally:
            if old is None:
                os.environ.pop("HOME", None)
            else:
                os.environ["HOME"] = old

    def docker_client(self, **kwargs: Any) -> Any:
        """``docker.DockerClient`` over SSH (paramiko) with the lab key and known_hosts."""
        import docker

        with self.home_env():
            return docker.DockerClient(base_url=self.ssh_url, use_ssh_client=False, **kwargs)

    def paramiko_client(self, timeout: float = 10.0) -> Any:
        """A connected ``paramiko.SSHClient`` (strict host key checking)."""
        import paramiko

        c = paramiko.SSHClient()
        c.load_host_keys(str(self.known_hosts_file))
        c.set_missing_host_key_policy(paramiko.RejectPolicy())
        c.connect(
            self.address,
            port=self.ssh_port,
            username=self.user,
            key_filename=str(self.identity_file),
            look_for_keys=False,
            allow_agent=False,
            timeout=timeout,
        )
        return c

    def ssh_argv(self, *command: str) -> list[str]:
        """OpenSSH command line for this host (explicit key and known_hosts)."""
        return [
            "ssh", "-F", "/dev/null", "-i", str(self.identity_file),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", f"UserKnownHostsFile={self.known_hosts_file}",
            "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
            "-p", str(self.ssh_port), f"{self.user}@{self.address}", *command,
        ]  # fmt: skip


# --------------------------------------------------------------------------- names, paths


@dataclasses.dataclass(frozen=True)
class _Paths:
    name: str

    @property
    def veth(self) -> str:
        return f"{self.name}-v"

    @property
    def netns_file(self) -> Path:
        return NETNS_DIR / self.name

    @property
    def run(self) -> Path:
        return Path("/run") / self.name

    @property
    def exec_root(self) -> Path:
        return self.run / "exec"

    @property
    def uts_file(self) -> Path:
        return self.run / "uts"

    @property
    def data_root(self) -> Path:
        return Path("/var/lib") / f"{self.name}-docker"

    @property
    def sock(self) -> Path:
        return self.run / "docker.sock"

    @property
    def docker_pid(self) -> Path:
        return self.run / "docker.pid"

    @property
    def sshd_dir(self) -> Path:
        return self.run / "sshd"

    @property
    def sshd_pid(self) -> Path:
        return self.sshd_dir / "sshd.pid"

    @property
    def procs(self) -> Path:
        """Our own record of the daemons we started: {"dockerd": [pid, starttime], ...}."""
        return self.run / "lab-procs.json"


def _name(prefix: str, i: int) -> str:
    return f"{prefix}-h{i}"


def _check_prefix(prefix: str) -> None:
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"lab prefix must match {_PREFIX_RE.pattern} (got {prefix!r})")


def _names_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}-h\d+$")


# --------------------------------------------------------------------------- small helpers


def _run(argv: Sequence[str], *, input: str | None = None, check: bool = True) -> str:
    p = subprocess.run(list(argv), input=input, capture_output=True, text=True, check=False)
    if check and p.returncode != 0:
        raise LabError(f"{' '.join(argv)} failed ({p.returncode}): {p.stderr.strip()}")
    return p.stdout


@contextlib.contextmanager
def _flock(path: Path, timeout: float) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LabError(f"{path} is held by another lab (waited {timeout:.0f}s)")
                time.sleep(0.1)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _write(path: Path, data: str | bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _tail(path: Path, n: int = 25) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return f"  ({path}: missing)"
    return "\n".join(f"  | {line}" for line in lines)


def _proc_starttime(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime), counted after the ")" that ends the command name.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _netns_id(path: Path | str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _pids_in_netns(ns_id: tuple[int, int]) -> list[int]:
    me = os.getpid()
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == me:
            continue
        if _netns_id(f"/proc/{d}/ns/net") == ns_id:
            out.append(int(d))
    return out


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive for our purposes.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _kill(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_dead(pids: Sequence[int], timeout: float) -> list[int]:
    deadline = time.monotonic() + timeout
    left = [p for p in pids if pid_alive(p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if pid_alive(p)]
    return left


_libc = ctypes.CDLL(None, use_errno=True)
_MNT_DETACH = 2


def _mounts_under(roots: Sequence[Path]) -> list[str]:
    prefixes = [str(r).rstrip("/") for r in roots]
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4]
            mp = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), mp)
            if any(mp == p or mp.startswith(p + "/") for p in prefixes):
                found.append(mp)
    return found


def _umount_all(roots: Sequence[Path]) -> None:
    for _ in range(10):
        mps = _mounts_under(roots)
        if not mps:
            return
        # Deepest (and most recent) first.
        for mp in sorted(set(mps), key=lambda m: (m.count("/"), mps.index(m)), reverse=True):
            if _libc.umount2(mp.encode(), 0) != 0:
                _libc.umount2(mp.encode(), _MNT_DETACH)
    left = _mounts_under(roots)
    if left:
        raise LabError(f"could not unmount: {left[:5]}")


# --------------------------------------------------------------------------- keys


def _ed25519() -> tuple[bytes, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    pub = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    return priv, pub.decode()


def ensure_client_key(keys_dir: Path) -> tuple[Path, str]:
    """Create ``keys_dir/id_ed25519{,.pub}`` once; return (private key path, public line)."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    priv_p, pub_p = keys_dir / "id_ed25519", keys_dir / "id_ed25519.pub"
    with _flock(keys_dir / ".lab.lock", 60):
        if not (priv_p.exists() and pub_p.exists()):
            priv, pub = _ed25519()
            _write(priv_p, priv, 0o600)
            _write(pub_p, pub + " remediate-lab-client\n", 0o644)
    return priv_p, pub_p.read_text().strip()


def _write_client_files(keys_dir: Path, lines: dict[str, str]) -> None:
    """Merge the lab's host keys into keys_dir/known_hosts; lay out keys_dir/home/.ssh."""
    kh = keys_dir / "known_hosts"
    with _flock(keys_dir / ".lab.lock", 60):
        keep = []
        if kh.exists():
            for line in kh.read_text().splitlines():
                host = line.split(" ", 1)[0]
                if line.strip() and host not in lines:
                    keep.append(line)
        _write(kh, "".join(f"{x}\n" for x in keep + list(lines.values())), 0o644)
        ssh = keys_dir / "home" / ".ssh"
        ssh.mkdir(parents=True, exist_ok=True)
        os.chmod(ssh, 0o700)
        for fname, target in (
            ("id_ed25519", keys_dir / "id_ed25519"),
            ("id_ed25519.pub", keys_dir / "id_ed25519.pub"),
            ("known_hosts", kh),
        ):
            link = ssh / fname
            if not (link.is_symlink() and os.readlink(link) == str(target)):
                with contextlib.suppress(FileNotFoundError):
                    link.unlink()
                link.symlink_to(target)
        _write(
            ssh / "config",
            f"Host {SUBNET_PREFIX}.*\n"
            "    User root\n"
            f"    Port {SSH_PORT}\n"
            f"    IdentityFile {keys_dir / 'id_ed25519'}\n"
            "    IdentitiesOnly yes\n"
            f"    UserKnownHostsFile {kh}\n"
            "    GlobalKnownHostsFile /dev/null\n"
            "    StrictHostKeyChecking yes\n"
            "    BatchMode yes\n",
            0o600,
        )


# --------------------------------------------------------------------------- cleanup


def _lab_names(prefix: str) -> list[str]:
    pat = _names_pattern(prefix)
    names: set[str] = set()
    if NETNS_DIR.is_dir():
        names |= {n for n in os.listdir(NETNS_DIR) if pat.match(n)}
    names |= {n for n in os.listdir("/run") if pat.match(n)}
    names |= {
        n[: -len("-docker")]
        for n in os.listdir("/var/lib")
        if n.endswith("-docker") and pat.match(n[: -len("-docker")])
    }
    for line in _run(["ip", "-o", "link", "show"], check=False).splitlines():
        m = re.match(r"^\d+:\s+([^:@\s]+)", line)
        if m and m.group(1).endswith("-v") and pat.match(m.group(1)[:-2]):
            names.add(m.group(1)[:-2])
    return sorted(names, key=lambda n: int(n.rsplit("h", 1)[1]))


def _recorded_pids(p: _Paths, ns_id: tuple[int, int] | None) -> list[int]:
    """PIDs from this lab's records and pidfiles that are still the processes we started."""
    pids: list[int] = []
    record: dict[str, list[int]] = {}
    with contextlib.suppress(OSError, ValueError):
        record = json.loads(p.procs.read_text())
    for pid, start in record.values():
        if _proc_starttime(pid) == start:
            pids.append(pid)
    for pf in (p.sshd_pid, p.docker_pid, p.exec_root / "containerd" / "containerd.pid"):
        try:
            pid = int(pf.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if pid in pids or not pid_alive(pid):
            continue
        # A bare pidfile PID counts only if the process is inside the lab's namespace or
        # its command line names the lab (a recycled PID is neither).
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if (ns_id and _netns_id(f"/proc/{pid}/ns/net") == ns_id) or str(p.run) in cmdline:
            pids.append(pid)
    return pids


def _kill_stale_containers(p: _Paths) -> None:
    """Processes of containers a stale lab dockerd ran (found by the container-id cgroups)."""
    cdir = p.data_root / "containers"
    if not cdir.is_dir():
        return
    ids = [d for d in os.listdir(cdir) if re.fullmatch(r"[0-9a-f]{64}", d)]
    pids: set[int] = set()
    for cid in ids:
        for pat in (
            f"/sys/fs/cgroup/*/docker/{cid}/cgroup.procs",
            f"/sys/fs/cgroup/docker/{cid}/cgroup.procs",
            f"/sys/fs/cgroup/*/system.slice/docker-{cid}.scope/cgroup.procs",
            f"/sys/fs/cgroup/system.slice/docker-{cid}.scope/cgroup.procs",
        ):
            for f in glob.glob(pat):
                with contextlib.suppress(OSError, ValueError):
                    pids |= {int(x) for x in Path(f).read_text().split()}
    for pid in pids:
        _kill(pid, signal.SIGKILL)
    _wait_dead(sorted(pids), 5)


def _destroy(name: str) -> None:
    """Remove everything of one lab host.  Idempotent; tolerates any partial state."""
    p = _Paths(name)
    ns_id = _netns_id(p.netns_file)
    pids = _recorded_pids(p, ns_id)
    if pids:
        # dockerd's shutdown stops containers with their own stop timeout (10 s for a PID 1
        # that ignores SIGTERM), whatever --shutdown-timeout says: kill them first.
        _kill_containers(p.sock)
    for pid in pids:
        _kill(pid, signal.SIGTERM)
    for pid in _wait_dead(pids, 15):
        _kill(pid, signal.SIGKILL)
    _wait_dead(pids, 5)
    _kill_stale_containers(p)
    if ns_id is not None:
        # Whatever still runs in the lab's namespace was started by the lab (sshd sessions,
        # `docker system dial-stdio`, containerd, shims, docker-proxy, --network host
        # containers).  Kill it, or `ip netns del` would leave a live namespace behind.
        for _ in range(5):
            stray = _pids_in_netns(ns_id)
            if not stray:
                break
            for pid in stray:
                _kill(pid, signal.SIGKILL)
            _wait_dead(stray, 5)
    _umount_all([p.data_root, p.run])
    if p.netns_file.exists():
        _run(["ip", "netns", "del", name], check=False)
    _run(["ip", "link", "del", p.veth], check=False)
    for d in (p.run, p.data_root):
        if d.exists():
            shutil.rmtree(d, ignore_errors=True)
        if d.exists():
            raise LabError(f"could not remove {d}")


def _cleanup_locked(prefix: str, names: Sequence[str] = ()) -> None:
    shutil.rmtree(_images_dir(prefix), ignore_errors=True)
    todo = sorted(set(_lab_names(prefix)) | set(names))
    if not todo:
        return
    with ThreadPoolExecutor(max_workers=min(8, len(todo))) as ex:
        list(ex.map(_destroy, todo))


def cleanup_lab(prefix: str = "rl", *, timeout: float = 60.0) -> None:
    """Remove the leftovers of earlier labs with this prefix (e.g. of a killed test run).

    Waits up to ``timeout`` seconds if a live lab with this prefix holds the prefix lock.
    """
    _check_prefix(prefix)
    with _flock(LOCK_DIR / f"{prefix}.lock", timeout):
        _cleanup_locked(prefix)


# --------------------------------------------------------------------------- setup


def _allocate_and_wire(names: Sequence[str], default_route: bool) -> list[tuple[str, str]]:
    """Create netns + veth per host with a free /30 each; return [(peer, address)]."""
    with _flock(LOCK_DIR / "alloc.lock", 60):
        used = set()
        for m in re.finditer(
            rf"inet {re.escape(SUBNET_PREFIX)}\.(\d+)\.", _run(["ip", "-4", "-o", "addr"])
        ):
            used.add(int(m.group(1)))
        free = [k for k in range(1, 255) if k not in used]
        if len(free) < len(names):
            raise LabError(f"no free /30 left in {SUBNET_PREFIX}.0.0/16")
        pairs = [(f"{SUBNET_PREFIX}.{k}.1", f"{SUBNET_PREFIX}.{k}.2") for k in free[: len(names)]]
        batch = []
        for name, (peer, _addr) in zip(names, pairs):
            p = _Paths(name)
            batch += [
                f"netns add {name}",
                f"link add {p.veth} type veth peer name eth0 netns {name}",
                f"addr add {peer}/30 dev {p.veth}",
                f"link set {p.veth} up",
            ]
        _run(["ip", "-batch", "-"], input="\n".join(batch) + "\n")
    for name, (peer, addr) in zip(names, pairs):
        cmds = ["link set lo up", f"addr add {addr}/30 dev eth0", "link set eth0 up"]
        if default_route:
            cmds.append(f"route add default via {peer}")
        _run(["ip", "-n", name, "-batch", "-"], input="\n".join(cmds) + "\n")
    return pairs


def _sshd_config(p: _Paths, address: str) -> str:
    return f"""\
# remediate test lab host {p.name}
Port {SSH_PORT}
AddressFamily inet
ListenAddress {address}
HostKey {p.sshd_dir}/ssh_host_ed25519_key
PidFile {p.sshd_pid}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile {p.sshd_dir}/authorized_keys
UsePAM no
StrictModes no
SetEnv DOCKER_HOST=unix://{p.sock}
PrintMotd no
PrintLastLog no
UseDNS no
MaxSessions 200
MaxStartups 200
LoginGraceTime 30
X11Forwarding no
Subsystem sftp internal-sftp
LogLevel INFO
"""


def _popen_daemon(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C of the test run must not hit them first
            close_fds=True,
        )


def _docker_ready(sock: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(str(sock))
        s.sendall(b"GET /_ping HTTP/1.0\r\nHost: lab\r\n\r\n")
        head = s.recv(64)
        return head.split(b"\r\n", 1)[0].split()[1:2] == [b"200"]
    except (OSError, IndexError):
        return False
    finally:
        s.close()


def _sshd_ready(address: str) -> bool:
    try:
        with socket.create_connection((address, SSH_PORT), timeout=1.0) as s:
            s.settimeout(2.0)
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _engine(base_url: str | None = None) -> Any:
    """A low-level docker.APIClient: the main engine (environment) or a lab engine."""
    import docker

    if base_url is None:
        return docker.from_env(version="auto", timeout=60).api
    return docker.APIClient(base_url=base_url, version="auto", timeout=60)


def _image_id(api: Any, name: str) -> str | None:
    import docker

    try:
        return str(api.inspect_image(name)["Id"])
    except docker.errors.ImageNotFound:
        return None


def _images_dir(prefix: str) -> Path:
    return LOCK_DIR / f"{prefix}-images"


def _save_images(images: Sequence[str], tmp: Path) -> dict[str, str]:
    """Check the images are in the main engine and `docker save` them once into tmp."""
    if not images:
        return {}
    main = _engine()
    try:
        ids = {img: _image_id(main, img) for img in images}
    finally:
        main.close()
    absent = [img for img, i in ids.items() if i is None]
    if absent:
        raise LabError(
            f"images not in the main docker engine: {absent} (run bash tests/lab/images/build.sh)"
        )
    tmp.mkdir(parents=True, exist_ok=True)
    _run(["docker", "save", "-o", str(tmp / "images.tar"), *images])
    return {img: str(i) for img, i in ids.items()}


def _load_images(socks: Sequence[Path], ids: dict[str, str], tmp: Path) -> None:
    """Load the saved images into each lab engine (in parallel), unless it already has them
    (same name, same id)."""
    if not ids:
        return

    def load(sock: Path) -> None:
        api = _engine(f"unix://{sock}")
        try:
            missing = [img for img, i in ids.items() if _image_id(api, img) != i]
        finally:
            api.close()
        if missing:
            _run(["docker", "-H", f"unix://{sock}", "load", "-q", "-i", str(tmp / "images.tar")])

    with ThreadPoolExecutor(max_workers=min(8, len(socks))) as ex:
        list(ex.map(load, socks))


@contextlib.contextmanager
def lab_hosts(
    count: int,
    *,
    prefix: str = "rl",
    images: Sequence[str] = (),
    keys_dir: Path,
    default_route: bool = False,
    dockerd: Dockerd = Dockerd(),
    startup_timeout: float = 90.0,
    lock_timeout: float = 900.0,
) -> Iterator[list[LabHost]]:
    """Start ``count`` lab hosts named ``<prefix>-h1`` .. ``<prefix>-h<count>``.

    ``images`` are copied from the main engine into every host's engine.  ``keys_dir`` gets
    the lab client key pair (``id_ed25519``, created once and reused), ``known_hosts`` and an
    ssh ``home/`` (see the module docstring).  ``default_route`` adds a default route via the
    root side in each host; it is off because the root namespace forwards packets
    (``ip_forward=1`` for the main dockerd) and the lab must not send anything beyond
    loopback and its own addresses.  ``dockerd`` picks the engine the hosts run (default:
    the system's).  Everything is torn down on exit, even on errors.
    """
    _check_prefix(prefix)
    if not 1 <= count <= 99:
        raise ValueError("count must be in 1..99")
    keys_dir = Path(keys_dir).resolve()
    key_path, client_pub = ensure_client_key(keys_dir)
    names = [_name(prefix, i) for i in range(1, count + 1)]
    procs: dict[str, list[subprocess.Popen[bytes]]] = {n: [] for n in names}
    _LIVE.update(procs)  # restart_dockerd() adds to these lists; the teardown reaps them

    with (
        _flock(LOCK_DIR / f"{prefix}.lock", lock_timeout),
        ThreadPoolExecutor(max_workers=1) as background,
    ):
        try:
            _cleanup_locked(prefix)
            # `docker save` of the images runs while the daemons start.
            saved = background.submit(_save_images, list(images), _images_dir(prefix))
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
            pairs = _allocate_and_wire(names, default_route)
            host_pubs: dict[str, str] = {}
            for name, (_peer, addr) in zip(names, pairs):
                p = _Paths(name)
                p.sshd_dir.mkdir(parents=True, exist_ok=True)
                p.exec_root.mkdir(parents=True, exist_ok=True)
                _write(p.run / "daemon.json", "{}\n")
                priv, pub = _ed25519()
                host_pubs[name] = pub
                _write(p.sshd_dir / "ssh_host_ed25519_key", priv, 0o600)
                _write(p.sshd_dir / "ssh_host_ed25519_key.pub", pub + "\n")
                _write(p.sshd_dir / "authorized_keys", client_pub + "\n", 0o600)
                _write(p.sshd_dir / "sshd_config", _sshd_config(p, addr))
                # Own UTS namespace too: `hostname` over ssh and `docker info` Name say <name>.
                p.uts_file.touch()
                _run(["unshare", f"--uts={p.uts_file}", "hostname", name])
                engine = _popen_daemon(_dockerd_argv(p, dockerd.binary), p.run / "dockerd.log", dockerd.env())
                procs[name].append(engine)
                sshd = _popen_daemon(
                    _nsenter(p) + [SSHD, "-D", "-e", "-f", str(p.sshd_dir / "sshd_config")],
                    p.run / "sshd.log",
                )
                procs[name].append(sshd)
                record = {
                    "dockerd": [engine.pid, _proc_starttime(engine.pid)],
                    "sshd": [sshd.pid, _proc_starttime(sshd.pid)],
                }
                _write(p.procs, json.dumps(record) + "\n")

            # Wait for every daemon (bounded), failing early if one exits.
            pending = {(n, kind) for n in names for kind in ("docker", "ssh")}
            deadline = time.monotonic() + startup_timeout
            while pending:
                for n, (_peer, addr) in zip(names, pairs):
                    for i, kind in enumerate(("docker", "ssh")):
                        if (n, kind) not in pending:
                            continue
                        pr = procs[n][i]
                        ok = (
                            _docker_ready(_Paths(n).sock) if kind == "docker" else _sshd_ready(addr)
                        )
                        if ok:
                            pending.discard((n, kind))
                        elif pr.poll() is not None:
                            raise LabError(_failure(n, f"{kind} daemon exited ({pr.returncode})"))
                if pending:
                    if time.monotonic() > deadline:
                        n, kind = min(pending)
                        raise LabError(_failure(n, f"{kind} not ready after {startup_timeout}s"))
                    time.sleep(0.05)

            _load_images([_Paths(n).sock for n in names], saved.result(), _images_dir(prefix))
            shutil.rmtree(_images_dir(prefix), ignore_errors=True)

            hosts = []
            for name, (peer, addr) in zip(names, pairs):
                p = _Paths(name)
                hosts.append(
                    LabHost(
                        name=name,
                        netns=name,
                        address=addr,
                        ssh_port=SSH_PORT,
                        user="root",
                        docker_sock=str(p.sock),
                        host_key_pub=host_pubs[name],
                        known_hosts_line=f"{addr} {host_pubs[name]}",
                        ssh_url=f"ssh://root@{addr}:{SSH_PORT}",
                        peer_address=peer,
                        data_root=str(p.data_root),
                        identity_file=key_path,
                        known_hosts_file=keys_dir / "known_hosts",
                        ssh_home=keys_dir / "home",
                    )
                )
            _write_client_files(keys_dir, {h.address: h.known_hosts_line for h in hosts})
            yield hosts
        finally:
            _teardown(prefix, names, procs)
            for n in names:
                _LIVE.pop(n, None)


def _nsenter(p: _Paths) -> list[str]:
    return ["nsenter", f"--net={p.netns_file}", f"--uts={p.uts_file}", "--"]


def _dockerd_argv(p: _Paths, binary: str = DOCKERD) -> list[str]:
    """How the lab starts a host's dockerd (also when it restarts one)."""
    return _nsenter(p) + [
        binary,
        "--config-file", str(p.run / "daemon.json"),
        "--data-root", str(p.data_root),
        "--exec-root", str(p.exec_root),
        "--pidfile", str(p.docker_pid),
        "-H", f"unix://{p.sock}",
        "--containerd-namespace", p.name,
        "--containerd-plugins-namespace", f"{p.name}-plugins",
        "--shutdown-timeout", "2",
        "--log-level", "warn",
    ]  # fmt: skip


def dockerd_pid(host: LabHost) -> int:
    """The PID of the host's own dockerd, as the lab recorded it (checked against its start time)."""
    p = _Paths(host.name)
    pid, start = json.loads(p.procs.read_text())["dockerd"]
    if _proc_starttime(pid) != start:
        raise LabError(f"lab host {host.name}: its dockerd (pid {pid}) is not running")
    return int(pid)


def kill_dockerd(host: LabHost, sig: int = signal.SIGKILL) -> None:
    """Kill the host's dockerd (only that process, by its PID) and wait until it is gone; its
    containers' shims live on, as after a real crash of the daemon."""
    p = _Paths(host.name)
    pid = dockerd_pid(host)
    containerd = _containerd_pid(p)
    _kill(pid, sig)
    for proc in _LIVE.get(host.name, []):
        if proc.pid == pid:
            proc.wait(timeout=30)  # reap it (a zombie still looks alive)
    # Its managed containerd dies with it (parent-death signal): a restart must not find it
    # still shutting down, or it reuses it and times out dialling its socket.
    if _wait_dead([pid, *([containerd] if containerd else [])], 30):
        raise LabError(f"lab host {host.name}: dockerd (pid {pid}) or its containerd did not die")


def _containerd_pid(p: _Paths) -> int | None:
    """The PID of the host's managed containerd, if it runs (checked by its command line)."""
    try:
        pid = int((p.exec_root / "containerd" / "containerd.pid").read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    return pid if str(p.exec_root) in cmdline else None


def restart_dockerd(host: LabHost, timeout: float = 90.0, attempts: int = 3) -> int:
    """Start the host's dockerd again, the way the lab starts it; returns its PID once it answers.

    Like a service manager, it tries again when the daemon exits: the first start after a crash
    can time out waiting for its containerd, which first cleans up after the shims of the
    containers that outlived the crash (about 15 s here); the next start finds them cleaned up.
    """
    for attempt in range(1, attempts + 1):
        try:
            return _restart_dockerd(host, timeout)
        except _DaemonExited:
            if attempt == attempts:
                raise
    raise AssertionError("unreachable")


class _DaemonExited(LabError):
    """A (re)started dockerd exited before it answered."""


def _restart_dockerd(host: LabHost, timeout: float) -> int:
    p = _Paths(host.name)
    try:
        running: int | None = dockerd_pid(host)
    except LabError:
        running = None
    if running is not None:
        raise LabError(f"lab host {host.name}: its dockerd (pid {running}) still runs")
    dockerd = _popen_daemon(_dockerd_argv(p), p.run / "dockerd.log")
    _LIVE.setdefault(host.name, []).append(dockerd)
    record = json.loads(p.procs.read_text())
    record["dockerd"] = [dockerd.pid, _proc_starttime(dockerd.pid)]
    _write(p.procs, json.dumps(record) + "\n")
    deadline = time.monotonic() + timeout
    while not _docker_ready(p.sock):
        if dockerd.poll() is not None:
            raise _DaemonExited(_failure(host.name, f"restarted dockerd exited ({dockerd.returncode})"))
        if time.monotonic() > deadline:
            raise LabError(_failure(host.name, f"restarted dockerd not ready after {timeout}s"))
        time.sleep(0.05)
    return dockerd.pid


def _failure(name: str, what: str) -> str:
    p = _Paths(name)
    return (
        f"lab host {name}: {what}\n"
        f"dockerd log ({p.run / 'dockerd.log'}):\n{_tail(p.run / 'dockerd.log')}\n"
        f"sshd log ({p.run / 'sshd.log'}):\n{_tail(p.run / 'sshd.log')}"
    )


def _kill_containers(sock: Path) -> None:
    """SIGKILL the running containers of a lab engine: its shutdown is then immediate."""
    if not _docker_ready(sock):
        return
    # Best effort: the daemon's own shutdown follows anyway.
    with contextlib.suppress(Exception):
        api = _engine(f"unix://{sock}")
        try:
            for c in api.containers(quiet=True):
                with contextlib.suppress(Exception):
                    api.kill(c["Id"])
        finally:
            api.close()


def _teardown(
    prefix: str, names: Sequence[str], procs: dict[str, list[subprocess.Popen[bytes]]]
) -> None:
    live = [n for n in names if procs.get(n)]
    if live:
        with ThreadPoolExecutor(max_workers=min(8, len(live))) as ex:
            list(ex.map(lambda n: _kill_containers(_Paths(n).sock), live))
    all_procs = [pr for n in names for pr in procs.get(n, [])]
    for pr in all_procs:
        if pr.poll() is None:
            pr.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for pr in all_procs:
        try:
            pr.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pr.kill()
            pr.wait(timeout=10)
    _cleanup_locked(prefix, names)


# --------------------------------------------------------------------------- CLI


def _main(argv: Sequence[str]) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tests.lab.hosts")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a lab and keep it until Ctrl-C")
    up.add_argument("count", type=int)
    up.add_argument("--prefix", default="rl")
    up.add_argument("--image", action="append", default=[])
    up.add_argument("--keys-dir", type=Path, default=Path("/tmp/remediate-lab-keys"))
    up.add_argument("--exit", action="store_true", help="tear down right after startup")
    cl = sub.add_parser("cleanup", help="remove leftovers of a lab prefix")
    cl.add_argument("prefix", nargs="?", default="rl")
    args = ap.parse_args(argv)
    if args.cmd == "cleanup":
        cleanup_lab(args.prefix)
        return 0

    # SIGTERM (and SIGINT, even when a non-interactive shell started us with it ignored)
    # end the lab through its normal teardown.
    def _stop(_sig: int, _frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    t0 = time.monotonic()
    with lab_hosts(
        args.count, prefix=args.prefix, images=args.image, keys_dir=args.keys_dir
    ) as hosts:
        print(f"lab up in {time.monotonic() - t0:.2f}s", flush=True)
        for h in hosts:
            print(f"{h.name}  {h.address}  {h.docker_sock}  {h.ssh_url}", flush=True)
        print(f"HOME={hosts[0].ssh_home}  ssh -F {hosts[0].ssh_home}/.ssh/config root@ADDR")
        if not args.exit:
            with contextlib.suppress(KeyboardInterrupt):
                signal.pause()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the teardown finish
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        t1 = time.monotonic()
    print(f"lab down in {time.monotonic() - t1:.2f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
