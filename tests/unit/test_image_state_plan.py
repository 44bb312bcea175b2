"""Planning keeps the image a container runs and whether it runs (pure, on captured inspect JSON)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from remediate.core.planner import Observed, RunState, fingerprint, plan, run_state
from remediate.core.playbook import Playbook, render_start
from remediate.core.spec import create_body, pinned, spec_from_inspect
from remediate.errors import PlanError, PlaybookError
from remediate.output.plan import run_diff

CASES = Path(__file__).resolve().parents[1] / "cases"
OTHER = "sha256:" + "b" * 64


def observed(case: str = "busybox-minimal", *, state: dict[str, Any] | None = None, **fields: Any) -> Observed:
    inspect = json.loads((CASES / case / "container.json").read_text())
    inspect["State"] = {"Status": "running", "Running": True, "Paused": False, **(state or {})}
    return Observed(inspect, json.loads((CASES / case / "image.json").read_text()), **fields)


def book(**fields: Any) -> Playbook:
    data: dict[str, Any] = {"name": "t", "description": "d", "select": {"name": "*"},
                            "changes": [{"env": {"FIX": "1"}}], **fields}
    return Playbook.model_validate(data)


# --------------------------------------------------------------------------- the image

def test_the_spec_knows_the_image_it_runs_and_shows_the_reference() -> None:
    obs = observed()
    spec = spec_from_inspect(obs.inspect, obs.image)
    assert spec.image == obs.inspect["Config"]["Image"] and spec.image_id == obs.inspect["Image"]
    assert create_body(spec)[0]["Image"] == spec.image


def test_pinned_keeps_the_reference_only_while_it_names_the_image() -> None:
    spec = spec_from_inspect(observed().inspect, observed().image)
    assert pinned(spec, spec.image_id) is spec
    assert pinned(spec, OTHER).image == spec.image_id
    assert pinned(spec, None).image == spec.image_id  # the reference names no image any more
    assert pinned(spec.replace(image_id=None), OTHER) == spec.replace(image_id=None)  # unknown: as it is


def test_a_tag_in_place_keeps_the_tag() -> None:
    [cp] = plan(book(), {}, [observed()]).containers
    assert cp.after.image == cp.before.image and not any(n.startswith("image") for n in cp.notes)


@pytest.mark.parametrize("retagged", [OTHER, ""], ids=["moved", "removed"])
def test_a_moved_or_removed_tag_pins_the_image_and_says_so(retagged: str) -> None:
    obs = observed(retagged=retagged)
    [cp] = plan(book(), {}, [obs]).containers

    assert cp.after.image == obs.inspect["Image"] and cp.after.image_id == obs.inspect["Image"]
    assert create_body(cp.after)[0]["Image"] == obs.inspect["Image"]
    assert f"+ {obs.inspect['Image']}" in run_diff(cp.before, cp.after)
    assert cp.notes[0].startswith(f"image (warning): {cp.before.image} "
                                  + (f"now names image {'b' * 12}" if retagged else "names no image any more"))


def test_a_moved_tag_alone_changes_nothing() -> None:
    [cp] = plan(book(changes=[{"env": {"FIX": None}}]), {}, [observed(retagged=OTHER)]).containers
    assert cp.action == "none" and cp.after == cp.before and cp.notes == ()


def test_a_platform_change_follows_the_reference() -> None:
    [cp] = plan(book(changes=[{"platform": "linux/arm64"}]), {}, [observed(retagged=OTHER)]).containers
    assert cp.after.image == cp.before.image and cp.after.image_id is None


def test_a_gone_image_is_refused_only_when_recreating() -> None:
    obs = observed()
    gone = Observed(obs.inspect, None)
    with pytest.raises(PlanError, match=r"runs image [0-9a-f]{12}, which is no longer on the Docker host"):
        plan(book(), {}, [gone])
    assert plan(book(changes=[{"env": {"FIX": None}}]), {}, [gone]).containers[0].action == "none"


def test_the_fingerprint_covers_the_image_its_tag_and_the_state() -> None:
    obs = observed()
    other_image = copy.deepcopy(obs.inspect)
    other_image["Image"] = OTHER
    prints = {fingerprint(obs), fingerprint(Observed(other_image, obs.image)), fingerprint(observed(retagged=OTHER)),
              fingerprint(observed(state={"Paused": True})), fingerprint(observed(state={"Running": False}))}
    assert len(prints) == 5
    assert fingerprint(observed()) == fingerprint(obs)


# --------------------------------------------------------------------------- container state

@pytest.mark.parametrize(("state", "expected"), [
    ({}, RunState.RUNNING),
    ({"Status": "restarting", "Restarting": True}, RunState.RUNNING),
    ({"Status": "paused", "Paused": True}, RunState.PAUSED),
    ({"Status": "exited", "Running": False}, RunState.STOPPED),
    ({"Status": "created", "Running": False}, RunState.STOPPED),
    ({"Status": "dead", "Running": False}, RunState.STOPPED),
])
def test_run_state(state: dict[str, Any], expected: RunState) -> None:
    assert run_state(observed(state=state).inspect) is expected


def test_auto_remove_is_refused_when_recreating() -> None:
    obs = observed()
    obs.inspect["HostConfig"]["AutoRemove"] = True
    with pytest.raises(PlanError, match=r"was started with --rm \(AutoRemove\): stopping it deletes it"):
        plan(book(), {}, [obs])
    assert plan(book(changes=[{"env": {"FIX": None}}]), {}, [obs]).containers[0].action == "none"


def test_running_stays_running_without_a_note() -> None:
    [cp] = plan(book(start=True), {}, [observed()]).containers
    assert (cp.state, cp.start, cp.state_after, cp.notes) == (RunState.RUNNING, False, RunState.RUNNING, ())


def test_paused_stays_paused() -> None:
    [cp] = plan(book(start=True), {}, [observed(state={"Status": "paused", "Paused": True})]).containers
    assert (cp.state_after, cp.start) == (RunState.PAUSED, False)
    assert cp.notes[0].startswith("state: paused: the new container is started and paused again")


def test_stopped_stays_stopped_unless_the_playbook_starts_it() -> None:
    exited = observed(state={"Status": "exited", "Running": False, "ExitCode": 3})
    [kept] = plan(book(), {}, [exited]).containers
    assert kept.state_after is RunState.STOPPED
    assert kept.notes[0].startswith("state: exited: the new container is created, not started")

    [started] = plan(book(start="{{ start_stopped }}", vars={"start_stopped": False}), {"start_stopped": "yes"},
                     [exited]).containers
    assert started.start and started.state_after is RunState.RUNNING
    assert started.notes[0] == "state: exited (exit code 3): the new container is started (playbook start), " \
                               "and verified fully"


@pytest.mark.parametrize(("value", "expected"), [(True, True), ("no", False), ("{{ s }}", True)])
def test_render_start(value: Any, expected: bool) -> None:
    assert render_start(book(start=value), {"s": "true"}) is expected


def test_a_start_that_is_not_a_bool_is_refused() -> None:
    with pytest.raises(PlaybookError, match="start: not true or false"):
        render_start(book(start="{{ s }}"), {"s": "maybe"})
    with pytest.raises(ValueError, match="valid boolean"):
        book(start="maybe")
