"""Lint playbooks: every error (with its file:line:column and field path) and the warnings.

:func:`~remediate.core.playbook.load_playbook` stops at the first error; :func:`lint` goes on:
all of the schema's errors, then, once the playbook is valid, the checks of its changes with the
defaults of its vars (a template that cannot render, a value that renders invalid, a missing
``file.template``) and the warnings (no ``verify``, ``safety: auto`` on a network or platform
change, an unused var, a change that overrides an earlier one). Each warning has a rule name
(:data:`RULES`); a comment ``# remediate-lint: disable=no-verify,unused-var`` in the file turns
those off for it.

Example::

    for finding in lint(Path("fix.yml")):
        print(finding)   # fix.yml:12:17: error: changes[0].mount.source: source must be an absolute path, ...
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from remediate.core import limits
from remediate.core import playbook as pb
from remediate.core.planner import ALLOW_ALL_INTERFACES, Observed, facts_of
from remediate.core.templating import is_true, referenced_names, render_value
from remediate.errors import PlaybookError

Severity = Literal["error", "warning"]

#: The warnings, by rule name.
RULES = {
    "no-verify": "the playbook has no verify step",
    "risky-auto": "safety: auto with a network, platform or image change",
    "unused-var": "a declared var that no template uses",
    "default-vars": "a template that cannot render (or renders invalid) with the default vars",
    "override": "a change that overrides an earlier one",
}
_DISABLE = re.compile(r"#[ \t]*remediate-lint:[ \t]*disable=([\w,\t -]+)")

#: Facts of the stand-in container that templates see when a playbook is linted.
LINT_CONTAINER: dict[str, Any] = {"Name": "/container", "Config": {"Image": "image", "Env": [], "Cmd": []}}


@dataclass(frozen=True)
class Finding:
    """One problem of a playbook file: where, how bad, what."""

    path: str
    severity: Severity
    field: str
    message: str
    line: int | None = None  # 1-based, when the YAML gives it
    column: int | None = None
    rule: str = ""  # a warning's rule name (RULES)

    def __str__(self) -> str:
        where = self.path + "".join(f":{n}" for n in (self.line, self.column) if n is not None)
        rule = f" [{self.rule}]" if self.rule else ""
        return f"{where}: {self.severity}: {self.field + ': ' if self.field else ''}{self.message}{rule}"

    def to_json(self) -> dict[str, Any]:
        """The finding as JSON-ready data."""
        return {"path": self.path, "line": self.line, "column": self.column, "severity": self.severity,
                "field": self.field, "message": self.message, "rule": self.rule or None}


def lint(path: Path, label: str | None = None) -> list[Finding]:
    """Every error and warning of the playbook file ``path`` (``label`` names it in the findings).

    Never raises for a bad playbook: an unreadable file or invalid YAML is one error finding.
    """
    name = label or str(path)
    try:
        text = limits.read_text(path, "playbook")
        data = limits.load_yaml(text)
    except limits.LimitExceeded as exc:
        return [Finding(name, "error", "", str(exc))]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or "not valid YAML"
        return [Finding(name, "error", "", str(problem), *_position(mark))]
    except OSError as exc:
        return [Finding(name, "error", "", exc.strerror or str(exc))]
    except UnicodeDecodeError:
        return [Finding(name, "error", "", "not UTF-8 text")]
    root = yaml.compose(text, Loader=yaml.SafeLoader)  # the same text load_yaml bounded: for positions
    if not isinstance(data, dict):
        return [Finding(name, "error", "", "a playbook must be a YAML mapping", *_position(root and root.start_mark))]
    locate = _Locator(name, root)
    try:
        book = pb.Playbook.model_validate(data)
    except ValidationError as exc:
        found = [locate(loc, msg, at_key=kind == "extra_forbidden") for loc, msg, kind in pb.validation_errors(exc, data)]
        return sorted(found, key=lambda f: (f.line or 0, f.column or 0))
    found = [*_checks(book, locate), *_warnings(book, data, locate)]
    disabled: set[str] = set()
    for match in _DISABLE.finditer(text):
        for rule in filter(None, (r.strip() for r in match[1].split(","))):
            disabled.add(rule)
            if rule not in RULES:
                found.append(Finding(name, "warning", "", f"remediate-lint: no rule {rule!r} (rules: {', '.join(RULES)})",
                                     text.count("\n", 0, match.start(1)) + 1, match.start(1) - text.rfind("\n", 0, match.start(1))))
    return sorted((f for f in found if f.rule not in disabled), key=lambda f: (f.line or 0, f.column or 0))


def _checks(book: pb.Playbook, locate: _Locator) -> Iterator[Finding]:
    """Each change, verify step, ``after``, ``revert_after`` and ``require`` with the defaults."""
    context = {**book.vars, "container": facts_of(Observed(LINT_CONTAINER))}
    items: list[tuple[tuple[Any, ...], type[BaseModel], BaseModel]] = [
        *((("changes", i), type(c), c) for i, c in enumerate(book.changes)),
        *((("verify", i, "http"), pb.HttpProbe, v.http) for i, v in enumerate(book.verify))]
    for loc, model, item in items:
        try:
            data = render_value(item.model_dump(by_alias=True), context, playbook=book.name, field=pb.format_loc(loc))
            model.model_validate(data, context={"rendered": True})
        except PlaybookError as exc:
            yield locate(_loc(exc.field), f"with the default vars: {_reason(exc, book)}", "default-vars")
        except ValidationError as exc:
            for where, msg, _ in pb.validation_errors(exc):
                yield locate(loc + where, f"with the default vars: {msg}", "default-vars")
    for i, change in enumerate(book.changes):
        if isinstance(change, pb.FileChange) and change.file.template is not None:
            try:
                pb.template_bytes(change.file.template)
            except PlaybookError as exc:
                yield locate(("changes", i, "file", "template"), str(exc))
    for field, render in (("after", lambda: render_value(book.after, book.vars, playbook=book.name, field="after")),
                          ("revert_after", lambda: pb.render_revert_after(book, book.vars))):
        try:
            render()
        except PlaybookError as exc:
            yield locate((field,), f"with the default vars: {_reason(exc, book)}", "default-vars")
    for i, req in enumerate(book.require):
        try:
            is_true(req.that, book.vars, playbook=book.name, field=f"require[{i}].that")
        except PlaybookError as exc:
            yield locate(("require", i, "that"), f"with the default vars: {_reason(exc, book)}", "default-vars")


def _warnings(book: pb.Playbook, data: dict[str, Any], locate: _Locator) -> Iterator[Finding]:
    if not book.verify:
        yield locate(("verify",), "no verify step: only 'the container keeps running' is checked after the change",
                     "no-verify", parent=True)
    if book.safety == "auto":
        for i, change in enumerate(book.changes):
            if isinstance(change, (pb.NetworkChange, pb.PlatformChange, pb.ImageChange)):
                kind = _targets(change)[0]
                article = "an" if kind == "image" else "a"
                yield locate(("safety",), f"safety: auto applies {article} {kind} change (changes[{i}]) without asking; "
                                          "use safety: confirm", "risky-auto")
    used = set().union(*(referenced_names(s) for s in _templates(data)))
    used |= set().union(*(referenced_names(r.that, expression=True) for r in book.require))
    used.add(ALLOW_ALL_INTERFACES)  # read by the planner itself, not by a template
    for var in book.vars:
        if var not in used:
            yield locate(("vars", var), f"var {var!r} is declared but no template uses it", "unused-var", at_key=True)
    seen: dict[str, int] = {}
    for i, change in enumerate(book.changes):
        for key in _targets(change):
            if key in seen:
                yield locate(("changes", i), f"changes[{i}] overrides changes[{seen[key]}] ({key})", "override")
            seen[key] = i


def _targets(change: Any) -> list[str]:
    """What a change sets: a later change that sets the same thing overrides it."""
    if isinstance(change, pb.EnvChange):
        return [f"env {k}" for k in change.env]
    if isinstance(change, pb.ArgsChange):
        return [f"arg {k}" for k in (*change.args.set, *change.args.remove)]
    if isinstance(change, pb.MountChange):
        return [f"mount {change.mount.target}"]
    if isinstance(change, pb.FileChange):
        return [f"file {change.file.dest}"]
    if isinstance(change, pb.TmpfsChange):
        return [f"tmpfs {change.tmpfs.target}"]
    if isinstance(change, (pb.IpcChange, pb.ShmSizeChange)):
        return ["ipc" if isinstance(change, pb.IpcChange) else "shm_size"]
    if isinstance(change, pb.PortsChange):
        # A template is compared as written (its port is known only once rendered).
        ports = [p if "{" in p else "{2}/{3}".format(*pb.parse_publish(p)) for p in change.ports.publish]
        ports += [str(p) if "{" in str(p) else pb.port_key(p) for p in change.ports.unpublish]
        return [f"port {p}" for p in dict.fromkeys(ports)]
    if isinstance(change, pb.ImageChange):
        return ["image"]
    if isinstance(change, pb.GpusChange):
        return ["gpus"]
    if isinstance(change, pb.RestartChange):
        return ["restart"]
    if isinstance(change, pb.ResourcesChange):
        return [f"resources {k}" for k in change.resources.values()]
    return ["network" if isinstance(change, pb.NetworkChange) else "platform"]


def _templates(data: Any) -> Iterator[str]:
    """Every string (dict keys too) of the rendered parts of a playbook's data."""
    def walk(value: Any) -> Iterator[str]:
        if isinstance(value, str):
            yield value
        elif isinstance(value, dict):
            for k, v in value.items():
                yield from walk(k)
                yield from walk(v)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v)
    for key in ("changes", "verify", "after", "revert_after", "start"):
        yield from walk(data.get(key))
    for req in data.get("require") or []:
        yield from walk(req.get("msg"))


def _loc(field: str | None) -> tuple[Any, ...]:
    """``changes[0].http`` -> ``("changes", 0, "http")``."""
    out: list[Any] = []
    for part in (field or "").replace("[", ".[").split("."):
        if part.startswith("[") and part.endswith("]") and part[1:-1].isdigit():
            out.append(int(part[1:-1]))
        elif part:
            out.append(part)
    return tuple(out)


def _reason(exc: PlaybookError, book: pb.Playbook) -> str:
    """The error's message without the playbook and field it starts with (the finding has them)."""
    return str(exc).removeprefix(f"{book.name}: ").removeprefix(f"{exc.field}: ")


def _position(mark: Any) -> tuple[int | None, int | None]:
    return (mark.line + 1, mark.column + 1) if mark is not None else (None, None)


class _Locator:
    """Turns a pydantic location into a finding placed at its YAML node."""

    def __init__(self, path: str, root: yaml.Node | None) -> None:
        self.path, self.root = path, root

    def __call__(self, loc: tuple[Any, ...], message: str, rule: str = "", *,
                 parent: bool = False, at_key: bool = False) -> Finding:
        """An error (a warning when ``rule`` names one) at ``loc``."""
        node = self.node(loc[:-1] if parent else loc, at_key=at_key)
        return Finding(self.path, "warning" if rule else "error", pb.format_loc(loc), message,
                       *_position(node and node.start_mark), rule=rule)

    def node(self, loc: tuple[Any, ...], *, at_key: bool = False) -> yaml.Node | None:
        """The deepest node of the YAML on the path ``loc`` (a missing key: its mapping; with
        ``at_key``, the last key rather than its value)."""
        node = self.root
        for i, part in enumerate(loc):
            if isinstance(node, yaml.MappingNode):
                found = next(((k, v) for k, v in node.value if k.value == str(part)), None)
                if found is None:
                    return node
                key, value = found
                node = key if at_key and i == len(loc) - 1 else value
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
            else:
                return node
        return node
