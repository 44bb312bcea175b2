"""Reading Ansible inventory text: INI and YAML syntax, host ranges, host addresses (IPv6
included), and variable checks, each as Ansible's own plugin reads it (files, directories,
scripts and vars files are :mod:`remediate.fleet.inventory_sources`).

The result is a :class:`ParsedInventory`: groups (their own hosts and children, in the order
Ansible records them) and variables as the sources state them, before inheritance;
:mod:`remediate.fleet.inventory` builds hosts from it. Pure data: no network.
Files, values and host ranges are bounded by :mod:`remediate.core.limits` (at most
:data:`~remediate.core.limits.MAX_HOSTS` hosts, ranges expanded).
"""

from __future__ import annotations

import ast
import ipaddress
import itertools
import logging
import re
import shlex
import string
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from remediate.core import limits
from remediate.core.redaction import redact_text
from remediate.errors import InventoryError

_log = logging.getLogger(__name__)

ALL = "all"
UNGROUPED = "ungrouped"

# Section and child-group syntax exactly as Ansible's ini plugin accepts it.
_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:#.*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:#.*)?$")
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_NUMERIC_RANGE = r"\[[0-9]+:[0-9]+(?::[0-9]+)?\]"
_ALNUM_RANGE = r"\[(?:[a-z]:[a-z]|[0-9]+:[0-9]+)(?::[0-9]+)?\]"
_LABEL = rf"(?:\w|{_ALNUM_RANGE})(?:[\w-]|{_ALNUM_RANGE})*(?<![_-])"
_HOSTNAME = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*$", re.IGNORECASE)
_IPV4_PART = rf"(?:[01]?[0-9]{{1,2}}|2[0-4][0-9]|25[0-5]|{_NUMERIC_RANGE})"
_IPV4 = re.compile(rf"^(?:{_IPV4_PART}\.){{3}}{_IPV4_PART}$")
_BRACKETED_PORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
_HOST_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_PORT_DIGITS = 9
_NUMBER = re.compile(r"^[0-9]+$")
_RANGE_DIGITS = 9  # range bounds and steps: int() of a 5000-digit bound would raise ValueError
_MAX_INI_LINE = 64 * 1024  # shlex takes quadratic time in a token's length (0.8 s at 256 KiB)


class InvalidEntry(ValueError):
    """A parse problem without location; the reader of the file adds file and line."""


def parse_address(text: str, allow_ranges: bool = False) -> tuple[str, int | None]:
    """Split a host identifier and optional port, as Ansible's ``parse_address`` does.

    ``name:22``, ``10.0.0.1:22`` and ``[2001:db8::2]:22`` carry a port; a bare IPv6 address has
    none. With ``allow_ranges``, names may hold ``[1:3]``/``[a:c]`` ranges.

    Raises:
        ValueError: not a host name, IPv4 or IPv6 address (with that optional port).
    """
    port: int | None = None
    for pattern in (_BRACKETED_PORT, _HOST_PORT):  # both, in turn: "[h]:1" then "h:2"
        match = pattern.match(text)
        if match is not None:
            if len(match.group(2)) > _PORT_DIGITS:
                raise ValueError(f"port of {text!r} is too long")
            text, port = match.group(1), int(match.group(2))
    if not (_IPV4.match(text) or _is_ipv6(text) or _HOSTNAME.match(text)):
        raise ValueError(f"not a valid host name: {text!r}")
    if not allow_ranges and "[" in text:
        raise ValueError(f"a range in host name {text!r}")
    return text, port


def _is_ipv6(text: str) -> bool:
    if ":" not in text or "%" in text or "[" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True



class ConnectionVars(BaseModel):
    """The Ansible connection variables a Host is built from; other variables pass through. Of
    two spellings, the older ``ansible_ssh_*`` one wins, as in Ansible's ssh plugin (the first
    alias found is used)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    address: str | None = Field(
        None,
        validation_alias=AliasChoices("ansible_ssh_host", "ansible_host"),
        description="Address to connect to; the inventory name when unset.",
    )
    port: int = Field(
        22,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("ansible_ssh_port", "ansible_port"),
        description="SSH port.",
    )
    user: str | None = Field(
        None,
        validation_alias=AliasChoices("ansible_ssh_user", "ansible_user"),
        description="SSH user; the SSH default when unset.",
    )
    key_file: str | None = Field(
        None,
        validation_alias=AliasChoices("ansible_ssh_private_key_file", "ansible_private_key_file"),
        description="SSH private key file.",
    )
    docker_host: str | None = Field(
        None,
        validation_alias="remediate_docker_host",
        description="Docker endpoint (unix:// or ssh://) overriding the derived one.",
    )
    jump: str | None = Field(
        None,
        description="Jump host(s) from the SSH options (-J, -o ProxyJump=): [user@]host[:port][,...].",
    )

    @field_validator("port", mode="before")
    @classmethod
    def _no_bool_port(cls, value: Any) -> Any:
        # bool is an int subclass; pydantic reports only ValueError as a validation error.
        if isinstance(value, bool):
            raise ValueError("Input should be a valid integer")  # noqa: TRY004
        return value


def check_var(key: str, value: Any) -> None:
    """Reject a connection or priority variable whose value cannot be used.

    Raises:
        InvalidEntry: ``invalid KEY=VALUE: reason``.
    """
    if key == "ansible_group_priority":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidEntry(f"invalid ansible_group_priority={value!r}: must be an integer")
        return
    if isinstance(value, str) and ("{{" in value or "{%" in value):
        return  # a template: checked once rendered, when the host is built
    try:  # other variables are ignored by the model
        ConnectionVars.model_validate({key: value})
    except ValidationError as exc:
        raise InvalidEntry(f"invalid {key}={value!r}: {exc.errors()[0]['msg']}") from None


@dataclass
class ParsedGroup:
    """One group as its sources state it: own hosts and child groups (in the order Ansible adds
    them), own variables, and ``ansible_group_priority`` (which Ansible keeps out of the vars)."""

    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)
    priority: int = 1


class ParsedInventory:
    """Groups (hosts, children, variables) and hosts (variables, groups) as the sources state
    them; dictionaries keep the order in which Ansible would create each group and host."""

    def __init__(self) -> None:
        self.groups: dict[str, ParsedGroup] = {ALL: ParsedGroup(children=[UNGROUPED]), UNGROUPED: ParsedGroup()}
        self.host_vars: dict[str, dict[str, Any]] = {}
        self.host_groups: dict[str, list[str]] = {}

    def add_group(self, name: str) -> None:
        """Know a group (empty until hosts, children or variables are added)."""
        self.groups.setdefault(name, ParsedGroup())

    def set_group_var(self, group: str, key: str, value: Any) -> None:
        """Set a group variable (connection variables are checked here)."""
        check_var(key, value)
        self.add_group(group)
        if key == "ansible_group_priority":
            self.groups[group].priority = value
        else:
            self.groups[group].vars[key] = value

    def add_host(
        self, name: str, group: str | None, variables: Mapping[str, Any], port: int | None = None
    ) -> None:
        """Put a host in a group (or none), with variables of its own (merged over earlier ones).

        ``port`` (from ``name:port``) applies only where the host first appears, as in Ansible.
        """
        for key, value in variables.items():
            check_var(key, value)
        if name not in self.host_vars:
            if len(self.host_vars) >= limits.MAX_HOSTS:
                raise InvalidEntry(f"more than {limits.MAX_HOSTS} hosts")
            if port is not None:
                check_var("ansible_port", port)
            self.host_vars[name] = {} if port is None else {"ansible_port": port}
            self.host_groups[name] = []
        self.host_vars[name].update(variables)
        if group is not None:
            self.add_group(group)
            if name not in self.groups[group].hosts:
                self.groups[group].hosts.append(name)
                self.host_groups[name].append(group)

    def add_child(self, parent: str, child: str) -> None:
        """Make ``child`` a child group of ``parent``; loops and ``all`` as a child are refused."""
        if child == ALL:
            raise InvalidEntry(f"group 'all' cannot be a child of group {parent!r}")
        if child == parent or parent in self._descendants(child):
            raise InvalidEntry(f"adding group {child!r} to {parent!r} creates a dependency loop")
        self.add_group(parent)
        self.add_group(child)
        if child not in self.groups[parent].children:
            self.groups[parent].children.append(child)

    def _descendants(self, group: str) -> set[str]:
        seen: set[str] = set()
        stack = list(self.groups[group].children) if group in self.groups else []
        while stack:
            name = stack.pop()
            if name not in seen:
                seen.add(name)
                stack.extend(self.groups[name].children)
        return seen


# ---------------------------------------------------------------------------- host patterns


def _range_step(text: str, spec: str) -> int:
    if not _NUMBER.match(text) or len(text) > _RANGE_DIGITS or int(text) < 1:
        raise InvalidEntry(f"bad host range [{spec}]: step must be a positive integer")
    return int(text)


def _numeric_range(begin: str, end: str, step: int, spec: str) -> list[str]:
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise InvalidEntry(f"bad host range [{spec}]: zero-padded bounds must have equal length")
    if max(len(begin), len(end)) > _RANGE_DIGITS:
        raise InvalidEntry(f"bad host range [{spec}]: bounds of more than {_RANGE_DIGITS} digits")
    if int(begin) > int(end):
        raise InvalidEntry(f"bad host range [{spec}]: begin must not exceed end")
    if (int(end) - int(begin)) // step + 1 > limits.MAX_HOSTS:
        raise InvalidEntry(f"host range [{spec}] has more than {limits.MAX_HOSTS} hosts")
    return [str(number).zfill(width) for number in range(int(begin), int(end) + 1, step)]


def _alpha_range(begin: str, end: str, step: int, spec: str) -> list[str]:
    first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
    if first > last:
        raise InvalidEntry(f"bad host range [{spec}]: begin must not exceed end")
    return list(string.ascii_letters[first : last + 1 : step])


def _range_items(spec: str) -> list[str]:
    """Expand the inside of one ``[begin:end(:step)]`` range, as Ansible does."""
    bounds = spec.split(":")
    if len(bounds) not in (2, 3):
        raise InvalidEntry(f"bad host range [{spec}]: expected [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    if not end:
        raise InvalidEntry(f"bad host range [{spec}]: missing end value")
    step = _range_step(bounds[2] if len(bounds) == 3 else "1", spec)
    if _NUMBER.match(begin) and _NUMBER.match(end):
        return _numeric_range(begin, end, step, spec)
    if (
        len(begin) == len(end) == 1
        and begin in string.ascii_letters
        and end in string.ascii_letters
    ):
        return _alpha_range(begin, end, step, spec)
    raise InvalidEntry(f"bad host range [{spec}]: bounds must be two numbers or two letters")


def _expand_ranges(name: str) -> list[str]:
    """Expand every ``[a:b]`` range in a host name, left to right (at most MAX_HOSTS names)."""
    parts = _RANGE.split(name)  # literal, range, literal, range, ..., literal
    if any("[" in text or "]" in text for text in parts[::2]):
        raise InvalidEntry(f"unbalanced brackets in host name {name!r}")
    choices: list[list[str]] = []
    total = 1
    for index, text in enumerate(parts):
        if index % 2 == 0:
            choices.append([text])
            continue
        try:
            items = _range_items(text)
        except InvalidEntry as exc:
            raise InvalidEntry(f"{exc} in host name {name!r}") from None
        total *= len(items)
        if total > limits.MAX_HOSTS:
            raise InvalidEntry(f"host name {name!r} expands to more than {limits.MAX_HOSTS} hosts")
        choices.append(items)
    return ["".join(combo) for combo in itertools.product(*choices)]


def _expand_hostpattern(pattern: str) -> tuple[list[str], int | None]:
    """Turn ``gpu-[01:04]:2222`` into host names and an optional port (Ansible's rules: a
    pattern that is no valid address is taken as it stands)."""
    try:
        name, port = parse_address(pattern, allow_ranges=True)
    except ValueError:
        name, port = pattern, None
    if pattern.strip().endswith(":") and port is None:
        raise InvalidEntry(f"invalid host pattern {pattern!r}: ':' is reserved for a port")
    names = _expand_ranges(name) if "[" in name else [name]
    if "---" in (host.strip() for host in names):
        raise InvalidEntry("invalid host pattern '---': YAML inventories need a .yml extension")
    return names, port


def _add_hosts(builder: ParsedInventory, pattern: str, group: str, variables: Mapping[str, Any]) -> None:
    names, port = _expand_hostpattern(pattern)
    for name in names:
        builder.add_host(name, group, variables, port)


# ---------------------------------------------------------------------------- INI


def _plain(value: Any) -> Any:
    """Normalize a literal_eval result to YAML-like types; raise TypeError for others."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {_plain(key): _plain(item) for key, item in value.items()}
    raise TypeError(type(value).__name__)


def _parse_value(text: str) -> Any:
    """Parse an INI value as a Python literal when possible, else keep the string (Ansible)."""
    try:
        limits.check_value(text)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            value = _plain(ast.literal_eval(text))
    except limits.LimitExceeded as exc:
        raise InvalidEntry(str(exc)) from None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    try:
        limits.check_value(value)
    except limits.LimitExceeded as exc:
        raise InvalidEntry(str(exc)) from None
    return value


@dataclass(frozen=True)
class _Section:
    group: str
    kind: str


@dataclass
class _Pending:
    """A group named before it is declared: in ``[g:vars]`` or as a child (with its parents)."""

    kind: str
    line: int
    parents: list[str] = field(default_factory=list)


def _attach_pending(builder: ParsedInventory, group: str, pending: dict[str, _Pending]) -> None:
    """A declared group joins the parents that named it as a child (Ansible's order)."""
    for parent in pending[group].parents:
        builder.add_child(parent, group)
        if parent in pending and pending[parent].kind == "children":
            _attach_pending(builder, parent, pending)
    del pending[group]


def _ini_section(
    builder: ParsedInventory, match: re.Match[str], pending: dict[str, _Pending], lineno: int
) -> _Section:
    group, kind = match.group(1), match.group(2) or "hosts"
    if kind not in ("hosts", "children", "vars"):
        raise InvalidEntry(f"section [{group}:{kind}] has unknown type: {kind}")
    if group not in builder.groups:
        if kind == "vars" and group not in pending:
            pending[group] = _Pending("vars", lineno)
        builder.add_group(group)
    if group in pending and kind != "vars":
        if pending[group].kind == "children":
            _attach_pending(builder, group, pending)
        else:
            del pending[group]
    return _Section(group, kind)


def _ini_hosts(builder: ParsedInventory, line: str, group: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise InvalidEntry(f"cannot parse host definition {redact_text(line)!r}: {exc}") from None
    if not tokens:
        return
    variables: dict[str, Any] = {}
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise InvalidEntry(f"expected key=value host variable, got {token!r}")
        variables[key] = _parse_value(value)
    _add_hosts(builder, tokens[0], group, variables)


def _ini_var(builder: ParsedInventory, line: str, group: str) -> None:
    key, sep, value = (part.strip() for part in line.partition("="))
    if not sep or not key:
        raise InvalidEntry(f"expected key=value, got {line!r}")
    builder.set_group_var(group, key, _parse_value(value))


def _ini_child(
    builder: ParsedInventory, line: str, group: str, pending: dict[str, _Pending], lineno: int
) -> None:
    match = _GROUP_NAME.match(line)
    if match is None:
        raise InvalidEntry(f"expected a group name, got {line!r}")
    child = match.group(1)
    if child in builder.groups:
        builder.add_child(group, child)
    elif child in pending:
        pending[child].parents.append(group)
    else:  # declared later, or never: then the inventory is refused, as by Ansible
        pending[child] = _Pending("children", lineno, [group])


def _ini_line(
    builder: ParsedInventory, line: str, section: _Section, pending: dict[str, _Pending], lineno: int
) -> _Section:
    """Apply one non-comment INI line; return the section that follows it."""
    match = _SECTION.match(line)
    if match is not None:
        return _ini_section(builder, match, pending, lineno)
    if line.startswith("[") and line.endswith("]"):
        raise InvalidEntry(f"invalid section header {line!r}: no spaces or extra ':' allowed")
    if section.kind == "hosts":
        _ini_hosts(builder, line, section.group)
    elif section.kind == "vars":
        _ini_var(builder, line, section.group)
    else:
        _ini_child(builder, line, section.group, pending, lineno)
    return section


def parse_ini(builder: ParsedInventory, text: str, source: str) -> None:
    """Read an INI inventory into ``builder``.

    Raises:
        InventoryError: ``file:line: reason``.
    """
    section = _Section(UNGROUPED, "hosts")
    pending: dict[str, _Pending] = {}
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if len(line) > _MAX_INI_LINE:
            reason = f"line of {len(line)} characters (at most {_MAX_INI_LINE})"
            raise InventoryError(f"{source}:{lineno}: {reason}", path=source, line=lineno)
        try:
            section = _ini_line(builder, line, section, pending, lineno)
        except InvalidEntry as exc:
            raise InventoryError(f"{source}:{lineno}: {exc}", path=source, line=lineno) from None
    for group, declared in pending.items():
        if declared.kind == "vars":
            reason = f"section [{group}:vars] is not valid for undefined group {group!r}"
        else:
            reason = f"section [{declared.parents[-1]}:children] includes undefined group {group!r}"
        raise InventoryError(f"{source}:{declared.line}: {reason}", path=source, line=declared.line)


# ---------------------------------------------------------------------------- YAML


def type_name(value: Any) -> str:
    """The YAML-ish name of a value's type, for messages."""
    return "null" if value is None else type(value).__name__


def _yaml_section(group: str, key: str, value: Any) -> dict[Any, Any] | None:
    """Normalize a group's vars/children/hosts entry to a mapping (a string means one key)."""
    if isinstance(value, str):
        return {value: None}
    if value is not None and not isinstance(value, dict):
        raise InvalidEntry(f"group {group!r}: {key!r} must be a mapping, got {type_name(value)}")
    return value


def _yaml_hosts(builder: ParsedInventory, group: str, hosts: Mapping[Any, Any]) -> None:
    for pattern, variables in hosts.items():
        if not isinstance(pattern, str):
            raise InvalidEntry(f"host pattern {pattern!r} in group {group!r} must be a string: quote it")
        if variables is not None and not isinstance(variables, dict):
            raise InvalidEntry(
                f"host {pattern!r} in group {group!r}: variables must be a mapping,"
                f" got {type_name(variables)}"
            )
        _add_hosts(builder, pattern, group, {str(k): v for k, v in (variables or {}).items()})


def group_name(name: Any) -> str:
    """``name`` when it can name a group (a non-empty string).

    Raises:
        InvalidEntry: it cannot.
    """
    if not isinstance(name, str) or not name:
        raise InvalidEntry(f"invalid group name {name!r}: it must be a non-empty string")
    return name


def _yaml_group(builder: ParsedInventory, name: str, body: Any, stack: tuple[str, ...]) -> None:
    """Read one group definition (one that is no mapping is skipped with a warning, as by Ansible)."""
    if name in stack:
        raise InvalidEntry(f"adding group {name!r} to {stack[-1]!r} creates a dependency loop")
    if body is not None and not isinstance(body, dict):
        _log.warning("inventory: skipping %r: not a valid group definition", name)
        return
    builder.add_group(name)
    sections = {key: _yaml_section(name, key, value) for key, value in (body or {}).items()
                if key in ("vars", "children", "hosts")}
    for key in body or {}:
        if key not in ("vars", "children", "hosts"):
            _log.warning("inventory: group %r: skipping unexpected key %r", name, key)
            continue
        section = sections[key] or {}
        if key == "vars":
            for var, var_value in section.items():
                builder.set_group_var(name, str(var), var_value)
        elif key == "hosts":
            _yaml_hosts(builder, name, section)
        else:
            for child, child_body in section.items():
                child = group_name(child)
                _yaml_group(builder, child, child_body, (*stack, name))
                builder.add_child(name, child)


class _InventoryLoader(limits.SAFE_LOADER):  # type: ignore[misc,valid-type]
    """Safe YAML plus Ansible's tags: ``!unsafe`` values are plain data (remediate renders no
    inventory templates anyway); ``!vault`` values need Ansible to decrypt them."""


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)  # type: ignore[arg-type]


def _vault(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "a vault-encrypted value (!vault) needs Ansible: install ansible-core, so that"
        " remediate reads the inventory with ansible-inventory (and your vault settings)", node.start_mark)


_InventoryLoader.add_constructor("!unsafe", _unsafe)
_InventoryLoader.add_constructor("!vault", _vault)


def load_yaml_text(text: str, source: str) -> Any:
    """One bounded YAML document.

    Raises:
        InventoryError: ``file[:line]: reason``.
    """
    try:
        return limits.load_yaml(text, _InventoryLoader)
    except limits.LimitExceeded as exc:
        raise InventoryError(f"{source}: {exc}", path=source) from None
    except yaml.MarkedYAMLError as exc:
        reason = exc.problem or exc.context or "syntax error"
        if exc.problem_mark is None:
            raise InventoryError(f"{source}: invalid YAML: {reason}", path=source) from exc
        line = exc.problem_mark.line + 1
        raise InventoryError(
            f"{source}:{line}: invalid YAML: {reason}", path=source, line=line
        ) from exc
    except yaml.YAMLError as exc:
        raise InventoryError(f"{source}: invalid YAML: {exc}", path=source) from exc


def parse_yaml(builder: ParsedInventory, data: Any, source: str) -> None:
    """Read a YAML (or JSON) inventory document into ``builder``.

    Raises:
        InventoryError: ``file: reason``.
    """
    try:
        if data is None:
            raise InvalidEntry("empty YAML inventory")
        if not isinstance(data, dict):
            raise InvalidEntry(f"a YAML inventory must be a mapping of groups, got {type_name(data)}")
        if "plugin" in data:
            raise InvalidEntry(
                "inventory plugin configurations are not supported without Ansible: install"
                " ansible-core, so that remediate reads them with ansible-inventory"
            )
        for name, body in data.items():
            _yaml_group(builder, group_name(name), body, ())
    except InvalidEntry as exc:
        raise InventoryError(f"{source}: {exc}", path=source) from None


def sniff_yaml(text: str, source: str) -> dict[Any, Any] | None:
    """Return the data of a YAML inventory without a YAML extension (a mapping of groups), else None."""
    try:
        data = limits.load_yaml(text, _InventoryLoader)
    except limits.LimitExceeded as exc:
        raise InventoryError(f"{source}: {exc}", path=source) from None
    except yaml.YAMLError:
        return None
    if (
        isinstance(data, dict)
        and data
        and all(value is None or isinstance(value, dict) for value in data.values())
    ):
        return data
    return None
