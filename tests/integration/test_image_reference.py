"""A vLLM whose image is written fully qualified (``docker.io/vllm/vllm-openai:v0.6.3``) is the
vLLM that ``fix-vllm-404`` and ``diagnose`` look for (the local fake image, tagged so; never pulled)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediate.host.connection import Connection
from remediate.packs.gitlab_duo.diagnose import diagnose
from tests.conftest import remove_owned
from tests.integration._proc import MODEL_ARGS, PLAYBOOK, run
from tests.lab.containers import LabContainer, http_ready

pytestmark = pytest.mark.integration

PREFIX = "rt-imgref-"
QUALIFIED = "docker.io/vllm/vllm-openai:v0.6.3"


@pytest.fixture
def vllm(docker_client: Any) -> Iterator[str]:
    subprocess.run(["docker", "tag", "remediate-test/fake-vllm:1", QUALIFIED], check=True, capture_output=True,
                   timeout=60)
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    container = (LabContainer(QUALIFIED).with_name(name).with_command(MODEL_ARGS).with_loopback_port("8000/tcp")
                 .waiting_for(http_ready(8000, "/health")))
    try:
        container.start()
        container.get_docker_client().client.close()
        yield name
    finally:
        remove_owned(docker_client, name)


def test_fully_qualified_vllm_is_diagnosed_and_fixed(vllm: str, docker_client: Any, tmp_path: Path,
                                                     state_dir: str) -> None:
    assert docker_client.api.inspect_container(vllm)["Config"]["Image"] == QUALIFIED
    with Connection("local") as conn:
        found = {f.check: f for f in diagnose(conn, containers=(vllm,))}
    assert found["served-model"].status == "fail" and found["served-model"].fix == "fix-vllm-404", found

    result = run(["apply", str(PLAYBOOK), "--yes", "--container", vllm,
                  "-e", f"template_host_path={tmp_path / 'chat_template.jinja'}"], state_dir)
    assert result.code == 0, result.output  # its verify: /v1/models lists "mistral"
    fixed = docker_client.api.inspect_container(vllm)
    assert "--served-model-name" in fixed["Config"]["Cmd"]
    assert fixed["Config"]["Image"] == QUALIFIED
