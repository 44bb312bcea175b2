"""The fidelity corpus of test_fidelity.py on Podman 4.3 and 5.4, through their Docker-compatible
socket (tests/lab/podman.py): the same cases, fixtures and assertions, with the containers read as
remediate reads them (remediate/host/dialect.py). Cases Podman itself cannot make are skipped with
Podman's reason (``Case.podman``), or made without starting them (``Case.podman_create_only``).

A module of its own, so that pytest-xdist (``--dist loadfile``) runs it beside the Docker engines'.
"""

from __future__ import annotations

import pytest

from tests.integration.conftest import ENGINE_FIXTURES
from tests.integration.test_fidelity import (  # noqa: F401 - the corpus's fixtures and tests, collected here
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


@pytest.fixture(scope="module", params=[PODMAN4, PODMAN5])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each Podman generation (its Docker-compatible API)."""
    chosen: Engine = request.getfixturevalue(ENGINE_FIXTURES[request.param])
    return chosen
