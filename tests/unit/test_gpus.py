"""The ``gpus`` change kind on inspect-JSON fixtures: schema, templating, the device requests
``docker run --gpus`` makes, the ``docker run`` view, keeping other requests, the compose edit,
and the GPU-runtime check. No engine."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

import remediate
from remediate.core import compose_edit
from remediate.core.fields import gpus_value
from remediate.core.gpus import device_request, missing_runtime, needs_gpu
from remediate.core.planner import Observed, plan
from remediate.core.runview import run_view
from remediate.core.spec import spec_from_inspect
from remediate.output.plan import plan_json
from tests.unit.test_planner import book, observed


def _cli_gpus(value: str) -> dict[str, Any]:
    """The docker CLI's ``--gpus`` parser (cli/opts/gpus.go ``GpuOpts.Set``), as the engine receives it."""
    request: dict[str, Any] = {"Driver": "", "Count": 0, "DeviceIDs": None, "Capabilities": None, "Options": None}
    seen: set[str] = set()
    for field in next(csv.reader(io.StringIO(value))):
        key, eq, val = field.partition("=")
        assert key not in seen
        seen.add(key)
        if not eq:
            seen.add("count")
            request["Count"] = -1 if key == "all" else int(key)
        elif key == "driver":
            request["Driver"] = val
        elif key == "count":
            request["Count"] = -1 if val == "all" else int(val)
        elif key == "device":
            request["DeviceIDs"] = val.split(",")
        elif key == "capabilities":
            request["Capabilities"] = [[*val.split(","), "gpu"]]
        elif key == "options":
            request["Options"] = dict(o.split("=", 1) for o in next(csv.reader(io.StringIO(val))))
        else:
            raise AssertionError(key)
    if "count" not in seen and request["DeviceIDs"] is None:
        request["Count"] = 1
    request["Options"] = request["Options"] or {}
    request["Capabilities"] = request["Capabilities"] or [["gpu"]]
    return request


WANTED = ["all", 2, "3", {"count": "all"}, {"count": 2}, {"device_ids": ["0", "1"]},
          {"device_ids": ["GPU-5f2c"], "capabilities": ["gpu", "compute", "utility"]},
          {"count": 1, "driver": "nvidia", "options": {"a": "b", "c": "d"}}]


@pytest.mark.parametrize("wanted", WANTED, ids=str)
def test_a_request_is_what_docker_run_gpus_sends_and_its_view_makes_it_again(wanted: Any) -> None:
    obs = observed("busybox-minimal")
    [cp] = plan(book(changes=[{"gpus": wanted}]), {}, [obs]).containers
    [request] = cp.after.host_config["DeviceRequests"]
    value = gpus_value(request)
    assert value is not None
    assert _cli_gpus(value) == request  # the view's --gpus makes exactly this request
    assert ("--gpus", value) in run_view(cp.after).options
    assert [(c.field, c.action) for c in cp.changes] == [("gpus", "recreate")]


def test_gpus_all_is_the_cli_request_and_capabilities_end_in_gpu() -> None:
    assert device_request("all") == {"Driver": "", "Count": -1, "DeviceIDs": None, "Capabilities": [["gpu"]],
                                     "Options": {}}
    ids = remediate.Playbook.model_validate({"name": "t", "description": "d", "select": {"name": "*"}, "changes": [
        {"gpus": {"device_ids": ["0", "1"], "capabilities": ["gpu", "compute"]}}]}).changes[0]
    assert device_request(ids.gpus) == {"Driver": "", "Count": 0, "DeviceIDs": ["0", "1"],  # type: ignore[union-attr]
                                        "Capabilities": [["compute", "gpu"]], "Options": {}}


def test_an_existing_request_is_kept_by_another_change_and_equal_is_a_no_op() -> None:
    obs = observed("gpus")
    [cp] = plan(book(changes=[{"env": {"X": "1"}}]), {}, [obs]).containers
    assert cp.after.host_config["DeviceRequests"] == obs.inspect["HostConfig"]["DeviceRequests"]
    assert "--gpus all" in " ".join(" ".join(o) for o in run_view(cp.after).options)
    [same] = plan(book(changes=[{"gpus": "all"}]), {}, [obs]).containers
    assert same.action == "none" and same.changes[0].reason == "already requested"
    [gone] = plan(book(changes=[{"gpus": "none"}]), {}, [obs]).containers
    assert gone.action == "recreate" and "DeviceRequests" not in gone.after.host_config
    diff = plan_json(plan(book(changes=[{"gpus": "none"}]), {}, [obs]))["containers"][0]["diff"]
    assert [line for line in diff if "--gpus" in line] == ["- --gpus all"]
    [nothing] = plan(book(changes=[{"gpus": "none"}]), {}, [observed("busybox-minimal")]).containers
    assert nothing.action == "none" and nothing.changes[0].reason == "no GPUs requested"


def test_a_request_that_is_not_for_gpus_is_kept_and_one_the_cli_cannot_make_is_a_remark() -> None:
    obs = observed("gpus")
    other = {"Driver": "cdi", "Count": 0, "DeviceIDs": ["vendor.com/dev=x"], "Capabilities": [["other"]],
             "Options": {}}
    inspect = json.loads(json.dumps(obs.inspect))
    inspect["HostConfig"]["DeviceRequests"] = [other, *inspect["HostConfig"]["DeviceRequests"]]
    [cp] = plan(book(changes=[{"gpus": 2}]), {}, [Observed(inspect, obs.image)]).containers
    assert cp.after.host_config["DeviceRequests"][0] == other
    assert cp.after.host_config["DeviceRequests"][1]["Count"] == 2
    view = run_view(cp.after)
    assert ("--gpus", "2") in view.options
    assert any("device request" in r.text and "cdi" in r.text for r in view.remarks)


def test_templated_counts_render_and_are_checked_once_rendered() -> None:
    obs = observed("busybox-minimal")
    templ = book(vars={"n": 2}, changes=[{"gpus": {"count": "{{ n }}"}}])
    [cp] = plan(templ, {"n": 2}, [obs]).containers
    assert cp.after.host_config["DeviceRequests"][0]["Count"] == 2
    with pytest.raises(remediate.PlaybookError, match=r"count must be all or a number from 1 to 1024, not '0'"):
        plan(templ, {"n": 0}, [obs])
    whole = book(vars={"g": "all"}, changes=[{"gpus": "{{ g }}"}])
    assert plan(whole, {"g": "none"}, [observed("gpus")]).containers[0].action == "recreate"


@pytest.mark.parametrize(("value", "message"), [
    (0, "must be all, none, a count or a mapping, not '0'"),
    ("some", "must be all, none, a count or a mapping, not 'some'"),
    ({"count": 2, "device_ids": ["0"]}, "give count or device_ids, not both"),
    ({"cout": 2}, "cout: Extra inputs are not permitted"),
    ({"device_ids": []}, "device_ids: List should have at least 1 item"),
    ({"capabilities": ["a,b"]}, "'a,b' is not a capability name"),
])
def test_bad_gpus_values_are_one_line_errors(value: Any, message: str, tmp_path: Any) -> None:
    path = tmp_path / "p.yml"
    path.write_text(json.dumps({"name": "t", "description": "d", "select": {"name": "*"},
                                "changes": [{"gpus": value}]}))
    with pytest.raises(remediate.PlaybookError) as err:
        remediate.load_playbook(str(path))
    assert err.value.message.startswith(f"{path}: changes[0].gpus: ") and message in err.value.message
    assert "\n" not in err.value.message


@pytest.mark.parametrize(("info", "missing"), [
    ({"Runtimes": {"runc": {}}}, True),
    ({"Runtimes": {"runc": {}}, "CDISpecDirs": []}, True),
    ({"Runtimes": {"runc": {}, "nvidia": {"path": "nvidia-container-runtime"}}}, False),
    ({"Runtimes": {"runc": {}}, "CDISpecDirs": ["/etc/cdi"]}, False),  # before API 1.50: devices unknown
    ({"Runtimes": {"runc": {}}, "CDISpecDirs": ["/etc/cdi"], "DiscoveredDevices": []}, True),
    ({"Runtimes": {"runc": {}}, "DiscoveredDevices": [{"Source": "cdi", "ID": "nvidia.com/gpu=0"}]}, False),
])
def test_a_gpu_runtime_is_an_nvidia_runtime_or_cdi_devices(info: dict[str, Any], missing: bool) -> None:
    reason = missing_runtime(info, "vllm")
    assert (reason is not None) is missing
    if reason:
        assert 'could not select device driver "" with capabilities: [[gpu]]' in reason and "\n" not in reason


def test_needs_gpu_reads_requests_and_the_nvidia_runtime() -> None:
    gpus = observed("gpus")
    assert needs_gpu(spec_from_inspect(gpus.inspect, gpus.image))
    plain = observed("busybox-minimal")
    assert not needs_gpu(spec_from_inspect(plain.inspect, plain.image))
    nvidia = dict(plain.inspect, HostConfig={**plain.inspect["HostConfig"], "Runtime": "nvidia"})
    assert needs_gpu(spec_from_inspect(nvidia, plain.image))


COMPOSE = """\
services:
  vllm:
    image: vllm/vllm-openai:v0.6.3
    deploy:
      resources:
        limits:
          memory: 8g   # kept
        reservations:
          devices:
            - driver: nvidia
              count: all
              capabilities: [gpu]
            - capabilities: [tpu]
"""


def test_compose_edit_writes_reservations_devices_and_keeps_the_rest() -> None:
    obs = observed("gpus")
    [cp] = plan(book(changes=[{"gpus": {"device_ids": ["0", "1"], "capabilities": ["compute"]}}]), {},
                [obs]).containers
    edit = compose_edit.edit_project([("/p/compose.yaml", COMPOSE)], "vllm", cp.before, cp.after)
    assert edit is not None
    text = edit.texts["/p/compose.yaml"]
    assert "memory: 8g   # kept" in text and "- capabilities: [tpu]" in text
    assert "count: all" not in text
    import yaml
    devices = yaml.safe_load(text)["services"]["vllm"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"capabilities": ["tpu"]}, {"device_ids": ["0", "1"], "capabilities": ["compute", "gpu"]}]


def test_compose_edit_of_gpus_none_drops_the_service_gpus_key() -> None:
    obs = observed("gpus")
    [cp] = plan(book(changes=[{"gpus": "none"}]), {}, [obs]).containers
    text = "services:\n  vllm:\n    image: x\n    gpus: all\n"
    edit = compose_edit.edit_project([("/p/c.yaml", text)], "vllm", cp.before, cp.after)
    assert edit is not None and edit.texts["/p/c.yaml"] == "services:\n  vllm:\n    image: x\n"
    [add] = plan(book(changes=[{"gpus": 2}]), {}, [observed("busybox-minimal")]).containers
    added = compose_edit.edit_project([("/p/c.yaml", "services:\n  vllm:\n    image: x\n")], "vllm",
                                      add.before, add.after)
    import yaml
    assert added is not None
    assert yaml.safe_load(added.texts["/p/c.yaml"])["services"]["vllm"]["deploy"] == {
        "resources": {"reservations": {"devices": [{"count": 2, "capabilities": ["gpu"]}]}}}


def test_a_refusal_stops_the_apply_of_the_plan_and_names_host_and_container() -> None:
    import dataclasses

    p = plan(book(changes=[{"gpus": "all"}]), {}, [observed("busybox-minimal")], host="gpu-1")
    p.check_refusals()  # nothing refused: no error
    reason = missing_runtime({"Runtimes": {"runc": {}}}, p.containers[0].name)
    refused = dataclasses.replace(p, containers=(dataclasses.replace(p.containers[0], refusal=reason),))
    with pytest.raises(remediate.PlanError) as err:
        refused.check_refusals()
    assert err.value.message == f"gpu-1: {p.containers[0].name}: {reason}; nothing was changed"
    unchanged = plan(book(changes=[{"gpus": "none"}]), {}, [observed("busybox-minimal")])
    dataclasses.replace(unchanged, containers=(dataclasses.replace(unchanged.containers[0], refusal=reason),)
                        ).check_refusals()  # a container the plan does not change is not refused


def test_compose_edit_drops_what_the_last_gpu_entry_leaves_empty() -> None:
    [cp] = plan(book(changes=[{"gpus": "none"}]), {}, [observed("gpus")]).containers
    text = ("services:\n  vllm:\n    image: x\n    deploy:\n      resources:\n        reservations:\n"
            "          devices:\n            - capabilities: [gpu]\n              count: all\n")
    edit = compose_edit.edit_project([("/p/c.yaml", text)], "vllm", cp.before, cp.after)
    assert edit is not None and edit.texts["/p/c.yaml"] == "services:\n  vllm:\n    image: x\n"
