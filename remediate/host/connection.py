"""One Docker host: the engine API, the host's files, and sockets to its ports. The only module
that translates docker / requests / paramiko / socket / OS errors into :mod:`remediate.errors`.

Targets: ``local`` (``DOCKER_HOST`` or the default socket), ``unix:///path``, and
``ssh://[user@]host[:port]`` (one SSH connection for the engine API, SFTP and probe tunnels;
see :mod:`remediate.host.ssh`).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any, Self, TypeVar

from remediate.core.image_ref import registry as registry_of
from remediate.core.paths import MAX_HOST_FILE_BYTES, HostLogin, HostPath, PathOwner
from remediate.core.redaction import redact_text
from remediate.errors import (
    ApplyError,
    ConnectError,
    ContainerNotFound,
    HostFileError,
    HostUnreachable,
    ImageNotFound,
    InspectError,
    NetworkNotFound,
)
from remediate.host.dialect import Dialect, Hidden, detect, engine_key, from_ping, oci_config_path
from remediate.host.files import HostFiles, LocalFiles, SftpFiles
from remediate.host.sshoptions import SshOptions

_log = logging.getLogger(__name__)
#: Engine calls that change something: logged at INFO (``remediate -v``), the others at DEBUG.
_WRITES = ("create ", "connect ", "start ", "stop ", "rename ", "remove ", "update ", "pull ")

Json = dict[str, Any]

#: Oldest engine API remediate speaks (Debian 12's docker.io 20.10); the engine's own is used.
_MIN_API_VERSION = "1.41"
#: Engine reads in flight at once (:meth:`Connection.find_containers`, :meth:`Connection.list_each`);
#: within the SSH adapter's pool.
_READERS = 4
_Item = TypeVar("_Item")
_Result = TypeVar("_Result")
_SCHEMES = ("unix://", "tcp://", "ssh://")
#: The engine ``local`` means when ``DOCKER_HOST`` names none.
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"

_SDK_IMPORT = threading.Lock()
#: Where a host's machine id is (systemd's, then D-Bus's): part of a Podman engine's key.
_MACHINE_IDS = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def local_engine_url(environ: Mapping[str, str] | None = None) -> str:
    """The engine ``local`` means: ``DOCKER_HOST`` in ``environ`` (default ``os.environ``), else
    :data:`DEFAULT_DOCKER_HOST`."""
    return (os.environ if environ is None else environ).get("DOCKER_HOST") or DEFAULT_DOCKER_HOST


def docker_sdk() -> ModuleType:
    """docker-py, imported without its own ``ssh://`` transport unless SSH is already loaded.

    docker-py imports paramiko (and with it invoke) at import time for its ``ssh://`` adapter:
    about 0.13 s that a local engine never needs. remediate reaches SSH hosts with its own adapter
    (:func:`ssh_transport`), which loads paramiko when the first SSH host is opened.
    """
    with _SDK_IMPORT:
        if "docker" in sys.modules or "paramiko" in sys.modules:
            return importlib.import_module("docker")
        sys.modules["paramiko"] = None  # type: ignore[assignment]  # docker.transport: ImportError
        try:
            return importlib.import_module("docker")
        except ImportError:
            pass  # a docker-py that needs paramiko to import at all: load it after all
        finally:
            del sys.modules["paramiko"]
        return importlib.import_module("docker")


def _one_pool(client: Any) -> None:
    """Keep the engine's connections alive across calls: docker-py's unix-socket adapter keys its
    connection pools by URL, so each container inspected opened a socket of its own (and closed
    one once 25 pools were kept). One pool for the socket, as the SSH adapter has."""
    adapter = client.get_adapter("http+docker://localhost")
    pool = adapter.get_connection("http+docker://localhost")
    adapter.get_connection = lambda url, proxies=None: pool


def _raw_get(client: Any, path: str, *args: str, versioned: bool = True) -> Any:
    """``GET`` of an engine path docker-py has no method for (``path``: a format string of
    ``args``, quoted into it): the answer, raised for an error status as docker-py raises."""
    response = client._get(client._url(path, *args, versioned_api=versioned))
    client._raise_for_status(response)
    return response


def ssh_transport() -> ModuleType:
    """:mod:`remediate.host.ssh` (paramiko, fabric); safe while another thread imports docker-py."""
    with _SDK_IMPORT:
        from remediate.host import ssh as transport
    return transport


class _Bounds(threading.local):
    """Each thread's bounded engine paths (:meth:`Connection._streams`): path -> (read timeout,
    the answers to close)."""

    def __init__(self) -> None:
        self.paths: dict[str, tuple[float, list[Any]]] = {}


class Connection:
    """A lazily opened connection to one Docker host; use as a context manager.

    Args:
        target: ``local``, ``unix:///path/to/docker.sock`` or ``ssh://user@host:port``.
        timeout: seconds for one API call.
        ssh: SSH options (host keys, key file) for ``ssh://`` targets.
        docker_host: engine socket on an SSH host when it is not the default.
        label: name shown in output (default: the target).

    Example::

        with Connection("ssh://root@gpu-01") as conn:
            names = [c["Name"] for c in conn.list_containers()]
    """

    def __init__(self, target: str = "local", *, timeout: float = 60.0, ssh: SshOptions | None = None,
                 docker_host: str | None = None, label: str | None = None) -> None:
        if not target.startswith(_SCHEMES) and target != "local":
            raise ConnectError(f"{target}: unsupported host (use local, unix:///path, tcp://host:port or "
                               "ssh://user@host:port)", host=target)
        self.target = target
        self.timeout = timeout
        self.ssh_options = ssh or SshOptions()
        self.docker_host = docker_host
        self._label = label
        self._client: Any = None
        self._ssh: Any = None
        self._sftp: Any = None
        self._files: HostFiles | None = None
        self._info: Json | None = None
        self._dialect: Dialect | None = None
        self._login: HostLogin | None = None
        self._bounds = _Bounds()

    @property
    def label(self) -> str:
        """Short host label for output."""
        return self._label or self.target

    @property
    def is_remote(self) -> bool:
        """True for an SSH host."""
        return self.target.startswith("ssh://")

    @property
    def engine_url(self) -> str:
        """Where the engine API of a host that is not SSH is: the target, or for ``local``
        ``DOCKER_HOST`` (:func:`local_engine_url`)."""
        return self.target if self.target != "local" else local_engine_url()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the engine, SFTP and SSH connections (safe to call twice)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._sftp is not None:
            self._sftp.close()
            self._sftp = None
        self._files = None
        if self._ssh is not None:
            self._ssh.close()
            self._ssh = None

    @property
    def api_version(self) -> str:
        """The engine API version negotiated with this host's engine (``"1.41"``)."""
        return str(self.api.api_version)

    @property
    def ssh(self) -> Any:
        """The open fabric Connection of an SSH host (opened on first use)."""
        if self._ssh is None:
            url = urllib.parse.urlparse(self.target)
            self._ssh = ssh_transport().open_ssh(url.hostname or "", port=url.port, user=url.username,
                                                 options=self.ssh_options, label=self.label)
        return self._ssh

    @property
    def api(self) -> Any:
        """The low-level ``docker.APIClient`` (opened on first use)."""
        if self._client is None:
            self._client = self._open()
        return self._client

    def _open(self) -> Any:
        docker = docker_sdk()  # deferred: keeps `remediate --help` fast
        if self.is_remote:
            client = docker.APIClient(base_url=DEFAULT_DOCKER_HOST, version=_MIN_API_VERSION,
                                      timeout=self.timeout)
            adapter = ssh_transport().DialStdioAdapter(self.ssh.transport, docker_host=self.docker_host,
                                                       timeout=self.timeout)
            client.mount("http+docker://ssh", adapter)
            client.base_url = "http+docker://ssh"
        else:
            base_url = self.engine_url
            tls = None
            if base_url.startswith("tcp://"):
                # DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, read as the docker CLI reads them.
                tls = docker.utils.kwargs_from_env(environment=dict(os.environ)).get("tls")
            elif base_url.startswith("unix://"):
                self._check_socket(base_url.removeprefix("unix://"))
            else:
                raise ConnectError(f"{self.label}: unsupported DOCKER_HOST {base_url!r} (use unix://, tcp:// "
                                   "or ssh://)", host=self.label)
            client = docker.APIClient(base_url=base_url, version=_MIN_API_VERSION, timeout=self.timeout, tls=tls)
            if base_url.startswith("unix://"):
                _one_pool(client)
            # The engine's CA is DOCKER_CERT_PATH's: requests must not swap in REQUESTS_CA_BUNDLE,
            # nor send the engine API through an HTTP proxy from the environment.
            client.trust_env = False
        client.send = self._bounded(client.send)
        try:
            # Negotiate as version="auto" does, but close the client if the engine is not there.
            client._version, self._dialect = self._negotiate(client)
        except BaseException:
            client.close()
            raise
        return client

    def _negotiate(self, client: Any) -> tuple[str, Dialect]:
        """The engine's API version and dialect: from a ping's headers, else from ``/version``."""
        with self.errors(during="ping"):
            response = _raw_get(client, "/_ping", versioned=False)
        named = from_ping(response.headers)
        if named is not None:
            return named
        with self.errors(during="version"):
            version = client.version(api_version=False)
        return str(version["ApiVersion"]), detect(version)

    @property
    def dialect(self) -> Dialect:
        """The engine's API dialect: Docker, or Podman's Docker-compatible API (see
        :mod:`remediate.host.dialect`); every inspect read through this connection is in Docker's."""
        if self._dialect is None:
            self._client = self._open()
        assert self._dialect is not None  # set by _open
        return self._dialect

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
    def errors(self, container: str | None = None, *, during: str = "", image: str | None = None,
               network: str | None = None) -> Iterator[None]:
        """Translate library errors raised in the block into remediate errors.

        An engine 404 becomes :class:`ImageNotFound` when the engine says so or the block is about
        an ``image`` only, :class:`NetworkNotFound` when the engine names a missing network, else
        :class:`ContainerNotFound`.
        """
        import requests.exceptions

        docker = docker_sdk()

        what = f"{during}: " if during else ""
        started = time.monotonic()
        try:
            yield
            if during:
                level = logging.INFO if during.startswith(_WRITES) else logging.DEBUG
                _log.log(level, "%s: engine: %s (%.2f s)", self.label, during, time.monotonic() - started)
        except docker.errors.NotFound as exc:
            raise self._not_found(what, exc, container, image, network) from exc
        except docker.errors.APIError as exc:
            raise InspectError(f"{self.label}: {what}{_engine_text(exc)}", host=self.label,
                               container=container) from exc
        except docker.errors.DockerException as exc:
            raise HostUnreachable(f"{self.label}: cannot reach the Docker engine ({_first_line(exc)})",
                                  host=self.label) from exc
        except (requests.exceptions.ConnectionError, FileNotFoundError, ConnectionError) as exc:
            at = "" if self.is_remote or self.engine_url == self.label else f" at {self.engine_url}"
            raise HostUnreachable(f"{self.label}: cannot reach the Docker engine{at} ({_first_line(exc)})",
                                  host=self.label) from exc
        except requests.exceptions.RequestException as exc:
            raise HostUnreachable(f"{self.label}: {what}{_first_line(exc)}", host=self.label) from exc

    def _not_found(self, what: str, exc: Any, container: str | None, image: str | None,
                   network: str | None) -> InspectError:
        """The class of an engine 404, from what the engine said ("No such image: ...", "network
        foo not found", "No such container: ...") and what the call was about."""
        said = _engine_text(exc)
        message = f"{self.label}: {what}{said}"
        if "no such image" in said.lower() or (image is not None and container is None):
            return ImageNotFound(message, host=self.label, container=container, image=image)
        if "network" in said.lower() and "not found" in said.lower():
            return NetworkNotFound(message, host=self.label, container=container, network=network)
        return ContainerNotFound(message, host=self.label, container=container)

    # ----------------------------------------------------------------- engine reads

    def info(self) -> Json:
        """``docker info`` (asked once per connection)."""
        if self._info is None:
            with self.errors(during="info"):
                self._info = dict(self.api.info())
        return self._info

    @property
    def engine_id(self) -> str:
        """A stable key of this engine (host name + hash of its ID and data root; for Podman,
        whose ID changes on every call, of the host's machine id and its storage root): one
        journal and one lock per engine, also when several engines share a disk or a trust key."""
        info = self.info()
        machine_id = self._machine_id() if self.dialect.name != "docker" else ""
        return engine_key(self.dialect, info, machine_id)

    def _machine_id(self) -> str:
        """The Docker host's machine id ("" when it has none)."""
        for path in _MACHINE_IDS:
            with contextlib.suppress(HostFileError, ConnectError):
                found = self.read_path(path, follow=True)
                if found.content:
                    return found.content.decode("ascii", "replace").strip()
        return ""

    def list_containers(self, filters: Mapping[str, Sequence[str]] | None = None) -> list[Json]:
        """Summaries of every container (running or not), each with its own ``Name`` added; with
        ``filters`` (:mod:`remediate.core.listing`), of those the engine lets through.

        The engine's ``Names`` also lists the aliases other containers ``--link`` it by
        (``/other/alias``), in no fixed order; ``Name`` is the container's own (no leading slash).
        """
        wanted = {key: list(values) for key, values in filters.items()} if filters else None
        with self.errors(during=f"list containers{' ' + json.dumps(wanted, sort_keys=True) if wanted else ''}"):
            summaries = list(self.api.containers(all=True, filters=wanted))
        for summary in summaries:
            names = [str(n) for n in summary.get("Names") or []]
            summary["Name"] = next((n.lstrip("/") for n in names if n.count("/") == 1), "")
        return summaries

    def inspect_container(self, ref: str) -> Json:
        """``docker inspect`` of a container by id or name."""
        with self.errors(ref, during=f"inspect {ref}"):
            inspect = self.api.inspect_container(ref)
        return self.dialect.inspect_in(inspect, self._hidden(inspect) if self.dialect.reads_hidden else None)

    def _hidden(self, inspect: Json) -> Hidden:
        """What Podman's Docker inspect of a container does not show: its libpod inspect (same
        socket), its OCI config, the volumes it gets through ``--volumes-from``."""
        container_id = str(inspect.get("Id") or "")
        with self.errors(container_id, during=f"inspect {container_id} (libpod)"):
            libpod = dict(_raw_get(self.api, "/libpod/containers/{0}/json", container_id).json())
        shared: set[str] = set()
        for source in (inspect.get("HostConfig") or {}).get("VolumesFrom") or []:
            found = self._raw_inspect(str(source).split(":")[0])
            shared |= {str(m.get("Name")) for m in (found or {}).get("Mounts") or [] if m.get("Name")}
        return Hidden(libpod, self._oci_config(container_id), frozenset(shared))

    def _oci_config(self, container_id: str) -> Json | None:
        """A Podman container's OCI config, read from the host's files (None when unreadable:
        another user's storage, an engine whose files remediate cannot reach)."""
        with contextlib.suppress(HostFileError, ConnectError, ValueError):
            found = self.read_path(oci_config_path(self.info(), container_id), follow=True)
            if found.content:
                data = json.loads(found.content)
                return data if isinstance(data, dict) else None
        return None

    def _raw_inspect(self, ref: str) -> Json | None:
        """The engine's own inspect of a container (None: there is none)."""
        try:
            with self.errors(ref, during=f"inspect {ref}"):
                return dict(self.api.inspect_container(ref))
        except ContainerNotFound:
            return None

    def find_container(self, ref: str) -> Json | None:
        """``docker inspect`` of a container, or None when there is none by that id or name (it may
        have gone between a listing and this call)."""
        try:
            return self.inspect_container(ref)
        except ContainerNotFound:
            return None

    def find_containers(self, refs: Sequence[str]) -> list[Json | None]:
        """:meth:`find_container` of each of ``refs``, in order, a few at a time: the engine
        answers one while the next is on its way (what reading hundreds of containers costs is
        mostly the wait for each answer). One at a time where an inspect also reads the host's
        files (Podman's OCI configs: one SFTP session)."""
        if self.dialect.reads_hidden:
            return [self.find_container(ref) for ref in refs]
        return self._at_once(self.find_container, refs)

    def list_each(self, filters: Sequence[Mapping[str, Sequence[str]]]) -> list[list[Json]]:
        """:meth:`list_containers` with each of ``filters``, in order, asked at once (the engine
        walks all its containers for each)."""
        return self._at_once(self.list_containers, filters)

    def _at_once(self, call: Callable[[_Item], _Result], items: Sequence[_Item]) -> list[_Result]:
        """``call`` of each of ``items``, in order, a few at a time."""
        if len(items) < 2:
            return [call(item) for item in items]
        with ThreadPoolExecutor(max_workers=min(_READERS, len(items)), thread_name_prefix="remediate-read") as pool:
            return list(pool.map(call, items))

    def inspect_image(self, ref: str) -> Json | None:
        """``docker image inspect``, or None when the image is gone."""
        try:
            with self.errors(during=f"inspect image {ref}", image=ref):
                return dict(self.api.inspect_image(ref))
        except ImageNotFound:
            return None

    # ----------------------------------------------------------------- engine writes

    def pull(self, ref: str, progress: Callable[[str], None] | None = None, *, stall: float = 60.0) -> None:
        """``docker pull`` through the engine: the registry's credentials are those of the docker
        client config here (``DOCKER_CONFIG`` or ``~/.docker/config.json``, its credential helpers
        too), sent as the docker CLI sends them; none for a registry it has none for.

        Args:
            ref: a tag or digest reference.
            progress: called with one line per layer and status as the engine reports them.
            stall: seconds the pull may go without a word of progress from the engine (a registry
                that stopped sending mid-layer) before it is aborted.

        Raises:
            ImageNotFound: the registry has no such image, refused the credentials, or cannot be
                reached (the engine's reason, on one line), or the pull stalled: its connection to
                the engine is closed, which ends the engine's pull too.
        """
        from requests.exceptions import ReadTimeout
        from urllib3.exceptions import ReadTimeoutError

        seen: set[tuple[str, str]] = set()
        with self.errors(during=f"pull {ref}", image=ref), self._streams("/images/create", read_timeout=stall):
            try:
                events = self.api.pull(ref, stream=True, decode=True)
                for event in events:
                    if event.get("error"):
                        said = " ".join(redact_text(str(event["error"])).split())
                        raise ImageNotFound(f"{self.label}: pull {ref}: {said}", host=self.label, image=ref)
                    status, layer = str(event.get("status") or ""), str(event.get("id") or "")
                    if progress is not None and status and (layer, status) not in seen:
                        seen.add((layer, status))
                        progress(f"{layer}: {status}" if layer else status)
            except (ReadTimeout, ReadTimeoutError, TimeoutError) as exc:
                raise ImageNotFound(f"{self.label}: pull {ref}: stalled: no progress for {stall:g} s from registry "
                                    f"{registry_of(ref)}; the pull was aborted", host=self.label, image=ref) from exc

    @contextlib.contextmanager
    def _streams(self, path: str, *, read_timeout: float) -> Iterator[None]:
        """Within the block, this thread's engine calls to ``path`` wait at most ``read_timeout``
        seconds for their answer's headers and for each read of its body (docker-py streams them
        with no timeout at all: an engine still waiting on a registry sends no header either), and
        their answers are closed on leaving it (docker-py leaves a stream it returned open, and the
        engine goes on with a call until its connection closes)."""
        opened: list[Any] = []
        paths = self._bounds.paths
        paths[path] = (read_timeout, opened)
        try:
            yield
        finally:
            del paths[path]
            for response in opened:
                response.close()

    def _bounded(self, send: Callable[..., Any]) -> Callable[..., Any]:
        """The client's ``send``, with the read timeout :meth:`_streams` sets for this thread's calls."""
        def bounded_send(request: Any, **kwargs: Any) -> Any:
            paths = self._bounds.paths
            if not paths:
                return send(request, **kwargs)
            path = urllib.parse.urlsplit(request.url).path
            bound = next((b for p, b in paths.items() if path.endswith(p)), None)
            if bound is None:
                return send(request, **kwargs)
            read_timeout, opened = bound
            response = send(request, **{**kwargs, "timeout": (self.timeout, read_timeout)})
            opened.append(response)
            return response
        return bounded_send

    def create(self, body: Json, name: str, platform: str | None = None) -> str:
        """Create a container from a full create body; returns its id."""
        with self.errors(name, during=f"create {name}"):
            # create_container_from_config posts the body as is: no proxy env injected.
            result = self.api.create_container_from_config(self.dialect.create_out(body), name=name,
                                                           platform=platform)
        return str(result["Id"])

    def connect_network(self, container: str, network: str, endpoint: Json) -> None:
        """Attach a container to a network with its aliases, static IPs and links."""
        ipam = endpoint.get("IPAMConfig") or {}
        with self.errors(container, during=f"connect {container} to {network}", network=network):
            self.api.connect_container_to_network(
                container, self.dialect.network_out(network),
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

    def pause(self, container: str) -> None:
        """Pause a running container (freeze its processes)."""
        with self.errors(container, during=f"pause {container}"):
            self.api.pause(container)

    def unpause(self, container: str) -> None:
        """Unpause a paused container."""
        with self.errors(container, during=f"unpause {container}"):
            self.api.unpause(container)

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
        """``docker update --restart`` (in place).

        Raises:
            ApplyError: the engine has no update API (Podman 4; such containers are refused
                before any change, see :meth:`remediate.host.dialect.Dialect.refusal`).
        """
        if not self.dialect.can_update:
            raise ApplyError(f"{self.label}: {self.dialect.label} has no `docker update` API: cannot set the "
                             f"restart policy of {container}", host=self.label, container=container)
        with self.errors(container, during=f"update {container}"):
            self.api.update_container(container, restart_policy=policy)

    def update_container(self, container: str, values: Json) -> list[str]:
        """``docker update``: set ``values`` (``HostConfig`` keys the update API takes: the restart
        policy, CPU, memory, pids and block IO limits) on the container in place.

        Returns:
            The engine's warnings (e.g. a limit the kernel does not enforce).

        Raises:
            ApplyError: the engine has no update API (Podman 4; planning makes a recreate there).
            ContainerNotFound, ApplyError: as the engine answers (e.g. a limit it refuses).
        """
        if not self.dialect.can_update:
            raise ApplyError(f"{self.label}: {self.dialect.label} has no `docker update` API: cannot update "
                             f"{container} in place", host=self.label, container=container)
        with self.errors(container, during=f"update {container}"):
            # The SDK's update_container() has no NanoCpus nor PidsLimit: the same request, whole.
            answer = self.api._result(self.api._post_json(self.api._url("/containers/{0}/update", container),
                                                          data=values), True)
        return [str(w) for w in (answer or {}).get("Warnings") or []]

    # ----------------------------------------------------------------- host files

    @property
    def files(self) -> HostFiles:
        """File access on the Docker host: this machine's, or the SSH host's over one SFTP session."""
        if self._files is None:
            if self.is_remote:
                with self._ssh_errors("open SFTP"):
                    self._sftp = self.ssh.sftp()
                self._files = SftpFiles(self._sftp)
            elif _on_this_machine(self.engine_url):
                self._files = LocalFiles()
            else:
                raise ConnectError(f"{self.label}: remediate needs the Docker host's files (its journal, the "
                                   "files a playbook writes), which a tcp:// engine on another machine does "
                                   "not give; reach that host with ssh://user@host", host=self.label)
        return self._files

    def read_path(self, path: str, *, follow: bool = False, limit: int = MAX_HOST_FILE_BYTES) -> HostPath:
        """What is at ``path`` on the Docker host, symlinks reported, not followed, unless
        ``follow``; a file's content up to ``limit`` bytes (see :meth:`remediate.host.files.HostFiles.read`)."""
        with self._file_errors("read", path):
            return self.files.read(path, follow=follow, limit=limit)

    def write_file(self, path: str, content: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
        """Write a file, never through a symlink, keeping the owner, group and hard links of
        the one there (see :meth:`remediate.host.files.HostFiles.write`)."""
        with self._file_errors("write", path):
            self.files.write(path, content, mode, owner)

    def remove_dir(self, path: str) -> None:
        """Remove a directory if it exists and is empty."""
        with self._file_errors("remove", path):
            self.files.remove_dir(path)

    def append_file(self, path: str, data: bytes) -> None:
        """Append to a file (created 0600 with its directories if missing), flushed to disk."""
        with self._file_errors("append to", path):
            self.files.append(path, data)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create a file only if it does not exist; returns False when it already exists."""
        with self._file_errors("create", path):
            return self.files.create_exclusive(path, data)

    def remove_file(self, path: str) -> None:
        """Remove a file if it exists."""
        with self._file_errors("remove", path):
            self.files.remove(path)

    def rename_file(self, path: str, new_path: str) -> None:
        """Rename a file on the Docker host (replacing ``new_path``)."""
        with self._file_errors("rename", path):
            self.files.rename(path, new_path)

    def list_dir(self, directory: str) -> list[str]:
        """Names in a directory on the Docker host; empty when it does not exist."""
        with self._file_errors("list", directory):
            return self.files.list_dir(directory)

    def path_owner(self, path: str, *, follow: bool = False) -> PathOwner | None:
        """Owner and mode of what is at ``path`` on the Docker host (a symlink itself unless
        ``follow``); None when nothing is there."""
        with self._file_errors("stat", path):
            return self.files.owner(path, follow=follow)

    def make_dir(self, path: str, mode: int) -> None:
        """Create one directory on the Docker host with exactly ``mode``."""
        with self._file_errors("create", path):
            self.files.make_dir(path, mode)

    def login(self) -> HostLogin:
        """Who remediate acts as on the Docker host (this process here; the SSH user there)."""
        if self._login is None:
            if self.is_remote:
                code, out = self.run_command(["sh", "-c", 'id -u && printf "%s\\n" "$XDG_STATE_HOME" "$HOME"'])
                lines = out.splitlines()
                if code != 0 or len(lines) < 3 or not lines[0].isdigit():
                    raise ConnectError(f"{self.label}: cannot tell which user the SSH login is (id -u: exit {code})",
                                       host=self.label)
                uid, xdg, home = int(lines[0]), lines[1], lines[2]
            else:
                uid, xdg, home = os.geteuid(), os.environ.get("XDG_STATE_HOME", ""), os.path.expanduser("~")
            # The XDG spec: a relative $XDG_STATE_HOME is invalid and ignored.
            self._login = HostLogin(uid, xdg if xdg.startswith("/") else f"{home.rstrip('/')}/.local/state")
        return self._login

    @contextlib.contextmanager
    def _file_errors(self, verb: str, path: str) -> Iterator[None]:
        with self._ssh_errors(f"{verb} {path}"):
            try:
                yield
            except OSError as exc:
                raise HostFileError(f"{self.label}: cannot {verb} {path}: {exc.strerror or exc}",
                                    host=self.label, path=path) from exc

    @contextlib.contextmanager
    def _ssh_errors(self, during: str) -> Iterator[None]:
        if not self.is_remote:  # local files: no paramiko to load (about 0.1 s)
            yield
            return
        paramiko = ssh_transport().paramiko
        try:
            yield
        except (paramiko.SSHException, EOFError, ConnectionError) as exc:
            raise HostUnreachable(f"{self.label}: {during}: SSH connection lost ({exc})", host=self.label) from exc

    # ----------------------------------------------------------------- probes

    def open_socket(self, host_ip: str, port: int, timeout: float) -> Any:
        """A connected socket to ``host_ip:port`` as seen from the Docker host (through SSH if remote)."""
        if not self.is_remote:
            return socket.create_connection((host_ip, port), timeout=timeout)
        with self._ssh_errors(f"tunnel to {host_ip}:{port}"):
            channel = self.ssh.transport.open_channel("direct-tcpip", (host_ip, port), ("127.0.0.1", 0),
                                                      timeout=timeout)
        channel.settimeout(timeout)
        return channel

    # ----------------------------------------------------------------- host commands

    def run_command(self, argv: list[str], *, cwd: str | None = None, timeout: float = 60.0,
                    with_stderr: bool = False) -> tuple[int, str]:
        """Run a program on the Docker host (locally, or over the SSH connection), no shell, no stdin.

        The program talks to this host's engine: ``DOCKER_HOST`` is set to it (for a host that is
        not SSH, or an SSH host with its own ``docker_host``).

        Returns:
            ``(exit code, stdout)`` (stdout then stderr ``with_stderr``); 127 when the program is
            not installed there.

        Raises:
            HostUnreachable: the SSH connection broke, or the program ran past ``timeout``.
        """
        run = self._run_here if not self.is_remote else self._run_over_ssh
        code, out, err = run(argv, cwd, timeout)
        return code, f"{out}\n{err}" if with_stderr else out

    def _run_here(self, argv: list[str], cwd: str | None, timeout: float) -> tuple[int, str, str]:
        """:meth:`run_command` on this machine: ``(exit code, stdout, stderr)``."""
        env = {**os.environ, "DOCKER_HOST": self.engine_url}
        try:
            done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=timeout, check=False)
        except FileNotFoundError:
            return 127, "", ""
        except (subprocess.TimeoutExpired, OSError) as exc:
            raise HostUnreachable(f"{self.label}: {argv[0]}: {exc}", host=self.label) from exc
        return done.returncode, done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")

    def _run_over_ssh(self, argv: list[str], cwd: str | None, timeout: float) -> tuple[int, str, str]:
        """:meth:`run_command` through fabric on the SSH connection: ``(exit code, stdout, stderr)``."""
        from invoke.exceptions import (
            CommandTimedOut,  # fabric's runner: loaded with the SSH transport
        )

        command = shlex.join(argv)
        if self.docker_host:
            command = f"DOCKER_HOST={shlex.quote(self.docker_host)} {command}"
        if cwd:
            command = f"cd {shlex.quote(cwd)} && {command}"
        with self._ssh_errors(f"run {argv[0]}"):
            try:
                result = self.ssh.run(command, hide=True, warn=True, in_stream=False, timeout=timeout)
            except CommandTimedOut as exc:
                raise HostUnreachable(f"{self.label}: {argv[0]}: no answer in {timeout:g} s",
                                      host=self.label) from exc
        return int(result.exited), str(result.stdout), str(result.stderr)

    # ----------------------------------------------------------------- diagnosis reads

    def exec(self, container: str, cmd: list[str]) -> tuple[int, str]:
        """Run ``cmd`` in a running container (``docker exec``, no shell, no TTY).

        Returns:
            ``(exit code, stdout+stderr)``; 126/127 when the program is missing in the image.

        Raises:
            ContainerNotFound: no such container.
            InspectError: the engine refused (e.g. the container is not running).
        """
        with self.errors(container, during=f"exec in {container}"):
            exec_id = self.api.exec_create(container, cmd, stdout=True, stderr=True, tty=False)["Id"]
            output = self.api.exec_start(exec_id, tty=False, demux=False) or b""
            code = self.api.exec_inspect(exec_id).get("ExitCode")
        text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
        return (int(code) if code is not None else -1), text

    def logs(self, container: str, *, tail: int = 20) -> str:
        """The last ``tail`` lines of a container's stdout and stderr."""
        with self.errors(container, during=f"logs of {container}"):
            data = self.api.logs(container, stdout=True, stderr=True, tail=tail)
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _on_this_machine(engine_url: str) -> bool:
    """True for a unix socket, or a tcp:// engine on a loopback address (files are this machine's)."""
    if not engine_url.startswith("tcp://"):
        return True
    host = (urllib.parse.urlsplit(engine_url).hostname or "").lower()
    return host == "localhost" or host == "::1" or host.startswith("127.")


def _links_dict(links: list[str] | None) -> dict[str, str] | None:
    if not links:
        return None
    pairs = (link.partition(":") for link in links)
    return {name: alias or name for name, _, alias in pairs}


def _engine_text(exc: Any) -> str:
    """What the engine said, with its secret shapes masked (it may echo an env value or a command)."""
    return redact_text(str(exc.explanation or exc))


def _first_line(exc: BaseException) -> str:
    """The innermost reason of a (requests / urllib3) error, on one line: "Connection refused",
    not the retry wrapper around it."""
    inner: BaseException = exc
    while True:
        nested = getattr(inner, "reason", None)
        if not isinstance(nested, BaseException) and inner.args and isinstance(inner.args[0], BaseException):
            nested = inner.args[0]
        if not isinstance(nested, BaseException) or nested is inner:
            break
        inner = nested
    text = str(inner).strip().splitlines()
    if not text:
        return exc.__class__.__name__
    # urllib3: "HTTPConnection(host=..., port=...): Failed to establish a new connection: [Errno 111] ..."
    line = text[0].rsplit("] ", 1)[-1] if "[Errno" in text[0] else text[0]
    return redact_text(line)
