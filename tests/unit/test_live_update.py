"""The restart and resources change kinds on inspect-JSON fixtures: schema errors, values as docker
reads them, planning (in place when only live-updatable fields change and the engine can give every
value back, else a recreate, with why), the ``docker run`` view, the undo commands, the compose
edit, fix-all and lint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from remediate.core.compose_edit import edit_project
from remediate.core.fields import FIELDS, LIVE_UPDATE
from remediate.core.fixall import merge_fixes
from remediate.core.host_options import cpus_text, parse_cpus, parse_restart
from remediate.core.live import differing
from remediate.core.planner import plan
from remediate.core.spec import ContainerSpec
from remediate.errors import PlanError, PlaybookError
from remediate.executor.undo import update_command
from remediate.output.plan import container_plan_json
from tests.unit.test_host_option_kinds import assert_one_line_error, book, observed, one

IN_PLACE = "in place: docker update of the same container (no recreate; a failed verify updates it back)"


def test_the_field_table_says_which_fields_are_live_updatable() -> None:
    assert LIVE_UPDATE == ("RestartPolicy", "Memory", "MemorySwap", "MemoryReservation", "PidsLimit", "NanoCpus",
                           "CpuShares", "CpuPeriod", "CpuQuota", "CpusetCpus", "CpusetMems", "BlkioWeight")
    assert {f.key for f in FIELDS if f.live_unset is not None} == {"RestartPolicy", "PidsLimit"}


@pytest.mark.parametrize(("change", "message"), [
    ({"restart": "sometimes"}, "restart policy 'sometimes' is not one of no, always, unless-stopped, on-failure"),
    ({"restart": "always:3"}, "max_retries is only for on-failure"),
    ({"restart": {"policy": "on-failure", "max_retries": -1}}, "max_retries must be a number from 0"),
    ({"restart": 3}, "must be a policy or a mapping"),
    ({"resources": {}}, "give at least one of memory"),
    ({"resources": {"memory": "lots"}}, "'lots' is not a size"),
    ({"resources": {"memory": "1m"}}, "less than the 6m the engine takes"),
    ({"resources": {"cpus": 0}}, "is not a number of CPUs"),
    ({"resources": {"cpus": 2, "cpu_quota": 50000}}, "give cpus or cpu_period/cpu_quota, not both"),
    ({"resources": {"blkio_weight": 5}}, "from 10 to 1000"),
    ({"resources": {"cpuset_cpus": "0-3,x"}}, "is not a list of numbers and ranges"),
    ({"resources": {"memroy": "1g"}}, "Extra inputs are not permitted"),
])
def test_bad_values_are_one_line_playbook_errors(change: dict[str, Any], message: str, tmp_path: Path) -> None:
    assert_one_line_error(change, message, tmp_path)


def test_values_as_docker_reads_them() -> None:
    assert parse_restart("on-failure:5") == ("on-failure", 5) and parse_restart("always") == ("always", 0)
    assert [parse_cpus(v) for v in (2, "1.5", 0.25)] == [2_000_000_000, 1_500_000_000, 250_000_000]
    assert [cpus_text(n) for n in (2_000_000_000, 1_500_000_000)] == ["2", "1.5"]
    assert book({"restart": False}).changes[0].restart.policy == "no"  # type: ignore[union-attr]  # YAML's bare no


def test_restart_and_a_pids_limit_are_made_in_place_with_the_values_that_put_them_back() -> None:
    cp = one("busybox-minimal", {"restart": {"policy": "on-failure", "max_retries": 3}}, {"resources": {"pids_limit": 100}})

    assert cp.action == "update-in-place" and cp.notes[0] == IN_PLACE
    assert [(c.field, c.before, c.after, c.action) for c in cp.changes] == [
        ("restart", None, "on-failure:3", "update-in-place"), ("resources.pids_limit", None, "100", "update-in-place")]
    assert cp.live is not None
    assert cp.live.after == {"PidsLimit": 100, "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3}}
    assert cp.live.before == {"PidsLimit": 0, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}
    diff = container_plan_json(cp)["diff"]
    assert "+ --restart on-failure:3" in diff and "+ --pids-limit 100" in diff
    assert update_command("web", cp.live.before) == "docker update --pids-limit 0 --restart no web"


def test_a_changed_limit_is_made_in_place_and_a_second_run_is_a_no_op() -> None:
    cp = one("busybox-minimal", {"resources": {"memory": "8g", "cpus": 2}}, Memory=4 << 30, NanoCpus=1_000_000_000)

    assert cp.action == "update-in-place"
    assert cp.live is not None and cp.live.after == {"Memory": 8 << 30, "NanoCpus": 2_000_000_000}
    assert [(c.before, c.after) for c in cp.changes] == [("4g", "8g"), ("1", "2")]
    again = one("busybox-minimal", {"resources": {"memory": "8192m"}}, Memory=8 << 30)
    assert again.action == "none" and [c.reason for c in again.changes] == ["already set"]
    same = one("busybox-minimal", {"restart": "no"})
    assert same.action == "none" and [c.reason for c in same.changes] == ["already set"]


@pytest.mark.parametrize(("changes", "host_config", "why"), [
    ([{"resources": {"memory": "1g"}}], {}, "resources.memory is added where there was none"),
    ([{"resources": {"memory": None}}], {"Memory": 1 << 30}, "resources.memory is removed"),
])
def test_a_limit_added_or_removed_is_made_by_a_recreate_and_says_why(changes: list[Any], host_config: dict[str, Any],
                                                                     why: str) -> None:
    cp = one("busybox-minimal", *changes, **host_config)

    assert cp.action == "recreate" and cp.live is None
    assert any(why in n and "docker update cannot clear a limit" in n for n in cp.notes), cp.notes


def test_live_and_other_changes_together_are_one_recreate() -> None:
    cp = one("busybox-minimal", {"restart": "always"}, {"env": {"A": "1"}})

    assert cp.action == "recreate" and cp.live is None
    assert [c.action for c in cp.changes] == ["recreate", "recreate"]


def test_an_engine_without_the_update_api_recreates() -> None:
    cp = plan(book({"restart": "always"}), {}, [observed("busybox-minimal")], can_update=False).containers[0]

    assert cp.action == "recreate" and any("no docker update API" in n for n in cp.notes)


@pytest.mark.parametrize(("update", "why"), [({"revert_after": 60}, "time-boxed"), ({"start": True}, "starts")])
def test_a_time_boxed_change_or_a_start_is_recreated(update: dict[str, Any], why: str) -> None:
    playbook = book({"restart": "always"}).model_copy(update=update)
    cp = plan(playbook, {}, [observed("busybox-minimal")]).containers[0]  # a created container

    assert cp.action == "recreate" and any(why in n for n in cp.notes), cp.notes


@pytest.mark.parametrize(("change", "host_config", "message"), [
    ({"cpus": 2}, {"CpuQuota": 50000}, "cpus and cpu_period/cpu_quota"),
    ({"memory": "1g"}, {"Memory": 256 << 20, "MemorySwap": 512 << 20}, "memory 1g is more than memory_swap 512m"),
    ({"memory_reservation": "2g"}, {"Memory": 1 << 30}, "memory_reservation 2g is more than memory 1g"),
    ({"memory": None}, {"Memory": 1 << 30, "MemorySwap": 2 << 30}, "memory_swap needs a memory limit"),
])
def test_limits_the_engine_refuses_together_are_refused_when_planned(change: dict[str, Any],
                                                                      host_config: dict[str, Any],
                                                                      message: str) -> None:
    with pytest.raises(PlanError, match=message):
        one("busybox-minimal", {"resources": change}, **host_config)


def test_templates_render_and_what_resources_leave_out_is_kept() -> None:
    cp = one("busybox-minimal", {"resources": {"memory": "{{ mem }}"}}, {"restart": "{{ policy }}"},
             vars={"mem": "2g", "policy": "unless-stopped"}, Memory=1 << 30, PidsLimit=64)

    assert cp.after.host_config["Memory"] == 2 << 30 and cp.after.host_config["PidsLimit"] == 64
    assert cp.after.host_config["RestartPolicy"]["Name"] == "unless-stopped"
    with pytest.raises(PlaybookError, match=r"changes\[0\].resources: memory: .*'much' is not a size"):
        one("busybox-minimal", {"resources": {"memory": "{{ mem }}"}}, vars={"mem": "much"})


def test_what_the_engine_shows_is_compared_as_the_spec_compares_it() -> None:
    shown = {"PidsLimit": 0, "Memory": 1 << 30, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}

    assert differing(shown, {"PidsLimit": None, "Memory": 1 << 30, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}}) == []
    assert differing(shown, {"Memory": 2 << 30, "PidsLimit": 5}) == ["Memory", "PidsLimit"]


def spec(**host_config: Any) -> ContainerSpec:
    return ContainerSpec("c", "i", host_config=host_config)


def test_compose_edit_sets_restart_and_limits_where_compose_v2_takes_them() -> None:
    text = "services:\n  gw:\n    image: g\n    restart: always  # keep\n    mem_limit: 1g\n"
    edit = edit_project([("c.yml", text)], "gw", spec(RestartPolicy={"Name": "always"}, Memory=1 << 30),
                        spec(RestartPolicy={"Name": "on-failure", "MaximumRetryCount": 2}, Memory=2 << 30,
                             NanoCpus=1_500_000_000, PidsLimit=100, BlkioWeight=300))

    assert edit is not None
    assert edit.texts["c.yml"] == ("services:\n  gw:\n    image: g\n    restart: on-failure:2 # keep\n"
                                   "    mem_limit: 2g\n    cpus: 1.5\n    pids_limit: 100\n"
                                   "    blkio_config:\n      weight: 300\n")
    deploy = "services:\n  gw:\n    image: g\n    deploy:\n      resources:\n        limits:\n          memory: 1g\n"
    edit = edit_project([("c.yml", deploy)], "gw", spec(Memory=1 << 30, RestartPolicy={"Name": "always"}),
                        spec(Memory=2 << 30))
    assert edit is not None and edit.texts["c.yml"] == deploy.replace("1g", "2g")
    edit = edit_project([("c.yml", text)], "gw", spec(RestartPolicy={"Name": "always"}, Memory=1 << 30), spec())
    assert edit is not None and edit.texts["c.yml"] == "services:\n  gw:\n    image: g\n"


def test_fix_all_and_lint_know_the_new_kinds() -> None:
    a = book({"resources": {"memory": "8g"}}, {"restart": "always"}, name="a")
    b = book({"resources": {"memory": "8192m", "pids_limit": 10}}, name="b")
    merged = merge_fixes({"c": [a, b]})
    assert len(merged) == 1
    with pytest.raises(PlaybookError, match="resources memory"):
        merge_fixes({"c": [a, book({"resources": {"memory": "4g"}}, name="c")]})
