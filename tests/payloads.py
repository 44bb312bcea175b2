"""Hostile template payloads shared by the sandbox tests (unit and integration).

Each payload is a jinja2 template; ``{path}`` is replaced by a file the payload would create if
it ever ran code. Every one must be refused with one PlaybookError line, and the file must not
exist afterwards. INTERNALS are the sandbox-escape attempts; RUNAWAY try to exhaust time or
memory; BROKEN are plain template errors.
"""

from __future__ import annotations

import glob
import os
import uuid

PWNED_PREFIX = "/tmp/sbx-pwned-"

_RUN = "popen('touch {path}').read()"
_IMPORT = "__import__('os').system('touch {path}')"

INTERNALS = [
    "{{ cycler.__init__.__globals__.os." + _RUN + " }}",
    "{{ joiner.__init__.__globals__.os." + _RUN + " }}",
    "{{ namespace.__init__.__globals__.os." + _RUN + " }}",
    "{{ lipsum.__globals__.os." + _RUN + " }}",
    "{{ lipsum.__globals__['os']." + _RUN + " }}",
    "{{ lipsum.__globals__.__builtins__." + _IMPORT + " }}",
    "{{ lipsum.__globals__['__builtins__']['__import__']('os').system('touch {path}') }}",
    "{{ range.__init__.__globals__ }}",
    "{{ range.__subclasses__() }}",
    "{{ self.__init__.__globals__.__builtins__." + _IMPORT + " }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os." + _RUN + " }}",
    "{{ self.__dict__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__mro__[-1].__subclasses__()[100].__init__.__globals__ }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ {}.__class__.__base__.__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ (1).__class__.__mro__ }}",
    "{{ container.__class__.__init__.__globals__ }}",
    "{{ container.flag.__globals__.os }}",
    "{{ container.flag.__func__.__globals__['__builtins__']['__import__']('os').system('touch {path}') }}",
    "{{ container.env.__class__ }}",
    "{{ container.__dict__ }}",
    "{{ container.__dataclass_fields__ }}",
    "{{ container['__class__'] }}",
    "{{ container|attr('__class__') }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ ''|attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ request.application.__globals__.__builtins__." + _IMPORT + " }}",
    "{{ config.__class__.__init__.__globals__['os']." + _RUN + " }}",
    "{{ '{0.__class__.__mro__}'.format(container) }}",
    "{{ '{0.__init__.__globals__}'.format(cycler) }}",
    "{{ '{0.__class__}'.format_map(container) }}",
    "{{ '%s'|format(cycler.__init__.__globals__) }}",
    "{{ ''.format.__self__ }}",
    "{{ container.name.__len__() }}",
    "{{ container.name.__getattribute__('__class__') }}",
    "{{ dict.__class__ }}",
    "{{ dict(a=1).__class__.__subclasses__() }}",
    "{{ range(1).__class__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{% set f = cycler.__init__ %}{{ f.__globals__ }}",
    "{% with g = lipsum.__globals__ %}{{ g.os." + _RUN + " }}{% endwith %}",
    "{{ (cycler.__init__.__globals__.os.popen)('touch {path}') }}",
    "{{ cycler.next.__globals__ }}",
    "{{ cycler('a').next.__func__.__globals__ }}",
    "{{ joiner().__call__.__globals__ }}",
    "{{ namespace(a=1).__class__.__init__.__globals__ }}",
    "{{ container.env.update({'A': 1}) }}",
    "{{ container.env.clear() }}",
    "{{ container.command.__class__ }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}{{ os." + _RUN + " }}",
    "{% extends '/etc/passwd' %}",
    "{% from 'os' import popen %}{{ popen('touch {path}') }}",
    "{{ ''.join.__self__ }}",
    "{{ [].__reduce_ex__(2) }}",
    "{{ lipsum.__code__.co_consts }}",
    "{{ self._TemplateReference__context.environment }}",
    "{{ (1).to_bytes(8, 'big').decode.__self__.__class__ }}",
]

RUNAWAY = [
    "{{ 'x' * 10**9 }}",
    "{{ [1] * 10**8 }}",
    "{{ 2 ** 100000 }}",
    "{{ 'x'|center(10**9) }}",
    "{{ 'x'.ljust(10**9) }}",
    "{{ '%0999999999d' % 1 }}",
    "{{ '%0999999999d'|format(1) }}",
    "{{ range(100000)|join('x' * 1000000) }}",
    "{{ range(100000)|batch(1)|sum(start=[]) }}",
    "{% set ns = namespace(s='xx') %}{% for i in range(100) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}",
    "{% for i in [1] recursive %}{{ loop([1]) }}{% endfor %}",
    "{% set a %}{{ 'x' * 1000 }}{% endset %}{{ a }}",
    "{{ range(100000)|map('center', 1000000)|list|length }}",
]

BROKEN = [
    "{{ 1/0 }}",
    "{{ 1 // 0 }}",
    "{{ 'a' + 1 }}",
    "{{ container.flag() }}",
    "{{ container.flag(1) }}",
    "{{ container.flag('--port', 1, 2) }}",
    "{{ container.nope() }}",
    "{{ missing }}",
    "{{ missing.attr }}",
    "{{ }",
    "{{ x x }}",
    "{% if %}",
    "{{ 'x'|nofilter }}",
    "{{ (1e308 * 10)|int }}",
    "{{ '%d' % 'a' }}",
    "{{ '%z'|format(1) }}",
    "{{ [] | random }}",
    "{{ {}|dictsort(by='nope') }}",
]

ALL = INTERNALS + RUNAWAY + BROKEN


def pwned_path() -> str:
    """A fresh path a payload would create if it ran code."""
    return f"{PWNED_PREFIX}{uuid.uuid4().hex[:12]}"


def fill(payload: str, path: str) -> str:
    """The payload with the marker file it would create."""
    return payload.replace("{path}", path)


def pwned() -> list[str]:
    """Marker files that exist: any is proof a payload ran code."""
    return [p for p in glob.glob(PWNED_PREFIX + "*") if os.path.exists(p)]
