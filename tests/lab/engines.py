"""The Docker engine generations the integration tests run against.

* ``20.10``: the machine's own engine (Debian 12's dockerd 20.10, API 1.41) at
  ``/var/run/docker.sock``, in the root network namespace.
* ``26.1``: Debian 13's dockerd 26.1 (API 1.45), unpacked by ``dev/debian13`` under
  ``/var/tmp/debian13/x`` and run as a one-host lab (:mod:`tests.lab.hosts`, prefix ``rm`` or ``rm<worker>``, host
  ``rm-h1``) in its own network namespace, with its own containerd 1.7 started by dockerd from
  the same tree. The test images are copied into it from the local engine (``docker save`` /
  ``docker load``).

An :class:`Engine` is what a test needs to use either the same way::

    engine.client()                                # docker SDK client (API version negotiated)
    engine.run(["docker", "run", "-d", ...])       # a command on that engine's "host": inside its
    engine.run(["remediate", "apply", ...])        #   network namespace, DOCKER_HOST set to it
    engine.docker_url                              # unix:///... socket, usable from here too

Ports an engine publishes on ``127.0.0.1`` are on the loopback of its own network namespace, so
anything that talks to them (probes, ``curl``-like checks) must run through :meth:`Engine.run`
(see :meth:`Engine.http_status`). The pytest fixtures are in ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tests.lab.hosts import Dockerd, LabError, LabHost, lab_hosts

__all__ = ["IMAGES", "LOCAL", "MODERN", "MODERN_DOCKERD", "MODERN_PREFIX", "Engine", "local_engine",
           "modern_engine"]

LOCAL = "20.10"
MODERN = "26.1"
LOCAL_URL = "unix:///var/run/docker.sock"
#: Where dev/debian13 unpacks Debian 13's docker.io, containerd and docker-compose.
MODERN_TREE = Path(os.environ.get("REMEDIATE_DEBIAN13", "/var/tmp/debian13")) / "x"
MODERN_DOCKERD = Dockerd(
    binary=str(MODERN_TREE / "usr/sbin/dockerd"),
    path=(str(MODERN_TREE / "usr/sbin"), str(MODERN_TREE / "usr/bin")),
)
#: The modern engine's lab prefix: one engine per pytest-xdist worker ("rm0", "rm1", ...; "rm"
#: without xdist), so that workers never wait for each other's.
MODERN_PREFIX = "rm" + os.environ.get("PYTEST_XDIST_WORKER", "").removeprefix("gw")
#: The test images (tests/lab/images/build.sh) the modern engine gets, aliases included.
IMAGES = (
    "remediate-test/busybox:1",
    "remediate-test/python:3",
    "remediate-test/python-grpc:3",
    "remediate-test/fake-vllm:1",
    "vllm/vllm-openai:v0.6.3",
    "remediate-test/fake-aigw:2",
    ("registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/"
     "model-gateway:self-hosted-v18.0.0-ee"),
)

_HTTP_STATUS = """\
import sys, time, urllib.error, urllib.request
url, body, timeout, until = sys.argv[1], sys.argv[2].encode() or None, float(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + until
while True:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status = r.status
    except urllib.error.HTTPError as e:
        status = e.code
    except OSError:
        status = 0
    if 200 <= status < 300 or time.monotonic() >= deadline:
        break
    time.sleep(0.1)
print(status)
"""


@dataclasses.dataclass(frozen=True)
class Engine:
    """One Docker engine the tests can use.

    Attributes:
        name: the engine generation, ``"20.10"`` or ``"26.1"`` (also the pytest id).
        version: the engine's full version (``docker version``'s Server Version).
        api_version: the engine's API version, e.g. ``"1.41"``, ``"1.45"``.
        docker_url: the engine's ``unix://`` socket; reachable from the root namespace too.
        netns: its network namespace (``/var/run/netns/<netns>``), None for the root one.
        host: the lab host it runs on (``ssh_url``, keys), None for the local engine.
    """

    name: str
    version: str
    api_version: str
    docker_url: str
    netns: str | None = None
    host: LabHost | None = None

    def api_at_least(self, version: str) -> bool:
        """True when the engine speaks API ``version`` (e.g. ``"1.44"``) or newer."""
        return _version_tuple(self.api_version) >= _version_tuple(version)

    def client(self, **kwargs: Any) -> Any:
        """A ``docker.DockerClient`` for this engine (API version negotiated); close it after use."""
        import docker

        return docker.DockerClient(base_url=self.docker_url, version="auto", **kwargs)

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with ``DOCKER_HOST`` set to the engine."""
        return {**(os.environ if base is None else base), "DOCKER_HOST": self.docker_url}

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` prefixed to run inside the engine's network namespace (unchanged when local)."""
        if self.netns is None:
            return list(argv)
        return ["nsenter", f"--net=/var/run/netns/{self.netns}", "--", *argv]

    def run(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
        timeout: float = 300.0,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command as on this engine's host: in its network namespace, with ``env``
        (default: this process's environment) and ``DOCKER_HOST`` set to the engine. Output is
        captured as text; ``check`` raises on a non-zero exit, with the output in the message."""
        stdin: dict[str, Any] = {"input": input} if input is not None else {"stdin": subprocess.DEVNULL}
        proc = subprocess.run(self.argv(argv), env=self.env(env), capture_output=True, text=True,
                              timeout=timeout, check=False, **stdin)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"{list(argv)} on engine {self.name} exited {proc.returncode}:\n"
                f"{proc.stdout}{proc.stderr}"
            )
        return proc

    def http_status(self, url: str, body: str = "", *, timeout: float = 5.0, until: float = 0.0) -> int:
        """Status of an HTTP request made from the engine's network namespace (a POST of the JSON
        ``body`` if one is given; 0 when nothing answers), for ports published on 127.0.0.1.
        ``until`` > 0 retries for that many seconds until the status is 2xx (a bounded wait)."""
        import sys

        proc = self.run([sys.executable, "-c", _HTTP_STATUS, url, body, str(timeout), str(until)],
                        check=True, timeout=timeout + until + 30)
        return int(proc.stdout.strip())


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _describe(name: str, docker_url: str, **extra: Any) -> Engine:
    import docker

    client = docker.DockerClient(base_url=docker_url, version="auto")
    try:
        info = client.version()
    finally:
        client.close()
    return Engine(name=name, version=str(info["Version"]), api_version=str(info["ApiVersion"]),
                  docker_url=docker_url, **extra)


def local_engine() -> Engine:
    """The machine's own engine (``/var/run/docker.sock``, the root network namespace)."""
    return _describe(LOCAL, LOCAL_URL)


@contextlib.contextmanager
def modern_engine(keys_dir: Path, images: Sequence[str] = IMAGES) -> Iterator[Engine]:
    """Start Debian 13's dockerd 26.1 as lab host ``rm-h1`` with ``images`` loaded; stop and remove
    it (containers, data, namespace) on exit. Leftovers of a killed run are removed first."""
    if not os.access(MODERN_DOCKERD.binary, os.X_OK):
        raise LabError(f"{MODERN_DOCKERD.binary} missing: run `bash dev/setup` (dev/debian13)")
    with lab_hosts(1, prefix=MODERN_PREFIX, images=images, keys_dir=keys_dir,
                   dockerd=MODERN_DOCKERD) as (host,):
        yield _describe(MODERN, host.docker_url, netns=host.netns, host=host)
