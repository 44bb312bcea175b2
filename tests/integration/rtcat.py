"""Lab helpers for the catalog and diagnose tests: broken AI gateways and vLLMs on the real engine.

Every container is named ``rt-cat-<run>-<tag>`` and labelled with the test process id; a run
removes its own containers (remediate's backups included) and the leftovers of dead runs, never
those of a run still alive. The fake gateways and vLLMs run through testcontainers
(tests/lab/containers.py), which waits until they answer; the busyboxes, some only created, through
the SDK. Ports are published on 127.0.0.1 with engine-chosen host ports; a gateway gets its own
free API port, so host networking never collides with a parallel run. All traffic goes to 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import os
import socket
import tarfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import TEST_LABEL
from tests.lab import containers
from tests.lab.containers import LabContainer, http_ready

PREFIX = "rt-cat-"
BUSYBOX = "remediate-test/busybox:1"
AIGW = ("registry.gitlab.com/gitlab-org/modelops/applied-ml/code-suggestions/ai-assist/"
        "model-gateway:self-hosted-v18.0.0-ee")
VLLM = "vllm/vllm-openai:v0.6.3"
DEADLINE = 30.0
#: Host names the tests give gateways as their GitLab, and the Customer Portal the portal-urls
#: check asks for: all resolve to 127.0.0.1 inside a lab gateway (see Lab.gateway).
EXAMPLE_HOSTS = ("gitlab.example.com", "other.example.com", "customers.gitlab.com")

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: What today's vLLM needs beyond the seed's fixes (issue 25): tool calling, the context Duo Chat
#: needs, and a version GitLab supports (the fake reports FAKE_VLLM_VERSION).
CURRENT_VLLM_ARGS = ["--enable-auto-tool-choice", "--tool-call-parser", "mistral", "--max-model-len", "32768"]
CURRENT_VLLM_ENV = {"FAKE_VLLM_VERSION": "0.18.1"}


def rsa_pem(bits: int = 2048) -> str:
    """A new RSA private key in PEM, as `openssl genrsa` makes for the gateway's JWT keys."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def current_gateway_env(gitlab_url: str = "https://gitlab.example.com") -> dict[str, str]:
    """What today's gateway needs beyond the seed's settings (issue 25): its JWT key pair and, for
    an offline licence, the Customer Portal URLs pointed at GitLab."""
    return {"AIGW_SELF_SIGNED_JWT__SIGNING_KEY": rsa_pem(), "AIGW_SELF_SIGNED_JWT__VALIDATION_KEY": rsa_pem(),
            "AIGW_CUSTOMER_PORTAL_URL": gitlab_url, "DUO_WORKFLOW_AUTH__OIDC_CUSTOMER_PORTAL_URL": gitlab_url}


def free_port() -> int:
    """A TCP port nothing listens on right now, on any address of this host."""
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return int(sock.getsockname()[1])


def take_port(port: int) -> socket.socket:
    """Listen on 0.0.0.0:port, as another service on the host would (the caller closes it)."""
    sock = socket.socket()
    sock.bind(("0.0.0.0", port))
    sock.listen(1)
    return sock


def http(port: int, path: str, *, method: str = "GET", body: Any = None, timeout: float = 5.0) -> tuple[int, str]:
    """One request to 127.0.0.1:port; returns (status, body)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data else {})
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code), exc.read().decode()


class Lab:
    """Creates the test's containers and removes them (and their remediate backups) afterwards."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.run = f"{PREFIX}{uuid.uuid4().hex[:6]}-"
        self.images: list[str] = []
        self.started: list[LabContainer] = []
        containers.sweep(client)  # what killed runs left behind

    def _remove(self, container: Any) -> None:
        import docker.errors

        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:  # "removal already in progress"
            if "in progress" not in str(exc):
                raise

    def cleanup(self) -> None:
        """Remove every container of this run (backups and staged copies too), then its images."""
        import docker.errors

        containers.stop(self.started)
        for container in self.client.containers.list(all=True, filters={"name": self.run}):
            if container.name.startswith(self.run):
                self._remove(container)
        for image in self.images:
            try:
                self.client.images.remove(image, force=True)
            except docker.errors.ImageNotFound:
                pass

    def name(self, tag: str) -> str:
        return f"{self.run}{tag}"

    def _run(self, image: str, tag: str, command: list[str] | None = None, **kwargs: Any) -> Any:
        labels = {TEST_LABEL: str(os.getpid()), **kwargs.pop("labels", {})}
        start = kwargs.pop("start", True)
        create = self.client.containers.run if start else self.client.containers.create
        if start:
            kwargs["detach"] = True
        return create(image, command, name=self.name(tag), labels=labels, **kwargs)

    def gateway(self, tag: str, env: dict[str, str] | None = None, *, network: str | None = None,
                wait: bool = True, ports: tuple[int, ...] = (), image: str = AIGW, **kwargs: Any) -> dict[str, Any]:
        """A fake AI gateway on its own free API port (published on 127.0.0.1 unless host networking),
        and ``ports`` (e.g. the Agent Platform's 50052) published on engine-chosen loopback ports."""
        api_port = free_port()
        full_env = {"AIGW_FASTAPI__API_PORT": str(api_port), **(env or {})}
        # The example GitLab names resolve inside the container without asking any DNS server.
        kwargs.setdefault("extra_hosts", dict.fromkeys(EXAMPLE_HOSTS, "127.0.0.1"))
        gateway = LabContainer(image).with_name(self.name(tag))
        if network == "host":
            full_env.setdefault("AIGW_FASTAPI__METRICS_PORT", str(free_port()))
            kwargs["network_mode"] = "host"
        else:
            gateway.with_loopback_port(f"{api_port}/tcp")
            for port in ports:
                gateway.with_loopback_port(f"{port}/tcp")
        # testcontainers passes its own volumes and tmpfs: those given here go through it.
        for host_path, mapping in kwargs.pop("volumes", {}).items():
            gateway.with_volume_mapping(host_path, mapping["bind"], mapping.get("mode", "ro"))
        gateway.tmpfs.update(kwargs.pop("tmpfs", {}))
        if wait:
            gateway.waiting_for(http_ready(api_port, "/monitoring/healthz"))
        container = self._start(gateway.with_envs(**full_env).with_kwargs(**kwargs))
        return {"name": container.name, "container": container, "api_port": api_port}

    def vllm(self, tag: str, args: list[str], *, env: dict[str, str] | None = None, wait: bool = True,
             image: str = VLLM, **kwargs: Any) -> dict[str, Any]:
        """A fake vLLM (port 8000 published on 127.0.0.1)."""
        vllm = (LabContainer(image).with_name(self.name(tag)).with_command(args).with_envs(**(env or {}))
                .with_loopback_port("8000/tcp").with_kwargs(**kwargs))
        if wait:
            vllm.waiting_for(http_ready(8000, "/health"))
        container = self._start(vllm)
        return {"name": container.name, "container": container}

    def _start(self, container: LabContainer) -> Any:
        self.started.append(container)
        container.start()
        return container.get_wrapped_container()

    def busybox(self, tag: str, env: dict[str, str], *, image: str = BUSYBOX, start: bool = True,
                command: list[str] | None = None, **kwargs: Any) -> dict[str, Any]:
        """A sleeping busybox; with AIGW_* env it is selected as an AI gateway."""
        # SIGKILL: a sleeping PID 1 ignores SIGTERM, and every stop would wait 10 s.
        container = self._run(image, tag, command or ["sleep", "3600"], environment=env,
                              stop_signal="SIGKILL", start=start, **kwargs)
        return {"name": container.name, "container": container}

    def host_port(self, name: str, container_port: int) -> int:
        """The 127.0.0.1 port where ``name`` publishes ``container_port`` (itself on host networking)."""
        deadline = time.monotonic() + DEADLINE
        while True:
            inspect = self.client.api.inspect_container(name)
            if inspect["HostConfig"]["NetworkMode"] == "host":
                return container_port
            bindings = (inspect["NetworkSettings"]["Ports"] or {}).get(f"{container_port}/tcp")
            if bindings:
                return int(bindings[0]["HostPort"])
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: {container_port} is not published")
            time.sleep(0.1)

    def wait_http(self, name: str, container_port: int, path: str) -> tuple[int, str]:
        """Poll until the container answers on its published port; fail early if it exits."""
        deadline = time.monotonic() + DEADLINE
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                return http(self.host_port(name, container_port), path, timeout=2)
            except (OSError, ConnectionError) as exc:
                last = exc
            state = self.client.api.inspect_container(name)["State"]
            if state["Status"] in ("exited", "dead"):
                raise AssertionError(f"{name} exited: {self.logs(name)}")
            time.sleep(0.1)
        raise AssertionError(f"{name}: no answer on {container_port}{path}: {last}")

    def logs(self, name: str) -> str:
        return str(self.client.api.logs(name, stdout=True, stderr=True).decode(errors="replace"))

    def arm64_image(self, source: str = BUSYBOX) -> str:
        """A copy of ``source`` whose config claims linux/arm64 (its binaries still run here)."""
        tag = f"{self.run}arm64:1"
        raw = b"".join(self.client.api.get_image(source))
        out = io.BytesIO()
        with tarfile.open(fileobj=io.BytesIO(raw)) as src, tarfile.open(fileobj=out, mode="w") as dst:
            manifest = json.load(src.extractfile("manifest.json"))  # type: ignore[arg-type]
            config_name = manifest[0]["Config"]
            for member in src.getmembers():
                data = src.extractfile(member).read() if member.isfile() else None  # type: ignore[union-attr]
                if member.name == config_name and data is not None:
                    config = json.loads(data)
                    config["architecture"] = "arm64"
                    data = json.dumps(config).encode()
                elif member.name == "manifest.json":
                    manifest[0]["RepoTags"] = [tag]
                    data = json.dumps(manifest).encode()
                if data is not None:
                    member.size = len(data)
                    dst.addfile(member, io.BytesIO(data))
                else:
                    dst.addfile(member)
        self.client.api.load_image(out.getvalue())
        self.images += [tag, str(self.client.api.inspect_image(tag)["Id"])]
        return tag

    def release(self, source: str, repo: str, old: str, new: str, env: dict[str, str] | None = None) -> tuple[str, str]:
        """Two releases of ``source`` in this run's ``repo``: ``old`` is ``source`` itself, ``new`` another
        image built on it (``env`` its own defaults), as a registry holds two tags of one product."""
        repo = f"{self.run}registry/{repo}"
        self.client.api.tag(source, repo, old)
        lines = [f"FROM {source}", f"LABEL remediate.test.release={new}",
                 *(f"ENV {k}={v}" for k, v in (env or {}).items())]
        self.client.images.build(fileobj=io.BytesIO("\n".join(lines).encode()), tag=f"{repo}:{new}", rm=True)
        self.images += [f"{repo}:{old}", f"{repo}:{new}"]
        return f"{repo}:{old}", f"{repo}:{new}"

    def user_view(self, name: str) -> dict[str, Any]:
        """What a dry run must not change: id, config, host config, run state."""
        inspect = self.client.api.inspect_container(name)
        return {"Id": inspect["Id"], "Config": inspect["Config"], "HostConfig": inspect["HostConfig"],
                "Running": inspect["State"]["Running"], "StartedAt": inspect["State"]["StartedAt"]}

    def names(self) -> set[str]:
        return {c.name for c in self.client.containers.list(all=True, filters={"name": self.run})}


class _FakeGitLab(BaseHTTPRequestHandler):
    """Answers what a gateway asks its GitLab first: the OIDC configuration and the API."""

    def do_GET(self) -> None:
        body = b'{"jwks_uri": "/oauth/discovery/keys"}' if "openid" in self.path else b"[]"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def fake_gitlab() -> Iterator[int]:
    """A fake GitLab on 127.0.0.1 (reachable from host-network containers); yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGitLab)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
