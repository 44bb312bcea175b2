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
from pathlib import Path
from typing import Any

import paramiko
from docker.transport.basehttpadapter import BaseHTTPAdapter
from docker.transport.sshconn import SSHConnection, SSHConnectionPool

from remediate.errors import AuthFailed, HostKeyRejected, HostUnreachable
from remediate.sshoptions import SshOptions


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
    """Open (and authenticate) a fabric Connection with the configured host-key policy.

    Raises:
        HostUnreachable, AuthFailed, HostKeyRejected: with a one-line reason.
    """
    import fabric

    connect_kwargs: dict[str, Any] = {"banner_timeout": options.connect_timeout,
                                      "auth_timeout": options.connect_timeout}
    if options.key_file:
        connect_kwargs["key_filename"] = [os.path.expanduser(options.key_file)]
    conn = fabric.Connection(host, user=user, port=port, connect_timeout=int(options.connect_timeout),
                             connect_kwargs=connect_kwargs)
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
    except (OSError, paramiko.SSHException, EOFError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or exc.__class__.__name__
        raise HostUnreachable(f"{label}: cannot connect to {conn.host}:{conn.port} ({reason})",
                              host=label) from exc
    return conn


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


class _DialStdioConnection(SSHConnection):  # type: ignore[misc]
    """An HTTP connection over one SSH channel running ``docker system dial-stdio``."""

    def __init__(self, transport: paramiko.Transport, timeout: float, command: str) -> None:
        super().__init__(transport, timeout, "ssh")
        self._command = command

    def connect(self) -> None:
        channel = self.ssh_transport.open_session()
        channel.settimeout(self.timeout)
        channel.exec_command(self._command)
        self.sock = channel


class _DialStdioPool(SSHConnectionPool):  # type: ignore[misc]
    def __init__(self, transport: paramiko.Transport, timeout: float, maxsize: int, command: str) -> None:
        super().__init__(None, timeout, maxsize, "ssh")
        self.ssh_transport = transport
        self._command = command

    def _new_conn(self) -> _DialStdioConnection:
        return _DialStdioConnection(self.ssh_transport, self.timeout, self._command)


class DialStdioAdapter(BaseHTTPAdapter):  # type: ignore[misc]
    """requests adapter: the Docker API over an existing SSH transport (kept-alive channels)."""

    def __init__(self, transport: paramiko.Transport, *, docker_host: str | None, timeout: float,
                 pool_size: int = 4) -> None:
        super().__init__()
        command = "docker system dial-stdio"
        if docker_host:
            command = f"docker -H {shlex.quote(docker_host)} system dial-stdio"
        self._pool = _DialStdioPool(transport, timeout, pool_size, command)

    def get_connection(self, url: str, proxies: Any = None) -> _DialStdioPool:
        return self._pool

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None,
                                        cert: Any = None) -> _DialStdioPool:
        return self._pool

    def close(self) -> None:
        self._pool.close()
        super().close()
