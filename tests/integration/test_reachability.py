"""The reachability checks on the real engine: asked from inside a (fake) AI gateway.

A model endpoint on the same host as ``localhost`` fails from a bridged gateway (localhost is the
container itself; the fix is fix-gateway-host-network) and passes from one on host networking; a
closed port is refused; the gateway's GitLab (a fake one in this process, on 127.0.0.1, under the
name ``gitlab.example.com`` that the container resolves from its hosts file) is reachable. All
traffic stays on 127.0.0.1.
"""

from __future__ import annotations

from typing import Any

import pytest

from remediate.host.connection import Connection
from remediate.packs.gitlab_duo.diagnose import Finding, diagnose
from tests.conftest import Cli
from tests.integration.rtcat import Lab, free_port

pytestmark = pytest.mark.integration

TEMPLATE = "{% for m in messages %}{{ m.content }}{% endfor %}"


def _found(*names: str, **kwargs: Any) -> list[Finding]:
    with Connection("local") as conn:
        return diagnose(conn, containers=names, **kwargs)


def _one(findings: list[Finding], container: str, check: str) -> Finding:
    [finding] = [f for f in findings if f.container == container and f.check == check]
    return finding


def test_localhost_model_from_a_bridged_gateway_needs_host_networking(lab: Lab) -> None:
    vllm = lab.vllm("reach-vllm", ["--served-model-name", "mistral", "--chat-template", TEMPLATE])
    bridged = lab.gateway("reach-bridged")
    port = lab.host_port(vllm["name"], 8000)

    finding = _one(_found(bridged["name"], vllm["name"]), bridged["name"], "model-reachable")

    assert finding.status == "fail" and finding.fix == "fix-gateway-host-network", finding
    assert f"http://localhost:{port}/v1/models" in finding.evidence
    assert "localhost there is the container itself" in finding.evidence


def test_localhost_model_from_a_host_network_gateway_is_reachable(lab: Lab) -> None:
    vllm = lab.vllm("reach-vllm2", ["--served-model-name", "mistral", "--chat-template", TEMPLATE])
    gw = lab.gateway("reach-host", network="host")

    finding = _one(_found(gw["name"], vllm["name"]), gw["name"], "model-reachable")

    assert finding.status == "pass", finding
    assert "reachable from inside the gateway (HTTP/1.1 200 OK)" in finding.evidence


def test_a_closed_port_is_refused(lab: Lab) -> None:
    gw = lab.gateway("reach-refused", network="host")
    url = f"http://127.0.0.1:{free_port()}/v1"

    finding = _one(_found(gw["name"], model_endpoints=[url]), gw["name"], "model-reachable")

    assert finding.status == "fail" and finding.fix is None, finding
    assert "connection refused" in finding.evidence and url in finding.evidence


def test_the_gateways_gitlab_is_reachable(lab: Lab, gitlab_port: int) -> None:
    url = f"http://gitlab.example.com:{gitlab_port}"
    gw = lab.gateway("reach-gitlab", {"AIGW_GITLAB_URL": url, "AIGW_GITLAB_API_URL": f"{url}/api/v4/"},
                     network="host")

    findings = [f for f in _found(gw["name"]) if f.check == "gitlab-reachable"]

    assert [f.status for f in findings] == ["pass", "pass"], findings
    assert f"{url}/.well-known/openid-configuration" in findings[0].evidence
    assert f"{url}/api/v4/projects" in findings[1].evidence


def test_an_unreachable_gitlab_fails_and_the_command_says_so(cli: Cli, lab: Lab) -> None:
    url = f"http://gitlab.example.com:{free_port()}"
    gw = lab.gateway("reach-nogitlab", {"AIGW_GITLAB_URL": url, "AIGW_GITLAB_API_URL": f"{url}/api/v4/"},
                     network="host")

    code, out = cli("diagnose", "--container", gw["name"])

    assert code == 1, out
    assert "gitlab-reachable" in out and "connection refused" in out
