"""The fidelity corpus of test_fidelity.py on Podman 4.3 and 5.4, through their Docker-compatible
socket (tests/lab/podman.py): the same cases, fixtures and assertions, with the containers read as
remediate reads them (remediate/host/dialect.py). Cases Podman itself cannot make are skipped with
Podman's reason (``Case.podman``), or made without starting them (``Case.podman_create_only``);
what Podman's create ignores of a case is left out of its checks (``PODMAN_IGNORED``, asserted
unset on the original). A case remediate refuses to recreate on Podman (:data:`PODMAN_REFUSED`)
is checked as refused, up front, with its reason (:func:`test_refused_up_front`).

A module of its own, so that pytest-xdist (``--dist loadfile``) runs it beside the Docker engines'.
"""

from __future__ import annotations

import pytest

from remediate.core import playbook as pb
from remediate.errors import PlanError
from remediate.executor.observe import plan_host
from tests.integration.conftest import ENGINE_FIXTURES
from tests.integration.test_fidelity import (  # noqa: F401 - the corpus's fixtures and tests, collected here
    PREFIX,
    Lab,
    Result,
    client,
    corpus,
    lab,
    test_anonymous_volume_data_survives,
    test_cli_and_sdk_twins_have_one_spec,
    test_hostname_behaviour,
    test_image_defaults_are_not_pinned,
    test_mac_address_is_kept,
    test_network_container_shares_the_owner,
    test_raw_fields_round_trip,
    test_replan_of_applied_env_is_a_noop,
    test_shell_commands_reproduce_the_container,
    test_spec_round_trips,
    test_two_networks_both_connected,
    test_volumes_from_sees_source_data,
    test_whole_config_matches,
    twins,
)
from tests.lab.engines import Engine
from tests.lab.podman import PODMAN4, PODMAN5

pytestmark = pytest.mark.integration

_BOTH = (PODMAN4, PODMAN5)
_ROUND_TRIP = ("test_raw_fields_round_trip", "test_spec_round_trips")
_RAW, _SPEC = _ROUND_TRIP[:1], _ROUND_TRIP[1:]
_STATIC_IP = ('now and then the copy of a container with static IPs does not start ("IPAM error: requested ip '
              'address in use")')

_NEVER_STARTED = "is not there (it never started)"
_NO_STATIC_IP = ("Podman shows no static IP: a recreate gets new ones (the plan says so: "
                 "test_static_addresses_are_named_in_the_plan)")

#: Cases remediate refuses to recreate on Podman, up front (issue 22): case -> (the Podman
#: generations, a part of the reason). Never-started containers: Podman writes the OCI config,
#: the only place that shows their sysctls, masked paths and device rules, at the first start.
PODMAN_REFUSED: dict[str, tuple[tuple[str, ...], str]] = {
    "restart-unless-stopped": ((PODMAN4,), "--restart unless-stopped: Podman 4.3.1 has no `docker update` API"),
    "restart-on-failure": ((PODMAN4,), "--restart on-failure: Podman 4.3.1 has no `docker update` API"),
    **{case: (_BOTH, _NEVER_STARTED) for case in (
        "privileged", "gpus", "gpus-requests", "device-request-other", "memlock", "image-entrypoint-no-cmd",
        "ulimits-sysctls", "log-opts-sysctls")},
}

#: Where the corpus finds Podman short of Docker (issue 22): case (or a module test's own id)
#: -> (why, the Podman generations, the tests that fail there). Marked strict xfail: a gap
#: that closes fails here until its entry goes; one of :data:`PODMAN_FLAKY` may pass.
PODMAN_GAPS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "two-networks": (_STATIC_IP, (PODMAN5,),
                     (*_ROUND_TRIP, "test_hostname_behaviour", "test_shell_commands_reproduce_the_container",
                      "test_whole_config_matches")),
    "test_two_networks_both_connected": (_NO_STATIC_IP, _BOTH, ()),
    "test_cli_and_sdk_twins_have_one_spec": ("the CLI and SDK spellings read back alike on Podman", _BOTH, ()),
    "test_replan_of_applied_env_is_a_noop": ("a recreated twin plans a change again", _BOTH, ()),
    "test_image_defaults_are_not_pinned": ("Podman 4.3 shows the image's exposed ports as PortBindings",
                                           (PODMAN4,), ()),
}

#: Gaps seen now and then only (not strict).
PODMAN_FLAKY = frozenset({"two-networks"})
#: Module tests of what Podman's create ignores of a case (test_fidelity.PODMAN_IGNORED).
_IGNORED_HERE = {"mac-address-bridge-02:42:0a:e7:fa:01": "Podman gives the default network a MAC address of its "
                                                         "own (the original has none: test_fidelity's round trip)"}


@pytest.fixture(autouse=True)
def _known_gap(request: pytest.FixtureRequest) -> None:
    """Mark a test of :data:`PODMAN_GAPS` strict xfail on the Podman generation it fails on; skip
    the corpus tests of a case :data:`PODMAN_REFUSED` there (:func:`test_refused_up_front` checks it)."""
    callspec = getattr(request.node, "callspec", None)
    if callspec is None:
        return
    engine = str(callspec.params.get("engine"))
    name = request.node.originalname
    case = "-".join(str(v) for k, v in callspec.params.items() if k != "engine")
    refused = PODMAN_REFUSED.get(str(callspec.params.get("case_id")), ((), ""))[0]
    if engine in refused and name != "test_refused_up_front":
        pytest.skip("refused up front on this Podman (test_refused_up_front checks it)")
    if case in _IGNORED_HERE:
        pytest.skip(_IGNORED_HERE[case])
    why, engines, tests = PODMAN_GAPS.get(case or name, ("", (), ()))
    if engine in engines and (name in tests or not tests):
        request.node.add_marker(pytest.mark.xfail(reason=f"issue 22: {why}", strict=case not in PODMAN_FLAKY))


@pytest.mark.parametrize("case_id", sorted(PODMAN_REFUSED))
def test_refused_up_front(corpus: dict[str, Result], lab: Lab, case_id: str) -> None:  # noqa: F811 - the fixtures
    """A case Podman's Docker API cannot recreate is refused with its reason: the plan of a
    change to it carries the refusal (the dry run shows it), the apply stops before anything."""
    engines, reason = PODMAN_REFUSED[case_id]
    result = corpus[case_id]
    if lab.engine.name not in engines:
        assert result.refusal is None, result.refusal
        pytest.skip(f"refused on {', '.join(engines)} only")
    assert result.refusal is not None and reason in result.refusal, result.refusal
    playbook = pb.Playbook.model_validate({
        "name": "set-a", "description": "A=2", "select": {"name": f"{PREFIX}*"}, "changes": [{"env": {"A": "2"}}]})
    with lab.conn_lock:
        plan = plan_host(lab.conn, playbook, {}, only=[f"{PREFIX}{case_id}"])
    (cp,) = plan.containers
    assert cp.refusal == result.refusal
    assert f"{result.refusal} (the apply refuses it before anything stops)" in cp.notes
    with pytest.raises(PlanError, match="nothing was changed"):
        plan.check_refusals()


@pytest.fixture(scope="module", params=[PODMAN4, PODMAN5])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each Podman generation (its Docker-compatible API)."""
    chosen: Engine = request.getfixturevalue(ENGINE_FIXTURES[request.param])
    return chosen


def test_static_addresses_are_named_in_the_plan(corpus: dict[str, Result], lab: Lab) -> None:  # noqa: F811 - fixtures
    """Podman keeps a static IP but shows it as any address: the plan of a recreate says so."""
    assert corpus["two-networks"].original is not None
    playbook = pb.Playbook.model_validate({
        "name": "set-a", "description": "A=2", "select": {"name": f"{PREFIX}*"}, "changes": [{"env": {"A": "2"}}]})
    with lab.conn_lock:
        plan = plan_host(lab.conn, playbook, {}, only=[f"{PREFIX}two-networks"])
    (cp,) = plan.containers
    assert cp.refusal is None
    assert (f"{lab.conn.dialect.label} does not show static IPs or MAC addresses: on rt-fid-net1, rt-fid-net2 the "
            "recreated container gets addresses of its own") in " ".join(cp.notes), cp.notes
