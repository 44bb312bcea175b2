"""`remediate hosts --format json`: per host, the effective connection, address, port, user and Docker host."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from remediate.cli.main import main
from remediate.fleet.inventory import Host
from remediate.fleet.target import host_json
from remediate.host.connection import DEFAULT_DOCKER_HOST

INVENTORY = """\
[gpu]
gpu-01 ansible_host=10.0.0.5 ansible_port=2222 ansible_user=ops
gpu-02 remediate_docker_host=unix:///run/docker-gpu.sock
[gpu:vars]
ansible_ssh_private_key_file=/keys/gpu
[edge]
here ansible_connection=local
socket ansible_connection=local remediate_docker_host=unix:///run/edge.sock
"""


def test_ssh_host_with_everything_set() -> None:
    host = Host("gpu-01", "10.0.0.5", port=2222, user="ops", key_file="/k", docker_host="unix:///run/d.sock",
                groups=frozenset({"all", "gpu"}), jump="admin@bastion:2200")

    assert host_json(host) == {
        "host": "gpu-01", "connection": "ssh", "address": "10.0.0.5", "port": 2222, "user": "ops",
        "docker_host": "unix:///run/d.sock", "key_file": "/k", "jump": "admin@bastion:2200",
        "url": "ssh://ops@10.0.0.5:2222", "groups": ["all", "gpu"]}


def test_ssh_host_defaults_to_its_name_port_22_and_the_hosts_default_engine() -> None:
    data = host_json(Host("gpu-02"))

    assert (data["address"], data["port"], data["user"], data["docker_host"]) == ("gpu-02", 22, None, None)
    assert data["url"] == "ssh://gpu-02:22"


def test_local_host_reports_the_engine_this_process_would_use() -> None:
    local = Host("here", vars={"ansible_connection": "local"})

    assert host_json(local, {})["docker_host"] == DEFAULT_DOCKER_HOST
    assert host_json(local, {"DOCKER_HOST": "unix:///run/other.sock"})["docker_host"] == "unix:///run/other.sock"
    data = host_json(local, {})
    assert (data["connection"], data["address"], data["port"], data["user"], data["url"]) == (
        "local", None, None, None, "local")


def test_local_host_with_a_named_socket() -> None:
    host = Host("socket", docker_host="unix:///run/edge.sock", vars={"ansible_connection": "local"})

    data = host_json(host, {"DOCKER_HOST": "unix:///ignored.sock"})

    assert (data["docker_host"], data["url"]) == ("unix:///run/edge.sock", "unix:///run/edge.sock")


def test_cli_prints_every_selected_host_in_order(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY)

    result = CliRunner().invoke(main, ["hosts", "-i", str(inventory), "--format", "json"],
                                env={"DOCKER_HOST": "unix:///run/mine.sock"})

    assert result.exit_code == 0, result.output
    hosts = {h["host"]: h for h in json.loads(result.output)}
    assert list(hosts) == ["gpu-01", "gpu-02", "here", "socket"]
    assert {k: hosts["gpu-01"][k] for k in ("address", "port", "user", "docker_host", "key_file")} == {
        "address": "10.0.0.5", "port": 2222, "user": "ops", "docker_host": None, "key_file": "/keys/gpu"}
    assert (hosts["gpu-02"]["address"], hosts["gpu-02"]["port"], hosts["gpu-02"]["docker_host"]) == (
        "gpu-02", 22, "unix:///run/docker-gpu.sock")
    assert hosts["here"]["docker_host"] == "unix:///run/mine.sock"
    assert hosts["socket"]["docker_host"] == "unix:///run/edge.sock"


def test_cli_limit_and_text_view(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(INVENTORY)

    result = CliRunner().invoke(main, ["hosts", "-i", str(inventory), "--limit", "gpu:!gpu-02", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [h["host"] for h in json.loads(result.output)] == ["gpu-01"]

    text = CliRunner().invoke(main, ["hosts", "-i", str(inventory), "--limit", "gpu"])
    assert text.exit_code == 0
    header, first, second, total = text.output.splitlines()
    assert header.split() == ["HOST", "REACHED", "AT", "DOCKER", "HOST", "GROUPS"]
    assert second.split() == ["gpu-02", "ssh://gpu-02:22", "unix:///run/docker-gpu.sock", "gpu"]
    assert first.split() == ["gpu-01", "ssh://ops@10.0.0.5:2222", "-", "gpu"]
    assert second.index("unix:") == header.index("DOCKER HOST")  # columns aligned under the headings
    assert total == "2 host(s)"
    assert text.output.endswith("2 host(s)\n")
