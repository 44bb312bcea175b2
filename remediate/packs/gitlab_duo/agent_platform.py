"""Checks of the AI gateway's Agent Platform half and of its environment. Reads only.

Since GitLab 18.8 the gateway container also runs the Duo Workflow Service ("Agent Platform",
gRPC on port 50052, ``PORT``), started when ``ENABLE_DUO_WORKFLOW_SERVICE`` is true (the
self-hosted image's default). A check that no playbook can fix yet says in its evidence what
to do by hand; the others name their playbook (``fix``).

================  ==============================================================================
check             detection
================  ==============================================================================
dws-port          the Workflow Service's port is published on the Docker host (or host networking)
dws-health        ``grpc.health.v1.Health/Check`` answered ``SERVING`` inside the gateway, asked
                  with the gateway's own ``grpc`` (TLS when ``DUO_WORKFLOW_TLS__ENABLED``)
dws-tls           a TLS handshake on the published port: what the port speaks, against
                  ``DUO_WORKFLOW_TLS__ENABLED`` and, with ``--gitlab-host``, GitLab's "Use TLS"
                  setting (a mismatch is the IDE's ``WRONG_VERSION_NUMBER``)
jwt-keys          ``AIGW_SELF_SIGNED_JWT__SIGNING_KEY``/``__VALIDATION_KEY`` (and the
                  ``DUO_WORKFLOW_SELF_SIGNED_JWT__*`` pair with the Workflow Service) are RSA
                  2048-bit private keys in PEM; parsed here, never shown
portal-urls       ``AIGW_CUSTOMER_PORTAL_URL`` and ``DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL``
                  both set, or the Customer Portal reachable from inside the gateway
hf-cache          no mount at or above the tokenizer cache (``HF_HOME``, ``/home/aigateway/.hf``),
                  and the cache writable by the gateway's user
tmp-writable      ``/tmp`` writable: no read-only root file system without a tmpfs or volume there
no-proxy          with ``HTTP(S)_PROXY`` set, ``NO_PROXY``/``no_proxy`` names the GitLab host and the
                  model hosts
gateway-version   the image tag is ``self-hosted-vX.Y.Z-ee`` (never ``latest`` or nightly), and
                  with ``--gitlab-host`` X.Y is GitLab's
json-settings     the JSON-valued settings (``AIGW_CUSTOM_MODELS__EXTRA_HEADERS``,
                  ``AIGW_MODEL_ENGINE_LIMITS``, ``AIGW_BEDROCK_GUARDRAIL_CONFIG``) parse as JSON objects
================  ==============================================================================
"""

from __future__ import annotations

import ipaddress
import json
import re
import ssl
import time
from collections.abc import Iterable
from pathlib import PurePosixPath
from typing import Any

from remediate.core.planner import ContainerFacts, Observed, facts_of
from remediate.core.playbook import url_host
from remediate.errors import RemediateError
from remediate.executor.probes import where_published
from remediate.packs.gitlab_duo.checks import (
    Context,
    Finding,
    Kind,
    Status,
    env_bool,
    is_up,
    mount_covering,
    not_running,
    port_value,
)
from remediate.packs.gitlab_duo.reachability import ask_from_inside

__all__ = ["agent_platform_checks"]

_KIND: Kind = "ai-gateway"
DWS_PORT = 50052
HF_DEFAULT = "/home/aigateway/.hf"
CUSTOMER_PORTAL = "https://customers.gitlab.com/.well-known/openid-configuration"
JWT_PAIRS = {"AIGW_SELF_SIGNED_JWT": "the AI gateway (Duo Chat)",
             "DUO_WORKFLOW_SELF_SIGNED_JWT": "the Agent Platform"}
PORTAL_VARS = ("AIGW_CUSTOMER_PORTAL_URL", "DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL")
_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")
JSON_SETTINGS = ("AIGW_CUSTOM_MODELS__EXTRA_HEADERS", "AIGW_MODEL_ENGINE_LIMITS", "AIGW_BEDROCK_GUARDRAIL_CONFIG")
_TIMEOUT = 5.0
_TAG = re.compile(r"^self-hosted-v(\d+)\.(\d+)\.(\d+)-ee$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)")

#: Runs inside the gateway with its own grpc (as its troubleshoot script does): one health check,
#: the messages passed as raw protobuf bytes (no generated code needed). Prints one JSON line.
_GRPC_HEALTH = """\
import json, sys
def done(result, detail=''):
    print(json.dumps({'result': result, 'detail': str(detail)[:300]}))
    sys.exit(0)
try:
    import grpc
except ImportError as exc:
    done('no-grpc', exc)
port, tls, cert, timeout = sys.argv[1], sys.argv[2] == 'true', sys.argv[3], float(sys.argv[4])
target = 'localhost:' + port
if tls:
    roots = open(cert, 'rb').read() if cert else None
    channel = grpc.secure_channel(target, grpc.ssl_channel_credentials(root_certificates=roots))
else:
    channel = grpc.insecure_channel(target)
try:
    reply = channel.unary_unary('/grpc.health.v1.Health/Check')(b'', timeout=timeout)
except grpc.RpcError as exc:
    done('error', '%s: %s' % (exc.code().name, exc.details()))
status = reply[1] if len(reply) >= 2 and reply[0] == 8 else 0
done('status', {0: 'UNKNOWN', 1: 'SERVING', 2: 'NOT_SERVING', 3: 'SERVICE_UNKNOWN'}.get(status, status))
"""


def agent_platform_checks(ctx: Context, obs: Observed) -> list[Finding]:
    """The checks of the module docstring for one AI gateway container, in that order."""
    facts = facts_of(obs)
    findings = _dws(ctx, obs, facts)
    findings += [_jwt_keys(obs, facts), _portal_urls(ctx, obs, facts), _hf_cache(ctx, obs, facts),
                 _tmp_writable(ctx, obs), _no_proxy(ctx, obs, facts), _gateway_version(ctx, obs, facts),
                 _json_settings(obs, facts)]
    return findings


def _finding(obs: Observed, check: str, status: Status, evidence: str, fix: str | None = None) -> Finding:
    return Finding(obs.name, check, status, evidence, fix, _KIND)


# --------------------------------------------------------------------------- the Workflow Service

def _dws(ctx: Context, obs: Observed, facts: ContainerFacts) -> list[Finding]:
    raw = facts.env.get("ENABLE_DUO_WORKFLOW_SERVICE")
    if not env_bool(raw):
        off = (f"the Duo Workflow Service is off here (ENABLE_DUO_WORKFLOW_SERVICE="
               f"{raw if raw is not None else 'unset'}): this gateway serves no Agent Platform")
        return [_finding(obs, check, "pass", off) for check in ("dws-port", "dws-health", "dws-tls")]
    port = port_value(facts.env.get("PORT"), DWS_PORT)
    published = where_published(obs.inspect, port)
    host_config = obs.inspect.get("HostConfig") or {}
    host_net = host_config.get("NetworkMode") == "host"
    running = is_up(ctx, obs)
    health = _health(ctx, obs, facts, port) if running else not_running(obs, "dws-health", _KIND)
    if published is None and not running and (host_config.get("PortBindings") or {}).get(f"{port}/tcp"):
        # A stopped container shows no live ports; its configuration publishes this one.
        return [_finding(obs, "dws-port", "pass", f"gRPC port {port}: published when it runs"), health,
                not_running(obs, "dws-tls", _KIND)]
    if published is None:
        mode = str(host_config.get("NetworkMode") or "")
        if mode == "none" or mode.startswith("container:"):
            return [_finding(obs, "dws-port", "fail", f"the Agent Platform's gRPC port {port} is not published, and "
                             f"a container on {mode} networking cannot publish it; by hand: give the gateway a "
                             "network of its own"),
                    health, _finding(obs, "dws-tls", "warn", f"not checked: port {port} is not published")]
        return [_finding(obs, "dws-port", "fail", f"the Agent Platform's gRPC port {port} is not published: "
                         "GitLab and the IDEs cannot reach the Duo Workflow Service",
                         "publish-agent-platform-port"),
                health, _finding(obs, "dws-tls", "warn", f"not checked: port {port} is not published")]
    where = "host networking" if host_net else f"published on {published[0]}:{published[1]}"
    tls = _tls(ctx, obs, facts, port, published) if running else not_running(obs, "dws-tls", _KIND)
    return [_finding(obs, "dws-port", "pass", f"gRPC port {port}: {where}"), health, tls]


def _health(ctx: Context, obs: Observed, facts: ContainerFacts, port: int) -> Finding:
    tls = bool(env_bool(facts.env.get("DUO_WORKFLOW_TLS__ENABLED")))
    cert = str(facts.env.get("DUO_WORKFLOW_TLS__CERT_FILE") or "")
    try:
        code, output = ctx.conn.exec(obs.id, ["python3", "-c", _GRPC_HEALTH, str(port), str(tls).lower(), cert,
                                              str(_TIMEOUT)])
    except RemediateError as exc:
        return _finding(obs, "dws-health", "warn", f"not checked: {exc.message}")
    try:
        answer = json.loads(output.strip().splitlines()[-1]) if code == 0 else None
    except (ValueError, IndexError):
        answer = None
    if not isinstance(answer, dict):
        return _finding(obs, "dws-health", "warn", "not checked: no python3 in the gateway image")
    result, detail = str(answer.get("result")), str(answer.get("detail", ""))
    how = f"grpc.health.v1.Health/Check on localhost:{port} inside the gateway ({'TLS' if tls else 'plain'})"
    if result == "no-grpc":
        return _finding(obs, "dws-health", "warn", f"not checked: no grpc module in the gateway image ({detail})")
    if result == "status" and detail == "SERVING":
        return _finding(obs, "dws-health", "pass", f"{how}: SERVING")
    if result == "status":
        return _finding(obs, "dws-health", "fail", f"{how}: {detail}: the Duo Workflow Service is reachable but "
                        "not serving; read its log (docker logs)")
    if re.search(r"ssl|tls|handshake|certificate|wrong_version_number", detail, re.IGNORECASE):
        return _finding(obs, "dws-health", "warn", f"{how}: the TLS handshake failed ({detail}); check "
                        "DUO_WORKFLOW_TLS__CERT_FILE names the certificate the service serves")
    return _finding(obs, "dws-health", "fail", f"{how}: {detail}: the Duo Workflow Service does not answer "
                    "(it did not start, or listens on another port: PORT); read its log (docker logs)")


def _tls(ctx: Context, obs: Observed, facts: ContainerFacts, port: int, published: tuple[str, int]) -> Finding:
    speaks, detail = speaks_tls(ctx, *published)
    where = f"port {port} ({published[0]}:{published[1]})"
    if speaks is None:
        return _finding(obs, "dws-tls", "warn", f"not checked: {where}: {detail}")
    said = bool(env_bool(facts.env.get("DUO_WORKFLOW_TLS__ENABLED")))
    spoken = "TLS" if speaks else "plain text (no TLS)"
    if speaks != said:
        return _finding(obs, "dws-tls", "warn", f"{where} speaks {spoken} ({detail}) although "
                        f"DUO_WORKFLOW_TLS__ENABLED is {'true' if said else 'not true'}: something else answers there")
    gitlab = ctx.gitlab.agent_platform_secure if ctx.gitlab else None
    if gitlab is None:
        if speaks:
            return _finding(obs, "dws-tls", "pass", f"{where} speaks TLS ({detail})")
        return _finding(obs, "dws-tls", "warn", f"{where} speaks plain text ({detail}); GitLab connects with TLS "
                        "unless DUO_AGENT_PLATFORM_SERVICE_SECURE=false is set on it (give --gitlab-host to compare)")
    if gitlab == speaks:
        return _finding(obs, "dws-tls", "pass", f"{where} speaks {spoken} ({detail}), as GitLab expects")
    if gitlab:
        return _finding(obs, "dws-tls", "fail", f"GitLab connects to the Agent Platform with TLS, but {where} speaks "
                        f"plain text ({detail}): the IDE logs \"Ssl handshake failed ... WRONG_VERSION_NUMBER\"; by "
                        "hand: on GitLab set gitlab_rails['env'] = {'DUO_AGENT_PLATFORM_SERVICE_SECURE' => false} "
                        "and reconfigure, or serve TLS here (DUO_WORKFLOW_TLS__ENABLED=true with "
                        "DUO_WORKFLOW_TLS__CERT_FILE and __KEY_FILE mounted)")
    return _finding(obs, "dws-tls", "fail", f"GitLab connects to the Agent Platform without TLS "
                    f"(DUO_AGENT_PLATFORM_SERVICE_SECURE=false), but {where} speaks TLS ({detail}); by hand: "
                    "remove DUO_AGENT_PLATFORM_SERVICE_SECURE from GitLab's gitlab_rails['env'] and reconfigure")


def speaks_tls(ctx: Context, host: str, port: int) -> tuple[bool | None, str]:
    """Does ``host:port`` (as the Docker host sees it) answer a TLS hello? None when it cannot
    be told. The handshake runs over memory buffers, so that an SSH channel works as a socket does."""
    try:
        sock = ctx.conn.open_socket(host, port, timeout=_TIMEOUT)
    except (OSError, RemediateError) as exc:
        return None, f"no connection ({getattr(exc, 'message', exc)})"
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # what it speaks is asked, not whom to trust
    context.set_alpn_protocols(["h2"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    deadline = time.monotonic() + _TIMEOUT
    try:
        while True:
            try:
                tls.do_handshake()
                return True, f"{tls.version()}"
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    sock.sendall(pending)
                if time.monotonic() > deadline:
                    return None, "no answer to a TLS hello in time"
                chunk = sock.recv(16384)
                if not chunk:
                    return False, "it closed the connection on a TLS hello"
                incoming.write(chunk)
            except ssl.SSLError as exc:
                return False, f"a TLS hello gets {exc.reason or exc.__class__.__name__}"
    except (OSError, TimeoutError) as exc:
        return None, f"{exc.__class__.__name__}: {exc}"
    finally:
        sock.close()


# --------------------------------------------------------------------------- keys and licences

def _jwt_keys(obs: Observed, facts: ContainerFacts) -> Finding:
    prefixes = list(JWT_PAIRS)
    if not env_bool(facts.env.get("ENABLE_DUO_WORKFLOW_SERVICE")):
        prefixes = prefixes[:1]
    problems: list[str] = []
    good: list[str] = []
    for prefix in prefixes:
        for part in ("SIGNING_KEY", "VALIDATION_KEY"):
            name = f"{prefix}__{part}"
            trouble = pem_trouble(facts.env.get(name))
            (problems if trouble else good).append(f"{name} {trouble or 'is an RSA 2048-bit key'}")
    if problems:
        users = " and ".join(JWT_PAIRS[p] for p in prefixes)
        return _finding(obs, "jwt-keys", "fail", "; ".join(problems) + f": tokens for {users} cannot be made "
                        "(\"Token creation failed\"); make each key with `openssl genrsa -out FILE 2048` in one "
                        "directory of the Docker host, then set-gateway-jwt-keys -e key_dir=DIR sets them",
                        "set-gateway-jwt-keys")
    return _finding(obs, "jwt-keys", "pass", "; ".join(good) + " (values not shown)")


def pem_trouble(value: str | None) -> str | None:
    """What is wrong with a JWT signing key's value (None: an RSA 2048-bit private key in PEM).
    The value itself never appears in the answer."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if not value or not value.strip():
        return "is unset"
    if "-----BEGIN" not in value:
        return "is not PEM (no -----BEGIN line)"
    if "\n" not in value.strip() and "\\n" in value:
        return "has literal \\n where the PEM needs line breaks"
    try:
        key = load_pem_private_key(value.strip().encode(), password=None)
    except TypeError:
        return "is an encrypted key (the gateway cannot use a passphrase)"
    except (ValueError, UnsupportedAlgorithm):
        return "is not a readable PEM private key"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "is not an RSA key"
    if key.key_size != 2048:
        return f"is RSA {key.key_size}-bit (the gateway's docs require 2048)"
    return None


def _portal_urls(ctx: Context, obs: Observed, facts: ContainerFacts) -> Finding:
    values = {name: facts.env.get(name) for name in PORTAL_VARS}
    bad = [f"{name}={value}" for name, value in values.items()
           if value and not (str(value).lower().startswith(("http://", "https://")) and url_host(str(value)))]
    if bad:
        return _finding(obs, "portal-urls", "fail", f"{'; '.join(bad)}: not an http(s) URL",
                        "fix-offline-portal-urls")
    if all(values.values()):
        return _finding(obs, "portal-urls", "pass", ", ".join(f"{n}={v}" for n, v in values.items()))
    if any(values.values()):
        missing = next(n for n, v in values.items() if not v)
        return _finding(obs, "portal-urls", "fail", f"{missing} is unset while the other is set: with an offline "
                        "licence both must name the GitLab instance", "fix-offline-portal-urls")
    if not is_up(ctx, obs):
        return _finding(obs, "portal-urls", "warn", "not checked: neither Customer Portal URL is set and the "
                        "gateway is not running to ask whether customers.gitlab.com is reachable")
    answer = ask_from_inside(ctx, obs, CUSTOMER_PORTAL)
    if isinstance(answer, str):
        return _finding(obs, "portal-urls", "warn", f"not checked: {answer}")
    result, detail = answer
    if result == "http":
        return _finding(obs, "portal-urls", "pass", f"the Customer Portal answers from inside the gateway ({detail}): "
                        "an online licence needs no portal URLs")
    return _finding(obs, "portal-urls", "fail", f"neither {' nor '.join(PORTAL_VARS)} is set and the Customer Portal "
                    f"is not reachable from inside the gateway ({result}: {detail}): every request waits about "
                    "20 s and OIDC key prefetch fails; with an offline licence point both at the GitLab URL",
                    "fix-offline-portal-urls")


# --------------------------------------------------------------------------- file system

def _hf_cache(ctx: Context, obs: Observed, facts: ContainerFacts) -> Finding:
    cache = str(facts.env.get("HF_HOME") or HF_DEFAULT)
    target = PurePosixPath(cache)
    for mount in obs.inspect.get("Mounts") or []:
        dest = PurePosixPath(str(mount.get("Destination") or "/nonexistent"))
        if dest == target or dest in target.parents or target in dest.parents:
            source = str(mount.get("Name") or mount.get("Source") or "")
            shadow = (f"the {mount.get('Type')} mount {source}:{dest} shadows the tokenizer cache {cache} baked into "
                      "the image: code completion fails with 500 (OSError downloading Salesforce/codegen2-16B); do "
                      "not grant egress to huggingface.co")
            if dest == target:
                return _finding(obs, "hf-cache", "fail", shadow, "fix-hf-cache")
            # A mount over or under the cache may hold more than the cache: its removal is asked for by name.
            return _finding(obs, "hf-cache", "fail", f"{shadow}; if nothing else needs that mount: remediate apply "
                            f"fix-hf-cache --container {obs.name} -e mount_target={dest}")
    if not is_up(ctx, obs):
        return _finding(obs, "hf-cache", "pass", f"no mount over the tokenizer cache {cache} (writability not "
                        "checked: not running)")
    writable = _writable(ctx, obs, cache)
    if writable is None:
        return _finding(obs, "hf-cache", "warn", f"no mount over {cache}; writability not checked (no sh or python3)")
    if not writable:
        return _finding(obs, "hf-cache", "fail", f"{cache} is not writable by the gateway's user: "
                        f"\"[Errno 13] Permission denied: '{cache}/...'\"; by hand: set HF_HOME to a writable "
                        "directory holding the tokenizer cache, or fix the owner of that directory")
    return _finding(obs, "hf-cache", "pass", f"no mount over the tokenizer cache {cache}, and it is writable")


def _tmp_writable(ctx: Context, obs: Observed) -> Finding:
    host_config = obs.inspect.get("HostConfig") or {}
    mount = mount_covering(obs.inspect, "/tmp")
    on_tmp = mount is not None or "/tmp" in (host_config.get("Tmpfs") or {})
    if host_config.get("ReadonlyRootfs") and not on_tmp:
        return _finding(obs, "tmp-writable", "fail", "the root file system is read-only (--read-only) and nothing "
                        "writable is mounted on /tmp: the gateway cannot write its temporary files",
                        "fix-tmp-writable")
    if is_up(ctx, obs) and _writable(ctx, obs, "/tmp") is False:
        if mount is not None:  # a tmpfs cannot go where a bind or volume is
            return _finding(obs, "tmp-writable", "fail", f"/tmp is not writable by the gateway's user (a "
                            f"{mount.get('Type')} mount); by hand: make it writable, or remove it and mount a tmpfs")
        return _finding(obs, "tmp-writable", "fail", "/tmp is not writable by the gateway's user", "fix-tmp-writable")
    return _finding(obs, "tmp-writable", "pass", "/tmp is writable" + (" (a mount)" if on_tmp else ""))


_PY_WRITABLE = "import os,sys; sys.exit(0 if os.path.isdir(sys.argv[1]) and os.access(sys.argv[1], os.W_OK) else 1)"


def _writable(ctx: Context, obs: Observed, path: str) -> bool | None:
    """Is ``path`` a directory the container's user can write (asked inside it)? None: cannot tell."""
    for cmd in (["sh", "-c", 'test -d "$1" && test -w "$1"', "sh", path],
                ["python3", "-c", _PY_WRITABLE, path]):
        try:
            code, _ = ctx.conn.exec(obs.id, cmd)
        except RemediateError:
            return None
        if code in (0, 1):
            return code == 0
    return None


# --------------------------------------------------------------------------- network and version

def _no_proxy(ctx: Context, obs: Observed, facts: ContainerFacts) -> Finding:
    proxies = [f"{name}={facts.env[name]}" for name in _PROXY_VARS if facts.env.get(name)]
    if not proxies:
        return _finding(obs, "no-proxy", "pass", "no HTTP(S)_PROXY set")
    entries = [e.strip() for name in ("NO_PROXY", "no_proxy") for e in str(facts.env.get(name) or "").split(",")
               if e.strip()]
    wanted = _direct_hosts(facts, ctx.model_endpoints)
    missing = [host for host in wanted if not bypassed(host, entries)]
    shown = f"{proxies[0]}" + (f" (and {len(proxies) - 1} more)" if len(proxies) > 1 else "")
    if missing:
        return _finding(obs, "no-proxy", "fail", f"{shown}, but NO_PROXY does not name {', '.join(missing)}: the "
                        "gateway sends its requests to GitLab (signing keys) and to the model through the proxy",
                        "fix-no-proxy")
    return _finding(obs, "no-proxy", "pass", f"{shown}; NO_PROXY names {', '.join(wanted) or 'every host needed'}")


def _direct_hosts(facts: ContainerFacts, endpoints: Iterable[str]) -> list[str]:
    urls = [facts.env.get("AIGW_GITLAB_URL"), facts.env.get("AIGW_GITLAB_API_URL"), *endpoints]
    hosts: list[str] = []
    for url in urls:
        host = url_host(str(url)) if url else ""
        if host and host not in hosts:
            hosts.append(host)
    return hosts


def bypassed(host: str, entries: Iterable[str]) -> bool:
    """True when a ``NO_PROXY`` list sends ``host`` direct, read as requests and httpx do:
    ``*``, the name or a parent domain (``.example.com`` or ``example.com``), an IP or a CIDR."""
    host = host.lower().strip("[]")
    try:
        address: Any = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for raw in entries:
        entry = raw.lower().strip()
        if entry == "*":
            return True
        if address is not None:
            try:
                if address in ipaddress.ip_network(entry.strip("[]"), strict=False):
                    return True
            except ValueError:
                pass
            continue
        name = entry.split(":", 1)[0].lstrip("*").lstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _gateway_version(ctx: Context, obs: Observed, facts: ContainerFacts) -> Finding:
    image = facts.image
    tag = image.rsplit("/", 1)[-1].partition("@")[0].rpartition(":")[2] if ":" in image.rsplit("/", 1)[-1] else ""
    gitlab = ctx.gitlab.version if ctx.gitlab else None
    by_hand = "upgrade-gateway -e version={want}.Z (Z: the newest self-hosted-v{want}.*-ee) recreates it on that tag"
    if tag in ("", "latest") or "nightly" in image:
        return _finding(obs, "gateway-version", "fail", f"image {image}: use the self-hosted-vX.Y.Z-ee tag of your "
                        f"GitLab version, never latest or nightly; {by_hand.format(want=_minor(gitlab) or 'X.Y')}",
                        "upgrade-gateway")
    match = _TAG.match(tag)
    if not match:
        return _finding(obs, "gateway-version", "warn", f"image tag {tag} is not self-hosted-vX.Y.Z-ee: its GitLab "
                        "version cannot be told")
    minor = f"{match.group(1)}.{match.group(2)}"
    if gitlab is None:
        return _finding(obs, "gateway-version", "pass", f"tag {tag} (GitLab {minor}; give --gitlab-host to compare "
                        "with GitLab's version)")
    want = _minor(gitlab)
    if want is None:
        return _finding(obs, "gateway-version", "warn", f"tag {tag}; GitLab's version {gitlab!r} cannot be read")
    if want != minor:
        return _finding(obs, "gateway-version", "fail", f"tag {tag} is for GitLab {minor}, but GitLab is {gitlab}: "
                        f"the gateway must follow GitLab's version; {by_hand.format(want=want)}", "upgrade-gateway")
    return _finding(obs, "gateway-version", "pass", f"tag {tag} follows GitLab {gitlab}")


def _minor(version: str | None) -> str | None:
    match = _VERSION.match(version or "")
    return f"{match.group(1)}.{match.group(2)}" if match else None


def _json_settings(obs: Observed, facts: ContainerFacts) -> Finding:
    bad: list[str] = []
    seen: list[str] = []
    for name in JSON_SETTINGS:
        raw = facts.env.get(name)
        if raw is None:
            continue
        try:
            value = json.loads(raw)
        except ValueError as exc:  # the parser's position, never the value (headers carry keys)
            bad.append(f"{name} is not JSON ({exc.__class__.__name__} at line {getattr(exc, 'lineno', '?')} "
                       f"column {getattr(exc, 'colno', '?')})")
            continue
        (seen if isinstance(value, dict) else bad).append(name if isinstance(value, dict)
                                                          else f"{name} is JSON but not an object")
    if bad:
        return _finding(obs, "json-settings", "fail", "; ".join(bad) + ": the gateway does not start or ignores it; "
                        "by hand: write it as one JSON object, e.g. '{\"X-Header\": \"value\"}'")
    return _finding(obs, "json-settings", "pass", ("parse as JSON objects: " + ", ".join(seen)) if seen
                    else "no JSON-valued setting is set")
