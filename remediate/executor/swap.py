"""Swapping one container for another under its name, and the undo log that reverses it.

Shared by :mod:`remediate.executor.apply` (apply) and :mod:`remediate.executor.restore` (rollback, recover).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from remediate.core.planner import BACKUP_MARK
from remediate.core.spec import ContainerSpec, create_body
from remediate.errors import RemediateError
from remediate.host.connection import Connection

Json = dict[str, Any]


def stamp() -> str:
    """A UTC time stamp for backup names (sorts by time)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]


class Txn:
    """Undo steps recorded as the apply advances, and clean-ups kept for success.

    ``undo`` steps run newest first on failure; ``late`` steps (restarting dependents) run after
    them, once the container they depend on is back.
    """

    def __init__(self) -> None:
        self._undo: list[tuple[str, Callable[[], None]]] = []
        self._late: list[tuple[str, Callable[[], None]]] = []
        self._success: list[Callable[[], None]] = []

    def undo(self, description: str, step: Callable[[], None], *, late: bool = False) -> None:
        (self._late if late else self._undo).append((description, step))

    def on_success(self, step: Callable[[], None]) -> None:
        self._success.append(step)

    def commit(self) -> None:
        for step in self._success:
            step()

    def rollback(self) -> list[str]:
        """Run every undo step; return the manual commands of those that failed."""
        failed = []
        for description, step in [*reversed(self._undo), *self._late]:
            try:
                step()
            except RemediateError as exc:
                failed.append(f"{description}    # failed: {exc.message}")
        return failed


def create(conn: Connection, spec: ContainerSpec, name: str, volumes: dict[str, str], txn: Txn,
           platform: str | None = None) -> str:
    """Create a container from ``spec`` under ``name`` (removed again on undo); returns its id."""
    body, extra_networks = create_body(spec, volumes=volumes)
    new_id = conn.create(body, name, platform)
    txn.undo(f"docker rm -f {new_id[:12]}", lambda: conn.remove(new_id, missing_ok=True))
    for network, endpoint in extra_networks.items():
        conn.connect_network(new_id, network, endpoint)
    return new_id


def swap(conn: Connection, old: dict[str, Any], new_id: str, name: str, parked: str, txn: Txn,
         *, late: bool = False, mark: Callable[[str], None] = lambda _step: None,
         was_running: bool | None = None) -> None:
    """Put ``new_id`` in place of the container ``old`` under ``name``; ``old`` is parked stopped.

    ``was_running`` (default: as ``old`` shows) says whether the new one starts and the old one
    restarts on undo.

    Order matters: the old one stops before it gives up its name, and the undo removes the new
    one before the old one takes its name back, then restarts it.
    """
    old_id = str(old["Id"])
    if was_running is None:
        was_running = bool((old.get("State") or {}).get("Running"))
    policy = (old.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}
    if was_running:
        txn.undo(f"docker start {name}", lambda: conn.start(old_id), late=late)
    conn.stop(old_id, timeout=stop_timeout(old))
    mark("stopped")
    if policy.get("Name") not in ("", "no"):
        # A parked container must stay down, even when the daemon restarts.
        txn.undo(f"docker update --restart {policy.get('Name')} {name}",
                 lambda: conn.set_restart_policy(old_id, policy))
        conn.set_restart_policy(old_id, {"Name": "no"})
    txn.undo(f"docker rename {parked} {name}", lambda: conn.rename(old_id, name))
    conn.rename(old_id, parked)
    mark("parked")
    conn.rename(new_id, name)
    txn.undo(f"docker rm -f {new_id[:12]}", lambda: conn.remove(new_id, missing_ok=True))
    mark("swapped")
    if was_running:
        conn.start(new_id)
        mark("started")


def stop_timeout(inspect: dict[str, Any]) -> int:
    """Seconds ``docker stop`` waits for a container before it kills it."""
    value = (inspect.get("Config") or {}).get("StopTimeout")
    return int(value) if value is not None else 10


def backups_of(conn: Connection, name: str) -> list[dict[str, Any]]:
    """Backup containers of ``name``, newest first."""
    prefix = f"{name}{BACKUP_MARK}"
    found = [c for c in conn.list_containers() if c["Name"].startswith(prefix)]
    return sorted(found, key=lambda c: str(c["Name"]), reverse=True)


def list_backups(conn: Connection, container: str | None = None) -> list[Json]:
    """Every remediate backup on the host (optionally of one container), newest first."""
    rows = []
    for c in conn.list_containers():
        name = str(c["Name"])
        original, mark, stamp = name.partition(BACKUP_MARK)
        if mark and (container is None or original == container):
            rows.append({"backup": name, "container": original, "stamp": stamp, "id": str(c["Id"])[:12],
                         "image": c.get("Image"), "status": c.get("Status")})
    return sorted(rows, key=lambda r: str(r["stamp"]), reverse=True)
