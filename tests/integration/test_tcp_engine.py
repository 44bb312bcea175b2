"""Engines on tcp:// (DOCKER_HOST or -H), plain and with TLS (DOCKER_TLS_VERIFY, DOCKER_CERT_PATH).

The engine is the machine's own, listening on a 127.0.0.1 port through tests/lab/tcp_engine.py,
so files (the journal, the chat template) are this machine's, as for any engine on a loopback
address. The seed's broken vLLM is fixed over TCP (404 -> 200); with TLS a client without the
certificates gets one line and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Cli
from tests.integration.rtcat import Lab, http
from tests.lab.tcp_engine import make_certs, server_context, tcp_engine

pytestmark = pytest.mark.integration

CHAT = {"model": "mistral", "messages": [{"role": "user", "content": "Hi"}]}


@pytest.fixture
def tls_engine(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """(port, the client's DOCKER_CERT_PATH) of the engine behind TLS with client certificates."""
    client_dir, server_dir = make_certs(tmp_path / "certs")
    with tcp_engine(server_context(server_dir)) as port:
        yield port, client_dir


def _broken_vllm(lab: Lab) -> str:
    name: str = lab.vllm("tcp-vllm", ["--model", "mistralai/Mistral-7B-Instruct-v0.3"])["name"]
    return name


def test_docker_host_tcp_fixes_the_vllm(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    name = _broken_vllm(lab)
    args = ["apply", "fix-vllm-404", "--container", name, "-e", f"template_host_path={tmp_path / 't.jinja'}"]
    with tcp_engine() as port:
        cli.env["DOCKER_HOST"] = f"tcp://127.0.0.1:{port}"

        code, out = cli(*args, "--dry-run")
        assert code == 0, out
        assert "+   --served-model-name mistral" in out

        code, out = cli(*args, "--yes", "--format", "json")

    assert code == 0, out
    [container] = json.loads(out)["containers"]
    assert container["action"] == "recreated", out
    assert http(lab.host_port(name, 8000), "/v1/chat/completions", method="POST", body=CHAT)[0] == 200


def test_dash_h_tcp_with_tls(cli: Cli, lab: Lab, tls_engine: tuple[int, Path]) -> None:
    port, cert_path = tls_engine
    name = _broken_vllm(lab)
    cli.env.update({"DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(cert_path)})

    code, out = cli("apply", "fix-vllm-404", "-H", f"tcp://127.0.0.1:{port}", "--container", name, "--dry-run")

    assert code == 0, out
    assert "+   --chat-template /etc/vllm/chat_template.jinja" in out


def test_tls_without_the_client_certificate_is_one_line(cli: Cli, tls_engine: tuple[int, Path],
                                                         tmp_path: Path) -> None:
    port, _ = tls_engine
    cli.env.update({"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": None,
                    "DOCKER_CERT_PATH": None})

    code, out = cli("diagnose")

    assert code == 2, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out, out


def test_one_engine_named_twice_is_one_host(cli: Cli, lab: Lab) -> None:
    name = _broken_vllm(lab)
    with tcp_engine() as port:
        hosts = ["-H", "local", "-H", "unix:///var/run/docker.sock", "-H", f"tcp://127.0.0.1:{port}"]

        # One host at a time: with several at once, the first to reach an engine keeps it.
        code, out = cli("apply", "fix-vllm-404", *hosts, "--forks", "1", "--container", name, "--dry-run",
                        "--format", "json")
        assert code == 0, out
        outcomes = json.loads(out)["hosts"]
        assert [(h["host"], h["status"]) for h in outcomes] == [
            ("local", "planned"), ("unix:///var/run/docker.sock", "skipped"), (f"tcp://127.0.0.1:{port}", "skipped")]
        assert all(h["error"] == "the same engine as local" for h in outcomes[1:])

        code, out = cli("diagnose", *hosts, "--container", name, "--format", "json")

    assert code in (0, 1), out
    assert "the same engine as local; skipped" in out
    assert out.count('"check": "health"') == 1, out  # one engine, diagnosed once
