"""The names of remediate's own containers: built and read back by one module."""

from __future__ import annotations

import pytest

from remediate.core.naming import (
    backup_name,
    is_backup_of,
    is_remediate_copy,
    parse_backup,
    staged_name,
)


def test_a_backup_name_reads_back_as_its_container_and_stamp() -> None:
    name = backup_name("vllm")

    assert name.startswith("vllm-remediate-backup-")
    original, when = parse_backup(name) or ("", "")
    assert original == "vllm" and len(when) == len("20260101T000000000") and name.endswith(when)
    assert parse_backup("/" + name) == (original, when)  # inspect's leading slash
    assert is_backup_of(name, "vllm") and not is_backup_of(name, "vll") and not is_backup_of(name, "vllm-2")


@pytest.mark.parametrize(("name", "copy"), [
    ("vllm", False), ("vllm-remediate-newer", False), ("remediate", False),
    ("vllm-remediate-new", True), ("/vllm-remediate-new", True), ("vllm-remediate-backup-20260101T000000000", True)])
def test_only_remediates_own_containers_are_copies(name: str, copy: bool) -> None:
    assert is_remediate_copy(name) is copy
    assert (parse_backup(name) is not None) is ("backup" in name)


def test_the_staged_name_is_a_copy_and_no_backup() -> None:
    assert staged_name("web") == "web-remediate-new" and parse_backup(staged_name("web")) is None
