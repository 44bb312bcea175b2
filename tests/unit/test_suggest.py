"""Did-you-mean for misspelled playbooks, vars and containers (pure)."""

from __future__ import annotations

import pytest

from remediate.core.playbook import load_playbook, resolve_vars
from remediate.core.suggest import did_you_mean
from remediate.errors import PlaybookError


@pytest.mark.parametrize(("word", "choices", "hint"), [
    ("fix-vlm-404", ["fix-vllm-404", "fix-gitlab-url"], "; did you mean fix-vllm-404?"),
    ("servd_model_name", ["served_model_name", "chat_template"], "; did you mean served_model_name?"),
    ("vllm", ["rt-vllm-1", "gateway"], "; did you mean rt-vllm-1?"),
    ("fix-nothing", ["fix-vllm-404", "fix-gitlab-url", "fix-ssl-ca-bundle"], ""),
    ("x", ["xy", "yx"], ""),
    ("anything", [], ""),
])
def test_did_you_mean(word: str, choices: list[str], hint: str) -> None:
    assert did_you_mean(word, choices) == hint


def test_a_misspelled_playbook_names_the_close_one() -> None:
    with pytest.raises(PlaybookError, match=r"fix-vlm-404: no such playbook; did you mean fix-vllm-404\? \(built-in: "):
        load_playbook("fix-vlm-404")


def test_a_misspelled_var_names_the_close_one() -> None:
    book = load_playbook("fix-vllm-404")
    with pytest.raises(PlaybookError, match=r"unknown variable servd_model_name; did you mean served_model_name\?"):
        resolve_vars(book, {"servd_model_name": "x"})
