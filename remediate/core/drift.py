"""What differs between a plan someone reviewed and a fresh plan of the same host.

Both sides are plan JSON (:func:`remediate.output.plan.plan_json`): a saved plan is only JSON, and
comparing what was shown (secrets masked) is comparing what the reviewer saw. The fingerprint
of each container covers every setting of it, so a secret changed on the container still counts;
the ``secrets`` digest covers what the plan masks, so a secret the plan would set that differs
from the reviewed one counts too (:func:`remediate.core.secret_flow.secrets_digest`).
Pure: no engine, no I/O.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

#: Per container, what must be the same for the reviewed change to be the change that runs.
COMPARED = ("container", "id", "fingerprint", "action", "diff", "dependents", "secrets", "image")

Json = Mapping[str, Any]


def host_drift(host: str, reviewed: Json, fresh: Json, since: str) -> list[str]:
    """One line per container whose plan differs (empty: the reviewed plan is still the plan).

    Args:
        host: the host's name, for the lines.
        reviewed: the plan JSON that was reviewed.
        fresh: the plan JSON made now.
        since: when it was reviewed, e.g. ``"the plan was saved"``.

    Example: ``host_drift("gpu-1", saved, now, "the plan was saved")`` ->
    ``["gpu-1: vllm: drifted since the plan was saved: - --env FLAVOR=a; + --env FLAVOR=b"]``.
    """
    before = {c["container"]: c for c in reviewed.get("containers") or []}
    now = {c["container"]: c for c in fresh.get("containers") or []}
    problems: list[str] = []
    for name in sorted(before.keys() | now.keys()):
        problems.extend(_container_drift(host, name, before.get(name), now.get(name), since))
    return problems


def _files(container: Json) -> list[tuple[Any, ...]]:
    return [(f.get("path"), f.get("mode"), f.get("diff")) for f in container.get("files") or []]


def _container_drift(host: str, name: str, before: Json | None, now: Json | None, since: str) -> list[str]:
    if before is None:
        return [f"{host}: {name}: new container since {since}, not in the plan"]
    if now is None:
        return [f"{host}: {name}: no longer selected (removed or changed)"]
    changed = [key for key in COMPARED if before.get(key) != now.get(key)]
    if _files(before) != _files(now):
        changed.append("files")
    if not changed:
        return []
    if "fingerprint" in changed or "id" in changed:
        return [f"{host}: {name}: drifted since {since}: {_what_changed(before, now)}"]
    if "image" in changed:
        return [f"{host}: {name}: {_image_moved(before.get('image'), now.get('image'), since)}"]
    if changed == ["secrets"]:
        return [f"{host}: {name}: a secret value of the change differs from the reviewed one (shown masked)"]
    return [f"{host}: {name}: the change differs now ({', '.join(changed)})"]


def _what_changed(before: Json, now: Json) -> str:
    """The container as it was reviewed against as it is now: the ``docker run`` lines that
    differ (``-``: as reviewed, ``+``: now), on one line."""
    was, is_now = list(before.get("run_before") or []), list(now.get("run_before") or [])
    lines = [line.rstrip(" \\") for line in difflib.unified_diff(was, is_now, lineterm="", n=0)
             if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    recreated = f"recreated (id {before.get('id')} -> {now.get('id')}); " if before.get("id") != now.get("id") else ""
    if lines:
        return recreated + "; ".join(f"{line[0]} {' '.join(line[1:].split())}" for line in lines)
    return recreated + "a setting not shown changed (a secret value, or what the image supplies)"


def _image_moved(before: Json | None, now: Json | None, since: str) -> str:
    """What changed of the image an ``image`` change moves the container to."""
    if before is None or now is None or before.get("to") != now.get("to"):
        return f"the image it moves to differs now ({(before or {}).get('to')} -> {(now or {}).get('to')})"
    ref, was, is_now = now.get("to"), before.get("to_id"), now.get("to_id")
    if was is None:
        return (f"{ref} was not on the host when {since} (it is now, {str(is_now)[:19]}…): plan again to review "
                "the settings it supplies")
    if is_now is None:
        return f"{ref} is no longer on the host (it named {str(was)[:19]}… when {since})"
    return f"{ref} names another image now ({str(is_now)[:19]}…, not {str(was)[:19]}… as when {since})"
