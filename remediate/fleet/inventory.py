"""Ansible inventories -> hosts, groups, vars and ``--limit`` patterns, as Ansible reads them.

Existing Ansible inventory sources load unchanged::

    inventory = load_inventory("hosts.ini")
    for host in inventory.select("gpu:!gpu-03"):
        print(host.name, host.address, host.port)

Two readers give the same result. When ``ansible-inventory`` is on PATH, the source is read by
Ansible itself (:mod:`remediate.fleet.ansible_inventory`: any source, plugin and vault Ansible
reads). Otherwise the built-in reader here takes INI, YAML and JSON files, directories of them,
executable inventory scripts and ``h1,h2,`` host lists, with ``group_vars/`` and ``host_vars/``
beside the source and beside the playbook. ``REMEDIATE_INVENTORY_PARSER=builtin`` (or ``ansible``)
forces one.

Variable precedence follows Ansible: ``all``, then the host's groups ordered by depth (a child
group overrides its parent), ``ansible_group_priority`` and name; then ``group_vars/all`` beside
the inventory, then beside the playbook; then ``group_vars/<group>`` in the same order, the
inventory's for every group before the playbook's; then the host's inventory variables,
``host_vars/<host>`` beside the inventory, then beside the playbook. Selection follows Ansible's
host patterns and host order exactly.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from remediate.errors import InventoryError
from remediate.fleet.inventory_files import (
    ALL,
    UNGROUPED,
    ParsedInventory,
    parse_address,
)
from remediate.fleet.inventory_sources import VarsFiles, parse_source
from remediate.fleet.inventory_vars import connection_vars, routing_ssh_option

__all__ = ["LOCALHOST", "PARSERS", "Host", "Inventory", "choose_parser", "load_inventory"]

_log = logging.getLogger(__name__)

# A ':'-separated pattern list; bracketed parts may contain ':' (Ansible's split_host_pattern).
_PATTERN_PART = re.compile(r"(?:[^\s:\[\]]|\[[^\]]*\])+")
# ``group[0]``, ``group[-1]``, ``group[1:3]``, ``group[1:]`` (Ansible's subscripts).
_SUBSCRIPT = re.compile(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$")
#: Names that mean this machine: Ansible creates an implicit local host for them.
LOCALHOST = ("127.0.0.1", "localhost", "::1")
_SSH = frozenset({"ssh", "smart", "paramiko", "paramiko_ssh", "ansible.builtin.ssh", "ansible.builtin.paramiko_ssh"})
_LOCAL = frozenset({"local", "ansible.builtin.local"})
#: ``REMEDIATE_INVENTORY_PARSER`` values.
PARSERS = ("auto", "ansible", "builtin")


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
        jump: Jump host(s) its SSH options name (``-J``, ``-o ProxyJump=``), or None.

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
    jump: str | None = None

    def __post_init__(self) -> None:
        if not self.address:
            object.__setattr__(self, "address", self.name)
        object.__setattr__(self, "vars", _readonly(self.vars))

    @property
    def connection(self) -> str:
        """``local`` when ``ansible_connection`` is local, else ``ssh`` (see :meth:`check_connection`)."""
        return "local" if self.vars.get("ansible_connection") in _LOCAL else "ssh"

    def check_connection(self, where: str = "") -> None:
        """Refuse an ``ansible_connection`` remediate cannot use (docker, winrm, ...), or SSH
        options saying where or as whom to connect (``-o ProxyJump=...`` in
        ``ansible_ssh_common_args``: remediate reads those from ``~/.ssh/config``).

        Args:
            where: the inventory, named first in the error (``inventory hosts.ini``).

        Raises:
            InventoryError: one line naming the inventory, the host and the setting.
        """
        prefix = f"{where}: " if where else ""
        value = self.vars.get("ansible_connection")
        if value is not None and value not in _SSH and value not in _LOCAL:
            raise InventoryError(f"{prefix}host {self.name!r}: ansible_connection={value!r} is not supported:"
                                 " remediate reaches a host over ssh, or local")
        routing = routing_ssh_option(self.vars) if self.connection == "ssh" else None
        if routing is not None:
            raise InventoryError(
                f"{prefix}host {self.name!r}: {routing[0]} {routing[1]!r}: remediate does not take SSH options from "
                f"the inventory; put it in ~/.ssh/config (Host {self.address}), which it reads")


# ---------------------------------------------------------------------------- building


def _parents(children: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    parents: dict[str, list[str]] = {name: [] for name in children}
    for name, kids in children.items():
        for child in kids:
            parents[child].append(name)
    return parents


def _depths(parents: Mapping[str, list[str]]) -> dict[str, int]:
    """Longest distance from ``all`` for each group (Ansible's group depth)."""
    depths: dict[str, int] = {ALL: 0}

    def depth(name: str) -> int:
        if name not in depths:
            depths[name] = 1 + max((depth(parent) for parent in parents[name]), default=-1)
        return depths[name]

    for name in parents:
        depth(name)
    return depths


def ancestors(groups: Iterable[str], parents: Mapping[str, list[str]]) -> set[str]:
    """``groups`` and every group above them (``parents``: group -> its parent groups)."""
    seen: set[str] = set()
    stack = list(groups)
    while stack:
        name = stack.pop()
        if name not in seen:
            seen.add(name)
            stack.extend(parents.get(name, []))
    return seen


def _reconcile(builder: ParsedInventory) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Ansible's last step: groups without a parent become children of ``all`` (in the order
    the groups were created); a host in no group but ``all`` goes to ``ungrouped``, and a host
    in another group leaves it. Returns each group's children and own hosts."""
    children = {name: list(group.children) for name, group in builder.groups.items()}
    own = {name: list(group.hosts) for name, group in builder.groups.items()}
    parents = _parents(children)
    for name in children:
        if name != ALL and not parents[name]:
            children[ALL].append(name)
            parents[name].append(ALL)
    leaving: set[str] = set()
    for host, direct in builder.host_groups.items():
        above = ancestors(direct, parents)
        if UNGROUPED in above:
            if above - {ALL, UNGROUPED}:
                leaving.add(host)
        elif above <= {ALL}:
            own[UNGROUPED].append(host)
    own[UNGROUPED] = [host for host in own[UNGROUPED] if host not in leaving]
    return children, own


def _group_hosts(name: str, children: Mapping[str, list[str]], own: Mapping[str, list[str]]) -> list[str]:
    """A group's hosts in Ansible's order: its own, then its children's level by level."""
    ordered = [name, *children[name]]
    seen: set[str] = set()
    frontier = list(dict.fromkeys(ordered))
    while frontier:
        seen.update(frontier)
        following: list[str] = []
        for group in frontier:
            for child in children[group]:
                following.append(child)
                if child not in seen:
                    ordered.append(child)
        frontier = [group for group in dict.fromkeys(following) if group not in seen]
    return list(dict.fromkeys(host for group in ordered for host in own[group]))


def _merged(layers: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The variables of ``layers`` in order, a later one winning."""
    merged: dict[str, Any] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def _build(builder: ParsedInventory, layers: Sequence[VarsFiles], where: str) -> Inventory:
    """The inventory, with the vars files of ``layers`` (beside the inventory, then the playbook);
    ``where`` names it in errors."""
    children, own = _reconcile(builder)
    parents = _parents(children)
    depths = _depths(parents)
    direct: dict[str, list[str]] = {name: [] for name in builder.host_vars}
    for group, names in own.items():
        for name in names:
            direct[name].append(group)

    def order(group: str) -> tuple[int, int, str]:
        return depths[group], builder.groups[group].priority, group

    base = dict(builder.groups[ALL].vars)
    hosts = []
    for name, host_vars in builder.host_vars.items():
        groups = frozenset(ancestors(direct[name], parents) | {ALL})
        ranked = sorted(groups - {ALL}, key=order)
        merged = dict(builder.groups[ALL].vars)
        for group in ranked:
            merged.update(builder.groups[group].vars)
        merged.update(_merged(files.group(ALL) for files in layers))
        merged.update(_merged(files.group(group) for files in layers for group in ranked))
        merged.update(host_vars)
        merged.update(_merged(files.host(name) for files in layers))
        hosts.append(_host(name, groups, merged, where))

    def implicit(name: str) -> Mapping[str, Any]:
        return {**base, **_merged(files.group(ALL) for files in layers), "ansible_connection": "local",
                **_merged(files.host(name) for files in layers)}

    members = {group: _group_hosts(group, children, own) for group in children}
    return Inventory(hosts, members=members, implicit=implicit, source=where)


def _host(name: str, groups: frozenset[str], merged: Mapping[str, Any], where: str) -> Host:
    conn = connection_vars(name, groups, merged, where)
    return Host(name, conn.address or name, conn.port, conn.user, conn.key_file, conn.docker_host, groups, merged,
                conn.jump)


# ---------------------------------------------------------------------------- selection


def split_host_pattern(pattern: str) -> list[str]:
    """Split a ``--limit`` pattern as Ansible does: on ``,`` if it has one; else it is one
    term when it reads as a host address (``2001:db8::2``, ``web[1:3]``, ``web:22``), and
    otherwise splits on ``:`` outside brackets.

    Raises:
        InventoryError: unbalanced brackets (which Ansible would silently drop).
    """
    if "," in pattern:
        parts = pattern.split(",")
    else:
        try:
            parse_address(pattern, allow_ranges=True)
            parts = [pattern]
        except ValueError:
            parts = _PATTERN_PART.findall(pattern)
            if re.sub(r"[\s:]+", "", _PATTERN_PART.sub("", pattern)):
                raise InventoryError(f"invalid host pattern {pattern!r}: unbalanced brackets") from None
    return [part.strip() for part in parts if part.strip()]


def _order_terms(terms: list[str]) -> list[str]:
    """Ansible's order: unions, then ``&`` intersections, then ``!`` exclusions."""
    unions = [term for term in terms if term[0] not in "&!"]
    intersections = [term for term in terms if term[0] == "&"]
    exclusions = [term for term in terms if term[0] == "!"]
    return (unions or [ALL]) + intersections + exclusions


def _compile(expr: str) -> re.Pattern[str]:
    """A ``~regex`` (matched at the start, like Ansible) or a case-sensitive glob."""
    try:
        return re.compile(expr[1:] if expr.startswith("~") else fnmatch.translate(expr))
    except re.error as exc:
        raise InventoryError(f"invalid host pattern {expr!r}: {exc}") from None


def _split_subscript(expr: str) -> tuple[str, tuple[int, int | None] | None]:
    """``web[1:3]`` -> (``web``, (1, 3)); ``web[-1]`` -> (``web``, (-1, None)); a regex has none."""
    match = None if expr.startswith("~") else _SUBSCRIPT.match(expr)
    if match is None:
        return expr, None
    base, index, start, separator, end = match.groups()
    if index is not None:
        return base, (int(index), None)
    if separator == "-":
        _log.warning("host pattern %r: use [x:y] inclusive subscripts instead of [x-y]", expr)
    return base, (int(start), int(end) if end else -1)


def _subscript(hosts: list[Host], subscript: tuple[int, int | None] | None, term: str) -> list[Host]:
    if not hosts or subscript is None:
        return hosts
    start, end = subscript
    if end:  # Ansible's test: [0:0] reads as [0]
        return hosts[start : (len(hosts) - 1 if end == -1 else end) + 1]
    try:
        return [hosts[start]]
    except IndexError:
        _log.warning("host pattern %r: index out of range; it selects no hosts", term)
        return []


class Inventory:
    """Hosts and groups from an Ansible inventory.

    Args:
        hosts: The hosts, in the order the inventory created them; names must be unique.
        groups: Group names to know even when empty (host groups are always known).
        members: Group -> its hosts (child groups' included) in Ansible's order, groups in the
            order the inventory created them; derived from ``hosts`` when None.
        implicit: The variables of Ansible's implicit ``localhost`` (a local host that a
            pattern naming ``localhost``, ``127.0.0.1`` or ``::1`` selects when the
            inventory has no such host), by name.
        source: What the inventory was read from, for errors (``inventory hosts.ini``).

    Raises:
        InventoryError: Two hosts share a name.

    Example: ``Inventory([Host("gpu-01", "10.0.0.5")]).select("gpu-*")``.
    """

    def __init__(
        self,
        hosts: Iterable[Host],
        groups: Iterable[str] = (),
        *,
        members: Mapping[str, Sequence[str]] | None = None,
        implicit: Callable[[str], Mapping[str, Any]] | None = None,
        source: str = "inventory",
    ) -> None:
        self._where = source
        self._by_name: dict[str, Host] = {}
        for host in hosts:
            if host.name in self._by_name:
                raise InventoryError(f"duplicate host {host.name!r}")
            self._by_name[host.name] = host
        self._members = {name: tuple(found) for name, found in (members or self._derive(groups)).items()}
        for name in (ALL, UNGROUPED, *groups):
            self._members.setdefault(name, ())
        self._implicit = implicit
        self._hosts = tuple(self._by_name[name] for name in self._members[ALL])
        rank = {host.name: index for index, host in enumerate(self._hosts)}
        self._groups = MappingProxyType(
            {name: tuple(sorted(found, key=rank.__getitem__)) for name, found in self._members.items()})

    def _derive(self, groups: Iterable[str]) -> dict[str, list[str]]:
        names = dict.fromkeys([ALL, UNGROUPED, *groups])
        for host in self._by_name.values():
            names.update(dict.fromkeys(sorted(host.groups)))
        hosts = list(self._by_name.values())
        members = {name: [h.name for h in hosts if name in h.groups] for name in names}
        members[ALL] = [h.name for h in hosts]
        members[UNGROUPED] = [h.name for h in hosts if h.groups <= {ALL, UNGROUPED}]
        return members

    @property
    def hosts(self) -> tuple[Host, ...]:
        """All hosts, in inventory order (Ansible's order for ``all``)."""
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
        """Select hosts with an Ansible host pattern, exactly as ``ansible PATTERN`` does.

        Terms are separated by ``,`` or ``:``; each is a host or group name, a glob
        (``gpu-*``), a ``~regex`` (matched at the start of names), or one of those with a
        subscript (``gpu[0]``, ``gpu[-1]``, ``gpu[1:3]``, ``gpu[1:]``). ``&term`` intersects
        and ``!term`` excludes; unions apply first, then intersections, then exclusions. A
        term that matches nothing is ignored with a warning. ``None``, ``""``, ``all`` and
        ``*`` select everything; ``localhost`` selects Ansible's implicit local host when the
        inventory has none.

        Args:
            pattern: The pattern, e.g. ``"gpu:!gpu-03"`` or ``"gpu,&rack-a"``.

        Returns:
            The selected hosts, in the order ``ansible-playbook --limit PATTERN`` runs them
            (the inventory's order for ``all``, whatever the pattern's order).

        Raises:
            InventoryError: nothing is selected, the pattern is malformed, or a selected host
                has an ``ansible_connection`` other than ssh or local, or SSH options saying
                where or as whom to connect (``-o ProxyJump=...``: remediate reads them from
                ``~/.ssh/config``, not from the inventory).

        Example: ``inventory.select("gpu:&rack-a:!gpu-03")``.
        """
        selected = self._play_order(self._resolve(pattern or ALL))
        if not selected:
            raise InventoryError(f"host pattern {pattern or ALL!r} selects no hosts")
        for host in selected:
            host.check_connection(self._where)
        return selected

    def _play_order(self, selected: list[Host]) -> list[Host]:
        """``selected`` in the order ``ansible-playbook --limit`` runs them: the order of ``all``
        (the play's hosts), then an implicit ``localhost``, which ``all`` never contains."""
        if len(selected) < 2:
            return selected  # one order only: ``all`` is not asked (through Ansible, a run of it)
        chosen = {host.name for host in selected}
        ordered = [host for host in self._resolve(ALL) if host.name in chosen]
        placed = {host.name for host in ordered}
        return ordered + [host for host in selected if host.name not in placed]

    def _resolve(self, pattern: str) -> list[Host]:
        """The hosts ``pattern`` selects (Ansible's ``InventoryManager.get_hosts``)."""
        hosts: list[Host] = []
        for term in _order_terms(split_host_pattern(pattern)):
            if term in self._by_name:
                hosts.append(self._by_name[term])
                continue
            matched = self._match_term(term[1:] if term[0] in "&!" else term, term)
            names = {host.name for host in matched}
            if term[0] == "!":
                hosts = [host for host in hosts if host.name not in names]
            elif term[0] == "&":
                hosts = [host for host in hosts if host.name in names]
            else:
                known = {host.name for host in hosts}
                hosts.extend(host for host in matched if host.name not in known)
        return list({host.name: host for host in hosts}.values())

    def _match_term(self, expr: str, term: str) -> list[Host]:
        if not expr:
            raise InventoryError(f"host pattern {term!r} is empty")
        base, subscript = _split_subscript(expr)
        return _subscript(self._enumerate(base), subscript, expr)

    def _enumerate(self, expr: str) -> list[Host]:
        """Hosts of matching groups, plus matching hosts for a glob, a regex, or no group."""
        regex = _compile(expr)
        groups = [name for name in self._members if regex.match(name)]
        found = [self._by_name[host] for name in groups for host in self._members[name]]
        if not groups or expr.startswith("~") or any(c in expr for c in ".?*["):
            found += [host for name, host in self._by_name.items() if regex.match(name)]
        if not found and expr in LOCALHOST:
            found = [self._implicit_host(expr)]
        if not found and not groups and expr != ALL:
            _log.warning("host pattern %r matches no hosts or groups; ignored", expr)
        return found

    def _implicit_host(self, name: str) -> Host:
        variables = dict(self._implicit(name)) if self._implicit else {"ansible_connection": "local"}
        return _host(name, frozenset(), variables, self._where)


def choose_parser(parser: str | None = None) -> str:
    """Which reader loads inventories: ``ansible`` (``ansible-inventory``) or ``builtin``.

    Args:
        parser: ``auto``, ``ansible`` or ``builtin``; None reads ``REMEDIATE_INVENTORY_PARSER``
            (default ``auto``: Ansible when ``ansible-inventory`` and ``ansible`` are on PATH).

    Raises:
        InventoryError: an unknown choice, or ``ansible`` without Ansible on PATH.
    """
    choice = parser or os.environ.get("REMEDIATE_INVENTORY_PARSER") or "auto"
    if choice not in PARSERS:
        raise InventoryError(f"REMEDIATE_INVENTORY_PARSER={choice!r}: expected one of {', '.join(PARSERS)}")
    found = bool(shutil.which("ansible-inventory") and shutil.which("ansible"))
    if choice == "ansible" and not found:
        raise InventoryError("REMEDIATE_INVENTORY_PARSER=ansible: ansible-inventory is not on PATH"
                             " (install ansible-core)")
    if choice == "auto":
        return "ansible" if found else "builtin"
    return choice


def load_inventory(source: str | Path, *, parser: str | None = None,
                   playbook_dir: str | Path | None = None) -> Inventory:
    """Load an Ansible inventory source, as Ansible reads it.

    ``source`` is whatever ``ansible -i`` takes. Through Ansible (the default when
    ``ansible-inventory`` is on PATH): any file, directory, script, plugin configuration or
    vault, with the user's Ansible settings. Built in: INI files; YAML or JSON files
    (``.yml``, ``.yaml``, ``.json``, or no extension when they parse as YAML); directories of
    them; executable inventory scripts; ``h1,h2,`` host lists; and ``group_vars/`` /
    ``host_vars/`` beside the source. Both read the ``group_vars/`` and ``host_vars/`` in
    ``playbook_dir`` too, over those beside the source, as ``ansible-playbook`` does.

    Args:
        source: The inventory source.
        parser: ``auto``, ``ansible`` or ``builtin`` (see :func:`choose_parser`).
        playbook_dir: The directory of the playbook file (see
            :func:`remediate.core.playbook.playbook_dir`); None for a built-in playbook.

    Returns:
        The parsed Inventory.

    Raises:
        InventoryError: The source cannot be read or is invalid, or ``playbook_dir`` is no
            directory; one line, such as ``file:line: reason`` (or ``file: reason`` when no
            line applies).

    Example: ``load_inventory("inventory/hosts.ini", playbook_dir="site").select("gpu")``.
    """
    text = os.fspath(source)
    play = None if playbook_dir is None else os.fspath(playbook_dir)
    if play is not None and not os.path.isdir(play):
        raise InventoryError(f"{play}: playbook directory: not a directory", path=play)
    if choose_parser(parser) == "ansible":
        from remediate.fleet.ansible_inventory import load_with_ansible

        return load_with_ansible(text, play)
    builder = ParsedInventory()
    parse_source(builder, text)
    return _build(builder, [VarsFiles(text), *([] if play is None else [VarsFiles(play)])], f"inventory {text}")
