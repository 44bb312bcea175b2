"""Inventory sources as Ansible takes them, without Ansible: a file (INI, YAML or JSON), a
directory of them, an executable inventory script, or a ``h1,h2,`` host list; and the
``group_vars/`` and ``host_vars/`` directories beside the source.

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
    UNGROUPED,
    InvalidEntry,
    ParsedInventory,
    check_var,
    group_name,
    load_yaml_text,
    parse_address,
    parse_ini,
    parse_yaml,
    sniff_yaml,
    type_name,
)

__all__ = [
    "VarsFiles",
    "inventory_timeout",
    "is_host_list",
    "load_vars_file",
    "parse_host_list",
    "parse_inventory_file",
    "parse_script_output",
    "parse_source",
    "read_inventory_text",
    "set_host_vars",
]

#: Directory entries Ansible never reads as inventory (its defaults for hidden files, vars
#: directories and INVENTORY_IGNORE_EXTS).
_IGNORED = re.compile(
    r"^\.|^host_vars$|^group_vars$|^vars_plugins$"
    r"|(?:\.pyc|\.pyo|\.swp|\.bak|~|\.rpm|\.md|\.txt|\.rst|\.orig|\.cfg|\.retry)$"
)
_VARS_EXTENSIONS = (".yml", ".yaml", ".json")
_YAML_SUFFIXES = frozenset(_VARS_EXTENSIONS)
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


# ---------------------------------------------------------------------------- files


def parse_inventory_file(builder: ParsedInventory, path: Path) -> None:
    """Read an inventory file into ``builder``: ``.yml``, ``.yaml`` and ``.json`` files are
    YAML, ``.ini`` files INI; any other file is YAML when it parses as a mapping of groups
    (e.g. starts with ``all:``), and INI otherwise.

    Raises:
        InventoryError: ``file:line: reason`` (or ``file: reason`` when no line applies).
    """
    source = str(path)
    text = read_inventory_text(path)
    suffix = path.suffix.lower()
    if suffix in _YAML_SUFFIXES:
        parse_yaml(builder, load_yaml_text(text, source), source)
    elif suffix == ".toml":
        raise InventoryError(f"{source}: TOML inventories need Ansible: install ansible-core", path=source)
    elif suffix != ".ini" and (data := sniff_yaml(text, source)) is not None:
        parse_yaml(builder, data, source)
    else:
        parse_ini(builder, text, source)


def read_inventory_text(path: Path) -> str:
    """The text of an inventory (or vars) file, bounded by :mod:`remediate.core.limits`.

    Raises:
        InventoryError: ``file: reason``: unreadable, not UTF-8, or too large.
    """
    source = str(path)
    try:
        return limits.read_text(path, "inventory")  # utf-8-sig: editors on Windows may add a BOM
    except limits.LimitExceeded as exc:
        raise InventoryError(f"{source}: {exc}", path=source) from None
    except UnicodeDecodeError as exc:
        raise InventoryError(f"{source}: not UTF-8 text: {exc.reason}", path=source) from exc
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise InventoryError(f"{source}: cannot read inventory: {reason}", path=source) from exc


# ---------------------------------------------------------------------------- scripts, lists, vars files


def parse_script_output(builder: ParsedInventory, data: Any, source: str) -> dict[str, Any] | None:
    """Read the ``--list`` JSON of an inventory script into ``builder``, as Ansible's script
    plugin reads it: groups as lists of hosts or ``{hosts, vars, children}``.

    Returns:
        ``_meta.hostvars`` (host -> variables), or None when the script gave none (then each
        host's variables come from ``--host NAME``).

    Raises:
        InventoryError: ``script: reason``.
    """
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: inventory script output must be a JSON object", path=source)
    meta: dict[str, Any] | None = None
    try:
        for group, body in data.items():
            if group == "_meta":
                meta = body.get("hostvars") if isinstance(body, dict) else None
                if not isinstance(meta, dict):
                    raise InvalidEntry("'_meta.hostvars' must be an object")
                continue
            _script_group(builder, group_name(group), body)
    except InvalidEntry as exc:
        raise InventoryError(f"{source}: {exc}", path=source) from None
    return meta


def _script_group(builder: ParsedInventory, group: str, body: Any) -> None:
    builder.add_group(group)
    if not isinstance(body, dict):
        body = {"hosts": body}
    elif not any(key in body for key in ("hosts", "vars", "children")):
        body = {"hosts": [group], "vars": body}
    hosts, variables = body.get("hosts", []), body.get("vars", {})
    if not isinstance(hosts, list) or not all(isinstance(host, str) and host for host in hosts):
        raise InvalidEntry(f"'{group}.hosts' must be a list of host names")
    if not isinstance(variables, dict):
        raise InvalidEntry(f"'{group}.vars' must be an object")
    for host in hosts:
        builder.add_host(host, group, {})
    for key, value in variables.items():
        builder.set_group_var(group, str(key), value)
    children = body.get("children", [])
    if not isinstance(children, list):
        raise InvalidEntry(f"'{group}.children' must be a list of group names")
    for child in children:
        builder.add_group(group_name(child))
        builder.add_child(group, child)


def set_host_vars(builder: ParsedInventory, host: str, variables: Any, source: str) -> None:
    """Set variables a script gave for a host it listed.

    Raises:
        InventoryError: they are no mapping, or a connection variable is invalid.
    """
    if not isinstance(variables, dict):
        raise InventoryError(f"{source}: variables of host {host!r} must be an object", path=source)
    try:
        builder.add_host(host, None, {str(key): value for key, value in variables.items()})
    except InvalidEntry as exc:
        raise InventoryError(f"{source}: host {host!r}: {exc}", path=source) from None


def parse_host_list(builder: ParsedInventory, text: str) -> None:
    """Read ``-i 'h1,h2:2222,'``: ungrouped hosts, each with an optional port.

    Raises:
        InventoryError: a port or the number of hosts is out of bounds.
    """
    for item in text.split(","):
        entry = item.strip()
        if not entry:
            continue
        try:
            name, port = parse_address(entry)
        except ValueError:
            name, port = entry, None
        if name not in builder.host_vars:
            try:
                builder.add_host(name, UNGROUPED, {}, port)
            except InvalidEntry as exc:
                raise InventoryError(f"host list {text!r}: {exc}") from None




def load_vars_file(path: Path) -> dict[str, Any]:
    """The variables of a ``group_vars``/``host_vars`` file (YAML or JSON; empty means none).

    Raises:
        InventoryError: ``file: reason``: unreadable, encrypted, not a mapping, or a connection
            variable is invalid.
    """
    source = str(path)
    text = read_inventory_text(path)
    if text.startswith("$ANSIBLE_VAULT"):
        raise InventoryError(
            f"{source}: encrypted with ansible-vault: install ansible-core, so that remediate reads"
            " the inventory with ansible-inventory (and your vault settings)", path=source)
    data = load_yaml_text(text, source)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InventoryError(f"{source}: variables must be a mapping, got {type_name(data)}", path=source)
    variables = {str(key): value for key, value in data.items()}
    for key, value in variables.items():
        try:
            check_var(key, value)
        except InvalidEntry as exc:
            raise InventoryError(f"{source}: {exc}", path=source) from None
    return variables


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
    """``group_vars/<group>`` and ``host_vars/<host>`` beside an inventory source (or in a
    playbook's directory), found as Ansible finds them: the name itself (a file, or a directory
    whose files are read in name order, recursively), else ``<name>.yml``, ``.yaml`` or
    ``.json``; hidden and ``~`` backup files are skipped, and so are files with another extension.

    Args:
        source: The ``-i`` source (a host list has no vars directories), or a playbook's directory.
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
