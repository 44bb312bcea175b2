"""The view of where a report's host runs: its engine and OS as ``docker info`` says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

from remediate.core.redaction import redact_text
from remediate.core.visible import visible


class EnvironmentJson(TypedDict):
    """Where a report's host runs: its engine and OS as ``docker info`` says (``error``: why not said)."""

    host: str
    name: str | None
    engine: str | None
    os: str | None
    kernel: str | None
    arch: str | None
    error: str | None


def environment_json(host: str, info: Mapping[str, Any] | None, error: str | None = None, *,
                     api: str | None = None) -> EnvironmentJson:
    """A host's engine and OS from its ``docker info`` and the API version spoken with it (``info``
    None: ``error`` says why unknown)."""
    info = {**(info or {}), **({"ApiVersion": api} if api else {})}

    def text(key: str) -> str | None:
        value = info.get(key)
        return visible(str(value)) if value not in (None, "") else None

    engine = text("ServerVersion")
    return {"host": visible(host), "name": text("Name"),
            "engine": f"{engine} (API {info['ApiVersion']})" if engine and info.get("ApiVersion") else engine,
            "os": text("OperatingSystem"), "kernel": text("KernelVersion"), "arch": text("Architecture"),
            "error": visible(redact_text(error)) if error else None}
