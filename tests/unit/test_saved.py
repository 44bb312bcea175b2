"""Saved plans and drift on plain data: which hosts a plan may run on, what counts as drift, what is saved."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from remediate.core.drift import host_drift
from remediate.core.planner import Observed, plan
from remediate.core.playbook import find_playbook, load_playbook
from remediate.errors import PlanError
from remediate.fleet import saved
from remediate.fleet.results import HostOutcome, RolloutResult
from remediate.fleet.target import Target
from tests.conftest import Cli

CASES = Path(__file__).resolve().parents[1] / "cases"
SINCE = "the plan was saved"


def _container(name: str = "vllm", **fields: Any) -> dict[str, Any]:
    return {"container": name, "id": "3f2a1b9c0d12", "action": "recreate", "fingerprint": "f1",
            "run_before": ["docker run \\", "  --env FLAVOR=a \\", "  vllm:1"],
            "diff": ["  --name vllm", "+ --served-model-name mistral"], "dependents": [],
            "files": [{"path": "/etc/t.jinja", "mode": "0644", "diff": ["+x"]}], **fields}


def _plan(*containers: dict[str, Any]) -> dict[str, Any]:
    return {"containers": list(containers)}


def test_same_plan_has_no_drift() -> None:
    assert host_drift("h", _plan(_container()), _plan(_container()), SINCE) == []


@pytest.mark.parametrize(("now", "line"), [
    (_plan(_container(fingerprint="f2")),
     ("h: vllm: drifted since the plan was saved: a setting not shown changed (a secret value, or what the image "
     "supplies)")),
    (_plan(_container(fingerprint="f2", run_before=["docker run \\", "  --env FLAVOR=b \\", "  vllm:1"])),
     "h: vllm: drifted since the plan was saved: - --env FLAVOR=a; + --env FLAVOR=b"),
    (_plan(_container(id="9c1d00000000", fingerprint="f2")),
     ("h: vllm: drifted since the plan was saved: recreated (id 3f2a1b9c0d12 -> 9c1d00000000); a setting not shown "
     "changed (a secret value, or what the image supplies)")),
    (_plan(), "h: vllm: no longer selected (removed or changed)"),
    (_plan(_container(), _container("vllm-2")), "h: vllm-2: new container since the plan was saved, not in the plan"),
    (_plan(_container(dependents=["sidecar"])), "h: vllm: the change differs now (dependents)"),
    (_plan(_container(diff=["  --name vllm"])), "h: vllm: the change differs now (diff)"),
    (_plan(_container(files=[{"path": "/etc/t.jinja", "mode": "0600", "diff": ["+x"]}])),
     "h: vllm: the change differs now (files)"),
])
def test_each_kind_of_drift_is_one_line(now: dict[str, Any], line: str) -> None:
    assert host_drift("h", _plan(_container()), now, SINCE) == [line]


def _saved(*hosts: dict[str, Any], secret_vars: tuple[str, ...] = ()) -> saved.SavedPlan:
    return saved.SavedPlan(source="fix-vllm-404", vars={}, secret_vars=secret_vars, containers=(), hosts=hosts)


def _host(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "url": url, "docker_host": None, "key_file": None, "plan": _plan(), **extra}


GPU1 = _host("gpu-1", "ssh://root@10.0.0.1:22")
GPU2 = _host("gpu-2", "ssh://root@10.0.0.2:22")


def test_the_plans_own_hosts_are_accepted() -> None:
    plan_ = _saved(GPU1, GPU2)
    plan_.check_targets([Target("gpu-2", "ssh://root@10.0.0.2:22"), Target("gpu-1", "ssh://root@10.0.0.1:22")])


def test_a_host_not_in_the_plan_is_refused_and_listed() -> None:
    with pytest.raises(PlanError) as err:
        _saved(GPU1).check_targets([Target("gpu-1", "ssh://root@10.0.0.1:22"), Target("local", "local")])
    assert "reviewed for other hosts (nothing was changed): not in the plan: local" in err.value.message
    assert "\n" not in err.value.message


def test_a_host_of_the_plan_left_out_is_refused_and_listed() -> None:
    with pytest.raises(PlanError) as err:
        _saved(GPU1, GPU2).check_targets([Target("gpu-1", "ssh://root@10.0.0.1:22")])
    assert "in the plan but not given: gpu-2 (ssh://root@10.0.0.2:22)" in err.value.message
    assert "not in the plan:" not in err.value.message


def test_a_host_whose_address_changed_is_another_host() -> None:
    with pytest.raises(PlanError) as err:
        _saved(GPU1).check_targets([Target("gpu-1", "ssh://root@10.0.0.9:22")])
    assert "not in the plan: gpu-1 (ssh://root@10.0.0.9:22)" in err.value.message
    assert "in the plan but not given: gpu-1 (ssh://root@10.0.0.1:22)" in err.value.message


def test_own_hosts_come_back_with_their_inventory_vars() -> None:
    [target] = _saved(_host("gpu-1", "ssh://root@10.0.0.1:22", vars={"served_model_name": "codestral"})).targets({})
    assert target == Target("gpu-1", "ssh://root@10.0.0.1:22")
    assert dict(target.vars) == {"served_model_name": "codestral"}


def test_own_hosts_with_unsaved_secret_vars_need_them_again() -> None:
    plan_ = _saved(_host("gpu-1", "ssh://root@10.0.0.1:22", secret_vars=["hf_token"]))
    with pytest.raises(PlanError) as err:
        plan_.targets({})
    assert "secret host vars are not saved" in err.value.message and "gpu-1 (hf_token)" in err.value.message
    assert [t.name for t in plan_.targets({"hf_token": "x"})] == ["gpu-1"]


def test_save_keeps_declared_host_vars_and_only_the_names_of_secret_ones(tmp_path: Path) -> None:
    book_file = tmp_path / "book.yml"
    book_file.write_text("name: tok\ndescription: d\nselect: {name: '*'}\n"
                         "vars: {model: m, hf_token: ''}\nchanges:\n  - env: {HF_TOKEN: '{{ hf_token }}'}\n")
    book = load_playbook(str(book_file))
    observed = Observed(json.loads((CASES / "busybox-minimal" / "container.json").read_text()),
                        json.loads((CASES / "busybox-minimal" / "image.json").read_text()))
    target = Target("gpu-1", "ssh://root@10.0.0.1:22",
                    vars={"model": "big", "hf_token": "hf_hostSECRET", "ansible_user": "root"})
    result = RolloutResult((HostOutcome(target, "planned", plan(book, {"model": "big", "hf_token": "x"},
                                                                [observed])),))
    path = tmp_path / "plan.json"

    saved.save(str(path), book, str(book_file), {}, (), result)

    assert "hf_hostSECRET" not in path.read_text()
    [host] = json.loads(path.read_text())["hosts"]
    assert host["vars"] == {"model": "big"} and host["secret_vars"] == ["hf_token"]
    loaded = saved.load(str(path))
    loaded.check_targets([target])
    with pytest.raises(PlanError):
        loaded.targets({})
    [back] = loaded.targets({"hf_token": "again"})
    assert dict(back.vars) == {"model": "big"}
    assert loaded.container_only is False
    saved.save(str(path), book, str(book_file), {}, (), result, container_only=True)
    assert saved.load(str(path)).container_only is True


def test_a_host_of_the_saved_plan_that_cannot_be_planned_now_is_drift() -> None:
    reviewed = _saved(_host("gpu-1", "ssh://root@10.0.0.1:22", plan=_plan(_container())))
    unreached = RolloutResult((HostOutcome(Target("gpu-1", "ssh://root@10.0.0.1:22"), "unreachable",
                                           error="gpu-1: no route"),))
    assert reviewed.drift(unreached) == ["gpu-1: cannot plan now (gpu-1: no route)"]


def _plan_file(tmp_path: Path) -> Path:
    """A saved plan of fix-vllm-404 for container `vllm` on `local` (no engine needed to refuse it)."""
    path = tmp_path / "plan.json"
    sha = hashlib.sha256(find_playbook("fix-vllm-404").read_bytes()).hexdigest()
    hosts = [_host("local", "local", plan=_plan(_container()))]
    path.write_text(json.dumps({"format": saved.FORMAT, "playbook": {"name": "fix-vllm-404", "source": "fix-vllm-404",
                                                                     "sha256": sha},
                                "vars": {}, "secret_vars": [], "containers": ["vllm"],
                                "hosts": hosts, "hosts_sha256": saved.hosts_digest(hosts)}))
    return path


@pytest.mark.parametrize("edit", [{"url": "ssh://root@10.9.9.9:22"}, {"name": "gpu-1"}, {"docker_host": "unix:///x"},
                                  {"key_file": "/tmp/other-key"}, {"vars": {"served_model_name": "x"}}])
def test_a_saved_plan_whose_hosts_were_edited_is_refused(cli: Cli, tmp_path: Path, edit: dict[str, Any]) -> None:
    path = _plan_file(tmp_path)
    data = json.loads(path.read_text())
    data["hosts"][0].update(edit)
    path.write_text(json.dumps(data))

    code, out = cli("apply", "--plan", str(path), "--yes")

    assert code == 2 and "its hosts were edited since the plan was saved" in out, out
    assert len(out.strip().splitlines()) == 1


@pytest.mark.parametrize(("extra", "message"), [
    (["--container", "other"], "--container: the plan applies to the containers it was saved for (vllm)"),
    (["-H", "unix:///nonexistent/docker.sock"],
     "not in the plan: unix:///nonexistent/docker.sock; in the plan but not given: local;"),
    (["--limit", "gpu"], "--limit needs -i/--inventory"),
    (["--container-only"], "--container-only: the plan was saved with the compose file edits"),
])
def test_cli_refuses_a_saved_plan_for_other_containers_or_hosts_before_connecting(
        cli: Cli, tmp_path: Path, extra: list[str], message: str) -> None:
    code, out = cli("apply", "--plan", str(_plan_file(tmp_path)), "--yes", *extra)

    assert code == 2 and message in out, out
    assert len(out.strip().splitlines()) == 1 and "Traceback" not in out
