"""Docker Compose ownership of a container, read from its ``com.docker.compose.*`` labels (pure).

Compose finds the containers of a service by their labels (project, service, ``oneoff=False``):
any container carrying them counts as part of the service, a stopped backup too. A remediate
backup of a compose container is therefore kept *disarmed*: its compose labels are moved under
:data:`DISARMED` (``remediate.disarmed.com.docker.compose.project`` …), so no compose command
sees it, and *armed* again (the labels moved back) when ``rollback`` puts it in place.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: The prefix of the labels Compose sets on the containers it creates.
PREFIX = "com.docker.compose."
#: A disarmed backup keeps its compose labels under this prefix (the full original name after it).
DISARMED = "remediate.disarmed."


@dataclass(frozen=True)
class ComposeOwner:
    """The compose project and service a container belongs to.

    Attributes:
        project: ``com.docker.compose.project``.
        service: ``com.docker.compose.service``.
        config_files: the project's compose files on the Docker host, in order (``-f`` order).
        working_dir: the project directory on the Docker host.
        version: the Compose version that created the container (``1.29.2``, ``2.26.1``).
        oneoff: a ``compose run`` container, not one of the service's own.
    """

    project: str
    service: str
    config_files: tuple[str, ...]
    working_dir: str | None
    version: str | None
    oneoff: bool

    @property
    def v1(self) -> bool:
        """Whether Compose v1 (``docker-compose`` 1.x) made the container."""
        return (self.version or "").startswith("1.")

    def config_paths(self) -> tuple[str, ...]:
        """The config files as absolute paths on the Docker host (relative ones are under ``working_dir``)."""
        return tuple(posixpath.join(self.working_dir or "/", f) for f in self.config_files)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready data."""
        return {"project": self.project, "service": self.service, "config_files": list(self.config_files),
                "working_dir": self.working_dir, "version": self.version, "oneoff": self.oneoff}


def owner(labels: Mapping[str, str] | None) -> ComposeOwner | None:
    """The compose owner the labels name, or ``None`` when Compose does not own the container."""
    labels = labels or {}
    project, service = labels.get(f"{PREFIX}project"), labels.get(f"{PREFIX}service")
    if not project or not service:
        return None
    files = labels.get(f"{PREFIX}project.config_files") or ""
    return ComposeOwner(
        project=project, service=service,
        config_files=tuple(f for f in files.split(",") if f),
        working_dir=labels.get(f"{PREFIX}project.working_dir") or None,
        version=labels.get(f"{PREFIX}version") or None,
        oneoff=(labels.get(f"{PREFIX}oneoff") or "False").lower() == "true",
    )


def describe(data: Mapping[str, Any]) -> str:
    """One dry-run line for :meth:`ComposeOwner.to_json` data: project, service, files, version."""
    files = ", ".join(data.get("config_files") or []) or "no config files recorded"
    version = f", compose {data['version']}" if data.get("version") else ""
    return f"compose: project {data['project']}, service {data['service']} ({files}{version})"


def disarmed(labels: Mapping[str, str]) -> dict[str, str]:
    """``labels`` with every compose label moved under :data:`DISARMED` (order kept)."""
    return {(f"{DISARMED}{k}" if k.startswith(PREFIX) else k): v for k, v in labels.items()}


def armed(labels: Mapping[str, str]) -> dict[str, str]:
    """Inverse of :func:`disarmed`: the compose labels back under their own names."""
    return {(k[len(DISARMED):] if k.startswith(DISARMED + PREFIX) else k): v for k, v in labels.items()}


def is_disarmed(labels: Mapping[str, str] | None) -> bool:
    """Whether the labels are those of a disarmed compose backup."""
    return any(k.startswith(DISARMED + PREFIX) for k in labels or {})


#: Compose's label holding the hash of the service's configuration: compose recreates a
#: container whose hash differs from the one it computes from the compose files.
CONFIG_HASH = f"{PREFIX}config-hash"
_HASH = re.compile(r"[0-9a-f]{64}")


def compose_commands(owner: ComposeOwner) -> tuple[tuple[str, ...], ...]:
    """The programs that may be the Compose that made the container (v1: ``docker-compose``;
    v2: the ``docker compose`` plugin, then a standalone ``docker-compose``), most likely first."""
    if owner.v1:
        return (("docker-compose",),)
    return (("docker", "compose"), ("docker-compose",))


def same_major(owner: ComposeOwner, version_output: str) -> bool:
    """Whether ``compose version --short`` output names the major version that made the container
    (v1 and v2 hash a service differently); any v2 when the label records none."""
    found = version_output.strip().lstrip("v").split(".", 1)[0]
    wanted = (owner.version or "2").split(".", 1)[0]
    return found.isdigit() and found == wanted


def hash_argv(owner: ComposeOwner, command: Sequence[str]) -> list[str]:
    """The command line that prints the hash compose computes for the service from its files now
    (the one ``up`` compares): ``compose -p P --project-directory D -f F... config --hash SERVICE``.

    Compose v2 from 2.22 hashes a service with ``env_file:`` in ``config --hash`` without the
    file's variables, while ``up`` hashes it with them (docker/compose#14001): with v2 the
    project is therefore resolved first (``config``) and that hashed (``-f -``), the form ``up``
    hashes, through ``sh -c``.
    """
    project = [*command, "-p", owner.project]
    if owner.working_dir:
        project += ["--project-directory", owner.working_dir]
    files = [arg for path in owner.config_paths() for arg in ("-f", path)]
    if owner.v1:
        return [*project, *files, "config", "--hash", owner.service]
    return ["sh", "-c", (f"{shlex.join([*project, *files, 'config'])} | "
                        f"{shlex.join([*project, '-f', '-', 'config', '--hash', owner.service])}")]


def up_check_argv(owner: ComposeOwner, command: Sequence[str]) -> list[str]:
    """``compose -p P --project-directory D -f F... --dry-run up -d --no-build``: what the next
    ``up -d`` would do, without doing it (Compose v2 only)."""
    argv = [*command, "-p", owner.project]
    if owner.working_dir:
        argv += ["--project-directory", owner.working_dir]
    for path in owner.config_paths():
        argv += ["-f", path]
    return [*argv, "--dry-run", "up", "-d", "--no-build"]


_WOULD = re.compile(r"Container (\S+)\s+(Recreate|Create)\b")


def would_change(output: str) -> list[str]:
    """The containers a ``--dry-run up -d`` output says it would create or recreate."""
    return list(dict.fromkeys(m.group(1) for m in _WOULD.finditer(output)))


def parse_hash(output: str, service: str) -> str | None:
    """The service's hash in ``config --hash`` output (``SERVICE HASH`` lines), or ``None``."""
    for line in output.splitlines():
        name, _, value = line.strip().partition(" ")
        if name == service and _HASH.fullmatch(value.strip()):
            return value.strip()
    return None
