"""Pure tests of neighbour ties and shared-file ownership, on plain inspect / journal dicts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import remediate
from remediate.core.planner import Observed, plan
from remediate.core.playbook import Playbook
from remediate.executor.record import Begin, Ended
from remediate.executor.sharing import needed_elsewhere
from remediate.executor.tie_lookup import dependents_of, joined, namespaces_joined, refers_to
from remediate.executor.transaction import Transaction
from remediate.output.plan import plan_json

CASES = Path(__file__).resolve().parents[1] / "cases"
X_ID = "75b726b001b73bb8b4e19b7087737b02faf59893316e0fdb3a95784b35be844b"


def _container(name: str, ident: str, **host_config: Any) -> dict[str, Any]:
    return {"Id": ident, "Name": f"/{name}", "HostConfig": host_config}


def test_a_reference_is_the_name_the_full_id_or_a_long_id_prefix() -> None:
    assert refers_to("x", "x", X_ID) and refers_to("/x", "x", X_ID)
    assert refers_to(X_ID, "x", X_ID) and refers_to(X_ID[:12], "x", X_ID)
    assert not refers_to(X_ID[:4], "x", X_ID)  # too short to be sure it is this one
    assert not refers_to("", "x", X_ID) and not refers_to("y", "x", X_ID)


def test_the_containers_a_joiner_joins_are_named_for_the_planner() -> None:
    x, y = _container("x", X_ID), _container("y", "d" * 64)
    joiner = _container("j", "b" * 64, IpcMode=f"container:{X_ID}", PidMode="container:y", NetworkMode="bridge")

    assert joined(joiner, [x, y, joiner]) == {"IpcMode": "x", "PidMode": "y"}
    assert joined(x, [x, y, joiner]) == {}


def test_ipc_pid_and_network_joiners_are_dependents_as_the_engine_records_them() -> None:
    # As 20.10 shows `--ipc container:x --pid container:x` and `--network container:x`: by full id.
    x = _container("x", X_ID, IpcMode="shareable")
    others = [
        x,
        _container("ipc-pid", "b" * 64, IpcMode=f"container:{X_ID}", PidMode=f"container:{X_ID}"),
        _container("net", "c" * 64, NetworkMode=f"container:{X_ID}", IpcMode="private"),
        _container("by-name", "d" * 64, PidMode="container:x"),
        _container("linked", "e" * 64, Links=["/x:/linked/app"]),
        _container("reader", "f" * 64, VolumesFrom=["x:ro"]),
        _container("alone", "1" * 64, IpcMode="private", NetworkMode="bridge"),
        _container("else", "2" * 64, IpcMode=f"container:{'9' * 64}"),
        _container("x-remediate-backup-20260101T000000000", "3" * 64, NetworkMode=f"container:{X_ID}"),
    ]

    assert dependents_of(x, others) == ("by-name", "ipc-pid", "linked", "net", "reader")
    assert namespaces_joined(others[1]["HostConfig"], "x", X_ID) == ("IpcMode", "PidMode")
    assert namespaces_joined(others[2]["HostConfig"], "x", X_ID) == ("NetworkMode",)
    assert namespaces_joined(others[4]["HostConfig"], "x", X_ID) == ()


def test_dependents_reach_the_plan_json() -> None:
    inspect = json.loads((CASES / "busybox-minimal" / "container.json").read_text())
    image = json.loads((CASES / "busybox-minimal" / "image.json").read_text())
    joiner = _container("joiner", "b" * 64, IpcMode=f"container:{inspect['Id']}")
    book = Playbook.model_validate({"name": "t", "description": "d", "select": {"name": "*"},
                                    "changes": [{"env": {"A": "1"}}]})

    p = plan(book, {}, [Observed(inspect, image, dependents_of(inspect, [inspect, joiner]))])

    assert plan_json(p)["containers"][0]["dependents"] == ["joiner"]


# --------------------------------------------------------------------------- shared files

def _two_vllms(content_b: str = "t") -> Playbook:
    return Playbook.model_validate({
        "name": "t", "description": "d", "select": {"name": "*"},
        "changes": [{"file": {"dest": "/etc/t.jinja", "content": "{{ 't' if container.name == 'a' else c }}"}},
                    {"mount": {"source": "/etc/t.jinja", "target": "/t"}}],
        "vars": {"c": content_b}})


def _observed_as(name: str) -> Observed:
    inspect = json.loads((CASES / "busybox-minimal" / "container.json").read_text())
    image = json.loads((CASES / "busybox-minimal" / "image.json").read_text())
    return Observed(dict(inspect, Name=f"/{name}", Id=name * 64), image)


def test_the_plan_knows_which_containers_need_which_file() -> None:
    p = plan(_two_vllms(), {"c": "t"}, [_observed_as("a"), _observed_as("b")])

    assert p.file_users() == {"/etc/t.jinja": ("a", "b")}
    files = [c["files"][0]["shared_with"] for c in plan_json(p)["containers"]]
    assert files == [["b"], ["a"]]


def test_one_path_written_with_two_contents_is_refused() -> None:
    with pytest.raises(remediate.PlanError, match="/etc/t.jinja would be written with different content "
                                                  "for containers a and b"):
        plan(_two_vllms(), {"c": "other"}, [_observed_as("a"), _observed_as("b")])


def _tx(tx: str, container: str, result: str | None, *, run: str = "r1", new_id: str = "",
        files: tuple[str, ...] = ("/etc/t.jinja",), written: str = "ab12") -> Transaction:
    t = Transaction(begin=Begin(tx=tx, kind="apply", container=container, old_id=f"{container}1", run=run,
                                files=[{"path": p, "saved": None, "mode": None, "written": written} for p in files]))
    if result is not None:
        t.end = Ended(tx=tx, result=result, new_id=new_id or None)
    return t


def test_a_file_stays_while_another_container_of_the_apply_keeps_the_new_version() -> None:
    journal = [_tx("t1", "a", "recreated", new_id="a2"), _tx("t2", "b", None)]

    assert needed_elsewhere(journal, "t2", {"a": "a2", "b": "b1"}) == {"/etc/t.jinja"}


@pytest.mark.parametrize(("journal", "ids"), [
    ([_tx("t1", "a", "rolled back"), _tx("t2", "b", None)], {"a": "a1"}),           # a failed first
    ([_tx("t1", "a", "recreated", new_id="a2"), _tx("t2", "b", None)], {"a": "a3"}),  # a changed since
    ([_tx("t1", "a", "recreated", new_id="a2"), _tx("t2", "b", None)], {}),           # a is gone
    ([_tx("t1", "a", "recreated", new_id="a2", run="r0"), _tx("t2", "b", None)], {"a": "a2"}),  # another apply
    ([_tx("t1", "a", "recreated", new_id="a2", files=("/other",)), _tx("t2", "b", None)], {"a": "a2"}),
    ([_tx("t1", "b", "recreated", new_id="b2"), _tx("t2", "b", None)], {"b": "b2"}),  # the same container
    # another content: a compose file the second service's edit built on the first's (its own saved copy)
    ([_tx("t1", "a", "recreated", new_id="a2", written="cd34"), _tx("t2", "b", None)], {"a": "a2"}),
])
def test_a_file_is_put_back_when_no_other_container_keeps_it(journal: list[Transaction], ids: dict[str, str]) -> None:
    assert needed_elsewhere(journal, "t2", ids) == set()


def test_a_transaction_without_a_run_owns_its_files_alone() -> None:
    old = _tx("t2", "b", None)
    old.begin = old.begin.model_copy(update={"run": None})

    assert needed_elsewhere([_tx("t1", "a", "recreated", new_id="a2"), old], "t2", {"a": "a2"}) == set()
