"""Files on a Docker host: this machine's file system, or a remote one over SFTP.

Both speak the same small protocol (read, atomic write, durable append, exclusive create,
remove, rename, list) and raise OS errors; :class:`remediate.connection.Connection` translates
them.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Protocol

from remediate.planner import HostPath


class HostFiles(Protocol):
    """File access on one Docker host."""

    def read(self, path: str) -> HostPath:
        """What is at ``path`` (a directory has no content)."""

    def write(self, path: str, content: bytes, mode: int) -> None:
        """Write atomically (temp file + rename), creating parent directories."""

    def append(self, path: str, data: bytes) -> None:
        """Append durably; the file is created 0600 with its directories if missing."""

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create a 0600 file only if nothing is there; False when it already exists."""

    def remove(self, path: str) -> None:
        """Remove a file if it exists."""

    def rename(self, path: str, new_path: str) -> None:
        """Rename a file (replacing ``new_path`` if it exists)."""

    def list_dir(self, directory: str) -> list[str]:
        """Names in a directory; empty when it does not exist."""


def _tmp_name(path: str) -> str:
    """A fresh name beside ``path``: two writers of one path never share a temp file."""
    target = Path(path)
    return str(target.with_name(f".{target.name}.{secrets.token_hex(4)}.remediate-tmp"))


class LocalFiles:
    """This machine's file system (the Docker host of a unix socket)."""

    def read(self, path: str) -> HostPath:
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return HostPath(False)
        if not stat.S_ISREG(st.st_mode):
            return HostPath(True)
        return HostPath(True, Path(path).read_bytes(), stat.S_IMODE(st.st_mode))

    def write(self, path: str, content: bytes, mode: int) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_name(path)
        try:
            Path(tmp).write_bytes(content)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.remove(tmp)
            raise

    def append(self, path: str, data: bytes) -> None:
        self._write_fd(path, data, os.O_WRONLY | os.O_APPEND | os.O_CREAT)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        try:
            self._write_fd(path, data, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        except FileExistsError:
            return False
        return True

    def remove(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass

    def rename(self, path: str, new_path: str) -> None:
        os.replace(path, new_path)

    def list_dir(self, directory: str) -> list[str]:
        try:
            return os.listdir(directory)
        except FileNotFoundError:
            return []

    @staticmethod
    def _write_fd(path: str, data: bytes, flags: int) -> None:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, flags, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


class SftpFiles:
    """A remote file system over one SFTP session (paramiko ``SFTPClient``)."""

    def __init__(self, sftp: Any) -> None:
        self.sftp = sftp

    def read(self, path: str) -> HostPath:
        try:
            mode = self.sftp.stat(path).st_mode or 0
        except FileNotFoundError:
            return HostPath(False)
        if not stat.S_ISREG(mode):
            return HostPath(True)
        with self.sftp.open(path, "rb") as fh:
            return HostPath(True, fh.read(), stat.S_IMODE(mode))

    def write(self, path: str, content: bytes, mode: int) -> None:
        self._makedirs(os.path.dirname(path))
        tmp = _tmp_name(path)
        try:
            with self.sftp.open(tmp, "wb") as fh:
                fh.write(content)
            self.sftp.chmod(tmp, mode)
            self.sftp.posix_rename(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.remove(tmp)
            raise

    def append(self, path: str, data: bytes) -> None:
        self._makedirs(os.path.dirname(path))
        with self.sftp.open(path, "ab") as fh:
            fh.write(data)
            fh.flush()
        self.sftp.chmod(path, 0o600)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        self._makedirs(os.path.dirname(path))
        try:
            with self.sftp.open(path, "wbx") as fh:
                fh.write(data)
        except OSError:
            if self.read(path).exists:  # SFTP servers report EEXIST as a generic failure
                return False
            raise
        self.sftp.chmod(path, 0o600)
        return True

    def remove(self, path: str) -> None:
        try:
            self.sftp.remove(path)
        except FileNotFoundError:
            pass

    def rename(self, path: str, new_path: str) -> None:
        self.sftp.posix_rename(path, new_path)

    def list_dir(self, directory: str) -> list[str]:
        try:
            return list(self.sftp.listdir(directory))
        except FileNotFoundError:
            return []

    def _makedirs(self, directory: str) -> None:
        missing = []
        while directory not in ("", "/"):
            try:
                self.sftp.stat(directory)
                break
            except FileNotFoundError:
                missing.append(directory)
                directory = os.path.dirname(directory)
        for path in reversed(missing):
            try:
                self.sftp.mkdir(path, 0o700)
            except OSError:
                self.sftp.stat(path)  # made meanwhile by another run: fine; else raise
