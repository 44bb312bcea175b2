"""Data and neighbours survive an apply: anonymous volumes, --link, --network/--ipc/--pid container:,
--volumes-from; the logs of a new container that exits are kept."""

from __future__ import annotations

import functools
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS, Cli, remove_owned

PREFIX = "rt-nb-"
IMAGE = "remediate-test/busybox:1"


@pytest.fixture
def group(docker_client: Any) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:6]
    names = {k: f"{PREFIX}{tag}-{k}" for k in ("app", "linked", "sidecar", "reader")}
    run = functools.partial(docker_client.containers.run, labels=OWNER_LABELS)
    app = run(IMAGE, ["sh", "-c", "echo precious > /data/file; exec sleep 3600"], name=names["app"], detach=True,
              volumes=["/data"], labels={"rt": "nb", **OWNER_LABELS})
    run(IMAGE, ["sleep", "3600"], name=names["linked"], detach=True, links={names["app"]: "app"})
    run(IMAGE, ["sleep", "3600"], name=names["sidecar"], detach=True, network_mode=f"container:{app.id}")
    run(IMAGE, ["sleep", "3600"], name=names["reader"], detach=True, volumes_from=[names["app"]])
    try:
        yield names
    finally:
        remove_owned(docker_client, f"{PREFIX}{tag}")


def _playbook(tmp_path: Path, name: str) -> str:
    path = tmp_path / "pb.yml"
    path.write_text(f"name: nb\ndescription: add an env var\nsafety: auto\nselect: {{name: '{name}'}}\n"
                    "changes:\n  - env: {NEW_FLAG: '1'}\n")
    return str(path)


def test_dry_run_lists_the_tied_containers(cli: Cli, group: dict[str, str], tmp_path: Path) -> None:
    code, out = cli("apply", _playbook(tmp_path, group["app"]), "--dry-run")

    assert code == 0, out
    tied = next(line for line in out.splitlines() if "tied to it" in line)
    for key in ("linked", "sidecar", "reader"):
        assert group[key] in tied


def test_apply_keeps_data_and_neighbours_working(cli: Cli, group: dict[str, str], docker_client: Any,
                                                 tmp_path: Path) -> None:
    api = docker_client.api
    old_app = api.inspect_container(group["app"])
    volume = next(m["Name"] for m in old_app["Mounts"] if m["Destination"] == "/data")

    code, out = cli("apply", _playbook(tmp_path, group["app"]), "--yes", "--timeout", "10")

    assert code == 0, out
    app = api.inspect_container(group["app"])
    assert app["Id"] != old_app["Id"] and "NEW_FLAG=1" in app["Config"]["Env"]
    # The anonymous volume was handed over by name: same volume, data still there.
    assert next(m["Name"] for m in app["Mounts"] if m["Destination"] == "/data") == volume
    exec_id = api.exec_create(app["Id"], ["cat", "/data/file"])
    assert api.exec_start(exec_id).decode().strip() == "precious"
    # --network container: follows the new container.
    sidecar = api.inspect_container(group["sidecar"])
    assert sidecar["HostConfig"]["NetworkMode"] == f"container:{app['Id']}" and sidecar["State"]["Running"]
    # --link resolves to the new container, not the backup.
    linked = api.inspect_container(group["linked"])
    assert linked["State"]["Running"]
    assert any(link.startswith(f"/{group['app']}:") for link in linked["HostConfig"]["Links"]), linked["HostConfig"]["Links"]
    hosts = api.exec_start(api.exec_create(linked["Id"], ["cat", "/etc/hosts"])).decode()
    assert app["NetworkSettings"]["IPAddress"] in hosts
    # --volumes-from: same volumes, untouched, still running.
    reader = api.inspect_container(group["reader"])
    assert reader["State"]["Running"]
    assert api.exec_start(api.exec_create(reader["Id"], ["cat", "/data/file"])).decode().strip() == "precious"
    # The backup holds no one's links: nothing else is named like a parked dependent.
    names = {n.lstrip("/") for c in api.containers(all=True) for n in c["Names"]}
    parked = {n for n in names if "-remediate-backup-" in n and n.startswith(PREFIX)}
    assert parked == {n for n in parked if n.startswith(group["app"] + "-remediate-backup-")} and len(parked) == 1


def test_a_linked_to_container_stays_selectable(cli: Cli, group: dict[str, str], docker_client: Any,
                                                tmp_path: Path) -> None:
    """B --links to A: A's ``Names`` carry B's alias (``/B/app``), and after B itself is changed its
    parked backup's too (``/B-remediate-backup-.../app``). ``--container A`` still finds A."""
    api = docker_client.api
    linked_book = tmp_path / "linked"
    linked_book.mkdir()
    code, out = cli("apply", _playbook(linked_book, group["linked"]), "--yes", "--timeout", "10")
    assert code == 0, out
    names = next(c["Names"] for c in api.containers(all=True, filters={"name": group["app"]})
                 if f"/{group['app']}" in c["Names"])
    assert any("-remediate-backup-" in n for n in names), names  # the backup of B links to A

    old = api.inspect_container(group["app"])
    code, out = cli("apply", _playbook(tmp_path, group["app"]), "--container", group["app"], "--yes",
                    "--timeout", "10")

    assert code == 0, out
    app = api.inspect_container(group["app"])
    assert app["Id"] != old["Id"] and "NEW_FLAG=1" in app["Config"]["Env"]
    code, out = cli("backups", "--container", group["app"])
    assert code == 0 and f"{group['app']}-remediate-backup-" in out, out


# --------------------------------------------------------------------------- namespace joiners

#: Exits at once, with a message on stderr, when RT_BREAK is set (the broken new config).
_BREAKABLE = ['sh', '-c', ('if [ -n "$RT_BREAK" ]; then echo "fatal: RT_BREAK is set; API_TOKEN=rt-leak-1234" >&2; '
              'exit 3; fi; exec sleep 3600')]


@pytest.fixture
def joined(docker_client: Any) -> Iterator[dict[str, str]]:
    """X (``--ipc shareable``), a container joining its IPC and PID namespaces, one joining its
    network namespace. SIGKILL stops them at once (sleep as PID 1 ignores SIGTERM)."""
    tag = uuid.uuid4().hex[:6]
    names = {k: f"{PREFIX}{tag}-{k}" for k in ("x", "ipcpid", "net")}
    run = functools.partial(docker_client.containers.run, labels=OWNER_LABELS)
    x = run(IMAGE, _BREAKABLE, name=names["x"], detach=True, ipc_mode="shareable", stop_signal="SIGKILL",
            restart_policy={"Name": "unless-stopped"})
    run(IMAGE, ["sleep", "3600"], name=names["ipcpid"], detach=True, ipc_mode=f"container:{names['x']}",
        pid_mode=f"container:{x.id}", stop_signal="SIGKILL")
    run(IMAGE, ["sleep", "3600"], name=names["net"], detach=True, network_mode=f"container:{x.id}",
        stop_signal="SIGKILL", restart_policy={"Name": "unless-stopped"})
    try:
        yield names
    finally:
        remove_owned(docker_client, f"{PREFIX}{tag}")


def _ns(api: Any, name: str, kind: str) -> str:
    """The namespace (e.g. ``ipc:[4026532330]``) a container's main process is in, from /proc."""
    return os.readlink(f"/proc/{api.inspect_container(name)['State']['Pid']}/ns/{kind}")


def _assert_joined(api: Any, names: dict[str, str]) -> None:
    """Both joiners run, name X's current container, and really share its namespaces."""
    x = api.inspect_container(names["x"])
    assert x["State"]["Running"]
    ipcpid = api.inspect_container(names["ipcpid"])
    net = api.inspect_container(names["net"])
    assert ipcpid["State"]["Running"] and net["State"]["Running"]
    assert ipcpid["HostConfig"]["IpcMode"] == ipcpid["HostConfig"]["PidMode"] == f"container:{x['Id']}"
    assert net["HostConfig"]["NetworkMode"] == f"container:{x['Id']}"
    for kind in ("ipc", "pid"):
        assert _ns(api, names["ipcpid"], kind) == _ns(api, names["x"], kind)
    assert _ns(api, names["net"], "net") == _ns(api, names["x"], "net")


def _env_playbook(tmp_path: Path, name: str, env: str) -> str:
    path = tmp_path / f"{env.split(':')[0]}.yml"
    path.write_text(f"name: nb-env\ndescription: set an env var\nsafety: auto\nselect: {{name: '{name}'}}\n"
                    f"changes:\n  - env: {{{env}}}\n")
    return str(path)


def test_ipc_and_pid_joiners_are_listed_and_follow_apply_and_rollback(
        cli: Cli, joined: dict[str, str], docker_client: Any, tmp_path: Path) -> None:
    api = docker_client.api
    original = api.inspect_container(joined["x"])
    playbook = _env_playbook(tmp_path, joined["x"], "NEW_FLAG: '1'")

    code, out = cli("apply", playbook, "--dry-run")

    assert code == 0, out
    tied = next(line for line in out.splitlines() if "tied to it" in line)
    assert joined["ipcpid"] in tied and joined["net"] in tied

    code, out = cli("apply", playbook, "--yes", "--timeout", "20")

    assert code == 0, out
    assert api.inspect_container(joined["x"])["Id"] != original["Id"]
    _assert_joined(api, joined)

    code, out = cli("rollback", joined["x"], "--yes", "--timeout", "20")

    assert code == 0, out
    assert api.inspect_container(joined["x"])["Id"] == original["Id"]
    _assert_joined(api, joined)
    # No copy of a joiner is left behind: each exists once, under its name.
    assert {n for n in _names(api) if n.startswith((joined["ipcpid"], joined["net"]))} == {
        joined["ipcpid"], joined["net"]}


def test_a_new_container_that_exits_leaves_its_logs_and_the_joiners_rejoin_the_original(
        cli: Cli, joined: dict[str, str], docker_client: Any, tmp_path: Path) -> None:
    api = docker_client.api
    original = api.inspect_container(joined["x"])
    playbook = _env_playbook(tmp_path, joined["x"], "RT_BREAK: '1'")
    report = tmp_path / "ticket.md"

    code, out = cli("apply", playbook, "--yes", "--timeout", "5", "--report", str(report))

    assert code == 1, out
    assert "last" in out and "fatal: RT_BREAK is set; API_TOKEN=***" in out
    code, json_out = cli("apply", playbook, "--yes", "--timeout", "5", "--format", "json")
    assert code == 1, json_out
    [result] = json.loads(json_out)["containers"]
    assert result["action"] == "rolled back"
    assert "fatal: RT_BREAK is set; API_TOKEN=***" in result["logs"]
    markdown = report.read_text()
    assert "Last log lines of the new container" in markdown and "fatal: RT_BREAK is set" in markdown
    assert all("rt-leak-1234" not in text for text in (out, json_out, markdown))
    # The original is back, and its joiners share its namespaces again.
    now = api.inspect_container(joined["x"])
    assert now["Id"] == original["Id"] and now["HostConfig"] == original["HostConfig"]
    _assert_joined(api, joined)
    assert not [n for n in _names(api) if "-remediate-" in n and n.startswith(PREFIX)]


def _names(api: Any) -> set[str]:
    return {n.lstrip("/") for c in api.containers(all=True) for n in c["Names"]}


def test_the_engine_filters_every_listing_and_an_older_reader_is_still_tied(
        cli: Cli, docker_client: Any, tmp_path: Path) -> None:
    # A --volumes-from reader of an earlier container of the same name is older than the target:
    # only what it mounts shows it, through the engine's volume filter.
    prefix = f"{PREFIX}{uuid.uuid4().hex[:6]}"
    names = {k: f"{prefix}-{k}" for k in ("app", "reader", "sidecar", "other")}
    data = tmp_path / "data"
    data.mkdir()
    run = functools.partial(docker_client.containers.run, IMAGE, ["sleep", "3600"], detach=True, labels=OWNER_LABELS)
    try:
        earlier = run(name=names["app"], volumes={str(data): {"bind": "/data", "mode": "rw"}})
        run(name=names["reader"], volumes_from=[names["app"]])
        earlier.remove(force=True)
        app = run(name=names["app"], volumes={str(data): {"bind": "/data", "mode": "rw"}})
        run(name=names["sidecar"], network_mode=f"container:{app.id}")
        run(name=names["other"])  # newer, tied to nothing
        playbook = _playbook(tmp_path, names["app"])

        for extra in ((), ("--container", names["app"])):
            code, out = cli("apply", playbook, "--dry-run", "-vv", *extra)

            assert code == 0, out
            tied = next(line for line in out.splitlines() if "tied to it" in line)
            assert names["reader"] in tied and names["sidecar"] in tied and names["other"] not in tied
            listings = [line for line in out.splitlines() if "engine: list containers" in line]
            assert listings and all("engine: list containers {" in line for line in listings), listings
    finally:
        remove_owned(docker_client, prefix)
