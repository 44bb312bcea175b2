"""What remediate reads from the engine follows the selection, not the engine's size: counted in
the engine calls ``-vv`` logs (counts, not timings; bench/selection.py measures the time).

Other containers (created, never started) are made before the selected ones: the engine's own
listing rules them out, so none of them is inspected, however many there are.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER_LABELS, Cli, remove_owned

pytestmark = pytest.mark.integration

PREFIX = "rt-cost-"
IMAGE = "remediate-test/busybox:1"
OTHERS = 40
SELECTED = 5


@dataclass
class Engine:
    """This test's containers: ``others`` (unselected) and ``selected`` (label ``rt-cost=<tag>``)."""

    tag: str
    others: dict[str, str]  # name -> id
    selected: dict[str, str]


@pytest.fixture
def engine(docker_client: Any) -> Iterator[Engine]:
    tag = uuid.uuid4().hex[:6]
    api = docker_client.api
    made = Engine(tag, {}, {})

    def create(name: str, labels: dict[str, str]) -> str:
        body = api.create_container(IMAGE, ["sleep", "3600"], name=name, labels={**OWNER_LABELS, **labels})
        return str(body["Id"])

    try:
        for i in range(OTHERS):
            name = f"{PREFIX}{tag}-other-{i:02d}"
            made.others[name] = create(name, {"rt-cost-other": tag})
        time.sleep(1.1)  # the selected ones are newer (the engine's Created is in seconds)
        for i in range(SELECTED):
            name = f"{PREFIX}{tag}-sel-{i}"
            made.selected[name] = create(name, {"rt-cost": tag})
            api.start(made.selected[name])
        yield made
    finally:
        remove_owned(docker_client, f"{PREFIX}{tag}")


def _playbook(tmp_path: Path, tag: str) -> str:
    path = tmp_path / "pb.yml"
    path.write_text(f"name: cost\ndescription: add an env var\nsafety: auto\nselect:\n  - labels: {{rt-cost: '{tag}'}}\n"
                    "changes:\n  - env: {COST_FLAG: '1'}\n")
    return str(path)


def _inspects(out: str, containers: dict[str, str]) -> int:
    """How many container inspects the log shows of ``containers`` (by name or id, as logged)."""
    refs = {*containers, *(ident[:12] for ident in containers.values())}
    found = re.findall(r"engine: inspect (\S+) \(", out)
    return sum(1 for ref in found if ref in refs)


def _image_inspects(out: str) -> list[str]:
    return re.findall(r"engine: inspect image (\S+) \(", out)


def test_a_named_container_is_the_only_one_inspected(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    target = next(iter(engine.selected))

    code, out = cli("apply", _playbook(tmp_path, engine.tag), "--dry-run", "--container", target, "-vv")

    assert code == 0, out
    assert "1 of 1 container(s) to change" in out, out
    assert _inspects(out, engine.others) == 0, out
    assert _inspects(out, {target: engine.selected[target]}) == 1, out
    assert len(_image_inspects(out)) == 1, out  # its reference names the image it runs: one inspect


def test_a_selection_inspects_the_selected_containers_once_each(cli: Cli, engine: Engine, tmp_path: Path) -> None:
    code, out = cli("apply", _playbook(tmp_path, engine.tag), "--dry-run", "-vv")

    assert code == 0, out
    assert f"{SELECTED} of {SELECTED} container(s) to change" in out, out
    assert _inspects(out, engine.others) == 0, out
    for name, ident in engine.selected.items():
        assert _inspects(out, {name: ident}) == 1, (name, out)
    assert len(_image_inspects(out)) == 1, out  # one image, inspected once


def test_diagnose_of_a_named_container_inspects_only_it(cli: Cli, engine: Engine) -> None:
    target = next(iter(engine.selected))

    code, out = cli("diagnose", "--container", target, "-vv")

    assert code == 0, out
    assert _inspects(out, engine.others) == 0, out
    assert _inspects(out, engine.selected) == 1, out


def test_identical_changes_are_shown_once_and_listed_per_container_in_json(cli: Cli, engine: Engine,
                                                                          tmp_path: Path) -> None:
    playbook = _playbook(tmp_path, engine.tag)

    code, out = cli("apply", playbook, "--dry-run")

    assert code == 0, out
    assert f"{SELECTED} of {SELECTED} container(s) to change" in out, out
    assert out.count("+ --env COST_FLAG=1") == 1, out  # one diff for the five
    [same] = [line.strip() for line in out.splitlines() if "the same on" in line]
    [shown] = [name for name in engine.selected if f"{name} (" in out]  # the one whose diff is shown
    head, _, others = same.partition(": ")
    assert head == f"the same on {SELECTED - 1} more", out
    assert set(others.split(", ")) == set(engine.selected) - {shown}, out

    code, out = cli("apply", playbook, "--dry-run", "--format", "json")

    assert code == 0, out
    containers = json.loads(out)["containers"]
    assert sorted(c["container"] for c in containers) == sorted(engine.selected)
    assert all("+ --env COST_FLAG=1" in c["diff"] for c in containers)
