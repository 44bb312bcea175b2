"""Planning a compose service: the compose file edit joins the plan's files (captured inspect JSON, no Docker)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from remediate.core.paths import HostPath
from remediate.core.planner import Observed, host_paths_needed, plan
from remediate.core.playbook import Playbook
from remediate.errors import PlanError
from remediate.output.plan import plan_json

CASES = Path(__file__).resolve().parents[1] / "cases"
COMPOSE = "services:\n  app:\n    image: busybox  # pinned\n    environment:\n      - A=1\n"


def compose_obs(name: str = "p-app-1", service: str = "app", files: str = "compose.yml") -> Observed:
    inspect = copy.deepcopy(json.loads((CASES / "busybox-minimal" / "container.json").read_text()))
    inspect["Name"] = f"/{name}"
    inspect["Config"]["Labels"] = {
        "com.docker.compose.project": "p", "com.docker.compose.service": service,
        "com.docker.compose.project.config_files": files, "com.docker.compose.project.working_dir": "/srv/p",
        "com.docker.compose.version": "1.29.2", "com.docker.compose.oneoff": "False"}
    return Observed(inspect, json.loads((CASES / "busybox-minimal" / "image.json").read_text()))


def book(**fields: Any) -> Playbook:
    return Playbook.model_validate({"name": "t", "description": "d", "select": {"name": "*"}, **fields})


def test_compose_files_are_read_relative_to_the_working_dir() -> None:
    assert host_paths_needed(book(changes=[{"env": {"B": "2"}}]), {}, [compose_obs()]) == {"/srv/p/compose.yml": True}


def test_the_change_is_planned_as_a_compose_file_write_too() -> None:
    paths = {"/srv/p/compose.yml": HostPath(True, COMPOSE.encode(), 0o640)}
    [cp] = plan(book(changes=[{"env": {"B": "2"}}]), {}, [compose_obs()], host_paths=paths).containers
    [write] = cp.files
    assert (write.path, write.mode, write.before) == ("/srv/p/compose.yml", 0o640, COMPOSE.encode())
    assert write.content.decode() == COMPOSE + "      - B=2\n"
    data = plan_json(plan(book(changes=[{"env": {"B": "2"}}]), {}, [compose_obs()], host_paths=paths))
    [shown] = data["containers"]
    assert shown["compose"]["service"] == "app" and shown["compose"]["config_files"] == ["compose.yml"]
    assert "+      - B=2" in shown["files"][0]["diff"]
    assert any(n.startswith("compose: the change is written to /srv/p/compose.yml") for n in shown["notes"])


def test_container_only_leaves_the_file_and_warns() -> None:
    paths = {"/srv/p/compose.yml": HostPath(True, COMPOSE.encode(), 0o644)}
    [cp] = plan(book(changes=[{"env": {"B": "2"}}]), {}, [compose_obs()], host_paths=paths,
                container_only=True).containers
    assert cp.files == () and cp.action == "recreate"
    assert cp.notes[-1].startswith("compose (warning): --container-only: /srv/p/compose.yml is not changed")


def test_no_change_writes_nothing() -> None:
    paths = {"/srv/p/compose.yml": HostPath(True, COMPOSE.encode(), 0o644)}
    same = {"env": {"PATH": "/usr/local/bin:/usr/bin:/bin"}}  # what the container has already
    [cp] = plan(book(changes=[same]), {}, [compose_obs()], host_paths=paths).containers
    assert cp.action == "none" and cp.files == ()


def test_missing_file_or_service_is_refused() -> None:
    with pytest.raises(PlanError, match="compose file /srv/p/compose.yml of project p is not on the Docker host"):
        plan(book(changes=[{"env": {"B": "2"}}]), {}, [compose_obs()], host_paths={})
    paths = {"/srv/p/compose.yml": HostPath(True, COMPOSE.encode(), 0o644)}
    with pytest.raises(PlanError, match="no compose file of project p defines service other"):
        plan(book(changes=[{"env": {"B": "2"}}]), {}, [compose_obs(service="other")], host_paths=paths)


def test_two_services_of_one_file_are_edited_in_turn_in_one_plan() -> None:
    text = COMPOSE + "  db:\n    image: busybox\n"
    paths = {"/srv/p/compose.yml": HostPath(True, text.encode(), 0o644)}
    app, db = plan(book(changes=[{"env": {"B": "2"}}]), {}, [compose_obs(), compose_obs("p-db-1", "db")],
                   host_paths=paths).containers
    [first], [second] = app.files, db.files
    assert first.before == text.encode() and second.before == first.content  # the second builds on the first
    assert second.content.decode() == (
        "services:\n  app:\n    image: busybox  # pinned\n    environment:\n      - A=1\n      - B=2\n"
        "  db:\n    image: busybox\n    environment:\n      B: '2'\n")

