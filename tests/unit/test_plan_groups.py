"""Identical changes on many containers: planned per container, shown once per group. The text
view makes the JSON view of one container per group of identical plans, and shows exactly what
grouping every container's view showed (:func:`remediate.cli.views.same_change`). Pure: inspect
JSON captured from a real engine (tests/cases), copied under other names and ids."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from remediate.cli.views import same_change, shown_once
from remediate.core.planner import Observed, Plan, plan
from remediate.core.playbook import Playbook
from remediate.output.plan import identical_plans, plan_json

CASES = Path(__file__).resolve().parents[1] / "cases"


def _copy(case: str, name: str, **config: Any) -> Observed:
    """The case's container as if it were called ``name`` (its own id), with ``config`` set."""
    inspect = copy.deepcopy(json.loads((CASES / case / "container.json").read_text()))
    inspect["Name"], inspect["Id"] = f"/{name}", name.encode().hex().ljust(64, "0")[:64]
    inspect["Config"].update(config)
    return Observed(inspect, json.loads((CASES / case / "image.json").read_text()))


def _plan(containers: list[Observed], env: dict[str, str] | None = None) -> Plan:
    book = Playbook.model_validate({"name": "t", "description": "d", "select": {"name": "*"},
                                    "changes": [{"env": env or {"FLAG": "1"}}]})
    return plan(book, {}, containers, engine_api="1.41")


def _shown_before(p: Plan) -> list[tuple[dict[str, Any], list[str]]]:
    """What the text view showed before identical plans were grouped: every container's view."""
    return [(group[0], [cp["container"] for cp in group[1:]]) for group in same_change(plan_json(p)["containers"])]


def test_containers_that_differ_only_in_name_and_id_are_one_group() -> None:
    p = _plan([_copy("busybox-minimal", n) for n in ("a", "b", "c")]
              + [_copy("busybox-minimal", "d", Env=["OTHER=1"]), _copy("busybox-minimal", "e")])

    assert [[cp.name for cp in group] for group in identical_plans(p)] == [["a", "b", "c", "e"], ["d"]]
    assert [(data["container"], others) for data, others in shown_once(p)] == [("a", ["b", "c", "e"]), ("d", [])]


def test_a_change_that_spells_the_container_s_name_is_not_one_group() -> None:
    p = _plan([_copy("busybox-minimal", n) for n in ("a", "b")], env={"SELF": "{{ container.name }}"})

    assert [[cp.name for cp in group] for group in identical_plans(p)] == [["a"], ["b"]]
    assert [(data["container"], others) for data, others in shown_once(p)] == [("a", []), ("b", [])]


@pytest.mark.parametrize("containers", [
    pytest.param(lambda: [_copy("busybox-minimal", n) for n in ("a", "b", "c")], id="identical"),
    pytest.param(lambda: [_copy("busybox-minimal", "a"), _copy("db", "b"), _copy("busybox-minimal", "c")],
                 id="two kinds interleaved"),
    # A second network is joined by `docker network connect NET NAME`: the name is in the diff.
    pytest.param(lambda: [_copy("two-networks", n) for n in ("a", "b")], id="network connect lines"),
    pytest.param(lambda: [_copy("busybox-minimal", "web"), _copy("busybox-minimal", "busybox")],
                 id="a name that is also part of the image"),
    pytest.param(lambda: [_copy("busybox-minimal", "a", Env=["HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz"]),
                          _copy("busybox-minimal", "b", Env=["HF_TOKEN=hf_abcdefghijklmnopqrstuvwxyz"])],
                 id="secrets masked alike"),
])
def test_the_text_view_shows_what_it_showed_with_every_container_s_view(containers: Any) -> None:
    p = _plan(containers())

    assert shown_once(p) == _shown_before(p)
