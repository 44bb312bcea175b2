"""Text made safe for a terminal: every control character shown, never obeyed.

A value from a playbook, a container (labels, env, logs) or an engine error may hold ESC
sequences, carriage returns, backspaces or bidirectional overrides that rewrite what a terminal
shows (hide a line of a diff, recolour it, reorder it). Like ``git`` quoting a path and ``ls -b``,
each such character is shown as an escape: ``\\x1b``, ``\\r``, ``\\n``, ``\\t``, ``\\u202e``.
Backslashes are left as they are, so escaping twice changes nothing.
"""

from __future__ import annotations

import re

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: The characters of Unicode's categories Cc (controls), Cf (format: bidi overrides, zero-width
#: spaces), Zl and Zp (line and paragraph separators); a unit test checks it against unicodedata.
HIDDEN = re.compile(
    "[\x00-\x1f\x7f-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f"
    "\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f]")


def escape_char(char: str) -> str:
    """The visible escape of one hidden character: ``"\\x1b"`` -> ``\\x1b``, ``"\\u202e"`` -> ``\\u202e``."""
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def visible(text: str, *, newlines: bool = False) -> str:
    """``text`` with each hidden character escaped; with ``newlines``, line breaks are kept.

    >>> visible("info\\x1b[1A\\x1b[2K")
    'info\\\\x1b[1A\\\\x1b[2K'
    """
    def sub(m: re.Match[str]) -> str:
        return m.group(0) if newlines and m.group(0) == "\n" else escape_char(m.group(0))

    return HIDDEN.sub(sub, text)
