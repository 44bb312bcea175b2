"""Execute a Plan on one host: the recreate algorithm with backup, verify, and automatic restore.

Per container that changes:

1. re-inspect; refuse if it drifted since planning (``PlanStaleError``);
2. write the plan's files (previous content kept for undo);
3. create the new container under a temporary name (bad config fails here, old untouched);
4. stop the old one, make it inert (restart policy ``no``), rename it to the backup name;
   rename the new one and start it; recreate containers tied to it by ``--link`` or
   ``--network container:`` so they follow the new one;
5. verify: running, stable, healthy if it has a healthcheck, and the playbook's probes;
6. success: keep the backup (stopped) for ``remediate rollback``, prune older ones;
   failure: remove the new one, rename the backup back, restore its restart policy, start it,
   restore the files. If that fails too: ``rollback failed`` with the manual steps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from remediate import probes
from remediate.connection import Connection
from remediate.errors import ContainerNotFound, PlanStaleError, ProbeFailed, RemediateError
from remediate.planner import BACKUP_MARK, NEW_MARK, ContainerPlan, Plan, fingerprint
from remediate.report import ContainerResult, HostResult
from remediate.spec import ContainerSpec, anonymous_volumes, create_body, spec_from_inspect

DEFAULT_KEEP_BACKUPS = 3

Progress = Callable[[str, str], None]


def apply(plan: Plan, conn: Connection, *, timeout: float = 60.0, keep_backups: int = DEFAULT_KEEP_BACKUPS,
          progress: Progress | None = None) -> HostResult:
    """Apply a plan on the host it was made for.

    Args:
        plan: from :func:`remediate.plan.plan` on this host.
        conn: the host.
        timeout: seconds verification keeps retrying before it counts as failed.
        keep_backups: backups kept per container after a successful apply.
        progress: called with ``(container, phase)`` as work advances.

    Returns:
        The host result; containers after a failed one are ``skipped``.

    Raises:
        PlanStaleError: a container changed since the plan was made (nothing was changed).
    """
    started = time.monotonic()
    report = progress or (lambda _c, _p: None)
    for cp in plan.changed:
        _check_fresh(conn, cp)
    results: list[ContainerResult] = []
    failed = False
    for cp in plan.containers:
        if failed:
            results.append(ContainerResult(cp.name, "skipped", cp.id))
        elif cp.action == "none":
            results.append(ContainerResult(cp.name, "unchanged", cp.id, cp.id))
        else:
            result = _apply_container(conn, cp, timeout=timeout, keep_backups=keep_backups, report=report)
            results.append(result)
            failed = not result.ok
    return HostResult(plan.host, plan, tuple(results), time.monotonic() - started)


def _check_fresh(conn: Connection, cp: ContainerPlan) -> None:
    inspect = conn.inspect_container(cp.id)
    spec = spec_from_inspect(inspect, conn.inspect_image(str(inspect.get("Image", ""))))
    if fingerprint(spec, str(inspect["Id"])) != cp.fingerprint:
        raise PlanStaleError(f"{conn.label}: container {cp.name} changed since the plan was made; plan again",
                             host=conn.label, container=cp.name)


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")[:-3]


class _Txn:
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


def _apply_container(conn: Connection, cp: ContainerPlan, *, timeout: float, keep_backups: int,
                     report: Progress) -> ContainerResult:
    started = time.monotonic()
    txn = _Txn()
    backup = f"{cp.name}{BACKUP_MARK}{_stamp()}"
    new_id: str | None = None
    checks: tuple[probes.ProbeResult, ...] = ()
    try:
        report(cp.name, "write files")
        _write_files(conn, cp, txn)
        report(cp.name, "create")
        old = conn.inspect_container(cp.id)
        new_id = _create(conn, cp.after, f"{cp.name}{NEW_MARK}", anonymous_volumes(old), txn, cp.before)
        report(cp.name, "swap")
        _swap(conn, old, new_id, cp.name, backup, txn)
        report(cp.name, "dependents")
        _follow_dependents(conn, cp, str(old["Id"]), new_id, txn)
        report(cp.name, "verify")
        checks = _verify(conn, new_id, cp, timeout)
        failed = next((c for c in checks if not c.ok), None)
        if failed is not None:
            raise ProbeFailed(f"verify failed: {failed.name}: {failed.evidence}", host=conn.label,
                              container=cp.name)
        txn.commit()
    except RemediateError as exc:
        report(cp.name, "restore")
        left = txn.rollback()
        return ContainerResult(cp.name, "rollback failed" if left else "rolled back", cp.id, None, None, checks, exc.message,
                               time.monotonic() - started, tuple(left))
    report(cp.name, "done")
    _prune_backups(conn, cp.name, keep_backups)
    return ContainerResult(cp.name, "recreated", cp.id, new_id, backup, checks, None, time.monotonic() - started)


def _write_files(conn: Connection, cp: ContainerPlan, txn: _Txn) -> None:
    for write in cp.files:
        if not write.changed:
            continue
        if write.before is None:
            txn.undo(f"rm {write.path}", lambda w=write: conn.remove_file(w.path))  # type: ignore[misc]
        else:
            txn.undo(f"restore {write.path} from the plan",
                     lambda w=write: conn.write_file(w.path, w.before or b"", w.before_mode or 0o644))  # type: ignore[misc]
        conn.write_file(write.path, write.content, write.mode)


def _create(conn: Connection, spec: ContainerSpec, name: str, volumes: dict[str, str], txn: _Txn,
            before: ContainerSpec | None = None) -> str:
    body, extra_networks = create_body(spec, volumes=volumes)
    # Pass a platform only when the plan changes it: older engines reject the parameter otherwise.
    platform = spec.platform if before is not None and spec.platform != before.platform else None
    new_id = conn.create(body, name, platform)
    txn.undo(f"docker rm -f {new_id[:12]}", lambda: conn.remove(new_id, missing_ok=True))
    for network, endpoint in extra_networks.items():
        conn.connect_network(new_id, network, endpoint)
    return new_id


def _swap(conn: Connection, old: dict[str, Any], new_id: str, name: str, parked: str, txn: _Txn,
          *, late: bool = False) -> None:
    """Put ``new_id`` in place of the container ``old`` under ``name``; ``old`` is parked stopped.

    Order matters: the old one stops before it gives up its name, and the undo removes the new
    one before the old one takes its name back, then restarts it.
    """
    old_id = str(old["Id"])
    was_running = bool((old.get("State") or {}).get("Running"))
    policy = (old.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}
    if was_running:
        txn.undo(f"docker start {name}", lambda: conn.start(old_id), late=late)
    conn.stop(old_id, timeout=_stop_timeout(old))
    if policy.get("Name") not in ("", "no"):
        # A parked container must stay down, even when the daemon restarts.
        txn.undo(f"docker update --restart {policy.get('Name')} {name}",
                 lambda: conn.set_restart_policy(old_id, policy))
        conn.set_restart_policy(old_id, {"Name": "no"})
    txn.undo(f"docker rename {parked} {name}", lambda: conn.rename(old_id, name))
    conn.rename(old_id, parked)
    conn.rename(new_id, name)
    txn.undo(f"docker rm -f {new_id[:12]}", lambda: conn.remove(new_id, missing_ok=True))
    if was_running:
        conn.start(new_id)


def _stop_timeout(inspect: dict[str, Any]) -> int:
    value = (inspect.get("Config") or {}).get("StopTimeout")
    return int(value) if value is not None else 10


def _follow_dependents(conn: Connection, cp: ContainerPlan, old_id: str, new_id: str, txn: _Txn) -> None:
    """Recreate containers linked to / sharing the network of the old one, so they follow the new one.

    ``--volumes-from`` dependents need nothing: the volumes are handed over by name.
    """
    for name in cp.dependents:
        dep = conn.inspect_container(name)
        host = dep.get("HostConfig") or {}
        mode = str(host.get("NetworkMode") or "")
        tied_by_net = mode in (f"container:{old_id}", f"container:{cp.name}")
        linked = any(link.split(":", 1)[0].lstrip("/") == cp.name for link in host.get("Links") or [])
        if not (tied_by_net or linked):
            continue
        spec = spec_from_inspect(dep, conn.inspect_image(str(dep.get("Image", ""))))
        if tied_by_net:
            spec = spec.replace(host_config={**spec.host_config, "NetworkMode": f"container:{new_id}"})
        replacement = _create(conn, spec, f"{name}{NEW_MARK}", anonymous_volumes(dep), txn)
        _swap(conn, dep, replacement, name, f"{name}{BACKUP_MARK}{_stamp()}", txn, late=True)
        # Its old copy is no backup of a change: drop it once the whole apply succeeded.
        txn.on_success(lambda dep_id=str(dep["Id"]): conn.remove(dep_id, missing_ok=True))  # type: ignore[misc]


def _verify(conn: Connection, new_id: str, cp: ContainerPlan, timeout: float) -> tuple[probes.ProbeResult, ...]:
    deadline = time.monotonic() + timeout
    results = [probes.wait_running(conn, new_id, timeout=timeout)]
    if not results[0].ok:
        return tuple(results)
    run_started = probes.started_at(conn, new_id)
    for probe in cp.verify:
        remaining = max(deadline - time.monotonic(), 1.0)
        results.append(probes.http_probe(conn, new_id, probe, timeout=remaining))
        if not results[-1].ok:
            return tuple(results)
    # A crash right after the probes (e.g. a port clash on a second port) must count too.
    results.append(probes.still_running(conn, new_id, run_started))
    return tuple(results)


def backups_of(conn: Connection, name: str) -> list[dict[str, Any]]:
    """Backup containers of ``name``, newest first."""
    prefix = f"/{name}{BACKUP_MARK}"
    found = [c for c in conn.list_containers() if any(n.startswith(prefix) for n in c.get("Names") or [])]
    return sorted(found, key=lambda c: max(c.get("Names") or [""]), reverse=True)


def _prune_backups(conn: Connection, name: str, keep: int) -> None:
    for old in backups_of(conn, name)[keep:]:
        conn.remove(str(old["Id"]))


def rollback(conn: Connection, name: str, *, timeout: float = 60.0) -> ContainerResult:
    """Put the newest backup of ``name`` back in its place; the current one becomes a backup.

    Raises:
        ContainerNotFound: ``name`` or its backup does not exist.
    """
    started = time.monotonic()
    current = conn.inspect_container(name)
    backups = backups_of(conn, name)
    if not backups:
        raise ContainerNotFound(f"{conn.label}: no remediate backup of {name}", host=conn.label, container=name)
    backup_id = str(backups[0]["Id"])
    policy = (current.get("HostConfig") or {}).get("RestartPolicy") or {"Name": "no"}
    txn = _Txn()
    try:
        _swap(conn, current, backup_id, name, f"{name}{BACKUP_MARK}{_stamp()}", txn)
        if not (current.get("State") or {}).get("Running"):
            conn.start(backup_id)
        if policy.get("Name") not in ("", "no"):
            conn.set_restart_policy(backup_id, policy)
        check = probes.wait_running(conn, backup_id, timeout=timeout)
        if not check.ok:
            raise ProbeFailed(f"restored container is not running: {check.evidence}", host=conn.label,
                              container=name)
    except RemediateError as exc:
        left = txn.rollback()
        return ContainerResult(name, "rollback failed" if left else "rolled back", str(current["Id"]),
                               None, None, (), exc.message, time.monotonic() - started, tuple(left))
    return ContainerResult(name, "recreated", str(current["Id"]), backup_id, None, (check,), None,
                           time.monotonic() - started)
