"""Diagnosis: read-only checks of a GitLab Duo Self-Hosted deployment on one Docker host.

For every AI gateway and vLLM container, run the checks of the troubleshooting guide
(:mod:`remediate.packs.gitlab_duo.checks` lists them and how each is detected) and return :class:`Finding`
values: pass / warn / fail, the evidence, and the playbook that fixes a failure. Duo Chat error
codes map to an explanation, the related checks and the playbooks that may fix them. Works on
any :class:`~remediate.host.connection.Connection`, local or remote; nothing is changed.

Example::

    with Connection("local") as conn:
        findings = diagnose(conn, error_code="A1003")
    print(json.dumps(findings_json(findings, error_code="A1003"), indent=2))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypedDict

from remediate.core.planner import Observed, facts_of, selected
from remediate.core.playbook import Selector
from remediate.executor.observe import find, named
from remediate.host.connection import Connection
from remediate.packs.gitlab_duo import DEFAULT_MODEL_NAME
from remediate.packs.gitlab_duo.agent_platform import agent_platform_checks
from remediate.packs.gitlab_duo.checks import (
    SELF_SIGN,
    Context,
    Finding,
    GitLabFacts,
    Kind,
    engine_arch,
    gateway_checks,
    is_up,
    self_sign_check,
    vllm_checks,
)
from remediate.packs.gitlab_duo.reachability import default_model_endpoints, reachability_checks
from remediate.packs.gitlab_duo.vllm_profile import vllm_profile_checks

__all__ = ["DEFAULT_MODEL_NAME", "ERROR_CODES", "DiagnosisJson", "ErrorCode", "ErrorJson", "Finding", "FindingJson",
           "diagnose", "explain", "failed", "findings_json"]


GATEWAY_SELECTORS = (Selector.model_validate({"image": "*model-gateway*"}),
                     Selector.model_validate({"env": "AIGW_*"}))
VLLM_SELECTORS = (
    Selector.model_validate({"image": "vllm/vllm-openai*"}),
    Selector.model_validate({"command": "*vllm serve*"}),
    Selector.model_validate({"command": "*vllm.entrypoints.openai.api_server*"}),
)
#: What a diagnosis looks at (without ``--container``): the gateways, the vLLMs, and any container
#: with the self-signed token setting.
DIAGNOSED = (*VLLM_SELECTORS, *GATEWAY_SELECTORS, Selector.model_validate({"env": SELF_SIGN}))


@dataclass(frozen=True)
class ErrorCode:
    """A Duo Chat error code: its message, what it means, and where to look.

    Attributes:
        formerly: the message older GitLab versions show for it, when it changed.
    """

    code: str
    message: str
    meaning: str
    checks: tuple[str, ...]
    playbooks: tuple[str, ...]
    formerly: str | None = None


_SORRY_TIME = "I'm sorry, I couldn't respond in time. Please try again. Error code: "
_SORRY_GEN = "I'm sorry, I can't generate a response. Please try again. Error code: "
_PROCESSING = ("There was an error processing your request. Please try again or contact support if the issue "
               "persists. Error code: ")
_AGENT_PLATFORM = ("dws-port", "dws-health", "dws-tls", "jwt-keys", "portal-urls")

ERROR_CODES: dict[str, ErrorCode] = {
    "A1000": ErrorCode(
        "A1000", _SORRY_TIME + "A1000",
        "A timeout during processing: GitLab gave up waiting for the AI gateway. Since GitLab 18.7 the "
        "wait is GitLab's \"AI Gateway request timeout\" (Admin > GitLab Duo > Change configuration, 60 "
        "to 600 s, default 60): raise it for slow models. The gateway's own request to the model times "
        "out after AIGW_DUO_CHAT__MODEL_REQUEST_TIMEOUT (30 s by default). If it persists, check the model "
        "server's load and health.",
        ("state", "health", "model-reachable", "served-model"), ()),
    "A1001": ErrorCode(
        "A1001", _SORRY_GEN + "A1001",
        "GitLab could not connect to the AI gateway: the gateway is down or crash-looping, its port "
        "is not published, or the network between GitLab and the gateway blocks it. Check that "
        "GitLab's AI gateway URL points at this host and port, and run "
        "gitlab-rake \"gitlab:duo:verify_self_hosted_setup\" on the GitLab host.",
        ("state", "platform", "healthz", "host-network-ports", "no-proxy"),
        ("fix-image-platform", "fix-gateway-host-network", "fix-no-proxy")),
    "A1002": ErrorCode(
        "A1002", _SORRY_TIME + "A1002",
        "No events came back from the AI gateway, or GitLab could not parse them: the gateway's "
        "request to the model or to GitLab failed. Check the AI gateway logs (docker logs) for "
        "the model's or the authentication error.",
        ("custom-models", "gitlab-url", "ca-bundle", "model-reachable", "gitlab-reachable", "served-model",
         "chat-template", "api-key", "no-proxy"),
        ("enable-custom-models", "fix-vllm-404", "fix-gitlab-url", "fix-ssl-ca-bundle", "fix-no-proxy")),
    "A1003": ErrorCode(
        "A1003", _SORRY_TIME + "A1003",
        "Streaming from the model to the AI gateway fails (usually a model deployment issue). "
        "Disabling streaming in the gateway validates the connection and works around it.",
        ("streaming", "served-model", "chat-template"),
        ("fix-streaming-a1003", "fix-vllm-404")),
    "A1004": ErrorCode(
        "A1004", _SORRY_TIME + "A1004",
        "An error in the AI gateway process. Try again; if it persists, the gateway's state, health "
        "and last log lines say why (docker logs).",
        ("state", "healthz", "jwt-keys", "hf-cache", "tmp-writable"), ()),
    "A1005": ErrorCode(
        "A1005", "I'm sorry, you've entered too many prompts. Please run /clear or /reset before asking the "
                 "next question. Error code: A1005",
        "The prompt is longer than the model's token limit. Start a new conversation (/new); if short "
        "conversations hit it too, the model server's context (vLLM --max-model-len) is too small.",
        ("max-model-len",), ("set-vllm-max-model-len",)),
    "A1006": ErrorCode(
        "A1006", "I'm sorry, Duo Chat agent reached the limit before finding an answer for your question. "
                 "Please try a different prompt or clear your conversation history with /clear. "
                 "Error code: A1006",
        "The ReAct agent found no answer within its steps: try a different prompt or /clear. No "
        "container causes it.", (), ()),
    "A1007": ErrorCode(
        "A1007", _PROCESSING + "A1007",
        "An unexpected error in the GitLab Duo Agent Platform (the gateway's Duo Workflow Service, "
        "gRPC port 50052): it is not published, does not answer, speaks TLS where GitLab expects "
        "plain text (or the reverse), or its JWT keys are missing.",
        _AGENT_PLATFORM, ("fix-offline-portal-urls",)),
    "A1008": ErrorCode(
        "A1008", _PROCESSING + "A1008",
        "The upstream model provider used by the Agent Platform failed the request: the model "
        "server is unreachable, does not serve the name, or refuses tool calls (vLLM needs "
        "--enable-auto-tool-choice and --tool-call-parser).",
        ("model-reachable", "served-model", "tool-calling", "max-model-len", "no-proxy"),
        ("enable-vllm-tool-calling", "fix-vllm-404", "set-vllm-max-model-len", "fix-no-proxy")),
    "A6000": ErrorCode(
        "A6000", "I'm sorry, I couldn't respond in time. Please try a more specific request or enter /clear "
                 "to start a new chat. Error code: A6000",
        "The fallback error of Duo Chat: try a more specific request or /new. Every check runs, since "
        "any of them may be the cause.", (), ()),
    "A9999": ErrorCode(
        "A9999", _SORRY_TIME + "A9999",
        "An unknown error in the ReAct agent. Try again; if it persists, read the AI gateway logs "
        "and report it to GitLab support. The checks below rule out the known causes.",
        (), (), formerly=_SORRY_GEN + "A9999"),
}


def explain(code: str) -> ErrorCode:
    """The explanation of a Duo Chat error code (case-insensitive).

    Raises:
        ValueError: an unknown code.
    """
    try:
        return ERROR_CODES[code.strip().upper()]
    except KeyError:
        raise ValueError(f"unknown Duo Chat error code {code!r} (known: {', '.join(ERROR_CODES)})") from None


def diagnose(conn: Connection, *, error_code: str | None = None, model_name: str = DEFAULT_MODEL_NAME,
             containers: Sequence[str] = (), model_endpoints: Sequence[str] = (),
             gitlab: GitLabFacts | None = None) -> list[Finding]:
    """Run every check on the AI gateway and vLLM containers of one Docker host. Reads only.

    Args:
        conn: the host (local or remote; HTTP probes go through ``conn.open_socket``).
        error_code: a Duo Chat error code (``A1003`` ...); adds the checks specific to it.
        model_name: the model name the gateway sends to vLLM (the served name it needs).
        containers: only these container names or ids (each must exist).
        model_endpoints: model URLs the gateway must reach (checked from inside it); by default
            the vLLM containers diagnosed, as ``localhost`` endpoints (see :mod:`.reachability`).
        gitlab: what the GitLab host says (``--gitlab-host``), compared with the containers.

    Returns:
        Findings ordered by container, then check.

    Raises:
        ValueError: an unknown error code.
        ContainerNotFound: a name in ``containers`` does not exist.
        ConnectError: the engine cannot be reached.
    """
    code = explain(error_code) if error_code else None
    found = named(conn, containers) if containers else find(conn, DIAGNOSED)
    observed = sorted({obs.id: obs for obs in found}.values(), key=lambda o: o.name)
    kinds = {obs.id: _kind(obs) for obs in observed}
    endpoints = list(model_endpoints) or default_model_endpoints(
        [obs for obs in observed if kinds[obs.id] == "vllm"])
    ctx = Context(conn, model_name, streaming=code is not None and code.code == "A1003",
                  engine_arch=engine_arch(conn), gitlab=gitlab, model_endpoints=tuple(endpoints))
    findings: list[Finding] = []
    for obs in observed:
        kind = kinds[obs.id]
        if kind == "ai-gateway":
            findings.extend(gateway_checks(ctx, obs))
            findings.extend(reachability_checks(ctx, obs, is_up(ctx, obs), endpoints))
            findings.extend(agent_platform_checks(ctx, obs))
        elif kind == "vllm":
            findings.extend(vllm_checks(ctx, obs))
            findings.extend(vllm_profile_checks(ctx, obs))
        elif SELF_SIGN in facts_of(obs).env:
            findings.append(self_sign_check(obs, "other"))
    return findings


def failed(findings: Iterable[Finding]) -> bool:
    """True when some finding has status ``fail``."""
    return any(f.status == "fail" for f in findings)


class FindingJson(TypedDict):
    """One check on one container (:class:`~remediate.packs.gitlab_duo.checks.Finding`)."""

    container: str
    kind: str
    check: str
    status: str
    evidence: str
    fix: str | None


class ErrorJson(TypedDict):
    """The error code a diagnosis was asked about, and which of its checks do not pass."""

    code: str
    message: str
    meaning: str
    checks: list[str]
    playbooks: list[str]
    formerly: str | None
    not_passing: list[str]


class DiagnosisJson(TypedDict):
    """A diagnosis of one host: a count of each status, and every finding."""

    host: str | None
    ok: bool
    counts: dict[str, int]
    error: ErrorJson | None
    findings: list[FindingJson]


def findings_json(findings: Sequence[Finding], *, error_code: str | None = None,
                  host: str | None = None) -> DiagnosisJson:
    """JSON-ready view of a diagnosis (evidence already redacted)."""
    code = explain(error_code) if error_code else None
    counts = {s: sum(1 for f in findings if f.status == s) for s in ("pass", "warn", "fail")}
    return {
        "host": host,
        "ok": not failed(findings),
        "counts": counts,
        "error": None if code is None else {
            "code": code.code, "message": code.message, "meaning": code.meaning,
            "checks": list(code.checks), "playbooks": list(code.playbooks), "formerly": code.formerly,
            "not_passing": sorted({f.check for f in findings
                                   if f.check in code.checks and f.status != "pass"}),
        },
        "findings": [{"container": f.container, "kind": f.kind, "check": f.check, "status": f.status,
                      "evidence": f.evidence, "fix": f.fix} for f in findings],
    }


# --------------------------------------------------------------------------- kinds

def _kind(obs: Observed) -> Kind:
    if selected(VLLM_SELECTORS, obs):
        return "vllm"
    if selected(GATEWAY_SELECTORS, obs):
        return "ai-gateway"
    return "other"
