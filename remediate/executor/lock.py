"""The host lock: one apply, rollback or recover at a time on a Docker host.

The lock is a file, ``lock``, in the host's state directory (:mod:`remediate.executor.statedir`),
created exclusively. It names who holds it: user, host name, pid and purpose for the message,
and an identity that says which process that is wherever it ran: the kernel's boot id
(``/proc/sys/kernel/random/boot_id``), the machine id (``/etc/machine-id``), the pid namespace
(``/proc/self/ns/pid``) and the process's start time (``/proc/<pid>/stat``).

A lock is taken over (stale) only when its holder is proven gone: it ran in this boot of this
kernel and in this pid namespace, and no process with its pid and start time is there any more;
or it ran on this machine (same machine id) in an earlier boot. Anything else is live, since
that process cannot be seen from here: another machine (even of the same host name), another
pid namespace (a container, ``unshare --pid``), or a lock written without an identity.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Self

from remediate.errors import LockedError
from remediate.executor.record import controller
from remediate.executor.statedir import state_dir
from remediate.host.connection import Connection

Json = dict[str, Any]
_BOOT_ID = "/proc/sys/kernel/random/boot_id"
_MACHINE_IDS = ("/etc/machine-id", "/var/lib/dbus/machine-id")


@dataclass
class HostLock:
    """An exclusive lock on one Docker host, held for an apply, a rollback or a recover."""

    conn: Connection
    purpose: str
    directory: str = ""
    _held: bool = False

    @property
    def path(self) -> str:
        """The lock file on the host."""
        return f"{self.directory}/lock"

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, or take over one whose holder is proven gone (see the module docstring).

        Raises:
            LockedError: another run holds it, or may (the message says who, and where the lock is).
            StateDirError: the state directory is not safe or not usable.
        """
        self.directory = self.directory or state_dir(self.conn, create=True)
        record = {**controller(), "purpose": self.purpose, "time": datetime.now(UTC).isoformat(timespec="seconds"),
                  **identity()}
        data = json.dumps(record).encode()
        for _ in range(2):
            if self.conn.create_exclusive(self.path, data):
                self._held = True
                return
            holder = self._holder()
            if holder is not None and not is_stale(holder):
                raise LockedError(
                    f"{self.conn.label}: locked by {holder.get('user')}@{holder.get('controller')} "
                    f"(pid {holder.get('pid')}, {holder.get('purpose')}, since {holder.get('time')}); if that run "
                    f"is surely gone, remove {self.path}", host=self.conn.label)
            self.conn.remove_file(self.path)  # stale: its process is gone
        raise LockedError(f"{self.conn.label}: could not take the lock {self.path}", host=self.conn.label)

    def release(self) -> None:
        """Give the lock back (only if we hold it)."""
        if self._held:
            self.conn.remove_file(self.path)
            self._held = False

    def _holder(self) -> Json | None:
        state = self.conn.read_path(self.path)
        if not state.exists or not state.content:
            return None
        try:
            holder = json.loads(state.content)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None
        return holder if isinstance(holder, dict) else None


def identity(pid: int | None = None) -> Json:
    """Who process ``pid`` (default: this one) is, beyond its pid: boot id, machine id, pid
    namespace, start time (each None when it cannot be read)."""
    pid = os.getpid() if pid is None else pid
    try:
        namespace: str | None = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        namespace = None
    return {"boot_id": _first_line(_BOOT_ID), "machine_id": next(filter(None, map(_first_line, _MACHINE_IDS)), None),
            "pid_ns": namespace, "started": _process_start(pid)}


def is_stale(holder: Json) -> bool:
    """True when the process that wrote lock record ``holder`` is proven gone."""
    me = identity()
    boot, machine = holder.get("boot_id"), holder.get("machine_id")
    if not boot or not me["boot_id"]:
        return False
    if boot != me["boot_id"]:
        return bool(machine) and machine == me["machine_id"]  # this machine, rebooted since
    if not me["pid_ns"] or holder.get("pid_ns") != me["pid_ns"] or not holder.get("started"):
        return False
    pid = holder.get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    return _process_start(pid) != str(holder["started"])


def _first_line(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.readline().strip() or None
    except OSError:
        return None


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` in clock ticks since boot; None when there is none."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None
