"""Engine-side filters of a container listing (``docker ps --filter``): the engine sends only the
containers a playbook's selectors or a tie lookup may need, so what remediate reads follows the
selection, not the number of containers on the host. Pure: selectors and inspects in, filter
maps out (``{"label": ["k=v"], "name": ["^/?web-.*$"]}``, as the engine API takes them).

A filter only narrows: what it lets through is still matched on the listing and the inspect.
Filters of one map combine with AND, several values of ``name``, ``id``, ``volume`` with OR,
several ``label`` values with AND (Docker's rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from remediate.core.playbook import Selector

Filters = dict[str, list[str]]

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def name_regex(glob: str) -> str | None:
    """The engine's ``name`` filter (a regular expression matched on ``/NAME``) that matches
    exactly the names ``glob`` matches; None for a glob with a character class (``[...]``),
    which is then matched only here.

    >>> name_regex("web-*")
    '^/?web\\\\-.*$'
    """
    parts = ["^/?"]
    for char in glob:
        if char == "[":
            return None
        parts.append(".*" if char == "*" else "." if char == "?" else char if char in _PLAIN else f"\\{char}")
    return "".join(parts) + "$"


def selection_filters(selectors: Sequence[Selector]) -> list[Filters] | None:
    """One filter map per selector (its labels, its name glob), or None when a selector has
    neither (an image, command or env glob only: the engine cannot narrow it; list everything)."""
    found = []
    for selector in selectors:
        filters: Filters = {}
        if selector.labels:
            filters["label"] = [f"{key}={value}" for key, value in sorted(selector.labels.items())]
        regex = name_regex(selector.name) if selector.name else None
        if regex is not None:
            filters["name"] = [regex]
        if not filters:
            return None
        found.append(filters)
    return found


def tie_filters(targets: Sequence[Mapping[str, Any]]) -> list[Filters] | None:
    """Filter maps whose listings hold every container that may be tied to one of ``targets``
    (inspects), as :func:`remediate.executor.tie_lookup.candidates` picks them from a full listing,
    on an engine that records a ``--network/--ipc/--pid container:NAME`` join by the id of the
    container it joins (Docker): such a joiner, and a ``--volumes-from`` reader, is newer than
    the container it names (``since`` the oldest target); a reader of an earlier container of
    the same name mounts what the target mounts (``volume``); the targets themselves (their
    listing names the containers that ``--link`` them; those are looked up by name after): the
    newer ones are in the ``since`` listing, the oldest (and any as old) are listed by ``id``.
    None when a target's creation time is not known (then list everything).
    """
    created = {str(t["Id"]): _created(t.get("Created")) for t in targets}
    if not targets or None in created.values():
        return None
    oldest = min(created, key=lambda ident: created[ident] or 0.0)
    found: list[Filters] = [{"since": [oldest]}, {"id": sorted(i for i, t in created.items() if t == created[oldest])}]
    volumes = sorted({_mount_key(mounts[0]) for t in targets if (mounts := t.get("Mounts") or [])})
    if volumes:
        found.append({"volume": volumes})
    return found


def linker_filters(summaries: Sequence[Mapping[str, Any]]) -> list[Filters]:
    """The filter of the containers that ``--link`` one of ``summaries`` (the engine names each
    in a linked container's ``Names``: ``/linker/alias``), by exact name; none when none does."""
    linkers = sorted({str(n).split("/")[1] for s in summaries for n in s.get("Names") or [] if str(n).count("/") >= 2})
    return [{"name": [regex for regex in map(name_regex, linkers) if regex]}] if linkers else []


def _mount_key(mount: Mapping[str, Any]) -> str:
    """What the engine's ``volume`` filter matches a mount by: a volume's name, else its source."""
    return str(mount.get("Name") or mount.get("Source") or "")


def _created(value: Any) -> float | None:
    """An inspect's ``Created`` (RFC 3339, nanoseconds) as seconds since the epoch (microseconds kept)."""
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None
