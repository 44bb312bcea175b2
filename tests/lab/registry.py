"""A distribution registry (Debian's ``docker-registry``, distribution 2.8) on 127.0.0.1 of an
engine's network namespace, for the tests of the ``image`` change that pull: engines treat
127.0.0.0/8 registries as insecure (plain HTTP) by default. Optionally with htpasswd (bcrypt)
authentication. The registry process is this test's child, stopped by its PID on exit; its
storage is the test's temporary directory.

Example::

    with registry(engine, tmp_path, users={"ci": "s3cret"}) as reg:
        ref = reg.push(engine, "rt-upgrade/app:2", config=docker_config)   # 127.0.0.1:PORT/rt-upgrade/app:2
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import free_port
from tests.lab.engines import Engine

#: Upper bound of the wait for the registry to answer (a bound, not a measurement).
DEADLINE = 30.0


@dataclass(frozen=True)
class Registry:
    """A running registry: ``address`` is ``127.0.0.1:PORT`` in its engine's network namespace."""

    address: str

    def push(self, engine: Engine, image: str, *, config: Path | None = None) -> str:
        """Tag ``image`` into this registry, push it (with the docker CLI config dir ``config``,
        logged in if the registry needs it), and remove the pushed tag again (the image stays
        under its own name): the returned reference is then missing on the engine."""
        ref = f"{self.address}/{image}"
        cli = ["docker", *(["--config", str(config)] if config else [])]
        engine.run(["docker", "tag", image, ref], check=True)
        try:
            engine.run([*cli, "push", ref], check=True, timeout=120)
        finally:
            engine.run(["docker", "rmi", ref], check=True)
        return ref

    def login(self, engine: Engine, config: Path, user: str, password: str) -> None:
        """``docker login`` into ``config`` (a docker CLI config directory of the test's own)."""
        engine.run(["docker", "--config", str(config), "login", "-u", user, "--password-stdin", self.address],
                   input=password, check=True)


@contextlib.contextmanager
def registry(engine: Engine, root: Path, *, users: Mapping[str, str] | None = None) -> Iterator[Registry]:
    """Run a registry for ``engine`` (in its network namespace) with storage under ``root``;
    ``users``: name -> password of an htpasswd file it requires."""
    import bcrypt

    binary = shutil.which("docker-registry")
    if binary is None:
        raise RuntimeError("docker-registry missing: run `bash dev/setup` (Debian package docker-registry)")
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    auth = ""
    if users:
        htpasswd = root / "htpasswd"
        htpasswd.write_text("".join(f"{name}:{bcrypt.hashpw(pw.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
                                    for name, pw in users.items()))
        auth = f"auth:\n  htpasswd:\n    realm: remediate-test\n    path: {htpasswd}\n"
    config = root / "config.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
                      f"  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}")
    log = (root / "registry.log").open("wb")
    proc = subprocess.Popen(engine.argv([binary, "serve", str(config)]), stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + DEADLINE
        # 200 open, 401 with auth: either way it serves the v2 API.
        while engine.http_status(f"http://127.0.0.1:{port}/v2/", timeout=2.0) not in (200, 401):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry did not start: {(root / 'registry.log').read_text()[-500:]}")
            time.sleep(0.2)
        yield Registry(f"127.0.0.1:{port}")
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[Any]) -> None:
    """Stop a child of this test by its PID: SIGTERM, then SIGKILL if it is still there after 10 s."""
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
