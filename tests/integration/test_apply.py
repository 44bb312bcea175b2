"""`remediate apply fix-vllm-404` end to end on the real engine: dry run, apply, no-op, restore."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, remove_owned
from tests.conftest import vllm_chat as _chat
from tests.integration._proc import wrong_name_playbook
from tests.lab import containers
from tests.lab.containers import LabContainer, http_ready

PREFIX = "rt-core-"
VLLM_IMAGE = "vllm/vllm-openai:v0.6.3"
SEED_TEMPLATE = Path(__file__).resolve().parents[2] / "templates/vllm/mistral_chat_template.jinja"


def _host_port(container: Any, port: str = "8000/tcp") -> int:
    container.reload()
    return int(container.attrs["NetworkSettings"]["Ports"][port][0]["HostPort"])


def _wait_healthy(port: int) -> None:
    for _ in range(300):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("fake vLLM did not come up")


def _user_view(inspect: dict[str, Any]) -> dict[str, Any]:
    return {"Id": inspect["Id"], "Name": inspect["Name"], "Config": inspect["Config"],
            "HostConfig": inspect["HostConfig"], "Running": inspect["State"]["Running"],
            "StartedAt": inspect["State"]["StartedAt"]}


def _ours(client: Any) -> set[str]:
    names = {n.lstrip("/") for c in client.api.containers(all=True) for n in c["Names"]}
    return {n for n in names if n.startswith(PREFIX)}


@pytest.fixture
def vllm(docker_client: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A deliberately broken fake vLLM: no served name `mistral`, no chat template."""
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    vllm = (LabContainer(VLLM_IMAGE, labels={"app": "vllm"}).with_name(name)
            .with_command(["--model", "mistralai/Mistral-7B-Instruct-v0.3", "--max-model-len", "17776"])
            .with_loopback_port("8000/tcp").with_envs(HF_TOKEN="hf_supersecretvalue")
            .with_kwargs(restart_policy={"Name": "unless-stopped"}).waiting_for(http_ready(8000, "/health")))
    template = tmp_path / "etc" / "chat_template.jinja"
    try:
        container = vllm.start().get_wrapped_container()
        yield {"name": name, "container": container, "port": vllm.get_exposed_port(8000), "template": template,
               "vars": ["-e", f"template_host_path={template}"]}
    finally:
        containers.stop([vllm])  # the container the test started with, if remediate kept it
        remove_owned(docker_client, name)  # the ones remediate made


def _apply(cli: Cli, vllm: dict[str, Any], *extra: str) -> tuple[int, str]:
    return cli("apply", "fix-vllm-404", "--container", vllm["name"], *vllm["vars"], *extra)


def test_dry_run_shows_diff_and_changes_nothing(cli: Cli, vllm: dict[str, Any], docker_client: Any) -> None:
    before = docker_client.api.inspect_container(vllm["name"])
    names_before = _ours(docker_client)

    code, out = _apply(cli, vllm, "--dry-run")

    assert code == 0, out
    assert "recreate" in out
    assert "+   --served-model-name mistral" in out
    assert "+   --chat-template /etc/vllm/chat_template.jinja" in out
    assert f"+ --volume {vllm['template']}:/etc/vllm/chat_template.jinja:ro" in out
    assert '+{%- for message in messages %}' in out  # the file diff of a new file: all +
    assert "hf_supersecretvalue" not in out and "HF_TOKEN=***" in out
    assert "Dry run: nothing changed" in out
    after = docker_client.api.inspect_container(vllm["name"])
    assert _user_view(after) == _user_view(before)
    assert _ours(docker_client) == names_before
    assert not vllm["template"].exists()
    assert _chat(vllm["port"]) == 404


def test_dry_run_json_is_the_plan(cli: Cli, vllm: dict[str, Any]) -> None:
    code, out = _apply(cli, vllm, "--dry-run", "--format", "json")

    assert code == 0
    data = json.loads(out)
    assert set(data) == {"format_version", "playbook", "host", "vars", "containers", "changed"}
    [container] = data["containers"]
    assert container["container"] == vllm["name"] and container["action"] == "recreate"
    fields = {c["field"]: c for c in container["changes"]}
    assert fields["args.--served-model-name"]["after"] == "mistral"
    assert fields["args.--chat-template"]["before"] is None
    assert container["files"][0]["path"] == str(vllm["template"])
    assert "hf_supersecretvalue" not in out


def test_apply_fixes_verifies_and_second_run_is_a_no_op(cli: Cli, vllm: dict[str, Any], docker_client: Any) -> None:
    assert _chat(vllm["port"]) == 404
    original = docker_client.api.inspect_container(vllm["name"])

    code, out = _apply(cli, vllm, "--yes")

    assert code == 0, out
    assert "recreated" in out and "/v1" in out  # the manual step left is printed
    new = docker_client.api.inspect_container(vllm["name"])
    assert new["Id"] != original["Id"]
    assert "--served-model-name" in new["Args"] and "--max-model-len" in new["Args"]
    assert new["HostConfig"]["RestartPolicy"] == original["HostConfig"]["RestartPolicy"]
    assert new["Config"]["Labels"]["app"] == "vllm"
    assert "HF_TOKEN=hf_supersecretvalue" in new["Config"]["Env"]
    assert vllm["template"].read_bytes() == SEED_TEMPLATE.read_bytes()
    assert vllm["template"].stat().st_mode & 0o777 == 0o644
    assert _chat(_host_port(docker_client.containers.get(vllm["name"]))) == 200
    backups = [docker_client.containers.get(n) for n in _ours(docker_client)
               if n.startswith(vllm["name"] + "-remediate-backup-")]
    assert [b.id for b in backups] == [original["Id"]] and backups[0].status == "exited"
    assert backups[0].attrs["HostConfig"]["RestartPolicy"]["Name"] == "no"  # parked, stays down

    code, out = _apply(cli, vllm, "--yes")

    assert code == 0, out
    assert "no changes" in out
    assert docker_client.api.inspect_container(vllm["name"])["Id"] == new["Id"]


def test_failed_verify_restores_the_original(cli: Cli, vllm: dict[str, Any], docker_client: Any,
                                             tmp_path: Path) -> None:
    playbook = wrong_name_playbook(tmp_path)
    vllm["template"].parent.mkdir(parents=True)
    vllm["template"].write_text("old content\n")
    original = docker_client.api.inspect_container(vllm["name"])

    code, out = cli("apply", str(playbook), "--container", vllm["name"], *vllm["vars"], "--yes", "--timeout", "3")

    assert code == 1, out
    assert "verify failed" in out and "restored" in out
    after = docker_client.api.inspect_container(vllm["name"])
    assert after["Id"] == original["Id"] and after["State"]["Running"]
    assert after["HostConfig"]["RestartPolicy"] == original["HostConfig"]["RestartPolicy"]
    assert after["Args"] == original["Args"]
    assert vllm["template"].read_text() == "old content\n"
    assert {n for n in _ours(docker_client) if n.startswith(vllm["name"] + "-")} == set()
    port = _host_port(docker_client.containers.get(vllm["name"]))
    _wait_healthy(port)
    assert _chat(port) == 404


def test_rollback_puts_the_previous_container_back(cli: Cli, vllm: dict[str, Any], docker_client: Any) -> None:
    original = docker_client.api.inspect_container(vllm["name"])
    assert _apply(cli, vllm, "--yes")[0] == 0

    code, out = cli("rollback", vllm["name"], "--yes")

    assert code == 0, out
    restored = docker_client.api.inspect_container(vllm["name"])
    assert restored["Id"] == original["Id"] and restored["State"]["Running"]
    assert restored["HostConfig"]["RestartPolicy"] == original["HostConfig"]["RestartPolicy"]
    port = _host_port(docker_client.containers.get(vllm["name"]))
    _wait_healthy(port)
    assert _chat(port) == 404


def test_a_missing_container_exits_2_with_one_line(cli: Cli) -> None:
    code, out = cli("apply", "fix-vllm-404", "--dry-run", "--container", "rt-core-does-not-exist")

    assert code == 2
    assert "no container named" in out
    assert "Traceback" not in out and len(out.strip().splitlines()) == 1


def test_confirm_playbook_refuses_without_tty_or_yes(cli: Cli, vllm: dict[str, Any], docker_client: Any) -> None:
    before = docker_client.api.inspect_container(vllm["name"])["Id"]

    code, out = _apply(cli, vllm)

    assert code == 2 and "--yes" in out
    assert docker_client.api.inspect_container(vllm["name"])["Id"] == before
    assert not vllm["template"].exists()


def test_unreachable_engine_is_a_one_line_error(cli: Cli) -> None:
    cli.env["DOCKER_HOST"] = "unix:///nonexistent/docker.sock"

    code, out = cli("apply", "fix-vllm-404", "--dry-run")

    assert code == 2 and "cannot reach the Docker engine" in out and "Traceback" not in out


def test_playbook_file_path_works_like_a_builtin(cli: Cli, vllm: dict[str, Any]) -> None:
    path = str(Path(__file__).resolve().parents[2] / "playbooks/fix-vllm-404.yml")

    code, out = cli("apply", path, "--container", vllm["name"], *vllm["vars"], "--dry-run")

    assert code == 0 and "+   --served-model-name mistral" in out
