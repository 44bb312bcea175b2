"""The values the ``ipc``, ``shm_size``, ``tmpfs``, ``restart`` and ``resources`` changes set, as
the engine reads them (pure).

* IPC modes: ``host``, ``private``, ``shareable``, ``none`` and ``container:NAME`` (what
  ``docker run --ipc`` takes; anything else the engine refuses at create).
* Sizes: docker's byte sizes (``8g``, ``64m``, ``512k``, ``1.5g``, ``8GiB``, ``8589934592``), all
  binary as ``docker run --shm-size`` and compose's ``shm_size`` read them (go-units
  ``RAMInBytes``); parsed by pydantic's :class:`~pydantic.ByteSize` with docker's unit table.
* Restart policies: ``no``, ``always``, ``unless-stopped``, ``on-failure[:N]`` (``docker run
  --restart``); a retry count only with ``on-failure``.
* CPUs: ``--cpus`` as a decimal number (``1.5``), kept as the engine's ``NanoCpus``; cpusets as
  ``--cpuset-cpus`` takes them (``0-3,6``).
* tmpfs options: a comma-separated list of mount flags and ``key=value`` data as the engine's
  ``ParseTmpfsOptions`` accepts them (``rw,size=64m,mode=1777``).
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation
from typing import Any

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


#: Restart policy names ``docker run --restart`` takes.
RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")


def parse_restart(value: str) -> tuple[str, int]:
    """``"on-failure:5"`` -> ``("on-failure", 5)``; ``"always"`` -> ``("always", 0)``.

    Raises:
        ValueError: an unknown policy, or a retry count that is not a number or not on ``on-failure``.
    """
    name, sep, count = value.strip().partition(":")
    if name not in RESTART_POLICIES:
        raise ValueError(f"restart policy {value[:40]!r} is not one of {', '.join(RESTART_POLICIES)}")
    if not sep:
        return name, 0
    return name, check_retries(name, count)


def check_retries(policy: str, count: Any) -> int:
    """A maximum retry count (``on-failure`` only; 0: no maximum).

    Raises:
        ValueError: not a number from 0, or given with another policy (the engine refuses it).
    """
    text = str(count).strip() if isinstance(count, (int, str)) and not isinstance(count, bool) else ""
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise ValueError(f"max_retries must be a number from 0, not {str(count)[:40]!r}")
    if int(text) and policy != "on-failure":
        raise ValueError(f"max_retries is only for on-failure (the engine refuses it with {policy})")
    return int(text)


def parse_cpus(value: Any) -> int:
    """``--cpus`` (``1.5``) as the engine's ``NanoCpus`` (``1500000000``).

    Raises:
        ValueError: not a positive number with at most 9 decimals.
    """
    try:
        cpus = Decimal(str(value).strip()) if not isinstance(value, bool) else Decimal("nan")
    except InvalidOperation:
        cpus = Decimal("nan")
    nano = cpus * 1_000_000_000 if cpus.is_finite() else Decimal(0)
    if nano <= 0 or nano != nano.to_integral_value() or cpus > 4096:
        raise ValueError(f"cpus {str(value)[:40]!r} is not a number of CPUs (more than 0, e.g. 2 or 1.5)")
    return int(nano)


def cpus_text(nano_cpus: int) -> str:
    """``NanoCpus`` as ``--cpus`` writes it (``1500000000`` -> ``1.5``)."""
    return f"{Decimal(nano_cpus) / 1_000_000_000:f}".rstrip("0").rstrip(".") if nano_cpus else "0"


_CPUSET = re.compile(r"^\d{1,4}(-\d{1,4})?(,\d{1,4}(-\d{1,4})?)*$")


def check_cpuset(value: str) -> str:
    """A cpuset as ``--cpuset-cpus`` / ``--cpuset-mems`` take it (``0-3,6``).

    Raises:
        ValueError: not a list of numbers and ranges.
    """
    if not _CPUSET.match(value):
        raise ValueError(f"cpuset {value[:40]!r} is not a list of numbers and ranges (0-3,6)")
    return value


#: The ``resources`` change's keys -> the ``HostConfig`` key each sets and the form of its value:
#: a byte size, memory plus swap (a size, or -1: unlimited), a number of CPUs, a cpuset, or a
#: whole number in a range (as the engine and the kernel take them).
RESOURCES: dict[str, tuple[str, str | tuple[int, int]]] = {
    "memory": ("Memory", "size"),
    "memory_reservation": ("MemoryReservation", "size"),
    "memory_swap": ("MemorySwap", "swap"),
    "cpus": ("NanoCpus", "cpus"),
    "cpu_shares": ("CpuShares", (2, 262_144)),
    "cpu_period": ("CpuPeriod", (1_000, 1_000_000)),
    "cpu_quota": ("CpuQuota", (1_000, 2 ** 53)),
    "cpuset_cpus": ("CpusetCpus", "cpuset"),
    "cpuset_mems": ("CpusetMems", "cpuset"),
    "pids_limit": ("PidsLimit", (1, 2 ** 53)),
    "blkio_weight": ("BlkioWeight", (10, 1_000)),
}
#: The smallest memory limit the engine takes (``Minimum memory limit allowed is 6MB``).
MIN_MEMORY = 6 * 1024 * 1024


def parse_resource(name: str, value: Any) -> int | str:
    """A ``resources`` value (``memory: 8g``, ``cpus: 1.5``) as its ``HostConfig`` value.

    Raises:
        ValueError: not a value of that form, or out of its range.
    """
    form = RESOURCES[name][1]
    if form == "swap" and str(value).strip() == "-1":
        return -1
    if form in ("size", "swap"):
        size = parse_size(value)
        if name == "memory" and size < MIN_MEMORY:
            raise ValueError(f"memory {str(value)[:40]!r} is less than the 6m the engine takes")
        return size
    if form == "cpus":
        return parse_cpus(value)
    if form == "cpuset":
        return check_cpuset(str(value).strip())
    low, high = form if isinstance(form, tuple) else (0, 0)
    text = str(value).strip() if isinstance(value, (int, str)) and not isinstance(value, bool) else ""
    if not (text.isascii() and text.isdigit() and low <= int(text) <= high):
        raise ValueError(f"{name} must be a whole number from {low} to {high}, not {str(value)[:40]!r}")
    return int(text)


def resource_text(key: str, value: Any) -> str | None:
    """A ``HostConfig`` resource value as a playbook writes it (``8589934592`` -> ``8g``); None: unset."""
    if value in (None, 0, ""):
        return None
    if key in ("Memory", "MemoryReservation") or (key == "MemorySwap" and value != -1):
        return size_text(int(value))
    if key == "NanoCpus":
        return cpus_text(int(value))
    return str(value)


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
