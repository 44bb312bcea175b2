"""Pairing on the real engine: saved plans (--out / --plan, drift refused), --step and the confirm
prompt driven through a pseudo-terminal, reports and every other output free of secret values,
rollback with files, backups and retention.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import TEST_LABEL, remove_owned
from tests.integration._proc import (
    MODEL_ARGS,
    PLAYBOOK,
    REMEDIATE,
    SEED_TEMPLATE,
    VLLM_IMAGE,
    WAIT,
    Result,
    engine_state_dir,
    host_port,
    names_with_prefix,
    remediate_env,
    run,
    run_vllm,
    strip_ansi,
    wait_healthy,
    wrong_name_playbook,
)

PREFIX = "rt-pair-"
OLD_CONTENT = "{# the operator's own template, before remediate #}\n"


@pytest.fixture
def names(docker_client: Any) -> Iterator[list[str]]:
    """Container names for this test (all removed afterwards, with their backups)."""
    base = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        yield [f"{base}-{c}" for c in "abc"]
    finally:
        remove_owned(docker_client, base)


@pytest.fixture
def template(tmp_path: Path) -> Path:
    return tmp_path / "etc" / "chat_template.jinja"


def _apply_args(name: str, template: Path, *extra: str, playbook: str = "fix-vllm-404") -> list[str]:
    return ["apply", playbook, "--container", name, "-e", f"template_host_path={template}", *extra]


def _inspect(client: Any, ref: str) -> dict[str, Any]:
    result: dict[str, Any] = client.api.inspect_container(ref)
    return result


def _playbook_copy(tmp_path: Path, name: str, *replacements: tuple[str, str]) -> Path:
    text = PLAYBOOK.read_text().replace("name: fix-vllm-404", f"name: {name}")
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / f"{name}.yml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- saved plans

def test_saved_plan_applies_exactly_what_was_reviewed(names: list[str], template: Path, tmp_path: Path,
                                                      docker_client: Any, state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name)
    plan_file = tmp_path / "plan.json"

    saved = run(_apply_args(name, template, "--dry-run", "--out", str(plan_file)), state_dir)

    assert saved.code == 0, saved.output
    assert f"Plan saved to {plan_file}" in saved.stdout
    data = json.loads(plan_file.read_text())
    assert data["format"] == "remediate-plan/1" and data["containers"] == [name]
    [reviewed] = data["hosts"][0]["plan"]["containers"]
    assert reviewed["action"] == "recreate" and reviewed["id"] == original["Id"][:12]
    assert _inspect(docker_client, name)["Id"] == original["Id"] and not template.exists()

    applied = run(["apply", "--plan", str(plan_file), "--yes"], state_dir)

    assert applied.code == 0, applied.output
    assert "recreated" in applied.stdout
    new = _inspect(docker_client, name)
    assert new["Id"] != original["Id"] and "--served-model-name" in new["Args"]
    assert template.read_bytes() == SEED_TEMPLATE.read_bytes()
    # What runs now is exactly the "after" the plan showed (the engine lists --volume before
    # --publish, the plan appended it: same options, same image and command, in order).
    now = json.loads(run(_apply_args(name, template, "--dry-run", "--format", "json"), state_dir).stdout)
    [container] = now["containers"]
    assert container["action"] == "none"
    assert sorted(container["run_before"]) == sorted(reviewed["run_after"])
    image = reviewed["run_after"].index("vllm/vllm-openai:v0.6.3")
    assert container["run_before"][-len(reviewed["run_after"]) + image:] == reviewed["run_after"][image:]


def test_saved_plan_is_refused_after_drift_and_nothing_changes(names: list[str], template: Path, tmp_path: Path,
                                                               docker_client: Any, state_dir: str) -> None:
    name = names[0]
    reviewed = run_vllm(docker_client, name)
    plan_file = tmp_path / "plan.json"
    assert run(_apply_args(name, template, "--dry-run", "--out", str(plan_file)), state_dir).code == 0
    # Someone re-creates the container with one more env var.
    docker_client.api.remove_container(name, force=True)
    drifted = run_vllm(docker_client, name, env={"EXTRA_SETTING": "1"})

    result = run(["apply", "--plan", str(plan_file), "--yes"], state_dir)

    assert result.code == 2, result.output
    assert "the saved plan no longer matches (nothing was changed)" in result.stderr
    assert (f"local: {name}: drifted since the plan was saved: recreated (id {reviewed['Id'][:12]} -> "
            f"{drifted['Id'][:12]})") in result.stderr
    assert "+ --env EXTRA_SETTING=1" in result.stderr  # what changed, as docker run options
    assert "fingerprint" not in result.stderr
    assert _inspect(docker_client, name)["Id"] == drifted["Id"]
    assert names_with_prefix(docker_client, name) == {name}
    assert not template.exists()
    assert run(["history"], state_dir).stdout.strip() == "no history"


def test_saved_plan_is_refused_after_restart_policy_update(names: list[str], template: Path, tmp_path: Path,
                                                           docker_client: Any, state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name)
    plan_file = tmp_path / "plan.json"
    assert run(_apply_args(name, template, "--dry-run", "--out", str(plan_file)), state_dir).code == 0
    docker_client.api.update_container(name, restart_policy={"Name": "always"})  # same id, other config

    result = run(["apply", "--plan", str(plan_file), "--yes"], state_dir)

    assert result.code == 2, result.output
    assert f"{name}: drifted since the plan was saved: + --restart always" in result.stderr
    assert _inspect(docker_client, name)["Id"] == original["Id"]
    assert not template.exists()


def _by_name_glob(tmp_path: Path, names: list[str]) -> Path:
    """fix-vllm-404, selecting this test's containers by name (a new one matches too)."""
    selectors = ('select:\n  - image: "vllm/vllm-openai*"\n  - command: "*vllm serve*"\n'
                 '  - command: "*vllm.entrypoints.openai.api_server*"\n')
    base = names[0].rsplit("-", 1)[0]
    return _playbook_copy(tmp_path, "vllm-by-name", (selectors, f'select:\n  - name: "{base}-*"\n'))


def test_saved_plan_refuses_a_container_that_appeared_since(names: list[str], template: Path, tmp_path: Path,
                                                            docker_client: Any, state_dir: str) -> None:
    first = run_vllm(docker_client, names[0])
    book = _by_name_glob(tmp_path, names)
    plan_file = tmp_path / "plan.json"
    saved = run(["apply", str(book), "-e", f"template_host_path={template}", "--dry-run", "--out", str(plan_file)],
                state_dir)
    assert saved.code == 0, saved.output
    assert [c["container"] for c in json.loads(plan_file.read_text())["hosts"][0]["plan"]["containers"]] == [names[0]]
    second = run_vllm(docker_client, names[1])  # matches the playbook, but nobody reviewed its change

    result = run(["apply", "--plan", str(plan_file), "--yes"], state_dir)

    assert result.code == 2, result.output
    assert "the saved plan no longer matches (nothing was changed)" in result.stderr
    assert f"local: {names[1]}: new container since the plan was saved, not in the plan" in result.stderr
    assert "Traceback" not in result.output
    for name, inspect in ((names[0], first), (names[1], second)):
        assert _inspect(docker_client, name)["Id"] == inspect["Id"]
        assert names_with_prefix(docker_client, name) == {name}
    assert not template.exists()
    assert run(["history"], state_dir).stdout.strip() == "no history"


def test_saved_plan_refuses_a_host_it_was_not_made_for(names: list[str], template: Path, tmp_path: Path,
                                                       docker_client: Any, state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name)
    plan_file = tmp_path / "plan.json"
    assert run(_apply_args(name, template, "--dry-run", "--out", str(plan_file)), state_dir).code == 0
    # The same engine under a second name: a host the plan never listed.
    other = "unix:///var/run/docker.sock"

    extra = run(["apply", "--plan", str(plan_file), "--yes", "-H", "local", "-H", other], state_dir)
    instead = run(["apply", "--plan", str(plan_file), "--yes", "-H", other], state_dir)

    assert extra.code == 2, extra.output
    assert extra.stderr.count("\n") == 1 and "Traceback" not in extra.output
    assert f"reviewed for other hosts (nothing was changed): not in the plan: {other}" in extra.stderr
    assert instead.code == 2, instead.output
    assert f"not in the plan: {other}; in the plan but not given: local" in instead.stderr
    assert _inspect(docker_client, name)["Id"] == original["Id"] and not template.exists()
    assert names_with_prefix(docker_client, name) == {name}
    assert run(["history"], state_dir).stdout.strip() == "no history"

    same = run(["apply", "--plan", str(plan_file), "--yes", "-H", "local"], state_dir)

    assert same.code == 0, same.output
    assert _inspect(docker_client, name)["Id"] != original["Id"]


def test_saved_plan_does_not_keep_secret_vars(names: list[str], template: Path, tmp_path: Path,
                                              docker_client: Any, state_dir: str) -> None:
    name = names[0]
    run_vllm(docker_client, name)
    book = _playbook_copy(tmp_path, "vllm-token",
                          ("  served_model_name: mistral\n", "  served_model_name: mistral\n  hf_token: ''\n"),
                          ("changes:\n", "changes:\n  - env: {HF_TOKEN: '{{ hf_token }}'}\n"))
    secret = "hf_savedplanSECRETvalue42"
    plan_file = tmp_path / "plan.json"

    saved = run(_apply_args(name, template, "--dry-run", "--out", str(plan_file), "-e", f"hf_token={secret}",
                            playbook=str(book)), state_dir)

    assert saved.code == 0, saved.output
    assert secret not in saved.output and secret not in plan_file.read_text()
    data = json.loads(plan_file.read_text())
    assert data["secret_vars"] == ["hf_token"] and "hf_token" not in data["vars"]

    refused = run(["apply", "--plan", str(plan_file), "--yes"], state_dir)

    assert refused.code == 2, refused.output
    assert "secret vars are not saved; pass them again: -e hf_token=..." in refused.stderr
    assert not template.exists()

    applied = run(["apply", "--plan", str(plan_file), "--yes", "-e", f"hf_token={secret}"], state_dir)

    assert applied.code == 0, applied.output
    assert secret not in applied.output
    assert f"HF_TOKEN={secret}" in _inspect(docker_client, name)["Config"]["Env"]


def test_out_never_writes_a_plan_that_plan_refuses(names: list[str], template: Path, tmp_path: Path,
                                                    docker_client: Any, state_dir: str) -> None:
    name = names[0]
    # A container whose docker run view alone is over 1 MiB: the plan shows it five times.
    labels = {f"bulk.{i}": "x" * 1000 for i in range(1100)} | {TEST_LABEL: str(os.getpid())}
    docker_client.api.create_container(VLLM_IMAGE, MODEL_ARGS, name=name, labels=labels)
    plan_file = tmp_path / "plan.json"

    result = run(_apply_args(name, template, "--dry-run", "--out", str(plan_file)), state_dir)

    assert result.code == 2, result.output[-2000:]
    [line] = result.stderr.splitlines()
    assert f"{plan_file}: not written: the plan would be refused by --plan" in line and "4 MiB" in line
    assert not plan_file.exists()


def test_a_saved_plan_whose_host_was_edited_is_refused(names: list[str], template: Path, tmp_path: Path,
                                                      docker_client: Any, state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name)
    plan_file = tmp_path / "plan.json"
    plan_file.write_text("an older file, readable by all\n")
    plan_file.chmod(0o644)
    assert run(_apply_args(name, template, "--dry-run", "--out", str(plan_file)), state_dir).code == 0
    assert plan_file.stat().st_mode & 0o777 == 0o600
    data = json.loads(plan_file.read_text())
    data["hosts"][0]["url"] = "unix:///var/run/docker.sock"  # the same engine, spelled otherwise
    plan_file.write_text(json.dumps(data))

    result = run(["apply", "--plan", str(plan_file), "--yes"], state_dir)

    assert result.code == 2, result.output
    assert "its hosts were edited since the plan was saved" in result.stderr
    assert _inspect(docker_client, name)["Id"] == original["Id"] and not template.exists()


def test_out_needs_dry_run(names: list[str], template: Path, tmp_path: Path, docker_client: Any,
                           state_dir: str) -> None:
    run_vllm(docker_client, names[0])
    result = run(_apply_args(names[0], template, "--yes", "--out", str(tmp_path / "p.json")), state_dir)
    assert result.code == 2 and "--out saves a plan: use it with --dry-run" in result.stderr
    assert not (tmp_path / "p.json").exists()


# --------------------------------------------------------------------------- a pseudo-terminal

PROMPT = r"apply / skip / diff again / quit[^\r\n]*: "
HEADER = re.compile(r"^(rt-pair-\S+) \([0-9a-f]{12}\): recreate", re.MULTILINE)


def _spawn(args: list[str], state_dir: str) -> pexpect.spawn:
    env = remediate_env(state_dir, TERM="dumb")
    return pexpect.spawn(REMEDIATE, args, env=env, encoding="utf-8", timeout=WAIT, dimensions=(50, 200))


def _headers(text: str) -> list[str]:
    return HEADER.findall(strip_ansi(text).replace("\r", ""))


def _finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    rest = strip_ansi(str(child.before))
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -1), rest


@pytest.fixture
def two_vllms(names: list[str], docker_client: Any) -> dict[str, dict[str, Any]]:
    return {name: run_vllm(docker_client, name) for name in names[:2]}


def _step_args(two: dict[str, dict[str, Any]], template: Path) -> list[str]:
    args = ["apply", "fix-vllm-404", "--step", "-e", f"template_host_path={template}"]
    for name in two:
        args += ["--container", name]
    return args


def test_step_skip_diff_again_apply(two_vllms: dict[str, dict[str, Any]], template: Path, docker_client: Any,
                                    state_dir: str) -> None:
    child = _spawn(_step_args(two_vllms, template), state_dir)
    child.expect(PROMPT)
    [first] = _headers(child.before)
    child.sendline("s")
    child.expect(PROMPT)
    [second] = _headers(child.before)
    assert {first, second} == set(two_vllms)
    child.sendline("d")
    child.expect(PROMPT)
    again = strip_ansi(child.before)
    assert _headers(again) == [second]  # the diff is shown again
    assert "+   --served-model-name mistral" in again and "+{%- for message in messages %}" in again
    child.sendline("a")

    code, rest = _finish(child)

    assert code == 0, rest
    assert f"{second}: recreated" in rest
    assert _inspect(docker_client, first)["Id"] == two_vllms[first]["Id"]
    assert "--served-model-name" not in _inspect(docker_client, first)["Args"]
    assert _inspect(docker_client, second)["Id"] != two_vllms[second]["Id"]
    assert "--served-model-name" in _inspect(docker_client, second)["Args"]
    assert names_with_prefix(docker_client, first) == {first}  # no backup: untouched
    assert template.read_bytes() == SEED_TEMPLATE.read_bytes()


def test_step_enter_skips(two_vllms: dict[str, dict[str, Any]], template: Path, docker_client: Any,
                          state_dir: str) -> None:
    child = _spawn(_step_args(two_vllms, template), state_dir)
    child.expect(PROMPT)
    assert "(a, s, d, q) [s]" in strip_ansi(str(child.after))  # the default said: skip
    child.sendline("")
    child.expect(PROMPT)
    child.sendline("")

    code, rest = _finish(child)

    assert code == 0, rest
    for name, inspect in two_vllms.items():
        assert _inspect(docker_client, name)["Id"] == inspect["Id"]
        assert names_with_prefix(docker_client, name) == {name}
    assert not template.exists()
    assert run(["history"], state_dir).stdout.strip() == "no history"


def test_step_quit_at_first_prompt_changes_nothing(two_vllms: dict[str, dict[str, Any]], template: Path,
                                                   docker_client: Any, state_dir: str) -> None:
    child = _spawn(_step_args(two_vllms, template), state_dir)
    child.expect(PROMPT)
    child.sendline("q")

    code, rest = _finish(child)

    assert code == 0, rest
    assert "apply / skip" not in rest  # not asked about the second one
    for name, inspect in two_vllms.items():
        assert _inspect(docker_client, name)["Id"] == inspect["Id"]
        assert names_with_prefix(docker_client, name) == {name}
    assert not template.exists()
    assert run(["history"], state_dir).stdout.strip() == "no history"


def test_step_quit_in_the_middle_keeps_what_is_done_verified(two_vllms: dict[str, dict[str, Any]], template: Path,
                                                             docker_client: Any, state_dir: str) -> None:
    child = _spawn(_step_args(two_vllms, template), state_dir)
    child.expect(PROMPT)
    [first] = _headers(child.before)
    child.sendline("a")
    child.expect(PROMPT)
    [second] = _headers(child.before)
    child.sendline("q")

    code, rest = _finish(child)

    assert code == 0, rest
    done = _inspect(docker_client, first)
    assert done["Id"] != two_vllms[first]["Id"] and done["State"]["Running"]
    port = host_port(docker_client, first)
    wait_healthy(port)
    assert _inspect(docker_client, second)["Id"] == two_vllms[second]["Id"]
    rows = json.loads(run(["history", "--format", "json"], state_dir).stdout)
    assert [(r["container"], r["result"]) for r in rows] == [(first, "recreated")]


def test_step_needs_a_terminal(two_vllms: dict[str, dict[str, Any]], template: Path, state_dir: str) -> None:
    result = run(_step_args(two_vllms, template), state_dir)
    assert result.code == 2 and "--step needs a terminal" in result.stderr


@pytest.mark.parametrize("answer", ["n", "y"])
def test_confirm_playbook_asks_on_a_terminal(answer: str, names: list[str], template: Path, docker_client: Any,
                                             state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name)
    child = _spawn(_apply_args(name, template), state_dir)
    child.expect(r"Apply these changes\? \[y/N\]: ")
    shown = strip_ansi(child.before)
    assert f"{name} (" in shown and "+   --served-model-name mistral" in shown  # the diff came first
    assert "Dry run" not in shown and shown.count("+   --served-model-name mistral") == 1
    child.sendline(answer)

    code, rest = _finish(child)

    assert code == (1 if answer == "n" else 0), rest  # aborting at the prompt is not success
    now = _inspect(docker_client, name)
    if answer == "n":
        assert "aborted, nothing changed" in rest
        assert now["Id"] == original["Id"] and not template.exists()
        assert names_with_prefix(docker_client, name) == {name}
    else:
        assert f"{name}: recreated" in rest
        assert now["Id"] != original["Id"] and template.exists()


@pytest.mark.parametrize("drift", ["restart policy", "new container"])
def test_confirm_applies_what_was_shown_or_refuses(drift: str, names: list[str], template: Path, tmp_path: Path,
                                                   docker_client: Any, state_dir: str) -> None:
    """Something changes while the prompt is open: the answer "y" does not apply a different plan."""
    original = run_vllm(docker_client, names[0])
    child = _spawn(["apply", str(_by_name_glob(tmp_path, names)), "-e", f"template_host_path={template}"],
                   state_dir)
    child.expect(r"Apply these changes\? \[y/N\]: ")
    assert _headers(child.before) == [names[0]]
    if drift == "restart policy":
        docker_client.api.update_container(names[0], restart_policy={"Name": "always"})  # same id, other config
    else:
        newcomer = run_vllm(docker_client, names[1])
    child.sendline("y")

    code, rest = _finish(child)

    assert code == 2, rest
    assert "the plan changed since it was reviewed (nothing was changed)" in rest
    if drift == "restart policy":
        assert f"local: {names[0]}: drifted since the plan was reviewed: + --restart always" in rest
    else:
        assert f"local: {names[1]}: new container since the plan was reviewed, not in the plan" in rest
        assert _inspect(docker_client, names[1])["Id"] == newcomer["Id"]
    assert "recreated" not in rest and "Traceback" not in rest
    assert _inspect(docker_client, names[0])["Id"] == original["Id"]
    assert names_with_prefix(docker_client, names[0]) == {names[0]}
    assert not template.exists()
    assert run(["history"], state_dir).stdout.strip() == "no history"


# --------------------------------------------------------------------------- no secret in any output

PEM_BODY = ["MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu",
            "KUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4DSmoEm"]
PEM_BODY_2 = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
              "MzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu"]
PEM = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(PEM_BODY) + "\n-----END RSA PRIVATE KEY-----"
PEM_2 = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(PEM_BODY_2) + "\n-----END PRIVATE KEY-----\n"
SECRET_ENV = {
    "AIGW_SELF_SIGNED_JWT__SIGNING_KEY": PEM,
    "AIGW_JWT_MATERIAL": PEM_2,  # a private key under a name that does not look secret
    "HF_TOKEN": "hf_PairSecretTokenValue0123",
    "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMIPairSecretAccessKey99",
    "MY_PASSWORD": "hunter2-pair-password-77",
}
API_KEY = "sk-pairtestapikey0123456789"
SECRETS = [*PEM_BODY, *PEM_BODY_2, *list(SECRET_ENV.values())[2:], API_KEY]


def _assert_no_secret(label: str, text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{label} shows a secret: {secret[:12]}..."
    assert "PRIVATE KEY" not in text, f"{label} shows a PEM private key block"


def test_no_output_shows_a_secret(names: list[str], template: Path, tmp_path: Path, docker_client: Any,
                                  state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name, args=["--api-key", API_KEY], env=SECRET_ENV)
    assert f"HF_TOKEN={SECRET_ENV['HF_TOKEN']}" in original["Config"]["Env"]
    failing = wrong_name_playbook(tmp_path)
    outputs: list[tuple[str, Result]] = []

    def step(label: str, args: list[str], code: int = 0) -> Result:
        result = run(args, state_dir)
        assert result.code == code, f"{label}: {result.output}"
        outputs.append((label, result))
        return result

    files = {k: tmp_path / k for k in ("dry.json", "plan.json", "r.md", "r.json", "fail.md", "fail.json")}
    step("dry run", _apply_args(name, template, "--dry-run"))
    step("dry run json", _apply_args(name, template, "--dry-run", "--format", "json", "--report",
                                     str(files["dry.json"])))
    step("saved plan", _apply_args(name, template, "--dry-run", "--out", str(files["plan.json"])))
    step("apply (md report)", _apply_args(name, template, "--yes", "--report", str(files["r.md"])))
    step("history", ["history"])
    step("backups", ["backups"])
    step("backups json", ["backups", "--format", "json"])
    step("rollback", ["rollback", name, "--yes"])
    step("apply json (json report)", _apply_args(name, template, "--yes", "--format", "json", "--report",
                                                 str(files["r.json"])))
    step("rollback json", ["rollback", name, "--yes", "--format", "json"])
    step("failing apply", _apply_args(name, template, "--yes", "--timeout", "3", "--report", str(files["fail.md"]),
                                      playbook=str(failing)), code=1)
    step("failing apply json", _apply_args(name, template, "--yes", "--timeout", "3", "--format", "json",
                                           "--report", str(files["fail.json"]), playbook=str(failing)), code=1)
    step("recover", ["recover"])
    step("history json", ["history", "--format", "json"])
    step("history of the container", ["history", "--container", name])
    # The container still holds its secrets: they were carried over, never shown.
    assert f"HF_TOKEN={SECRET_ENV['HF_TOKEN']}" in _inspect(docker_client, name)["Config"]["Env"]
    assert API_KEY in _inspect(docker_client, name)["Args"]

    for label, result in outputs:
        _assert_no_secret(f"{label} (stdout)", result.stdout)
        _assert_no_secret(f"{label} (stderr)", result.stderr)
    for label, path in files.items():
        assert path.exists(), label
        assert path.stat().st_mode & 0o777 == 0o600, label  # only its owner reads a plan or report
        _assert_no_secret(label, path.read_text())
    state_files = [p for p in Path(state_dir).rglob("*") if p.is_file()]
    assert engine_state_dir(state_dir) / "journal.jsonl" in state_files
    for path in state_files:
        _assert_no_secret(str(path), path.read_text(errors="replace"))
    # Masked, not dropped: the reader sees that a secret is set.
    dry = next(r for label, r in outputs if label == "dry run").stdout
    # (shell-quoted: the view is a runnable command)
    assert "'HF_TOKEN=***'" in dry and "'MY_PASSWORD=***'" in dry and "--api-key '***'" in dry
    assert "'AIGW_SELF_SIGNED_JWT__SIGNING_KEY=***'" in dry
    assert re.search(r"AIGW_JWT_MATERIAL='?-----BEGIN REDACTED-----\*\*\*", dry)


def test_markdown_and_json_reports(names: list[str], template: Path, tmp_path: Path, docker_client: Any,
                                   state_dir: str) -> None:
    from remediate import __version__

    name = names[0]
    original = run_vllm(docker_client, name, env={"HF_TOKEN": "hf_reportsecret"})
    md, js = tmp_path / "r.md", tmp_path / "r.json"

    assert run(_apply_args(name, template, "--yes", "--report", str(md)), state_dir).code == 0
    report = md.read_text()

    assert report.startswith("# remediate report: fix-vllm-404 (apply)")
    assert f"- tool: remediate {__version__}" in report
    assert "## Summary" in report and "| host | status | containers changed | time |" in report
    assert re.search(r"^\| local \| changed \| 1 \| [0-9.]+ s \|$", report, re.MULTILINE)
    assert "## Variables" in report and f"| template_host_path | `{template}` |" in report
    assert f"### {name} ({original['Id'][:12]}): recreate" in report
    assert "- `args.--served-model-name`: unset -> `mistral`" in report and "`None`" not in report
    before, after = report.index("Before:"), report.index("After:")
    assert "docker run -d \\" in report[before:after] and "--served-model-name" not in report[before:after]
    assert "--served-model-name mistral" in report[after:report.index("Diff:")]
    assert "```diff" in report and re.search(r"^\+ +--served-model-name mistral$", report, re.MULTILINE)
    assert "HF_TOKEN=***" in report and "hf_reportsecret" not in report
    assert f"File `{template}` (mode 0644):" in report and "+{%- for message in messages %}" in report
    assert "Verify: http GET /v1/models on port 8000 -> 200" in report
    assert "Result: **recreated**" in report
    # The answer is long: folded whole (a JSON body never cut), under the check's line.
    check = report.index("- ✔ http GET /v1/models on port 8000:\n")
    folded = report[check:report.index("</details>", check)]
    assert "<details><summary>evidence</summary>" in folded
    assert re.search(r"^  127\.0\.0\.1:\d+/v1/models: status 200: \{.*\}$", folded, re.MULTILINE), folded
    assert "- ✔ still running: running, no restart" in report

    assert run(["rollback", name, "--yes"], state_dir).code == 0
    assert run(_apply_args(name, template, "--yes", "--report", str(js)), state_dir).code == 0
    data = json.loads(js.read_text())

    assert data["tool"] == f"remediate {__version__}" and data["mode"] == "apply"
    assert data["playbook"] == "fix-vllm-404" and data["summary"] == {"changed": 1}
    [host] = data["hosts"]
    [container] = host["result"]["containers"]
    assert container["action"] == "recreated" and all(c["ok"] for c in container["checks"])
    assert "hf_reportsecret" not in js.read_text()


# --------------------------------------------------------------------------- rollback, backups, retention

def test_rollback_restores_the_container_and_the_file(names: list[str], template: Path, docker_client: Any,
                                                      state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name)
    template.parent.mkdir(parents=True)
    template.write_text(OLD_CONTENT)
    template.chmod(0o640)
    assert run(_apply_args(name, template, "--yes"), state_dir).code == 0
    new_id = _inspect(docker_client, name)["Id"]
    assert template.read_bytes() == SEED_TEMPLATE.read_bytes()

    listed = run(["backups"], state_dir)
    rows = json.loads(run(["backups", "--container", name, "--format", "json"], state_dir).stdout)

    assert listed.code == 0
    [row] = rows
    assert row["container"] == name and row["id"] == original["Id"][:12]
    header, *lines = listed.stdout.splitlines()
    [line] = [text for text in lines if name in text.split()]  # tests in other processes have backups too
    assert header.split() == ["HOST", "BACKUP", "OF", "IMAGE", "STATUS"]
    assert line.split()[:3] == ["local", row["backup"], name]
    assert line.index(row["backup"]) == header.index("BACKUP")  # aligned under its heading

    result = run(["rollback", name, "--yes"], state_dir)

    assert result.code == 0, result.output
    assert "restored the previous container" in result.stdout
    restored = _inspect(docker_client, name)
    assert restored["Id"] == original["Id"] and restored["State"]["Running"]
    assert restored["HostConfig"]["RestartPolicy"] == original["HostConfig"]["RestartPolicy"]
    assert template.read_text() == OLD_CONTENT
    assert template.stat().st_mode & 0o777 == 0o640
    port = host_port(docker_client, name)
    wait_healthy(port)
    # The replaced container is the backup now.
    [row] = json.loads(run(["backups", "--container", name, "--format", "json"], state_dir).stdout)
    assert row["id"] == new_id[:12]
    rows = json.loads(run(["history", "--container", name, "--format", "json"], state_dir).stdout)
    assert [(r["kind"], r["result"]) for r in rows] == [("rollback", "restored"), ("apply", "recreated")]


def test_keep_backups_prunes_older_ones_but_the_original(names: list[str], template: Path, docker_client: Any,
                                                         state_dir: str) -> None:
    name = names[0]
    original = run_vllm(docker_client, name)
    assert run(_apply_args(name, template, "--yes"), state_dir).code == 0
    first_new = _inspect(docker_client, name)["Id"]
    assert run(_apply_args(name, template, "--yes", "-e", "served_model_name=codestral"), state_dir).code == 0
    second_new = _inspect(docker_client, name)["Id"]

    result = run(_apply_args(name, template, "--yes", "-e", "served_model_name=mixtral", "--keep-backups", "1"),
                 state_dir)

    assert result.code == 0, result.output
    now = _inspect(docker_client, name)
    assert now["Id"] != second_new and "mixtral" in now["Args"]
    rows = json.loads(run(["backups", "--container", name, "--format", "json"], state_dir).stdout)
    # The newest one, and the original (kept until the user removes it).
    assert [r["id"] for r in rows] == [second_new[:12], original["Id"][:12]]
    assert first_new not in {c["Id"] for c in docker_client.api.containers(all=True)}
    assert len(names_with_prefix(docker_client, name)) == 3


# --------------------------------------------------------------------------- what a terminal shows, in order

def _spawn_xterm(args: list[str], state_dir: str) -> pexpect.spawn:
    """A terminal that animates (the live countdown needs one that is not ``dumb``)."""
    env = remediate_env(state_dir, TERM="xterm")
    return pexpect.spawn(REMEDIATE, args, env=env, encoding="utf-8", timeout=WAIT, dimensions=(50, 200))


def test_the_plan_prints_before_the_progress_which_names_the_container(names: list[str], template: Path,
                                                                       docker_client: Any, state_dir: str) -> None:
    name = names[0]
    run_vllm(docker_client, name)
    child = _spawn(_apply_args(name, template, "--yes"), state_dir)

    code, out = _finish(child)

    assert code == 0, out
    plan = out.index(f"{name} (")
    first_step = re.search(rf"^ +\d+\.\d+s  {re.escape(name)}: write files\r?$", out, re.MULTILINE)
    done = out.index(f"{name}: recreated")
    assert first_step is not None, out
    assert plan < first_step.start() < done, out
    assert out.count("+   --served-model-name mistral") == 1, out  # the diff once, before it happened


def test_a_time_boxed_change_counts_down(names: list[str], tmp_path: Path, docker_client: Any,
                                         state_dir: str) -> None:
    name = names[0]
    run_vllm(docker_client, name)
    book = tmp_path / "flag-for-a-while.yml"
    book.write_text(f"name: flag-for-a-while\ndescription: a flag for six seconds\nsafety: auto\nrevert_after: 6\n"
                    f"select:\n  - name: {name}\nchanges:\n  - env: {{REMEDIATE_TEST_FLAG: '1'}}\n")
    child = _spawn_xterm(["apply", str(book), "--yes"], state_dir)

    child.expect("Time-boxed change: restoring in 6 s")
    child.expect(r"restoring in 0:0[1-5] \(Ctrl-C restores now\)")  # the live countdown
    code, out = _finish(child)

    assert code == 0, out
    assert f"{name}: restored" in out
    env = _inspect(docker_client, name)["Config"]["Env"]
    assert "REMEDIATE_TEST_FLAG=1" not in env
