"""Fake vLLM OpenAI-compatible API server for remediate's test lab (stdlib only).

Mimics the HTTP surface of ``python3 -m vllm.entrypoints.openai.api_server``
(vLLM ~0.6.x) closely enough for diagnosis/remediation tests:

  GET  /health               200, empty body (never API-key protected)
  GET  /version              {"version": "0.6.3"} (FAKE_VLLM_VERSION)
  GET  /metrics              small Prometheus text
  GET  /v1/models            model list, one entry per served model name
  POST /v1/chat/completions  404 unknown model, 400 no chat template, 400 tools with tool_choice
                             "auto" without --enable-auto-tool-choice and --tool-call-parser, else 200
  POST /v1/completions       404 unknown model, else 200
  anything else              404 {"detail":"Not Found"}

Flags follow vLLM: --model, --host, --port, --served-model-name (one or more),
--chat-template (file path, or an inline Jinja string like vLLM accepts),
--api-key (or env VLLM_API_KEY), --max-model-len, --enable-auto-tool-choice,
--tool-call-parser; ``--foo_bar`` equals ``--foo-bar``; unknown flags are ignored.

Test knobs (environment, not real vLLM):
  FAKE_VLLM_REPLY          assistant reply text (default "Hello from fake vLLM")
  FAKE_VLLM_STARTUP_DELAY  seconds to wait before binding the port (simulates weight loading)
  FAKE_VLLM_ERROR_STYLE    "flat" (default, older vLLM) or "nested" (newer vLLM error envelope)
  FAKE_VLLM_VERSION        the version /version and the start-up log report (default 0.6.3)

This file is self-contained: it can also be run directly with any python3.
"""

from __future__ import annotations

import argparse
import codecs
import json
import os
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

VLLM_VERSION = os.environ.get("FAKE_VLLM_VERSION") or "0.6.3"
DEFAULT_REPLY = "Hello from fake vLLM"
NO_TEMPLATE_MSG = (
    "As of transformers v4.44, default chat template is no longer allowed, so you must "
    "provide a chat template if the tokenizer does not define one."
)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def vllm_log(level: str, msg: str) -> None:
    log(f"{level} {time.strftime('%m-%d %H:%M:%S')} api_server.py:0] {msg}")


def normalize_argv(argv: list[str]) -> list[str]:
    """vLLM's FlexibleArgumentParser: '--foo_bar[=x]' -> '--foo-bar[=x]'."""
    out = []
    for tok in argv:
        if tok.startswith("--") and len(tok) > 2:
            key, sep, val = tok.partition("=")
            tok = "--" + key[2:].replace("_", "-") + sep + val
        out.append(tok)
    return out


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="fake vLLM OpenAI-compatible server", allow_abbrev=False
    )
    p.add_argument("--model", default="facebook/opt-125m")
    p.add_argument("--host", default="0.0.0.0")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--served-model-name", nargs="+", default=None)
    p.add_argument("--chat-template", default=None)
    p.add_argument("--api-key", default=None)
    p.add_argument("--max-model-len", type=int, default=None)
    p.add_argument("--enable-auto-tool-choice", action="store_true")
    p.add_argument("--tool-call-parser", default=None)
    return p


def load_chat_template(value: str | None) -> str | None:
    """Same rules as vLLM's load_chat_template; raises ValueError like vLLM does."""
    if value is None:
        return None
    try:
        with open(value, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        if not any(c in value for c in "{}\n"):
            raise ValueError(
                f"The supplied chat template ({value}) looks like a file path, "
                f"but it failed to be opened. Reason: {e}"
            ) from e
        return codecs.decode(value, "unicode_escape")


class State:
    def __init__(self, args: argparse.Namespace, chat_template: str | None) -> None:
        self.model: str = args.model
        self.served: list[str] = list(args.served_model_name or [args.model])
        self.chat_template = chat_template
        self.api_key: str | None = args.api_key or os.environ.get("VLLM_API_KEY") or None
        self.max_model_len: int = args.max_model_len or 4096
        self.auto_tool_choice: bool = args.enable_auto_tool_choice
        self.tool_call_parser: str | None = args.tool_call_parser
        self.created = int(time.time())
        self.reply = os.environ.get("FAKE_VLLM_REPLY", DEFAULT_REPLY)
        self.nested_errors = os.environ.get("FAKE_VLLM_ERROR_STYLE", "flat").lower() == "nested"
        self.lock = threading.Lock()
        self.requests_total = 0


STATE: State


def error_body(message: str, typ: str, code: int) -> dict[str, Any]:
    if STATE.nested_errors:
        return {"error": {"message": message, "type": typ, "param": None, "code": code}}
    return {"object": "error", "message": message, "type": typ, "param": None, "code": code}


def approx_tokens(text: str) -> int:
    return max(1, len(text.split()))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "uvicorn"
    sys_version = ""

    # -- plumbing ---------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        pass  # we log one line per request ourselves

    def _access_log(self, status: int) -> None:
        try:
            from http import HTTPStatus

            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        host, port = self.client_address[:2]
        log(
            f'INFO:     {host}:{port} - "{self.command} {self.path} '
            f'{self.request_version}" {status} {phrase}'
        )

    def _send(
        self, status: int, body: bytes, ctype: str | None, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response_only(status)
        self.send_header("date", self.date_time_string())
        self.send_header("server", "uvicorn")
        if ctype:
            self.send_header("content-type", ctype)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._access_log(status)

    def _json(self, status: int, obj: Any, extra: dict[str, str] | None = None) -> None:
        # Compact, as vLLM's FastAPI/Starlette JSONResponse writes it.
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json", extra)

    def _read_body(self) -> bytes:
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _path(self) -> str:
        return self.path.split("?", 1)[0]

    def _authorized(self) -> bool:
        if STATE.api_key is None or not self._path().startswith("/v1"):
            return True
        return self.headers.get("authorization") == f"Bearer {STATE.api_key}"

    # -- routing ----------------------------------------------------------
    ROUTES: ClassVar[dict[str, set[str]]] = {
        "/health": {"GET"},
        "/version": {"GET"},
        "/metrics": {"GET"},
        "/v1/models": {"GET"},
        "/v1/chat/completions": {"POST"},
        "/v1/completions": {"POST"},
    }

    def _dispatch(self) -> None:
        with STATE.lock:
            STATE.requests_total += 1
        body = self._read_body()
        path = self._path()
        if self.command != "OPTIONS" and not self._authorized():
            return self._json(401, {"error": "Unauthorized"})
        methods = self.ROUTES.get(path)
        if methods is None:
            return self._json(404, {"detail": "Not Found"})
        method = "GET" if self.command == "HEAD" else self.command
        if method not in methods:
            return self._json(405, {"detail": "Method Not Allowed"})
        if path == "/health":
            return self._send(200, b"", None)
        if path == "/version":
            return self._json(200, {"version": VLLM_VERSION})
        if path == "/metrics":
            return self._send(
                200, self._metrics().encode(), "text/plain; version=0.0.4; charset=utf-8"
            )
        if path == "/v1/models":
            return self._json(200, self._models())
        try:
            req = json.loads(body or b"null")
        except ValueError as e:
            return self._json(400, error_body(f"Invalid JSON body: {e}", "BadRequestError", 400))
        if not isinstance(req, dict):
            return self._json(
                400, error_body("Request body must be a JSON object", "BadRequestError", 400)
            )
        if path == "/v1/chat/completions":
            return self._chat(req)
        return self._completion(req)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    # -- endpoints --------------------------------------------------------
    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": name,
                    "object": "model",
                    "created": STATE.created,
                    "owned_by": "vllm",
                    "root": STATE.model,
                    "parent": None,
                    "max_model_len": STATE.max_model_len,
                    "permission": [],
                }
                for name in STATE.served
            ],
        }

    def _metrics(self) -> str:
        name = STATE.served[0]
        return (
            "# HELP vllm:num_requests_running Number of requests currently running on GPU.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{model_name="{name}"}} 0.0\n'
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{model_name="{name}"}} 0.0\n'
            "# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n"
            "# TYPE vllm:gpu_cache_usage_perc gauge\n"
            f'vllm:gpu_cache_usage_perc{{model_name="{name}"}} 0.0\n'
            "# HELP fake_vllm_http_requests_total Requests seen by the fake server.\n"
            "# TYPE fake_vllm_http_requests_total counter\n"
            f"fake_vllm_http_requests_total {STATE.requests_total}\n"
        )

    def _check_model(self, req: dict[str, Any]) -> bool:
        model = req.get("model")
        if model in STATE.served:
            return True
        self._json(404, error_body(f"The model `{model}` does not exist.", "NotFoundError", 404))
        return False

    def _chat(self, req: dict[str, Any]) -> None:
        if not self._check_model(req):
            return
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._json(
                400, error_body("Field 'messages' must be a non-empty list", "BadRequestError", 400)
            )
        tool_choice = req.get("tool_choice")
        if (
            req.get("tools")
            and tool_choice in (None, "auto")
            and not (STATE.auto_tool_choice and STATE.tool_call_parser)
        ):
            return self._json(
                400,
                error_body(
                    '"auto" tool choice requires --enable-auto-tool-choice and '
                    "--tool-call-parser to be set",
                    "BadRequestError",
                    400,
                ),
            )
        # Checked after the tool choice, as vLLM's serving_chat does before it renders the prompt.
        if STATE.chat_template is None:
            return self._json(400, error_body(NO_TEMPLATE_MSG, "BadRequestError", 400))
        prompt = " ".join(str(m.get("content", "")) for m in messages if isinstance(m, dict))
        cid = "chatcmpl-" + uuid.uuid4().hex
        created = int(time.time())
        model = STATE.served[0]
        if req.get("stream"):
            return self._stream(cid, created, model, "chat.completion.chunk", chat=True)
        p, c = approx_tokens(prompt), approx_tokens(STATE.reply)
        self._json(
            200,
            {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": STATE.reply, "tool_calls": []},
                        "logprobs": None,
                        "finish_reason": "stop",
                        "stop_reason": None,
                    }
                ],
                "usage": {"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c},
                "prompt_logprobs": None,
            },
        )

    def _completion(self, req: dict[str, Any]) -> None:
        if not self._check_model(req):
            return
        cid = "cmpl-" + uuid.uuid4().hex
        created = int(time.time())
        model = STATE.served[0]
        if req.get("stream"):
            return self._stream(cid, created, model, "text_completion", chat=False)
        p, c = approx_tokens(str(req.get("prompt", ""))), approx_tokens(STATE.reply)
        self._json(
            200,
            {
                "id": cid,
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [
                    {
                        "index": 0,
                        "text": STATE.reply,
                        "logprobs": None,
                        "finish_reason": "stop",
                        "stop_reason": None,
                    }
                ],
                "usage": {"prompt_tokens": p, "total_tokens": p + c, "completion_tokens": c},
            },
        )

    def _stream(self, cid: str, created: int, model: str, obj: str, chat: bool) -> None:
        events: list[dict[str, Any]] = []
        words = STATE.reply.split(" ")
        for i, w in enumerate(words):
            piece = w if i == 0 else " " + w
            if chat:
                delta: dict[str, Any] = {"content": piece}
                if i == 0:
                    delta["role"] = "assistant"
                choice: dict[str, Any] = {
                    "index": 0,
                    "delta": delta,
                    "logprobs": None,
                    "finish_reason": None,
                }
            else:
                choice = {"index": 0, "text": piece, "logprobs": None, "finish_reason": None}
            events.append(
                {"id": cid, "object": obj, "created": created, "model": model, "choices": [choice]}
            )
        events[-1]["choices"][0]["finish_reason"] = "stop"
        body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
        self._send(200, body.encode(), "text/event-stream; charset=utf-8")


def _on_signal(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def serve(argv: list[str] | None = None, prog: str = "api_server.py") -> int:
    global STATE
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    argv = normalize_argv(list(sys.argv[1:] if argv is None else argv))
    args, unknown = build_parser(prog).parse_known_args(argv)
    vllm_log("INFO", f"vLLM API server version {VLLM_VERSION}")
    vllm_log("INFO", f"args: {args!r}")
    if unknown:
        vllm_log("WARNING", f"fake vLLM ignores these arguments: {unknown}")
    try:
        template = load_chat_template(args.chat_template)
    except ValueError as e:
        log("Traceback (most recent call last):")
        log(
            '  File "/usr/local/lib/python3.11/dist-packages/vllm/entrypoints/chat_utils.py", '
            "in load_chat_template"
        )
        log(f"ValueError: {e}")
        return 1
    if template is not None:
        vllm_log("INFO", f"Using supplied chat template:\n{template}")
    STATE = State(args, template)
    delay = float(os.environ.get("FAKE_VLLM_STARTUP_DELAY", "0") or 0)
    if delay > 0:
        vllm_log("INFO", f"Loading model weights (fake, {delay}s)")
        time.sleep(delay)

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 128
        address_family = socket.AF_INET6 if ":" in args.host else socket.AF_INET

    try:
        httpd = Server((args.host, args.port), Handler)
    except OSError as e:
        log(
            f"ERROR:    [Errno {e.errno}] error while attempting to bind on address "
            f"('{args.host}', {args.port}): {(e.strerror or str(e)).lower()}"
        )
        return 1
    log(f"INFO:     Started server process [{os.getpid()}]")
    log("INFO:     Waiting for application startup.")
    log("INFO:     Application startup complete.")
    log(f"INFO:     Uvicorn running on http://{args.host}:{args.port} (Press CTRL+C to quit)")
    try:
        httpd.serve_forever(poll_interval=0.2)
    except SystemExit:
        log("INFO:     Shutting down")
    finally:
        httpd.server_close()
    log(f"INFO:     Finished server process [{os.getpid()}]")
    return 0


def main() -> None:
    sys.exit(serve())


if __name__ == "__main__":
    main()
