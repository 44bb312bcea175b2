"""Ansible-compatible inventories: INI and YAML files -> hosts, groups, vars, ``--limit`` patterns.

Pure data: this module never touches the network, Docker or SSH. Existing Ansible inventory
files load unchanged::

    inventory = load_inventory("hosts.ini")
    for host in inventory.select("gpu:!gpu-03"):
        print(host.name, host.address, host.port)

Variable precedence follows Ansible: ``all`` first, then groups ordered by depth (a child group
overrides its parent), ``ansible_group_priority`` and name (siblings alphabetically), and host
variables last.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from remediate.errors import InventoryError
from remediate.fleet.inventory_files import (
    ALL,
    UNGROUPED,
    ConnectionVars,
    ParsedInventory,
    parse_inventory_file,
)

__all__ = ["Host", "Inventory", "load_inventory"]

# A ':'-separated pattern list; bracketed parts may contain ':' (Ansible's split_host_pattern).
_PATTERN_PART = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")


def _readonly(values: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return MappingProxyType(dict(values or {}))


@dataclass(frozen=True)
class Host:
    """One inventory host and its connection settings.

    Attributes:
        name: Inventory name (``inventory_hostname`` in Ansible).
        address: Address to connect to: ``ansible_host``, or ``name`` when empty.
        port: SSH port (``ansible_port``), default 22.
        user: SSH user (``ansible_user``), or None for the SSH default.
        key_file: SSH private key (``ansible_ssh_private_key_file``), or None.
        docker_host: Docker endpoint (``remediate_docker_host``), or None to derive one.
        groups: Every group the host belongs to, ancestors and ``all`` included.
        vars: Read-only merged variables; not part of equality or hashing.

    Example: ``Host("gpu-01", "10.0.0.5", port=2222, groups=frozenset({"all", "gpu"}))``.
    """

    name: str
    address: str = ""
    port: int = 22
    user: str | None = None
    key_file: str | None = None
    docker_host: str | None = None
    groups: frozenset[str] = frozenset({ALL})
    vars: Mapping[str, Any] = field(default_factory=_readonly, hash=False, compare=False)

    def __post_init__(self) -> None:
        if not self.address:
            object.__setattr__(self, "address", self.name)
        object.__setattr__(self, "vars", _readonly(self.vars))



# ---------------------------------------------------------------------------- building


def _parents(builder: ParsedInventory) -> dict[str, list[str]]:
    """Map each group to its parents; groups without one hang under ``all``."""
    parents: dict[str, list[str]] = {name: [] for name in builder.groups}
    for name, group in builder.groups.items():
        for child in group.children:
            parents[child].append(name)
    for name, found in parents.items():
        if name != ALL and not found:
            found.append(ALL)
    return parents


def _depths(parents: Mapping[str, list[str]]) -> dict[str, int]:
    """Longest distance from ``all`` for each group (Ansible's group depth)."""
    depths: dict[str, int] = {ALL: 0}

    def depth(name: str) -> int:
        if name not in depths:
            depths[name] = 1 + max(depth(parent) for parent in parents[name])
        return depths[name]

    for name in parents:
        depth(name)
    return depths


def _ancestors(groups: Iterable[str], parents: Mapping[str, list[str]]) -> frozenset[str]:
    seen: set[str] = set()
    stack = list(groups)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(parents[name])
    return frozenset(seen | {ALL})


def _direct_groups(listed: list[str]) -> list[str]:
    """Apply Ansible's rule: a host is in ``ungrouped`` exactly when it is in no other group."""
    named = [group for group in listed if group not in (ALL, UNGROUPED)]
    return named or [UNGROUPED]


def _merge_vars(
    groups: frozenset[str],
    builder: ParsedInventory,
    depths: Mapping[str, int],
    host_vars: Mapping[str, Any],
) -> dict[str, Any]:
    def order(name: str) -> tuple[int, int, str]:
        priority = builder.groups[name].vars.get("ansible_group_priority", 1)
        return depths[name], priority, name

    merged: dict[str, Any] = {}
    for name in sorted(groups, key=order):
        merged.update(builder.groups[name].vars)
    merged.update(host_vars)
    return merged


def _build(builder: ParsedInventory) -> Inventory:
    parents = _parents(builder)
    depths = _depths(parents)
    hosts = []
    for name, host_vars in builder.host_vars.items():
        groups = _ancestors(_direct_groups(builder.host_groups[name]), parents)
        merged = _merge_vars(groups, builder, depths, host_vars)
        conn = ConnectionVars.model_validate(merged)  # valid: each variable was checked when set
        hosts.append(
            Host(
                name,
                conn.address or name,
                conn.port,
                conn.user,
                conn.key_file,
                conn.docker_host,
                groups,
                merged,
            )
        )
    return Inventory(hosts, groups=builder.groups)


# ---------------------------------------------------------------------------- selection


def _split_pattern(pattern: str) -> list[str]:
    """Split a ``--limit`` pattern on ',' or, failing that, on ':' outside brackets."""
    if "," in pattern:
        return [part.strip() for part in pattern.split(",") if part.strip()]
    parts: list[str] = _PATTERN_PART.findall(pattern)
    # Ansible silently drops what its splitter cannot read (e.g. a lone '['); we refuse.
    if re.sub(r"[\s:]+", "", _PATTERN_PART.sub("", pattern)):
        raise InventoryError(f"invalid host pattern {pattern!r}: unbalanced brackets")
    return parts


def _order_terms(terms: list[str]) -> list[str]:
    """Ansible's order: unions, then ``&`` intersections, then ``!`` exclusions."""
    unions = [term for term in terms if term[0] not in "&!"]
    intersections = [term for term in terms if term[0] == "&"]
    exclusions = [term for term in terms if term[0] == "!"]
    return (unions or [ALL]) + intersections + exclusions


def _matcher(expr: str) -> Callable[[str], bool]:
    """Compile a ``~regex`` (matched at the start, like Ansible) or a case-sensitive glob."""
    try:
        regex = re.compile(expr[1:] if expr.startswith("~") else fnmatch.translate(expr))
    except re.error as exc:
        raise InventoryError(f"invalid host pattern {expr!r}: {exc}") from None
    return lambda name: regex.match(name) is not None


class Inventory:
    """Hosts and groups from an Ansible inventory, in file order.

    Args:
        hosts: The hosts, in inventory order; names must be unique.
        groups: Group names to know even when empty (host groups are always known).

    Raises:
        InventoryError: Two hosts share a name.

    Example: ``Inventory([Host("gpu-01", "10.0.0.5")]).select("gpu-*")``.
    """

    def __init__(self, hosts: Iterable[Host], groups: Iterable[str] = ()) -> None:
        self._hosts = tuple(hosts)
        self._by_name: dict[str, Host] = {}
        for host in self._hosts:
            if host.name in self._by_name:
                raise InventoryError(f"duplicate host {host.name!r}")
            self._by_name[host.name] = host
        names = dict.fromkeys([ALL, UNGROUPED, *groups])
        for host in self._hosts:
            names.update(dict.fromkeys(sorted(host.groups)))
        self._groups = MappingProxyType({name: self._members(name) for name in names})

    def _members(self, group: str) -> tuple[str, ...]:
        if group == ALL:
            return tuple(self._by_name)
        if group == UNGROUPED:
            return tuple(h.name for h in self._hosts if h.groups <= {ALL, UNGROUPED})
        return tuple(h.name for h in self._hosts if group in h.groups)

    @property
    def hosts(self) -> tuple[Host, ...]:
        """All hosts, in inventory order."""
        return self._hosts

    @property
    def groups(self) -> Mapping[str, tuple[str, ...]]:
        """Group name -> names of its hosts (child groups included), in inventory order."""
        return self._groups

    def __iter__(self) -> Iterator[Host]:
        return iter(self._hosts)

    def __len__(self) -> int:
        return len(self._hosts)

    def get(self, name: str) -> Host | None:
        """Return the host called ``name``, or None."""
        return self._by_name.get(name)

    def select(self, pattern: str | None = None) -> list[Host]:
        """Select hosts with an Ansible ``--limit`` pattern.

        Terms are separated by ``,`` or ``:``; each is a host or group name, a glob
        (``gpu-*``) or a ``~regex`` (matched at the start of names). ``&term`` intersects and
        ``!term`` excludes; unions apply first, then intersections, then exclusions.
        ``None``, ``""``, ``all`` and ``*`` select everything.

        Args:
            pattern: The pattern, e.g. ``"gpu:!gpu-03"`` or ``"gpu,&rack-a"``.

        Returns:
            The selected hosts, in inventory order.

        Raises:
            InventoryError: A term matches no host or group, or nothing is selected.

        Example: ``inventory.select("gpu:&rack-a:!gpu-03")``.
        """
        terms = _order_terms(_split_pattern(pattern or ALL))
        selected: set[str] = set()
        for term in terms:
            matched = set(self._match_term(term.lstrip("&!"), term))
            if term[0] == "&":
                selected &= matched
            elif term[0] == "!":
                selected -= matched
            else:
                selected |= matched
        if not selected:
            raise InventoryError(f"host pattern {pattern or ALL!r} selects no hosts")
        return [host for host in self._hosts if host.name in selected]

    def _match_term(self, expr: str, term: str) -> list[str]:
        if not expr:
            raise InventoryError(f"host pattern {term!r} is empty")
        if expr in self._by_name:
            return [expr]
        names = self._enumerate(expr)
        if names is None:
            raise InventoryError(f"host pattern {term!r} matches no hosts or groups")
        return names

    def _enumerate(self, expr: str) -> list[str] | None:
        """Hosts of matching groups, plus matching host names for globs, regexes or no group."""
        matches = _matcher(expr)
        groups = [name for name in self._groups if matches(name)]
        found = {host for name in groups for host in self._groups[name]}
        if not groups or expr.startswith("~") or any(c in expr for c in ".?*["):
            hosts = {name for name in self._by_name if matches(name)}
            if not groups and not hosts:
                return None
            found |= hosts
        return [name for name in self._by_name if name in found]


def load_inventory(path: str | Path) -> Inventory:
    """Load an Ansible inventory file (INI or YAML).

    ``.yml``, ``.yaml`` and ``.json`` files are YAML and ``.ini`` files INI; any other file is
    YAML when it parses as a mapping of groups (e.g. starts with ``all:``), and INI otherwise.

    Args:
        path: The inventory file.

    Returns:
        The parsed Inventory.

    Raises:
        InventoryError: The file cannot be read or is invalid; the message reads
            ``file:line: reason`` (or ``file: reason`` when no line applies).

    Example: ``load_inventory("inventory/hosts.ini").select("gpu")``.
    """
    return _build(parse_inventory_file(Path(path)))


