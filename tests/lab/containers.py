"""The test lab's service containers (fake vLLM, fake AI gateway, ...) through testcontainers.

A :class:`LabContainer` is a testcontainers ``DockerContainer`` with what the lab needs on top:

* it carries :data:`tests.conftest.TEST_LABEL` with the test process id, so :func:`sweep` can
  remove what a killed run left behind. testcontainers' own reaper (Ryuk) is off: it needs a
  registry image, and the lab never pulls (``TESTCONTAINERS_RYUK_DISABLED``, set in
  tests/conftest.py and dev/test). :meth:`LabContainer.start` refuses an image that is not built
  locally (tests/lab/images/build.sh) instead of letting testcontainers pull it;
* ports are published on 127.0.0.1 only (:meth:`LabContainer.with_loopback_port`), and the wait
  strategies reach them there (tests/conftest.py sets the testcontainers host to 127.0.0.1 and
  its connection mode to ``docker_host``); on host networking a port is its own;
* :func:`stop` tolerates a container that is already gone: remediate replaces the containers the
  tests hand it, so the callers also remove the copies it made, by name.

Example::

    vllm = (LabContainer(VLLM).with_name(name).with_command(["--model", "m"])
            .with_loopback_port("8000/tcp").waiting_for(http_ready(8000, "/health")).start())
    port = vllm.get_exposed_port(8000)
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any, Self

import docker.errors
from testcontainers.core.container import DockerContainer
from testcontainers.core.wait_strategies import HttpWaitStrategy

from tests.conftest import TEST_LABEL
from tests.lab.hosts import pid_alive

__all__ = ["DEADLINE", "LabContainer", "http_ready", "stop", "sweep"]

#: Upper bound of a wait for a lab service to answer (a bound, never asserted as a duration).
DEADLINE = 30.0
_POLL = 0.1


class LabContainer(DockerContainer):
    """A lab container: labelled with the test process, ports on 127.0.0.1, never pulled.

    Args:
        image: a locally built test image (or one of its aliases).
        labels: labels besides :data:`TEST_LABEL`.
        docker_client_kw: ``docker.DockerClient`` arguments, e.g. ``{"base_url": ..., "version":
            "auto"}`` for another engine; default: the local engine (``docker.from_env``).
    """

    def __init__(self, image: str, *, labels: dict[str, str] | None = None,
                 docker_client_kw: dict[str, Any] | None = None) -> None:
        super().__init__(image, docker_client_kw=docker_client_kw)
        self._labels = {TEST_LABEL: str(os.getpid()), **(labels or {})}
        self.with_kwargs()

    def with_kwargs(self, **kwargs: Any) -> Self:
        """Further ``containers.create`` options (``restart_policy``, ``network_mode``, ...);
        ``labels`` is set in the constructor."""
        # detach: created as ``containers.run(detach=True)`` creates (stdout and stderr not attached).
        self._kwargs = {"detach": True, **kwargs, "labels": self._labels}
        return self

    def with_loopback_port(self, container_port: str) -> Self:
        """Publish ``container_port`` (e.g. ``"8000/tcp"``) on an engine-chosen port of 127.0.0.1."""
        # testcontainers binds on every address; docker-py takes an (address, port) pair.
        self.ports[container_port] = ("127.0.0.1", None)  # type: ignore[assignment]
        return self

    def start(self) -> Self:
        """Create and start the container, then run its wait strategy.

        Raises:
            AssertionError: the image is not built locally (nothing is pulled).
        """
        try:
            self.get_docker_client().client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise AssertionError(f"image {self.image} missing; run `bash tests/lab/images/build.sh`") from None
        return super().start()

    def get_exposed_port(self, port: int) -> int:
        """The 127.0.0.1 port where the container publishes ``port`` (``port`` itself on host
        networking)."""
        container = self.get_wrapped_container()
        container.reload()
        if container.attrs["HostConfig"]["NetworkMode"] == "host":
            return port
        return super().get_exposed_port(port)


def http_ready(port: int, path: str, timeout: float = DEADLINE) -> HttpWaitStrategy:
    """Wait until ``GET path`` on the container's ``port`` answers 200, for at most ``timeout``
    seconds."""
    return HttpWaitStrategy(port, path).with_startup_timeout(int(timeout)).with_poll_interval(_POLL)


def stop(containers: Iterable[DockerContainer]) -> None:
    """Remove each container (with its anonymous volumes); one already gone is no error."""
    for container in containers:
        try:
            with _gone_or_going():
                container.stop()
        finally:
            container.get_docker_client().client.close()


def sweep(client: Any) -> None:
    """Remove the containers, then the networks, a dead test run left behind (:data:`TEST_LABEL`
    names its process); those of a live run, this one included, stay."""
    for container in client.api.containers(all=True, filters={"label": TEST_LABEL}):
        if not _alive(container["Labels"]):
            # Every pytest-xdist worker sweeps at its start: another one may be removing it.
            with _gone_or_going():
                client.api.remove_container(container["Id"], force=True)
    for network in client.api.networks(filters={"label": TEST_LABEL}):
        if not _alive(network.get("Labels") or {}):
            with contextlib.suppress(docker.errors.APIError):  # gone, or still used by a live run's container
                client.api.remove_network(network["Id"])


def _alive(labels: dict[str, str]) -> bool:
    owner = labels.get(TEST_LABEL, "")
    return owner.isdigit() and pid_alive(int(owner))


@contextlib.contextmanager
def _gone_or_going() -> Iterator[None]:
    """A container already removed, or being removed by another process ("removal of container
    ... is already in progress"), is no error."""
    try:
        yield
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "in progress" not in str(exc):
            raise
