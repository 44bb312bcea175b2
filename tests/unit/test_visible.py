"""remediate.core.visible: every character a terminal obeys or hides is shown as an escape."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from remediate.core.visible import HIDDEN, visible
from remediate.output.markdown import markdown_report
from remediate.output.shown import shown_json

CASES = [
    ("info\x1b[1A\x1b[2K", "info\\x1b[1A\\x1b[2K"),  # cursor up, erase line: hides the line above
    ("a\rb", "a\\rb"), ("a\nb", "a\\nb"), ("a\tb", "a\\tb"), ("bell\x07", "bell\\x07"), ("bs\x08", "bs\\x08"),
    ("\x1b]0;title\x07", "\\x1b]0;title\\x07"), ("del\x7f", "del\\x7f"), ("csi\x9b2J", "csi\\x9b2J"),
    ("abc\u202edef", "abc\\u202edef"), ("\u2066iso\u2069", "\\u2066iso\\u2069"), ("zero\u200bwidth", "zero\\u200bwidth"),
    ("line\u2028sep", "line\\u2028sep"), ("bom\ufeff", "bom\\ufeff"), ("tag\U000e0041", "tag\\U000e0041"),
]
PLAIN = ["", "mistralai/Mistral-7B-Instruct-v0.3", "C:\\path\\x1b (a backslash stays)", "ünïcödé ✔ 日本語 🙂",
         "--served-model-name mistral", "already \\x1b escaped"]


@pytest.mark.parametrize(("text", "shown"), CASES)
def test_hidden_characters_are_escaped(text: str, shown: str) -> None:
    assert visible(text) == shown
    assert visible(shown) == shown  # escaping twice changes nothing


@pytest.mark.parametrize("text", PLAIN)
def test_visible_text_is_unchanged(text: str) -> None:
    assert visible(text) == text


def test_newlines_kept_when_asked() -> None:
    assert visible("one\x1b[2K\ntwo\r", newlines=True) == "one\\x1b[2K\ntwo\\r"


def test_the_class_holds_every_control_and_format_character() -> None:
    missing = [hex(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c < 0xE000
               and unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp") and not HIDDEN.match(chr(c))]
    assert not missing


def test_json_views_and_reports_are_escaped() -> None:
    data = {"plain": "ok", "ctl\x1b": ["x\x1b[2K", {"deep": "\u202e"}], "n": 3}
    assert shown_json(data) == {"plain": "ok", "ctl\\x1b": ["x\\x1b[2K", {"deep": "\\u202e"}], "n": 3}
    report = markdown_report({"playbook": "p\x1b[2K", "mode": "dry run", "hosts": [
        {"host": "h", "status": "failed", "seconds": 1.0, "error": "boom\r\x1b[1Aforged\nsecond"}]})
    assert "\x1b" not in report and "\r" not in report
    assert "Error: boom\\r\\x1b[1Aforged\\nsecond" in report
