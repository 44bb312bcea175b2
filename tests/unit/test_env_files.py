"""Env values from a file on the Docker host (``{from_file: PATH}``) on inspect-JSON fixtures: the
value is read from what the host gave, is a secret in every view whatever its name, compares for
"already set", is a digest in the plan, and a compose service's change is refused. No engine."""

from __future__ import annotations

import json
from typing import Any

import pytest

import remediate
from remediate.core.env_files import MAX_ENV_FILE_BYTES
from remediate.core.paths import HostPath
from remediate.core.planner import Observed, env_files_needed, plan
from remediate.core.secret_flow import plan_secrets
from remediate.output.plan import plan_json
from tests.unit.test_compose_plan import COMPOSE, compose_obs
from tests.unit.test_planner import book, observed

PEM = b"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"
KEY = "AIGW_SELF_SIGNED_JWT__SIGNING_KEY"
PLAIN = "plain-looking-value-42"


def _book(**env: Any) -> remediate.Playbook:
    return book(changes=[{"env": env}])


def _with_env(obs: Observed, **env: str) -> Observed:
    inspect = json.loads(json.dumps(obs.inspect))
    inspect["Config"]["Env"] = [*inspect["Config"].get("Env", []), *(f"{k}={v}" for k, v in env.items())]
    return Observed(inspect, obs.image)


def test_the_value_is_the_file_without_trailing_newlines_and_is_masked_everywhere() -> None:
    files = {"/etc/aigw/jwt.pem": HostPath(True, PEM), "/etc/aigw/other": HostPath(True, PLAIN.encode() + b"\n\n")}
    p = plan(_book(**{KEY: {"from_file": "/etc/aigw/jwt.pem"}, "OTHER": {"from_file": "/etc/aigw/other"}}),
             {}, [observed("busybox-minimal")], env_sources=files)
    [cp] = p.containers
    assert cp.after.env[KEY] == PEM.decode().rstrip("\n") and cp.after.env["OTHER"] == PLAIN
    assert cp.secret_env == (KEY, "OTHER")
    text = json.dumps(plan_json(p))
    # OTHER is not a secret name and PLAIN has no secret shape: masked because it came from a file.
    assert PLAIN not in text and "MIIEvQIBADAN" not in text
    assert [(c["field"], c["after"]) for c in plan_json(p)["containers"][0]["changes"]] == [
        (f"env.{KEY}", "***"), ("env.OTHER", "***")]
    assert PLAIN in plan_secrets(p)


def test_the_value_it_replaces_is_masked_too_and_equal_is_a_no_op() -> None:
    files = {"/k": HostPath(True, PLAIN.encode() + b"\n")}
    old = _with_env(observed("busybox-minimal"), OTHER="old-plain-value-7")
    p = plan(_book(OTHER={"from_file": "/k"}), {}, [old], env_sources=files)
    assert p.containers[0].action == "recreate"
    assert "old-plain-value-7" not in json.dumps(plan_json(p))
    same = plan(_book(OTHER={"from_file": "/k"}), {}, [_with_env(observed("busybox-minimal"), OTHER=PLAIN)],
                env_sources=files)
    [cp] = same.containers
    assert cp.action == "none" and cp.changes[0].reason == "already set"
    assert PLAIN not in json.dumps(plan_json(same))


def test_the_plan_holds_a_digest_that_changes_with_the_file() -> None:
    obs = observed("busybox-minimal")
    one = plan_json(plan(_book(OTHER={"from_file": "/k"}), {}, [obs], env_sources={"/k": HostPath(True, b"v-one-1")}))
    two = plan_json(plan(_book(OTHER={"from_file": "/k"}), {}, [obs], env_sources={"/k": HostPath(True, b"v-two-2")}))
    a, b = one["containers"][0], two["containers"][0]
    assert a["secrets"] and b["secrets"] and a["secrets"] != b["secrets"]
    assert a["diff"] == b["diff"]  # what is shown is the same: only the digest tells them apart
    assert "v-one-1" not in json.dumps(one) and "v-two-2" not in json.dumps(two)


def test_the_path_is_templated_and_checked_once_rendered() -> None:
    templ = book(vars={"key_file": "/etc/aigw/jwt.pem"}, changes=[{"env": {KEY: {"from_file": "{{ key_file }}"}}}])
    obs = observed("busybox-minimal")
    assert env_files_needed(templ, {"key_file": "/srv/k.pem"}, [obs]) == ["/srv/k.pem"]
    with pytest.raises(remediate.PlaybookError, match=r"from_file must be an absolute path, not 'k.pem'"):
        env_files_needed(templ, {"key_file": "k.pem"}, [obs])


@pytest.mark.parametrize(("state", "message"), [
    (HostPath(False, kind="missing"), "env OTHER: from_file /k: no such file on the Docker host; nothing was changed"),
    (HostPath(False, kind="symlink", symlink="/etc"), "env OTHER: from_file /k: /etc is a symlink;"),
    (HostPath(True, None, kind="large", size=MAX_ENV_FILE_BYTES + 1), "larger than 64 KiB"),
    (HostPath(True, None, kind="dir"), "not a regular file (dir)"),
    (HostPath(True, b"\xff\xfe"), "not UTF-8 text"),
    (HostPath(True, b"a\0b"), "holds a NUL byte"),
])
def test_a_file_that_cannot_be_the_value_is_one_line(state: HostPath, message: str) -> None:
    with pytest.raises(remediate.PlanError) as err:
        plan(_book(OTHER={"from_file": "/k"}), {}, [observed("busybox-minimal")], env_sources={"/k": state})
    assert message in err.value.message and "\n" not in err.value.message


def test_a_compose_service_is_refused_unless_container_only() -> None:
    paths = {"/srv/p/compose.yml": HostPath(True, COMPOSE.encode(), 0o644)}
    files = {"/k": HostPath(True, PEM)}
    with pytest.raises(remediate.PlanError) as err:
        plan(_book(**{KEY: {"from_file": "/k"}}), {}, [compose_obs()], host_paths=paths, env_sources=files)
    assert err.value.message.startswith(f"compose: app: {KEY} from a file: Compose has no way")
    assert "env_file:" in err.value.message and "--container-only" in err.value.message
    assert "\n" not in err.value.message and "MIIEvQ" not in err.value.message
    [cp] = plan(_book(**{KEY: {"from_file": "/k"}}), {}, [compose_obs()], host_paths=paths, env_sources=files,
                container_only=True).containers
    assert cp.action == "recreate" and not cp.files


@pytest.mark.parametrize(("value", "message"), [
    ({"from_file": "k.pem"}, "OTHER.from_file: from_file must be an absolute path, not 'k.pem'"),
    ({"from_fil": "/k"}, "OTHER.from_file: Field required"),
    ({"from_file": "/k", "x": 1}, "OTHER.x: Extra inputs are not permitted"),
])
def test_bad_from_file_values_are_one_line_errors(value: Any, message: str, tmp_path: Any) -> None:
    path = tmp_path / "p.yml"
    path.write_text(json.dumps({"name": "t", "description": "d", "select": {"name": "*"},
                                "changes": [{"env": {"OTHER": value}}]}))
    with pytest.raises(remediate.PlaybookError) as err:
        remediate.load_playbook(str(path))
    assert err.value.message == f"{path}: changes[0].env: {message}"


def test_a_file_the_playbook_writes_is_refused_as_a_source() -> None:
    both = book(changes=[{"file": {"dest": "/k", "content": "x"}}, {"env": {"OTHER": {"from_file": "/k"}}}])
    with pytest.raises(remediate.PlanError, match=r"^from_file /k is a file the playbook writes"):
        plan(both, {}, [observed("busybox-minimal")], env_sources={"/k": HostPath(True, b"v")})
