"""Verification waits for a healthcheck's verdict: the healthcheck's own timing, not only ``--timeout``.

A container whose healthcheck first probes after 5 s, fixed with ``--timeout 2``: verify waits
for the first probe (and says so) and keeps the fix, where it used to give up while health was
"starting" and restore the original. A healthcheck that fails ends verify at Docker's
"unhealthy" verdict, long before a generous ``--timeout``. On both engines.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS, remove_owned
from tests.integration._proc import REMEDIATE, WAIT, remediate_env
from tests.lab.defaults_image import BUSYBOX
from tests.lab.engines import Engine

pytestmark = pytest.mark.integration

PREFIX = "rt-health-"
SECOND = 1_000_000_000


@pytest.fixture
def client(engine: Engine) -> Iterator[Any]:
    cl = engine.client()
    try:
        yield cl
    finally:
        remove_owned(cl, PREFIX)
        cl.close()


def _start(client: Any, test: list[str], **timing: int) -> str:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    container = client.containers.create(
        BUSYBOX, ["sleep", "3600"], name=name, labels=OWNER_LABELS, use_config_proxy=False,
        healthcheck={"test": test, **timing})
    container.start()
    return name


def _apply(engine: Engine, tmp_path: Path, name: str, *args: str) -> tuple[int, str]:
    playbook = tmp_path / "set-flag.yml"
    playbook.write_text(f"name: set-flag\ndescription: one env var\nselect:\n  name: {name}\n"
                        "changes:\n  - env:\n      FLAG: '1'\n")
    proc = engine.run([REMEDIATE, "apply", str(playbook), "--container", name, "--yes", *args],
                      env=remediate_env(str(tmp_path / "state")), timeout=WAIT)
    return proc.returncode, proc.stdout + proc.stderr


def test_a_slow_first_health_probe_is_waited_for_and_the_fix_kept(engine: Engine, client: Any,
                                                                  tmp_path: Path) -> None:
    name = _start(client, ["CMD-SHELL", "true"], interval=5 * SECOND, timeout=2 * SECOND, retries=2,
                  start_period=1 * SECOND)
    original = client.api.inspect_container(name)["Id"]

    code, out = _apply(engine, tmp_path, name, "--timeout", "2")

    assert code == 0, out
    assert "past the 2s timeout" in out and "start period 1s, 2 retries of interval 5s + timeout 2s" in out, out
    new = client.api.inspect_container(name)
    assert new["Id"] != original and "FLAG=1" in new["Config"]["Env"]
    assert new["State"]["Health"]["Status"] == "healthy"


def test_an_unhealthy_verdict_ends_verification_at_once(engine: Engine, client: Any, tmp_path: Path) -> None:
    # Healthy until the fix sets FLAG, which its healthcheck rejects.
    name = _start(client, ["CMD-SHELL", '[ -z "$FLAG" ]'], interval=1 * SECOND, timeout=1 * SECOND, retries=1)
    original = client.api.inspect_container(name)["Id"]

    began = time.monotonic()
    code, out = _apply(engine, tmp_path, name, "--timeout", "100")

    assert code == 1, out
    assert "health unhealthy" in out and "restored" in out, out
    assert time.monotonic() - began < 60
    after = client.api.inspect_container(name)
    assert after["Id"] == original and after["State"]["Running"]
