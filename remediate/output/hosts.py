"""The view of how an inventory host is reached (``remediate hosts``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypedDict, cast

from remediate.core.redaction import MASK, mask_json


class HostJson(TypedDict):
    """One row of ``remediate hosts --format json``."""

    host: str
    connection: str
    address: str | None
    port: int | None
    user: str | None
    docker_host: str | None
    key_file: str | None
    jump: str | None
    url: str
    groups: list[str]


def masked_host(row: HostJson, secrets: Iterable[str]) -> HostJson:
    """``row`` with every value made from one of ``secrets`` (decrypted ``!vault`` values) masked."""
    ordered = sorted(set(secrets), key=len, reverse=True)
    return cast(HostJson, {key: MASK if value is not None and str(value) in ordered else mask_json(value, ordered)
                           for key, value in cast(dict[str, Any], row).items()})
