"""Compose ownership from labels, and the label moves that keep a backup out of Compose's sight (plain dicts)."""

from __future__ import annotations

from remediate.core import compose

V2 = {
    "com.docker.compose.project": "duo",
    "com.docker.compose.service": "vllm",
    "com.docker.compose.project.config_files": "/srv/duo/compose.yml,/srv/duo/compose.override.yml",
    "com.docker.compose.project.working_dir": "/srv/duo",
    "com.docker.compose.version": "2.26.1",
    "com.docker.compose.oneoff": "False",
    "com.docker.compose.config-hash": "abc",
    "org.example.team": "ml",
}


def test_owner_reads_every_label() -> None:
    found = compose.owner(V2)
    assert found is not None
    assert found.to_json() == {
        "project": "duo", "service": "vllm",
        "config_files": ["/srv/duo/compose.yml", "/srv/duo/compose.override.yml"],
        "working_dir": "/srv/duo", "version": "2.26.1", "oneoff": False,
    }


def test_owner_of_v1_oneoff_container_without_files() -> None:
    found = compose.owner({"com.docker.compose.project": "p", "com.docker.compose.service": "s",
                           "com.docker.compose.oneoff": "True"})
    assert found is not None
    assert (found.config_files, found.working_dir, found.version, found.oneoff) == ((), None, None, True)


def test_no_owner_without_project_and_service() -> None:
    assert compose.owner(None) is None
    assert compose.owner({}) is None
    assert compose.owner({"com.docker.compose.project": "p"}) is None
    assert compose.owner({"org.example.team": "ml"}) is None


def test_describe_names_project_service_files_version() -> None:
    owner = compose.owner(V2)
    assert owner is not None
    assert compose.describe(owner.to_json()) == (
        "compose: project duo, service vllm (/srv/duo/compose.yml, /srv/duo/compose.override.yml, compose 2.26.1)")
    assert compose.describe({"project": "p", "service": "s"}) == "compose: project p, service s (no config files recorded)"


def test_disarmed_hides_the_owner_and_armed_brings_it_back() -> None:
    hidden = compose.disarmed(V2)
    assert compose.owner(hidden) is None
    assert compose.is_disarmed(hidden)
    assert not any(k.startswith("com.docker.compose.") for k in hidden)
    assert hidden["org.example.team"] == "ml"
    assert hidden["remediate.disarmed.com.docker.compose.service"] == "vllm"
    assert compose.armed(hidden) == V2
    assert list(compose.armed(hidden)) == list(V2)  # order kept


def test_arming_plain_labels_changes_nothing() -> None:
    plain = {"org.example.team": "ml", "remediate.other": "x"}
    assert compose.armed(plain) == plain
    assert compose.disarmed(plain) == plain
    assert not compose.is_disarmed(plain)
    assert not compose.is_disarmed(V2)
