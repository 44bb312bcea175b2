"""Pure parts of diagnose: the error-code map, findings JSON, redaction of evidence."""

from __future__ import annotations

import pytest

from remediate.core import playbook as pb
from remediate.packs.gitlab_duo.diagnose import ERROR_CODES, Finding, explain, failed, findings_json

ALL_CODES = ["A1000", "A1001", "A1002", "A1003", "A1004", "A1005", "A1006", "A1007", "A1008", "A6000", "A9999"]


@pytest.mark.parametrize("code", ALL_CODES)
def test_every_error_code_is_explained_with_the_chat_message(code: str) -> None:
    entry = explain(code.lower())

    assert entry.code == code and entry.message.endswith(f"Error code: {code}")
    assert entry.message.startswith(("I'm sorry, ", "There was an error processing your request."))
    names = {p.stem for p in pb.builtin_playbooks()}
    assert set(entry.playbooks) <= names


def test_every_related_check_exists() -> None:
    """An error code names only checks that diagnose can report."""
    from remediate.packs.gitlab_duo import agent_platform, checks, reachability, vllm_profile

    documented = "".join(m.__doc__ or "" for m in (checks, agent_platform, reachability, vllm_profile))
    for entry in ERROR_CODES.values():
        for check in entry.checks:
            assert check in documented, (entry.code, check)


def test_changed_messages_are_noted() -> None:
    assert explain("A9999").message == "I'm sorry, I couldn't respond in time. Please try again. Error code: A9999"
    assert explain("A9999").formerly == "I'm sorry, I can't generate a response. Please try again. Error code: A9999"
    assert "AI Gateway request timeout" in explain("A1000").meaning
    assert "too many prompts" in explain("A1005").message and "max-model-len" in explain("A1005").checks


def test_a1003_suggests_disabling_streaming() -> None:
    assert explain("A1003").playbooks[0] == "fix-streaming-a1003"
    assert "streaming" in explain("A1003").checks
    assert list(ERROR_CODES) == ALL_CODES


def test_unknown_code() -> None:
    with pytest.raises(ValueError, match="unknown Duo Chat error code"):
        explain("A4242")


def test_evidence_is_redacted_on_construction() -> None:
    finding = Finding("gw", "api-key", "warn", "--api-key sk-123 and AIGW_SELF_SIGNED_JWT__SIGNING_KEY=abc")

    assert "sk-123" not in finding.evidence and "abc" not in finding.evidence


def test_findings_json() -> None:
    findings = [Finding("gw", "streaming", "warn", "streams", "fix-streaming-a1003", "ai-gateway"),
                Finding("gw", "gitlab-url", "fail", "unset", "fix-gitlab-url", "ai-gateway"),
                Finding("vllm", "health", "pass", "200", None, "vllm")]

    data = findings_json(findings, error_code="a1003", host="local")

    assert failed(findings) and not data["ok"]
    assert data["counts"] == {"pass": 1, "warn": 1, "fail": 1}
    assert data["error"]["code"] == "A1003" and data["error"]["not_passing"] == ["streaming"]
    assert data["findings"][1] == {"container": "gw", "kind": "ai-gateway", "check": "gitlab-url",
                                   "status": "fail", "evidence": "unset", "fix": "fix-gitlab-url"}
    assert findings_json(findings[2:])["ok"] and findings_json([])["error"] is None


RUNNER = ("version\t18.8.1-ee\ndap_url\taigw.example.com:50052\ndap_secure\tfalse\nai_gateway_timeout\t120\n"
          "model\tmistral\thttp://vllm:8000/v1\nmodel\tcodestral\thttp://vllm:8000\n")


def test_gitlab_facts_from_the_runner() -> None:
    from remediate.packs.gitlab_duo.gitlab_host import gitlab_facts

    facts = gitlab_facts(RUNNER)

    assert (facts.version, facts.agent_platform_url, facts.agent_platform_secure) == (
        "18.8.1-ee", "aigw.example.com:50052", False)
    assert gitlab_facts("").agent_platform_secure is None and gitlab_facts("mistral\thttp://x\n").version is None


def test_gitlab_settings_and_endpoints() -> None:
    from remediate.packs.gitlab_duo.gitlab_host import endpoint_findings, settings_findings

    found = {(f.check, f.status) for f in settings_findings("gl", 0, RUNNER)}
    endpoints = [(f.status, f.evidence.split(":")[0]) for f in endpoint_findings("gl", 0, RUNNER)]
    with_scheme = settings_findings("gl", 0, "dap_url\thttps://aigw.example.com:50052\n")

    assert found == {("agent-platform-url", "pass"), ("ai-gateway-timeout", "pass")}
    assert endpoints == [("pass", "mistral"), ("fail", "codestral")]
    assert [(f.status, "must be host:port" in f.evidence) for f in with_scheme] == [("fail", True)]


@pytest.mark.parametrize(("host", "entries", "direct"), [
    ("gitlab.example.com", ["*"], True),
    ("gitlab.example.com", [".example.com"], True),
    ("gitlab.example.com", ["example.com"], True),
    ("gitlab.example.com", ["*.example.com"], True),
    ("gitlab.example.com", ["gitlab.example.com:443"], True),
    ("gitlab.example.com", ["lab.example.com"], False),
    ("notexample.com", ["example.com"], False),
    ("10.1.2.3", ["10.0.0.0/8"], True),
    ("10.1.2.3", ["10.1.2.4"], False),
    ("::1", ["::1"], True),
    ("localhost", [], False),
])
def test_no_proxy_matching(host: str, entries: list[str], direct: bool) -> None:
    from remediate.packs.gitlab_duo.agent_platform import bypassed

    assert bypassed(host, entries) is direct


@pytest.mark.parametrize(("value", "trouble"), [
    (None, "is unset"),
    ("", "is unset"),
    ("not a key", "is not PEM"),
    ("-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----", "literal \\n"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEbroken\n-----END PRIVATE KEY-----\n", "not a readable PEM"),
])
def test_pem_trouble_names_the_problem_never_the_value(value: str | None, trouble: str) -> None:
    from remediate.packs.gitlab_duo.agent_platform import pem_trouble

    found = pem_trouble(value)

    assert found is not None and trouble in found
    assert "MIIE" not in found


def test_pem_trouble_accepts_rsa_2048_only() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from remediate.packs.gitlab_duo.agent_platform import pem_trouble

    def pem(key: object) -> str:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,  # type: ignore[attr-defined]
                                 serialization.NoEncryption()).decode()

    assert pem_trouble(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))) is None
    assert "RSA 3072-bit" in str(pem_trouble(pem(rsa.generate_private_key(public_exponent=65537, key_size=3072))))
    assert "not an RSA key" in str(pem_trouble(pem(ec.generate_private_key(ec.SECP256R1()))))


# --------------------------------------------------------------------------- today's checks on inspect JSON

def _stopped_gateway(env: list[str] = [], **host_config: object) -> object:  # noqa: B006 - read only
    import json as _json
    from pathlib import Path

    from remediate.core.planner import Observed

    data = _json.loads((Path(__file__).parent / "catalog_data" / "aigw.json").read_text())
    inspect = data["container"]
    inspect["State"] = {"Status": "exited", "Running": False, "ExitCode": 0}
    inspect["Config"]["Env"] += env
    inspect["HostConfig"].update(host_config)
    return Observed(inspect, data["image"])


def _today(obs: object, **facts: object) -> dict[str, tuple[str, str]]:
    from remediate.host.connection import Connection
    from remediate.packs.gitlab_duo.agent_platform import agent_platform_checks
    from remediate.packs.gitlab_duo.checks import Context, GitLabFacts

    # A stopped container: nothing is asked of the engine (the connection is never opened).
    ctx = Context(Connection("local"), "mistral", gitlab=GitLabFacts(**facts) if facts else None)  # type: ignore[arg-type]
    return {f.check: (f.status, f.evidence) for f in agent_platform_checks(ctx, obs)}  # type: ignore[arg-type]


def _fixes(obs: object, **facts: object) -> dict[str, str | None]:
    from remediate.host.connection import Connection
    from remediate.packs.gitlab_duo.agent_platform import agent_platform_checks
    from remediate.packs.gitlab_duo.checks import Context, GitLabFacts

    ctx = Context(Connection("local"), "mistral", gitlab=GitLabFacts(**facts) if facts else None)  # type: ignore[arg-type]
    return {f.check: f.fix for f in agent_platform_checks(ctx, obs) if f.status == "fail"}  # type: ignore[arg-type]


def test_agent_platform_port_unpublished_is_a_fail_with_what_to_do() -> None:
    found = _today(_stopped_gateway(["ENABLE_DUO_WORKFLOW_SERVICE=true", "PORT=50099"]))

    assert found["dws-port"][0] == "fail" and "gRPC port 50099 is not published" in found["dws-port"][1]
    assert found["dws-health"][0] == "warn"
    assert _fixes(_stopped_gateway(["ENABLE_DUO_WORKFLOW_SERVICE=true"]))["dws-port"] == "publish-agent-platform-port"
    joined = _fixes(_stopped_gateway(["ENABLE_DUO_WORKFLOW_SERVICE=true"], NetworkMode="container:other"))
    assert joined["dws-port"] is None  # it cannot publish: nothing to propose
    configured = _stopped_gateway(["ENABLE_DUO_WORKFLOW_SERVICE=true"],
                                  PortBindings={"50052/tcp": [{"HostIp": "", "HostPort": "50052"}]})
    assert _today(configured)["dws-port"] == ("pass", "gRPC port 50052: published when it runs")


def test_hf_cache_shadowed_and_read_only_tmp() -> None:
    mounts = [{"Type": "volume", "Name": "hf", "Destination": "/home/aigateway", "RW": True}]
    obs = _stopped_gateway(ReadonlyRootfs=True)
    obs.inspect["Mounts"] = mounts  # type: ignore[attr-defined]

    found = _today(obs)

    assert found["hf-cache"][0] == "fail" and "hf:/home/aigateway shadows" in found["hf-cache"][1]
    # A mount above the cache may hold more: the fix is named with the var, not proposed.
    assert "fix-hf-cache --container " in found["hf-cache"][1] and "-e mount_target=/home/aigateway" in found[
        "hf-cache"][1]
    assert _fixes(obs)["hf-cache"] is None
    assert found["tmp-writable"][0] == "fail" and _fixes(obs)["tmp-writable"] == "fix-tmp-writable"
    exact = _stopped_gateway()
    exact.inspect["Mounts"] = [{"Type": "volume", "Name": "hf", "Destination": "/home/aigateway/.hf"}]  # type: ignore[attr-defined]
    assert _fixes(exact)["hf-cache"] == "fix-hf-cache"
    assert _fixes(_stopped_gateway())["jwt-keys"] == "set-gateway-jwt-keys"
    assert _today(_stopped_gateway(ReadonlyRootfs=True, Tmpfs={"/tmp": ""}))["tmp-writable"][0] == "pass"


@pytest.mark.parametrize(("image", "version", "status"), [
    ("registry.example/model-gateway:self-hosted-v18.8.3-ee", "18.8.1-ee", "pass"),
    ("registry.example/model-gateway:self-hosted-v18.7.3-ee", "18.8.1-ee", "fail"),
    ("registry.example/model-gateway:self-hosted-v18.7.3-ee", None, "pass"),
    ("registry.example:5000/model-gateway", None, "fail"),
    ("gitlab/model-gateway-self-hosted:nightly", None, "fail"),
    ("registry.example/model-gateway:v18.0.0-ee", None, "warn"),
])
def test_gateway_version(image: str, version: str | None, status: str) -> None:
    obs = _stopped_gateway()
    obs.inspect["Config"]["Image"] = image  # type: ignore[attr-defined]

    found = _today(obs, version=version) if version else _today(obs)

    assert found["gateway-version"][0] == status, found["gateway-version"]
    fixes = _fixes(obs, version=version) if version else _fixes(obs)
    assert fixes.get("gateway-version") == ("upgrade-gateway" if status == "fail" else None)


def test_no_proxy_and_half_set_portal_urls() -> None:
    obs = _stopped_gateway(["HTTPS_PROXY=http://u:pw@proxy:3128", "NO_PROXY=.example.com",
                            "AIGW_GITLAB_URL=https://gitlab.example.com", "AIGW_CUSTOMER_PORTAL_URL=https://gitlab.example.com"])

    found = _today(obs)

    assert found["no-proxy"][0] == "pass" and "pw" not in found["no-proxy"][1]
    assert found["portal-urls"][0] == "fail" and "DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL is unset" in found[
        "portal-urls"][1]
    assert found["jwt-keys"][0] == "fail" and "not-a-real-key" not in found["jwt-keys"][1]


def test_json_settings_parse_and_never_show_their_value() -> None:
    obs = _stopped_gateway(['AIGW_CUSTOM_MODELS__EXTRA_HEADERS={"X-Api-Key": "s3cr3t-value"', "AIGW_MODEL_ENGINE_LIMITS=[1]",
                            'AIGW_BEDROCK_GUARDRAIL_CONFIG={"guardrailIdentifier": "g", "guardrailVersion": "1"}'])

    status, evidence = _today(obs)["json-settings"]

    assert status == "fail" and "s3cr3t" not in evidence
    assert "AIGW_CUSTOM_MODELS__EXTRA_HEADERS is not JSON (JSONDecodeError at line 1 column" in evidence
    assert "AIGW_MODEL_ENGINE_LIMITS is JSON but not an object" in evidence
    assert _today(_stopped_gateway())["json-settings"][0] == "pass"
