"""`remediate bundle` on the real engine: one archive support can read, with no secret in it."""

from __future__ import annotations

import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from remediate.core.redaction import MASK
from tests.conftest import Cli
from tests.integration.rtcat import Lab
from tests.unit.test_redaction import SHAPE_CASES

pytestmark = pytest.mark.integration

#: Every token shape the redaction knows, as a whole value.
TOKENS = sorted({value for _shape, value, shown in SHAPE_CASES if shown == MASK})
SIGNING_KEY = "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBgkqhkiG9w0BAQEFAASC-----END PRIVATE KEY-----"


def _read(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def test_a_bundle_holds_what_support_asks_for_and_no_secret(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    env = {f"NOTE_{i}": token for i, token in enumerate(TOKENS)}
    gw = lab.gateway("bundle", {**env, "AIGW_SELF_SIGNED_JWT__SIGNING_KEY": SIGNING_KEY})
    # vLLM logs its arguments (the API key among them) when it starts, as the real one does
    vllm = lab.vllm("bundle-vllm", ["--served-model-name", "mistral", "--api-key", TOKENS[0]], env=env)
    out = tmp_path / "support.tar.gz"

    code, text = cli("bundle", "--out", str(out), "--lines", "50", "--container", gw["name"], "--container", vllm["name"])

    assert code == 0, text
    assert f"bundle written to {out}" in text
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    files = _read(out)
    everything = b"\n".join(files.values()).decode()
    leaked = [token for token in (*TOKENS, SIGNING_KEY) if token in everything]
    assert not leaked, leaked
    manifest = json.loads(files["manifest.json"])
    assert {f["path"] for f in manifest["files"]} == set(files) - {"manifest.json"}
    host = "local"
    versions = json.loads(files[f"{host}/versions.json"])
    assert versions["engine"]["Version"] and versions["host"]["OperatingSystem"]
    image = versions["images"][vllm["name"]]
    assert image["id"].startswith("sha256:") and "vllm/vllm-openai:v0.6.3" in image["tags"]
    inspect = json.loads(files[f"{host}/containers/{gw['name']}.inspect.json"])
    assert "AIGW_SELF_SIGNED_JWT__SIGNING_KEY=***" in inspect["Config"]["Env"]
    assert "vLLM API server version" in files[f"{host}/containers/{vllm['name']}.log"].decode()
    assert json.loads(files[f"{host}/diagnose.json"])["findings"]
    assert f"vLLM {vllm['name']}" in files[f"{host}/diagnose.txt"].decode()
    assert isinstance(json.loads(files[f"{host}/history.json"]), list)


def test_a_correlation_id_keeps_only_its_log_lines(cli: Cli, lab: Lab, tmp_path: Path) -> None:
    vllm = lab.vllm("bundle-corr", ["--served-model-name", "mistral"])
    out = tmp_path / "corr.tar.gz"

    code, text = cli("bundle", "--out", str(out), "--correlation-id", "vLLM API server version",
                     "--container", vllm["name"])

    assert code == 0, text
    log = _read(out)[f"local/containers/{vllm['name']}.log"].decode().splitlines()
    assert log and all("vLLM API server version" in line for line in log)


def test_bad_input_is_one_line_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    link = tmp_path / "planted.tar.gz"
    link.symlink_to(tmp_path / "elsewhere.tar.gz")

    assert cli("bundle", "--out", str(tmp_path / "x.zip"))[0] == 2
    code, text = cli("bundle", "--out", str(link))

    assert code == 2 and len(text.strip().splitlines()) == 1, text
    assert not (tmp_path / "elsewhere.tar.gz").exists()
