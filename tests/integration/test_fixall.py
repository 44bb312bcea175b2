"""`remediate diagnose --fix` on the real engine: every failing check's fix at once, each container
recreated and verified once; and the unfinished-apply warning of `apply --dry-run` and `diagnose`."""

from __future__ import annotations

import json
import shlex
import uuid
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.conftest import Cli, remove_owned, vllm_chat
from tests.integration._proc import (
    REMEDIATE,
    WAIT,
    remediate_env,
    run,
    run_vllm,
    start,
    strip_ansi,
)
from tests.integration.rtcat import (
    CURRENT_VLLM_ARGS,
    CURRENT_VLLM_ENV,
    Lab,
    current_gateway_env,
    http,
)

pytestmark = pytest.mark.integration


def _broken_pair(lab: Lab, gitlab_port: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """A gateway with auth bypass on and custom models off (on host networking, so the vLLM's
    published port is its localhost), and the seed's broken vLLM (no served name, no template)."""
    gitlab = f"http://gitlab.example.com:{gitlab_port}"
    gw = lab.gateway("fixall-gw", {"AIGW_GITLAB_URL": gitlab, "AIGW_GITLAB_API_URL": f"{gitlab}/api/v4/",
                                   "AIGW_AUTH__BYPASS_EXTERNAL": "true", "AIGW_CUSTOM_MODELS__ENABLED": "false",
                                   **current_gateway_env(gitlab)},
                     network="host")
    vllm = lab.vllm("fixall-vllm", ["--model", "mistralai/Mistral-7B-Instruct-v0.3", *CURRENT_VLLM_ARGS],
                    env=CURRENT_VLLM_ENV)
    return gw, vllm


def _json(cli: Cli, *args: str) -> Any:
    code, out = cli(*args, "--format", "json")
    assert code == 0, out
    return json.loads(out)


def test_fix_all_recreates_each_container_once(cli: Cli, lab: Lab, gitlab_port: int, tmp_path: Path) -> None:
    gw, vllm = _broken_pair(lab, gitlab_port)
    names = [gw["name"], vllm["name"]]
    only = [a for name in names for a in ("--container", name)]
    template = ["-e", f"template_host_path={tmp_path / 'chat_template.jinja'}"]
    code, out = cli("diagnose", *only)
    assert code == 1, out
    for check in ("auth-bypass", "custom-models", "served-model"):
        assert check in out, out
    # The command printed keeps the scope asked for (as printed it would plan only these two).
    hint = next(line for line in out.splitlines() if line.startswith("Or all at once"))
    assert shlex.split(hint.split(": ", 1)[1]) == ["remediate", "diagnose", "--fix", "--dry-run", *only]
    before = {name: lab.user_view(name) for name in names}
    existing = lab.names()

    code, out = cli("diagnose", "--fix", "--dry-run", *only, *template)

    assert code == 0, out
    assert "Dry run: nothing changed" in out
    for line in ("- --env AIGW_AUTH__BYPASS_EXTERNAL=true", "+ --env AIGW_CUSTOM_MODELS__ENABLED=true",
                 "+   --served-model-name mistral", "+   --chat-template /etc/vllm/chat_template.jinja"):
        assert line in out, out
    assert {name: lab.user_view(name) for name in names} == before
    assert lab.names() == existing and not (tmp_path / "chat_template.jinja").exists()

    data = _json(cli, "diagnose", "--fix", "--yes", *only, *template)

    assert data["left"] == [] and data["summary"] == {"changed": 2}, data
    results = [c for h in data["hosts"] for c in h["result"]["containers"]]
    assert sorted((c["container"], c["action"]) for c in results) == sorted((n, "recreated") for n in names)
    for name in names:  # each recreated once: one history entry, one backup
        assert len(_json(cli, "history", "--container", name)) == 1
        assert len(_json(cli, "backups", "--container", name)) == 1
    env = dict(e.split("=", 1) for e in lab.client.api.inspect_container(gw["name"])["Config"]["Env"])
    assert env["AIGW_CUSTOM_MODELS__ENABLED"] == "true" and "AIGW_AUTH__BYPASS_EXTERNAL" not in env
    assert http(gw["api_port"], "/")[0] == 401
    assert vllm_chat(lab.host_port(vllm["name"], 8000)) == 200

    clean = _json(cli, "diagnose", *only)
    assert clean["counts"]["fail"] == 0, clean

    code, out = cli("diagnose", "--fix", "--yes", *only, *template)

    assert code == 0, out
    assert "Nothing to fix with a playbook." in out
    for name in names:
        assert len(_json(cli, "history", "--container", name)) == 1


def _spawn_fix(names: list[str], template: Path, state_dir: str) -> pexpect.spawn:
    only = [a for name in names for a in ("--container", name)]
    return pexpect.spawn(REMEDIATE, ["diagnose", "--fix", *only, "-e", f"template_host_path={template}"],
                         env=remediate_env(state_dir, TERM="dumb"), encoding="utf-8", timeout=WAIT,
                         dimensions=(50, 200))


def _finish(child: pexpect.spawn) -> tuple[int, str]:
    child.expect(pexpect.EOF)
    out = strip_ansi(str(child.before))
    child.close()
    return int(child.exitstatus if child.exitstatus is not None else -1), out


def test_fix_all_shows_every_plan_then_asks_once(lab: Lab, gitlab_port: int, tmp_path: Path,
                                                 state_dir: str) -> None:
    gw, vllm = _broken_pair(lab, gitlab_port)
    names = [gw["name"], vllm["name"]]
    before = {name: lab.user_view(name) for name in names}
    template = tmp_path / "chat_template.jinja"

    declined = _spawn_fix(names, template, state_dir)
    declined.expect(r"Apply these changes\? \[y/N\]: ")
    shown = strip_ansi(str(declined.before))
    declined.sendline("n")
    code, out = _finish(declined)

    assert "+ --env AIGW_CUSTOM_MODELS__ENABLED=true" in shown and "+   --served-model-name mistral" in shown
    assert code == 1 and "aborted, nothing changed" in out, out
    assert {name: lab.user_view(name) for name in names} == before and not template.exists()

    child = _spawn_fix(names, template, state_dir)
    child.expect(r"Apply these changes\? \[y/N\]: ")
    child.sendline("y")
    code, out = _finish(child)

    assert code == 0, out
    assert "Apply these changes?" not in out  # the one question covered both containers
    for name in names:
        assert f"{name}: recreated" in out, out
    assert vllm_chat(lab.host_port(vllm["name"], 8000)) == 200


def test_fix_all_goes_on_past_a_host_it_cannot_reach(cli: Cli, lab: Lab) -> None:
    gw = lab.gateway("fixall-down", {"AIGW_CUSTOM_MODELS__ENABLED": "false"})

    code, out = cli("diagnose", "--fix", "--yes", "-H", "tcp://127.0.0.1:9", "-H", "local",
                    "--container", gw["name"])

    assert code == 1, out  # a host was not fixed
    assert "tcp://127.0.0.1:9" in out and "cannot reach" in out, out
    assert f"{gw['name']}: recreated" in out, out
    env = lab.client.api.inspect_container(gw["name"])["Config"]["Env"]
    assert "AIGW_CUSTOM_MODELS__ENABLED=true" in env


def test_a_fix_that_needs_a_var_is_listed_with_its_command(cli: Cli, lab: Lab) -> None:
    gw = lab.gateway("fixall-url", {"AIGW_GITLAB_URL": "http://localhost"})
    before = lab.user_view(gw["name"])

    code, out = cli("diagnose", "--container", gw["name"])

    assert code == 1, out
    assert f"remediate apply fix-gitlab-url --container {gw['name']} -e gitlab_url=... --dry-run" in out

    # Its localhost GitLab URL also calls for host networking: refused unless allowed.
    code, out = cli("diagnose", "--fix", "--dry-run", "--container", gw["name"])
    assert code == 2 and "refused unless -e allow_all_interfaces=true" in out, out

    code, out = cli("diagnose", "--fix", "--dry-run", "--container", gw["name"], *ALLOW)

    assert code == 1, out  # left to do
    assert f"{gw['name']}: gitlab-url: " in out
    assert (f"fix-gitlab-url needs gitlab_url: remediate diagnose --fix --dry-run --container {gw['name']} "
            "-e allow_all_interfaces=true -e gitlab_url=...") in out

    code, out = cli("diagnose", "--fix", "--dry-run", "--container", gw["name"], *ALLOW,
                    "-e", "gitlab_url=https://gitlab.example.com")

    assert "+ --env AIGW_GITLAB_URL=https://gitlab.example.com" in out
    assert "fix-gitlab-url needs" not in out
    assert lab.user_view(gw["name"]) == before


ALLOW = ["-e", "allow_all_interfaces=true"]


def test_printed_commands_keep_every_option_that_chose_what_was_checked(cli: Cli, lab: Lab) -> None:
    gw = lab.gateway("fixall-scope", {"AIGW_GITLAB_URL": "http://localhost"})
    before = lab.user_view(gw["name"])
    scope = ["--model-name", "my model", "--container", gw["name"], "--model-endpoint", "http://127.0.0.1:9/v1",
             "-H", "local"]

    code, out = cli("diagnose", *scope)

    assert code == 1, out
    lines = out.splitlines()
    [apply_hint] = [line.strip() for line in lines if line.strip().startswith("remediate apply fix-gitlab-url")]
    assert shlex.split(apply_hint) == ["remediate", "apply", "fix-gitlab-url", "--container", gw["name"], "-H",
                                       "local", "-e", "gitlab_url=...", "--dry-run"]
    hint = next(line for line in lines if line.startswith("Or all at once"))
    assert shlex.split(hint.split(": ", 1)[1]) == ["remediate", "diagnose", "--fix", "--dry-run", *scope]

    code, out = cli("diagnose", "--fix", "--dry-run", *scope, "-e", "served_model_name=x y", *ALLOW)

    assert code == 1, out
    left = next(line for line in out.splitlines() if "fix-gitlab-url needs gitlab_url" in line)
    assert shlex.split(left.split("gitlab_url: ", 1)[1]) == ["remediate", "diagnose", "--fix", "--dry-run", *scope[:6],
                                                             "-e", "served_model_name=x y", *ALLOW, *scope[6:],
                                                             "-e", "gitlab_url=..."]
    assert lab.user_view(gw["name"]) == before


def test_an_unfinished_apply_is_warned_of_by_dry_run_and_diagnose(docker_client: Any, state_dir: str,
                                                                  tmp_path: Path) -> None:
    prefix = "rt-fixall-crash-"
    remove_owned(docker_client, prefix)
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    run_vllm(docker_client, name)
    apply = ["apply", "fix-vllm-404", "--container", name, "-e", f"template_host_path={tmp_path / 't.jinja'}"]
    proc = start([*apply, "--yes"], state_dir, REMEDIATE_PAUSE_AT="created")
    try:
        proc.wait_for("remediate: paused at created")
        proc.kill()
        warning = f"did not finish ({name}): run `remediate recover`"

        dry = run([*apply, "--dry-run"], state_dir)

        assert dry.code == 0, dry.output
        assert [line for line in dry.stderr.splitlines() if warning in line] != [], dry.output
        assert "--served-model-name mistral" in dry.stdout  # it went on

        diagnosed = run(["diagnose", "--container", name], state_dir)

        assert diagnosed.code == 1 and "served-model" in diagnosed.stdout, diagnosed.output
        assert [line for line in diagnosed.stderr.splitlines() if warning in line] != [], diagnosed.output

        assert run(["recover"], state_dir).code == 0
        after = run([*apply, "--dry-run"], state_dir)
        assert after.code == 0 and warning not in after.stderr, after.output
    finally:
        proc.stop()
        remove_owned(docker_client, name)
