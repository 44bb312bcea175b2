"""The public surface: every remediate type a public function or method returns is exported."""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable, Iterator
from typing import Any

import remediate


def _types_in(annotation: Any) -> Iterator[type]:
    if isinstance(annotation, type):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _types_in(arg)


def _public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    for name in remediate.__all__:
        obj = getattr(remediate, name)
        if inspect.isfunction(obj):
            yield name, obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                member = member.fget if isinstance(member, property) else member
                member = member.__func__ if isinstance(member, (staticmethod, classmethod)) else member
                if not attr.startswith("_") and inspect.isfunction(member):
                    yield f"{name}.{attr}", member


def _namespace() -> dict[str, Any]:
    """Every name of every loaded remediate module (annotations name types imported only for
    type checking)."""
    names: dict[str, Any] = {}
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("remediate.") and module is not None:
            names.update({k: v for k, v in vars(module).items() if k[:1].isupper()})
    return names


def test_returned_types_are_exported() -> None:
    exported = {getattr(remediate, n) for n in remediate.__all__ if n != "__version__"}
    callables = list(_public_callables())
    namespace = _namespace()
    missing = set()
    for where, func in callables:
        returned = typing.get_type_hints(func, localns=namespace).get("return")
        missing |= {(where, t.__qualname__) for t in _types_in(returned)
                    if t.__module__.startswith("remediate") and t not in exported}
    assert not missing
    assert len(callables) > 40  # the walk saw the API (functions and the methods of its classes)


def test_the_ansible_collection_uses_the_public_api_only() -> None:
    import ast
    from pathlib import Path

    plugins = Path(__file__).resolve().parents[2] / "ansible_collections" / "remediate" / "docker" / "plugins"
    reached = set()
    for path in sorted(plugins.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("remediate"):
                reached |= {(path.name, f"{node.module}.{a.name}") for a in node.names}
            elif isinstance(node, ast.Import):
                reached |= {(path.name, a.name) for a in node.names if a.name.startswith("remediate")}
    assert reached  # the walk saw the modules' imports
    private = {(where, name) for where, name in reached
               if name != "remediate" and not (name.startswith("remediate.") and name.count(".") == 1
                                               and name.split(".")[1] in remediate.__all__)}
    assert not private
