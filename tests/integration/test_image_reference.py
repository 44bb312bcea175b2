"""A vLLM whose image is written fully qualified (``docker.io/vllm/vllm-openai:...``, or through
``index.docker.io/``) is the vLLM that ``fix-vllm-404`` and ``diagnose`` look for: their built-in
selector is ``vllm/vllm-openai*``. The local fake image is tagged so for the test (a tag is local:
nothing is pulled) and the tag is removed afterwards."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediate.host.connection import Connection
from remediate.packs.gitlab_duo.diagnose import diagnose
from tests.conftest import Cli, remove_owned
from tests.integration._proc import MODEL_ARGS, PLAYBOOK, run
from tests.lab.containers import LabContainer, http_ready

pytestmark = pytest.mark.integration

PREFIX = "rt-imgref-"
FAKE = "remediate-test/fake-vllm:1"


def _docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(params=["docker.io/vllm/vllm-openai", "index.docker.io/vllm/vllm-openai"])
def vllm(request: pytest.FixtureRequest, docker_client: Any) -> Iterator[tuple[str, str]]:
    """A fake vLLM created from ``<param>:test-<unique>``: (container name, image as written)."""
    unique = uuid.uuid4().hex[:8]
    image = f"{request.param}:test-{unique}"
    name = f"{PREFIX}{unique}"
    _docker("tag", FAKE, image)
    container = (LabContainer(image).with_name(name).with_command(MODEL_ARGS).with_loopback_port("8000/tcp")
                 .waiting_for(http_ready(8000, "/health")))
    try:
        container.start()
        container.get_docker_client().client.close()
        yield name, image
    finally:
        remove_owned(docker_client, name)
        _docker("image", "rm", image)  # the tag only: the image keeps its other names


def test_fully_qualified_vllm_is_found_by_diagnose_and_fix_vllm_404(vllm: tuple[str, str], cli: Cli,
                                                                     docker_client: Any, tmp_path: Path) -> None:
    name, image = vllm
    assert docker_client.api.inspect_container(name)["Config"]["Image"] == image

    # Without --container: the selector itself finds it among whatever else runs on the engine.
    code, out = cli("diagnose", "--format", "json")
    assert code in (0, 1), out
    mine = [f for f in json.loads(out)["findings"] if f["container"] == name]
    assert {f["kind"] for f in mine} == {"vllm"}, out
    assert next(f for f in mine if f["check"] == "served-model")["fix"] == "fix-vllm-404", out

    code, out = cli("apply", str(PLAYBOOK), "--dry-run", "--format", "json",
                    "-e", f"template_host_path={tmp_path / 'chat_template.jinja'}")
    assert code == 0, out
    plans = [c for c in json.loads(out)["containers"] if c["container"] == name]  # one host: its plan
    assert [c["action"] for c in plans] == ["recreate"], out


def test_fully_qualified_vllm_is_fixed(vllm: tuple[str, str], docker_client: Any, tmp_path: Path,
                                       state_dir: str) -> None:
    name, image = vllm
    with Connection("local") as conn:
        found = {f.check: f for f in diagnose(conn, containers=(name,))}
    assert found["served-model"].status == "fail" and found["served-model"].fix == "fix-vllm-404", found

    result = run(["apply", str(PLAYBOOK), "--yes", "--container", name,
                  "-e", f"template_host_path={tmp_path / 'chat_template.jinja'}"], state_dir)
    assert result.code == 0, result.output  # its verify: /v1/models lists "mistral"
    fixed = docker_client.api.inspect_container(name)
    assert "--served-model-name" in fixed["Config"]["Cmd"]
    assert fixed["Config"]["Image"] == image
