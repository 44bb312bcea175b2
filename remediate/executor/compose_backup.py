"""Keep remediate's backups of compose containers out of Compose's sight (engine I/O).

Labels cannot change on an existing container, so a backup is re-created from its own inspect
with the labels moved (:func:`remediate.core.compose.disarmed` / :func:`~remediate.core.compose.armed`):
same image, config, mounts (anonymous volumes handed over by name), networks and restart policy.
Only its writable layer is not carried over — as when Compose itself recreates a container.

Order (no moment without a copy): the backup is renamed aside, the copy is created under the
backup's name, then the original is removed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from remediate.core import compose
from remediate.core.spec import anonymous_volumes, spec_from_inspect
from remediate.errors import RemediateError
from remediate.executor.swap import create
from remediate.host.connection import Connection

_ASIDE = "-relabel"


def disarm(conn: Connection, name: str) -> str | None:
    """Re-create the stopped backup ``name`` without its compose labels; its new id, or ``None``
    when it carries none (not a compose container, or disarmed already) or is gone."""
    backup = conn.find_container(name)
    labels = ((backup or {}).get("Config") or {}).get("Labels") or {}
    if compose.owner(labels) is None:
        return None
    return _relabel(conn, name, compose.disarmed)


def rearm(conn: Connection, name: str) -> str | None:
    """Re-create the stopped backup ``name`` with its compose labels back (before it is put in
    place again); its new id, or ``None`` when it is no disarmed backup."""
    labels = (conn.inspect_container(name).get("Config") or {}).get("Labels") or {}
    if not compose.is_disarmed(labels):
        return None
    return _relabel(conn, name, compose.armed)


def _relabel(conn: Connection, name: str, move: Callable[[Mapping[str, str]], dict[str, str]]) -> str:
    inspect = conn.inspect_container(name)
    old_id = str(inspect["Id"])
    spec = spec_from_inspect(inspect, conn.inspect_image(str(inspect.get("Image", ""))))
    config = dict(spec.config)
    config["Labels"] = move(config.get("Labels") or {})
    conn.rename(old_id, f"{name}{_ASIDE}")
    try:
        # The image it runs, whatever its reference names now: a rollback must put back the same.
        new_id = create(conn, spec.replace(config=config), name, anonymous_volumes(inspect))
    except RemediateError:
        conn.remove(name, missing_ok=True)
        conn.rename(old_id, name)
        raise
    conn.remove(old_id)
    return new_id
