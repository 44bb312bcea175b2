"""Paths on the Docker host: what the host layer reports about one (kept apart so opening a
connection never loads the planner), and the policy a playbook's host paths and modes follow.

The policy is OpenSSH StrictModes' and Ansible ``atomic_move``'s: a path is absolute and
normal (no ``..``, which would hide where it lands), no symlink in any of its directories nor
at its end unless the playbook says to follow them (then the plan shows where it lands), and no
setuid, setgid, sticky or world-writable file mode unless the playbook says so.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Largest host file remediate reads (to plan a replace, keep its copy, or show its diff).
MAX_HOST_FILE_BYTES = 4 * 1024 * 1024
#: Mode of every directory remediate creates on the Docker host (locally and over SFTP).
DIR_MODE = 0o755
#: Trees of the kernel's own files: never written, whatever the playbook says.
_KERNEL_TREES = ("/proc", "/sys", "/dev")
#: Mode bits refused unless the playbook allows them: setuid, setgid, sticky, world-writable.
UNSAFE_MODE_BITS = 0o7002


@dataclass(frozen=True)
class HostPath:
    """What exists at a path on the Docker host.

    ``content`` is the bytes of a regular file of at most :data:`MAX_HOST_FILE_BYTES`; None for
    anything else (a directory, a device, a larger file: see ``kind``).
    """

    exists: bool
    content: bytes | None = None
    mode: int | None = None
    #: ``file``, ``dir``, ``other`` (a device, a socket, a FIFO), ``large`` (a file over the bound)
    #: or ``missing``; a symlink met on the way is ``symlink``.
    kind: str = "file"
    uid: int | None = None
    gid: int | None = None
    #: Hard links of the file (a replace keeps them: it writes in place).
    links: int = 1
    size: int | None = None
    #: The first symlink on the way (the path up to it), when one was met and not followed.
    symlink: str | None = None
    #: Where the path lands once its symlinks are followed (only when asked to follow, and different).
    real: str | None = None
    #: The directories a write would create, outermost first.
    missing: tuple[str, ...] = ()

    @property
    def owner(self) -> tuple[int, int] | None:
        """``(uid, gid)`` of what is there, if known."""
        return None if self.uid is None or self.gid is None else (self.uid, self.gid)


def normal_path(value: str, what: str) -> str:
    """``value`` as an absolute, normal path (``//`` and ``/./`` collapsed, no trailing ``/``).

    Raises:
        ValueError: not absolute, a NUL byte, or a ``..`` part.
    """
    if not value.startswith("/") or "\0" in value:
        raise ValueError(f"{what} must be an absolute path, not {value[:200]!r}")
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"{what} must not contain '..' (write the path it means): {value[:200]!r}")
    return "/" + "/".join(parts)


def check_dest(path: str, what: str) -> None:
    """Refuse a file destination that is no file's place: ``/`` or the kernel's trees.

    Raises:
        ValueError: the path is ``/`` or under ``/proc``, ``/sys`` or ``/dev``.
    """
    if path == "/" or any(path == t or path.startswith(t + "/") for t in _KERNEL_TREES):
        raise ValueError(f"{what} {path!r} is not a file remediate writes (the kernel's trees /proc, /sys "
                         "and /dev are never written)")


def check_mode(mode: int, allowed: bool, what: str) -> None:
    """Refuse setuid, setgid, sticky and world-writable modes unless ``allowed``.

    Raises:
        ValueError: an unsafe bit is set and not allowed.
    """
    unsafe = mode & UNSAFE_MODE_BITS
    if unsafe and not allowed:
        names = [n for bit, n in ((0o4000, "setuid"), (0o2000, "setgid"), (0o1000, "sticky"),
                                  (0o0002, "world-writable")) if unsafe & bit]
        raise ValueError(f"{what} {mode:04o} is {' and '.join(names)}: set allow_unsafe_mode: true "
                         "to write it so")


@dataclass(frozen=True)
class PathOwner:
    """Who owns what is at a path on the Docker host, and its type and permission bits (``st_mode``)."""

    uid: int
    mode: int


@dataclass(frozen=True)
class HostLogin:
    """The user remediate acts as on the Docker host: its uid and its XDG state home
    (``$XDG_STATE_HOME``, default ``~/.local/state``)."""

    uid: int
    state_home: str
