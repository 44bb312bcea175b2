"""What support asks for first, from one Docker host, redacted: the support bundle's members.

Everything is read (nothing changes) and every member passes through the same redaction as
every other output: env values, flags and labels with secret names, and every secret shape
(:mod:`remediate.core.redaction`) anywhere in the text. The CLI (``remediate bundle``) packs the
members of each host into one archive.
"""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from remediate.core.redaction import each_string, redact_args, redact_config, redact_text
from remediate.executor.history import history
from remediate.executor.journal import Journal
from remediate.host.connection import Connection
from remediate.output.records import history_row
from remediate.packs.gitlab_duo.diagnose import Finding

#: How many of the newest history rows a bundle keeps.
HISTORY_ROWS = 50


@dataclass(frozen=True)
class Member:
    """One file of the bundle: its path under the host's folder, what it holds, its bytes."""

    path: str
    about: str
    content: bytes


def collect(conn: Connection, findings: Sequence[Finding], diagnosis: Mapping[str, Any], *, log_lines: int = 200,
            correlation_id: str | None = None) -> list[Member]:
    """The bundle's members for one host: versions, the diagnosis (``diagnosis``: its JSON view),
    the redacted ``docker inspect`` and last ``log_lines`` log lines of each diagnosed container
    (only the lines holding ``correlation_id`` when given), and the host's apply history.

    Raises:
        ConnectError: the engine cannot be reached.
    """
    names = sorted({f.container for f in findings if f.kind in ("ai-gateway", "vllm")})
    inspects = {name: conn.inspect_container(name) for name in names}
    members = [
        _json("versions.json", "remediate, Python, the engine and its OS, the images of the containers",
              _versions(conn, inspects.values())),
        _json("diagnose.json", "remediate diagnose --format json", diagnosis),
    ]
    for name, inspect in inspects.items():
        members.append(_json(f"containers/{name}.inspect.json", f"docker inspect {name}", redact_inspect(inspect)))
        logs = conn.logs(name, tail=log_lines).splitlines()
        if correlation_id:
            logs = [line for line in logs if correlation_id in line]
        about = f"docker logs --tail {log_lines} {name}" + (f" (lines with {correlation_id})" if correlation_id else "")
        members.append(Member(f"containers/{name}.log", about, "".join(redact_text(line) + "\n" for line in logs).encode()))
    rows = [history_row(entry) for entry in list(history(Journal(conn)))[:HISTORY_ROWS]]
    members.append(_json("history.json", f"remediate history (the newest {HISTORY_ROWS})", rows))
    return members


def redact_inspect(inspect: Mapping[str, Any]) -> dict[str, Any]:
    """A ``docker inspect`` as it may leave the host: the config redacted as every view redacts
    it, the process arguments too, and every secret shape masked elsewhere."""
    shown = dict(inspect)
    shown["Config"] = redact_config(inspect.get("Config") or {})
    shown["Args"] = redact_args([str(a) for a in inspect.get("Args") or []])
    shown["Path"] = redact_text(str(inspect.get("Path") or ""))
    return each_string(shown, redact_text, keys=True)  # type: ignore[no-any-return]


def _versions(conn: Connection, inspects: Any) -> dict[str, Any]:
    info = conn.info()
    engine = dict(conn.api.version())
    images = {}
    for inspect in inspects:
        image = conn.inspect_image(str(inspect.get("Image", ""))) or {}
        images[str(inspect.get("Name", "")).lstrip("/")] = {
            "configured": (inspect.get("Config") or {}).get("Image"), "id": inspect.get("Image"),
            "tags": image.get("RepoTags") or [], "digests": image.get("RepoDigests") or [],
            "created": image.get("Created"), "labels": (image.get("Config") or {}).get("Labels") or {}}
    return {
        "remediate": version("remediate"), "python": sys.version.split()[0], "controller": platform.platform(),
        "engine": {key: engine.get(key) for key in ("Version", "ApiVersion", "Os", "Arch", "KernelVersion")}
        | {"name": engine.get("Platform", {}).get("Name")},
        "host": {key: info.get(key) for key in ("Name", "OperatingSystem", "OSVersion", "KernelVersion",
                                               "Architecture", "NCPU", "MemTotal", "Driver", "CgroupVersion")}
        | {"runtimes": sorted(info.get("Runtimes") or {})},
        "images": images,
    }


def redacted_json(data: Any) -> bytes:
    """``data`` as indented JSON, every string in it redacted (the JSON stays valid)."""
    return (json.dumps(each_string(data, redact_text, keys=True), indent=2, default=str) + "\n").encode()


def _json(path: str, about: str, data: Any) -> Member:
    return Member(path, about, redacted_json(data))
