"""Bounds on user input: file size, YAML nesting, alias expansion, value size, integer digits.

Playbooks, ``-e`` variables, vars files, inventories and saved plans are read through these
functions, so an absurd input (a billion-laughs alias bomb, YAML nested 100k deep, a 5 MB value,
a 5000-digit integer) is refused with one :class:`LimitExceeded` line in well under a second,
before anything else looks at it. Callers turn it into their own error (with the file's name).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

#: Largest playbook, vars file, inventory or saved plan read (bytes).
MAX_FILE_BYTES = 4 * 1024 * 1024
#: Largest single value: a string, a rendered template, an ``-e`` value (characters).
MAX_VALUE_CHARS = 1024 * 1024
#: Deepest nesting of mappings and lists.
MAX_DEPTH = 64
#: Most nodes in one document, counted with aliases expanded (a billion laughs has 10^9).
MAX_NODES = 100_000
#: Most digits of an integer (Python refuses to convert more than 4300 anyway).
MAX_INT_DIGITS = 100
#: Most hosts an inventory may hold, ranges expanded.
MAX_HOSTS = 10_000

_INT_TAG = "tag:yaml.org,2002:int"
_YAML_ERRORS = (yaml.YAMLError, RecursionError)
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
#: The loader :func:`load_yaml` uses; subclass it to add tags (e.g. Ansible's ``!unsafe``).
SAFE_LOADER = _Loader
# Mapping keys YAML 1.1 would read as `<<` merges are plain values for us; the C and pure-Python
# loaders agree on everything else remediate reads.


class LimitExceeded(ValueError):
    """An input is larger, deeper or more repetitive than remediate accepts."""


def read_text(path: Path, what: str = "file") -> str:
    """A UTF-8 text file, refused when larger than :data:`MAX_FILE_BYTES` (checked before reading).

    Raises:
        LimitExceeded: the file is too large.
        OSError, UnicodeDecodeError: as ``Path.read_text`` (callers word these themselves).
    """
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise LimitExceeded(f"{what} is {size} bytes, more than the {_mib(MAX_FILE_BYTES)} accepted")
    return path.read_text(encoding="utf-8-sig")


def load_yaml(text: str, loader: type[yaml.SafeLoader] | None = None) -> Any:
    """Parse one YAML document (safe types only) within the bounds of this module.

    The events are scanned first (iteratively: no recursion, whatever the nesting), then the
    composed node graph is measured with aliases expanded (memoized: a billion laughs costs
    its few distinct nodes), and only then are Python objects built.

    Raises:
        LimitExceeded: too large, too deep, too many nodes, a recursive alias, a too long
            string or integer.
        yaml.YAMLError: not valid YAML.

    ``loader`` (default :data:`SAFE_LOADER`) must be a subclass of it.
    """
    if len(text) > MAX_FILE_BYTES:
        raise LimitExceeded(f"document is larger than {_mib(MAX_FILE_BYTES)}")
    _scan_events(text)
    parser = (loader or _Loader)(text)
    try:
        node = parser.get_single_node()
        if node is None:
            return None
        _measure(node)
        return parser.construct_document(node)
    finally:
        parser.dispose()


def load_json(text: str) -> Any:
    """Parse JSON within the bounds of this module.

    Raises:
        LimitExceeded: too large, too deep, too many values, a too long string or integer.
        ValueError: not valid JSON.
    """
    if len(text) > MAX_FILE_BYTES:
        raise LimitExceeded(f"document is larger than {_mib(MAX_FILE_BYTES)}")
    # json recurses per nesting level: refuse deep documents before it does.
    depth = 0
    for match in _JSON_STRUCTURE.finditer(text):
        token = match.group()
        if token[0] in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise LimitExceeded(f"nested more than {MAX_DEPTH} levels deep")
        elif token[0] in "]}":
            depth -= 1
    try:
        value = json.loads(text, parse_int=_json_int)
    except RecursionError:
        raise LimitExceeded(f"nested more than {MAX_DEPTH} levels deep") from None
    check_value(value)
    return value


# Strings are matched whole so brackets inside them do not count as nesting.
_JSON_STRUCTURE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _json_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise LimitExceeded(f"an integer has more than {MAX_INT_DIGITS} digits")
    return int(text)


def check_value(value: Any, what: str = "value") -> None:
    """Refuse a value (from ``-e``, an INI inventory, JSON) beyond the bounds of this module.

    Raises:
        LimitExceeded: a string longer than :data:`MAX_VALUE_CHARS`, an integer with more than
            :data:`MAX_INT_DIGITS` digits, nesting deeper than :data:`MAX_DEPTH`, or more than
            :data:`MAX_NODES` values in all.
    """
    count = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise LimitExceeded(f"{what} has more than {MAX_NODES} items")
        if isinstance(item, str):
            _check_chars(len(item), what)
        elif isinstance(item, int) and not isinstance(item, bool):
            if item.bit_length() > MAX_INT_DIGITS * 3.33:  # 3.32 bits per decimal digit
                raise LimitExceeded(f"{what}: an integer has more than {MAX_INT_DIGITS} digits")
        elif isinstance(item, (list, tuple, dict)):
            if depth > MAX_DEPTH:
                raise LimitExceeded(f"{what} is nested more than {MAX_DEPTH} levels deep")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def _check_chars(length: int, what: str) -> None:
    if length > MAX_VALUE_CHARS:
        raise LimitExceeded(f"{what}: a value of {length} characters (at most {_mib(MAX_VALUE_CHARS)})")


def _scan_events(text: str) -> None:
    """Depth, node count and scalar length from the event stream, before any node is built."""
    depth = nodes = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise LimitExceeded(f"line {_line(event)}: nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        elif isinstance(event, yaml.ScalarEvent):
            _check_chars(len(event.value), f"line {_line(event)}")
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_NODES:
                raise LimitExceeded(f"more than {MAX_NODES} values")


def _measure(root: yaml.Node) -> None:
    """Count nodes with aliases expanded (memoized per node); refuse cycles and long integers."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()
    # Iterative post-order walk: (node, children done?)
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            on_path.discard(key)
            size = 1 + sum(sizes[id(child)] for child in _children(node))
            if size > MAX_NODES:
                raise LimitExceeded(f"line {node.start_mark.line + 1}: more than {MAX_NODES} values "
                                    "once aliases are expanded")
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise LimitExceeded(f"line {node.start_mark.line + 1}: an alias refers to a node that contains it")
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _INT_TAG and sum(c.isalnum() for c in node.value) > MAX_INT_DIGITS:
                raise LimitExceeded(f"line {node.start_mark.line + 1}: an integer has more than "
                                    f"{MAX_INT_DIGITS} digits")
            sizes[key] = 1
            continue
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _line(event: yaml.Event) -> int:
    mark = event.start_mark
    return mark.line + 1 if mark is not None else 0


def _mib(size: int) -> str:
    return f"{size // (1024 * 1024)} MiB"
