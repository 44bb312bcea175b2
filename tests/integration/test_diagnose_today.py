"""`remediate diagnose` on the real engine, today's catalog (issue 25): the Agent Platform half of
the AI gateway and vLLM's serving profile. Each check has a broken container that fails it and a
correct one that passes it; every container is the test's own (``containers=``).
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path
from typing import Any

import docker
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from remediate.host.connection import Connection
from remediate.packs.gitlab_duo.checks import GitLabFacts
from remediate.packs.gitlab_duo.diagnose import Finding, diagnose
from tests.conftest import Cli
from tests.integration.rtcat import (
    AIGW,
    CURRENT_VLLM_ENV,
    VLLM,
    Lab,
    current_gateway_env,
    free_port,
    http,
    rsa_pem,
)

pytestmark = pytest.mark.integration

TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"
DWS = {"ENABLE_DUO_WORKFLOW_SERVICE": "true"}


def _diagnose(*names: str, **kwargs: Any) -> dict[tuple[str, str], Finding]:
    with Connection("local") as conn:
        findings = diagnose(conn, containers=names, **kwargs)
    return {(f.container, f.check): f for f in findings}


def _check(found: dict[tuple[str, str], Finding], name: str, check: str, status: str,
           fix: str | None = None) -> Finding:
    finding = found[(name, check)]
    assert finding.status == status, finding
    assert finding.fix == fix, finding
    return finding


def _keys(*prefixes: str) -> dict[str, str]:
    return {f"{p}__{part}": rsa_pem() for p in prefixes for part in ("SIGNING_KEY", "VALIDATION_KEY")}


def _tls_files(tmp_path: Path) -> Path:
    """A self-signed certificate for localhost and its key, in a directory to mount."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path / "dws-tls"
    folder.mkdir()
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    for path in (folder, *folder.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)
    return folder


# --------------------------------------------------------------------------- the Agent Platform

def test_agent_platform_port_not_published(lab: Lab) -> None:
    gw = lab.gateway("dws-unpublished", DWS)

    found = _diagnose(gw["name"])

    port = _check(found, gw["name"], "dws-port", "fail", "publish-agent-platform-port")
    assert "50052 is not published" in port.evidence
    _check(found, gw["name"], "dws-health", "pass")  # it serves, inside the container
    assert found[(gw["name"], "dws-tls")].status == "warn"


def test_agent_platform_published_and_serving_plain(lab: Lab) -> None:
    gw = lab.gateway("dws-plain", DWS, ports=(50052,))

    found = _diagnose(gw["name"])
    plain_gitlab = _diagnose(gw["name"], gitlab=GitLabFacts(agent_platform_secure=False))
    tls_gitlab = _diagnose(gw["name"], gitlab=GitLabFacts(agent_platform_secure=True))

    assert "published on 127.0.0.1:" in _check(found, gw["name"], "dws-port", "pass").evidence
    assert "SERVING" in _check(found, gw["name"], "dws-health", "pass").evidence
    assert "plain text" in _check(found, gw["name"], "dws-tls", "warn").evidence  # GitLab's side unknown
    _check(plain_gitlab, gw["name"], "dws-tls", "pass")
    mismatch = _check(tls_gitlab, gw["name"], "dws-tls", "fail")
    assert "WRONG_VERSION_NUMBER" in mismatch.evidence and "DUO_AGENT_PLATFORM_SERVICE_SECURE" in mismatch.evidence


def test_agent_platform_over_tls(lab: Lab, tmp_path: Path) -> None:
    folder = _tls_files(tmp_path)
    gw = lab.gateway("dws-tls", {**DWS, "DUO_WORKFLOW_TLS__ENABLED": "true",
                                 "DUO_WORKFLOW_TLS__CERT_FILE": "/etc/dws/cert.pem",
                                 "DUO_WORKFLOW_TLS__KEY_FILE": "/etc/dws/key.pem"},
                     ports=(50052,), volumes={str(folder): {"bind": "/etc/dws", "mode": "ro"}})

    found = _diagnose(gw["name"])
    plain_gitlab = _diagnose(gw["name"], gitlab=GitLabFacts(agent_platform_secure=False))

    assert "(TLS): SERVING" in _check(found, gw["name"], "dws-health", "pass").evidence
    assert "speaks TLS" in _check(found, gw["name"], "dws-tls", "pass").evidence
    assert "speaks TLS" in _check(plain_gitlab, gw["name"], "dws-tls", "fail").evidence


def test_agent_platform_not_serving(lab: Lab) -> None:
    gw = lab.gateway("dws-down", {**DWS, "FAKE_DWS_STATUS": "NOT_SERVING"}, ports=(50052,))

    found = _diagnose(gw["name"])

    assert "NOT_SERVING" in _check(found, gw["name"], "dws-health", "fail").evidence


def test_agent_platform_off_is_not_checked_further(lab: Lab) -> None:
    gw = lab.gateway("dws-off")  # the 18.0 image: no Workflow Service

    found = _diagnose(gw["name"])

    for check in ("dws-port", "dws-health", "dws-tls"):
        assert "ENABLE_DUO_WORKFLOW_SERVICE=unset" in _check(found, gw["name"], check, "pass").evidence


def test_workflow_service_metrics_on_the_gateways_metrics_port(lab: Lab) -> None:
    # The install doc's PROMETHEUS_METRICS__PORT=8083 beside the troubleshooting doc's
    # AIGW_FASTAPI__METRICS_PORT=8083 (here another free port, as the lab's host networking needs).
    metrics = free_port()
    clash = lab.gateway("dws-metrics", {**DWS, "AIGW_FASTAPI__METRICS_PORT": str(metrics),
                                        "PROMETHEUS_METRICS__ADDR": "0.0.0.0", "PROMETHEUS_METRICS__PORT": str(metrics)})
    apart = lab.gateway("dws-metrics-ok", {**DWS, "AIGW_FASTAPI__METRICS_PORT": str(free_port()),
                                           "PROMETHEUS_METRICS__ADDR": "0.0.0.0",
                                           "PROMETHEUS_METRICS__PORT": str(free_port())})

    found = _diagnose(clash["name"], apart["name"])

    finding = _check(found, clash["name"], "host-network-ports", "fail")
    assert f"the Workflow Service's metrics port {metrics} is also the gateway's" in finding.evidence
    _check(found, apart["name"], "host-network-ports", "pass")


# --------------------------------------------------------------------------- keys, licence, proxy

def test_jwt_keys_missing_or_malformed(cli: Cli, lab: Lab) -> None:
    good = rsa_pem()
    keys = {"AIGW_SELF_SIGNED_JWT__SIGNING_KEY": good.replace("\n", "\\n"),
            "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY": rsa_pem(1024)}
    gw = lab.gateway("jwt-bad", {**DWS, **keys, "DUO_WORKFLOW_SELF_SIGNED_JWT__SIGNING_KEY": good})

    code, out = cli("diagnose", "--container", gw["name"], "--format", "json")

    assert code == 1
    [finding] = [f for f in json.loads(out)["findings"] if f["check"] == "jwt-keys"]
    assert finding["status"] == "fail" and finding["fix"] == "set-gateway-jwt-keys"
    for text in ("AIGW_SELF_SIGNED_JWT__SIGNING_KEY has literal \\n", "VALIDATION_KEY is RSA 1024-bit",
                 "DUO_WORKFLOW_SELF_SIGNED_JWT__VALIDATION_KEY is unset", "openssl genrsa"):
        assert text in finding["evidence"], finding
    body = good.splitlines()[1]
    assert body not in out and "BEGIN PRIVATE KEY" not in out  # never shown, in any form


def test_jwt_keys_present(lab: Lab) -> None:
    gw = lab.gateway("jwt-good", {**DWS, **_keys("AIGW_SELF_SIGNED_JWT", "DUO_WORKFLOW_SELF_SIGNED_JWT")})

    found = _diagnose(gw["name"])

    assert "(values not shown)" in _check(found, gw["name"], "jwt-keys", "pass").evidence


@pytest.mark.parametrize(("env", "status", "fix", "text"), [
    ({}, "fail", "fix-offline-portal-urls", "not reachable from inside the gateway"),
    ({"AIGW_CUSTOMER_PORTAL_URL": "https://gitlab.example.com"}, "fail", "fix-offline-portal-urls",
     "DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL is unset"),
    ({"AIGW_CUSTOMER_PORTAL_URL": "https://gitlab.example.com",
      "DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL": "https://gitlab.example.com"}, "pass", None,
     "AIGW_CUSTOMER_PORTAL_URL=https://gitlab.example.com"),
])
def test_portal_urls(env: dict[str, str], status: str, fix: str | None, text: str, lab: Lab) -> None:
    # customers.gitlab.com is 127.0.0.1 inside lab gateways: nothing leaves this machine.
    gw = lab.gateway("portal", env)

    found = _diagnose(gw["name"])

    assert text in _check(found, gw["name"], "portal-urls", status, fix).evidence


@pytest.mark.parametrize(("env", "status", "fix"), [
    ({"HTTPS_PROXY": "http://proxy.example:3128"}, "fail", "fix-no-proxy"),
    ({"HTTPS_PROXY": "http://proxy.example:3128", "NO_PROXY": "localhost,127.0.0.1",
      "no_proxy": ".example.com"}, "pass", None),
    ({}, "pass", None),
])
def test_no_proxy(env: dict[str, str], status: str, fix: str | None, lab: Lab) -> None:
    gw = lab.gateway("proxy", {"AIGW_GITLAB_URL": "https://gitlab.example.com", **env})

    found = _diagnose(gw["name"], model_endpoints=["http://localhost:8000/v1/models"])

    finding = _check(found, gw["name"], "no-proxy", status, fix)
    if status == "fail":
        assert "does not name gitlab.example.com, localhost" in finding.evidence


@pytest.mark.parametrize(("value", "status"), [('{"X-Team": "duo"', "fail"), ('{"X-Team": "duo"}', "pass")])
def test_json_settings(value: str, status: str, lab: Lab) -> None:
    gw = lab.gateway("json", {"AIGW_CUSTOM_MODELS__EXTRA_HEADERS": value})

    found = _diagnose(gw["name"])

    _check(found, gw["name"], "json-settings", status)


# --------------------------------------------------------------------------- file system

def test_hf_cache_shadowed_by_a_volume(lab: Lab, tmp_path: Path) -> None:
    gw = lab.gateway("hf-shadow", volumes={str(tmp_path): {"bind": "/home/aigateway/.hf", "mode": "rw"}})

    found = _diagnose(gw["name"])

    finding = _check(found, gw["name"], "hf-cache", "fail", "fix-hf-cache")
    assert "shadows the tokenizer cache /home/aigateway/.hf" in finding.evidence


def test_hf_cache_not_writable_and_the_default_is(lab: Lab) -> None:
    locked = lab.gateway("hf-locked", user="65534:65534")
    fine = lab.gateway("hf-fine")

    found = _diagnose(locked["name"], fine["name"])

    assert "Permission denied" in _check(found, locked["name"], "hf-cache", "fail").evidence
    _check(found, fine["name"], "hf-cache", "pass")
    _check(found, locked["name"], "tmp-writable", "pass")  # /tmp is for everyone


def test_tmp_on_a_read_only_root(lab: Lab) -> None:
    bare = lab.gateway("ro-root", read_only=True)
    with_tmpfs = lab.gateway("ro-tmpfs", read_only=True, tmpfs={"/tmp": ""})

    found = _diagnose(bare["name"], with_tmpfs["name"])

    assert "read-only (--read-only)" in _check(found, bare["name"], "tmp-writable", "fail", "fix-tmp-writable").evidence
    _check(found, with_tmpfs["name"], "tmp-writable", "pass")


# --------------------------------------------------------------------------- versions

def test_gateway_version_against_gitlab(lab: Lab) -> None:
    gw = lab.gateway("version")

    same = _diagnose(gw["name"], gitlab=GitLabFacts(version="18.0.3-ee"))
    newer = _diagnose(gw["name"], gitlab=GitLabFacts(version="18.8.1-ee"))

    assert "follows GitLab 18.0.3-ee" in _check(same, gw["name"], "gateway-version", "pass").evidence
    behind = _check(newer, gw["name"], "gateway-version", "fail", "upgrade-gateway")
    assert "is for GitLab 18.0, but GitLab is 18.8.1-ee" in behind.evidence
    assert "self-hosted-v18.8.*-ee" in behind.evidence


def test_gateway_on_latest(lab: Lab) -> None:
    repo = f"{lab.run}registry/model-gateway"
    lab.client.api.tag(AIGW, repo, "latest")
    lab.images.append(f"{repo}:latest")
    box = lab.busybox("latest", {"AIGW_LOGGING__LEVEL": "info"}, image=f"{repo}:latest")

    found = _diagnose(box["name"])

    assert "never latest or nightly" in _check(found, box["name"], "gateway-version", "fail", "upgrade-gateway").evidence


# --------------------------------------------------------------------------- vLLM's serving profile

def test_vllm_profile_of_an_old_plain_vllm(lab: Lab) -> None:
    vllm = lab.vllm("profile-bad", ["--model", "m", "--served-model-name", "mistral", "--chat-template", TEMPLATE])

    found = _diagnose(vllm["name"])

    assert "vLLM 0.6.3 (GET /version) is older than v0.18.1" in _check(
        found, vllm["name"], "vllm-version", "fail", "upgrade-vllm").evidence
    tools = _check(found, vllm["name"], "tool-calling", "fail", "enable-vllm-tool-calling")
    assert '"auto" tool choice requires --enable-auto-tool-choice' in tools.evidence
    assert "max_model_len 4096 (GET /v1/models) is below 17776" in _check(
        found, vllm["name"], "max-model-len", "fail", "set-vllm-max-model-len").evidence
    _check(found, vllm["name"], "gpu-runtime", "pass")


def test_vllm_profile_of_a_current_vllm(lab: Lab) -> None:
    vllm = lab.vllm("profile-good", ["--model", "m", "--served-model-name", "mistral", "--chat-template", TEMPLATE,
                                     "--enable-auto-tool-choice", "--tool-call-parser", "mistral",
                                     "--max-model-len", "32768"], env={"FAKE_VLLM_VERSION": "0.18.1"})

    found = _diagnose(vllm["name"])

    for check in ("vllm-version", "tool-calling", "max-model-len", "gpu-runtime"):
        _check(found, vllm["name"], check, "pass")


def test_vllm_asking_for_gpus_on_an_engine_without_them(lab: Lab) -> None:
    gpus = [docker.types.DeviceRequest(count=-1, capabilities=[["gpu"]])]
    box = lab.busybox("gpus", {}, image=VLLM, start=False, device_requests=gpus)

    found = _diagnose(box["name"])

    finding = _check(found, box["name"], "gpu-runtime", "fail")
    assert "no nvidia runtime" in finding.evidence and "NVIDIA Container Toolkit" in finding.evidence



# --------------------------------------------------------------------------- diagnose --fix

def test_fix_repairs_the_new_fixable_checks_in_one_recreate_each(cli: Cli, lab: Lab) -> None:
    env = current_gateway_env()
    del env["DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL"]  # portal-urls: half set
    gw = lab.gateway("fix-gw", {"AIGW_GITLAB_URL": "https://gitlab.example.com",
                                "AIGW_GITLAB_API_URL": "https://gitlab.example.com/api/v4/",
                                "HTTPS_PROXY": "http://proxy.example:3128", **env}, network="host")
    vllm = lab.vllm("fix-vllm", ["--model", "m", "--served-model-name", "mistral", "--chat-template", TEMPLATE,
                                 "--max-model-len", "4096"], env=CURRENT_VLLM_ENV)
    # On host networking, so the vLLM's published port is its localhost (model-reachable passes).
    only = ["--container", gw["name"], "--container", vllm["name"]]
    fixes = ["-e", "gitlab_url=https://gitlab.example.com", "-e", "tool_call_parser=mistral"]
    failing = {(f["container"], f["check"]) for f in json.loads(cli("diagnose", *only, "--format", "json")[1])[
        "findings"] if f["status"] == "fail"}
    assert {(gw["name"], "portal-urls"), (gw["name"], "no-proxy"), (vllm["name"], "tool-calling"),
            (vllm["name"], "max-model-len")} <= failing, failing

    _, out = cli("diagnose", "--fix", "--yes", *only, *fixes, "--format", "json")

    data = json.loads(out)
    results = [c for h in data["hosts"] for c in h["result"]["containers"]]
    assert sorted(c["action"] for c in results) == ["recreated", "recreated"], out
    _, out = cli("diagnose", *only, "--format", "json")
    after = {(f["container"], f["check"]): f["status"] for f in json.loads(out)["findings"]}
    for key in ((gw["name"], "portal-urls"), (gw["name"], "no-proxy"), (vllm["name"], "tool-calling"),
                (vllm["name"], "max-model-len")):
        assert after[key] == "pass", (key, out)
    assert http(lab.host_port(vllm["name"], 8000), "/v1/models")[1].count('"max_model_len":17776') == 1


def test_fix_repairs_the_gateways_agent_platform_half_in_one_recreate(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.mkdir()
    for name in ("aigw_signing.key", "aigw_validation.key", "duo_workflow_jwt.key", "duo_workflow_validation.key"):
        (keys / name).write_text(rsa_pem())
    shadow = tmp_path / "hf"
    shadow.mkdir()
    gw = lab.gateway("fix-dap", {**DWS, **current_gateway_env(), "AIGW_GITLAB_URL": "https://gitlab.example.com",
                                 "AIGW_GITLAB_API_URL": "https://gitlab.example.com/api/v4/"}, read_only=True,
                     volumes={str(shadow): {"bind": "/home/aigateway/.hf", "mode": "rw"}})
    only = ["--container", gw["name"]]
    checks = ("dws-port", "jwt-keys", "hf-cache", "tmp-writable")
    failing = {f["check"]: f["fix"] for f in json.loads(cli("diagnose", *only, "--format", "json")[1])["findings"]
               if f["status"] == "fail"}
    assert {c: failing.get(c) for c in checks} == {
        "dws-port": "publish-agent-platform-port", "jwt-keys": "set-gateway-jwt-keys", "hf-cache": "fix-hf-cache",
        "tmp-writable": "fix-tmp-writable"}, failing

    _, out = cli("diagnose", "--fix", "--dry-run", *only)  # key_dir has no default: asked for

    assert "jwt-keys: set-gateway-jwt-keys needs key_dir: remediate diagnose --fix --dry-run" in out
    assert "-e key_dir=..." in out and "Dry run: nothing changed" in out
    host_port = free_port()
    _, out = cli("diagnose", "--fix", "--yes", *only, "-e", f"key_dir={keys}", "-e", f"host_port={host_port}",
                    "--format", "json")

    results = [c for h in json.loads(out)["hosts"] for c in h["result"]["containers"]]
    assert [c["action"] for c in results] == ["recreated"], out
    _, out = cli("diagnose", *only, "--format", "json")
    after = {f["check"]: f["status"] for f in json.loads(out)["findings"]}
    assert {c: after[c] for c in (*checks, "dws-health")} == dict.fromkeys((*checks, "dws-health"), "pass"), out
    assert lab.host_port(gw["name"], 50052) == host_port
