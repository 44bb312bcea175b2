"""A YAML file edited through ruamel.yaml with every untouched line kept byte for byte (pure).

ruamel.yaml's round-trip keeps comments, quoting, flow style and anchors, but not everything a
hand-written file has: trailing spaces, a leading ``---``, a missing final newline, CRLF line
ends, one line indented unlike the rest. So the edited document is not written out as dumped:
:class:`Layout` dumps it twice, before and after the edit (with the indentation that reproduces
most of the file), and carries only the lines that differ into the original text. Lines that the
dump lays out differently from the original (a multi-line flow list dumped on one line) are
replaced as a whole when the edit touches them, never beyond the entry (``services.<name>``, a
top-level key) they belong to.
"""

from __future__ import annotations

import difflib
import io
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from remediate.errors import PlanError


class LayoutError(PlanError):
    """The file does not parse, or an edit cannot be carried into its text (the message says where)."""


#: (mapping, sequence, offset) indents tried, most common first.
_LAYOUTS = tuple(dict.fromkeys((m, s, o) for m in (2, 4, 3) for s in (m + 2, m, 2, 4) for o in (s - 2, 0, 2)
                               if 0 <= o < s))


def _yaml(layout: tuple[int, int, int]) -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never re-wrap a long line
    yaml.indent(mapping=layout[0], sequence=layout[1], offset=layout[2])
    return yaml


def _keys(lines: list[str]) -> list[str]:
    """Lines as compared: without line ends and trailing blanks."""
    return [line.rstrip() for line in lines]


class Layout:
    """One YAML file: its document to edit in place, then :meth:`text` for the edited file.

    Raises:
        LayoutError: the text is not YAML ruamel.yaml can read.
    """

    def __init__(self, text: str, path: str) -> None:
        self.path = path
        self._original = text
        try:
            self.doc: Any = _yaml(_LAYOUTS[0]).load(text.replace("\r\n", "\n"))
        except YAMLError as exc:
            raise LayoutError(f"{path}: not YAML ruamel.yaml can read: {str(exc).splitlines()[0]}") from exc
        self._yaml: YAML | None = None
        self._plain: list[str] = []

    def touch(self) -> None:
        """Call before the first change to :attr:`doc`: picks the indentation and dumps the unedited form."""
        if self._yaml is not None:
            return
        want = _keys(self._original.splitlines())
        best: tuple[int, YAML, list[str]] | None = None
        for layout in _LAYOUTS:
            yaml = _yaml(layout)
            lines = self._dump(yaml)
            score = sum(b.size for b in difflib.SequenceMatcher(None, want, _keys(lines), autojunk=False)
                        .get_matching_blocks())
            if best is None or score > best[0]:
                best = (score, yaml, lines)
            if score == len(want) == len(lines):
                break
        assert best is not None
        _, self._yaml, self._plain = best

    @property
    def original(self) -> str:
        """The text as read."""
        return self._original

    def _dump(self, yaml: YAML) -> list[str]:
        out = io.StringIO()
        yaml.dump(self.doc, out)
        return out.getvalue().splitlines(keepends=True)

    def text(self) -> str:
        """The original text with the edit of :attr:`doc` carried in (the original when untouched).

        Raises:
            LayoutError: the edit falls on lines laid out so that it cannot be carried over exactly.
        """
        if self._yaml is None:
            return self._original
        plain = self._plain
        edited = _above_next_entry_comments(plain, self._dump(self._yaml))
        original = self._original.splitlines(keepends=True)
        newline = "\r\n" if self._original.count("\r\n") * 2 > self._original.count("\n") else "\n"
        # Original and plain dump: the blocks of lines each lays out its own way.
        blocks = difflib.SequenceMatcher(None, _keys(original), _keys(plain), autojunk=False).get_opcodes()
        bounds = self._bounds()
        out: list[str] = []
        done = 0  # original lines consumed
        hunks = difflib.SequenceMatcher(None, _keys(plain), _keys(edited), autojunk=False).get_opcodes()
        changes = [h for h in hunks if h[0] != "equal"]
        for i1, i2, j1, j2 in _widen(changes, blocks):
            k1, k2 = _to_original(i1, i2, blocks)
            if any(k1 < b < k2 for b in bounds) or k1 < done:
                raise LayoutError(f"{self.path}:{k1 + 1}: the lines this edit changes are laid out in a way it "
                                  "cannot keep; edit the file by hand, or reformat these lines and try again")
            out.extend(original[done:k1])
            if out and not out[-1].endswith("\n") and j2 > j1:
                out[-1] += newline
            shift = _shift(i1, plain, original, blocks)
            out.extend(_reindent(line, shift, newline) for line in edited[j1:j2])
            done = k2
        out.extend(original[done:])
        text = "".join(out)
        if self._original and not self._original.endswith("\n") and text.endswith("\n"):
            text = text[:-2] if text.endswith("\r\n") else text[:-1]  # no final newline, as before
        if _data(text) != _data("".join(edited)):
            raise LayoutError(f"{self.path}: the edit cannot be carried into the file's own layout (its "
                              "indentation varies); edit the file by hand, or reformat it and try again")
        return text

    def _bounds(self) -> set[int]:
        """0-based lines where a top-level key or one of its entries begins."""
        bounds: set[int] = set()
        if not isinstance(self.doc, CommentedMap):
            return bounds
        for key, value in self.doc.items():
            bounds.add(_key_line(self.doc, key))
            if isinstance(value, CommentedMap):
                bounds.update(_key_line(value, k) for k, _ in value.non_merged_items())
        bounds.discard(-1)
        return bounds


def _above_next_entry_comments(plain: list[str], edited: list[str]) -> list[str]:
    """``edited`` with each block of added lines moved above the blank and comment lines it
    follows when those belong to the next, less indented entry: ruamel.yaml keeps such lines
    (``\n  # postgres``) on the last value before them, so a key added to the end of a service
    would otherwise land under the next service's comment."""
    out = list(edited)
    ops = difflib.SequenceMatcher(None, _keys(plain), _keys(edited), autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag != "insert" or i1 >= len(plain) or _indent(edited[j1]) <= _indent(plain[i1]):
            continue
        top = i1
        while top > 0 and (not plain[top - 1].strip() or (
                plain[top - 1].lstrip().startswith("#") and _indent(plain[top - 1]) <= _indent(plain[i1]))):
            top -= 1
        run = i1 - top
        if run and _keys(out[j1 - run:j1]) == _keys(plain[top:i1]):
            out[j1 - run:j2] = out[j1:j2] + out[j1 - run:j1]
    return out


def _data(text: str) -> Any:
    try:
        return YAML(typ="safe", pure=True).load(text.replace("\r\n", "\n"))
    except YAMLError:
        return None


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _shift(i1: int, plain: list[str], original: list[str], blocks: Sequence[tuple[str, int, int, int, int]]) -> int:
    """How much further the original indents the lines around plain line ``i1`` than the dump does."""
    for p in (i1 - 1, i1):
        for tag, k1, k2, b1, b2 in blocks:
            if b1 <= p < b2 and tag == "equal":
                return 0
            if b1 <= p < b2 and tag == "replace":
                k = k1 + min(p - b1, k2 - k1 - 1)
                if original[k].strip() == plain[p].strip():
                    return _indent(original[k]) - _indent(plain[p])
    return 0


def _reindent(line: str, shift: int, newline: str) -> str:
    if shift > 0:
        line = " " * shift + line
    elif shift < 0 and _indent(line) >= -shift:
        line = line[-shift:]
    return line[:-1] + newline if line.endswith("\n") else line


def _key_line(node: CommentedMap, key: Any) -> int:
    try:
        return int(node.lc.key(key)[0])
    except (AttributeError, KeyError, TypeError):
        return -1


def _widen(changes: Sequence[tuple[str, int, int, int, int]],
           blocks: Sequence[tuple[str, int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Edit hunks (plain -> edited lines, ``(i1, i2, j1, j2)``) grown to whole blocks the original
    lays out otherwise, merged where they then overlap."""
    widened: list[list[int]] = []  # a1, a2, j1 (of a1), i2 and j2 of the last hunk merged
    for _, i1, i2, j1, j2 in changes:
        a1, a2 = i1, i2
        for tag, _k1, _k2, b1, b2 in blocks:
            touches = (b1 < a2 and a1 < b2) if a1 < a2 else (b1 < a1 < b2)
            if tag != "equal" and touches:
                a1, a2 = min(a1, b1), max(a2, b2)
        if widened and a1 <= widened[-1][1]:
            widened[-1][1] = max(widened[-1][1], a2)
            widened[-1][3:] = [i2, j2]
        else:
            widened.append([a1, a2, j1 - (i1 - a1), i2, j2])
    return [(a1, a2, j1, j2 + (a2 - i2)) for a1, a2, j1, i2, j2 in widened]


def _to_original(i1: int, i2: int, blocks: Sequence[tuple[str, int, int, int, int]]) -> tuple[int, int]:
    """Plain-dump lines [i1, i2) as original lines [k1, k2) (an empty range: where to insert)."""
    def start(i: int) -> int:
        for tag, k1, _, b1, b2 in blocks:
            if b1 <= i < b2:
                return k1 + (i - b1) if tag == "equal" else k1
        return blocks[-1][2] if blocks else 0

    def end(i: int) -> int:  # the original line after plain line i - 1
        for tag, k1, k2, b1, b2 in blocks:
            if b1 < i <= b2:
                return k1 + (i - b1) if tag == "equal" else k2
        return 0
    if i1 == i2:
        k = end(i1) if i1 > 0 else 0
        return k, k
    return start(i1), end(i2)
