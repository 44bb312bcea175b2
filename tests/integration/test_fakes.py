"""The test lab's fake servers (tests/lab/images), exercised in real containers.

Needs the images from tests/lab/images/build.sh (dev/setup builds them) and a Docker engine.
The containers run through testcontainers (tests/lab/containers.py), which waits until a server
answers. All traffic goes to 127.0.0.1 only; containers are named rt-fakes-* and always removed.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.lab import containers
from tests.lab.containers import LabContainer, http_ready

docker = pytest.importorskip("docker")

pytestmark = pytest.mark.integration

PREFIX = "rt-fakes-"
BUSYBOX = "remediate-test/busybox:1"
PYTHON = "remediate-test/python:3"
VLLM = "remediate-test/fake-vllm:1"
AIGW = "remediate-test/fake-aigw:2"
VLLM_ALIAS = "vllm/vllm-openai:v0.6.3"
AIGW_ALIAS = (
    "registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/"
    "model-gateway:self-hosted-v18.0.0-ee"
)
BUSYBOX_APPLETS = [
    "sh",
    "sleep",
    "httpd",
    "wget",
    "nc",
    "env",
    "cat",
    "ls",
    "echo",
    "true",
    "false",
    "id",
    "touch",
    "mkdir",
    "printf",
    "grep",
    "ps",
    "kill",
    "date",
    "hostname",
    "seq",
]
NO_TEMPLATE_MSG = (
    "As of transformers v4.44, default chat template is no longer allowed, so you must "
    "provide a chat template if the tokenizer does not define one."
)
READY_DEADLINE = 30.0  # generous bound for polling loops; never asserted as a duration
POLL = 0.1

# No proxies: requests go straight to 127.0.0.1.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------
class Resp:
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def req(
    method: str,
    port: int,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 5.0,
) -> Resp:
    """One HTTP request to 127.0.0.1:port (never anywhere else)."""
    data = None if body is None else json.dumps(body).encode()
    rq = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", data=data, method=method, headers=dict(headers or {})
    )
    if data is not None:
        rq.add_header("Content-Type", "application/json")
    try:
        with _OPENER.open(rq, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        with e:
            return Resp(e.code, e.headers, e.read())


def logs(c: Any) -> str:
    try:
        return str(c.logs(stdout=True, stderr=True).decode(errors="replace"))
    except docker.errors.APIError:
        return "<no logs>"


def host_port(c: Any, cport: str) -> int:
    deadline = time.monotonic() + READY_DEADLINE
    while True:
        c.reload()
        bindings = (c.attrs["NetworkSettings"]["Ports"] or {}).get(cport)
        if bindings:
            return int(bindings[0]["HostPort"])
        if c.status == "exited" or time.monotonic() > deadline:
            raise AssertionError(f"{c.name}: no host port for {cport}\n{logs(c)}")
        time.sleep(POLL)


def wait_log(c: Any, text: str) -> str:
    deadline = time.monotonic() + READY_DEADLINE
    while time.monotonic() < deadline:
        out = logs(c)
        if text in out:
            return out
        time.sleep(POLL)
    raise AssertionError(f"{c.name}: {text!r} not in logs:\n{logs(c)}")


def wait_exit(c: Any) -> int:
    return int(c.wait(timeout=READY_DEADLINE)["StatusCode"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    try:
        cl = docker.from_env()
        cl.ping()
    except (docker.errors.DockerException, OSError) as e:  # environment problem
        pytest.fail(f"Docker engine not reachable ({e}); run `bash dev/setup`")
    for img in (BUSYBOX, PYTHON, VLLM, AIGW, VLLM_ALIAS, AIGW_ALIAS):
        try:
            cl.images.get(img)
        except docker.errors.ImageNotFound:
            pytest.fail(f"image {img} missing; run `bash tests/lab/images/build.sh`")
    containers.sweep(cl)  # what killed runs left behind
    try:
        yield cl
    finally:
        cl.close()


Run = Callable[..., Any]


@pytest.fixture(scope="module")
def run(client: Any) -> Iterator[Run]:
    """run(image, command=None, *, tag, ready=(port, path), ports, volumes, environment, **kwargs)
    -> started container (docker SDK object), removed at module end. ``ports`` map container
    ports to ("127.0.0.1", None); with ``ready`` the start waits until GET path on that container
    port answers 200."""
    made: list[LabContainer] = []

    def _run(image: str, command: Any = None, *, tag: str = "c", ready: tuple[int, str] | None = None,
             ports: dict[str, tuple[str, None]] | None = None, volumes: dict[str, dict[str, str]] | None = None,
             environment: dict[str, str] | None = None, **kw: Any) -> Any:
        c = (LabContainer(image, labels={"remediate.test": "1"})
             .with_name(f"{PREFIX}{tag}-{uuid.uuid4().hex[:8]}").with_envs(**(environment or {})).with_kwargs(**kw))
        if command is not None:
            c.with_command(command)
        for port, (address, _) in (ports or {}).items():
            assert address == "127.0.0.1", port
            c.with_loopback_port(port)
        for host, mount in (volumes or {}).items():
            c.with_volume_mapping(host, mount["bind"], mount["mode"])
        if ready is not None:
            c.waiting_for(http_ready(*ready))
        made.append(c)
        return c.start().get_wrapped_container()

    try:
        yield _run
    finally:
        containers.stop(made)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("tpl") / "t.jinja"
    p.write_text("{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}")
    p.chmod(0o644)
    p.parent.chmod(0o755)
    return p


def _tpl_mount(template: Path) -> dict[str, dict[str, str]]:
    return {str(template): {"bind": "/t.jinja", "mode": "ro"}}


VLLM_PORTS = {"8000/tcp": ("127.0.0.1", None)}
AIGW_PORTS = {"5052/tcp": ("127.0.0.1", None), "8082/tcp": ("127.0.0.1", None)}
HELLO = {"model": "mistral", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture(scope="module")
def vllm_ok(run: Run, template: Path) -> int:
    """fake vLLM with two served names and a chat template; returns the host port."""
    c = run(
        VLLM,
        [
            "--model",
            "mistralai/Mistral-7B-Instruct-v0.3",
            "--served-model-name",
            "mistral",
            "codestral",
            "--chat-template",
            "/t.jinja",
            "--max-model-len",
            "17776",
            "--gpu-memory-utilization",
            "0.9",
        ],
        tag="vllm-ok",
        ports=VLLM_PORTS,
        volumes=_tpl_mount(template),
        ready=(8000, "/health"),
    )
    port = host_port(c, "8000/tcp")
    assert req("GET", port, "/health").status == 200
    return port


# --------------------------------------------------------------------------------------------
# images
# --------------------------------------------------------------------------------------------
def test_images_labelled_and_aliased(client: Any) -> None:
    for img in (BUSYBOX, PYTHON, VLLM, AIGW):
        labels = client.images.get(img).labels
        assert labels.get("remediate.test") == "1", img
        assert len(labels.get("remediate.test.hash", "")) == 64, img
    assert client.images.get(VLLM_ALIAS).id == client.images.get(VLLM).id
    assert client.images.get(AIGW_ALIAS).id == client.images.get(AIGW).id
    vcfg = client.images.get(VLLM).attrs["Config"]
    assert vcfg["Entrypoint"] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]
    assert "8000/tcp" in vcfg["ExposedPorts"]
    acfg = client.images.get(AIGW).attrs["Config"]
    assert "AIGW_FASTAPI__API_PORT=5052" in acfg["Env"]
    assert "AIGW_CUSTOM_MODELS__ENABLED=true" in acfg["Env"]
    assert "5052/tcp" in acfg["ExposedPorts"]
    assert client.images.get(BUSYBOX).attrs["Config"]["Cmd"] == ["sh"]


def test_busybox_applets(run: Run) -> None:
    script = (
        "for a in "
        + " ".join(BUSYBOX_APPLETS)
        + "; do [ -e /bin/$a ] || echo MISSING $a; done; echo done"
    )
    c = run(BUSYBOX, ["sh", "-c", script], tag="bb")
    assert wait_exit(c) == 0
    out = logs(c)
    assert "done" in out and "MISSING" not in out, out


def test_python_image_has_stdlib_for_servers(run: Run) -> None:
    c = run(
        PYTHON,
        ["python3", "-c", "import json, argparse, http.server, socketserver; print('ok')"],
        tag="py",
    )
    assert wait_exit(c) == 0, logs(c)
    assert "ok" in logs(c)


# --------------------------------------------------------------------------------------------
# fake vLLM
# --------------------------------------------------------------------------------------------
def test_vllm_health_is_empty_200(vllm_ok: int) -> None:
    r = req("GET", vllm_ok, "/health")
    assert (r.status, r.body) == (200, b"")


def test_vllm_models_lists_every_served_name(vllm_ok: int) -> None:
    r = req("GET", vllm_ok, "/v1/models")
    assert r.status == 200
    body = r.json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["mistral", "codestral"]
    for m in body["data"]:
        assert m["object"] == "model" and m["owned_by"] == "vllm" and m["parent"] is None
        assert m["root"] == "mistralai/Mistral-7B-Instruct-v0.3"
        assert isinstance(m["created"], int) and m["permission"] == []
        assert m["max_model_len"] == 17776


def test_vllm_chat_ok(vllm_ok: int) -> None:
    r = req("POST", vllm_ok, "/v1/chat/completions", HELLO)
    assert r.status == 200, r.body
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "mistral"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"] == "Hello from fake vLLM"
    assert body["choices"][0]["finish_reason"] == "stop"
    u = body["usage"]
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"]
    # every served name is accepted; the first one is echoed back
    r2 = req("POST", vllm_ok, "/v1/chat/completions", {**HELLO, "model": "codestral"})
    assert r2.status == 200 and r2.json()["model"] == "mistral"


def test_vllm_chat_stream(vllm_ok: int) -> None:
    r = req("POST", vllm_ok, "/v1/chat/completions", {**HELLO, "stream": True})
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/event-stream")
    lines = [ln for ln in r.body.decode().splitlines() if ln]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert (
        "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        == "Hello from fake vLLM"
    )


def test_vllm_wrong_model_404(vllm_ok: int) -> None:
    r = req("POST", vllm_ok, "/v1/chat/completions", {**HELLO, "model": "mistralai/Mistral-7B"})
    assert r.status == 404
    assert r.json() == {
        "object": "error",
        "message": "The model `mistralai/Mistral-7B` does not exist.",
        "type": "NotFoundError",
        "param": None,
        "code": 404,
    }


def test_vllm_unknown_path_404(vllm_ok: int) -> None:
    # LiteLLM with an endpoint lacking /v1 posts to <base>/chat/completions
    r = req("POST", vllm_ok, "/chat/completions", HELLO)
    assert (r.status, r.json()) == (404, {"detail": "Not Found"})


def test_vllm_without_template_400(run: Run) -> None:
    c = run(VLLM, ["--model", "mistral"], tag="vllm-notpl", ports=VLLM_PORTS, ready=(8000, "/health"))
    port = host_port(c, "8000/tcp")
    assert req("GET", port, "/health").status == 200
    assert [m["id"] for m in req("GET", port, "/v1/models").json()["data"]] == ["mistral"]
    r = req("POST", port, "/v1/chat/completions", HELLO)
    assert r.status == 400
    assert r.json() == {
        "object": "error",
        "message": NO_TEMPLATE_MSG,
        "type": "BadRequestError",
        "param": None,
        "code": 400,
    }


def test_vllm_serve_console_script_and_underscore_flags(run: Run, template: Path) -> None:
    c = run(
        VLLM,
        [
            "serve",
            "mistralai/Mistral-7B",
            "--served_model_name",
            "mistral",
            "--chat_template=/t.jinja",
            "--max_model_len",
            "8192",
        ],
        tag="vllm-serve",
        entrypoint=["vllm"],
        ports=VLLM_PORTS,
        volumes=_tpl_mount(template),
        ready=(8000, "/health"),
    )
    port = host_port(c, "8000/tcp")
    assert req("GET", port, "/health").status == 200
    models = req("GET", port, "/v1/models").json()["data"]
    assert [(m["id"], m["root"]) for m in models] == [("mistral", "mistralai/Mistral-7B")]
    assert req("POST", port, "/v1/chat/completions", HELLO).status == 200


@pytest.mark.parametrize("how", ["flag", "env"])
def test_vllm_api_key(run: Run, template: Path, how: str) -> None:
    args = ["--model", "mistral", "--chat-template", "/t.jinja"]
    env = {}
    if how == "flag":
        args += ["--api-key", "s3cret"]
    else:
        env["VLLM_API_KEY"] = "s3cret"
    c = run(
        VLLM,
        args,
        tag=f"vllm-key-{how}",
        ports=VLLM_PORTS,
        environment=env,
        volumes=_tpl_mount(template),
        ready=(8000, "/health"),
    )
    port = host_port(c, "8000/tcp")
    assert req("GET", port, "/health").status == 200  # /health stays open
    for path, method, body in (
        ("/v1/models", "GET", None),
        ("/v1/chat/completions", "POST", HELLO),
    ):
        r = req(method, port, path, body)
        assert (r.status, r.json()) == (401, {"error": "Unauthorized"})
        r = req(method, port, path, body, headers={"Authorization": "Bearer wrong"})
        assert r.status == 401
        r = req(method, port, path, body, headers={"Authorization": "Bearer s3cret"})
        assert r.status == 200, r.body


def test_vllm_missing_template_file_exits_nonzero(run: Run) -> None:
    c = run(
        VLLM,
        ["--model", "mistral", "--chat-template", "/nonexistent/tool_chat.jinja"],
        tag="vllm-badtpl",
    )
    assert wait_exit(c) != 0
    out = logs(c)
    assert "/nonexistent/tool_chat.jinja" in out and "failed to be opened" in out, out


def test_vllm_sigterm_exits_zero(run: Run) -> None:
    c = run(VLLM, ["--model", "m"], tag="vllm-term", ports=VLLM_PORTS, ready=(8000, "/health"))
    port = host_port(c, "8000/tcp")
    assert req("GET", port, "/health").status == 200
    c.stop(timeout=20)
    assert wait_exit(c) == 0  # 137 would mean it ignored SIGTERM and was killed
    assert "Shutting down" in logs(c)


# --------------------------------------------------------------------------------------------
# fake AI gateway
# --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def aigw(run: Run) -> tuple[Any, int, int]:
    c = run(AIGW, tag="aigw", ports=AIGW_PORTS, ready=(5052, "/monitoring/healthz"))
    api, metrics = host_port(c, "5052/tcp"), host_port(c, "8082/tcp")
    assert req("GET", api, "/monitoring/healthz").status == 200
    return c, api, metrics


def test_aigw_health_and_ready(aigw: tuple[Any, int, int]) -> None:
    _, api, _ = aigw
    for path in ("/monitoring/healthz", "/monitoring/ready"):
        r = req("GET", api, path)
        assert (r.status, r.json()) == (200, {}), path
        assert r.headers["content-type"] == "application/json"


def test_aigw_requires_auth(aigw: tuple[Any, int, int]) -> None:
    _, api, _ = aigw
    for path in ("/", "/v1/chat/agent", "/docs"):
        r = req("GET", api, path)
        assert (r.status, r.json()) == (401, {"error": "No authorization header presented"}), path
    r = req("POST", api, "/v2/chat/agent", {"messages": []})
    assert r.status == 401


def test_aigw_metrics_port(aigw: tuple[Any, int, int]) -> None:
    _, _, metrics = aigw
    r = req("GET", metrics, "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert b"# TYPE" in r.body


def test_aigw_bypass_external_auth(run: Run) -> None:
    c = run(
        AIGW,
        tag="aigw-bypass",
        ports=AIGW_PORTS,
        environment={"AIGW_AUTH__BYPASS_EXTERNAL": "True"},
        ready=(5052, "/monitoring/healthz"),
    )
    api = host_port(c, "5052/tcp")
    assert req("GET", api, "/monitoring/healthz").status == 200
    r = req("GET", api, "/")
    assert (r.status, r.json()) == (404, {"detail": "Not Found"})
    wait_log(c, "Auth is disabled, all users allowed")


def test_aigw_code_default_port_is_5000(run: Run) -> None:
    c = run(
        AIGW,
        ["env", "-u", "AIGW_FASTAPI__API_PORT", "python3", "fake_aigw.py"],
        tag="aigw-5000",
        ports={"5000/tcp": ("127.0.0.1", None)},
        ready=(5000, "/monitoring/healthz"),
    )
    api = host_port(c, "5000/tcp")
    assert req("GET", api, "/monitoring/healthz").status == 200


def test_aigw_sigterm_exits_zero(aigw: tuple[Any, int, int], run: Run) -> None:
    c = run(AIGW, tag="aigw-term", ports=AIGW_PORTS, ready=(5052, "/monitoring/healthz"))
    api = host_port(c, "5052/tcp")
    assert req("GET", api, "/monitoring/healthz").status == 200
    c.stop(timeout=20)
    assert wait_exit(c) == 0


@pytest.mark.parametrize("clash", ["metrics", "api"])
def test_aigw_port_clash_in_shared_netns_exits_1(
    run: Run, aigw: tuple[Any, int, int], clash: str
) -> None:
    first, _, _ = aigw
    env = {} if clash == "metrics" else {"AIGW_FASTAPI__METRICS_PORT": "9082"}
    c = run(AIGW, tag=f"aigw-clash-{clash}", network_mode=f"container:{first.id}", environment=env)
    assert wait_exit(c) == 1
    out = logs(c)
    assert "[Errno 98]" in out and "ddress already in use" in out, out
    if clash == "metrics":
        assert "OSError: [Errno 98] Address already in use" in out
    else:
        assert "error while attempting to bind on address ('0.0.0.0', 5052)" in out


def test_aigw_host_network(run: Run) -> None:
    api, metrics = free_port(), free_port()
    run(
        AIGW,
        tag="aigw-host",
        network_mode="host",
        environment={
            "AIGW_FASTAPI__API_HOST": "127.0.0.1",
            "AIGW_FASTAPI__API_PORT": str(api),
            "AIGW_FASTAPI__METRICS_HOST": "127.0.0.1",
            "AIGW_FASTAPI__METRICS_PORT": str(metrics),
        },
        ready=(api, "/monitoring/healthz"),
    )
    assert req("GET", api, "/monitoring/healthz").status == 200
    assert req("GET", metrics, "/metrics").status == 200


@pytest.mark.parametrize("clash", ["metrics", "api"])
def test_aigw_host_network_port_clash_exits_1(run: Run, clash: str) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        busy = str(held.getsockname()[1])
        other = str(free_port())
        env = {"AIGW_FASTAPI__METRICS_HOST": "127.0.0.1"}  # the process stays on loopback
        if clash == "metrics":
            env |= {"AIGW_FASTAPI__METRICS_PORT": busy, "AIGW_FASTAPI__API_PORT": other}
        else:
            env |= {"AIGW_FASTAPI__METRICS_PORT": other, "AIGW_FASTAPI__API_PORT": busy}
        c = run(AIGW, tag=f"aigw-hostclash-{clash}", network_mode="host", environment=env)
        assert wait_exit(c) == 1
    out = logs(c)
    assert "[Errno 98]" in out and "ddress already in use" in out, out
