"""Inventory sources as Ansible takes them, without Ansible: a file, a directory of them, an
executable inventory script, or a ``h1,h2,`` host list; and the ``group_vars/`` and
``host_vars/`` directories beside the source.

A script is run with ``--list`` (and ``--host NAME`` when its output has no ``_meta.hostvars``),
time-boxed by ``REMEDIATE_INVENTORY_TIMEOUT`` seconds (default 60); its output is bounded by
:mod:`remediate.core.limits`.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

from remediate.core import limits
from remediate.errors import InventoryError
from remediate.fleet.inventory_files import (
    ParsedInventory,
    load_vars_file,
    parse_host_list,
    parse_inventory_file,
    parse_script_output,
    set_host_vars,
)

__all__ = ["VarsFiles", "inventory_timeout", "is_host_list", "parse_source"]

#: Directory entries Ansible never reads as inventory (its defaults for hidden files, vars
#: directories and INVENTORY_IGNORE_EXTS).
_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$"
    r"|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$"
)
_VARS_EXTENSIONS = (".yml", ".yaml", ".json")
_DEFAULT_TIMEOUT = 60.0


def inventory_timeout() -> float:
    """Seconds an inventory command may run: ``REMEDIATE_INVENTORY_TIMEOUT``, default 60.

    Raises:
        InventoryError: the variable is not a positive number.
    """
    text = os.environ.get("REMEDIATE_INVENTORY_TIMEOUT", "")
    if not text:
        return _DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < 86400:
        raise InventoryError(f"REMEDIATE_INVENTORY_TIMEOUT={text!r}: expected seconds, e.g. 60")
    return value


def is_host_list(source: str) -> bool:
    """True for ``h1,h2,``: a comma and no such path (Ansible's host_list rule)."""
    return "," in source and not os.path.exists(source)


def parse_source(builder: ParsedInventory, source: str) -> None:
    """Read one ``-i`` source into ``builder``: a host list, a directory (its entries in name
    order, recursively, skipping what Ansible skips), an executable script, or a file.

    Raises:
        InventoryError: one line naming the file (and line) at fault.
    """
    if is_host_list(source):
        parse_host_list(builder, source)
    else:
        _parse_path(builder, Path(source))


def _parse_path(builder: ParsedInventory, path: Path) -> None:
    if path.is_dir():
        try:
            entries = sorted(os.listdir(path))
        except OSError as exc:
            raise InventoryError(f"{path}: cannot read inventory: {exc.strerror or exc}", path=str(path)) from exc
        for entry in entries:
            if not _IGNORED.search(entry):
                _parse_path(builder, path / entry)
    elif path.is_file() and os.access(path, os.X_OK):
        _run_script(builder, path)
    else:
        parse_inventory_file(builder, path)


def _run(path: Path, *args: str) -> Any:
    source = str(path)
    timeout = inventory_timeout()
    try:
        done = subprocess.run([str(path.resolve()), *args], capture_output=True, timeout=timeout,
                              check=False, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise InventoryError(f"{source}: inventory script ran longer than {timeout:g} s "
                             "(REMEDIATE_INVENTORY_TIMEOUT)", path=source) from None
    except OSError as exc:
        raise InventoryError(f"{source}: cannot run inventory script: {exc.strerror or exc}", path=source) from exc
    if done.returncode != 0:
        first = done.stderr.decode("utf-8", "replace").strip().splitlines()[:1]
        detail = f": {first[0][:200]}" if first else ""
        raise InventoryError(f"{source}: inventory script {' '.join(args)} exited {done.returncode}{detail}",
                             path=source)
    try:
        return limits.load_json(done.stdout.decode("utf-8"))
    except limits.LimitExceeded as exc:
        raise InventoryError(f"{source}: inventory script output: {exc}", path=source) from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError
        raise InventoryError(f"{source}: inventory script output is not JSON: {exc}", path=source) from None


def _run_script(builder: ParsedInventory, path: Path) -> None:
    source = str(path)
    known = set(builder.host_vars)
    meta = parse_script_output(builder, _run(path, "--list"), source)
    listed = [host for host in builder.host_vars if host not in known]
    for host in listed:
        variables = meta.get(host, {}) if meta is not None else _run(path, "--host", host)
        set_host_vars(builder, host, variables or {}, source)


class VarsFiles:
    """``group_vars/<group>`` and ``host_vars/<host>`` beside an inventory source, found as
    Ansible finds them: the name itself (a file, or a directory whose files are read in name
    order, recursively), else ``<name>.yml``, ``.yaml`` or ``.json``; hidden and ``~`` backup
    files are skipped, and so are files with another extension.

    Args:
        source: The ``-i`` source; a host list has no vars directories.
    """

    def __init__(self, source: str) -> None:
        if is_host_list(source):
            self._base: Path | None = None
        else:
            path = Path(source)
            self._base = (path if path.is_dir() else path.parent).resolve()
        self._cache: dict[tuple[str, str], dict[str, Any]] = {}

    def group(self, name: str) -> dict[str, Any]:
        """Variables from ``group_vars/<name>`` (empty when there is none).

        Raises:
            InventoryError: a file is unreadable or invalid.
        """
        return self._load("group_vars", name)

    def host(self, name: str) -> dict[str, Any]:
        """Variables from ``host_vars/<name>`` (empty when there is none).

        Raises:
            InventoryError: a file is unreadable or invalid.
        """
        return self._load("host_vars", name)

    def _load(self, kind: str, name: str) -> dict[str, Any]:
        key = (kind, name)
        if key not in self._cache:
            merged: dict[str, Any] = {}
            for path in self._files(kind, name):
                merged.update(load_vars_file(path))
            self._cache[key] = merged
        return self._cache[key]

    def _files(self, kind: str, name: str) -> list[Path]:
        if self._base is None or name.startswith(os.sep):
            return []
        folder = self._base / kind
        if not folder.is_dir():
            return []
        for candidate in (folder / name, *(folder / f"{name}{ext}" for ext in _VARS_EXTENSIONS)):
            if candidate.is_dir():
                return _dir_files(candidate)
            if candidate.exists():
                return [candidate]
        return []


def _dir_files(folder: Path) -> list[Path]:
    found: list[Path] = []
    for entry in sorted(os.listdir(folder)):
        if entry.startswith(".") or entry.endswith("~"):
            continue
        path, ext = folder / entry, os.path.splitext(entry)[1]
        if path.is_dir() and not ext:
            found.extend(_dir_files(path))
        elif path.is_file() and (not ext or ext in _VARS_EXTENSIONS):
            found.append(path)
    return found
