"""Targets: the Docker hosts a run works on, from ``-H`` URLs or inventory hosts, and how an
inventory host is reached (:func:`host_json`)."""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from remediate.core.redaction import marked_secrets
from remediate.errors import InventoryError
from remediate.host.connection import Connection, local_engine_url
from remediate.host.sshoptions import SshOptions
from remediate.output.hosts import HostJson, masked_host

if TYPE_CHECKING:  # a dry run of -H targets needs no inventory machinery
    from remediate.fleet.inventory import Host, Inventory


@dataclass(frozen=True)
class Target:
    """One Docker host to run on.

    Attributes:
        name: label in output (inventory name or the URL).
        url: ``local``, ``unix:///path`` or ``ssh://[user@]host[:port]``.
        docker_host: engine socket on the host, when not the default.
        key_file: SSH private key for this host (for its jump hosts too).
        jump: jump host(s) to reach it through (``ssh -J``'s form), from its inventory.
        vars: inventory variables of the host (host over group).
        groups: inventory groups of the host.
    """

    name: str
    url: str = "local"
    docker_host: str | None = None
    key_file: str | None = None
    jump: str | None = None
    groups: frozenset[str] = frozenset()
    vars: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def connection(self, ssh: SshOptions | None = None, *, timeout: float = 60.0) -> Connection:
        """A (lazily opened) connection to this host: ``ssh`` with this host's own key file and
        jump hosts, if any."""
        options = ssh or SshOptions()
        if self.key_file or self.jump:
            options = dataclasses.replace(options, key_file=self.key_file or options.key_file,
                                          jump=self.jump or options.jump)
        return Connection(self.url, ssh=options, docker_host=self.docker_host, label=self.name, timeout=timeout)

    @property
    def engine_address(self) -> str:
        """Where this target's engine is, spelled one way (``local`` and its socket path, or a host
        name in another case, give the same): two targets with one address are one engine."""
        url = self.url if self.url != "local" else local_engine_url()
        if url.startswith("unix://"):
            return "unix://" + os.path.realpath(url.removeprefix("unix://"))
        parts = urllib.parse.urlsplit(url)
        user = f"{parts.username}@" if parts.username else ""
        default = {"ssh": 22, "tcp": 2376 if os.environ.get("DOCKER_TLS_VERIFY") else 2375}.get(parts.scheme)
        where = f"{parts.scheme}://{user}{(parts.hostname or '').lower()}:{parts.port or default}"
        return where + (f" {self.docker_host}" if self.docker_host else "")


def target_from_url(url: str) -> Target:
    """A target from ``-H``: ``local``, ``unix:///path``, ``tcp://host:port`` (TLS from
    ``DOCKER_TLS_VERIFY`` / ``DOCKER_CERT_PATH``), ``ssh://user@host:port`` or a bare host name.

    Raises:
        InventoryError: an unsupported scheme, a bad port, no host name.
    """
    if url == "local" or url.startswith(("unix://", "tcp://")):
        return Target(name=url, url=url)
    if "://" in url and not url.startswith("ssh://"):
        raise InventoryError(f"-H {url}: unsupported (use local, unix:///path, tcp://host:port or "
                             "ssh://user@host:port)")
    full = url if url.startswith("ssh://") else f"ssh://{url}"
    try:
        parsed = urllib.parse.urlparse(full)
        parsed.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InventoryError(f"-H {url}: {exc}") from None
    if not parsed.hostname:
        raise InventoryError(f"-H {url}: no host name (use ssh://user@host:port)")
    return Target(name=url, url=full)


def targets_from_inventory(inventory: Inventory, limit: str | None) -> list[Target]:
    """The inventory hosts ``limit`` selects, as targets."""
    return [target_of(host) for host in inventory.select(limit)]


def target_of(host: Host) -> Target:
    """The target of one inventory host."""
    if host.connection == "local":
        url = host.docker_host if (host.docker_host or "").startswith("unix://") else "local"
        return Target(name=host.name, url=url or "local", groups=host.groups, vars=host.vars)
    user = f"{host.user}@" if host.user else ""
    address = f"[{host.address}]" if ":" in host.address else host.address  # IPv6
    return Target(name=host.name, url=f"ssh://{user}{address}:{host.port}", docker_host=host.docker_host,
                  key_file=host.key_file, jump=host.jump, groups=host.groups, vars=host.vars)


def host_json(host: Host, environ: Mapping[str, str] | None = None) -> HostJson:
    """How an inventory host is reached, JSON-ready: the effective connection (``ssh`` or
    ``local``), address, port and user (None for a local host), the Docker host, key file, the
    URL remediate connects to, and the groups.

    ``docker_host`` is the engine socket: for a local host the inventory's ``unix://`` one, else
    :func:`remediate.host.connection.local_engine_url` of ``environ`` (default ``os.environ``); for
    an SSH host ``remediate_docker_host``, or None for that host's default engine (reached with
    ``docker system dial-stdio`` there). A field made from a decrypted ``!vault`` value shows it
    as ``***``.
    """
    target = target_of(host)
    local = not target.url.startswith("ssh://")
    docker_host = (target.url if target.url != "local" else local_engine_url(environ)) if local else host.docker_host
    shown: HostJson = {"host": host.name, "connection": "local" if local else "ssh",
                       "address": None if local else host.address, "port": None if local else host.port,
                       "user": None if local else host.user, "docker_host": docker_host,
                       "key_file": None if local else host.key_file, "jump": None if local else host.jump,
                       "url": target.url, "groups": sorted(host.groups)}
    return masked_host(shown, marked_secrets(host.vars))
