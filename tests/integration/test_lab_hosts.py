"""The multi-host test lab (tests/lab/hosts.py) against real dockerd + sshd hosts.

How clients reach a lab host (what these tests show working):

* Docker SDK 7.1 over SSH with paramiko (``use_ssh_client=False``): the SDK's SSH adapter has
  no parameters for a key or a known_hosts file.  It reads ``~/.ssh/config`` (IdentityFile,
  User, Port, ProxyCommand), ``~/.ssh/known_hosts`` (``load_system_host_keys`` +
  ``RejectPolicy``) and paramiko's default keys ``~/.ssh/id_*``, with ``~`` taken from
  ``$HOME``.  The lab lays out ``<keys_dir>/home/.ssh/{config,id_ed25519,known_hosts}``
  (``LabHost.ssh_home``), so::

      monkeypatch.setenv("HOME", str(host.ssh_home))
      client = docker.DockerClient(base_url=host.ssh_url, use_ssh_client=False)

  $HOME matters only while the client connects (in its constructor).  ``host.docker_client()``
  does the same with a temporary $HOME.
* paramiko: ``load_host_keys(host.known_hosts_file)``, ``RejectPolicy``,
  ``connect(address, 22, "root", key_filename=host.identity_file, look_for_keys=False,
  allow_agent=False)``  (``host.paramiko_client()``).
* fabric 3: ``Connection(address, user="root", port=22, connect_kwargs={"key_filename": ...,
  "look_for_keys": False, "allow_agent": False})``, then on ``conn.client``
  ``load_host_keys(known_hosts)`` and ``RejectPolicy`` (fabric itself auto-adds host keys).
* OpenSSH: ``host.ssh_argv(...)`` (``-F /dev/null -i key -o UserKnownHostsFile=...``): the
  ``ssh`` binary ignores $HOME for known_hosts, so paths are always explicit.

All traffic goes to the lab's own addresses (10.231.K.2) only.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without the repo root on sys.path
    sys.path.insert(0, str(ROOT))

from tests.lab import hosts as lab
from tests.lab.hosts import LabHost, cleanup_lab, lab_hosts

pytestmark = pytest.mark.integration

IMAGE = "remediate-test/busybox:1"
PREFIX = "rlt"  # this module's labs; "rlk" for the killed-run test
KILL_PREFIX = "rlk"


def _ensure_image() -> None:
    if subprocess.run(
        ["docker", "image", "inspect", IMAGE], capture_output=True, check=False
    ).returncode:
        subprocess.run(["bash", str(ROOT / "tests/lab/images/build.sh")], check=True)


def _leftovers(prefix: str) -> list[str]:
    """Anything of a lab prefix still on the machine, described."""
    pat = re.compile(rf"\b{re.escape(prefix)}-h\d+\b")
    found = []
    netns = subprocess.run(
        ["ip", "netns", "list"], capture_output=True, text=True, check=False
    ).stdout
    found += [f"netns {n.split()[0]}" for n in netns.splitlines() if pat.search(n)]
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
    found += [
        f"link {line.split(':')[1].strip()}" for line in links.splitlines() if pat.search(line)
    ]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            if pat.search(cmd) and int(pid) != os.getpid():
                found.append(f"process {pid} {cmd[:100]}")
    with open("/proc/self/mountinfo") as f:
        found += [f"mount {ln.split()[4]}" for ln in f if pat.search(ln.split()[4])]
    for d in ("/run", "/var/lib", "/var/run/netns"):
        found += [f"dir {d}/{n}" for n in os.listdir(d) if pat.search(n)]
    return found


class _ModuleLab:
    def __init__(self, keys_dir: Path) -> None:
        self._stack = contextlib.ExitStack()
        t0 = time.monotonic()
        self.hosts: list[LabHost] = self._stack.enter_context(
            lab_hosts(3, prefix=PREFIX, images=[IMAGE], keys_dir=keys_dir)
        )
        self.startup_s = time.monotonic() - t0
        self.closed = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._stack.close()


@pytest.fixture(scope="module")
def module_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_ModuleLab]:
    _ensure_image()
    ml = _ModuleLab(tmp_path_factory.mktemp("lab-keys"))
    try:
        yield ml
    finally:
        ml.close()


@pytest.fixture
def hosts(module_lab: _ModuleLab) -> list[LabHost]:
    if module_lab.closed:
        pytest.skip("module lab already torn down")
    return module_lab.hosts


def test_shape(module_lab: _ModuleLab, hosts: list[LabHost]) -> None:
    print(f"3-host lab started in {module_lab.startup_s:.2f}s")
    assert [h.name for h in hosts] == [f"{PREFIX}-h{i}" for i in (1, 2, 3)]
    assert len({h.address for h in hosts}) == 3
    for h in hosts:
        assert h.netns == h.name
        assert h.ssh_url == f"ssh://root@{h.address}:22"
        assert h.known_hosts_line == f"{h.address} {h.host_key_pub}"
        assert h.host_key_pub.startswith("ssh-ed25519 AAAA")
        assert h.known_hosts_line in h.known_hosts_file.read_text().splitlines()
        assert re.fullmatch(r"10\.231\.\d+\.2", h.address)
        assert Path(h.docker_sock).is_socket()


def test_docker_sdk_over_ssh_paramiko(
    hosts: list[LabHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker

    monkeypatch.setenv("HOME", str(hosts[0].ssh_home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    for h in hosts:
        client = docker.DockerClient(base_url=h.ssh_url, use_ssh_client=False)
        try:
            info = client.info()
            assert info["DockerRootDir"] == h.data_root
            assert info["Name"] == h.name
            assert isinstance(client.containers.list(all=True), list)
            assert client.images.get(IMAGE).tags == [IMAGE]
        finally:
            client.close()


def test_docker_sdk_explicit_key_without_home(
    hosts: list[LabHost], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without touching $HOME: subclass docker-py 7.1's SSHHTTPAdapter to pass the key and
    known_hosts to paramiko, mount it the way APIClient does for ssh:// URLs.  Relies on
    docker-py internals (_create_paramiko_client, ssh_params, the http+docker://ssh mount)."""
    import docker
    from docker.transport.sshconn import SSHHTTPAdapter

    class KeyedSSHAdapter(SSHHTTPAdapter):  # type: ignore[misc]
        def __init__(self, base_url: str, *, key: str, known_hosts: str) -> None:
            self._key, self._known_hosts = key, known_hosts
            super().__init__(base_url)

        def _create_paramiko_client(self, base_url: str) -> None:
            super()._create_paramiko_client(base_url)  # RejectPolicy; reads ~/.ssh/config
            self.ssh_client.load_host_keys(self._known_hosts)
            self.ssh_params.update(key_filename=self._key, look_for_keys=False, allow_agent=False)

    monkeypatch.setenv("HOME", "/nonexistent")
    h = hosts[2]
    api = docker.APIClient(base_url="unix:///nonexistent.sock", version="1.41")
    adapter = KeyedSSHAdapter(
        h.ssh_url, key=str(h.identity_file), known_hosts=str(h.known_hosts_file)
    )
    api.mount("http+docker://ssh", adapter)
    api.base_url = "http+docker://ssh"
    try:
        assert api.info()["DockerRootDir"] == h.data_root
    finally:
        api.close()


def test_docker_sdk_rejects_unknown_host_key(
    hosts: list[LabHost], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker
    import paramiko

    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    for f in ("config", "id_ed25519"):
        (home / ".ssh" / f).symlink_to(hosts[0].ssh_home / ".ssh" / f)
    (home / ".ssh" / "known_hosts").write_text("")  # no lab host keys
    monkeypatch.setenv("HOME", str(home))
    with pytest.raises(paramiko.SSHException):
        docker.DockerClient(base_url=hosts[0].ssh_url, use_ssh_client=False)


def test_openssh_paramiko_fabric_reach_their_host(hosts: list[LabHost]) -> None:
    import fabric
    import paramiko

    for h in hosts:
        out = subprocess.run(
            h.ssh_argv("docker info --format '{{.Name}} {{.DockerRootDir}}'; hostname"),
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [h.name, h.data_root, h.name]

        c = h.paramiko_client()
        try:
            _, stdout, _ = c.exec_command("echo $DOCKER_HOST")
            assert stdout.read().decode().strip() == f"unix://{h.docker_sock}"
        finally:
            c.close()

        conn = fabric.Connection(
            h.address, user=h.user, port=h.ssh_port,
            connect_kwargs={"key_filename": str(h.identity_file),
                            "look_for_keys": False, "allow_agent": False},
        )  # fmt: skip
        conn.client.load_host_keys(str(h.known_hosts_file))
        conn.client.set_missing_host_key_policy(paramiko.RejectPolicy())
        with conn:
            r = conn.run(
                "docker version --format '{{.Server.Version}}'", hide=True, in_stream=False
            )
            assert r.stdout.strip().startswith("20.10")


def _http_get(address: str, port: int, timeout: float = 2.0) -> str:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)  # no proxy use
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return f"{resp.status} {resp.read().decode().strip()}"
    finally:
        conn.close()


def test_published_port_on_its_host_only(hosts: list[LabHost]) -> None:
    h1 = hosts[0]
    client = h1.docker_client()
    c = client.containers.run(
        IMAGE,
        ["sh", "-c", "mkdir -p /www && echo hello-$0 > /www/index.html && exec httpd -f -p 80 -h /www",
         h1.name],
        name="lab-httpd", detach=True, ports={"80/tcp": ("0.0.0.0", 18080)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                assert _http_get(h1.address, 18080) == f"200 hello-{h1.name}"
                break
            except (OSError, http.client.HTTPException):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        for other in hosts[1:]:
            with pytest.raises(ConnectionRefusedError):
                _http_get(other.address, 18080)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((other.address, 18080), timeout=2).close()
    finally:
        c.remove(force=True)
        client.close()


def test_hosts_are_isolated(hosts: list[LabHost]) -> None:
    import docker

    clients = [h.docker_client() for h in hosts]
    try:
        c = clients[0].containers.create(IMAGE, ["sleep", "1"], name="lab-only-on-h1")
        try:
            names = [{x.name for x in cl.containers.list(all=True)} for cl in clients]
            assert "lab-only-on-h1" in names[0]
            assert "lab-only-on-h1" not in names[1] | names[2]
            with pytest.raises(docker.errors.NotFound):
                clients[1].containers.get("lab-only-on-h1")
            # Same answer through the raw socket from the root namespace.
            raw = docker.DockerClient(base_url=hosts[1].docker_url)
            try:
                assert "lab-only-on-h1" not in {x.name for x in raw.containers.list(all=True)}
            finally:
                raw.close()
        finally:
            c.remove(force=True)
    finally:
        for cl in clients:
            cl.close()


def test_startup_failure_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lab that fails half-way (daemons up, images not loaded) removes what it made."""

    def boom(*_a: object, **_k: object) -> None:
        raise RuntimeError("simulated failure while loading images")

    monkeypatch.setattr(lab, "_load_images", boom)
    with (
        pytest.raises(RuntimeError, match="simulated failure"),
        lab_hosts(2, prefix=KILL_PREFIX, images=[IMAGE], keys_dir=tmp_path),
    ):
        pass  # pragma: no cover
    assert _leftovers(KILL_PREFIX) == []


def _start_lab_process(keys: Path, count: int) -> subprocess.Popen[str]:
    p = subprocess.Popen(
        [sys.executable, "-m", "tests.lab.hosts", "up", str(count), "--prefix", KILL_PREFIX,
         "--image", IMAGE, "--keys-dir", str(keys)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    assert p.stdout is not None
    for line in p.stdout:
        if line.startswith("lab up"):
            return p
    p.wait()
    p.stdout.close()
    raise AssertionError(f"lab process failed ({p.returncode})")


def test_killed_run_is_cleaned(tmp_path: Path) -> None:
    """kill -9 of a process holding a lab (with a running container) leaves daemons,
    namespaces and mounts behind; cleanup_lab and the next lab_hosts remove them."""
    for round_ in ("cleanup_lab", "next lab_hosts"):
        proc = _start_lab_process(tmp_path, 2)
        sock = f"unix:///run/{KILL_PREFIX}-h1/docker.sock"
        subprocess.run(
            ["docker", "-H", sock, "run", "-d", "--name", "left", "-p", "18081:80", IMAGE,
             "httpd", "-f", "-p", "80"],
            check=True, capture_output=True,
        )  # fmt: skip
        os.kill(proc.pid, signal.SIGKILL)  # no teardown at all
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        assert _leftovers(KILL_PREFIX), "the killed lab should have left things behind"
        if round_ == "cleanup_lab":
            cleanup_lab(KILL_PREFIX)
        else:
            with lab_hosts(1, prefix=KILL_PREFIX, images=[IMAGE], keys_dir=tmp_path) as hs:
                assert hs[0].name == f"{KILL_PREFIX}-h1"
                client = hs[0].docker_client()
                try:
                    assert client.containers.list(all=True) == []  # fresh engine
                finally:
                    client.close()
        assert _leftovers(KILL_PREFIX) == [], round_


def test_teardown_leaves_nothing(module_lab: _ModuleLab, hosts: list[LabHost]) -> None:
    # A running container (with a published port) at teardown time, and an open SSH session.
    client = hosts[1].docker_client()
    client.containers.run(IMAGE, ["sleep", "600"], detach=True, ports={"80/tcp": 18082})
    ssh = hosts[2].paramiko_client()
    pids = []
    for h in hosts:
        rec = json.loads(Path(f"/run/{h.name}/lab-procs.json").read_text())
        pids += [pid for pid, _start in rec.values()]
    t0 = time.monotonic()
    module_lab.close()
    print(f"3-host lab torn down in {time.monotonic() - t0:.2f}s")
    client.close()
    ssh.close()
    assert _leftovers(PREFIX) == []
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists()
    assert not {h.peer_address for h in hosts} & _ip_addrs()


def _ip_addrs() -> set[str]:
    """The root namespace's IPv4 addresses, whole (10.231.1.1 is not 10.231.11.1, another lab's)."""
    out = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=False).stdout
    return {line.split()[3].split("/")[0] for line in out.splitlines() if len(line.split()) > 3}
