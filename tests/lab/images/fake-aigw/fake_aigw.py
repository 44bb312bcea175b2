"""Fake GitLab AI gateway (self-hosted model-gateway image) for remediate's test lab.

Stdlib only. Mimics the externally visible behaviour of the real gateway:

  API server  on AIGW_FASTAPI__API_HOST:AIGW_FASTAPI__API_PORT (0.0.0.0:5000; the image sets 5052)
    GET /monitoring/healthz      200 {}
    GET /monitoring/ready        200 {}   (FAKE_AIGW_READY_STATUS=503 makes it 503 {})
    GET /v1/models/definitions   200 {"models":[],"unit_primitives":[]} (auth-exempt like the real one)
    anything else                401 {"error":"No authorization header presented"}
                                 (401 {"error":"Invalid authorization header"} for a non-Bearer header,
                                  401 {"error":"Forbidden by auth provider"} for any Bearer token)
    with AIGW_AUTH__BYPASS_EXTERNAL=true (or AIGW_AUTH__BYPASS_EXTERNAL_WITH_HEADER=true and the
    request header `Bypass-Auth: true`): 404 {"detail":"Not Found"} and the log line
    "Auth is disabled, all users allowed".
  Metrics     on AIGW_FASTAPI__METRICS_HOST:AIGW_FASTAPI__METRICS_PORT (0.0.0.0:8082), bound FIRST
    (the real app starts its Prometheus server in the app factory, before uvicorn binds the API port)
    GET /metrics  Prometheus text

  Duo Workflow Service (the Agent Platform) when ENABLE_DUO_WORKFLOW_SERVICE is true (the 18.8+
    self-hosted image's default; this fake's image leaves it unset, as an 18.0 gateway):
    gRPC on 0.0.0.0:PORT (50052), grpc.health.v1.Health/Check -> SERVING, plain text, or TLS
    with DUO_WORKFLOW_TLS__ENABLED=true and DUO_WORKFLOW_TLS__CERT_FILE / __KEY_FILE (PEM files).
    Served with Debian's python3-grpcio; the health messages travel as raw protobuf bytes.
    FAKE_DWS_STATUS=NOT_SERVING makes it answer that.

If a port cannot be bound the process prints the OSError ("[Errno 98] ... address already in use")
to stderr and exits 1. SIGTERM/SIGINT -> exit 0 at once.
Booleans are parsed like pydantic (true/false/1/0/yes/no/on/off/t/f/y/n, any case); an invalid
value is a startup error (exit 1), as with the real pydantic-settings config.
Test knob (not in the real gateway): FAKE_AIGW_STARTUP_DELAY seconds before binding.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

TRUE = {"1", "on", "t", "true", "y", "yes"}
FALSE = {"0", "off", "f", "false", "n", "no"}


class ConfigError(Exception):
    pass


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    v = raw.strip().lower()
    if v in TRUE:
        return True
    if v in FALSE:
        return False
    raise ConfigError(
        f"1 validation error for Config\n{name}\n  Input should be a valid boolean, "
        f"unable to interpret input [type=bool_parsing, input_value='{raw}', input_type=str]"
    )


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(
            f"1 validation error for Config\n{name}\n  Input should be a valid integer, "
            f"unable to parse string as an integer [type=int_parsing, input_value='{raw}', "
            "input_type=str]"
        ) from None


JSON_LOGS = True
LOG_LOCK = threading.Lock()


def log(event: str, level: str = "info", logger: str = "ai_gateway", **fields: Any) -> None:
    if JSON_LOGS:
        rec = {
            "event": event,
            "logger": logger,
            "level": level,
            "timestamp": datetime.now(UTC).isoformat(),
            **fields,
        }
        line = json.dumps(rec)
    else:
        extra = " ".join(f"{k}={v}" for k, v in fields.items())
        line = f"{level.upper():8} {logger}: {event}" + (f" {extra}" if extra else "")
    with LOG_LOCK:
        print(line, file=sys.stderr, flush=True)


class Metrics:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counts: dict[tuple[str, str, str], int] = {}

    def inc(self, handler: str, method: str, status: int) -> None:
        key = (handler, method, f"{status // 100}xx")
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + 1

    def render(self) -> str:
        lines = [
            "# HELP python_info Python platform information",
            "# TYPE python_info gauge",
            'python_info{{implementation="CPython",major="{0}",minor="{1}",patchlevel="{2}",'
            'version="{0}.{1}.{2}"}} 1.0'.format(*sys.version_info[:3]),
            "# HELP http_requests_total Total number of requests by method, status and handler.",
            "# TYPE http_requests_total counter",
        ]
        with self.lock:
            for (h, m, s), n in sorted(self.counts.items()):
                lines.append(
                    f'http_requests_total{{handler="{h}",method="{m}",status="{s}"}} {n}.0'
                )
        return "\n".join(lines) + "\n"


METRICS = Metrics()


class BaseHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _read_body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response_only(status)
        self.send_header("date", self.date_time_string())
        self.send_header("server", "uvicorn")
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json")


class MetricsHandler(BaseHandler):
    def do_GET(self) -> None:
        self._send(200, METRICS.render().encode(), "text/plain; version=0.0.4; charset=utf-8")

    do_HEAD = do_GET


class ApiHandler(BaseHandler):
    bypass = False
    bypass_with_header = False
    ready_status = 200
    AUTH_EXEMPT: ClassVar[frozenset[str]] = frozenset(
        {"/monitoring/healthz", "/monitoring/ready", "/metrics", "/v1/models/definitions"}
    )

    def _dispatch(self) -> None:
        self._read_body()
        path = self.path.split("?", 1)[0]
        status = self._route(path)
        METRICS.inc(path if path in self.AUTH_EXEMPT else "none", self.command, status)
        host, port = self.client_address[:2]
        log(
            f'{host}:{port} - "{self.command} {self.path} {self.request_version}" {status}',
            logger="api.access",
            status_code=status,
            method=self.command,
            path=path,
        )

    def _route(self, path: str) -> int:
        if path not in self.AUTH_EXEMPT:
            bypass = self.bypass or (
                self.bypass_with_header
                and (self.headers.get("bypass-auth") or "").lower() == "true"
            )
            if bypass:
                log(
                    "Auth is disabled, all users allowed",
                    level="critical",
                    logger="ai_gateway.api.middleware",
                )
            else:
                auth = self.headers.get("authorization")
                if not auth:
                    msg = "No authorization header presented"
                elif not auth.startswith("Bearer ") or not auth[7:].strip():
                    msg = "Invalid authorization header"
                else:
                    msg = "Forbidden by auth provider"
                self._json(401, {"error": msg})
                return 401
        method = "GET" if self.command == "HEAD" else self.command
        if path in ("/monitoring/healthz", "/monitoring/ready", "/v1/models/definitions"):
            if method != "GET":
                self._json(405, {"detail": "Method Not Allowed"})
                return 405
            if path == "/monitoring/healthz":
                self._json(200, {})
                return 200
            if path == "/monitoring/ready":
                self._json(self.ready_status, {})
                return self.ready_status
            self._json(200, {"models": [], "unit_primitives": []})
            return 200
        self._json(404, {"detail": "Not Found"})
        return 404

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(host: str, port: int, handler: type[BaseHandler]) -> Server:
    cls: type[Server] = Server6 if ":" in host else Server
    return cls((host, port), handler)


HEALTH_STATUS = {"UNKNOWN": 0, "SERVING": 1, "NOT_SERVING": 2}


def start_workflow_service() -> Any:
    """The Duo Workflow Service's gRPC health service (the real one also serves the workflows)."""
    from concurrent import futures

    import grpc

    port = env_int("PORT", 50052)
    status = HEALTH_STATUS.get(os.environ.get("FAKE_DWS_STATUS") or "SERVING", 1)
    # HealthCheckResponse{status}: field 1, varint; UNKNOWN (0) is the empty message.
    reply = bytes([8, status]) if status else b""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health",
        {"Check": grpc.unary_unary_rpc_method_handler(lambda request, context: reply)},
    )
    server.add_generic_rpc_handlers((handler,))
    if env_bool("DUO_WORKFLOW_TLS__ENABLED"):
        with open(os.environ["DUO_WORKFLOW_TLS__KEY_FILE"], "rb") as k, \
                open(os.environ["DUO_WORKFLOW_TLS__CERT_FILE"], "rb") as c:
            credentials = grpc.ssl_server_credentials([(k.read(), c.read())])
        server.add_secure_port(f"0.0.0.0:{port}", credentials)
    else:
        server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    log(f"Duo Workflow Service listening on 0.0.0.0:{port}", logger="duo_workflow_service.server")
    return server


def _on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def main() -> int:
    global JSON_LOGS
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        JSON_LOGS = env_bool("AIGW_LOGGING__FORMAT_JSON", True)
        api_host = os.environ.get("AIGW_FASTAPI__API_HOST") or "0.0.0.0"
        api_port = env_int("AIGW_FASTAPI__API_PORT", 5000)
        m_host = os.environ.get("AIGW_FASTAPI__METRICS_HOST") or "0.0.0.0"
        m_port = env_int("AIGW_FASTAPI__METRICS_PORT", 8082)
        ApiHandler.bypass = env_bool("AIGW_AUTH__BYPASS_EXTERNAL")
        ApiHandler.bypass_with_header = env_bool("AIGW_AUTH__BYPASS_EXTERNAL_WITH_HEADER")
        ApiHandler.ready_status = env_int("FAKE_AIGW_READY_STATUS", 200)
        delay = float(os.environ.get("FAKE_AIGW_STARTUP_DELAY") or 0)
    except ConfigError as e:
        print(f"pydantic_core._pydantic_core.ValidationError: {e}", file=sys.stderr, flush=True)
        return 1
    if delay > 0:
        time.sleep(delay)

    # 1) Prometheus metrics server (started by the app factory, before uvicorn).
    try:
        metrics = make_server(m_host, m_port, MetricsHandler)
    except OSError:
        print(
            "Traceback (most recent call last):\n"
            '  File "/home/aigateway/app/ai_gateway/structured_logging.py", in start_http_server',
            file=sys.stderr,
        )
        print(
            "".join(traceback.format_exception_only(*sys.exc_info()[:2])).rstrip(),
            file=sys.stderr,
            flush=True,
        )
        return 1
    threading.Thread(
        target=metrics.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
    ).start()
    log(f"Metrics server listening on {m_host}:{m_port}", logger="ai_gateway.prometheus")

    workflow = start_workflow_service() if env_bool("ENABLE_DUO_WORKFLOW_SERVICE") else None

    # 2) The API (uvicorn).
    print(f"INFO:     Started server process [{os.getpid()}]", file=sys.stderr, flush=True)
    print("INFO:     Waiting for application startup.", file=sys.stderr, flush=True)
    try:
        api = make_server(api_host, api_port, ApiHandler)
    except OSError as e:
        print(
            f"ERROR:    [Errno {e.errno}] error while attempting to bind on address "
            f"('{api_host}', {api_port}): {(e.strerror or str(e)).lower()}",
            file=sys.stderr,
        )
        print(f"OSError: {e}", file=sys.stderr, flush=True)
        return 1
    print("INFO:     Application startup complete.", file=sys.stderr, flush=True)
    print(
        f"INFO:     Uvicorn running on http://{api_host}:{api_port} (Press CTRL+C to quit)",
        file=sys.stderr,
        flush=True,
    )
    try:
        api.serve_forever(poll_interval=0.2)
    except SystemExit:
        print("INFO:     Shutting down", file=sys.stderr, flush=True)
    finally:
        api.server_close()
        metrics.server_close()
        if workflow is not None:
            workflow.stop(0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
