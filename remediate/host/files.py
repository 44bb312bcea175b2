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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from remediate.core.paths import DIR_MODE, MAX_HOST_FILE_BYTES, HostPath, PathOwner


class HostFiles(Protocol):
    """File access on one Docker host.

    :meth:`read`, :meth:`write`, :meth:`remove` and :meth:`remove_dir` never follow a symlink
    (locally ``O_NOFOLLOW`` from ``/`` down, directory by directory; over SFTP ``lstat`` of each
    part, before and after): a symlink on the way is reported by :meth:`read` and refused by the
    others with ``ELOOP``.
    """

    def read(self, path: str, *, follow: bool = False, limit: int = MAX_HOST_FILE_BYTES) -> HostPath:
        """What is at ``path``: a file's content up to ``limit`` bytes (a larger file is
        ``large``, without content); ``follow``: resolve symlinks first (``real`` says where)."""

    def write(self, path: str, content: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
        """Write a file, creating missing directories (mode :data:`DIR_MODE`). A file there keeps
        its owner and group (or gets ``owner``); it is replaced atomically (temp file + rename),
        or written in place when it has other hard links (so they keep sharing it)."""

    def remove_dir(self, path: str) -> None:
        """Remove a directory if it exists and is empty."""

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


#: How directories are opened on the way down: for lookups only (search permission is enough).
_WALK = os.O_PATH | os.O_DIRECTORY


def _parts(path: str) -> list[str]:
    """The names of an absolute, normal path (``/a/b`` -> ``["a", "b"]``)."""
    parts = [p for p in path.split("/") if p]
    if not path.startswith("/") or not parts or any(p in (".", "..") for p in parts):
        raise OSError(errno.EINVAL, f"not an absolute, normal path: {path!r}")
    return parts


def _loop(path: str) -> OSError:
    return OSError(errno.ELOOP, f"{path} is a symlink (remediate does not follow symlinks here)")


def _state(st: Any, content: bytes | None, kind: str, *, links: int = 1, real: str | None = None) -> HostPath:
    return HostPath(True, content, stat.S_IMODE(st.st_mode), kind, st.st_uid, st.st_gid, links,
                    st.st_size, real=real)


class LocalFiles:
    """This machine's file system (the Docker host of a unix socket)."""

    def read(self, path: str, *, follow: bool = False, limit: int = MAX_HOST_FILE_BYTES) -> HostPath:
        real = os.path.realpath(path) if follow else path
        parts = _parts(real)
        dirfd = os.open("/", _WALK)
        try:
            for i, name in enumerate(parts[:-1]):
                found = self._lstat(dirfd, name)
                here = "/" + "/".join(parts[: i + 1])
                if found is None:
                    return HostPath(False, kind="missing", missing=tuple(
                        "/" + "/".join(parts[: j + 1]) for j in range(i, len(parts) - 1)))
                if stat.S_ISLNK(found.st_mode):
                    return HostPath(False, kind="symlink", symlink=here)
                dirfd = self._enter(dirfd, name)
            return self._read_leaf(dirfd, parts[-1], real, limit, real if real != path else None)
        finally:
            os.close(dirfd)

    @staticmethod
    def _lstat(dirfd: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=dirfd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    @staticmethod
    def _enter(dirfd: int, name: str) -> int:
        """The directory ``name`` in ``dirfd``, opened without following a symlink; ``dirfd`` is
        closed once it is open (on an error the caller still holds ``dirfd``)."""
        inner = os.open(name, _WALK | os.O_NOFOLLOW, dir_fd=dirfd)
        os.close(dirfd)
        return inner

    def _read_leaf(self, dirfd: int, name: str, path: str, limit: int, real: str | None) -> HostPath:
        found = self._lstat(dirfd, name)
        if found is None:
            return HostPath(False, kind="missing")
        if stat.S_ISLNK(found.st_mode):
            return HostPath(False, kind="symlink", symlink=path)
        if stat.S_ISDIR(found.st_mode):
            return _state(found, None, "dir", real=real)
        if not stat.S_ISREG(found.st_mode):
            return _state(found, None, "other", real=real)
        # O_NONBLOCK: a FIFO put there since the lstat does not hang the open.
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dirfd)
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return _state(st, None, "other", real=real)
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(1 << 20, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > limit:
                return _state(st, None, "large", links=st.st_nlink, real=real)
            return _state(st, b"".join(chunks), "file", links=st.st_nlink, real=real)
        finally:
            os.close(fd)

    def _parent(self, path: str, *, create: bool) -> tuple[int, str]:
        """An open descriptor of ``path``'s directory (walked from ``/`` without following a
        symlink; missing ones made with :data:`DIR_MODE` when ``create``) and the last name."""
        parts = _parts(path)
        dirfd = os.open("/", _WALK)
        try:
            for i, name in enumerate(parts[:-1]):
                found = self._lstat(dirfd, name)
                if found is None and create:
                    with contextlib.suppress(FileExistsError):  # made meanwhile by another run: fine
                        os.mkdir(name, 0o700, dir_fd=dirfd)
                        made = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dirfd)
                        try:
                            os.fchmod(made, DIR_MODE)  # not the umask's choice: the mode the plan showed
                        finally:
                            os.close(made)
                elif found is not None and stat.S_ISLNK(found.st_mode):
                    raise _loop("/" + "/".join(parts[: i + 1]))
                dirfd = self._enter(dirfd, name)
            return dirfd, parts[-1]
        except BaseException:
            os.close(dirfd)
            raise

    def write(self, path: str, content: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
        dirfd, name = self._parent(path, create=True)
        try:
            found = self._lstat(dirfd, name)
            if found is not None and stat.S_ISLNK(found.st_mode):
                raise _loop(path)
            if found is not None and not stat.S_ISREG(found.st_mode):
                raise OSError(errno.EISDIR if stat.S_ISDIR(found.st_mode) else errno.EINVAL, f"{path} is not a file")
            keep = owner or ((found.st_uid, found.st_gid) if found is not None else None)
            if found is not None and found.st_nlink > 1:
                self._write_in_place(dirfd, name, content, mode, keep)
            else:
                self._replace(dirfd, name, content, mode, keep)
        finally:
            os.close(dirfd)

    @staticmethod
    def _settle(fd: int, mode: int, owner: tuple[int, int] | None) -> None:
        """Owner, group, then mode (a chown clears setuid bits), then to the disk."""
        st = os.fstat(fd)
        if owner is not None and owner != (st.st_uid, st.st_gid):
            os.fchown(fd, *owner)
        os.fchmod(fd, mode)
        os.fsync(fd)

    def _write_in_place(self, dirfd: int, name: str, content: bytes, mode: int, owner: tuple[int, int] | None) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_NOFOLLOW, dir_fd=dirfd)
        try:
            _write_all(fd, content)
            os.ftruncate(fd, len(content))
            self._settle(fd, mode, owner)
        finally:
            os.close(fd)

    def _replace(self, dirfd: int, name: str, content: bytes, mode: int, owner: tuple[int, int] | None) -> None:
        tmp = os.path.basename(_tmp_name(name))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600, dir_fd=dirfd)
            try:
                _write_all(fd, content)
                self._settle(fd, mode, owner)
            finally:
                os.close(fd)
            os.rename(tmp, name, src_dir_fd=dirfd, dst_dir_fd=dirfd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dirfd)
            raise

    def remove_dir(self, path: str) -> None:
        with self._in_parent(path) as parent:
            if parent is None:
                return
            dirfd, name = parent
            found = self._lstat(dirfd, name)
            if found is not None and stat.S_ISDIR(found.st_mode):
                with contextlib.suppress(OSError):  # not empty: someone else's now, it stays
                    os.rmdir(name, dir_fd=dirfd)

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
        with self._in_parent(path) as parent, contextlib.suppress(FileNotFoundError):
            if parent:
                os.unlink(parent[1], dir_fd=parent[0])

    @contextlib.contextmanager
    def _in_parent(self, path: str) -> Iterator[tuple[int, str] | None]:
        """The open directory of ``path`` (reached without following symlinks) and its last
        name; None when that directory does not exist."""
        try:
            dirfd, name = self._parent(path, create=False)
        except FileNotFoundError:
            yield None
            return
        try:
            yield dirfd, name
        finally:
            os.close(dirfd)

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



def _sftp_kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


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

    def read(self, path: str, *, follow: bool = False, limit: int = MAX_HOST_FILE_BYTES) -> HostPath:
        real = self._realpath(path) if follow else path
        parts = _parts(real)
        for i in range(len(parts) - 1):
            here = "/" + "/".join(parts[: i + 1])
            found = self._lstat(here)
            if found is None:
                return HostPath(False, kind="missing", missing=tuple(
                    "/" + "/".join(parts[: j + 1]) for j in range(i, len(parts) - 1)))
            if stat.S_ISLNK(found.st_mode or 0):
                return HostPath(False, kind="symlink", symlink=here)
        shown = real if real != path else None
        found = self._lstat(real)
        if found is None:
            return HostPath(False, kind="missing")
        kind = _sftp_kind(found.st_mode or 0)
        if kind == "symlink":
            return HostPath(False, kind="symlink", symlink=real)
        if kind != "file":
            return _state(found, None, kind, real=shown)
        with self.sftp.open(real, "rb") as fh:
            data = fh.read(limit + 1)
        self._walk(real, create=False)  # no symlink put on the way while it was read
        links = self._links(real)
        if len(data) > limit:
            return _state(found, None, "large", links=links, real=shown)
        return _state(found, data, "file", links=links, real=shown)

    def write(self, path: str, content: bytes, mode: int, owner: tuple[int, int] | None = None) -> None:
        found = self._walk(path, create=True)
        keep = owner or ((found.st_uid, found.st_gid) if found is not None else None)
        if found is not None and self._links(path) > 1:
            with self.sftp.open(path, "r+b") as fh:
                fh.write(content)
                fh.truncate(len(content))
                fh.flush()
                _sftp_fsync(fh)
            self._settle(path, mode, keep)
            return
        tmp = _tmp_name(path)
        try:
            with self.sftp.open(tmp, "wbx") as fh:
                fh.write(content)
                fh.flush()
                _sftp_fsync(fh)
            self._settle(tmp, mode, keep)
            self._walk(path, create=False)  # SFTP has no O_NOFOLLOW: look again right before the rename
            self.sftp.posix_rename(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                self.sftp.remove(tmp)
            raise

    def remove_dir(self, path: str) -> None:
        try:
            self._dirs(path, create=False)
        except FileNotFoundError:
            return
        found = self._lstat(path)
        if found is not None and stat.S_ISDIR(found.st_mode or 0):
            with contextlib.suppress(OSError):  # not empty: someone else's now, it stays
                self.sftp.rmdir(path)

    def _lstat(self, path: str) -> Any:
        try:
            return self.sftp.lstat(path)
        except FileNotFoundError:
            return None

    def _realpath(self, path: str) -> str:
        """Where ``path`` lands, symlinks followed (the server's realpath; a missing file's
        directory resolved, the name kept)."""
        try:
            return str(self.sftp.normalize(path))
        except OSError:
            head, name = os.path.split(path)
            try:
                return f"{str(self.sftp.normalize(head)).rstrip('/')}/{name}"
            except OSError:
                return path

    def _walk(self, path: str, *, create: bool) -> Any:
        """``lstat`` every directory of ``path`` from ``/`` (missing ones made with
        :data:`DIR_MODE` when ``create``); its own ``lstat``, None when missing.

        Raises:
            OSError: ``ELOOP`` for a symlink on the way or at the end, ``ENOTDIR``, or missing
                directories when not ``create`` (``FileNotFoundError``).
        """
        self._dirs(path, create=create)
        found = self._lstat(path)
        if found is not None and _sftp_kind(found.st_mode or 0) == "symlink":
            raise _loop(path)
        if found is not None and _sftp_kind(found.st_mode or 0) != "file":
            raise OSError(errno.EISDIR, f"{path} is not a file")
        return found

    def _dirs(self, path: str, *, create: bool) -> None:
        """``lstat`` the directories of ``path`` from ``/``: see :meth:`_walk`."""
        parts = _parts(path)
        for i in range(len(parts) - 1):
            here = "/" + "/".join(parts[: i + 1])
            found = self._lstat(here)
            if found is None:
                if not create:
                    raise FileNotFoundError(errno.ENOENT, f"{here} does not exist")
                try:
                    self.sftp.mkdir(here, DIR_MODE)
                    self.sftp.chmod(here, DIR_MODE)  # not the server's umask: the mode the plan showed
                    continue
                except OSError:
                    found = self.sftp.lstat(here)  # made meanwhile by another run: fine if a directory
            kind = _sftp_kind(found.st_mode or 0)
            if kind == "symlink":
                raise _loop(here)
            if kind != "dir":
                raise OSError(errno.ENOTDIR, f"{here} is not a directory")

    def _links(self, path: str) -> int:
        """Hard links of a file: SFTP's stat has no link count; OpenSSH's directory listing
        gives it in its ``ls -l`` long name (1 when the server says nothing readable)."""
        head, name = os.path.split(path)
        for attr in self.sftp.listdir_iter(head or "/"):
            if attr.filename == name:
                fields = str(getattr(attr, "longname", "") or "").split()
                return int(fields[1]) if len(fields) > 1 and fields[1].isdigit() else 1
        return 1

    def _settle(self, path: str, mode: int, owner: tuple[int, int] | None) -> None:
        """Owner and group, then mode (a chown clears setuid bits)."""
        st = self.sftp.lstat(path)
        if owner is not None and owner != (st.st_uid, st.st_gid):
            self.sftp.chown(path, *owner)
        self.sftp.chmod(path, mode)

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
            if self._lstat(path) is not None:  # SFTP servers report EEXIST as a generic failure
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
            self._dirs(path, create=False)
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
