"""Which engine URLs a Connection takes, and where their files are (no engine contacted)."""

from __future__ import annotations

import pytest

from remediate.errors import ConnectError, InventoryError
from remediate.fleet.target import target_from_url
from remediate.host.connection import Connection


@pytest.mark.parametrize("url", ["local", "unix:///var/run/docker.sock", "tcp://127.0.0.1:2375",
                                 "tcp://localhost:2376", "ssh://root@gpu-01:2222"])
def test_accepted(url: str) -> None:
    assert Connection(url).target == url
    assert target_from_url(url).url == url


def test_unsupported_is_one_line() -> None:
    with pytest.raises(ConnectError, match=r"ftp://gpu: unsupported host \(use local, unix:///path, tcp://"):
        Connection("ftp://gpu")
    with pytest.raises(InventoryError, match=r"-H ftp://gpu: unsupported"):
        target_from_url("ftp://gpu")


def test_a_tcp_engine_elsewhere_has_no_files_here() -> None:
    with Connection("tcp://192.0.2.10:2376") as conn, pytest.raises(ConnectError, match="reach that host with ssh://"):
        conn.files  # noqa: B018 - the property refuses
    with Connection("tcp://127.0.0.1:2375") as conn:
        assert conn.files is not None  # loopback: this machine's files


def test_local_follows_docker_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert Connection("local").engine_url == "tcp://127.0.0.1:2375"
    monkeypatch.delenv("DOCKER_HOST")
    assert Connection("local").engine_url == "unix:///var/run/docker.sock"


def test_one_engine_has_one_address(monkeypatch: pytest.MonkeyPatch) -> None:
    from remediate.fleet.target import Target

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
    same = [Target("a", "local"), Target("b", "unix:///var/run/docker.sock"), Target("c", "unix:///var/run/../run/docker.sock")]
    assert len({t.engine_address for t in same}) == 1
    assert Target("d", "ssh://root@GPU-01").engine_address == Target("e", "ssh://root@gpu-01:22").engine_address
    assert Target("f", "tcp://Gpu:2375").engine_address == Target("g", "tcp://gpu").engine_address
    different = [Target("h", "ssh://root@gpu-01"), Target("i", "ssh://admin@gpu-01"),
                 Target("j", "ssh://root@gpu-01", docker_host="unix:///run/other.sock"), Target("k", "ssh://root@gpu-02")]
    assert len({t.engine_address for t in different}) == 4
