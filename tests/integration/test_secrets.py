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
    applied = json.loads(outputs["apply json"].removesuffix(f"report written to {reports / 'apply.md'}\n"))
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


#: Tokens by shape under harmless names (env, label, command): each must be absent from every output.
GLPAT = "glpat-Rt9xQ2wE4rT6yU8iO0pA"
SHAPED = {
    "GITLAB_NOTE": GLPAT,
    "RUNNER_CMD": "gitlab-runner register -t glrt-t1_Rt9xQ2wE4rT6yU8iO0pB",
    "HUB": "hf_Rt9xQ2wE4rT6yU8iO0pARt9xQ2wE4rT6yU",
    "OPENAI": "sk-proj-Rt9xQ2wE4rT6yU8iO0pA_Rt9xQ2wE4r",
    "S3_PAIR": "AKIART7XQ2WE4RT6YU3I Rt9xQ2wE4rT6yU8iO0pARt9xQ2wE4rT6yU8iO0pB",
    "SESSION": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJydC1yZWRhY3QifQ.Rt9xQ2wE4rT6yU8iO0pARt9xQ2wE",
    "SAS_URL": "https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sr=b&sp=r&sig=Rt9xQ2wE4rT6%2ByU8iO0pC%3D",
    "BEDROCK": "ABSKQmVkcm9ja0FQSUtleS1SdDl4UTJ3RTRyVDZ5VThpTzBwQQ==",
    "REPO_URL": "https://glpat-Rt9xQ2wE4rT6yU8iO0pD@gitlab.example/g/r.git",
    "AWS_REGION": "us-east-1",
}
SHAPED_ARGS = ["--model", "mistralai/Mistral-7B-Instruct-v0.3",
               "--header=Authorization: Bearer Rt9xQ2wE4rT6yU8iO0pE",
               "--url=https://gitlab.example/api/v4/projects?private_token=Rt9xQ2wE4rT6yU8iO0pF&per_page=1",
               "-t", "glrt-t1_Rt9xQ2wE4rT6yU8iO0pG"]
SHAPED_SECRETS = ["Rt9xQ2wE4rT6yU8iO0p", "RT7XQ2WE4RT6YU3I", "eyJzdWIiOiJydC1yZWRhY3QifQ", "ABSKQmVkcm9ja0FQSUtleS1S"]
SHAPED_SHOWN = ["AWS_REGION=us-east-1", "mistralai/Mistral-7B-Instruct-v0.3", "GITLAB_NOTE=***", "https://***@gitlab.example",
                "sig=***", "private_token=***", "Bearer ***", "-t ***"]


def test_token_shapes_under_harmless_names_are_masked_in_every_output(cli: Cli, docker_client: Any,
                                                                      tmp_path: Path, state_dir: str) -> None:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    vllm = (LabContainer(VLLM_IMAGE, labels={"com.example.note": "hf_Rt9xQ2wE4rT6yU8iO0pHRt9xQ2wE4rT6yU8"})
            .with_name(name).with_command(SHAPED_ARGS).with_loopback_port("8000/tcp").with_envs(**SHAPED))
    base = ["apply", "fix-vllm-404", "--container", name,
            "-e", f"template_host_path={tmp_path / 'etc' / 'chat_template.jinja'}"]
    outputs: dict[str, str] = {}
    reports = tmp_path / "reports"
    reports.mkdir()
    try:
        vllm.start()
        code, outputs["dry-run text"] = cli(*base, "--dry-run", "--out", str(reports / "plan.json"),
                                            "--report", str(reports / "r.md"))
        assert code == 0, outputs["dry-run text"]
        code, outputs["dry-run json"] = cli(*base, "--dry-run", "--format", "json", "--report", str(reports / "r.json"))
        assert code == 0, outputs["dry-run json"]
        code, outputs["apply json"] = cli(*base, "--yes", "--format", "json", "--report", str(reports / "apply.md"))
        said = f"report written to {reports / 'apply.md'}\n"  # on stderr (the runner shows both)
        assert code == 0 and json.loads(outputs["apply json"].removesuffix(said))["ok"], outputs["apply json"]
        for fmt in ("text", "json"):
            code, outputs[f"diagnose {fmt}"] = cli("diagnose", "--container", name, "--format", fmt)
            assert code in (0, 1), outputs[f"diagnose {fmt}"]
            code, outputs[f"history {fmt}"] = cli("history", "--container", name, "--format", fmt)
            assert code == 0, outputs[f"history {fmt}"]
        code, outputs["rollback"] = cli("rollback", name, "--yes")
        assert code == 0, outputs["rollback"]
    finally:
        containers.stop([vllm])
        remove_owned(docker_client, name)

    everything = {**outputs, **_files_text(reports, Path(state_dir))}
    for where, text in everything.items():
        leaked = [s for s in SHAPED_SECRETS if s in text]
        assert not leaked, f"{where} shows {leaked}:\n{text}"
    for where in ("dry-run text", "dry-run json", "apply json", str(reports / "plan.json"), str(reports / "r.md")):
        text = everything[where].replace("'", "")
        missing = [s for s in SHAPED_SHOWN if s not in text]
        assert not missing, f"{where} lacks {missing}:\n{text}"
    assert "AWS_REGION=***" not in "".join(everything.values())


HUB_PLAYBOOK = """\
name: hub-flow
description: Hands the vLLM a hub token from a var with a harmless name.
safety: confirm
vars:
  hub_value: placeholder-hub-value
select:
  - image: "vllm/vllm-openai*"
changes:
  - env:
      HF_TOKEN: "{{ hub_value }}"
      HUB_NOTE: "from {{ hub_value }}"
verify:
  - http: {port: 8000, path: "/health?from={{ hub_value }}"}
after: The hub now uses {{ hub_value }}.
"""


def test_a_value_rendered_into_a_secret_field_is_secret_everywhere(cli: Cli, vllm: dict[str, Any], tmp_path: Path,
                                                                   state_dir: str, docker_client: Any) -> None:
    book = tmp_path / "hub-flow.yml"
    book.write_text(HUB_PLAYBOOK, encoding="utf-8")
    value, other = "hub-flow-value-7311", "hub-other-value-9042"
    base = ["apply", str(book), "--container", vllm["name"]]
    plan_file = tmp_path / "plan.json"
    outputs: dict[str, str] = {}

    code, outputs["dry-run text"] = cli(*base, "-e", f"hub_value={value}", "--dry-run", "--out", str(plan_file),
                                        "--report", str(tmp_path / "r.md"))
    assert code == 0 and "HUB_NOTE=from ***" in outputs["dry-run text"].replace("'", ""), outputs["dry-run text"]
    code, outputs["dry-run json"] = cli(*base, "-e", f"hub_value={value}", "--dry-run", "--format", "json",
                                        "--report", str(tmp_path / "r.json"))
    said = f"report written to {tmp_path / 'r.json'}\n"  # on stderr (the runner shows both)
    assert code == 0 and json.loads(outputs["dry-run json"].removesuffix(said))["vars"]["hub_value"] == "***"
    saved = json.loads(plan_file.read_text(encoding="utf-8"))
    assert saved["secret_vars"] == ["hub_value"] and "hub_value" not in saved["vars"]
    assert saved["hosts"][0]["plan"]["containers"][0]["secrets"]  # a digest, never the value

    id_before = docker_client.api.inspect_container(vllm["name"])["Id"]
    code, outputs["plan with another value"] = cli("apply", "--plan", str(plan_file), "-e", f"hub_value={other}",
                                                   "--yes")
    assert code == 2, outputs["plan with another value"]
    assert "a secret value of the change differs from the reviewed one" in outputs["plan with another value"]
    assert docker_client.api.inspect_container(vllm["name"])["Id"] == id_before
    code, outputs["plan"] = cli("apply", "--plan", str(plan_file), "-e", f"hub_value={value}", "--yes",
                                "--report", str(tmp_path / "apply.md"))
    assert code == 0, outputs["plan"]
    assert "The hub now uses ***." in outputs["plan"]
    assert f"HF_TOKEN={value}" in docker_client.api.inspect_container(vllm["name"])["Config"]["Env"]

    files = _files_text(plan_file, tmp_path / "r.md", tmp_path / "r.json", tmp_path / "apply.md", Path(state_dir))
    for where, text in {**outputs, **files}.items():
        assert value not in text and other not in text, f"{where} shows the hub value:\n{text}"


CRASH_PLAYBOOK = """\
name: crash-with-token
description: Sets a token and a setting that makes the container exit.
safety: confirm
vars:
  hub_value: placeholder
select:
  - name: "{name}"
changes:
  - env:
      CRASH: "1"
      HF_TOKEN: "{{{{ hub_value }}}}"
"""


def test_a_failed_containers_log_tail_masks_tokens_and_rendered_secrets(cli: Cli, docker_client: Any,
                                                                         tmp_path: Path) -> None:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    script = ('echo "pulling with glpat-Rt9xQ2wE4rT6yU8iO0pJ"; echo "hub token is $HF_TOKEN"; '
              '[ "$CRASH" = 1 ] && exit 3; exec sleep 3600')
    box = LabContainer("remediate-test/busybox:1").with_name(name).with_command(["sh", "-c", script])
    book = tmp_path / "crash.yml"
    book.write_text(CRASH_PLAYBOOK.format(name=name), encoding="utf-8")
    report = tmp_path / "crash.md"
    value = "hub-crash-value-5521"
    try:
        box.start()
        code, out = cli("apply", str(book), "-e", f"hub_value={value}", "--yes", "--timeout", "5",
                        "--report", str(report))
        assert code == 1, out
        code, json_out = cli("apply", str(book), "-e", f"hub_value={value}", "--yes", "--timeout", "5",
                             "--format", "json")
        assert code == 1, json_out
    finally:
        containers.stop([box])
        remove_owned(docker_client, name)
    [result] = json.loads(json_out)["containers"]
    assert "pulling with ***" in result["logs"] and "hub token is ***" in result["logs"]
    for where, text in {"text": out, "json": json_out, "report": report.read_text(encoding="utf-8")}.items():
        assert "pulling with ***" in text, f"{where} lacks the log tail:\n{text}"
        assert "Rt9xQ2wE4rT6yU8iO0pJ" not in text and value not in text, f"{where} shows a secret:\n{text}"


ROTATE_PLAYBOOK = """\
name: rotate-hub-token
description: A new Hugging Face token for the vLLM, and in its env file on the host.
safety: auto
vars:
  hub_file: /nonexistent
select:
  - image: "vllm/vllm-openai*"
changes:
  - env:
      HF_TOKEN: hf_rotated98765
  - file:
      dest: "{{ hub_file }}"
      content: "HF_TOKEN=hf_rotated98765\\nAWS_REGION=us-east-1\\n"
"""


def test_a_replaced_secret_shows_that_it_changed_never_its_value(cli: Cli, vllm: dict[str, Any], tmp_path: Path,
                                                                 state_dir: str) -> None:
    hub_file = tmp_path / "hub.env"
    hub_file.write_text("HF_TOKEN=hf_abcdef123456\nAWS_REGION=us-east-1\n", encoding="utf-8")
    hub_file.chmod(0o644)
    book = tmp_path / "rotate.yml"
    book.write_text(ROTATE_PLAYBOOK, encoding="utf-8")
    base = ["apply", str(book), "--container", vllm["name"], "-e", f"hub_file={hub_file}", "--dry-run"]
    outputs: dict[str, str] = {}

    code, outputs["text"] = cli(*base, "--report", str(tmp_path / "r.md"))
    assert code == 0, outputs["text"]
    assert "- --env 'HF_TOKEN=***'" in outputs["text"] and "+ --env 'HF_TOKEN=***' (value changed)" in outputs["text"]
    assert "-HF_TOKEN=***" in outputs["text"] and "+HF_TOKEN=*** (value changed)" in outputs["text"]
    code, outputs["json"] = cli(*base, "--format", "json")
    assert code == 0, outputs["json"]
    [container] = json.loads(outputs["json"])["containers"]
    assert "+ --env 'HF_TOKEN=***' (value changed)" in container["diff"]
    assert "+HF_TOKEN=*** (value changed)" in container["files"][0]["diff"]
    # The other secrets (DATABASE_URL, HTTPS_PROXY, ...) stay as they were: not marked.
    assert [line for line in container["diff"] if "(value changed)" in line] == ["+ --env 'HF_TOKEN=***' (value changed)"]
    outputs["report"] = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert "HF_TOKEN=*** (value changed)" in outputs["report"]

    for where, text in outputs.items():
        assert "hf_rotated98765" not in text, f"{where} shows the new secret:\n{text}"
        _assert_no_secret(where, text)
    assert container["id"] == vllm["container"].id[:12]
    assert hub_file.read_text(encoding="utf-8").startswith("HF_TOKEN=hf_abcdef123456")  # a dry run
