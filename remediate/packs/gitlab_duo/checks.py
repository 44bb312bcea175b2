"""The checks behind :func:`remediate.packs.gitlab_duo.diagnose.diagnose`, one container at a time. Reads only.

Each check returns a :class:`Finding`. HTTP probes reach a container port where the Docker host
publishes it, over :meth:`Connection.open_socket` (through SSH for a remote host), never at a
container's bridge address; files in a container are looked up with ``docker exec``.

Checks and how each is detected:

==================  ===========  ==========================================================
check               containers   detection
==================  ===========  ==========================================================
state               all          ``State``: running, restarting / ``RestartCount``, exit code,
                                 last log line (port clash, exec format error)
platform            all          image ``Os/Architecture`` vs the engine's ``Architecture``
healthz             gateway      ``GET /monitoring/healthz`` on the API port -> 200
auth-probe          gateway      ``GET /`` -> 401 (404 means authentication is bypassed)
auth-bypass         gateway      ``AIGW_AUTH__BYPASS_EXTERNAL`` (+ ``_WITH_HEADER``,
                                 ``AIGW_AUTH__BYPASS_JWT_SIGNATURE``) true in the env
custom-models       gateway      ``AIGW_CUSTOM_MODELS__ENABLED`` true (lowercase)
gitlab-url          gateway      ``AIGW_GITLAB_URL`` set, not localhost, and
                                 ``AIGW_GITLAB_API_URL`` == ``<url>/api/v4/``
self-sign-tokens    all          ``CLOUD_CONNECTOR_SELF_SIGN_TOKENS`` in any container's env
ca-bundle           gateway      ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` name files that
                                 exist in the container (``docker exec test -f``; the
                                 container's mounts when it does not run)
host-network-ports  gateway      the API and metrics ports it would bind with ``--network
                                 host`` are free on the host (its ``/proc/net/tcp*``), the
                                 Workflow Service's (gRPC, metrics) too; and none of them
                                 is another's (the install doc's 8083 twice)
health              vLLM         ``GET /health`` -> 200
api-key             vLLM         ``GET /v1/models`` without a key -> 401 when a key is set
served-model        vLLM         ``GET /v1/models`` names contain the model name the gateway
                                 sends
chat-template       vLLM         ``POST /v1/chat/completions`` (1 token) is not 400 "chat
                                 template"
streaming           both         only with ``error_code="A1003"``: vLLM streams ``data:``
                                 chunks; the gateway's ``AIGW_CUSTOM_MODELS__DISABLE_STREAMING``
==================  ===========  ==========================================================
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from remediate.core.evidence import body_evidence
from remediate.core.planner import ContainerFacts, Observed, facts_of
from remediate.core.playbook import url_host
from remediate.core.redaction import redact_text
from remediate.errors import RemediateError
from remediate.executor.probes import host_request, stable_window, where_published
from remediate.host.connection import Connection

Status = Literal["pass", "warn", "fail"]
Kind = Literal["ai-gateway", "vllm", "gitlab", "other"]

_API_PORT, _METRICS_PORT = "AIGW_FASTAPI__API_PORT", "AIGW_FASTAPI__METRICS_PORT"
_DEFAULT_API_PORT, _DEFAULT_METRICS_PORT, _FIX_METRICS_PORT, _DWS_PORT = 5052, 8082, 8083, 50052
_BYPASS_VARS = ("AIGW_AUTH__BYPASS_EXTERNAL", "AIGW_AUTH__BYPASS_EXTERNAL_WITH_HEADER",
                "AIGW_AUTH__BYPASS_JWT_SIGNATURE")
_CA_VARS = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")
SELF_SIGN = "CLOUD_CONNECTOR_SELF_SIGN_TOKENS"
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_ARCH = {"x86_64": "amd64", "x86-64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armhf": "arm", "arm": "arm", "i386": "386", "i686": "386", "386": "386",
         "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
_RESTART_LOOP = 3
_HTTP_TIMEOUT = 5.0
_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class Finding:
    """The outcome of one check on one container.

    Attributes:
        container: container name.
        check: the check's name (see the module docstring).
        status: ``pass``, ``warn`` (not checked, or a risk) or ``fail``.
        evidence: what was seen; secrets are masked on construction.
        fix: the playbook that fixes a failure, or None when no playbook can.
        kind: ``ai-gateway``, ``vllm`` or ``other``.
    """

    container: str
    check: str
    status: Status
    evidence: str
    fix: str | None = None
    kind: Kind = "other"

    def __post_init__(self) -> None:
        object.__setattr__(self, "evidence", redact_text(self.evidence))


@dataclass(frozen=True)
class GitLabFacts:
    """What the GitLab host says (read over ``--gitlab-host``) that container checks compare with.

    Attributes:
        version: GitLab's version (``18.8.2-ee``).
        agent_platform_url: the Duo Agent Platform service URL GitLab connects to (``host:port``).
        agent_platform_secure: GitLab connects to it with TLS; None when unknown.
    """

    version: str | None = None
    agent_platform_url: str | None = None
    agent_platform_secure: bool | None = None


@dataclass(frozen=True)
class Context:
    """What every check of one diagnosis shares.

    Attributes:
        conn: the host.
        model_name: the model name the gateway sends to vLLM.
        streaming: also run the streaming checks (asked for with Duo Chat error A1003).
        engine_arch: the engine's architecture as a Go name (``amd64``), None when unknown.
        gitlab: what the GitLab host says, when ``--gitlab-host`` was given.
        model_endpoints: the model URLs the gateway must reach.
    """

    conn: Connection
    model_name: str
    streaming: bool = False
    engine_arch: str | None = None
    gitlab: GitLabFacts | None = None
    model_endpoints: tuple[str, ...] = ()
    #: Container id -> stayed up when watched (filled as checks ask; see ``is_up``).
    stable: dict[str, bool] = field(default_factory=dict)


def engine_arch(conn: Connection) -> str | None:
    """The engine's architecture as Go names it (``x86_64`` -> ``amd64``), None when unknown."""
    try:
        raw = str(conn.info().get("Architecture") or "")
    except RemediateError:
        return None
    return _ARCH.get(raw.lower(), raw.lower() or None)


def env_bool(value: str | None) -> bool | None:
    """Pydantic's reading of a boolean env value; None when unset or not a boolean."""
    if value is None:
        return None
    text = value.strip().lower()
    return True if text in _TRUE else False if text in _FALSE else None


def port_value(value: Any, default: int) -> int:
    """A TCP port number from a setting, or ``default`` when it is not one."""
    try:
        port = int(str(value))
    except (TypeError, ValueError):
        return default
    return port if 0 < port < 65536 else default


# --------------------------------------------------------------------------- common checks

def _state(ctx: Context, obs: Observed, kind: Kind) -> Finding:
    state = obs.inspect.get("State") or {}
    restarts = int(obs.inspect.get("RestartCount") or 0)
    status = str(state.get("Status") or "unknown")

    def finding(st: Status, evidence: str, fix: str | None = None) -> Finding:
        return Finding(obs.name, "state", st, evidence, fix, kind)

    running = status == "running" and not state.get("Restarting")
    # A crash-looping container is "running" between its crashes: one that restarted before is
    # watched a little longer, as verification does after an apply.
    looping = running and not is_up(ctx, obs)
    if running and not looping and restarts < _RESTART_LOOP:
        if restarts:
            return finding("warn", f"running, restarted {restarts} time(s) since created")
        return finding("pass", f"running since {state.get('StartedAt', '?')}")
    if status == "paused":
        return finding("warn", "paused")
    if status == "created":
        return finding("fail", "created but never started")
    log = _last_log(ctx, obs)
    error = str(state.get("Error") or "")
    if running:
        evidence = f"restart loop: running, but restarted {restarts} times" + (
            f" and again within {stable_window():g} s" if looping else "")
    elif state.get("Restarting") or status == "restarting":
        evidence = f"restart loop: {restarts} restarts, last exit code {state.get('ExitCode')}"
    else:
        evidence = f"{status}, exit code {state.get('ExitCode')}" + (f": {error}" if error else "")
    return finding("fail", evidence + (f"; log: {log}" if log else ""), _crash_fix(f"{error} {log}", kind))


def is_up(ctx: Context, obs: Observed) -> bool:
    """Running, and not crash-looping: a container that restarted before must stay up a while."""
    state = obs.inspect.get("State") or {}
    if not state.get("Running") or state.get("Restarting") or state.get("Paused"):
        return False
    if not obs.inspect.get("RestartCount"):
        return True
    if obs.id not in ctx.stable:
        ctx.stable[obs.id] = _stays_up(ctx, obs)
    return ctx.stable[obs.id]


def _stays_up(ctx: Context, obs: Observed) -> bool:
    """True when the container runs on, without a restart, for the stable window from now."""
    started = (obs.inspect.get("State") or {}).get("StartedAt")
    deadline = time.monotonic() + stable_window()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        try:
            state = ctx.conn.inspect_container(obs.id).get("State") or {}
        except RemediateError:
            return False
        if state.get("Status") != "running" or state.get("Restarting") or state.get("StartedAt") != started:
            return False
    return True


def _last_log(ctx: Context, obs: Observed) -> str:
    """The last error-looking line of the container's log (else its last line)."""
    try:
        lines = [line.strip() for line in ctx.conn.logs(obs.id, tail=8).splitlines() if line.strip()]
    except RemediateError:
        return ""
    important = [ln for ln in lines if "error" in ln.lower() or "in use" in ln.lower()]
    return (important or lines or [""])[-1][:300]


def _crash_fix(text: str, kind: Kind) -> str | None:
    text = text.lower()
    if "exec format error" in text:
        return "fix-image-platform"
    if kind == "ai-gateway" and "in use" in text and "attempting to bind" not in text:
        # The metrics server binds first and its error names no port; the API's error names one.
        return "fix-gateway-host-network"
    return None


def _platform(ctx: Context, obs: Observed, kind: Kind) -> Finding:
    image = obs.image or {}
    raw = str(image.get("Architecture") or "")
    arch = _ARCH.get(raw.lower(), raw.lower())
    shown = f"{image.get('Os') or '?'}/{raw or '?'}" + (f"/{image['Variant']}" if image.get("Variant") else "")
    if not arch or ctx.engine_arch is None:
        return Finding(obs.name, "platform", "warn", f"not checked: image {shown}, engine "
                       f"{ctx.engine_arch or 'unknown'}", None, kind)
    if arch == ctx.engine_arch:
        return Finding(obs.name, "platform", "pass", f"image {shown} matches the engine ({ctx.engine_arch})",
                       None, kind)
    evidence = (f"image is {shown} but the engine is {ctx.engine_arch}: \"The requested image's platform "
                f"does not match the detected host\"; it runs under emulation or not at all "
                f"(fix with -e platform=linux/{ctx.engine_arch}, or linux/amd64 for the AI gateway)")
    return Finding(obs.name, "platform", "warn" if is_up(ctx, obs) else "fail", evidence,
                   "fix-image-platform", kind)


def self_sign_check(obs: Observed, kind: Kind) -> Finding:
    """Fail when ``CLOUD_CONNECTOR_SELF_SIGN_TOKENS`` is in the container's env."""
    if SELF_SIGN in facts_of(obs).env:
        return Finding(obs.name, "self-sign-tokens", "fail",
                       f"a diagnostic flag that must not be used in production is set: {SELF_SIGN}; "
                       "remove it and restart", None, kind)
    return Finding(obs.name, "self-sign-tokens", "pass", f"not set: {SELF_SIGN}", None, kind)


# --------------------------------------------------------------------------- HTTP

@dataclass(frozen=True)
class Reply:
    """An HTTP answer as a check shows it (``status`` None: none came, ``error`` says why)."""

    status: int | None
    body: str
    where: str
    error: str | None = None

    def shown(self) -> str:
        if self.status is None:
            return f"{self.where}: {self.error}"
        snippet = body_evidence(self.body, 160)
        return f"{self.where}: {self.status}" + (f" {snippet}" if snippet else "")


def http(ctx: Context, obs: Observed, port: int, method: str, path: str, *, body: Any = None,
         headers: Mapping[str, str] | None = None) -> Reply:
    """One HTTP request to a container port where the Docker host publishes it."""
    published = where_published(obs.inspect, port)
    if published is None:
        return Reply(None, "", f"port {port}", "not published on the Docker host: not checked")
    host, host_port = published
    where = f"{method} {path} on port {port} ({host}:{host_port})"
    reply = host_request(ctx.conn, host, host_port, method, path, body=body, headers=headers,
                         timeout=_HTTP_TIMEOUT, max_body=_MAX_BODY)
    if reply.status is None:
        return Reply(None, "", where, f"no answer ({reply.error})")
    return Reply(reply.status, reply.body, where)


def not_running(obs: Observed, check: str, kind: Kind) -> Finding:
    return Finding(obs.name, check, "warn", "not checked: the container is not running steadily", None, kind)


# --------------------------------------------------------------------------- AI gateway

def gateway_checks(ctx: Context, obs: Observed) -> list[Finding]:
    """Every check of an AI gateway container, in order."""
    kind: Kind = "ai-gateway"
    facts = facts_of(obs)
    api_port = port_value(facts.env.get(_API_PORT), _DEFAULT_API_PORT)
    findings = [_state(ctx, obs, kind), _platform(ctx, obs, kind)]
    if is_up(ctx, obs):
        findings += _gateway_probes(ctx, obs, api_port)
    else:
        findings += [not_running(obs, "healthz", kind), not_running(obs, "auth-probe", kind)]
    findings += [_auth_bypass(obs, facts), _custom_models(obs, facts), _gitlab_url(obs, facts),
                 self_sign_check(obs, kind), _ca_bundle(ctx, obs, facts), _host_ports(ctx, obs, facts, api_port)]
    if ctx.streaming:
        findings.append(_gateway_streaming(obs, facts))
    return findings


def _gateway_probes(ctx: Context, obs: Observed, api_port: int) -> list[Finding]:
    kind: Kind = "ai-gateway"
    health = http(ctx, obs, api_port, "GET", "/monitoring/healthz")
    if health.status == 200:
        healthz = Finding(obs.name, "healthz", "pass", health.shown(), None, kind)
    elif health.status is None and "not published" in (health.error or ""):
        healthz = Finding(obs.name, "healthz", "warn", health.shown() + " (GitLab cannot reach an "
                          "unpublished port from outside the host)", None, kind)
    else:
        healthz = Finding(obs.name, "healthz", "fail", health.shown() + " (expected 200)", None, kind)
    root = http(ctx, obs, api_port, "GET", "/")
    if root.status == 401:
        auth = Finding(obs.name, "auth-probe", "pass", root.shown(), None, kind)
    elif root.status == 404:
        auth = Finding(obs.name, "auth-probe", "fail", root.shown() + " (expected 401: authentication is "
                       "bypassed)", "disable-auth-bypass", kind)
    elif root.status is None:
        auth = Finding(obs.name, "auth-probe", "warn", root.shown(), None, kind)
    else:
        auth = Finding(obs.name, "auth-probe", "warn", root.shown() + " (expected 401)", None, kind)
    return [healthz, auth]


def _auth_bypass(obs: Observed, facts: ContainerFacts) -> Finding:
    on = [f"{name}={facts.env[name]}" for name in _BYPASS_VARS if env_bool(facts.env.get(name))]
    if on:
        return Finding(obs.name, "auth-bypass", "fail", ", ".join(on) + ": authentication is bypassed "
                       "(\"You must not bypass authentication in production.\")", "disable-auth-bypass",
                       "ai-gateway")
    return Finding(obs.name, "auth-bypass", "pass", "no AIGW_AUTH__BYPASS_* variable is true", None, "ai-gateway")


def _custom_models(obs: Observed, facts: ContainerFacts) -> Finding:
    name = "AIGW_CUSTOM_MODELS__ENABLED"
    raw = facts.env.get(name)
    value = env_bool(raw)

    def finding(status: Status, evidence: str, fix: str | None = "enable-custom-models") -> Finding:
        return Finding(obs.name, "custom-models", status, evidence, fix, "ai-gateway")

    if raw is None:
        return finding("fail", f"{name} is unset (defaults to false): self-hosted models are refused")
    if value is None:
        return finding("fail", f"{name}={raw} is not a boolean: the gateway will not start")
    if not value:
        return finding("fail", f"{name}={raw}: self-hosted models are refused (\"must be true\")")
    if raw != "true":
        return finding("warn", f"{name}={raw}: the gateway reads it as true, but the troubleshoot script "
                       "wants lowercase true")
    return finding("pass", f"{name}=true", None)


def _gitlab_url(obs: Observed, facts: ContainerFacts) -> Finding:
    url, api = facts.env.get("AIGW_GITLAB_URL"), facts.env.get("AIGW_GITLAB_API_URL")

    def finding(status: Status, evidence: str, fix: str | None = "fix-gitlab-url") -> Finding:
        return Finding(obs.name, "gitlab-url", status, evidence, fix, "ai-gateway")

    if not url:
        return finding("fail", "AIGW_GITLAB_URL is unset: the gateway validates GitLab's JWTs with "
                       "https://gitlab.com instead of your GitLab instance")
    host = url_host(url)
    if not url.lower().startswith(("http://", "https://")) or not host:
        return finding("fail", f"AIGW_GITLAB_URL={url} is not an http(s) URL")
    if host in ("localhost", "::1", "0.0.0.0") or host.startswith("127.") or host.endswith(".localhost"):
        return finding("fail", f"AIGW_GITLAB_URL={url} points at localhost, i.e. the gateway container "
                       "itself; use the GitLab instance's hostname")
    expected = url.rstrip("/") + "/api/v4/"
    if not api:
        return finding("warn", f"AIGW_GITLAB_API_URL is unset (expected {expected})")
    if api.rstrip("/") + "/" != expected:
        return finding("fail", f"AIGW_GITLAB_API_URL={api} does not match AIGW_GITLAB_URL={url} "
                       f"(expected {expected})")
    return finding("pass", f"AIGW_GITLAB_URL={url}, AIGW_GITLAB_API_URL={api}", None)


def _ca_bundle(ctx: Context, obs: Observed, facts: ContainerFacts) -> Finding:
    kind: Kind = "ai-gateway"
    paths = {name: str(facts.env[name]) for name in _CA_VARS if facts.env.get(name)}
    if not paths:
        return Finding(obs.name, "ca-bundle", "pass", "SSL_CERT_FILE and REQUESTS_CA_BUNDLE not set "
                       "(the image's default trust)", None, kind)
    missing: list[str] = []
    unknown: list[str] = []
    seen: list[str] = []
    for name, path in paths.items():
        found, how = _file_in_container(ctx, obs, path)
        entry = f"{name}={path} ({how})"
        (seen if found else missing if found is False else unknown).append(entry)
    if missing:
        return Finding(obs.name, "ca-bundle", "fail", "no such file in the container: " + "; ".join(missing),
                       "fix-ssl-ca-bundle", kind)
    if unknown:
        return Finding(obs.name, "ca-bundle", "warn", "not checked: " + "; ".join(unknown), None, kind)
    if len(paths) < len(_CA_VARS):
        absent = next(n for n in _CA_VARS if n not in paths)
        return Finding(obs.name, "ca-bundle", "warn", "; ".join(seen) + f"; {absent} is not set (model "
                       "calls read SSL_CERT_FILE, the fetch of GitLab's signing keys reads REQUESTS_CA_BUNDLE)",
                       "fix-ssl-ca-bundle", kind)
    return Finding(obs.name, "ca-bundle", "pass", "; ".join(seen), None, kind)


def _file_in_container(ctx: Context, obs: Observed, path: str) -> tuple[bool | None, str]:
    """(exists?, how it was checked); None when it could not be told."""
    if is_up(ctx, obs):
        for cmd in (["test", "-f", path], ["sh", "-c", 'test -f "$1"', "sh", path],
                    ["python3", "-c", "import os,sys; sys.exit(0 if os.path.isfile(sys.argv[1]) else 1)", path]):
            try:
                code, _ = ctx.conn.exec(obs.id, cmd)
            except RemediateError:
                break
            if code == 0:
                return True, "file exists"
            if code == 1:
                return False, "checked with docker exec"
            # 126/127: the program is not in the image; try the next way
    mount = mount_covering(obs.inspect, path)
    if mount is None:
        state = "not running" if not is_up(ctx, obs) else "no test, sh or python3 in the image"
        return None, f"{state}; not under any mount"
    source = str(mount.get("Source") or mount.get("Name") or "")
    return None, f"under the {mount.get('Type')} mount {source}:{mount.get('Destination')}; container not running"


def mount_covering(inspect: Mapping[str, Any], path: str) -> Mapping[str, Any] | None:
    target = Path(path)
    for mount in inspect.get("Mounts") or []:
        dest = Path(str(mount.get("Destination") or "/nonexistent"))
        if target == dest or dest in target.parents:
            return dict(mount)
    return None


def _host_ports(ctx: Context, obs: Observed, facts: ContainerFacts, api_port: int) -> Finding:
    kind: Kind = "ai-gateway"
    metrics_port = port_value(facts.env.get(_METRICS_PORT), _DEFAULT_METRICS_PORT)
    on_host = (obs.inspect.get("HostConfig") or {}).get("NetworkMode") == "host"
    # The Workflow Service (Agent Platform) binds its gRPC port, and its metrics port when both
    # PROMETHEUS_METRICS__ADDR and __PORT are set, in the same network namespace.
    dws: dict[str, int] = {}
    if env_bool(facts.env.get("ENABLE_DUO_WORKFLOW_SERVICE")):
        dws["the Workflow Service's gRPC"] = port_value(facts.env.get("PORT"), _DWS_PORT)
        if facts.env.get("PROMETHEUS_METRICS__ADDR") and facts.env.get("PROMETHEUS_METRICS__PORT"):
            dws["the Workflow Service's metrics"] = port_value(facts.env.get("PROMETHEUS_METRICS__PORT"), 0)
    clash = next((what for what, port in dws.items() if port in (api_port, metrics_port)), None)
    if clash is not None:
        return Finding(obs.name, "host-network-ports", "fail", f"{clash} port {dws[clash]} is also the gateway's "
                       f"API or metrics port ({api_port}, {metrics_port}): one of them cannot bind; by hand: set "
                       "PROMETHEUS_METRICS__PORT (or AIGW_FASTAPI__METRICS_PORT) to another port", None, kind)
    if on_host and is_up(ctx, obs):
        return Finding(obs.name, "host-network-ports", "pass", f"on host networking and running: ports "
                       f"{api_port} and {metrics_port} are its own", None, kind)
    listening = _listening_ports(ctx.conn)
    if listening is None:
        return Finding(obs.name, "host-network-ports", "warn", "not checked: cannot read the Docker "
                       "host's /proc/net/tcp", None, kind)
    own = _published_host_ports(obs.inspect)  # freed when this container is replaced
    taken = {p for p in (api_port, metrics_port) if p in listening and p not in own}
    status: Status = "fail" if on_host else "warn"
    when = "it cannot start" if on_host else "with --network host it would exit (address already in use)"
    if api_port in taken:
        return Finding(obs.name, "host-network-ports", status, f"API port {api_port} is taken on the host: "
                       f"{when}; free it or change AIGW_FASTAPI__API_PORT", None, kind)
    dws_taken = [f"{what} port {port}" for what, port in dws.items() if port in listening and port not in own]
    if dws_taken and metrics_port not in taken:
        return Finding(obs.name, "host-network-ports", status, f"{', '.join(dws_taken)} taken on the host: {when}; "
                       "free it, or set PORT / PROMETHEUS_METRICS__PORT to a free port", None, kind)
    if metrics_port in taken:
        free = next((p for p in (_FIX_METRICS_PORT, 8084, 8085, 8086) if p not in listening), None)
        hint = (f"fix-gateway-host-network moves metrics to {free}"
                + ("" if free == _FIX_METRICS_PORT else f" (-e metrics_port={free}: {_FIX_METRICS_PORT} is taken too)")
                if free else "pick a free port with -e metrics_port=<port>")
        return Finding(obs.name, "host-network-ports", status, f"metrics port {metrics_port} is taken on the "
                       f"host: {when}; {hint}", "fix-gateway-host-network", kind)
    return Finding(obs.name, "host-network-ports", "pass", f"ports {api_port} (API) and {metrics_port} "
                   "(metrics) are free on the host", None, kind)


def _published_host_ports(inspect: Mapping[str, Any]) -> set[int]:
    ports = ((inspect.get("NetworkSettings") or {}).get("Ports")) or {}
    found = set()
    for bindings in ports.values():
        for binding in bindings or []:
            if str(binding.get("HostPort") or "").isdigit():
                found.add(int(binding["HostPort"]))
    return found


def _listening_ports(conn: Connection) -> set[int] | None:
    """TCP ports in LISTEN state on the Docker host (its ``/proc/net/tcp*``), or None when unreadable."""
    ports: set[int] = set()
    read_any = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            found = conn.read_path(table, follow=True)  # /proc/net -> self/net
        except RemediateError:
            continue
        if not found.exists or not found.content:
            continue
        read_any = True
        for line in found.content.decode("ascii", "replace").splitlines()[1:]:
            fields = line.split()
            if len(fields) > 3 and fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports if read_any else None


def _gateway_streaming(obs: Observed, facts: ContainerFacts) -> Finding:
    raw = facts.env.get("AIGW_CUSTOM_MODELS__DISABLE_STREAMING")
    if env_bool(raw):
        return Finding(obs.name, "streaming", "pass", f"AIGW_CUSTOM_MODELS__DISABLE_STREAMING={raw}: the "
                       "gateway does not stream from the model (the A1003 workaround is on)", None, "ai-gateway")
    return Finding(obs.name, "streaming", "warn", "the gateway streams from the model "
                   "(AIGW_CUSTOM_MODELS__DISABLE_STREAMING not true): A1003 means that stream fails",
                   "fix-streaming-a1003", "ai-gateway")


# --------------------------------------------------------------------------- vLLM

def vllm_checks(ctx: Context, obs: Observed) -> list[Finding]:
    """Every check of a vLLM container, in order."""
    kind: Kind = "vllm"
    facts = facts_of(obs)
    findings = [_state(ctx, obs, kind), _platform(ctx, obs, kind), self_sign_check(obs, kind)]
    checks = ["health", "api-key", "served-model", "chat-template"]
    if ctx.streaming:
        checks.append("streaming")
    if not is_up(ctx, obs):
        return findings + [not_running(obs, check, kind) for check in checks]
    port = port_value(facts.flag("--port", 8000), 8000)
    key = facts.flag("--api-key") or facts.env.get("VLLM_API_KEY")

    def finding(check: str, status: Status, evidence: str, fix: str | None = None) -> Finding:
        return Finding(obs.name, check, status, evidence, fix, kind)

    health = http(ctx, obs, port, "GET", "/health")
    if health.status == 200:
        findings.append(finding("health", "pass", health.shown()))
    elif health.status == 503:
        findings.append(finding("health", "fail", health.shown() + " (the engine is dead)"))
    elif health.status is None and "not published" in (health.error or ""):
        findings.append(finding("health", "warn", health.shown()))
    else:
        findings.append(finding("health", "fail", health.shown() + " (still loading the model?)"))

    bare = http(ctx, obs, port, "GET", "/v1/models")
    auth = {"Authorization": f"Bearer {key}"} if isinstance(key, str) and key else {}
    models = bare
    if bare.status == 401 and auth:
        models = http(ctx, obs, port, "GET", "/v1/models", headers=auth)
        if models.status == 200:
            findings.append(finding("api-key", "warn", "/v1 requires an API key (from --api-key/VLLM_API_KEY); GitLab's self-hosted "
                                    "model must be configured with the same one, or the gateway gets "
                                    "401 {\"error\":\"Unauthorized\"}"))
        else:
            findings.append(finding("api-key", "fail", f"/v1 refuses the container's own API key; "
                                    f"{models.shown()}"))
    elif bare.status == 401:
        findings.append(finding("api-key", "warn", f"{bare.shown()}: vLLM wants an API key, and none is in "
                                "the container's config (not checked further)"))
    elif bare.status is None:
        findings.append(finding("api-key", "warn", bare.shown()))
    else:
        findings.append(finding("api-key", "pass", "/v1 answers without an API key"))

    names = model_names(models)
    if names is None:
        findings.append(finding("served-model", "warn", f"not checked: {models.shown()}"))
    elif ctx.model_name in names:
        findings.append(finding("served-model", "pass", f"serves {', '.join(names)}"))
    else:
        findings.append(finding("served-model", "fail", f"serves {', '.join(names) or 'nothing'}, but the gateway "
                                f"sends {ctx.model_name!r}: 404 \"The model `{ctx.model_name}` does not exist.\"",
                                "fix-vllm-404"))
    chat_model = ctx.model_name if names is None or ctx.model_name in names else names[0] if names else ctx.model_name
    chat = http(ctx, obs, port, "POST", "/v1/chat/completions", headers=auth, body={
        "model": chat_model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1})
    if chat.status == 200:
        findings.append(finding("chat-template", "pass", f"{chat.where}: 200 (the chat template renders)"))
    elif chat.status == 400 and "chat template" in chat.body:
        findings.append(finding("chat-template", "fail", chat.shown() + " (start vLLM with --chat-template)",
                                "fix-vllm-404"))
    else:
        findings.append(finding("chat-template", "warn", f"not checked: {chat.shown()}"))
    if "streaming" in checks:
        stream = http(ctx, obs, port, "POST", "/v1/chat/completions", headers=auth, body={
            "model": chat_model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 1,
            "stream": True})
        if stream.status == 200 and "data:" in stream.body and "[DONE]" in stream.body:
            findings.append(finding("streaming", "pass", f"{stream.where}: 200, streams data: chunks and [DONE]"))
        else:
            findings.append(finding("streaming", "fail", f"{stream.shown()} (expected data: chunks ending in "
                                    "[DONE])", "fix-streaming-a1003"))
    return findings


def model_names(reply: Reply) -> list[str] | None:
    """The served model names in a ``GET /v1/models`` answer; None when it is not one."""
    if reply.status != 200:
        return None
    try:
        data = json.loads(reply.body)
    except ValueError:
        return None
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return None
    return [str(e.get("id")) for e in entries if isinstance(e, dict) and e.get("id") is not None]
