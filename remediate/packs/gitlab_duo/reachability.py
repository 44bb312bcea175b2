"""Can the AI gateway reach its model endpoints and its GitLab instance? Asked from inside it
(the checks ``model-reachable``, one per endpoint, and ``gitlab-reachable``).

The guide's "Check if the model is reachable from AI gateway", "LLM server is not available inside
the AI gateway container" and "Check if AI Gateway can make requests to your GitLab instance" are
answered from the gateway's own network namespace: a fixed Python snippet runs in the container
with ``docker exec`` (the URL is its argument, never part of the code) and connects, shakes
hands for ``https``, and sends one ``GET``. Any HTTP answer means reachable; otherwise the failure
is classified:

=============  ==============================================================  ======================
result         meaning                                                         fix
=============  ==============================================================  ======================
dns            the name does not resolve inside the container                  (network)
refused        nothing listens there, as seen from the container               (network)
localhost      a localhost endpoint, and the gateway is not on host              fix-gateway-host-network
               networking: localhost is the container itself
timeout        no answer in time (firewall, wrong address)                     (network)
tls            the TLS handshake failed (an unknown CA)                        fix-ssl-ca-bundle
=============  ==============================================================  ======================

Model endpoints are those given to :func:`~remediate.packs.gitlab_duo.diagnose.diagnose`; with none
given, each vLLM container on the host that publishes its port is tried as
``http://localhost:<host port>/v1/models``, the way a model on the same host is usually configured.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

from remediate.core.planner import Observed, facts_of
from remediate.errors import RemediateError
from remediate.executor.probes import where_published
from remediate.packs.gitlab_duo.checks import Context, Finding, Status

#: Seconds to connect and to wait for the first line of the answer.
TIMEOUT = 5.0
_VLLM_PORT = 8000
_LOOPBACK = ("localhost", "::1", "0.0.0.0")

#: Runs inside the gateway (any Python 3); prints one JSON line {"result", "detail"}.
_PROBE = """\
import json, socket, ssl, sys
from urllib.parse import urlsplit
url, timeout = sys.argv[1], float(sys.argv[2])
parts = urlsplit(url)
host = parts.hostname or ''
port = parts.port or (443 if parts.scheme == 'https' else 80)
def done(result, detail=''):
    print(json.dumps({'result': result, 'detail': str(detail)[:300]}))
    sys.exit(0)
try:
    sock = socket.create_connection((host, port), timeout=timeout)
except socket.gaierror as exc:
    done('dns', exc)
except ConnectionRefusedError as exc:
    done('refused', exc)
except (socket.timeout, TimeoutError):
    done('timeout', 'no connection in %g s' % timeout)
except OSError as exc:
    done('unreachable', exc)
try:
    if parts.scheme == 'https':
        sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    path = (parts.path or '/') + ('?' + parts.query if parts.query else '')
    request = 'GET %s HTTP/1.0\\r\\nHost: %s\\r\\nUser-Agent: remediate-diagnose\\r\\n\\r\\n' % (path, host)
    sock.settimeout(timeout)
    sock.sendall(request.encode())
    line = sock.recv(256).split(b'\\r\\n', 1)[0].decode('latin-1')
except ssl.SSLError as exc:
    done('tls', exc)
except (socket.timeout, TimeoutError):
    done('timeout', 'connected, but no answer in %g s' % timeout)
except OSError as exc:
    done('unreachable', exc)
done('http', line)
"""


def reachability_checks(ctx: Context, gateway: Observed, running: bool,
                        model_endpoints: Sequence[str]) -> list[Finding]:
    """``model-reachable`` (one per endpoint) and ``gitlab-reachable`` findings of one gateway."""
    env = facts_of(gateway).env
    gitlab = [u for u in (env.get("AIGW_GITLAB_URL"), env.get("AIGW_GITLAB_API_URL")) if u]
    findings = [_reach(ctx, gateway, running, "model-reachable", url) for url in model_endpoints]
    if not model_endpoints:
        findings.append(Finding(gateway.name, "model-reachable", "warn", "not checked: no model endpoint "
                                "known (give one with --model-endpoint)", None, "ai-gateway"))
    findings += [_reach(ctx, gateway, running, "gitlab-reachable", _gitlab_probe_url(url)) for url in gitlab]
    return findings


def default_model_endpoints(vllms: Sequence[Observed]) -> list[str]:
    """``http://localhost:<host port>/v1/models`` of each vLLM container publishing its port."""
    endpoints = []
    for obs in vllms:
        published = where_published(obs.inspect, _VLLM_PORT)
        if published is not None:
            endpoints.append(f"http://localhost:{published[1]}/v1/models")
    return endpoints


def _gitlab_probe_url(url: str) -> str:
    """What the gateway fetches first: the OIDC configuration (JWKS) of AIGW_GITLAB_URL, or the
    API's ``projects`` for AIGW_GITLAB_API_URL (as the guide's curl does)."""
    parts = urlsplit(url)
    suffix = "projects" if parts.path.rstrip("/").endswith("/api/v4") else ".well-known/openid-configuration"
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/" + suffix))


def ask_from_inside(ctx: Context, gateway: Observed, url: str) -> tuple[str, str] | str:
    """Connect to ``url`` from inside the (running) gateway and send one GET.

    Returns:
        ``(result, detail)``, ``result`` one of the table's (``http`` when it answered), or why
        it could not be asked (no python3 in the image, the engine refused the exec).
    """
    try:
        code, output = ctx.conn.exec(gateway.id, ["python3", "-c", _PROBE, url, str(TIMEOUT)])
    except RemediateError as exc:
        return exc.message
    try:
        answer = json.loads(output.strip().splitlines()[-1]) if code == 0 else None
    except (ValueError, IndexError):
        answer = None
    if not isinstance(answer, dict):
        return "no python3 in the gateway image to ask from inside"
    return str(answer.get("result")), str(answer.get("detail", ""))


def _reach(ctx: Context, gateway: Observed, running: bool, check: str, url: str) -> Finding:
    def finding(status: Status, evidence: str, fix: str | None = None) -> Finding:
        return Finding(gateway.name, check, status, f"{url}: {evidence}", fix, "ai-gateway")

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return finding("fail", "not an http(s) URL")
    if not running:
        return finding("warn", "not checked: the gateway is not running")
    answer = ask_from_inside(ctx, gateway, url)
    if isinstance(answer, str):
        return finding("warn", f"not checked: {answer}")
    result, detail = answer
    if result == "http":
        return finding("pass", f"reachable from inside the gateway ({detail})")
    host = parts.hostname.lower()
    local = host in _LOOPBACK or host.startswith("127.") or host.endswith(".localhost")
    if local and result in ("refused", "timeout") and gateway.inspect["HostConfig"].get("NetworkMode") != "host":
        return finding("fail", f"{result} from inside the gateway: localhost there is the container "
                       "itself, not the Docker host (a model server on the same host needs --network "
                       "host)", "fix-gateway-host-network")
    if result == "tls":
        return finding("fail", f"TLS handshake failed from inside the gateway ({detail}): give it the CA "
                       "bundle", "fix-ssl-ca-bundle")
    words = {"dns": "the name does not resolve inside the gateway", "refused": "connection refused",
             "timeout": "no answer in time", "unreachable": "unreachable"}
    return finding("fail", f"{words.get(result, result)} ({detail}); check the network between the "
                   "gateway and this address")
