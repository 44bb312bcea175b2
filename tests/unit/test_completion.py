"""Shell completion (click's _REMEDIATE_COMPLETE protocol): playbook names."""

from __future__ import annotations

from click.testing import CliRunner

from remediate.cli.main import main


def complete(words: str) -> list[str]:
    """What bash completion offers for the last word of ``words``."""
    env = {"_REMEDIATE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split()) - 1)}
    result = CliRunner().invoke(main, [], env=env, prog_name="remediate")
    return [line.split(",", 1)[1] for line in result.output.splitlines() if line]


def test_playbook_names_complete() -> None:
    assert complete("remediate apply fix-v") == ["fix-vllm-404"]
    assert complete("remediate show troub") == ["troubleshoot-mode"]
    assert "fix-gitlab-url" in complete("remediate apply fix-")
    assert complete("remediate apply no-such-prefix") == []


def test_commands_complete() -> None:
    assert complete("remediate diag") == ["diagnose"]
