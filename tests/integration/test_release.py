"""The release installs without network: the wheel and the sdist from the wheelhouse that
`bash dev/release` builds (dev/setup runs it), and the tool's own image from the Dockerfile.

Nothing here reaches a package index (pip runs with ``--no-index``) or a registry (the image is
built on the local Python test image).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS
from tests.integration.rtcat import Lab

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
WHEELHOUSE = ROOT / "dist" / "wheelhouse"
PYTHON_IMAGE = "remediate-test/python:3"


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], check=False, cwd=cwd, capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "PIP_NO_INDEX": "1",
                               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel and sdist of this checkout, built offline by hatchling (as dev/release does)."""
    if not (WHEELHOUSE / ".stamp").is_file():
        pytest.fail(f"{WHEELHOUSE} is missing: run `bash dev/setup` (it runs dev/release)")
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "hatchling", "build", "-d", out, cwd=ROOT)
    return out


def _one(directory: Path, pattern: str) -> Path:
    (found,) = directory.glob(pattern)
    return found


def _fresh_venv(where: Path) -> Path:
    _run(sys.executable, "-m", "venv", where)
    return where / "bin"


def test_wheel_installs_offline_with_its_catalog(dist: Path, tmp_path: Path) -> None:
    bin_dir = _fresh_venv(tmp_path / "venv")
    _run(bin_dir / "pip", "install", "--no-index", "--find-links", WHEELHOUSE, _one(dist, "*.whl"))
    assert _run(bin_dir / "remediate", "--version").startswith("remediate, version ")
    # the playbooks and templates travel in the wheel: the pack finds them where it is installed
    shown = _run(bin_dir / "remediate", "show", "fix-vllm-404")
    assert "--chat-template" in shown
    schema = json.loads(_run(bin_dir / "remediate", "schema"))
    assert schema["$schema"].startswith("https://json-schema.org/")
    metadata = _run(bin_dir / "python", "-c",
                    "import importlib.metadata as m; print(m.metadata('remediate').as_string())")
    assert "Classifier: Typing :: Typed" in metadata and "License-File: LICENSE" in metadata


def test_sdist_builds_the_same_wheel_offline(dist: Path, tmp_path: Path) -> None:
    # the sdist's build backend (hatchling) comes from the wheelhouse too
    _run(sys.executable, "-m", "pip", "wheel", "--no-index", "--find-links", WHEELHOUSE, "--no-deps",
         "-w", tmp_path, _one(dist, "*.tar.gz"))
    rebuilt, original = _one(tmp_path, "*.whl"), _one(dist, "*.whl")
    assert sorted(zipfile.ZipFile(rebuilt).namelist()) == sorted(zipfile.ZipFile(original).namelist())


@pytest.fixture
def tool_image(dist: Path, tmp_path: Path, docker_client: Any) -> Any:
    """remediate's image, built from the Dockerfile on the local Python image, in a context of
    exactly what the Dockerfile copies; removed afterwards."""
    context = tmp_path / "context"
    shutil.copytree(WHEELHOUSE, context / "dist" / "wheelhouse")
    shutil.copy(_one(dist, "*.whl"), context / "dist")
    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(ROOT / name, context)
    tag = f"remediate-test/tool:{uuid.uuid4().hex[:12]}"
    image, _ = docker_client.images.build(path=str(context), tag=tag, rm=True, forcerm=True,
                                          buildargs={"PYTHON_IMAGE": PYTHON_IMAGE}, labels=OWNER_LABELS)
    try:
        yield image
    finally:
        docker_client.images.remove(image.id, force=True)


def test_the_tool_image_diagnoses_the_engine_it_is_given(tool_image: Any, lab: Lab, docker_client: Any,
                                                         tmp_path: Path) -> None:
    vllm = lab.vllm("tool-image", ["--model", "mistral"])
    state = tmp_path / "state"
    state.mkdir()
    run = docker_client.containers.run(
        tool_image.id, ["diagnose", "--container", vllm["name"], "--format", "json"], detach=True,
        labels=OWNER_LABELS,
        volumes={"/var/run/docker.sock": {"bind": "/var/run/docker.sock", "mode": "rw"},
                 str(state): {"bind": "/var/lib/remediate", "mode": "rw"}})
    try:
        status = run.wait(timeout=120)["StatusCode"]
        out = run.logs(stdout=True, stderr=False)
    finally:
        run.remove(force=True)
    assert status in (0, 1), out  # 1: a check failed (the fake vLLM has no chat template)
    report = json.loads(out)
    assert report["format_version"] and report["host"] == "local"
    assert {f["container"] for f in report["findings"]} == {vllm["name"]}


COLLECTION_PARENT = ROOT  # holds ansible_collections/remediate/docker


@pytest.mark.ansible
def test_the_collection_tells_ansible_builder_what_it_needs(tmp_path: Path) -> None:
    builder = Path(sys.executable).parent / "ansible-builder"
    introspected = _run(builder, "introspect", "--sanitize", COLLECTION_PARENT)
    assert "remediate>=0.1,<0.2" in introspected and "from collection remediate.docker" in introspected
    # the execution environment the collection's README shows, with the release as its wheelhouse
    definition = (ROOT / "ansible_collections/remediate/docker/README.md").read_text()
    ee = definition.split("```yaml\n# execution-environment.yml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "execution-environment.yml").write_text(ee)
    shutil.copytree(WHEELHOUSE, tmp_path / "dist" / "wheelhouse")
    _run(builder, "create", "-f", "execution-environment.yml", "-c", "context", cwd=tmp_path)
    containerfile = (tmp_path / "context" / "Containerfile").read_text()
    assert "ENV PIP_FIND_LINKS=/build/dist/wheelhouse" in containerfile
    assert (tmp_path / "context" / "_build" / "dist" / "wheelhouse" / ".stamp").is_file()
