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


def test_config_hash_is_asked_of_the_compose_major_that_made_the_container() -> None:
    v2 = compose.owner(V2)
    v1 = compose.owner({**V2, "com.docker.compose.version": "1.29.2"})
    assert v2 is not None and v1 is not None
    assert compose.compose_commands(v2) == (("docker", "compose"), ("docker-compose",))
    assert compose.compose_commands(v1) == (("docker-compose",),)
    assert compose.same_major(v2, "2.26.1-4\n") and compose.same_major(v2, "v2.29.0\n")
    assert not compose.same_major(v2, "1.29.2\n") and not compose.same_major(v2, "")
    assert compose.same_major(v1, "1.29.2") and not compose.same_major(v1, "2.26.1")


def test_hash_argv_names_the_project_its_directory_and_every_file_in_order() -> None:
    found = compose.owner(V2)
    assert found is not None
    project = "docker compose -p duo --project-directory /srv/duo"
    # v2: the resolved project is hashed (env_file variables in, as `up` hashes: docker/compose#14001).
    assert compose.hash_argv(found, ("docker", "compose")) == [
        "sh", "-c", (f"{project} -f /srv/duo/compose.yml -f /srv/duo/compose.override.yml config | "
                    f"{project} -f - config --hash vllm")]
    v1 = compose.ComposeOwner("duo", "vllm", ("compose.yml",), "/srv/duo", "1.29.2", False)
    assert compose.hash_argv(v1, ("docker-compose",)) == [
        "docker-compose", "-p", "duo", "--project-directory", "/srv/duo", "-f", "/srv/duo/compose.yml",
        "config", "--hash", "vllm"]


def test_parse_hash_finds_the_service_line_only() -> None:
    value = "5c8169075e7ba0f8ce194a4f350952051c21b0ea12c9ca26ea3b9e30cf65972b"
    assert compose.parse_hash(f"gateway {'0' * 64}\nvllm {value}\n", "vllm") == value
    assert compose.parse_hash(f"gateway {value}\n", "vllm") is None
    assert compose.parse_hash("vllm not-a-hash\n", "vllm") is None
