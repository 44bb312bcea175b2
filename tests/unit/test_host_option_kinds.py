"""The tmpfs, ipc and shm_size change kinds on inspect-JSON fixtures: schema errors, sizes as docker
reads them, planning (no-ops with reasons, refusals), the ``docker run`` view, saved plans, the
compose edit, and the fix-all conflict check."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from remediate.core.compose_edit import ComposeEditRefused, edit_project
from remediate.core.fixall import merge_fixes
from remediate.core.host_options import check_tmpfs_options, parse_size, size_text
from remediate.core.planner import ContainerPlan, Observed, plan
from remediate.core.playbook import Playbook, load_playbook
from remediate.core.runview import run_lines
from remediate.core.spec import ContainerSpec
from remediate.errors import PlanError, PlaybookError
from remediate.output.plan import container_plan_json

CASES = Path(__file__).resolve().parents[1] / "cases"


def observed(case: str, **host_config: Any) -> Observed:
    inspect = json.loads((CASES / case / "container.json").read_text())
    inspect["HostConfig"] = {**inspect["HostConfig"], **host_config}
    return Observed(inspect, json.loads((CASES / case / "image.json").read_text()))


def book(*changes: Any, name: str = "t") -> Playbook:
    return Playbook.model_validate({"name": name, "description": "d", "select": {"name": "*"},
                                    "changes": list(changes)})


def one(case: str, *changes: Any, vars: dict[str, Any] | None = None, **host_config: Any) -> ContainerPlan:
    return plan(book(*changes), vars or {}, [observed(case, **host_config)]).containers[0]


@pytest.mark.parametrize(("text", "size"), [
    ("8g", 8 << 30), ("8G", 8 << 30), ("8gb", 8 << 30), ("8GiB", 8 << 30), ("64m", 64 << 20), ("512k", 512 << 10),
    ("1.5g", 3 << 29), ("100", 100), ("8 g", 8 << 30), (8589934592, 8 << 30),
])
def test_sizes_are_binary_as_docker_reads_them(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["0", "-1", "8x", "8g!", "", "g", "8 gigs"])
def test_what_is_not_a_size_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size(text)


def test_sizes_are_shown_in_their_shortest_exact_form() -> None:
    assert [size_text(n) for n in (8 << 30, 64 << 20, 3 << 29, 1000, 1024)] == ["8g", "64m", "1536m", "1000", "1k"]


@pytest.mark.parametrize(("change", "message"), [
    ({"ipc": "sharable"}, "ipc 'sharable' is not one of host, private, shareable, none or container:NAME"),
    ({"ipc": "container:"}, "is not one of"),
    ({"ipc": "container:a b"}, "is not one of"),
    ({"shm_size": "8 gigs"}, "'8 gigs' is not a size"),
    ({"shm_size": 0}, "must be more than 0"),
    ({"shm_size": True}, "shm_size"),
    ({"tmpfs": {"target": "tmp"}}, "target must be an absolute path"),
    ({"tmpfs": {"target": "/tmp", "options": "rw,size=64q"}}, "'64q' is not a size value"),
    ({"tmpfs": {"target": "/tmp", "options": "rw,exec,bogus"}}, "tmpfs option 'bogus' is not one the engine takes"),
    ({"tmpfs": {"target": "/tmp", "options": "mode=999"}}, "is not a mode value"),
    ({"tmpfs": {"target": "/tmp", "state": "absent", "options": "rw"}}, "state: absent takes only target"),
    ({"tmpfs": {"target": "/tmp:x"}}, "must not contain ':'"),
])
def test_bad_values_are_one_line_playbook_errors(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    assert_one_line_error(change, message, tmp_path)


def assert_one_line_error(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    """A playbook making ``change`` is refused on load in one line that names the change and says ``message``."""
    path = tmp_path / "p.yml"
    path.write_text(yaml.safe_dump({"name": "t", "description": "d", "select": {"name": "*"}, "changes": [change]}))

    with pytest.raises(PlaybookError) as err:
        load_playbook(str(path))

    assert str(err.value).startswith(f"{path}: changes[0].{next(iter(change))}") and message in str(err.value)
    assert "\n" not in str(err.value)


def test_tmpfs_options_the_engine_takes() -> None:
    assert check_tmpfs_options("rw,noexec,nosuid,size=64m,mode=1777,uid=1000,nr_inodes=5k") == (
        "rw,noexec,nosuid,size=64m,mode=1777,uid=1000,nr_inodes=5k")
    assert check_tmpfs_options("") == ""


def test_a_tmpfs_is_added_shown_in_the_run_view_and_a_second_run_is_a_no_op() -> None:
    cp = one("busybox-minimal", {"tmpfs": {"target": "/tmp", "options": "rw,size=64m"}})

    assert [(c.field, c.before, c.after, c.action) for c in cp.changes] == [
        ("tmpfs./tmp", None, "/tmp:rw,size=64m", "recreate")]
    assert cp.after.host_config["Tmpfs"] == {"/tmp": "rw,size=64m"}
    assert "+ --tmpfs /tmp:rw,size=64m" in container_plan_json(cp)["diff"]
    again = one("busybox-minimal", {"tmpfs": {"target": "/tmp", "options": "size=64m,rw"}}, Tmpfs={"/tmp": "rw,size=64m"})
    assert again.action == "none" and [c.reason for c in again.changes] == ["already mounted"]


def test_a_tmpfs_with_other_options_replaces_it_and_absent_removes_it() -> None:
    cp = one("kitchen-sink", {"tmpfs": {"target": "/run/t", "options": "size=2m"}})
    assert cp.after.host_config["Tmpfs"] == {"/run/t": "size=2m"}
    assert [(c.before, c.after) for c in cp.changes] == [("/run/t:size=1m", "/run/t:size=2m")]

    gone = one("kitchen-sink", {"tmpfs": {"target": "/run/t", "state": "absent"}})
    assert "Tmpfs" not in gone.after.host_config and "- --tmpfs /run/t:size=1m" in container_plan_json(gone)["diff"]
    nothing = one("busybox-minimal", {"tmpfs": {"target": "/run/t", "state": "absent"}})
    assert nothing.action == "none" and [c.reason for c in nothing.changes] == ["no tmpfs there"]


def test_a_mount_tmpfs_is_replaced_or_removed_too() -> None:
    mounts = [{"Type": "tmpfs", "Target": "/scratch", "TmpfsOptions": {"SizeBytes": 1048576}}]
    cp = one("busybox-minimal", {"tmpfs": {"target": "/scratch"}}, Mounts=mounts)
    assert "Mounts" not in cp.after.host_config and cp.after.host_config["Tmpfs"] == {"/scratch": ""}
    gone = one("busybox-minimal", {"tmpfs": {"target": "/scratch", "state": "absent"}}, Mounts=mounts)
    assert "Mounts" not in gone.after.host_config and "Tmpfs" not in gone.after.host_config


@pytest.mark.parametrize(("case", "target", "message"), [
    ("kitchen-sink", "/mb", "a bind or volume is mounted there; remove it first"),
    ("kitchen-sink", "/v", "a bind or volume is mounted there"),
    ("anon-volume", "/data", "an anonymous volume is there"),
])
def test_a_tmpfs_over_another_mount_is_refused(case: str, target: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        one(case, {"tmpfs": {"target": target}})


def test_ipc_is_set_compared_and_container_refs_resolved() -> None:
    cp = one("busybox-minimal", {"ipc": "host"})
    assert [(c.field, c.before, c.after, c.action) for c in cp.changes] == [("ipc", "private", "host", "recreate")]
    assert "+ --ipc host" in container_plan_json(cp)["diff"]
    assert any(n.startswith("ipc (warning): host") for n in cp.notes)
    assert one("busybox-minimal", {"ipc": "private"}).action == "none"

    joined = replace(observed("busybox-minimal", IpcMode="container:" + "a" * 64), joined={"IpcMode": "donor"})
    same = plan(book({"ipc": "container:donor"}), {}, [joined]).containers[0]
    assert same.action == "none" and [c.reason for c in same.changes] == ["already set"]
    other = plan(book({"ipc": "container:other"}), {}, [joined]).containers[0]
    assert other.after.host_config["IpcMode"] == "container:other"
    assert any("other must be running with ipc shareable" in n for n in other.notes)
    with pytest.raises(PlanError, match="cannot join its own IPC namespace"):
        one("busybox-minimal", {"ipc": f"container:{observed('busybox-minimal').name}"})


def test_ipc_as_a_template_is_checked_once_rendered() -> None:
    assert one("busybox-minimal", {"ipc": "{{ mode }}"}, vars={"mode": "shareable"}).after.host_config["IpcMode"] == (
        "shareable")
    with pytest.raises(PlaybookError, match=r"changes\[0\].ipc: .*is not one of"):
        one("busybox-minimal", {"ipc": "{{ mode }}"}, vars={"mode": "everything"})


def test_shm_size_is_set_in_bytes_and_shown_as_docker_writes_it() -> None:
    cp = one("busybox-minimal", {"shm_size": "8g"})

    assert [(c.field, c.before, c.after, c.action) for c in cp.changes] == [("shm_size", "64m", "8g", "recreate")]
    assert cp.after.host_config["ShmSize"] == 8 << 30
    assert "+ --shm-size 8589934592" in container_plan_json(cp)["diff"]
    assert one("busybox-minimal", {"shm_size": "64MiB"}).action == "none"
    assert one("busybox-minimal", {"shm_size": "{{ s }}"}, vars={"s": "1g"}).after.host_config["ShmSize"] == 1 << 30
    host = one("busybox-minimal", {"ipc": "host"}, {"shm_size": "8g"})
    assert any(n.startswith("shm_size (warning): with ipc host") for n in host.notes)


def test_the_run_views_reproduce_both_specs() -> None:
    cp = one("kitchen-sink", {"tmpfs": {"target": "/scratch", "options": "size=8m"}}, {"ipc": "host"},
             {"shm_size": "1g"})
    after = " ".join(run_lines(cp.after))

    assert "--tmpfs /scratch:size=8m" in after and "--ipc host" in after and "--shm-size 1073741824" in after
    assert "--tmpfs /run/t:size=1m" in after


def test_a_saved_plan_keeps_the_new_values() -> None:
    cp = one("busybox-minimal", {"tmpfs": {"target": "/tmp"}}, {"ipc": "shareable"}, {"shm_size": "128m"})
    again = ContainerSpec.from_json(json.loads(json.dumps(cp.after.to_json())))

    assert again.comparable() == cp.after.comparable()
    assert again.host_config["Tmpfs"] == {"/tmp": ""} and again.host_config["ShmSize"] == 128 << 20


def spec(**host_config: Any) -> ContainerSpec:
    return ContainerSpec("c", "i", host_config=host_config)


def test_compose_edit_sets_ipc_and_shm_size_where_compose_takes_them() -> None:
    base = "services:\n  vllm:\n    image: v\n    ipc: private   # default\n"
    override = "services:\n  vllm:\n    shm_size: 1g\n"
    edit = edit_project([("a.yml", base), ("b.yml", override)], "vllm", spec(IpcMode="private", ShmSize=1 << 30),
                        spec(IpcMode="host", ShmSize=8 << 30))

    assert edit is not None
    assert edit.texts == {"a.yml": base.replace("ipc: private   ", "ipc: host      "),
                          "b.yml": override.replace("1g", "8g")}
    with pytest.raises(ComposeEditRefused, match=r"^a.yml:4: ipc comes from \$\{VAR\}"):
        edit_project([("a.yml", base.replace("private", "${IPC}"))], "vllm", spec(), spec(IpcMode="host"))


def test_compose_edit_of_tmpfs_entries() -> None:
    text = "services:\n  gw:\n    image: g\n    tmpfs:\n      - /run   # pid files\n      - /tmp:size=1m\n"

    def edit(before: dict[str, str], after: dict[str, str], source: str = text) -> str:
        done = edit_project([("c.yml", source)], "gw", spec(Tmpfs=before), spec(Tmpfs=after))
        assert done is not None
        return done.texts["c.yml"]

    assert edit({"/run": "", "/tmp": "size=1m"}, {"/run": "", "/tmp": "rw,size=64m"}) == text.replace(
        "      - /tmp:size=1m\n", "      - /tmp:rw,size=64m\n")
    assert edit({"/run": "", "/tmp": "size=1m"}, {"/run": ""}) == text.replace("      - /tmp:size=1m\n", "")
    assert edit({"/run": "", "/tmp": "size=1m"}, {}) == "services:\n  gw:\n    image: g\n"
    single = "services:\n  gw:\n    image: g\n    tmpfs: /run\n"
    assert edit({"/run": ""}, {"/run": "", "/tmp": "size=64m"}, single) == (
        "services:\n  gw:\n    image: g\n    tmpfs:\n      - /run\n      - /tmp:size=64m\n")
    assert edit({}, {"/tmp": "size=64m"}, "services:\n  gw:\n    image: g\n") == (
        "services:\n  gw:\n    image: g\n    tmpfs:\n      - /tmp:size=64m\n")
    with pytest.raises(ComposeEditRefused, match=r"c.yml:5: the tmpfs at /tmp comes from \$\{VAR\}"):
        edit({"/tmp": "size=1m"}, {}, "services:\n  gw:\n    image: g\n    tmpfs:\n    - /tmp:${SIZE}\n")


def test_fix_all_refuses_two_fixes_that_set_ipc_or_shm_size_differently() -> None:
    a, b = book({"ipc": "host"}, {"shm_size": "8g"}, name="a"), book({"shm_size": "8192m"}, name="b")
    assert len(merge_fixes({"c": [a, b]})) == 1  # the same size, spelled otherwise
    with pytest.raises(PlaybookError, match="ipc"):
        merge_fixes({"c": [a, book({"ipc": "shareable"}, name="c")]})
