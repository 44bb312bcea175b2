"""The names of remediate's own containers: a parked backup (``<name>-remediate-backup-<stamp>``)
and a staged new one (``<name>-remediate-new``), built and read here only.

>>> parse_backup(backup_name("vllm", "20260101T000000000"))
('vllm', '20260101T000000000')
>>> is_remediate_copy(staged_name("vllm")), is_remediate_copy("vllm")
(True, False)

Also the one way a host's name becomes part of a file name: :func:`file_safe`.
"""

from __future__ import annotations

from datetime import UTC, datetime

_BACKUP_MARK = "-remediate-backup-"
_NEW_MARK = "-remediate-new"


def file_safe(text: str, *, fill: str, default: str) -> str:
    """``text`` fit for a file or folder name: every character but letters, digits, ``-``, ``_``
    and ``.`` replaced by ``fill``; ``default`` when ``text`` is empty.

    >>> file_safe("ssh://root@gpu-01:22", fill="_", default="host")
    'ssh___root_gpu-01_22'
    """
    return "".join(ch if ch.isalnum() or ch in "-_." else fill for ch in text) or default


def stamp() -> str:
    """A UTC time stamp for backup and file names (sorts by time, to the millisecond)."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")[:-3]


def backup_name(name: str, when: str | None = None) -> str:
    """The name a container ``name`` is parked under as a backup (``when``: its stamp, default now)."""
    return f"{name}{_BACKUP_MARK}{when or stamp()}"


def staged_name(name: str) -> str:
    """The name the new container of ``name`` is created under, before it takes the name."""
    return f"{name}{_NEW_MARK}"


def parse_backup(name: str) -> tuple[str, str] | None:
    """``(container, stamp)`` of a backup name (a leading ``/`` of inspect allowed); None for any
    other name."""
    original, mark, when = name.lstrip("/").rpartition(_BACKUP_MARK)
    return (original, when) if mark else None


def is_backup_of(name: str, container: str) -> bool:
    """True when ``name`` is a backup of the container ``container``."""
    parsed = parse_backup(name)
    return parsed is not None and parsed[0] == container


def is_remediate_copy(name: str) -> bool:
    """True for remediate's own parked backups and staged new containers: never selected, nor
    anyone's dependents."""
    name = name.lstrip("/")
    return parse_backup(name) is not None or name.endswith(_NEW_MARK)
