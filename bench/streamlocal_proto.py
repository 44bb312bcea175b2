"""Experiment (bench/rollout.py ``--variant streamlocal``): the engine API over a
``direct-streamlocal@openssh.com`` channel instead of ``docker system dial-stdio``.

remediate reaches a remote engine by exec'ing ``docker system dial-stdio`` in a session channel
of its one SSH connection. Each such channel costs the host an sshd session (a forked process,
the user's shell, then the docker CLI) - about 0.1-0.2 CPU-seconds; in the 8-host lab, where all
hosts share this machine's 2 cores, those starts serialize and the all-hosts run waits for them.
OpenSSH can instead connect a channel straight to a Unix socket on the host (``ssh -L
local.sock:/var/run/docker.sock``; RFC-less extension ``direct-streamlocal@openssh.com``), with no
session, shell or docker CLI. paramiko has no public call for it, so this prototype builds the
channel-open message itself and swaps it into remediate's dial-stdio connection class, then runs
the normal CLI (with lab_remediate.py's per-host state dirs). Nothing else changes.

Only engine sockets named by the inventory (``remediate_docker_host=unix:///run/<host>/docker.sock``)
are used: a lab host's default /var/run/docker.sock is this machine's own engine.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Any


def open_streamlocal(transport: Any, path: str, timeout: float = 10.0) -> Any:
    """A paramiko Channel connected to the Unix socket ``path`` on the SSH server."""
    from paramiko.channel import Channel
    from paramiko.common import cMSG_CHANNEL_OPEN
    from paramiko.message import Message
    from paramiko.ssh_exception import SSHException

    with transport.lock:  # what Transport.open_channel does, with the streamlocal payload
        window = transport._sanitize_window_size(None)
        packet = transport._sanitize_packet_size(None)
        chanid = transport._next_channel()
        m = Message()
        m.add_byte(cMSG_CHANNEL_OPEN)
        m.add_string("direct-streamlocal@openssh.com")
        m.add_int(chanid)
        m.add_int(window)
        m.add_int(packet)
        m.add_string(path)
        m.add_string("")  # reserved
        m.add_int(0)  # reserved
        chan = Channel(chanid)
        transport._channels.put(chanid, chan)
        transport.channel_events[chanid] = event = threading.Event()
        transport.channels_seen[chanid] = True
        chan._set_transport(transport)
        chan._set_window(window, packet)
    transport._send_user_message(m)
    deadline = time.monotonic() + timeout
    while not event.wait(0.05):
        if not transport.active or time.monotonic() > deadline:
            raise SSHException(f"cannot open a channel to {path}")
    chan = transport._channels.get(chanid)
    if chan is None:
        raise SSHException(f"the server refused a channel to {path}")
    return chan


def _patch() -> None:
    from remediate import transport

    def connect(self: Any) -> None:
        command = self._command  # "docker -H 'unix:///run/<host>/docker.sock' system dial-stdio"
        if " -H " not in command:
            raise RuntimeError("streamlocal prototype: set remediate_docker_host in the inventory")
        url = command.split(" -H ", 1)[1].split()[0].strip("'\"")
        channel = open_streamlocal(self.ssh_transport, url.removeprefix("unix://"), self.timeout or 10.0)
        channel.settimeout(self.timeout)
        self.sock = channel

    transport._DialStdioConnection.connect = connect


def main() -> None:
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    import lab_remediate
    from remediate import journal

    lab_remediate._per_host(journal.Journal)
    lab_remediate._per_host(journal.HostLock)
    _patch()
    from remediate.cli import main as cli

    cli()


if __name__ == "__main__":
    sys.exit(main())
