"""Pure planning tests on inspect JSON captured from a real engine (tests/cases): no Docker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import remediate
from remediate.core.paths import HostPath
from remediate.core.planner import Observed, plan, select
from remediate.core.playbook import Playbook, load_playbook, resolve_vars
from remediate.output.plan import plan_json, run_diff

CASES = Path(__file__).resolve().parents[1] / "cases"
ROOT = Path(__file__).resolve().parents[2]


def observed(case: str) -> Observed:
    return Observed(json.loads((CASES / case / "container.json").read_text()),
                    json.loads((CASES / case / "image.json").read_text()))


def book(**fields: Any) -> Playbook:
    data: dict[str, Any] = {"name": "t", "description": "d", "select": {"name": "*"}, **fields}
    return Playbook.model_validate(data)


def test_env_change_is_one_change_and_a_recreate() -> None:
    obs = observed("busybox-minimal")
    p = plan(book(changes=[{"env": {"NEW_FLAG": "1"}}]), {}, [obs])

    [cp] = p.containers
    assert cp.action == "recreate"
    assert [(c.field, c.before, c.after, c.action) for c in cp.changes] == [("env.NEW_FLAG", None, "1", "recreate")]
    assert "+ --env NEW_FLAG=1" in run_diff(cp.before, cp.after)
    # Nothing else moves: the after spec is the before spec plus the env var.
    assert cp.after.replace(config={k: v for k, v in cp.after.config.items() if k != "Env"}) == \
        cp.before.replace(config={k: v for k, v in cp.before.config.items() if k != "Env"})


def test_a_container_that_cannot_be_recreated_safely_is_refused_up_front() -> None:
    obs = observed("auto-remove")
    with pytest.raises(remediate.PlanError, match=r"^container rt-fid-cap-auto-remove was started with --rm "):
        plan(book(changes=[{"env": {"NEW_FLAG": "1"}}]), {}, [obs])
    # Nothing to change: nothing to refuse.
    [cp] = plan(book(changes=[{"env": {"PATH": None}}]), {}, [obs]).containers
    assert cp.action == "none"


def test_already_set_is_a_no_op_with_its_reason() -> None:
    obs = observed("busybox-minimal")
    first = plan(book(changes=[{"env": {"NEW_FLAG": "1"}}]), {}, [obs]).containers[0]
    applied = dict(obs.inspect, Config={**obs.inspect["Config"], "Env": first.after.config["Env"]})

    again = plan(book(changes=[{"env": {"NEW_FLAG": "1"}}]), {}, [Observed(applied, obs.image)]).containers[0]

    assert again.action == "none"
    assert again.changes[0].reason == "already set"


def test_null_removes_an_env_var_and_missing_is_a_no_op() -> None:
    obs = observed("vllm-secrets")
    env_names = [e.split("=", 1)[0] for e in obs.inspect["Config"]["Env"]]
    present = next(n for n in env_names if n != "PATH")
    p = plan(book(changes=[{"env": {present: None, "NOT_THERE": None}}]), {}, [obs]).containers[0]

    actions = {c.field: (c.action, c.after) for c in p.changes}
    assert actions[f"env.{present}"] == ("recreate", None)
    assert actions["env.NOT_THERE"][0] == "noop"
    assert all(not e.startswith(present + "=") for e in p.after.config.get("Env", []))


@pytest.mark.parametrize("spelling", [["--served-model-name", "x"], ["--served_model_name", "x"],
                                      ["--served-model-name=x"]])
def test_args_flag_spellings_are_one_flag(spelling: list[str]) -> None:
    obs = observed("busybox-minimal")
    inspect = dict(obs.inspect, Config={**obs.inspect["Config"], "Cmd": ["serve", "m", *spelling]})
    p = plan(book(changes=[{"args": {"set": {"--served-model-name": "mistral"}}}]), {},
             [Observed(inspect, obs.image)]).containers[0]

    cmd = p.after.config["Cmd"]
    assert cmd[:2] == ["serve", "m"]
    assert cmd.count("mistral") + sum(a.endswith("=mistral") for a in cmd) == 1
    assert len(cmd) == 2 + len(spelling)  # replaced in place, same spelling kept


def test_args_start_from_the_image_cmd_when_the_user_gave_none() -> None:
    obs = observed("image-defaults")
    p = plan(book(changes=[{"args": {"set": {"--flag": True}}}]), {}, [obs]).containers[0]

    image_cmd = obs.image["Config"]["Cmd"] or []
    assert p.after.config["Cmd"] == [*image_cmd, "--flag"]


def test_network_host_drops_ports_and_says_so() -> None:
    obs = observed("cli-twin")
    p = plan(book(changes=[{"network": "host"}]), {"allow_all_interfaces": True}, [obs]).containers[0]

    assert p.after.network_mode == "host"
    assert "PortBindings" not in p.after.host_config
    assert any("published ports dropped" in n for n in p.notes)
    assert p.after.networks == {}


def test_network_host_with_network_sysctls_is_refused_in_the_plan() -> None:
    obs = observed("cli-twin")
    obs.inspect["HostConfig"]["Sysctls"] = {"net.ipv4.ip_unprivileged_port_start": "0", "kernel.msgmax": "65536"}
    with pytest.raises(remediate.PlanError, match=r"network host: the container sets network sysctls "
                                                  r"\(net.ipv4.ip_unprivileged_port_start\)"):
        plan(book(changes=[{"network": "host"}]), {}, [obs])


def test_mount_and_file_changes_read_host_paths() -> None:
    obs = observed("busybox-minimal")
    playbook = book(changes=[{"file": {"dest": "/etc/x/t", "content": "hello {{ who }}\n"}},
                             {"mount": {"source": "/etc/x/t", "target": "/t"}}], vars={"who": "you"})
    p = plan(playbook, {"who": "you"}, [obs], host_paths={"/etc/x/t": HostPath(True, b"hello you\n", 0o644)})

    [cp] = p.containers
    assert cp.files[0].content == b"hello you\n" and not cp.files[0].changed
    assert cp.after.host_config["Binds"][-1] == "/etc/x/t:/t:ro"


def test_must_exist_mount_refuses_a_missing_source() -> None:
    playbook = book(changes=[{"mount": {"source": "/nope", "target": "/t", "must_exist": True}}])
    with pytest.raises(remediate.PlanError, match="/nope does not exist"):
        plan(playbook, {}, [observed("busybox-minimal")])


def test_selection_skips_backups_and_matches_any_selector() -> None:
    obs = observed("busybox-minimal")
    backup = Observed(dict(obs.inspect, Name="/x-remediate-backup-20260101T000000000"), obs.image)
    playbook = book(select=[{"name": "nothing*"}, {"image": obs.inspect["Config"]["Image"]}],
                    changes=[{"env": {"A": "1"}}])

    assert select(playbook, [obs, backup]) == [obs]


def test_fix_vllm_404_plans_against_a_captured_vllm_container() -> None:
    playbook = load_playbook("fix-vllm-404")
    vars = resolve_vars(playbook, {})
    obs = observed("vllm-secrets")
    assert select(playbook, [obs]) == [obs]

    p = plan(playbook, vars, [obs])
    data = plan_json(p)

    [cp] = data["containers"]
    assert cp["action"] == "recreate"
    assert "+   --served-model-name mistral" in cp["diff"]
    assert "+   --chat-template /etc/vllm/chat_template.jinja" in cp["diff"]
    assert cp["files"][0]["diff"][0] == "--- /dev/null"
    text = json.dumps(data)
    for env in obs.inspect["Config"]["Env"]:
        name, _, value = env.partition("=")
        if any(word in name for word in ("KEY", "TOKEN", "SECRET", "PASSWORD")) and value:
            assert value not in text


def test_chat_template_is_byte_for_byte_the_seed() -> None:
    seed = ROOT.parent / "shared/seed/troubleshooting-gitlab-duo-self-hosted.md"
    if not seed.exists():
        pytest.skip("the seed document is not beside this checkout")
    text = seed.read_text()
    block = text.split("```jinja\n", 1)[1].split("```", 1)[0]
    expected = "".join(line.removeprefix("   ") for line in block.splitlines(keepends=True))
    assert (ROOT / "templates/vllm/mistral_chat_template.jinja").read_text() == expected


def test_public_api_is_exactly_all() -> None:
    import subprocess
    import sys

    # In a fresh interpreter: every name in __all__ resolves to the right kind of object, and
    # nothing else public is exported (submodules load lazily, so `dir` is checked before use).
    code = ("import remediate; [getattr(remediate, n) for n in remediate.__all__]; "
            "print(sorted(n for n in vars(remediate) if not n.startswith('_')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # Public names are exactly __all__ (plus the submodules their import loads).
    package = Path(remediate.__file__).parent
    submodules = {p.stem for p in package.glob("*.py")} | {p.parent.name for p in package.glob("*/__init__.py")}
    assert set(eval(out)) - submodules == set(remediate.__all__) - {"__version__"}
    assert remediate.__all__ == sorted(remediate.__all__)
    for name in remediate.__all__:
        assert getattr(remediate, name) is not None
    assert remediate.plan.__module__ == "remediate.core.planner" and callable(remediate.apply)
    assert issubclass(remediate.RecoverNeeded, remediate.RemediateError)


@pytest.mark.parametrize(("key", "value", "api"), [("Annotations", {"team": "ml"}, "1.43"), ("CgroupnsMode", "private", "1.41")])
def test_a_field_newer_than_the_engine_api_is_refused_while_planning(key: str, value: Any, api: str) -> None:
    """The field table's min_api is enforced: an engine that predates a field drops it at create."""
    obs = observed("busybox-minimal")
    obs = Observed(dict(obs.inspect, HostConfig={**obs.inspect["HostConfig"], key: value}), obs.image)
    change = book(changes=[{"env": {"NEW_FLAG": "1"}}])
    older = f"1.{int(api.split('.')[1]) - 1}"

    with pytest.raises(remediate.PlanError, match=rf"^container \S+: HostConfig\.{key} needs engine API {api}, "
                                                  rf"and this engine has API {older}; nothing was changed$"):
        plan(change, {}, [obs], engine_api=older)
    for fine in (api, "1.45", None):  # new enough, or not known
        assert plan(change, {}, [obs], engine_api=fine).containers[0].action == "recreate"
    assert plan(book(changes=[{"env": {"PATH": None}}]), {}, [obs], engine_api=older).containers[0].action == "none"


@pytest.mark.parametrize(("bind", "read_only", "action"), [
    ("/etc/x/t:/t", False, "noop"), ("/etc/x/t:/t:rw", False, "noop"), ("/etc/x/t:/t:ro", True, "noop"),
    ("/etc/x/t:/t:ro", False, "recreate"), ("/etc/x/t:/t:rw", True, "recreate"), ("/t", False, "recreate")])
def test_a_mount_compares_binds_as_the_field_table_does(bind: str, read_only: bool, action: str) -> None:
    """One bind normaliser: ``:rw`` is the default; a bare target (an anonymous volume of the SDK)
    at the mount's target is replaced, not kept beside it."""
    obs = observed("busybox-minimal")
    obs = Observed(dict(obs.inspect, HostConfig={**obs.inspect["HostConfig"], "Binds": [bind]}), obs.image)
    paths = {"/etc/x/t": HostPath(True, b"x", 0o644)}
    mount = {"source": "/etc/x/t", "target": "/t", "read_only": read_only}

    [cp] = plan(book(changes=[{"mount": mount}]), {}, [obs], host_paths=paths).containers

    [change] = cp.changes
    assert change.action == action
    assert cp.after.host_config["Binds"] == ([bind] if action == "noop" else
                                             ["/etc/x/t:/t:ro" if read_only else "/etc/x/t:/t"])
