"""Text for a file or a pipe without loading rich (some 40 ms of every run that prints).

The views write rich's console markup (``[bold]...[/bold]``, values escaped with :func:`escape`).
Where rich would show no style anyway (its output is no terminal: a pipe, a file, a CI log, an
Ansible task), :class:`PlainConsole` prints that markup as rich prints it there: tags dropped,
escaped tags and backslashes as rich reads them (:func:`plain`, the parse of ``rich.markup``).
Values are escaped for it by :func:`escape`, which rich shows exactly as written (its own escape
loses a backslash before a bracket).
Anything but text (a table) is handed to rich. :func:`console` picks the console every view
prints to; the unit tests hold both to the same output.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from typing import IO, TYPE_CHECKING, Any, Protocol

from remediate.core.visible import visible

if TYPE_CHECKING:
    from rich.console import Console

#: A tag of rich's markup, with the backslashes before it (``rich.markup.RE_TAGS``).
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
#: A bracket, with the backslashes before it.
_BRACKET = re.compile(r"(\\*)\[")
#: What makes a bracket the start of a tag.
_TAG_REST = re.compile(r"[a-z#/@][^[]*?]")


class Out(Protocol):
    """Where the text views print: rich's console, or :class:`PlainConsole`."""

    @property
    def is_terminal(self) -> bool:
        """Whether the output is a terminal (then live views animate)."""

    @property
    def is_interactive(self) -> bool:
        """Whether the output is a terminal a person watches."""

    def print(self, *objects: Any) -> None:
        """Print markup text (or, on rich's console, any renderable), a line per call."""


def escape(text: str) -> str:
    """``text`` as markup that rich shows as it is (``rich.markup.escape``, made exact): a tag's
    bracket and the backslashes before it escaped, and a backslash before any other bracket
    kept (rich reads ``\\[`` as ``[``); backslashes at the end doubled, for a tag after them.

    >>> escape("[bold] and \\[0-9]")
    '\\\\[bold] and \\\\\\\\[0-9]'
    """
    def bracket(match: re.Match[str]) -> str:
        backslashes = len(match[1])
        if _TAG_REST.match(text, match.end()):
            return "\\" * (2 * backslashes + 1) + "["
        return "\\" * (backslashes + 1 if backslashes else 0) + "["

    escaped = _BRACKET.sub(bracket, text)
    return escaped + "\\" * (len(escaped) - len(escaped.rstrip("\\")))


def plain(markup: str) -> str:
    """The text rich shows of ``markup`` without styles (``rich.markup.render(...).plain``).

    >>> plain("[bold]web[/bold]: " + escape("[x]"))
    'web: [x]'
    """
    if "[" not in markup:
        return markup
    pieces: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        full, escapes, _ = match.groups()
        start, end = match.span()
        if start > position:
            pieces.append(markup[position:start])
        backslashes, escaped = divmod(len(escapes), 2)
        pieces.append("\\" * backslashes)
        if escaped:
            pieces.append(full[len(escapes):])
        position = end
    pieces.append(markup[position:])
    return "".join(piece.replace("\\[", "[") for piece in pieces)


def styled(stream: IO[str]) -> bool:
    """Whether rich would style what it prints to ``stream`` (as its ``Console.is_terminal``
    decides: ``TTY_COMPATIBLE``, ``FORCE_COLOR``, else whether it is a terminal)."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class PlainConsole:
    """Prints the views' markup as rich prints it where it shows no style (see the module
    docstring); ``file`` (else standard output, or ``stderr``'s, as it is at each print)."""

    is_terminal = False
    is_interactive = False

    def __init__(self, *, stderr: bool = False, file: IO[str] | None = None) -> None:
        self._stderr = stderr
        self._file = file
        self._rich: Console | None = None

    def print(self, *objects: Any) -> None:
        """Print ``objects`` on one line, separated by spaces; anything but text through rich."""
        if not all(isinstance(o, str) for o in objects):
            self._console().print(*objects)
            return
        text = " ".join(plain(visible(o, newlines=True)) for o in objects)
        file = self._file or (sys.stderr if self._stderr else sys.stdout)
        file.write(text + "\n")
        file.flush()

    def _console(self) -> Console:
        if self._rich is None:
            self._rich = rich_console(stderr=self._stderr, file=self._file)
        return self._rich


def console(stderr: bool = False, file: IO[str] | None = None) -> Out:
    """The console every text view prints to (``file``: into it, as plain text): its strings show
    control characters as escapes (:func:`remediate.core.visible.visible`), so no value can move
    the cursor, recolour or hide what is shown. rich's on a terminal; where rich would show no
    style, :class:`PlainConsole`, the same text without loading rich."""
    if styled(file or (sys.stderr if stderr else sys.stdout)):
        return rich_console(stderr=stderr, file=file)
    return PlainConsole(stderr=stderr, file=file)


def rich_console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """rich's console for :func:`console`: no highlighting, no wrapping, and no emoji codes
    (``:thumbs_up:`` in a value is shown as written)."""
    return _visible_console()(stderr=stderr, file=file, highlight=False, soft_wrap=True, emoji=False)


@functools.cache
def _visible_console() -> type[Console]:
    from rich.console import Console
    from rich.text import Text

    class VisibleConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            return super().render_str(visible(text, newlines=True), **kwargs)

    return VisibleConsole
