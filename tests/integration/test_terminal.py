"""No value reaches the terminal raw: control characters in playbook values, container labels and
env are shown escaped in every view (a crafted value cannot hide or forge a line of the diff), and
the container still gets the exact bytes."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, remove_owned
from tests.lab import containers
from tests.lab.containers import LabContainer

pytestmark = pytest.mark.integration

PREFIX = "rt-term-"
VLLM_IMAGE = "vllm/vllm-openai:v0.6.3"
#: Moves the cursor up a line and erases it: on a terminal, the line before disappears.
LOG_LEVEL = "info\x1b[1A\x1b[2K"
FORGED = "x\n+ --volume /:/host"
PLAYBOOK = """\
name: terminal-forgery
description: "Sets a log level that erases the line above it\\e[1A\\e[2K"
safety: confirm
select:
  - name: "{name}"
changes:
  - args:
      set:
        --log-level: "info\\e[1A\\e[2K"
  - env:
      MOTD: "x\\n+ --volume /:/host"
      BIDI: "abc\\u202edef"
      NOTE: "ok :thumbs_up: [bold]x[/bold] \\\\[y]"
  - mount: {{source: /tmp, target: /host-tmp, read_only: true}}
"""
HIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _no_raw_controls(where: str, text: str) -> None:
    found = HIDDEN.findall(text)
    assert not found, f"{where} shows raw control characters {found!r}:\n{text!r}"


def test_control_characters_are_shown_escaped_and_applied_exactly(cli: Cli, docker_client: Any, tmp_path: Path) -> None:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    vllm = (LabContainer(VLLM_IMAGE, labels={"com.example.note": "ok\x1b[2K\rforged"})
            .with_name(name).with_command(["--model", "m"]).with_loopback_port("8000/tcp")
            .with_envs(GREETING="hi\x1b]0;owned\x07"))
    book = tmp_path / "forgery.yml"
    book.write_text(PLAYBOOK.format(name=name), encoding="utf-8")
    outputs: dict[str, str] = {}
    try:
        vllm.start()
        code, outputs["dry-run"] = cli("apply", str(book), "--dry-run", "--out", str(tmp_path / "plan.json"),
                                       "--report", str(tmp_path / "r.md"))
        assert code == 0, outputs["dry-run"]
        code, outputs["json"] = cli("apply", str(book), "--dry-run", "--format", "json")
        assert code == 0, outputs["json"]
        code, outputs["show"] = cli("show", str(book))
        assert code == 0, outputs["show"]
        code, outputs["apply"] = cli("apply", str(book), "--yes", "--timeout", "20", "--report", str(tmp_path / "a.md"))
        assert code == 0, outputs["apply"]
        inspect = docker_client.api.inspect_container(name)
    finally:
        containers.stop([vllm])
        remove_owned(docker_client, name)

    for where, text in {**outputs, "report": (tmp_path / "r.md").read_text(encoding="utf-8"),
                        "apply report": (tmp_path / "a.md").read_text(encoding="utf-8")}.items():
        _no_raw_controls(where, text)
    dry = outputs["dry-run"]
    assert "--log-level $'info\\x1b[1A\\x1b[2K'" in dry, dry
    assert "+   --env $'MOTD=x\\n+ --volume /:/host'" in dry or "--env $'MOTD=x\\n+ --volume /:/host'" in dry, dry
    assert "$'BIDI=abc\\u202edef'" in dry and "$'com.example.note=ok\\x1b[2K\\rforged'" in dry, dry
    assert not [line for line in dry.splitlines() if re.match(r"\s*\+\s*--volume /:/host", line)], dry
    # Neither an emoji code nor console markup in a value is read as such: shown as written.
    assert "'NOTE=ok :thumbs_up: [bold]x[/bold] \\[y]'" in dry and "\U0001f44d" not in dry, dry
    assert "erases the line above it\\x1b[1A\\x1b[2K" in outputs["show"]
    shown = json.loads(outputs["json"])
    assert "--log-level $'info\\x1b[1A\\x1b[2K'" in "\n".join(shown["containers"][0]["diff"])
    _no_raw_controls("json strings", json.dumps(shown, ensure_ascii=False))
    # What was shown escaped is applied exactly.
    assert LOG_LEVEL in inspect["Args"] and f"MOTD={FORGED}" in inspect["Config"]["Env"]
    assert "NOTE=ok :thumbs_up: [bold]x[/bold] \\[y]" in inspect["Config"]["Env"]
