"""One Docker host: the engine API and the host's files. The only module that translates
docker / requests / socket / OS errors into :mod:`remediate.errors`.

Targets: ``local`` (``DOCKER_HOST`` or the default socket) and ``unix:///path``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remediate.errors import (
    ApplyError,
    ConnectError,
    ContainerNotFound,
    HostUnreachable,
    InspectError,
)
from remediate.planner import HostPath

Json = dict[str, Any]

#: Oldest engine API remediate speaks (Debian 12's docker.io 20.10); the engine's own is used.
_MIN_API_VERSION = "1.41"


class Connection:
    """A lazily opened connection to one Docker host; use as a context manager.

    Args:
        target: ``local`` or ``unix:///path/to/docker.sock``.
        timeout: seconds for one API call.

    Example::

        with Connection("local") as conn:
            names = [c["Names"][0] for c in conn.list_containers()]
    """

    def __init__(self, target: str = "local", *, timeout: float = 60.0) -> None:
        self.target = target
        self.timeout = timeout
        self._client: Any = None

    @property
    def label(self) -> str:
        """Short host label for output."""
        return self.target

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the engine connection (safe to call twice)."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def api(self) -> Any:
        """The low-level ``docker.APIClient`` (opened on first use)."""
        if self._client is None:
            self._client = self._open()
        return self._client

    def _open(self) -> Any:
        import docker  # deferred: keeps `remediate --help` fast

        base_url = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        if self.target != "local":
            base_url = self.target
        if not base_url.startswith("unix://"):
            raise ConnectError(f"{self.target}: unsupported Docker host {base_url!r} (use local or unix://)",
                               host=self.target)
        self._check_socket(base_url.removeprefix("unix://"))
        client = docker.APIClient(base_url=base_url, version=_MIN_API_VERSION, timeout=self.timeout)
        try:
            with self.errors(during="version"):
                # Negotiate like version="auto" does, but close the client if the engine is not there.
                client._version = str(client.version(api_version=False)["ApiVersion"])
        except BaseException:
            client.close()
            raise
        return client

    def _check_socket(self, path: str) -> None:
        # docker-py leaks its socket when a unix connect fails; find out first, with our own.
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(self.timeout)
            try:
                sock.connect(path)
            except OSError as exc:
                raise HostUnreachable(f"{self.label}: cannot reach the Docker engine at {path} ({exc.strerror})",
                                      host=self.label) from exc

    @contextlib.contextmanager
    def errors(self, container: str | None = None, *, during: str = "") -> Iterator[None]:
        """Translate library errors raised in the block into remediate errors."""
        import docker.errors
        import requests.exceptions

        what = f"{during}: " if during else ""
        try:
            yield
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(f"{self.label}: {what}{exc.explanation or exc}", host=self.label,
                                    container=container) from exc
        except docker.errors.APIError as exc:
            raise InspectError(f"{self.label}: {what}{exc.explanation or exc}", host=self.label,
                               container=container) from exc
        except docker.errors.DockerException as exc:
            raise HostUnreachable(f"{self.label}: cannot reach the Docker engine ({_first_line(exc)})",
                                  host=self.label) from exc
        except (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError) as exc:
            raise HostUnreachable(f"{self.label}: cannot reach the Docker engine ({_first_line(exc)})",
                                  host=self.label) from exc
        except requests.exceptions.RequestException as exc:
            raise HostUnreachable(f"{self.label}: {what}{_first_line(exc)}", host=self.label) from exc

    # ----------------------------------------------------------------- engine reads

    def info(self) -> Json:
        """``docker info``."""
        with self.errors(during="info"):
            return dict(self.api.info())

    def list_containers(self) -> list[Json]:
        """Summaries of every container (running or not)."""
        with self.errors(during="list containers"):
            return list(self.api.containers(all=True))

    def inspect_container(self, ref: str) -> Json:
        """``docker inspect`` of a container by id or name."""
        with self.errors(ref, during=f"inspect {ref}"):
            return dict(self.api.inspect_container(ref))

    def inspect_image(self, ref: str) -> Json | None:
        """``docker image inspect``, or None when the image is gone."""
        try:
            with self.errors(during=f"inspect image {ref}"):
                return dict(self.api.inspect_image(ref))
        except ContainerNotFound:
            return None

    # ----------------------------------------------------------------- engine writes

    def create(self, body: Json, name: str, platform: str | None = None) -> str:
        """Create a container from a full create body; returns its id."""
        with self.errors(name, during=f"create {name}"):
            # create_container_from_config posts the body as is: no proxy env injected.
            result = self.api.create_container_from_config(body, name=name, platform=platform)
        return str(result["Id"])

    def connect_network(self, container: str, network: str, endpoint: Json) -> None:
        """Attach a container to a network with its aliases, static IPs and links."""
        ipam = endpoint.get("IPAMConfig") or {}
        with self.errors(container, during=f"connect {container} to {network}"):
            self.api.connect_container_to_network(
                container, network,
                aliases=endpoint.get("Aliases"), links=_links_dict(endpoint.get("Links")),
                ipv4_address=ipam.get("IPv4Address"), ipv6_address=ipam.get("IPv6Address"),
                link_local_ips=ipam.get("LinkLocalIPs"), driver_opt=endpoint.get("DriverOpts"),
            )

    def start(self, container: str) -> None:
        """Start a container."""
        with self.errors(container, during=f"start {container}"):
            self.api.start(container)

    def stop(self, container: str, timeout: int | None = None) -> None:
        """Stop a container (``timeout`` seconds before SIGKILL; None: its own stop timeout)."""
        with self.errors(container, during=f"stop {container}"):
            self.api.stop(container, timeout=timeout)

    def rename(self, container: str, name: str) -> None:
        """Rename a container."""
        with self.errors(container, during=f"rename {container} to {name}"):
            self.api.rename(container, name)

    def remove(self, container: str, *, missing_ok: bool = False) -> None:
        """Force-remove a container (its named and anonymous volumes are kept)."""
        try:
            with self.errors(container, during=f"remove {container}"):
                self.api.remove_container(container, force=True, v=False)
        except ContainerNotFound:
            if not missing_ok:
                raise

    def set_restart_policy(self, container: str, policy: Json) -> None:
        """``docker update --restart`` (in place)."""
        with self.errors(container, during=f"update {container}"):
            self.api.update_container(container, restart_policy=policy)

    # ----------------------------------------------------------------- host files

    def read_path(self, path: str) -> HostPath:
        """What is at ``path`` on the Docker host."""
        self._require_local_files()
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return HostPath(False)
        except OSError as exc:
            raise ApplyError(f"{self.label}: cannot read {path}: {exc.strerror}", host=self.label) from exc
        if not stat.S_ISREG(st.st_mode):
            return HostPath(True)
        return HostPath(True, Path(path).read_bytes(), stat.S_IMODE(st.st_mode))

    def write_file(self, path: str, content: bytes, mode: int) -> None:
        """Write a file atomically (temp file + rename), creating parent directories."""
        self._require_local_files()
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.remediate-tmp")
            tmp.write_bytes(content)
            os.chmod(tmp, mode)
            os.replace(tmp, target)
        except OSError as exc:
            raise ApplyError(f"{self.label}: cannot write {path}: {exc.strerror}", host=self.label) from exc

    def remove_file(self, path: str) -> None:
        """Remove a file if it exists."""
        self._require_local_files()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def _require_local_files(self) -> None:
        # Files are written where the engine runs; for unix sockets that is this machine.
        if self.target not in ("local",) and not self.target.startswith("unix://"):
            raise ConnectError(f"{self.label}: cannot access files on this host", host=self.label)

    # ----------------------------------------------------------------- probes

    def probe_endpoint(self, host_ip: str, port: int) -> tuple[str, int]:
        """Where this machine reaches ``host_ip:port`` of the Docker host (same for local)."""
        return host_ip, port


def _links_dict(links: list[str] | None) -> dict[str, str] | None:
    if not links:
        return None
    pairs = (link.partition(":") for link in links)
    return {name: alias or name for name, _, alias in pairs}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
