"""Host file policy (pure) and the local file layer on this machine's file system (a tmp dir):
no symlink followed, bounded reads, owner and hard links kept, the plan's view of it all."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import remediate
from remediate.core.paths import MAX_HOST_FILE_BYTES, HostPath, check_dest, check_mode, normal_path
from remediate.core.planner import FileWrite, Observed, plan
from remediate.core.playbook import Playbook
from remediate.host.files import LocalFiles
from remediate.output.plan import file_diff
from remediate.output.private import write_private

CASES = Path(__file__).resolve().parents[1] / "cases"


def _observed() -> Observed:
    return Observed(json.loads((CASES / "busybox-minimal" / "container.json").read_text()),
                    json.loads((CASES / "busybox-minimal" / "image.json").read_text()))


def _book(*changes: dict[str, Any]) -> Playbook:
    return Playbook.model_validate({"name": "t", "description": "d", "select": {"name": "*"}, "changes": list(changes)})


# --------------------------------------------------------------------------- policy

@pytest.mark.parametrize(("given", "normal"), [("/a//b/./c/", "/a/b/c"), ("/a", "/a"), ("//a", "/a")])
def test_paths_are_normalised(given: str, normal: str) -> None:
    assert normal_path(given, "dest") == normal


@pytest.mark.parametrize("bad", ["/a/allowed/../victim/x", "/..", "relative", "/a/\0b", "/a/b/.."])
def test_dot_dot_and_relative_paths_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        normal_path(bad, "dest")


@pytest.mark.parametrize("bad", ["/", "/proc/self/environ", "/proc", "/sys/kernel/x", "/dev/sda"])
def test_kernel_trees_are_no_destination(bad: str) -> None:
    with pytest.raises(ValueError, match="never written"):
        check_dest(bad, "dest")


def test_a_procfs_lookalike_is_a_destination() -> None:
    check_dest("/processes/x", "dest")
    check_dest("/srv/proc/x", "dest")


@pytest.mark.parametrize(("mode", "word"), [(0o6777, "setuid and setgid and world-writable"), (0o4755, "setuid"),
                                            (0o2755, "setgid"), (0o1644, "sticky"), (0o646, "world-writable")])
def test_unsafe_modes_need_the_playbook_to_say_so(mode: int, word: str) -> None:
    with pytest.raises(ValueError, match=f"is {word}: set allow_unsafe_mode"):
        check_mode(mode, False, "mode")
    check_mode(mode, True, "mode")


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o755, 0o664, 0o640])
def test_ordinary_modes_pass(mode: int) -> None:
    check_mode(mode, False, "mode")


def test_playbook_refuses_dot_dot_unsafe_mode_and_proc_in_one_line() -> None:
    for file, reason in [({"dest": "/a/allowed/../victim/x"}, "'..'"), ({"dest": "/x", "mode": "6777"}, "setuid"),
                         ({"dest": "/proc/self/environ"}, "never written")]:
        with pytest.raises(Exception, match=reason):
            _book({"file": {"content": "x", **file}})
    assert _book({"file": {"dest": "/x", "content": "x", "mode": "4755", "allow_unsafe_mode": True}})


# --------------------------------------------------------------------------- planning

def _plan_file(state: HostPath, **file: Any) -> FileWrite:
    p = plan(_book({"file": {"dest": "/srv/ml/t", "content": "new\n", **file}}), {}, [_observed()],
             host_paths={"/srv/ml/t": state})
    return p.containers[0].files[0]


def test_a_symlink_on_the_way_is_refused_unless_followed() -> None:
    link = HostPath(False, kind="symlink", symlink="/srv/ml")
    with pytest.raises(remediate.PlanError, match="/srv/ml is a symlink; .* follow_symlinks: true"):
        _plan_file(link)
    followed = HostPath(True, b"old\n", 0o644, real="/data/ml/t", uid=5, gid=6)
    write = _plan_file(followed, follow_symlinks=True)
    assert (write.path, write.via) == ("/data/ml/t", "/srv/ml/t")
    assert "/srv/ml/t leads to /data/ml/t through symlinks: /data/ml/t is written, the links stay" in file_diff(write)


def test_a_followed_link_into_the_kernel_trees_is_refused() -> None:
    with pytest.raises(remediate.PlanError, match="leads to /proc/self/environ"):
        _plan_file(HostPath(True, b"x", 0o400, real="/proc/self/environ"), follow_symlinks=True)


def test_a_file_over_the_bound_is_refused() -> None:
    with pytest.raises(remediate.PlanError, match="more than the 4 MiB"):
        _plan_file(HostPath(True, None, 0o644, kind="large", size=MAX_HOST_FILE_BYTES + 1))


def test_content_that_is_not_world_readable_is_never_shown() -> None:
    write = _plan_file(HostPath(True, b"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n", 0o600, uid=0, gid=0))
    shown = "\n".join(file_diff(write))
    assert "AAAA" not in shown and "PRIVATE KEY" not in shown
    assert "current content not shown (41 bytes, sha256" in shown and "+new" in shown
    readable = _plan_file(HostPath(True, b"old line\n", 0o644))
    assert "-old line" in file_diff(readable)


def test_replace_keeps_mode_owner_and_links_unless_the_playbook_sets_the_mode() -> None:
    write = _plan_file(HostPath(True, b"old\n", 0o640, uid=1000, gid=1000, links=2))
    assert (write.mode, write.owner, write.links) == (0o640, (1000, 1000), 2)
    lines = file_diff(write)
    assert "owner 1000:1000 kept" in lines and any("2 hard links: written in place" in line for line in lines)
    assert _plan_file(HostPath(False, kind="missing")).mode == 0o644
    assert _plan_file(HostPath(True, b"old\n", 0o640), mode="0600").mode == 0o600


def test_directories_a_write_creates_are_shown_with_their_mode() -> None:
    write = _plan_file(HostPath(False, kind="missing", missing=("/srv", "/srv/ml")))
    assert file_diff(write)[-2:] == ["new directory /srv (mode 0755)", "new directory /srv/ml (mode 0755)"]


def test_a_missing_bind_source_is_shown_and_recorded_as_made_by_the_engine() -> None:
    book = _book({"mount": {"source": "/srv/new/src", "target": "/t"}})
    p = plan(book, {}, [_observed()], host_paths={"/srv/new/src": HostPath(False, kind="missing", missing=("/srv/new",))})
    [cp] = p.containers
    assert cp.engine_dirs == ("/srv/new", "/srv/new/src") == cp.created_dirs
    assert any("the engine creates /srv/new, /srv/new/src as empty directories owned by root" in n for n in cp.notes)
    # A source the plan's own file writes is no engine directory.
    book = _book({"file": {"dest": "/srv/new/src", "content": "x"}}, {"mount": {"source": "/srv/new/src", "target": "/t"}})
    p = plan(book, {}, [_observed()], host_paths={"/srv/new/src": HostPath(False, kind="missing", missing=("/srv/new",))})
    assert p.containers[0].engine_dirs == () and p.containers[0].created_dirs == ("/srv/new",)


def test_a_bind_source_through_a_symlink_is_refused_unless_followed() -> None:
    link = {"/srv/src": HostPath(False, kind="symlink", symlink="/srv/src")}
    with pytest.raises(remediate.PlanError, match="mount source /srv/src: /srv/src is a symlink"):
        plan(_book({"mount": {"source": "/srv/src", "target": "/t"}}), {}, [_observed()], host_paths=link)
    followed = {"/srv/src": HostPath(True, None, 0o755, kind="dir", real="/data/src")}
    p = plan(_book({"mount": {"source": "/srv/src", "target": "/t", "follow_symlinks": True}}), {}, [_observed()],
             host_paths=followed)
    assert any("the engine binds /data/src" in n for n in p.containers[0].notes)


# --------------------------------------------------------------------------- the local file layer

def test_read_reports_a_symlinked_directory_and_reads_nothing_behind_it(tmp_path: Path) -> None:
    secret = tmp_path / "root-only"
    secret.mkdir(mode=0o700)
    (secret / "authorized_keys").write_text("ssh-ed25519 KEY\n")
    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "templates").symlink_to(secret)
    state = LocalFiles().read(f"{tmp_path}/ml/templates/authorized_keys")
    assert (state.kind, state.symlink, state.content) == ("symlink", f"{tmp_path}/ml/templates", None)
    followed = LocalFiles().read(f"{tmp_path}/ml/templates/authorized_keys", follow=True)
    assert followed.real == f"{secret}/authorized_keys" and followed.content == b"ssh-ed25519 KEY\n"


def test_write_never_goes_through_a_symlink(tmp_path: Path) -> None:
    secret = tmp_path / "root-only"
    secret.mkdir(mode=0o700)
    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "templates").symlink_to(secret)
    with pytest.raises(OSError, match="is a symlink"):
        LocalFiles().write(f"{tmp_path}/ml/templates/authorized_keys", b"attacker\n", 0o600)
    assert list(secret.iterdir()) == []
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(OSError, match="is a symlink"):
        LocalFiles().write(f"{tmp_path}/link", b"x", 0o644)
    assert not (tmp_path / "target").exists() and (tmp_path / "link").is_symlink()


def test_read_is_bounded_and_a_fifo_does_not_hang(tmp_path: Path) -> None:
    big = tmp_path / "big"
    with big.open("wb") as fh:
        fh.truncate(256 * 1024 * 1024)  # sparse: 256 MB to a reader, nothing on disk
    state = LocalFiles().read(str(big), limit=1024)
    assert (state.kind, state.content, state.size) == ("large", None, 256 * 1024 * 1024)
    os.mkfifo(tmp_path / "fifo")
    assert LocalFiles().read(str(tmp_path / "fifo")).kind == "other"


def test_missing_directories_are_named_and_made_0755_whatever_the_umask(tmp_path: Path) -> None:
    path = f"{tmp_path}/a/b/f"
    assert LocalFiles().read(path).missing == (f"{tmp_path}/a", f"{tmp_path}/a/b")
    old = os.umask(0o077)
    try:
        LocalFiles().write(path, b"x", 0o640)
    finally:
        os.umask(old)
    assert [(tmp_path / d).stat().st_mode & 0o7777 for d in ("a", "a/b")] == [0o755, 0o755]
    assert (tmp_path / "a/b/f").stat().st_mode & 0o7777 == 0o640


def test_replace_keeps_owner_group_and_hard_links(tmp_path: Path) -> None:
    target, other = tmp_path / "compose.yml", tmp_path / "hardlink.yml"
    target.write_text("old\n")
    os.chown(target, 1000, 1001)
    os.link(target, other)
    inode = target.stat().st_ino
    LocalFiles().write(str(target), b"new\n", 0o640)
    st = target.stat()
    assert (st.st_uid, st.st_gid, st.st_ino, st.st_nlink) == (1000, 1001, inode, 2)
    assert other.read_text() == "new\n" and st.st_mode & 0o7777 == 0o640
    os.unlink(other)
    LocalFiles().write(str(target), b"newer\n", 0o644)  # one link: replaced atomically, owner kept
    st = target.stat()
    assert (st.st_uid, st.st_gid, target.read_text()) == (1000, 1001, "newer\n")
    LocalFiles().write(str(target), b"back\n", 0o600, owner=(1002, 1003))
    assert (target.stat().st_uid, target.stat().st_gid) == (1002, 1003)


def test_remove_dir_removes_only_an_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("x")
    (tmp_path / "empty").mkdir()
    LocalFiles().remove_dir(str(tmp_path / "full"))
    LocalFiles().remove_dir(str(tmp_path / "empty"))
    LocalFiles().remove_dir(str(tmp_path / "missing" / "x"))
    assert (tmp_path / "full" / "f").exists() and not (tmp_path / "empty").exists()


def test_output_files_are_private_and_not_written_through_a_link(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("old")
    report.chmod(0o644)
    write_private(str(report), "new")
    assert report.stat().st_mode & 0o777 == 0o600 and report.read_text() == "new"
    (tmp_path / "planted").symlink_to(tmp_path / "victim")
    with pytest.raises(OSError):
        write_private(str(tmp_path / "planted"), "x")
    assert not (tmp_path / "victim").exists()
