"""Options a recreate cannot keep safe are refused before anything changes, in one line naming them."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS, remove_owned
from tests.integration._proc import REMEDIATE, WAIT, remediate_env
from tests.lab.defaults_image import BUSYBOX

pytestmark = pytest.mark.integration

PREFIX = "rt-refuse-"


@pytest.fixture
def client(docker_client: Any) -> Iterator[Any]:
    try:
        yield docker_client
    finally:
        remove_owned(docker_client, PREFIX)


def test_an_auto_remove_container_is_refused_and_left_running(client: Any, tmp_path: Path) -> None:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    container = client.containers.run(BUSYBOX, ["sleep", "3600"], name=name, labels=OWNER_LABELS, detach=True,
                                      auto_remove=True, use_config_proxy=False)
    playbook = tmp_path / "set-flag.yml"
    playbook.write_text(f"name: set-flag\ndescription: one env var\nselect:\n  name: {name}\n"
                        "changes:\n  - env:\n      FLAG: '1'\n")

    proc = subprocess.run([REMEDIATE, "apply", str(playbook), "--yes"], capture_output=True, text=True,
                          env=remediate_env(str(tmp_path / "state")), timeout=WAIT, check=False)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    [line] = proc.stderr.strip().splitlines()
    assert f"container {name} was started with --rm (AutoRemove)" in line
    after = client.api.inspect_container(name)
    assert after["Id"] == container.id and after["State"]["Running"]
