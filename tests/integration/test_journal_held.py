"""A journal opened under the host's lock reads each file from the host once, and again only
after it changed the file itself (a rollback reads it a dozen times, each a walk and a read over
SSH); one opened without the lock reads the host every time. On the real local engine's host."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from remediate.executor import record
from remediate.executor.journal import Journal
from remediate.executor.lock import HostLock
from remediate.host.connection import Connection


def _begin(container: str) -> record.Begin:
    return record.begin(tx=Journal.new_id(), kind=record.Kind.APPLY, container=container, old_id="0" * 64,
                        temp=f"{container}-new", backup=f"{container}-old", was_running=True,
                        restart_policy={"Name": "no"}, files=[])


@pytest.fixture
def conn(state_dir: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Connection]:
    monkeypatch.setenv("REMEDIATE_STATE_DIR", state_dir)
    with Connection("local") as connection:
        yield connection


def test_a_held_journal_reads_the_host_once_and_again_after_its_own_change(conn: Connection) -> None:
    with HostLock(conn, "test") as lock:
        held = Journal.under(lock)
        held.append(_begin("a"))
        assert [r.container for r in held.records()] == ["a"]
        # Written behind its back (what the lock rules out): the held journal does not read again.
        Journal(conn, directory=lock.directory).append(_begin("b"))
        assert [r.container for r in held.records(archived=True)] == ["a"]
        assert [r.container for r in Journal(conn, directory=lock.directory).records()] == ["a", "b"]
        held.append(_begin("c"))  # its own change: read again, all of it
        assert [r.container for r in held.records()] == ["a", "b", "c"]
        assert [t.container for t in held.unfinished()] == ["a", "b", "c"]


def test_a_journal_without_the_lock_reads_the_host_every_time(conn: Connection) -> None:
    with HostLock(conn, "test") as lock:
        reader, writer = Journal(conn, directory=lock.directory), Journal(conn, directory=lock.directory)
        writer.append(_begin("a"))
        assert [r.container for r in reader.records()] == ["a"]
        writer.append(_begin("b"))
        assert [r.container for r in reader.records()] == ["a", "b"]
