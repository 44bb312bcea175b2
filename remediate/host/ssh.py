"""SSH transport for one remote Docker host: one SSH connection carries the engine API, SFTP
and probe tunnels for the whole run.

The engine API runs over channels of that one connection, each executing
``docker system dial-stdio`` on the host (what docker-py's ``ssh://`` does, but without a second
SSH connection and with our host-key policy). Host keys are strict by default: an unknown key is
refused unless ``accept_new_host_keys`` (then it is recorded), a changed key always.
"""

from __future__ import annotations

import os
import shlex
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import paramiko
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHConnection, SSHConnectionPool

from remediate.errors import AuthFailed, HostKeyRejected, HostUnreachable
from remediate.host.sshoptions import SshOptions


class _AcceptNew(paramiko.MissingHostKeyPolicy):
    """Record a first-seen host key in the known_hosts file (``StrictHostKeyChecking=accept-new``)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        client.get_host_keys().add(hostname, key.get_name(), key)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")


class _Reject(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        raise _UnknownHostKey(hostname, key)


class _UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        super().__init__(f"unknown host key for {hostname}")
        self.hostname = hostname
        self.fingerprint = key.fingerprint


def open_ssh(host: str, *, port: int | None, user: str | None, options: SshOptions, label: str) -> Any:
    """Open (and authenticate) a fabric Connection with the configured host-key policy, through
    ``options.jump``'s hosts when set (with the same key file and host-key policy).

    Raises:
        HostUnreachable, AuthFailed, HostKeyRejected: with a one-line reason.
    """
    import fabric

    connect_kwargs: dict[str, Any] = {"banner_timeout": options.connect_timeout,
                                      "auth_timeout": options.connect_timeout}
    if options.key_file:
        connect_kwargs["key_filename"] = [os.path.expanduser(options.key_file)]
    gateway = None  # None: fabric follows ~/.ssh/config's ProxyJump
    for hop in (options.jump or "").split(",") if options.jump else ():
        try:
            parsed = urllib.parse.urlsplit(f"ssh://{hop.strip()}")
            hop_port = parsed.port
        except ValueError as exc:
            raise HostUnreachable(f"{label}: jump host {hop!r}: {exc}", host=label) from None
        if not parsed.hostname:
            raise HostUnreachable(f"{label}: jump host {hop!r}: no host name", host=label)
        gateway = fabric.Connection(parsed.hostname, user=parsed.username or None, port=hop_port,
                                    connect_timeout=int(options.connect_timeout), connect_kwargs=connect_kwargs,
                                    gateway=gateway)
    conn = fabric.Connection(host, user=user, port=port, connect_timeout=int(options.connect_timeout),
                             connect_kwargs=connect_kwargs, gateway=gateway)
    _apply_host_key_policy(conn, options)
    try:
        conn.open()
    except paramiko.BadHostKeyException as exc:
        raise HostKeyRejected(
            f"{label}: host key CHANGED for {exc.hostname} (got {exc.key.fingerprint}); refusing. "
            f"If the host was rebuilt, remove its old key from {options.known_hosts_path}", host=label) from exc
    except _UnknownHostKey as exc:
        raise HostKeyRejected(
            f"{label}: unknown host key for {exc.hostname} ({exc.fingerprint}); not in "
            f"{options.known_hosts_path}. Verify it and add it, or pass --accept-new-host-keys",
            host=label) from exc
    except paramiko.AuthenticationException as exc:
        raise AuthFailed(f"{label}: authentication failed for {conn.user}@{conn.host}:{conn.port}",
                         host=label) from exc
    except paramiko.SSHException as exc:
        if str(exc) != "No authentication methods available":
            raise _unreachable(conn, label, exc, options.jump) from exc
        raise AuthFailed(f"{label}: authentication failed for {conn.user}@{conn.host}:{conn.port}: no key to "
                         "offer (use --private-key, an IdentityFile, or ssh-agent)", host=label) from exc
    except (OSError, EOFError) as exc:
        raise _unreachable(conn, label, exc, options.jump) from exc
    return conn


def _unreachable(conn: Any, label: str, exc: BaseException, jump: str | None) -> HostUnreachable:
    reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
    via = f" via jump host {jump}" if jump else ""
    return HostUnreachable(f"{label}: cannot connect to {conn.host}:{conn.port}{via} ({reason})", host=label)


def _apply_host_key_policy(conn: Any, options: SshOptions) -> None:
    # fabric defaults to AutoAddPolicy; never auto-add silently, gateways (ProxyJump) included.
    while conn is not None and hasattr(conn, "client"):
        client = conn.client
        client.get_host_keys().clear()
        if options.known_hosts_path.exists():
            client.load_host_keys(str(options.known_hosts_path))
        policy = _AcceptNew(options.known_hosts_path) if options.accept_new_host_keys else _Reject()
        client.set_missing_host_key_policy(policy)
        conn = conn.gateway if not isinstance(conn.gateway, str) else None


def _open_streamlocal(transport: Any, path: str, timeout: float) -> Any:
    """A channel straight to a Unix socket on the SSH server (OpenSSH ``direct-streamlocal``).

    No session, shell or docker CLI is started on the host for it, unlike ``dial-stdio``.
    paramiko has no public call for this channel type: this does what
    ``Transport.open_channel`` does, with the streamlocal payload.

    Raises:
        paramiko.SSHException: the server refused (e.g. ``AllowStreamLocalForwarding no``).
    """
    from paramiko.common import cMSG_CHANNEL_OPEN
    from paramiko.message import Message

    with transport.lock:
        window = transport._sanitize_window_size(None)
        packet = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        message = Message()
        message.add_byte(cMSG_CHANNEL_OPEN)
        message.add_string("direct-streamlocal@openssh.com")
        message.add_int(chanid)
        message.add_int(window)
        message.add_int(packet)
        message.add_string(path)
        message.add_string("")  # reserved
        message.add_int(0)  # reserved
        channel: Any = paramiko.Channel(chanid)
        transport._channels.put(chanid, channel)
        transport.channel_events[chanid] = event = threading.Event()
        transport.channels_seen[chanid] = True
        channel._set_transport(transport)
        channel._set_window(window, packet)
    transport._send_user_message(message)
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.active or time.monotonic() > deadline:
            raise paramiko.SSHException(f"no channel to {path}")
    if transport._channels.get(chanid) is None:
        raise paramiko.SSHException(f"the server refused a channel to {path}")
    return channel


class _EngineConnection(SSHConnection):  # type: ignore[misc]
    """An HTTP connection to the engine over one SSH channel: straight to its socket when the
    socket path is known and the server allows it, else through ``docker system dial-stdio``."""

    def __init__(self, pool: _EnginePool) -> None:
        super().__init__(pool.ssh_transport, pool.timeout, "ssh")
        self._pool = pool

    def connect(self) -> None:
        pool = self._pool
        if pool.socket_path and pool.streamlocal:
            try:
                channel = _open_streamlocal(self.ssh_transport, pool.socket_path, self.timeout or 10.0)
            except (paramiko.SSHException, AttributeError):
                pool.streamlocal = False  # refused (or another paramiko): dial-stdio from now on
            else:
                channel.settimeout(self.timeout)
                self.sock = channel
                return
        channel = self.ssh_transport.open_session()
        channel.settimeout(self.timeout)
        channel.exec_command(pool.command)
        self.sock = channel


class _EnginePool(SSHConnectionPool):  # type: ignore[misc]
    def __init__(self, transport: paramiko.Transport, timeout: float, maxsize: int, docker_host: str | None) -> None:
        super().__init__(None, timeout, maxsize, "ssh")
        self.ssh_transport = transport
        self.command = "docker system dial-stdio"
        if docker_host:
            self.command = f"docker -H {shlex.quote(docker_host)} system dial-stdio"
        self.socket_path = docker_host[len("unix://"):] if docker_host and docker_host.startswith("unix://") else None
        self.streamlocal = True

    def _new_conn(self) -> _EngineConnection:
        return _EngineConnection(self)


class DialStdioAdapter(BaseHTTPAdapter):  # type: ignore[misc]
    """requests adapter: the Docker API over an existing SSH transport (kept-alive channels).

    With ``docker_host`` a ``unix://`` path, channels go straight to that socket
    (``direct-streamlocal``); otherwise, or if the server refuses, each runs
    ``docker [-H docker_host] system dial-stdio`` on the host.
    """

    def __init__(self, transport: paramiko.Transport, *, docker_host: str | None, timeout: float,
                 pool_size: int = 4) -> None:
        super().__init__()
        self._pool = _EnginePool(transport, timeout, pool_size, docker_host)

    def get_connection(self, url: str, proxies: Any = None) -> _EnginePool:
        return self._pool

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                        cert: Any = None) -> _EnginePool:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()
