"""`remediate diagnose` on the real engine: one deliberately broken container per check.

Each test creates its own containers (rt-cat-*) and diagnoses only those (``containers=``), so
other containers on the engine, and parallel runs, never change the outcome.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from remediate.host.connection import Connection
from remediate.packs.gitlab_duo.diagnose import Finding, diagnose
from tests.conftest import Cli
from tests.integration.rtcat import (
    CURRENT_VLLM_ARGS,
    CURRENT_VLLM_ENV,
    Lab,
    current_gateway_env,
    free_port,
    take_port,
)

pytestmark = pytest.mark.integration

SECRET = "sk-rt-cat-secret-4711"
TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"




def _diagnose(*names: str, **kwargs: Any) -> dict[tuple[str, str], Finding]:
    with Connection("local") as conn:
        findings = diagnose(conn, containers=names, **kwargs)
    assert all(f.container in names for f in findings)
    return {(f.container, f.check): f for f in findings}


def _check(found: dict[tuple[str, str], Finding], name: str, check: str, status: str | set[str],
           fix: str | None) -> Finding:
    finding = found[(name, check)]
    allowed = {status} if isinstance(status, str) else status
    assert finding.status in allowed, finding
    assert finding.fix == fix, finding
    return finding


def _wait_state(lab: Lab, name: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        inspect = lab.client.api.inspect_container(name)
        if done(inspect):
            return dict(inspect)
        assert time.monotonic() < deadline, inspect["State"]
        time.sleep(0.2)


# --------------------------------------------------------------------------- container state and platform

def test_exited_container(lab: Lab) -> None:
    box = lab.busybox("exited", {"AIGW_LOGGING__LEVEL": "info"}, command=["sh", "-c", "echo boom: error >&2; exit 3"])
    _wait_state(lab, box["name"], lambda i: i["State"]["Status"] == "exited")

    found = _diagnose(box["name"])

    finding = _check(found, box["name"], "state", "fail", None)
    assert "exited, exit code 3" in finding.evidence and "boom: error" in finding.evidence
    assert found[(box["name"], "healthz")].status == "warn"  # not checked: not running


def test_restart_loop_on_a_host_port_clash(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    # the default window: a loaded machine can take longer than the tests' 0.5 s to crash again
    monkeypatch.setenv("REMEDIATE_STABLE_SECONDS", "2")
    metrics = free_port()
    blocker = take_port(metrics)
    try:
        gw = lab.gateway("loop", {"AIGW_FASTAPI__METRICS_PORT": str(metrics)}, network="host", wait=False,
                         restart_policy={"Name": "always"})
        _wait_state(lab, gw["name"], lambda i: i["State"]["Restarting"] or i["RestartCount"] >= 3)

        found = _diagnose(gw["name"])
    finally:
        blocker.close()

    state = _check(found, gw["name"], "state", "fail", "fix-gateway-host-network")
    assert "restart" in state.evidence and "in use" in state.evidence.lower()
    ports = _check(found, gw["name"], "host-network-ports", "fail", "fix-gateway-host-network")
    assert f"metrics port {metrics} is taken" in ports.evidence


def test_platform_mismatch(lab: Lab) -> None:
    box = lab.busybox("arm64", {"AIGW_LOGGING__LEVEL": "info"}, image=lab.arm64_image())

    found = _diagnose(box["name"])

    finding = _check(found, box["name"], "platform", "warn", "fix-image-platform")
    assert "linux/arm64" in finding.evidence and "amd64" in finding.evidence
    assert found[(box["name"], "state")].status == "pass"


# --------------------------------------------------------------------------- AI gateway

def test_healthz_not_answering(lab: Lab) -> None:
    gw = lab.gateway("slow", {"FAKE_AIGW_STARTUP_DELAY": "120"}, wait=False)

    found = _diagnose(gw["name"])

    finding = _check(found, gw["name"], "healthz", "fail", None)
    assert "/monitoring/healthz" in finding.evidence and "no answer" in finding.evidence


def test_auth_bypass_on(lab: Lab) -> None:
    gw = lab.gateway("bypass", {"AIGW_AUTH__BYPASS_EXTERNAL": "true"})

    found = _diagnose(gw["name"])

    probe = _check(found, gw["name"], "auth-probe", "fail", "disable-auth-bypass")
    assert ": 404" in probe.evidence
    _check(found, gw["name"], "auth-bypass", "fail", "disable-auth-bypass")
    _check(found, gw["name"], "healthz", "pass", None)


def test_auth_bypass_of_jwt_signature_only(lab: Lab) -> None:
    gw = lab.gateway("jwtbypass", {"AIGW_AUTH__BYPASS_JWT_SIGNATURE": "True"})

    found = _diagnose(gw["name"])

    finding = _check(found, gw["name"], "auth-bypass", "fail", "disable-auth-bypass")
    assert "AIGW_AUTH__BYPASS_JWT_SIGNATURE=True" in finding.evidence
    _check(found, gw["name"], "auth-probe", "pass", None)  # GET / still 401


@pytest.mark.parametrize(("value", "status"), [("false", "fail"), ("True", "warn"), ("maybe", "fail")])
def test_custom_models(value: str, status: str, lab: Lab) -> None:
    box = lab.busybox("custom", {"AIGW_CUSTOM_MODELS__ENABLED": value})

    found = _diagnose(box["name"])

    _check(found, box["name"], "custom-models", status, "enable-custom-models")


def test_custom_models_unset(lab: Lab) -> None:
    box = lab.busybox("custom-unset", {"AIGW_LOGGING__LEVEL": "info"})

    finding = _check(_diagnose(box["name"]), box["name"], "custom-models", "fail", "enable-custom-models")
    assert "unset" in finding.evidence


@pytest.mark.parametrize(("env", "status", "text"), [
    ({}, "fail", "AIGW_GITLAB_URL is unset"),
    ({"AIGW_GITLAB_URL": "http://localhost:8080", "AIGW_GITLAB_API_URL": "http://localhost:8080/api/v4/"},
     "fail", "points at localhost"),
    ({"AIGW_GITLAB_URL": "https://gitlab.example.com", "AIGW_GITLAB_API_URL": "https://other.example.com/api/v4/"},
     "fail", "does not match"),
    ({"AIGW_GITLAB_URL": "https://gitlab.example.com"}, "warn", "AIGW_GITLAB_API_URL is unset"),
])
def test_gitlab_url(env: dict[str, str], status: str, text: str, lab: Lab) -> None:
    box = lab.busybox("gitlab", {"AIGW_LOGGING__LEVEL": "info", **env})

    finding = _check(_diagnose(box["name"]), box["name"], "gitlab-url", status, "fix-gitlab-url")
    assert text in finding.evidence


def test_self_sign_tokens_anywhere(lab: Lab) -> None:
    gitlab = lab.busybox("gitlab-rails", {"CLOUD_CONNECTOR_SELF_SIGN_TOKENS": "1"})
    gw = lab.busybox("gw-selfsign", {"AIGW_LOGGING__LEVEL": "info", "CLOUD_CONNECTOR_SELF_SIGN_TOKENS": "1"})

    found = _diagnose(gitlab["name"], gw["name"])

    for name in (gitlab["name"], gw["name"]):
        finding = _check(found, name, "self-sign-tokens", "fail", None)
        assert "CLOUD_CONNECTOR_SELF_SIGN_TOKENS" in finding.evidence and "production" in finding.evidence
    assert found[(gitlab["name"], "self-sign-tokens")].kind == "other"


def test_ca_bundle_missing_in_a_running_gateway(lab: Lab) -> None:
    gw = lab.gateway("nobundle", {"SSL_CERT_FILE": "/tmp/ca.pem", "REQUESTS_CA_BUNDLE": "/tmp/ca.pem"})

    finding = _check(_diagnose(gw["name"]), gw["name"], "ca-bundle", "fail", "fix-ssl-ca-bundle")
    assert "SSL_CERT_FILE=/tmp/ca.pem" in finding.evidence and "docker exec" in finding.evidence


def test_ca_bundle_mounted(lab: Lab, tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    bundle.write_text("pem\n")
    env = {"AIGW_LOGGING__LEVEL": "info", "SSL_CERT_FILE": "/certs/ca.pem", "REQUESTS_CA_BUNDLE": "/certs/ca.pem"}
    running = lab.busybox("bundle", env, volumes={str(tmp_path): {"bind": "/certs", "mode": "ro"}})
    stopped = lab.busybox("bundle-stopped", env, volumes={str(tmp_path): {"bind": "/certs", "mode": "ro"}},
                          start=False)
    half = lab.busybox("bundle-half", {**env, "REQUESTS_CA_BUNDLE": ""},
                       volumes={str(tmp_path): {"bind": "/certs", "mode": "ro"}})

    found = _diagnose(running["name"], stopped["name"], half["name"])

    _check(found, running["name"], "ca-bundle", "pass", None)
    not_checked = _check(found, stopped["name"], "ca-bundle", "warn", None)
    assert "bind mount" in not_checked.evidence
    _check(found, half["name"], "ca-bundle", "warn", "fix-ssl-ca-bundle")


def test_host_network_port_clash_on_a_bridge_gateway(lab: Lab) -> None:
    metrics = free_port()
    gw = lab.gateway("clash", {"AIGW_FASTAPI__METRICS_PORT": str(metrics)})
    api_taken = lab.gateway("clash-api", {"AIGW_FASTAPI__METRICS_PORT": str(free_port())})
    blockers = [take_port(metrics), take_port(api_taken["api_port"])]
    try:
        found = _diagnose(gw["name"], api_taken["name"])
    finally:
        for sock in blockers:
            sock.close()

    finding = _check(found, gw["name"], "host-network-ports", "warn", "fix-gateway-host-network")
    assert f"metrics port {metrics} is taken" in finding.evidence
    finding = _check(found, api_taken["name"], "host-network-ports", "warn", None)
    assert f"API port {api_taken['api_port']} is taken" in finding.evidence


# --------------------------------------------------------------------------- vLLM

def test_vllm_not_answering(lab: Lab) -> None:
    vllm = lab.vllm("loading", ["--served-model-name", "mistral"], env={"FAKE_VLLM_STARTUP_DELAY": "120"},
                    wait=False)

    finding = _check(_diagnose(vllm["name"]), vllm["name"], "health", "fail", None)
    assert "/health" in finding.evidence


def test_vllm_model_name_not_served(lab: Lab) -> None:
    vllm = lab.vllm("noname", ["--model", "mistralai/Mistral-7B-Instruct-v0.3", "--chat-template", TEMPLATE])

    found = _diagnose(vllm["name"])

    finding = _check(found, vllm["name"], "served-model", "fail", "fix-vllm-404")
    assert "mistralai/Mistral-7B-Instruct-v0.3" in finding.evidence and "'mistral'" in finding.evidence
    _check(found, vllm["name"], "chat-template", "pass", None)
    _check(found, vllm["name"], "health", "pass", None)


def test_vllm_model_name_option(lab: Lab) -> None:
    vllm = lab.vllm("codestral", ["--served-model-name", "codestral", "--chat-template", TEMPLATE])

    _check(_diagnose(vllm["name"], model_name="codestral"), vllm["name"], "served-model", "pass", None)


def test_vllm_without_chat_template(lab: Lab) -> None:
    vllm = lab.vllm("notemplate", ["--served-model-name", "mistral"])

    found = _diagnose(vllm["name"])

    finding = _check(found, vllm["name"], "chat-template", "fail", "fix-vllm-404")
    assert ": 400" in finding.evidence and "chat template" in finding.evidence
    _check(found, vllm["name"], "served-model", "pass", None)


def test_vllm_api_key(lab: Lab) -> None:
    vllm = lab.vllm("apikey", ["--served-model-name", "mistral", "--chat-template", TEMPLATE, "--api-key", SECRET])

    found = _diagnose(vllm["name"])

    finding = _check(found, vllm["name"], "api-key", "warn", None)
    assert "401" in finding.evidence
    _check(found, vllm["name"], "served-model", "pass", None)  # checked with the container's own key
    _check(found, vllm["name"], "chat-template", "pass", None)
    assert all(SECRET not in f.evidence for f in found.values())


def test_streaming_checks_for_a1003(lab: Lab) -> None:
    good = lab.vllm("stream", ["--served-model-name", "mistral", "--chat-template", TEMPLATE])
    bad = lab.vllm("nostream", ["--served-model-name", "mistral"])
    gw = lab.busybox("gw-stream", {"AIGW_LOGGING__LEVEL": "info"})
    off = lab.busybox("gw-nostream", {"AIGW_CUSTOM_MODELS__DISABLE_STREAMING": "true"})

    found = _diagnose(good["name"], bad["name"], gw["name"], off["name"], error_code="a1003")

    _check(found, good["name"], "streaming", "pass", None)
    _check(found, bad["name"], "streaming", "fail", "fix-streaming-a1003")
    _check(found, gw["name"], "streaming", "warn", "fix-streaming-a1003")
    _check(found, off["name"], "streaming", "pass", None)
    assert (good["name"], "streaming") not in _diagnose(good["name"])  # only asked for with A1003


# --------------------------------------------------------------------------- the command

def _healthy(lab: Lab, gitlab_port: int) -> list[str]:
    # On host networking, so the vLLM's published port is its localhost (the reachability check).
    gitlab = f"http://gitlab.example.com:{gitlab_port}"
    gw = lab.gateway("healthy", {"AIGW_GITLAB_URL": gitlab, "AIGW_GITLAB_API_URL": f"{gitlab}/api/v4/",
                                 **current_gateway_env(gitlab)}, network="host")
    vllm = lab.vllm("healthy-vllm", ["--served-model-name", "mistral", "--chat-template", TEMPLATE,
                                     *CURRENT_VLLM_ARGS], env=CURRENT_VLLM_ENV)
    return [gw["name"], vllm["name"]]


def test_healthy_set_exits_0(cli: Cli, lab: Lab, gitlab_port: int) -> None:
    names = _healthy(lab, gitlab_port)
    args = [a for name in names for a in ("--container", name)]

    code, out = cli("diagnose", *args, "--format", "json")

    assert code == 0, out
    data = json.loads(out)
    assert data["ok"] and data["counts"]["fail"] == 0 and data["counts"]["warn"] == 0, out
    assert {f["container"] for f in data["findings"]} == set(names)
    assert {f["kind"] for f in data["findings"]} == {"ai-gateway", "vllm"}

    code, out = cli("diagnose", *args)

    assert code == 0, out
    assert f"AI gateway {names[0]}" in out and f"vLLM {names[1]}" in out
    assert "0 fail" in out


def test_a_failing_check_exits_1_and_names_the_fix(cli: Cli, lab: Lab) -> None:
    gw = lab.gateway("cli-bypass", {"AIGW_AUTH__BYPASS_EXTERNAL": "true",
                                    "AIGW_SELF_SIGNED_JWT__SIGNING_KEY": SECRET})

    code, out = cli("diagnose", "--container", gw["name"])

    assert code == 1, out
    assert "auth-bypass" in out and "fail" in out
    assert f"remediate apply disable-auth-bypass --container {gw['name']} --dry-run" in out
    assert SECRET not in out


def test_piped_text_keeps_each_finding_on_one_whole_line(cli: Cli, lab: Lab) -> None:
    # what support gets from `remediate diagnose > diag.txt`: no 80-column table folding a
    # value mid-word, no trailing spaces
    gw = lab.gateway("cli-piped", {"AIGW_AUTH__BYPASS_EXTERNAL": "true", "AIGW_CUSTOM_MODELS__ENABLED": "false"})
    narrow = Cli(env={**cli.env, "COLUMNS": None})
    data = json.loads(narrow("diagnose", "--container", gw["name"], "--format", "json")[1])

    code, out = narrow("diagnose", "--container", gw["name"])

    assert code == 1, out
    lines = out.splitlines()
    assert all(line == line.rstrip() for line in lines), out
    for finding in data["findings"]:
        (line,) = [line for line in lines if line.startswith(finding["check"] + " ")]
        assert line.split()[1] == finding["status"]
        assert line.endswith(" ".join(finding["evidence"].split())), (line, finding)


def test_error_code_explained(cli: Cli, lab: Lab) -> None:
    gw = lab.busybox("cli-a1003", {"AIGW_LOGGING__LEVEL": "info"})

    code, out = cli("diagnose", "--error", "a1003", "--container", gw["name"], "--format", "json")

    data = json.loads(out)
    assert data["error"]["code"] == "A1003"
    assert data["error"]["message"].endswith("Error code: A1003")
    assert "fix-streaming-a1003" in data["error"]["playbooks"]
    assert "streaming" in data["error"]["not_passing"]

    code, out = cli("diagnose", "--error", "A1003", "--container", gw["name"])

    assert code == 1, out  # its AIGW_GITLAB_URL is unset
    assert "Error A1003" in out and "streaming" in out.lower() and "fix-streaming-a1003" in out


def test_bad_input_exits_2(cli: Cli, lab: Lab) -> None:
    assert cli("diagnose", "--error", "A4242")[0] == 2
    code, out = cli("diagnose", "--container", lab.name("does-not-exist"))
    assert code == 2 and "no container named" in out


def test_a_misspelled_container_names_the_close_one(cli: Cli, lab: Lab) -> None:
    box = lab.busybox("did-you-mean", {"AIGW_LOGGING__LEVEL": "info"})
    typo = box["name"].replace("did-you-mean", "did-you-maen")

    for args in (["diagnose"], ["apply", "fix-streaming-a1003", "--dry-run"]):
        code, out = cli(*args, "--container", typo)

        assert code == 2, out
        assert f"no container named {typo}; did you mean {box['name']}?" in out
