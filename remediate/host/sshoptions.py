"""How to reach SSH hosts: host-key policy and credentials (no SSH library needed to hold them)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SshOptions:
    """How to reach SSH hosts.

    Attributes:
        known_hosts: known_hosts file (default ``~/.ssh/known_hosts``).
        accept_new_host_keys: record the key of a host seen for the first time (never a changed one).
        key_file: private key file (else ssh-agent, ``~/.ssh/config`` IdentityFile, default keys).
        connect_timeout: seconds to connect and authenticate.
        jump: jump host(s) to go through, as ``ssh -J`` takes them (``[user@]host[:port]``,
            hops separated by commas, the first one reached first); None: as ``~/.ssh/config`` says.
    """

    known_hosts: str | None = None
    accept_new_host_keys: bool = False
    key_file: str | None = None
    connect_timeout: float = 10.0
    jump: str | None = None

    @property
    def known_hosts_path(self) -> Path:
        """The known_hosts file in use."""
        return Path(self.known_hosts or os.path.expanduser("~/.ssh/known_hosts"))
