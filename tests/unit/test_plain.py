"""The plain console prints what rich prints where it shows no style (remediate/cli/plain.py),
with rich itself as the oracle: its markup escape and parse on generated strings, and the text
views of the catalog's plans printed through both."""

from __future__ import annotations

import io
import random
from typing import Any

import pytest
from rich.errors import MarkupError
from rich.markup import escape as rich_escape
from rich.markup import render

from remediate.cli.plain import PlainConsole, console, escape, plain, rich_console
from remediate.cli.views import print_plan
from tests.unit.test_catalog_playbooks import CONTRACT, VLLM_BOOKS, _observed, _plan

#: What markup is made of, and what rich reads specially in it.
_ALPHABET = "ab/=@#:[]\\ x"


def _strings(seed: int, count: int = 3000) -> list[str]:
    rnd = random.Random(seed)
    return ["".join(rnd.choice(_ALPHABET) for _ in range(rnd.randint(0, 14))) for _ in range(count)]


def test_an_escaped_value_shows_as_written_through_rich() -> None:
    for value in _strings(1):
        assert render(f"[bold]{escape(value)}[/bold]", emoji=False).plain == value, value
        if not value.endswith("\\"):
            assert render(f"{escape(value)} [dim]x[/dim]", emoji=False).plain == f"{value} x", value
    # rich's own escape loses the backslash before a bracket that opens no tag (a regex, say).
    assert render(rich_escape("grep '\\[0-9]' [x]"), emoji=False).plain == "grep '[0-9]' [x]"
    assert escape("no brackets") == rich_escape("no brackets") and escape("[bold]") == rich_escape("[bold]")


def test_markup_reads_as_rich_reads_it() -> None:
    read = 0
    for text in _strings(2):
        try:
            expected = render(text, emoji=False).plain
        except MarkupError:
            continue  # unbalanced tags: the views never write them
        read += 1
        assert plain(text) == expected, text
    assert read > 1000
    for value in _strings(3, 500):  # a view's own markup around escaped values
        markup = f"[bold]{escape(value)}[/bold] [dim]x {escape(value)}[/dim]"
        assert plain(markup) == render(markup, emoji=False).plain == f"{value} x {value}", value


#: What the catalog's playbooks need to plan on the captured containers without host files.
_VARS: dict[str, dict[str, Any]] = {
    "fix-gateway-host-network": {"allow_all_interfaces": True},
    "fix-gitlab-url": {"gitlab_url": "https://gitlab.example.com"},
    "fix-offline-portal-urls": {"gitlab_url": "https://gitlab.example.com"},
    "upgrade-gateway": {"version": "18.8.1"},
    "upgrade-vllm": {"tag": "v0.18.1"},
}
_NEED_HOST_FILES = {"fix-ssl-ca-bundle", "set-gateway-jwt-keys"}


@pytest.mark.parametrize("name", sorted(set(CONTRACT) - _NEED_HOST_FILES))
def test_a_plan_prints_the_same_through_both_consoles(name: str) -> None:
    plan = _plan(name, _observed("vllm" if name in VLLM_BOOKS else "aigw"), _VARS.get(name))
    shown: list[str] = []
    for out in (io.StringIO(), io.StringIO()):
        made = PlainConsole(file=out) if not shown else rich_console(file=out)
        print_plan(made, plan, dry_run=True)
        made.print("values: " + escape("[bold]:thumbs_up: \\[x] \x1b[2K"))
        shown.append(out.getvalue())
    assert shown[0] == shown[1]
    assert "values: [bold]:thumbs_up: \\[x] \\x1b[2K" in shown[0]  # no emoji, no markup, no raw escape


def test_rich_is_loaded_only_for_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)
    assert isinstance(console(file=io.StringIO()), PlainConsole)
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not isinstance(console(file=io.StringIO()), PlainConsole)
    monkeypatch.setenv("TTY_COMPATIBLE", "0")
    assert isinstance(console(file=io.StringIO()), PlainConsole)
    monkeypatch.delenv("FORCE_COLOR")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not isinstance(console(stderr=True), PlainConsole)
