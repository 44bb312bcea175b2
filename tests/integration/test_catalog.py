"""Every shipped playbook end to end on the real engine.

For each: a deliberately broken container -> the dry run shows the diff and changes nothing ->
``apply --yes`` recreates it and verify passes -> a second apply is a no-op. Then the failure
paths: a host-network switch onto a taken port is rolled back; a missing CA bundle and a
localhost GitLab URL are refused before anything changes.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from remediate.host.connection import Connection
from remediate.packs.gitlab_duo.checks import GitLabFacts
from remediate.packs.gitlab_duo.diagnose import diagnose
from tests.conftest import Cli
from tests.integration._proc import start
from tests.integration.rtcat import AIGW, BUSYBOX, VLLM, Lab, free_port, http, rsa_pem, take_port

pytestmark = pytest.mark.integration

TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"


@dataclass
class Broken:
    """A broken container, the -e vars to fix it, and what the dry run must show."""

    name: str
    vars: list[str] = field(default_factory=list)
    diff: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def _env(lab: Lab, name: str) -> dict[str, str]:
    env = lab.client.api.inspect_container(name)["Config"]["Env"] or []
    return dict(item.partition("=")[::2] for item in env)


# --------------------------------------------------------------------------- the broken containers

def _host_network(lab: Lab, tmp_path: Path) -> Broken:
    gw = lab.gateway("hostnet")
    metrics = free_port()
    return Broken(gw["name"], ["-e", f"metrics_port={metrics}", "-e", "allow_all_interfaces=true"],
                  ["+ --network host", f"+ --env AIGW_FASTAPI__METRICS_PORT={metrics}",
                   f"- --publish 127.0.0.1::{gw['api_port']}",
                   f"note: published ports dropped ({gw['api_port']}/tcp): host networking ignores them",
                   ("note: exposure (warning): on host networking it listens on every interface of the host, every "
                   f"port it listens on (before: published only on loopback ({gw['api_port']}/tcp)); allowed by "
                   "allow_all_interfaces")],
                  {"api_port": gw["api_port"], "metrics": metrics})


def _host_network_after(lab: Lab, broken: Broken) -> None:
    inspect = lab.client.api.inspect_container(broken.name)
    assert inspect["HostConfig"]["NetworkMode"] == "host"
    assert _env(lab, broken.name)["AIGW_FASTAPI__METRICS_PORT"] == str(broken.data["metrics"])
    assert http(broken.data["api_port"], "/monitoring/healthz") == (200, "{}")


def _platform(lab: Lab, tmp_path: Path) -> Broken:
    # The container runs an image built for arm64; its tag now names the amd64 build (as after
    # `docker pull --platform linux/amd64`), so recreating with --platform picks that one.
    tag = lab.arm64_image()
    box = lab.busybox("platform", {"AIGW_LOGGING__LEVEL": "info"}, image=tag)
    repo, _, version = tag.rpartition(":")
    lab.client.api.tag(BUSYBOX, repo, version)
    return Broken(box["name"], [], ["- --platform linux/arm64", "+ --platform linux/amd64"])


def _platform_after(lab: Lab, broken: Broken) -> None:
    image = lab.client.api.inspect_container(broken.name)["Image"]
    assert lab.client.api.inspect_image(image)["Architecture"] == "amd64"


def _ssl(lab: Lab, tmp_path: Path) -> Broken:
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nnot really a certificate\n-----END CERTIFICATE-----\n")
    gw = lab.gateway("ssl")
    return Broken(gw["name"], ["-e", f"ca_bundle={bundle}"],
                  [f"+ --volume {bundle}:/tmp/ca-certificates.crt:ro",
                   "+ --env SSL_CERT_FILE=/tmp/ca-certificates.crt",
                   "+ --env REQUESTS_CA_BUNDLE=/tmp/ca-certificates.crt"], {"bundle": bundle})


def _ssl_after(lab: Lab, broken: Broken) -> None:
    env = _env(lab, broken.name)
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == "/tmp/ca-certificates.crt"
    result = lab.client.containers.get(broken.name).exec_run(["cat", "/tmp/ca-certificates.crt"])
    assert result.exit_code == 0 and result.output.decode() == broken.data["bundle"].read_text()


def _env_case(tag: str, env: dict[str, str], diff: list[str],
              extra: list[str] | None = None) -> Callable[[Lab, Path], Broken]:
    def setup(lab: Lab, tmp_path: Path) -> Broken:
        gw = lab.gateway(tag, env)
        return Broken(gw["name"], extra or [], diff, {"api_port": gw["api_port"]})
    return setup


def _env_after(expected: dict[str, str | None], root_status: int | None = None) -> Callable[[Lab, Broken], None]:
    def check(lab: Lab, broken: Broken) -> None:
        env = _env(lab, broken.name)
        for key, value in expected.items():
            assert env.get(key) == value, key
        if root_status is not None:
            port = lab.host_port(broken.name, broken.data["api_port"])
            assert http(port, "/")[0] == root_status
    return check


def _gitlab_url(lab: Lab, tmp_path: Path) -> Broken:
    gw = lab.gateway("gitlaburl", {"AIGW_GITLAB_URL": "http://localhost"})
    return Broken(gw["name"], ["-e", "gitlab_url=https://gitlab.example.com/"],
                  ["- --env AIGW_GITLAB_URL=http://localhost", "+ --env AIGW_GITLAB_URL=https://gitlab.example.com",
                   "+ --env AIGW_GITLAB_API_URL=https://gitlab.example.com/api/v4/"])


def _vllm(lab: Lab, tmp_path: Path) -> Broken:
    vllm = lab.vllm("vllm", ["--model", "mistralai/Mistral-7B-Instruct-v0.3"])
    template = tmp_path / "chat_template.jinja"
    return Broken(vllm["name"], ["-e", f"template_host_path={template}"],
                  ["+   --served-model-name mistral", "+   --chat-template /etc/vllm/chat_template.jinja"])


def _vllm_after(lab: Lab, broken: Broken) -> None:
    port = lab.host_port(broken.name, 8000)
    status, _ = http(port, "/v1/chat/completions", method="POST",
                     body={"model": "mistral", "messages": [{"role": "user", "content": "Hi"}]})
    assert status == 200


def _tool_calling(lab: Lab, tmp_path: Path) -> Broken:
    vllm = lab.vllm("tools", ["--model", "m", "--served-model-name", "mistral", "--chat-template", TEMPLATE])
    return Broken(vllm["name"], ["-e", "tool_call_parser=mistral"],
                  ["+   --enable-auto-tool-choice", "+   --tool-call-parser mistral"])


def _tool_calling_after(lab: Lab, broken: Broken) -> None:
    status, body = http(lab.host_port(broken.name, 8000), "/v1/chat/completions", method="POST", body={
        "model": "mistral", "messages": [{"role": "user", "content": "Hi"}], "tool_choice": "auto",
        "tools": [{"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}}]})
    assert status == 200, body


def _context(lab: Lab, tmp_path: Path) -> Broken:
    vllm = lab.vllm("context", ["--model", "m", "--max-model-len", "4096"])
    return Broken(vllm["name"], [], ["-   --max-model-len 4096", "+   --max-model-len 17776"])


def _context_after(lab: Lab, broken: Broken) -> None:
    status, body = http(lab.host_port(broken.name, 8000), "/v1/models")
    assert status == 200 and json.loads(body)["data"][0]["max_model_len"] == 17776


# --------------------------------------------------------------------------- the fixes of diagnose's checks (issue 25)

DWS = {"ENABLE_DUO_WORKFLOW_SERVICE": "true"}


def _passes(broken: Broken, *checks: str, gitlab: GitLabFacts | None = None) -> None:
    """``remediate diagnose`` of the fixed container passes ``checks``."""
    with Connection("local") as conn:
        found = {f.check: f for f in diagnose(conn, containers=(broken.name,), gitlab=gitlab)}
    for check in checks:
        assert found[check].status == "pass", found[check]


def _dws_port(lab: Lab, tmp_path: Path) -> Broken:
    gw = lab.gateway("dwsport", DWS)
    host_port = free_port()
    return Broken(gw["name"], ["-e", f"host_port={host_port}"], [f"+ --publish 127.0.0.1:{host_port}:50052"],
                  {"host_port": host_port})


def _dws_port_after(lab: Lab, broken: Broken) -> None:
    assert lab.host_port(broken.name, 50052) == broken.data["host_port"]
    _passes(broken, "dws-port", "dws-health")


KEY_FILES = {"AIGW_SELF_SIGNED_JWT__SIGNING_KEY": "aigw_signing.key",
             "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY": "aigw_validation.key",
             "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY": "duo_workflow_jwt.key",
             "DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY": "duo_workflow_validation.key"}


def _jwt_keys(lab: Lab, tmp_path: Path) -> Broken:
    folder = tmp_path / "keys"
    folder.mkdir()
    for name in KEY_FILES.values():
        (folder / name).write_text(rsa_pem())  # as `openssl genrsa -out FILE 2048` writes it
        (folder / name).chmod(0o600)
    gw = lab.gateway("jwt", {**DWS, "AIGW_SELF_SIGNED_JWT__SIGNING_KEY": "not a key"})
    return Broken(gw["name"], ["-e", f"key_dir={folder}"],
                  ["+ --env 'AIGW_SELF_SIGNED_JWT__VALIDATION_KEY=***'",
                   "+ --env 'DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY=***'",
                   "+ --env 'DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY=***'"], {"folder": folder})


def _jwt_keys_after(lab: Lab, broken: Broken) -> None:
    env = _env(lab, broken.name)
    for name, file in KEY_FILES.items():
        assert env[name] == (broken.data["folder"] / file).read_text().rstrip("\n"), name
    _passes(broken, "jwt-keys")


def _hf_cache(lab: Lab, tmp_path: Path) -> Broken:
    empty = tmp_path / "hf"
    empty.mkdir()
    gw = lab.gateway("hf", volumes={str(empty): {"bind": "/home/aigateway/.hf", "mode": "rw"}})
    return Broken(gw["name"], [], [f"- --volume {empty}:/home/aigateway/.hf"])


def _hf_cache_after(lab: Lab, broken: Broken) -> None:
    found = lab.client.containers.get(broken.name).exec_run(
        ["ls", "/home/aigateway/.hf/hub/models--Salesforce--codegen2-16B"])
    assert found.exit_code == 0 and b"tokenizer.json" in found.output  # the image's cache again
    _passes(broken, "hf-cache")


def _read_only_tmp(lab: Lab, tmp_path: Path) -> Broken:
    gw = lab.gateway("rotmp", read_only=True, user="65534:65534")  # not root: the tmpfs's mode matters
    return Broken(gw["name"], [], ["+ --tmpfs /tmp:rw,nosuid,nodev,mode=1777,size=512m"])


def _read_only_tmp_after(lab: Lab, broken: Broken) -> None:
    wrote = lab.client.containers.get(broken.name).exec_run(["python3", "-c", "open('/tmp/probe', 'w').write('x')"])
    assert wrote.exit_code == 0, wrote.output
    assert lab.client.api.inspect_container(broken.name)["HostConfig"]["ReadonlyRootfs"] is True
    _passes(broken, "tmp-writable")


def _old_gateway(lab: Lab, tmp_path: Path) -> Broken:
    old, new = lab.release(AIGW, "model-gateway", "self-hosted-v18.0.0-ee", "self-hosted-v18.8.1-ee")
    gw = lab.gateway("upgrade", {"AIGW_GITLAB_URL": "https://gitlab.example.com"}, image=old)
    return Broken(gw["name"], ["-e", "version=18.8.1"], [f"- {old}", f"+ {new}"], {"new": new})


def _old_gateway_after(lab: Lab, broken: Broken) -> None:
    inspect = lab.client.api.inspect_container(broken.name)
    assert inspect["Config"]["Image"] == broken.data["new"]
    assert _env(lab, broken.name)["AIGW_GITLAB_URL"] == "https://gitlab.example.com"
    _passes(broken, "gateway-version", "healthz", gitlab=GitLabFacts(version="18.8.1-ee"))


def _old_vllm(lab: Lab, tmp_path: Path) -> Broken:
    old, new = lab.release(VLLM, "vllm-openai", "v0.6.3", "v0.18.1", {"FAKE_VLLM_VERSION": "0.18.1"})
    vllm = lab.vllm("upgrade", ["--model", "m", "--served-model-name", "mistral", "--chat-template", TEMPLATE],
                    image=old)
    return Broken(vllm["name"], ["-e", "tag=v0.18.1"], [f"- {old}", f"+ {new}"], {"new": new})


def _old_vllm_after(lab: Lab, broken: Broken) -> None:
    inspect = lab.client.api.inspect_container(broken.name)
    assert inspect["Config"]["Image"] == broken.data["new"]
    assert inspect["Config"]["Cmd"][:2] == ["--model", "m"]
    status, body = http(lab.host_port(broken.name, 8000), "/version")
    assert status == 200 and json.loads(body)["version"] == "0.18.1"
    _passes(broken, "vllm-version", "served-model", "chat-template")


CASES: dict[str, tuple[Callable[[Lab, Path], Broken], Callable[[Lab, Broken], None]]] = {
    "fix-gateway-host-network": (_host_network, _host_network_after),
    "fix-image-platform": (_platform, _platform_after),
    "fix-ssl-ca-bundle": (_ssl, _ssl_after),
    "fix-streaming-a1003": (
        _env_case("streaming", {}, ["+ --env AIGW_CUSTOM_MODELS__DISABLE_STREAMING=true"]),
        _env_after({"AIGW_CUSTOM_MODELS__DISABLE_STREAMING": "true"})),
    "enable-custom-models": (
        _env_case("custom", {"AIGW_CUSTOM_MODELS__ENABLED": "false"},
                  ["- --env AIGW_CUSTOM_MODELS__ENABLED=false", "+ --env AIGW_CUSTOM_MODELS__ENABLED=true"]),
        _env_after({"AIGW_CUSTOM_MODELS__ENABLED": "true"})),
    "disable-auth-bypass": (
        _env_case("bypass", {"AIGW_AUTH__BYPASS_EXTERNAL": "true", "AIGW_AUTH__BYPASS_JWT_SIGNATURE": "True"},
                  ["- --env AIGW_AUTH__BYPASS_EXTERNAL=true", "- --env AIGW_AUTH__BYPASS_JWT_SIGNATURE=True"]),
        _env_after({"AIGW_AUTH__BYPASS_EXTERNAL": None, "AIGW_AUTH__BYPASS_JWT_SIGNATURE": None}, root_status=401)),
    "fix-gitlab-url": (
        _gitlab_url,
        _env_after({"AIGW_GITLAB_URL": "https://gitlab.example.com",
                    "AIGW_GITLAB_API_URL": "https://gitlab.example.com/api/v4/"})),
    "fix-vllm-404": (_vllm, _vllm_after),
    "fix-no-proxy": (
        _env_case("proxy", {"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "corp.example",
                            "AIGW_GITLAB_URL": "https://gitlab.example.com"},
                  ["- --env NO_PROXY=corp.example",
                   "+ --env NO_PROXY=corp.example,gitlab.example.com,localhost,127.0.0.1",
                   "+ --env no_proxy=corp.example,gitlab.example.com,localhost,127.0.0.1"]),
        _env_after({"NO_PROXY": "corp.example,gitlab.example.com,localhost,127.0.0.1",
                    "no_proxy": "corp.example,gitlab.example.com,localhost,127.0.0.1"})),
    "fix-offline-portal-urls": (
        _env_case("portal", {"AIGW_GITLAB_URL": "https://gitlab.example.com"},
                  ["+ --env AIGW_CUSTOMER_PORTAL_URL=https://gitlab.example.com",
                   "+ --env DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL=https://gitlab.example.com"],
                  ["-e", "gitlab_url=https://gitlab.example.com/"]),
        _env_after({"AIGW_CUSTOMER_PORTAL_URL": "https://gitlab.example.com",
                    "DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL": "https://gitlab.example.com"})),
    "enable-vllm-tool-calling": (_tool_calling, _tool_calling_after),
    "set-vllm-max-model-len": (_context, _context_after),
    "publish-agent-platform-port": (_dws_port, _dws_port_after),
    "set-gateway-jwt-keys": (_jwt_keys, _jwt_keys_after),
    "fix-hf-cache": (_hf_cache, _hf_cache_after),
    "fix-tmp-writable": (_read_only_tmp, _read_only_tmp_after),
    "upgrade-gateway": (_old_gateway, _old_gateway_after),
    "upgrade-vllm": (_old_vllm, _old_vllm_after),
}


#: Playbooks with an end-to-end test of their own below.
TIME_BOXED = {"troubleshoot-mode"}


@pytest.mark.parametrize("playbook", sorted(CASES))
def test_dry_run_apply_verify_then_no_op(playbook: str, cli: Cli, lab: Lab, tmp_path: Path) -> None:
    setup, after = CASES[playbook]
    broken = setup(lab, tmp_path)
    before = lab.user_view(broken.name)
    names = lab.names()
    args = ["apply", playbook, "--container", broken.name, *broken.vars]

    code, out = cli(*args, "--dry-run")

    assert code == 0, out
    assert "recreate" in out and "Dry run: nothing changed" in out
    for line in broken.diff:
        assert line in out, f"{line!r} not in dry run:\n{out}"
    assert lab.user_view(broken.name) == before
    assert lab.names() == names

    code, out = cli(*args, "--yes", "--timeout", "30", "--format", "json")

    assert code == 0, out
    [result] = _containers(out)
    assert result["action"] == "recreated", out
    assert all(check["ok"] for check in result["checks"])
    fixed = lab.client.api.inspect_container(broken.name)
    assert fixed["Id"] != before["Id"] and fixed["State"]["Running"]
    after(lab, broken)

    code, out = cli(*args, "--yes", "--format", "json")

    assert code == 0, out
    assert _unchanged(out), out
    assert lab.client.api.inspect_container(broken.name)["Id"] == fixed["Id"]


def _containers(out: str) -> list[dict[str, Any]]:
    """Container results of ``apply --format json``, whatever the host nesting."""
    data = json.loads(out)
    if "containers" in data and "plan" in data:
        return list(data["containers"])
    hosts = data.get("hosts") or data.get("results") or []
    if isinstance(hosts, dict):
        hosts = list(hosts.values())
    return [c for host in hosts for c in host.get("containers", [])]


def _unchanged(out: str) -> bool:
    """True when ``apply --format json`` changed nothing (it prints the plan, or a result)."""
    data = json.loads(out)
    if "plan" not in data and "changed" in data:
        return data["changed"] == 0 and all(c["action"] == "none" for c in data["containers"])
    return all(c["action"] == "unchanged" for c in _containers(out))


def test_troubleshoot_mode_bypasses_auth_for_a_bounded_time(cli: Cli, lab: Lab, state_dir: str) -> None:
    gw = lab.gateway("troubleshoot")
    before = lab.user_view(gw["name"])
    args = ["apply", "troubleshoot-mode", "--container", gw["name"], "-e", "duration=8"]

    code, out = cli(*args, "--dry-run")

    assert code == 0, out
    assert "+ --env AIGW_AUTH__BYPASS_EXTERNAL=true" in out and "Dry run: nothing changed" in out
    assert lab.user_view(gw["name"]) == before

    # The real command holds the change for `duration` seconds, then restores: run it aside.
    proc = start([*args, "--yes", "--timeout", "30"], state_dir)
    try:
        proc.wait_for("Time-boxed change: restoring in", stream="stdout")
        assert _env(lab, gw["name"])["AIGW_AUTH__BYPASS_EXTERNAL"] == "true"
        assert lab.wait_http(gw["name"], gw["api_port"], "/")[0] == 404  # auth is off

        code, again = cli(*args, "--yes", "--format", "json")  # while it holds: nothing to do

        assert code == 0 and _unchanged(again), again
        returncode = proc.wait()
    finally:
        proc.stop()

    output = "".join(proc.stdout + proc.stderr)
    assert returncode == 0, output
    assert "restoring in 8 s" in output and "restored" in output
    restored = lab.client.api.inspect_container(gw["name"])
    assert restored["Id"] == before["Id"] and restored["State"]["Running"]
    assert "AIGW_AUTH__BYPASS_EXTERNAL" not in _env(lab, gw["name"])
    assert lab.wait_http(gw["name"], gw["api_port"], "/")[0] == 401


def test_troubleshoot_mode_ctrl_c_during_its_hold_restores_at_once(lab: Lab, state_dir: str) -> None:
    gw = lab.gateway("troubleshoot-ctrl-c")
    before = lab.user_view(gw["name"])
    proc = start(["apply", "troubleshoot-mode", "--container", gw["name"], "-e", "duration=3600", "--yes"],
                 state_dir)
    try:
        proc.wait_for("Time-boxed change: restoring in", stream="stdout")
        os.kill(proc.pid, signal.SIGINT)
        returncode = proc.wait()
    finally:
        proc.stop()

    assert returncode == 0, "".join(proc.stdout + proc.stderr)
    assert "interrupted: restoring now" in "".join(proc.stderr)
    assert lab.client.api.inspect_container(gw["name"])["Id"] == before["Id"]
    assert "AIGW_AUTH__BYPASS_EXTERNAL" not in _env(lab, gw["name"])


def test_troubleshoot_mode_killed_during_its_hold_is_restored_by_recover(cli: Cli, lab: Lab, state_dir: str) -> None:
    gw = lab.gateway("troubleshoot-killed")
    before = lab.user_view(gw["name"])
    proc = start(["apply", "troubleshoot-mode", "--container", gw["name"], "-e", "duration=3600", "--yes"],
                 state_dir)
    try:
        proc.wait_for("Time-boxed change: restoring in", stream="stdout")
    finally:
        proc.stop()  # SIGKILL during the hold: the bypass stays on, nothing would restore it
    assert _env(lab, gw["name"])["AIGW_AUTH__BYPASS_EXTERNAL"] == "true"
    code, out = cli("history", "--container", gw["name"])
    assert code == 0 and "time-boxed, restore due" in out  # in an hour: not overdue yet

    code, out = cli("recover")

    assert code == 0, out
    assert f"{gw['name']}: restored the time-boxed change" in out
    restored = lab.client.api.inspect_container(gw["name"])
    assert restored["Id"] == before["Id"] and restored["State"]["Running"]
    assert "AIGW_AUTH__BYPASS_EXTERNAL" not in _env(lab, gw["name"])
    assert lab.wait_http(gw["name"], gw["api_port"], "/")[0] == 401
    assert cli("recover")[1].startswith("nothing to recover")
    code, out = cli("apply", "troubleshoot-mode", "--restore", "--container", gw["name"])  # done already:
    assert code == 0 and "nothing to restore" in out  # the bypass container is never put back
    assert lab.client.api.inspect_container(gw["name"])["Id"] == before["Id"]


def test_troubleshoot_mode_killed_before_its_hold_is_kept_then_restored_by_recover(cli: Cli, lab: Lab,
                                                                                 state_dir: str) -> None:
    gw = lab.gateway("troubleshoot-verified")
    before = lab.user_view(gw["name"])
    proc = start(["apply", "troubleshoot-mode", "--container", gw["name"], "--yes"], state_dir,
                 REMEDIATE_PAUSE_AT="verified")
    try:
        proc.wait_for("remediate: paused at verified")
    finally:
        proc.stop()

    code, out = cli("recover")

    assert code == 0, out
    assert f"{gw['name']}: kept the verified new container" in out  # the journal says it verified...
    assert f"{gw['name']}: restored the time-boxed change" in out  # ...and that it was only for a while
    assert lab.client.api.inspect_container(gw["name"])["Id"] == before["Id"]
    assert "AIGW_AUTH__BYPASS_EXTERNAL" not in _env(lab, gw["name"])


# --------------------------------------------------------------------------- failure paths

@pytest.mark.parametrize("extra", [[], ["-e", "allow_all_interfaces=false"]])
def test_host_network_of_a_loopback_only_gateway_needs_the_var(extra: list[str], cli: Cli, lab: Lab) -> None:
    gw = lab.gateway("exposed")  # published on 127.0.0.1 only
    before = lab.user_view(gw["name"])
    for mode in ("--dry-run", "--yes"):
        code, out = cli("apply", "fix-gateway-host-network", "--container", gw["name"], *extra, mode)

        assert code == 2, out
        [line] = out.strip().splitlines()
        assert f"network host would expose {gw['name']} on every interface of the host (its ports: published only " \
               f"on loopback ({gw['api_port']}/tcp)" in line and "refused unless -e allow_all_interfaces=true" in line
        assert lab.user_view(gw["name"]) == before


@pytest.mark.parametrize("taken", ["api", "metrics"])
def test_host_network_onto_a_taken_port_is_rolled_back(taken: str, cli: Cli, lab: Lab) -> None:
    gw = lab.gateway(f"clash-{taken}")
    metrics = free_port()
    before = lab.user_view(gw["name"])
    blocker = take_port(gw["api_port"] if taken == "api" else metrics)
    try:
        code, out = cli("apply", "fix-gateway-host-network", "--container", gw["name"], "-e",
                        f"metrics_port={metrics}", "-e", "allow_all_interfaces=true", "--yes", "--timeout", "5")
    finally:
        blocker.close()

    assert code == 1, out
    assert "rolled back" in out or "restored" in out, out
    restored = lab.client.api.inspect_container(gw["name"])
    assert restored["Id"] == before["Id"] and restored["State"]["Running"]
    assert restored["HostConfig"]["NetworkMode"] != "host"
    assert lab.wait_http(gw["name"], gw["api_port"], "/monitoring/healthz")[0] == 200
    assert {n for n in lab.names() if "-remediate-new" in n} == set()


def test_ssl_ca_bundle_missing_is_refused_and_changes_nothing(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    gw = lab.gateway("nobundle")
    before, names = lab.user_view(gw["name"]), lab.names()

    code, out = cli("apply", "fix-ssl-ca-bundle", "--container", gw["name"], "-e",
                    f"ca_bundle={tmp_path / 'missing.pem'}", "--yes", "--timeout", "5")

    assert code == 2, out
    assert "missing.pem does not exist on the Docker host" in out
    assert lab.user_view(gw["name"]) == before and lab.names() == names


@pytest.mark.parametrize("url", ["http://localhost:8080", "https://127.0.0.1/gitlab"])
def test_gitlab_url_on_localhost_is_refused(url: str, cli: Cli, lab: Lab) -> None:
    gw = lab.gateway("localhost", wait=False)
    before, names = lab.user_view(gw["name"]), lab.names()

    code, out = cli("apply", "fix-gitlab-url", "--container", gw["name"], "-e", f"gitlab_url={url}",
                    "--yes", "--timeout", "5")

    assert code == 2, out
    assert "points at localhost" in out
    assert lab.user_view(gw["name"]) == before and lab.names() == names
