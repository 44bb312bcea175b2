"""The values the ``ipc``, ``shm_size`` and ``tmpfs`` changes set, as the engine reads them (pure).

* IPC modes: ``host``, ``private``, ``shareable``, ``none`` and ``container:NAME`` (what
  ``docker run --ipc`` takes; anything else the engine refuses at create).
* Sizes: docker's byte sizes (``8g``, ``64m``, ``512k``, ``1.5g``, ``8GiB``, ``8589934592``), all
  binary as ``docker run --shm-size`` and compose's ``shm_size`` read them (go-units
  ``RAMInBytes``); parsed by pydantic's :class:`~pydantic.ByteSize` with docker's unit table.
* tmpfs options: a comma-separated list of mount flags and ``key=value`` data as the engine's
  ``ParseTmpfsOptions`` accepts them (``rw,size=64m,mode=1777``).
"""

from __future__ import annotations

import functools
import re

from pydantic import ByteSize, TypeAdapter, ValidationError

#: IPC modes besides ``container:NAME``.
IPC_MODES = ("host", "private", "shareable", "none")
#: A container name or id, as the engine accepts it.
_CONTAINER_REF = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def check_ipc(mode: str) -> str:
    """An IPC mode as ``docker run --ipc`` takes it.

    Raises:
        ValueError: an unknown mode, or ``container:`` without a container name.
    """
    if mode in IPC_MODES:
        return mode
    kind, sep, ref = mode.partition(":")
    if kind == "container" and sep and _CONTAINER_REF.match(ref):
        return mode
    raise ValueError(f"ipc {mode[:80]!r} is not one of {', '.join(IPC_MODES)} or container:NAME")


class _DockerBytes(ByteSize):
    """pydantic's byte size with docker's units: ``k``/``kb``/``kib`` (and so on up to ``p``) are
    all powers of 1024, and the whole text must be the size."""

    byte_sizes = {"b": 1, "": 1, **{  # noqa: RUF012 - pydantic reads it as ByteSize declares it
        f"{unit}{suffix}": 1024 ** power
        for power, unit in enumerate("kmgtp", start=1) for suffix in ("", "b", "i", "ib")}}
    byte_string_re = re.compile(r"^\s*(\d*\.?\d+)\s*([a-z]+)?\s*$", re.IGNORECASE)


@functools.cache
def _size() -> TypeAdapter[_DockerBytes]:
    """The size validator, built once when first needed (not at import: most runs need none)."""
    return TypeAdapter(_DockerBytes)


def parse_size(value: str | int) -> int:
    """Docker's byte size (``"8g"`` is 8 GiB) as bytes.

    Raises:
        ValueError: not a size, or not more than 0.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")  # noqa: TRY004 - pydantic reports ValueError
    try:
        size = int(_size().validate_python(str(value).strip()))
    except ValidationError:
        raise ValueError(f"{str(value)[:40]!r} is not a size (a number of bytes, or with k, m, g: 64m, 8g)") from None
    if size <= 0:
        raise ValueError(f"size {str(value)[:40]!r} must be more than 0")
    return size


def size_text(size: int) -> str:
    """Bytes in docker's shortest exact form (``8589934592`` -> ``8g``; ``1000`` stays ``1000``)."""
    for power, unit in ((3, "g"), (2, "m"), (1, "k")):
        if size and size % 1024 ** power == 0:
            return f"{size // 1024 ** power}{unit}"
    return str(size)


#: Mount flags the engine accepts in tmpfs options.
_TMPFS_FLAGS = frozenset((
    "defaults", "ro", "rw", "suid", "nosuid", "dev", "nodev", "exec", "noexec", "sync", "async", "dirsync",
    "mand", "nomand", "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime", "strictatime",
    "nostrictatime"))
#: ``key=value`` data the engine accepts in tmpfs options, with the kernel's form of the value.
_TMPFS_DATA = {
    "size": re.compile(r"^\d+[kKmMgGtTpPeE%]?$"),
    "nr_blocks": re.compile(r"^\d+[kKmMgGtTpPeE%]?$"),
    "nr_inodes": re.compile(r"^\d+[kKmMgGtTpPeE%]?$"),
    "mode": re.compile(r"^[0-7]{3,4}$"),
    "uid": re.compile(r"^\d+$"),
    "gid": re.compile(r"^\d+$"),
    "mpol": re.compile(r"^[a-z]+(:[0-9,-]+)?$"),
}


def check_tmpfs_options(options: str) -> str:
    """tmpfs mount options (``"rw,size=64m,mode=1777"``; ``""``: the engine's defaults).

    Raises:
        ValueError: an option the engine does not take, or a value of the wrong form.
    """
    for item in filter(None, options.split(",")):
        key, sep, value = item.partition("=")
        if not sep and key in _TMPFS_FLAGS:
            continue
        form = _TMPFS_DATA.get(key)
        if form is None or not sep:
            raise ValueError(f"tmpfs option {item[:80]!r} is not one the engine takes (flags such as rw, noexec; "
                             f"or {'=, '.join(_TMPFS_DATA)}=)")
        if not form.match(value):
            raise ValueError(f"tmpfs option {item[:80]!r}: {value[:40]!r} is not a {key} value")
    return options


def same_tmpfs_options(a: str, b: str) -> bool:
    """Whether two tmpfs option strings set the same options (order and empty items aside)."""
    return sorted(filter(None, a.split(","))) == sorted(filter(None, b.split(",")))
