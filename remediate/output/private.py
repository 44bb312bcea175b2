"""Writing what remediate hands the user (reports, saved plans): files only their owner reads."""

from __future__ import annotations

import os


def write_private(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path``, created or truncated, mode ``0600`` (also when the file
    existed with a wider mode): a plan or report names hosts, containers and settings. Never
    through a symlink at its name: a planted ``/tmp/report.md`` link does not take the write
    elsewhere.

    Raises:
        OSError: it cannot be written (``ELOOP`` for a symlink).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fd, 0o600)
        fh.write(text)
