"""Rendering playbook templates: one sandboxed jinja2 environment and one error mapping.

Every string of a playbook that holds a template (changes, verify, after, ``require``,
``revert_after``, inline file content) is rendered here, in an
:class:`jinja2.sandbox.ImmutableSandboxedEnvironment` with ``StrictUndefined``. A template can
read the variables and ``container`` facts and call a short list of harmless methods; it cannot
reach Python internals (``cycler.__init__.__globals__``, ``''.__class__.__mro__``, format-string
attribute access), cannot define macros or include other templates, and cannot build values
larger than :data:`remediate.core.limits.MAX_VALUE_CHARS` or run for more than :data:`MAX_STEPS`
Python lines. Whatever goes wrong while rendering is one :class:`PlaybookError` naming the
playbook, the field and the template.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any, TypeVar

from remediate.core.limits import MAX_VALUE_CHARS
from remediate.core.redaction import redact_text
from remediate.errors import PlaybookError

#: Python lines a template may run (jinja's generated code and its filters): a hang detector
#: that counts work, not time, so a template is refused the same way on every machine.
MAX_STEPS = 200_000
#: Memory a template may take while rendering.
MAX_RENDER_BYTES = 128 * 1024 * 1024
#: Most items of a list a template builds (jinja's own cap on ``range``).
MAX_ITEMS = 100_000
#: Largest integer a template computes, in bits.
MAX_INT_BITS = 4096

# Methods a template may call; any other callable attribute (str.format, str.ljust,
# int.to_bytes, ...) is refused, so no single call can expand a value past the limits.
_SAFE_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit",
    "splitlines", "replace", "title", "capitalize", "casefold", "swapcase", "count", "find",
    "rfind", "index", "rindex", "isdigit", "isdecimal", "isnumeric", "isalpha", "isalnum",
    "isspace", "islower", "isupper", "istitle", "partition", "rpartition", "removeprefix",
    "removesuffix", "get", "keys", "values", "items", "flag", "cycle", "changed", "next", "reset",
})
# Statements a playbook template has no use for; each can build output outside the checks
# below (a macro's or block's output is joined unchecked) or recurse.
_REFUSED_NODES = {"Macro": "macro", "CallBlock": "call", "FilterBlock": "filter", "Block": "block",
                  "Extends": "extends", "Include": "include", "Import": "import",
                  "FromImport": "from-import", "AssignBlock": "set ... endset"}
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_BRACE_SPEC = re.compile(r"\{[^{}]*:[^{}]*?(\*|\d+)(?:\.(\d+))?[^{}]*\}")
_THIS_FILE = __file__
T = TypeVar("T")


def render_value(value: Any, context: Mapping[str, Any], *, playbook: str, field: str) -> Any:
    """Render every string inside ``value`` (dict keys too) as a template.

    Args:
        value: a string, or lists and dicts of them; other values are returned as they are.
        context: the variables (and ``container``).
        playbook: the playbook's name, for errors.
        field: where ``value`` sits in the playbook (``changes[0]``), for errors.

    Raises:
        PlaybookError: the template is invalid or failed: undefined name, unsafe access, a type
            or arithmetic error, too much work or too large a result.
    """
    if isinstance(value, str):
        if "{" not in value:
            return value  # no template: jinja2 (about 40 ms to import) is not needed
        return _guarded(playbook, field, value, lambda: _render(value, context))
    if isinstance(value, list):
        return [render_value(v, context, playbook=playbook, field=f"{field}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {render_value(k, context, playbook=playbook, field=field):
                render_value(v, context, playbook=playbook, field=f"{field}.{k}") for k, v in value.items()}
    return value


def render_words(value: Any, context: Mapping[str, Any], *, playbook: str, field: str) -> Any:
    """As :func:`render_value`, except that a string that is exactly one ``{{ expression }}`` whose
    value is a list renders to that list, each item a string (a flag's values, ``--flag a b``).

    Raises:
        PlaybookError: as :func:`render_value`, or a list item that is not a string or a number.
    """
    found = _SINGLE.fullmatch(value.strip()) if isinstance(value, str) else None
    if found is None or "{{" in found[1] or "}}" in found[1]:
        return render_value(value, context, playbook=playbook, field=field)
    words = _guarded(playbook, field, value, lambda: _words(found[1].strip(), context))
    return render_value(value, context, playbook=playbook, field=field) if words is None else words


def _words(expression: str, context: Mapping[str, Any]) -> list[str] | None:
    result = _expression(expression)(**context)
    if not isinstance(result, (list, tuple)):
        return None
    for item in result:
        if isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise TypeError(f"list item {str(item)[:80]!r} is not a string or a number")
    words = [str(item) for item in result]
    _check_size(sum(len(w) for w in words))
    return words


_SINGLE = re.compile(r"\{\{(.*)\}\}", re.DOTALL)


def is_true(expression: str, context: Mapping[str, Any], *, playbook: str, field: str) -> bool:
    """Whether a jinja2 expression (no braces) holds, e.g. a ``require`` condition.

    Raises:
        PlaybookError: as :func:`render_value` (an undefined name included).
    """
    return _guarded(playbook, field, expression, lambda: bool(_expression(expression)(**context)))


def check_expression(expression: str) -> None:
    """Refuse text that is not a jinja2 expression (checked when a playbook loads).

    Raises:
        ValueError: a syntax error, with jinja's reason.
    """
    import jinja2

    try:
        environment().compile_expression(expression)
    except jinja2.TemplateSyntaxError as exc:
        raise ValueError(f"not a jinja2 expression: {exc.message}") from None


def referenced_names(source: str, *, expression: bool = False) -> set[str]:
    """The variable names a template (or, with ``expression``, a jinja2 expression) reads; empty
    for text that is not a valid template (rendering reports that)."""
    if not expression and "{" not in source:
        return set()
    import jinja2
    from jinja2 import meta

    try:
        return set(meta.find_undeclared_variables(environment().parse(f"{{{{ ({source}) }}}}" if expression
                                                                      else source)))
    except jinja2.TemplateError:
        return set()


@functools.lru_cache(maxsize=1024)
def _template(source: str) -> Any:
    """The compiled template of ``source``: compiled once (it is rendered for every container, and
    compiling is most of the work), under the budget of the first render that needs it."""
    return environment().from_string(source)


@functools.lru_cache(maxsize=256)
def _expression(source: str) -> Any:
    """The compiled expression of ``source`` (as :func:`_template`)."""
    return environment().compile_expression(source, undefined_to_none=False)


def _render(template: str, context: Mapping[str, Any]) -> str:
    parts: list[str] = []
    size = 0
    for part in _template(template).generate(**context):
        size += len(part)
        _check_size(size)
        parts.append(part)
    return "".join(parts)


def _guarded(playbook: str, field: str, template: str, run: Callable[[], T]) -> T:
    """Run ``run`` under the step and memory budget; any failure becomes one PlaybookError."""
    import jinja2

    environment()  # made (once) outside the budget: loading the sandbox is not the template's work
    try:
        return _budgeted(run)
    except (jinja2.TemplateSyntaxError, _Exhausted) as exc:
        problem = str(exc.args[0])
    except jinja2.TemplateError as exc:
        problem = exc.message or exc.__class__.__name__
    except RecursionError:
        problem = "recursion too deep"
    except MemoryError:
        problem = "out of memory"
    except Exception as exc:  # noqa: BLE001 - any error of a user's template is that template's
        problem = f"{exc.__class__.__name__}: {exc}"
    snippet = template if len(template) <= 80 else template[:77] + "..."
    message = f"{playbook}: {field}: {' '.join(problem.split())[:200]} (template {snippet!r})"
    raise PlaybookError(redact_text(message), field=field) from None


# --------------------------------------------------------------------------- budget


class _Exhausted(BaseException):
    """A template ran out of steps or memory (a BaseException: no filter's ``except`` eats it)."""


class _Budget:
    def __init__(self) -> None:
        self.steps = 0
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.start = self._resident()

    def _resident(self) -> int:
        try:
            with open("/proc/self/statm", "rb") as fh:
                return int(fh.read().split()[1]) * self.page
        except OSError:
            return 0

    def trace(self, frame: FrameType, event: str, arg: Any) -> Any:
        # This module's own checks are bounded by construction; counting them is noise.
        return None if frame.f_code.co_filename == _THIS_FILE else self.line

    def line(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "line":
            self.steps += 1
            if self.steps > MAX_STEPS:
                raise _Exhausted(f"template does too much work (more than {MAX_STEPS} steps)")
            if self.steps % 256 == 0 and self._resident() - self.start > MAX_RENDER_BYTES:
                raise _Exhausted(f"template uses more than {MAX_RENDER_BYTES // 2**20} MiB")
        return self.line


def _budgeted(run: Callable[[], T]) -> T:
    budget = _Budget()
    previous = sys.gettrace()
    sys.settrace(budget.trace)  # this thread only; restored after (coverage tools use it too)
    try:
        return run()
    finally:
        sys.settrace(previous)


# --------------------------------------------------------------------------- size checks


def _weight(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """Approximate size of a value (characters, items, digits); stops counting past ``limit``."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() // 3 + 1
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        total = len(value)
        for item in (value.items() if isinstance(value, dict) else value):
            total += _weight(item, limit - total)
            if total > limit:
                break
        return total
    return 1


def _check_size(size: int) -> None:
    from jinja2.exceptions import SecurityError

    if size > MAX_VALUE_CHARS:
        raise SecurityError(f"template builds a value larger than {MAX_VALUE_CHARS // 2**20} MiB")


def _check_replace(text: Any, old: Any = "", new: Any = "") -> None:
    text, old, new = str(text), str(old), str(new)
    hits = text.count(old) if old else len(text) + 1
    _check_size(len(text) + hits * max(len(new) - len(old), 0))


def _check_format(spec: str) -> None:
    from jinja2.exceptions import SecurityError

    for pattern in (_PERCENT_SPEC, _BRACE_SPEC):
        for match in pattern.finditer(spec):
            for width in match.groups():
                if width == "*" or (width and int(width) > 10_000):
                    raise SecurityError("format width or precision too large")


def _binop(operator: str, left: Any, right: Any) -> Any:
    from jinja2.exceptions import SecurityError

    numbers = all(isinstance(x, int) for x in (left, right))
    if operator == "**" and numbers and right > 0 and abs(left) > 1:
        if left.bit_length() * right > MAX_INT_BITS:
            raise SecurityError(f"{left} ** {right} is too large")
    elif operator == "*" and numbers:
        if left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise SecurityError("product is too large")
    elif operator == "*":
        seq, times = (left, right) if isinstance(right, int) else (right, left)
        if isinstance(times, int) and isinstance(seq, (str, bytes, list, tuple)):
            _check_size(_weight(seq) * max(times, 0))
            if not isinstance(seq, (str, bytes)) and len(seq) * times > MAX_ITEMS:
                raise SecurityError(f"list of more than {MAX_ITEMS} items")
    elif operator == "+" and isinstance(left, (str, bytes, list, tuple)):
        _check_size(_weight(left) + _weight(right))
    elif operator == "%" and isinstance(left, str):
        _check_format(left)
    return _OPERATORS[operator](left, right)


def _operators() -> dict[str, Callable[[Any, Any], Any]]:
    import operator

    return {"*": operator.mul, "**": operator.pow, "+": operator.add, "%": operator.mod}


_OPERATORS = _operators()


def _filters(defaults: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    """Jinja's filters that can expand a value, each refusing arguments that would overflow."""
    from jinja2.exceptions import SecurityError

    def items(value: Any) -> list[Any]:
        out = []
        for item in value:
            out.append(item)
            if len(out) > MAX_ITEMS:
                raise SecurityError(f"more than {MAX_ITEMS} items")
        return out

    def center(value: Any, width: int = 80) -> Any:
        _check_size(int(width))
        return defaults["center"](value, width)

    def indent(value: Any, width: int | str = 4, *args: Any, **kwargs: Any) -> Any:
        lines = str(value).count("\n") + 1
        _check_size(len(str(value)) + lines * (len(width) if isinstance(width, str) else int(width)))
        return defaults["indent"](value, width, *args, **kwargs)

    def join(eval_ctx: Any, value: Any, d: str = "", attribute: Any = None) -> Any:
        listed = items(value)
        _check_size(_weight(listed) + len(str(d)) * len(listed))
        return defaults["join"](eval_ctx, listed, d, attribute)

    def replace(eval_ctx: Any, s: Any, old: Any, new: Any, count: int | None = None) -> Any:
        _check_replace(s, old, new)
        return defaults["replace"](eval_ctx, s, old, new, count)

    def format_(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format(str(value))
        return defaults["format"](value, *args, **kwargs)

    def wordwrap(environment: Any, s: Any, width: int = 79, break_long_words: bool = True,
                 wrapstring: str | None = None, break_on_hyphens: bool = True) -> Any:
        text = str(s)
        _check_size(len(text) + (len(text) // max(int(width), 1) + 1) * len(wrapstring or "\n"))
        return defaults["wordwrap"](environment, s, width, break_long_words, wrapstring, break_on_hyphens)

    def batch(value: Any, linecount: int, fill_with: Any = None) -> Any:
        if int(linecount) > MAX_ITEMS:
            raise SecurityError(f"batch of more than {MAX_ITEMS} items")
        return defaults["batch"](value, linecount, fill_with)

    def slice_(value: Any, slices: int, fill_with: Any = None) -> Any:
        if int(slices) > MAX_ITEMS:
            raise SecurityError(f"more than {MAX_ITEMS} slices")
        return defaults["slice"](value, slices, fill_with)

    def sum_(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
        if not isinstance(start, (int, float)):  # sum of strings or lists copies quadratically
            raise SecurityError("sum adds numbers only")
        return defaults["sum"](environment, iterable, attribute, start)

    wrapped: dict[str, Callable[..., Any]] = {
        "center": center, "indent": indent, "join": join, "replace": replace, "format": format_,
        "wordwrap": wordwrap, "batch": batch, "slice": slice_, "sum": sum_}
    for name, func in wrapped.items():  # keep jinja's pass_context/pass_environment markers
        marker = getattr(defaults[name], "jinja_pass_arg", None)
        if marker is not None:
            func.jinja_pass_arg = marker  # type: ignore[attr-defined]
    return {**defaults, **wrapped}


@functools.cache
def environment() -> Any:
    """The one sandboxed environment every playbook template is rendered in."""
    import jinja2
    from jinja2 import nodes
    from jinja2.compiler import CodeGenerator
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from remediate.core.image_ref import grammar, repository
    from remediate.core.playbook import url_host

    grammar()  # the image_repo filter's grammar is loaded now, not within a template's step budget

    class _Generator(CodeGenerator):
        def visit_Concat(self, node: nodes.Concat, frame: Any) -> None:
            # `a ~ b`: the join itself cannot overflow (its parts are bounded); its result is
            # checked so that repeated concatenation (`ns.s ~ ns.s` in a loop) cannot grow.
            self.write("environment.checked(")
            super().visit_Concat(node, frame)
            self.write(")")

    class _Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset(_OPERATORS)
        code_generator_class = _Generator

        def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
            if not super().is_safe_attribute(obj, attr, value):
                return False
            return not callable(value) or attr in _SAFE_METHODS

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return _binop(operator, left, right)

        def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
            if getattr(obj, "__name__", None) == "replace" and isinstance(getattr(obj, "__self__", None), str):
                _check_replace(obj.__self__, *args[:2])  # the one allowed method that can grow a value
            return super().call(context, obj, *args, **kwargs)

        def checked(self, value: T) -> T:
            _check_size(len(str(value)))
            return value

        def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
            tree = super()._parse(source, name, filename)
            for node in tree.find_all(nodes.Stmt):
                kind = _REFUSED_NODES.get(type(node).__name__)
                if kind is None and isinstance(node, nodes.For) and node.recursive:
                    kind = "recursive for"
                if kind is not None:
                    raise SecurityError(f"{{% {kind} %}} is not allowed in a playbook template")
            return tree

    env = _Sandbox(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters = _filters(env.filters)
    env.filters["url_host"] = url_host
    env.filters["image_repo"] = repository
    return env

