"""Writing what remediate hands the user (reports, saved plans, bundles): files only their owner reads."""

from __future__ import annotations

import os
from typing import BinaryIO


def open_private(path: str) -> BinaryIO:
    """Open ``path`` for writing bytes, created or truncated, mode ``0600`` (also when the file
    existed with a wider mode): a plan, report or bundle names hosts, containers and settings.
    Never through a symlink at its name: a planted ``/tmp/report.md`` link does not take the
    write elsewhere.

    Raises:
        OSError: it cannot be opened (``ELOOP`` for a symlink).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, "wb")


def write_private(path: str, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` as :func:`open_private` opens it.

    Raises:
        OSError: it cannot be written (``ELOOP`` for a symlink).
    """
    with open_private(path) as fh:
        fh.write(text.encode())
