"""Where each Docker host keeps remediate's journal and lock, and whether that place can be
trusted.

The state directory is on the Docker host, per engine: ``<root>/<engine ID>/``. The root is
``REMEDIATE_STATE_DIR`` when set (an absolute path), else ``/var/lib/remediate`` for root and
``$XDG_STATE_HOME/remediate`` (default ``~/.local/state/remediate``) for any other user (the SSH
user, on an SSH host). Missing directories are created ``0700`` when a run first writes there.

What is in it decides what ``recover`` and a failed apply write and remove as that user, so it
is trusted as OpenSSH's ``StrictModes`` trusts ``~/.ssh``: the root, the engine's directory and
the journal and lock in it must be the user's own (no symlink), and no directory on the way there
may be writable by anyone but the user or root (a sticky ``/tmp`` is fine). Otherwise
:class:`~remediate.errors.StateDirError` says which directory and the fix (exit 2).
"""

from __future__ import annotations

import os
import stat

from remediate.core.paths import PathOwner
from remediate.errors import HostFileError, StateDirError
from remediate.host.connection import Connection

#: Root's state directory.
SYSTEM_ROOT = "/var/lib/remediate"
ENV = "REMEDIATE_STATE_DIR"
#: The journal file in the engine's directory (:mod:`remediate.executor.journal`).
JOURNAL = "journal.jsonl"
#: The files of the engine's directory read back as records (the saved copies are checked by
#: the journal: they must be under ``files/<transaction>/``).
_OWN_FILES = (JOURNAL, "lock", "files")


def root(conn: Connection) -> str:
    """The state root on the host of ``conn`` (without the engine's directory).

    Raises:
        StateDirError: ``REMEDIATE_STATE_DIR`` is not an absolute path.
    """
    chosen = os.environ.get(ENV)
    if chosen:
        if not chosen.startswith("/"):
            raise StateDirError(f"{ENV}={chosen}: the state directory must be an absolute path", path=chosen)
        return os.path.normpath(chosen)
    login = conn.login()
    return SYSTEM_ROOT if login.uid == 0 else f"{login.state_home}/remediate"


def state_dir(conn: Connection, *, create: bool = False) -> str:
    """The host's state directory for the engine of ``conn``, checked (see the module docstring);
    with ``create``, missing directories are made ``0700`` first.

    Raises:
        StateDirError: it is not safe or not usable; the message names the directory and the fix.
    """
    top = root(conn)
    directory = f"{top.rstrip('/')}/{conn.engine_id}"
    uid = conn.login().uid
    if create:
        _create(conn, top, directory)
    _check(conn, top, directory, uid)
    return directory


def _create(conn: Connection, top: str, directory: str) -> None:
    missing: list[str] = []
    path = directory
    while path not in ("", "/") and conn.path_owner(path, follow=True) is None:
        missing.append(path)
        path = os.path.dirname(path)
    for path in reversed(missing):
        # Ancestors above the state root are the user's ordinary directories (``~/.local``).
        mode = 0o700 if path == top or path.startswith(f"{top}/") else 0o755
        try:
            conn.make_dir(path, mode)
        except HostFileError as exc:
            if conn.path_owner(path, follow=True) is not None:
                continue  # made meanwhile by another run
            raise _refuse(conn, top, path, f"cannot be created: {_why(exc)}",
                          "create it yourself (mode 0700)") from exc


def _check(conn: Connection, top: str, directory: str, uid: int) -> None:
    ancestors = []
    path = os.path.dirname(top)
    while path not in ("", "/"):
        ancestors.append(path)
        path = os.path.dirname(path)
    for path in ["/", *reversed(ancestors)]:
        found = conn.path_owner(path, follow=True)
        if found is None:
            return  # nothing below exists yet: nothing to read, and a write creates it
        _check_ancestor(conn, top, path, found, uid)
    for path in (top, directory, *(f"{directory}/{name}" for name in _OWN_FILES)):
        found = conn.path_owner(path, follow=False)
        if found is None:
            if path in (top, directory):
                return
            continue
        _check_own(conn, top, path, found, uid)


def _check_ancestor(conn: Connection, top: str, path: str, found: PathOwner, uid: int) -> None:
    if found.uid not in (0, uid):
        raise _refuse(conn, top, path, f"is owned by uid {found.uid}, who could swap what is below it",
                      "use a directory whose parents only you or root own")
    if found.mode & 0o022 and not found.mode & stat.S_ISVTX:
        raise _refuse(conn, top, path, f"is writable by others (mode {stat.S_IMODE(found.mode):04o})",
                      f"run `chmod go-w {path}`")


def _check_own(conn: Connection, top: str, path: str, found: PathOwner, uid: int) -> None:
    if stat.S_ISLNK(found.mode):
        raise _refuse(conn, top, path, "is a symbolic link", "replace it with a directory of your own")
    if found.uid != uid:
        whose = "root" if found.uid == 0 else f"uid {found.uid}"
        raise _refuse(conn, top, path, f"belongs to {whose}, not to you (uid {uid})",
                      "use a state directory of your own")
    if found.mode & 0o022:
        raise _refuse(conn, top, path, f"is writable by others (mode {stat.S_IMODE(found.mode):04o})",
                      f"run `chmod go-w {path}`")
    if stat.S_ISDIR(found.mode) and found.mode & 0o700 != 0o700:
        raise _refuse(conn, top, path, f"is not usable by you (mode {stat.S_IMODE(found.mode):04o})",
                      f"run `chmod u+rwx {path}`")


def _refuse(conn: Connection, top: str, path: str, problem: str, fix: str) -> StateDirError:
    where = "" if path == top else f" ({path})"
    return StateDirError(f"{conn.label}: state directory {top}{where} {problem}: {fix}, "
                         f"or choose another with {ENV}=/a/dir/of/yours", host=conn.label, path=path)


def _why(exc: HostFileError) -> str:
    return exc.message.rsplit(": ", 1)[-1]
