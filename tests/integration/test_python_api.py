"""The safe flow through the Python API on the real engine: ``remediate.rollout`` plans, asks the
confirm callback, applies what it was shown; a failed verify surfaces as exceptions that carry
their objects; a time-boxed playbook is held and put back; the engine's 404s are typed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import remediate
from remediate.cli.exit_codes import exit_code
from tests.conftest import remove_owned
from tests.integration._proc import PLAYBOOK, run_vllm

PREFIX = "rt-pyapi-"


@pytest.fixture
def name(docker_client: Any, state_dir: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A container name for this test (removed afterwards, with its backups); the journal in ``state_dir``."""
    monkeypatch.setenv("REMEDIATE_STATE_DIR", state_dir)
    base = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    try:
        yield base
    finally:
        remove_owned(docker_client, base)


def _playbook(tmp_path: Path, *replacements: tuple[str, str]) -> remediate.Playbook:
    text = PLAYBOOK.read_text()
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    path = tmp_path / "book.yml"
    path.write_text(text)
    return remediate.load_playbook(str(path))


def _run(book: remediate.Playbook, name: str, tmp_path: Path, *, hold: bool = False,
         **hooks: Any) -> remediate.RolloutResult:
    jobs = remediate.jobs(book, [remediate.Target("local")], only=[name],
                          overrides={"template_host_path": str(tmp_path / "chat_template.jinja")})
    return remediate.rollout(jobs, remediate.Options(timeout=20, hold=hold), hooks=remediate.Hooks(**hooks))


def test_confirm_declined_changes_nothing(name: str, tmp_path: Path, docker_client: Any) -> None:
    original = run_vllm(docker_client, name)
    shown: list[remediate.RolloutResult] = []

    def decline(planned: remediate.RolloutResult) -> bool:
        shown.append(planned)
        return False

    result = _run(remediate.load_playbook("fix-vllm-404"), name, tmp_path, confirm=decline)

    assert len(shown) == 1 and shown[0].dry_run and shown[0].changes
    assert [c.name for c in shown[0].outcomes[0].plan.changed] == [name]  # type: ignore[union-attr]
    assert result.declined and result.dry_run and result.outcomes[0].status == "planned"
    assert docker_client.api.inspect_container(name)["Id"] == original["Id"]
    assert not (tmp_path / "chat_template.jinja").exists()
    assert exit_code(result) == 1  # declined is not done


def test_confirm_accepted_applies_what_was_shown(name: str, tmp_path: Path, docker_client: Any) -> None:
    original = run_vllm(docker_client, name)
    shown: list[remediate.RolloutResult] = []

    def accept(planned: remediate.RolloutResult) -> bool:
        shown.append(planned)
        return True

    result = _run(remediate.load_playbook("fix-vllm-404"), name, tmp_path, confirm=accept)

    result.raise_for_failure()
    outcome = result.outcomes[0]
    assert not result.dry_run and not result.declined and outcome.status == "changed"
    assert outcome.plan == shown[0].outcomes[0].plan  # exactly the plan it was shown
    assert outcome.result is not None and outcome.result.containers[0].action is remediate.Action.RECREATED
    assert docker_client.api.inspect_container(name)["Id"] != original["Id"]
    # Planned again: nothing to change, so nothing to confirm.
    again = _run(remediate.load_playbook("fix-vllm-404"), name, tmp_path, confirm=lambda _p: pytest.fail("asked"))
    assert again.dry_run and not again.changes and exit_code(again) == 0


def test_failed_verify_raises_probe_failed_with_its_checks(name: str, tmp_path: Path, docker_client: Any) -> None:
    original = run_vllm(docker_client, name)
    book = _playbook(tmp_path, ("""contains: '"{{ served_model_name if served_model_name is string else served_model_name[0] }}"'""", "contains: no-such-model-anywhere"))

    result = _run(book, name, tmp_path, confirm=lambda _p: True)

    assert result.outcomes[0].status == "failed"
    with pytest.raises(remediate.RolloutError) as caught:
        result.raise_for_failure()
    assert caught.value.result is result and exit_code(caught.value) == 1
    probe = caught.value.__cause__
    assert isinstance(probe, remediate.ProbeFailed) and probe.container == name and probe.host == "local"
    assert probe.checks and not probe.checks[-1].ok and isinstance(probe.checks[-1], remediate.ProbeResult)
    assert isinstance(probe.result, remediate.HostResult) and probe.plan is probe.result.plan
    assert result.outcomes[0].result.containers[0].exception is probe
    assert docker_client.api.inspect_container(name)["Id"] == original["Id"]  # restored


def test_time_boxed_change_is_held_then_put_back(name: str, tmp_path: Path, docker_client: Any) -> None:
    original = run_vllm(docker_client, name)
    book = _playbook(tmp_path, ("safety: confirm", "safety: confirm\nrevert_after: 2"))
    held: list[float] = []
    during: list[str] = []

    def on_hold(seconds: float) -> None:
        held.append(seconds)
        during.append(docker_client.api.inspect_container(name)["Id"])

    result = _run(book, name, tmp_path, confirm=lambda _p: True, hold=True, on_hold=on_hold)

    assert result.outcomes[0].status == "changed" and held == [2.0]
    assert during[0] != original["Id"]  # the change was in place during the hold
    assert [(r.host, r.container, r.ok) for r in result.reverts] == [("local", name, True)]
    assert result.reverts[0].result is not None and result.reverts[0].result.action is remediate.Action.RESTORED
    assert docker_client.api.inspect_container(name)["Id"] == original["Id"]
    assert exit_code(result) == 0


def test_engine_404s_are_typed(name: str, docker_client: Any) -> None:
    run_vllm(docker_client, name)
    with remediate.Connection("local") as conn:
        with pytest.raises(remediate.ContainerNotFound) as missing:
            conn.inspect_container(f"{name}-absent")
        assert missing.value.container == f"{name}-absent" and missing.value.host == "local"
        with pytest.raises(remediate.ImageNotFound):
            conn.create({"Image": "remediate-test/no-such-image:none"}, f"{name}-x")
        assert conn.inspect_image("remediate-test/no-such-image:none") is None
        with pytest.raises(remediate.NetworkNotFound) as network:
            conn.connect_network(name, f"{name}-no-such-network", {})
        assert network.value.network == f"{name}-no-such-network" and network.value.container == name
