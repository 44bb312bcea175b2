"""The ``image`` change kind (an upgrade by faithful recreate) on inspect JSON captured from a real
engine (tests/cases/upgrade: a container of tag 1 with user-set env and labels, tag 2's image):
schema, planning (re-derived vs kept settings), the docker run view, the plan JSON and its drift,
the compose edit. No Docker."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from remediate.core import image_ref
from remediate.core.compose_edit import ComposeEditRefused, edit_project
from remediate.core.drift import host_drift
from remediate.core.fields import IMAGE_DEFAULTS
from remediate.core.planner import Observed, images_needed, plan
from remediate.core.playbook import Playbook
from remediate.core.runview import run_view
from remediate.core.spec import ContainerSpec, create_body
from remediate.errors import PlaybookError
from remediate.output.plan import plan_json

CASE = Path(__file__).resolve().parents[1] / "cases" / "upgrade"
NEW = "rt-fid-cap/upgrade:2"


def load(name: str) -> dict[str, Any]:
    return json.loads((CASE / name).read_text())


def observed() -> Observed:
    return Observed(load("container.json"), load("image.json"))


def book(*changes: dict[str, Any], **fields: Any) -> Playbook:
    return Playbook.model_validate({"name": "up", "description": "d", "select": {"name": "*"},
                                    "changes": list(changes), **fields})


def upgraded(*changes: dict[str, Any], images: dict[str, Any] | None = None) -> Any:
    found = {NEW: load("new-image.json")} if images is None else images
    [cp] = plan(book(*changes or ({"image": NEW},)), {}, [observed()], images=found).containers
    return cp


# --------------------------------------------------------------------------- schema

@pytest.mark.parametrize("ref", ["vllm/vllm-openai:v0.18.1", "nginx", "127.0.0.1:5000/a/b:1",
                                 "repo@sha256:" + "a" * 64, ("registry.gitlab.com/gitlab-org/modelops/applied-ml/"
                                 "code-suggestions/ai-assist/model-gateway:self-hosted-{{ version }}-ee")])
def test_a_tag_a_digest_or_a_template_is_accepted(ref: str) -> None:
    assert book({"image": ref}).changes[0].image == ref  # type: ignore[union-attr]


@pytest.mark.parametrize(("ref", "why"), [
    ("vllm/VLLM-openai:1", "must be lowercase"),
    ("a:b:c", "invalid reference format"),
    ("repo@sha256:abc", "invalid reference format"),
    ("", "at least one component"),
    ("sha256:" + "a" * 64, "is an image id, not a reference"),
    ("a" * 64, "64-byte hexadecimal"),
])
def test_a_malformed_reference_is_one_line_naming_the_field(ref: str, why: str, tmp_path: Path) -> None:
    from remediate.core.playbook import load_playbook

    path = tmp_path / "p.yml"
    path.write_text(json.dumps({"name": "up", "description": "d", "select": {"name": "*"},
                                "changes": [{"env": {"A": "1"}}, {"image": ref}]}))
    with pytest.raises(PlaybookError) as err:
        load_playbook(str(path))
    assert "\n" not in err.value.message
    assert err.value.message.startswith(f"{path}: changes[1].image: ")
    assert why in err.value.message


def test_a_template_is_checked_once_rendered() -> None:
    playbook = book({"image": "rt-fid-cap/upgrade:{{ tag }}"}, vars={"tag": "2"})
    assert images_needed(playbook, {"tag": "2"}, [observed()]) == [NEW]
    with pytest.raises(PlaybookError, match=r"changes\[0\]\.image: 'rt-fid-cap/upgrade:bad tag' is not an image "):
        images_needed(playbook, {"tag": "bad tag"}, [observed()])


def test_references_compare_however_written() -> None:
    assert image_ref.same_reference("nginx", "docker.io/library/nginx:latest")
    assert not image_ref.same_reference("nginx:1", "nginx:2")
    assert image_ref.canonical("vllm/vllm-openai@sha256:" + "b" * 64) == "docker.io/vllm/vllm-openai@sha256:" + "b" * 64


def test_the_field_table_names_what_an_image_supplies() -> None:
    assert set(IMAGE_DEFAULTS) == {"User", "ExposedPorts", "Env", "Cmd", "Healthcheck", "Volumes", "WorkingDir",
                                   "Entrypoint", "Labels", "StopSignal"}


# --------------------------------------------------------------------------- planning

def test_upgrade_re_derives_what_the_old_image_supplied_and_keeps_what_the_user_set() -> None:
    cp = upgraded()
    new = load("new-image.json")
    assert cp.action == "recreate"
    assert cp.image == NEW
    assert (cp.after.image, cp.after.image_id) == (NEW, new["Id"])
    changes = {c.field: (c.action, c.before, c.after) for c in cp.changes}
    assert changes["image"][0] == "recreate"
    assert changes["image"][2] == f"{NEW} ({new['Id'].removeprefix('sha256:')[:12]})"
    # Re-derived from the new image: the user never set them.
    assert changes["env.APP_VERSION"] == ("recreate", "1", "2")
    assert changes["env.APP_NEW"] == ("recreate", None, "yes")
    assert changes["workdir"] == ("recreate", "/v1", "/v2")
    assert changes["expose"] == ("recreate", "9001/tcp", "9002/tcp")
    assert changes["cmd"][0] == "recreate" and "v2" in changes["cmd"][2]
    # Kept: what the user set, the new image's default notwithstanding.
    assert changes["env.GREETING"] == ("noop", "mine", "mine")
    assert changes["env.USER_SET"] == ("noop", "1", "1")
    assert changes["labels.org.example.version"] == ("noop", "pinned", "pinned")
    assert "env.PATH" not in changes  # the same in both images: nothing to say
    # The spec keeps the user's settings only; the engine fills in the new image's defaults.
    assert cp.after.config == cp.before.config
    assert cp.after.host_config == cp.before.host_config
    body, _ = create_body(cp.after)
    assert body["Image"] == NEW and "WorkingDir" not in body and "Cmd" not in body


def test_the_docker_run_view_is_docker_run_of_the_new_tag_with_the_users_options() -> None:
    cp = upgraded()
    [line] = run_view(cp.after).commands()[:1]
    words = shlex.split(line)
    assert words[-1] == NEW
    assert "GREETING=mine" in words and not any(w.startswith("APP_VERSION") for w in words)
    assert run_view(cp.before).commands()[0].replace("rt-fid-cap/upgrade:1", NEW) == line


def test_a_dry_run_without_the_image_says_it_would_be_pulled() -> None:
    cp = upgraded(images={})
    assert cp.action == "recreate"
    assert cp.after.image == NEW and cp.after.image_id is None
    [image] = [c for c in cp.changes if c.field == "image"]
    assert image.after == f"{NEW} (not on the host: pulled first)"
    assert any("is not on the Docker host: an apply pulls it through the engine" in n for n in cp.notes)
    # What the user set is known already, and listed as kept.
    assert {c.field for c in cp.changes if c.action == "noop"} >= {"env.GREETING", "env.USER_SET"}


def test_the_image_it_already_runs_is_a_no_op() -> None:
    running = load("image.json")
    cp = upgraded({"image": "rt-fid-cap/upgrade:1"}, images={"rt-fid-cap/upgrade:1": running})
    assert cp.action == "none"
    assert [(c.field, c.action) for c in cp.changes] == [("image", "noop")]
    assert cp.changes[0].reason.startswith("already runs rt-fid-cap/upgrade:1")


def test_later_changes_see_the_new_images_defaults() -> None:
    cp = upgraded({"image": NEW}, {"args": {"set": {"--verbose": True}}})
    assert cp.after.config["Cmd"] == ["sh", "-c", "echo v2; exec sleep 3600", "--verbose"]


def test_the_plan_json_records_the_image_it_was_made_against_and_drift_says_when_it_moved() -> None:
    new = load("new-image.json")
    made = plan(book({"image": NEW}), {}, [observed()], images={NEW: new})
    data = plan_json(made)
    assert data["containers"][0]["image"] == {"from": "rt-fid-cap/upgrade:1", "from_id": load("image.json")["Id"],
                                              "to": NEW, "to_id": new["Id"]}
    assert host_drift("h", data, plan_json(made), "the plan was saved") == []
    moved = plan_json(plan(book({"image": NEW}), {}, [observed()], images={NEW: {**new, "Id": "sha256:" + "f" * 64}}))
    [line] = host_drift("h", data, moved, "the plan was saved")
    assert line.startswith(f"h: rt-fid-cap-upgrade: {NEW} names another image now (sha256:ffffffffffff")
    missing = plan_json(plan(book({"image": NEW}), {}, [observed()], images={}))
    [line] = host_drift("h", missing, data, "the plan was saved")
    assert f"{NEW} was not on the host when the plan was saved (it is now" in line


def test_a_plan_without_an_image_change_has_no_image_entry() -> None:
    data = plan_json(plan(book({"env": {"X": "1"}}), {}, [observed()]))
    assert "image" not in data["containers"][0]


# --------------------------------------------------------------------------- compose

COMPOSE = """\
services:
  app:
    image: "rt-fid-cap/upgrade:1"   # the app
    environment:
      GREETING: mine
"""


def spec(image: str) -> ContainerSpec:
    return ContainerSpec("c", image, config={"Env": ["GREETING=mine"]})


def test_compose_image_line_is_edited_in_place_keeping_quotes_and_comment() -> None:
    edit = edit_project([("c.yml", COMPOSE)], "app", spec("rt-fid-cap/upgrade:1"), spec(NEW))
    assert edit is not None
    assert edit.texts == {"c.yml": COMPOSE.replace('"rt-fid-cap/upgrade:1"', f'"{NEW}"')}


def test_compose_image_goes_to_the_last_file_that_sets_it() -> None:
    override = "services:\n  app:\n    image: rt-fid-cap/upgrade:1\n"
    edit = edit_project([("a.yml", COMPOSE), ("b.yml", override)], "app", spec("rt-fid-cap/upgrade:1"), spec(NEW))
    assert edit is not None and list(edit.texts) == ["b.yml"]
    assert edit.texts["b.yml"] == override.replace("upgrade:1", "upgrade:2")


@pytest.mark.parametrize(("text", "why"), [
    (COMPOSE.replace('"rt-fid-cap/upgrade:1"', '"rt-fid-cap/upgrade:${TAG}"'),
     r"c.yml:3: image comes from \$\{VAR\} interpolation \(rt-fid-cap/upgrade:\$\{TAG\}\)"),
    (COMPOSE + "    build: .\n",
     r"c.yml:6: services.app builds its image \(build:\), so compose would build rt-fid-cap/upgrade:2"),
])
def test_compose_image_refusals_say_why(text: str, why: str) -> None:
    with pytest.raises(ComposeEditRefused, match=why):
        edit_project([("c.yml", text)], "app", spec("rt-fid-cap/upgrade:1"), spec(NEW))


@pytest.mark.parametrize("output", ["apply", "fix", "report"])
def test_the_image_entry_is_in_the_shipped_json_schemas(output: str) -> None:
    import jsonschema

    from remediate.output.formats import schema

    defs = schema(output)["$defs"]
    for images in ({NEW: load("new-image.json")}, {}):
        container = plan_json(plan(book({"image": NEW}), {}, [observed()], images=images))["containers"][0]
        jsonschema.validate(container, {"$ref": "#/$defs/container_plan", "$defs": defs})
    assert set(defs["container_plan"]["properties"]["image"]["required"]) == set(container["image"])


def test_lint_warns_of_an_unasked_upgrade_and_a_second_image_change(tmp_path: Path) -> None:
    from remediate.core.lint import lint

    path = tmp_path / "up.yml"
    path.write_text("name: up\ndescription: d\nsafety: auto\nselect: {name: x}\nchanges:\n"
                    "  - image: a:1\n  - image: a:2\nverify:\n  - http: {port: 80}\n")
    assert [str(f).removeprefix(str(path)) for f in lint(path)] == [
        (":3:9: warning: safety: safety: auto applies an image change (changes[0]) without asking; "
         "use safety: confirm [risky-auto]"),
        (":3:9: warning: safety: safety: auto applies an image change (changes[1]) without asking; "
         "use safety: confirm [risky-auto]"),
        ":7:5: warning: changes[1]: changes[1] overrides changes[0] (image) [override]",
    ]
