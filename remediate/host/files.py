"""Files on a Docker host: this machine's file system, or a remote one over SFTP.

Both speak the same small protocol (read, atomic write, durable append, exclusive create,
remove, rename, list) and raise OS errors; :class:`remediate.host.connection.Connection` translates
them. Writes are checked to be whole and reach the disk (fsync; over SFTP the OpenSSH
``fsync@openssh.com`` extension) before they count as done.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from pathlib import Path
from typing import Any, Protocol

from remediate.core.paths import HostPath, PathOwner


class HostFiles(Protocol):
    """File access on one Docker host."""

    def read(self, path: str) -> HostPath:
        """What is at ``path`` (a directory has no content)."""

    def write(self, path: str, content: bytes, mode: int) -> None:
        """Write atomically (temp file + rename), creating parent directories."""

    def append(self, path: str, data: bytes) -> None:
        """Append ``data`` (a line) as a line of its own: a newline first if the file does not
        end with one; all or nothing (a failed write is cut off again); fsynced. The file is
        created 0600 with its directories if missing."""

    def create_exclusive(self, path: str, data: bytes) -> bool:
        """Create a 0600 file only if nothing is there; False when it already exists."""

    def remove(self, path: str) -> None:
        """Remove a file if it exists."""

    def rename(self, path: str, new_path: str) -> None:
        """Rename a file (replacing ``new_path`` if it exists)."""

    def list_dir(self, directory: str) -> list[str]:
        """Names in a directory; empty when it does not exist."""

    def owner(self, path: str, *, follow: bool) -> PathOwner | None:
        """Owner and mode of what is at ``path`` (a symlink itself unless ``follow``); None when
        nothing is there."""

    def make_dir(self, path: str, mode: int) -> None:
        """Create one directory with ``mode`` (its parent must exist)."""


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
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                _write_all(fd, content)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp, mode)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.remove(tmp)
            raise

    def append(self, path: str, data: bytes) -> None:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            size = os.fstat(fd).st_size
            if size and os.pread(fd, 1, size - 1) != b"\n":
                data = b"\n" + data
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, size)  # no torn line left for the next append to glue onto
                raise
        finally:
            os.close(fd)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return False
        try:
            _write_all(fd, data)
            os.fsync(fd)
        except OSError:
            self.remove(path)  # an empty lock would be taken for a stale one
            raise
        finally:
            os.close(fd)
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

    def owner(self, path: str, *, follow: bool) -> PathOwner | None:
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except FileNotFoundError:
            return None
        return PathOwner(st.st_uid, st.st_mode)

    def make_dir(self, path: str, mode: int) -> None:
        os.mkdir(path, mode)
        os.chmod(path, mode)  # whatever the umask



def _write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` (``os.write`` may write less: a full disk writes what fits)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def _sftp_fsync(fh: Any) -> None:
    """fsync an open SFTP file (OpenSSH's ``fsync@openssh.com``; paramiko has no call for it).
    A server without the extension leaves it to its own flushing."""
    from paramiko.sftp import CMD_EXTENDED

    try:
        fh.sftp._request(CMD_EXTENDED, "fsync@openssh.com", fh.handle)
    except OSError as exc:
        if "unsupported" not in str(exc).lower():
            raise


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
                fh.flush()
                _sftp_fsync(fh)
            self.sftp.chmod(tmp, mode)
            self.sftp.posix_rename(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.remove(tmp)
            raise

    def append(self, path: str, data: bytes) -> None:
        self._makedirs(os.path.dirname(path))
        try:
            size = int(self.sftp.stat(path).st_size or 0)
        except FileNotFoundError:
            size = 0
        if size:
            with self.sftp.open(path, "rb") as fh:
                fh.seek(size - 1)
                if fh.read(1) != b"\n":
                    data = b"\n" + data
        try:
            with self.sftp.open(path, "ab") as fh:
                fh.write(data)
                fh.flush()
                _sftp_fsync(fh)
        except OSError:
            with contextlib.suppress(OSError):
                self.sftp.truncate(path, size)  # no torn line left for the next append to glue onto
            raise
        self.sftp.chmod(path, 0o600)

    def create_exclusive(self, path: str, data: bytes) -> bool:
        self._makedirs(os.path.dirname(path))
        try:
            fh = self.sftp.open(path, "wbx")
        except OSError:
            if self.read(path).exists:  # SFTP servers report EEXIST as a generic failure
                return False
            raise
        try:
            with fh:
                fh.write(data)
                fh.flush()
        except OSError:
            self.remove(path)  # an empty lock would be taken for a stale one
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

    def owner(self, path: str, *, follow: bool) -> PathOwner | None:
        try:
            st = self.sftp.stat(path) if follow else self.sftp.lstat(path)
        except FileNotFoundError:
            return None
        return PathOwner(int(st.st_uid or 0), int(st.st_mode or 0))

    def make_dir(self, path: str, mode: int) -> None:
        self.sftp.mkdir(path, mode)
        self.sftp.chmod(path, mode)  # whatever the server's umask

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
