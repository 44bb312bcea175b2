"""Secrets never reach any output or file, and look-alikes are never masked: a fake vLLM carrying
secrets in every shape, run through every command that shows or records it, on the real engine."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, remove_owned
from tests.lab import containers
from tests.lab.containers import LabContainer

PREFIX = "rt-red-"
VLLM_IMAGE = "vllm/vllm-openai:v0.6.3"

#: Each must be absent from every output and file.
SECRETS = ["s3cr3tpw", "pr0xypw", "dXNlcjpwYXNz", "tok-12345abcdef", "hf_abcdef123456", "sk-verysecret"]
#: Each must be shown as it is wherever the container's configuration is shown.
NEVER_MASKED = ["TOKENIZERS_PARALLELISM=false", "KEYBOARD_LAYOUT=us", "--tokenizer mistralai/Mistral-7B",
                "--max-num-batched-tokens 8192"]
#: How the secret shapes are shown instead (proof that they were masked, not dropped).
MASKED_SHAPES = ["https://user:***@db.example", "http://u:***@proxy:3128", "com.example.token=", "HF_TOKEN=***",
                 "--api-key ***"]


@pytest.fixture
def vllm(docker_client: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A fake vLLM (healthy, answers 404 for `mistral`) with secrets in env, a label and its command."""
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    vllm = (LabContainer(VLLM_IMAGE, labels={"com.example.token": "tok-12345abcdef", "app": "vllm"})
            .with_name(name)
            .with_command(["--model", "mistralai/Mistral-7B-Instruct-v0.3", "--api-key", "sk-verysecret",
                           "--tokenizer", "mistralai/Mistral-7B", "--max-num-batched-tokens", "8192"])
            .with_loopback_port("8000/tcp")
            .with_envs(DATABASE_URL="https://user:s3cr3tpw@db.example",
                       HTTPS_PROXY="http://u:pr0xypw@proxy:3128",
                       AUTH_HEADER="Authorization: Basic dXNlcjpwYXNz",
                       HF_TOKEN="hf_abcdef123456",
                       TOKENIZERS_PARALLELISM="false", KEYBOARD_LAYOUT="us"))
    try:
        container = vllm.start().get_wrapped_container()
        yield {"name": name, "container": container,
               "vars": ["-e", f"template_host_path={tmp_path / 'etc' / 'chat_template.jinja'}"]}
    finally:
        containers.stop([vllm])  # the container the test started with, if remediate kept it
        remove_owned(docker_client, name)  # the ones remediate made


def _files_text(*roots: Path) -> dict[str, str]:
    return {str(p): p.read_text(encoding="utf-8", errors="replace")
            for root in roots for p in sorted(root.rglob("*") if root.is_dir() else [root]) if p.is_file()}


def _assert_no_secret(where: str, text: str) -> None:
    leaked = [s for s in SECRETS if s in text]
    assert not leaked, f"{where} shows {leaked}:\n{text}"


def _assert_config_shown(where: str, text: str) -> None:
    missing = [s for s in NEVER_MASKED + MASKED_SHAPES if s not in text]
    assert not missing, f"{where} lacks {missing}:\n{text}"


def test_no_output_or_file_shows_a_secret(cli: Cli, vllm: dict[str, Any], tmp_path: Path, state_dir: str,
                                          docker_client: Any) -> None:
    base = ["apply", "fix-vllm-404", "--container", vllm["name"], *vllm["vars"]]
    outputs: dict[str, str] = {}
    reports = tmp_path / "reports"
    reports.mkdir()

    code, outputs["dry-run text"] = cli(*base, "--dry-run")
    assert code == 0, outputs["dry-run text"]
    code, outputs["dry-run json"] = cli(*base, "--dry-run", "--format", "json")
    assert code == 0 and json.loads(outputs["dry-run json"])["changed"] == 1
    code, out = cli(*base, "--dry-run", "--out", str(reports / "plan.json"), "--report", str(reports / "r.md"))
    assert code == 0, out
    code, out = cli(*base, "--dry-run", "--report", str(reports / "r.json"))
    assert code == 0, out
    code, outputs["apply json"] = cli(*base, "--yes", "--format", "json", "--report", str(reports / "apply.md"))
    assert code == 0, outputs["apply json"]
    applied = json.loads(outputs["apply json"])
    assert applied["ok"] and applied["containers"][0]["action"] == "recreated"
    code, outputs["second apply text"] = cli(*base, "--yes")
    assert code == 0 and "no changes" in outputs["second apply text"]
    for fmt in ("text", "json"):
        code, outputs[f"history {fmt}"] = cli("history", "--container", vllm["name"], "--format", fmt)
        assert code == 0 and "recreated" in outputs[f"history {fmt}"]
        code, outputs[f"diagnose {fmt}"] = cli("diagnose", "--container", vllm["name"], "--format", fmt)
        assert code in (0, 1) and "api-key" in outputs[f"diagnose {fmt}"]
    code, outputs["rollback"] = cli("rollback", vllm["name"], "--yes")
    assert code == 0, outputs["rollback"]
    assert "sk-verysecret" in docker_client.api.inspect_container(vllm["name"])["Args"]  # the original is back

    files = _files_text(reports, Path(state_dir))
    assert any("journal" in path for path in files)
    for where, text in {**outputs, **files}.items():
        _assert_no_secret(where, text)
    shows_config = {k: v for k, v in {**outputs, **files}.items()
                    if k in ("dry-run text", "dry-run json", "apply json") or k.endswith(("plan.json", "r.md", "r.json",
                                                                                            "apply.md"))}
    assert len(shows_config) == 7
    for where, text in shows_config.items():
        _assert_config_shown(where, text.replace("'", ""))  # shell quoting of a shown value
    assert "AUTH_HEADER=***" in outputs["dry-run text"]


SECRET_VAR_PLAYBOOK = """\
name: redact-vars
description: Hands the vLLM a gateway token (a playbook with a secret var).
safety: confirm
vars:
  gateway_token: gw-default-s3cret
select:
  - image: "vllm/vllm-openai*"
changes:
  - env:
      GATEWAY_TOKEN: "{{ gateway_token }}"
      GATEWAY_NOTE: "issued {{ gateway_token }}"
verify:
  - http:
      port: 8000
      path: "/health?probe={{ gateway_token }}"
after: Give GitLab the token {{ gateway_token }}.
"""


def test_secret_vars_are_masked_where_rendered_and_never_saved(cli: Cli, vllm: dict[str, Any], tmp_path: Path,
                                                               state_dir: str) -> None:
    book = tmp_path / "redact-vars.yml"
    book.write_text(SECRET_VAR_PLAYBOOK, encoding="utf-8")
    secret = "gw-cli-s3cret-9"
    base = ["apply", str(book), "--container", vllm["name"]]
    outputs: dict[str, str] = {}

    code, outputs["show"] = cli("show", str(book))
    assert code == 0 and "gateway_token = '***'" in outputs["show"]
    code, outputs["dry-run text"] = cli(*base, "-e", f"gateway_token={secret}", "--dry-run",
                                        "--out", str(tmp_path / "plan.json"), "--report", str(tmp_path / "r.md"))
    assert code == 0 and "issued ***" in outputs["dry-run text"] and "/health?probe=***" in outputs["dry-run text"]
    code, outputs["dry-run json"] = cli(*base, "-e", f"gateway_token={secret}", "--dry-run", "--format", "json")
    assert code == 0
    saved = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    assert saved["secret_vars"] == ["gateway_token"] and "gateway_token" not in saved["vars"]

    code, outputs["plan without the secret"] = cli("apply", "--plan", str(tmp_path / "plan.json"), "--dry-run")
    assert code == 2 and "gateway_token" in outputs["plan without the secret"]
    code, outputs["apply"] = cli("apply", "--plan", str(tmp_path / "plan.json"), "-e", f"gateway_token={secret}",
                                 "--yes", "--report", str(tmp_path / "apply.json"))
    assert code == 0, outputs["apply"]
    assert "Give GitLab the token ***." in outputs["apply"] and "/health?probe=***" in outputs["apply"]

    files = _files_text(tmp_path / "plan.json", tmp_path / "r.md", tmp_path / "apply.json", Path(state_dir))
    for where, text in {**outputs, **files}.items():
        assert secret not in text and "gw-default-s3cret" not in text, f"{where} shows the secret var:\n{text}"
        _assert_no_secret(where, text)
