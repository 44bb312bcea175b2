"""The exception tree (raised by real code paths, carrying their objects) and the one map from
outcomes and exceptions to exit codes. No engine: an absent socket, local files, plain results."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

import remediate
from remediate import errors
from remediate.cli.common import parse_amount
from remediate.cli.exit_codes import exit_code
from remediate.core.planner import Plan
from remediate.core.results import Action, ContainerResult, HostResult, ProbeResult
from remediate.executor.hold import Revert
from remediate.executor.restore import Recovery
from remediate.fleet.options import Hooks, Options, jobs
from remediate.fleet.results import HostOutcome, RolloutResult
from remediate.fleet.rollout import rollout
from remediate.fleet.target import Target, target_from_url

NO_SOCKET = "unix:///nonexistent/remediate-test.sock"


def _plan(host: str = "h1") -> Plan:
    return Plan(playbook="book", host=host, vars={}, containers=())


def _host(*containers: ContainerResult, host: str = "h1") -> HostResult:
    return HostResult(host, _plan(host), containers)


def test_every_class_is_in_the_tree_and_exported() -> None:
    classes = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, Exception)]
    assert all(issubclass(c, errors.RemediateError) for c in classes)
    doc = errors.__doc__ or ""
    for cls in classes:
        assert cls.__name__ in doc, f"{cls.__name__} is not drawn in the tree"
        assert getattr(remediate, cls.__name__) is cls
    assert issubclass(errors.PlaybookError, ValueError) and issubclass(errors.InventoryError, ValueError)
    assert not issubclass(errors.ImageNotFound, errors.ContainerNotFound)
    assert not issubclass(errors.NetworkNotFound, errors.ContainerNotFound)
    assert issubclass(errors.HostFileError, errors.ApplyError) and errors.HostFileError is not errors.ApplyError


def test_input_errors_are_raised_by_the_parsers() -> None:
    with pytest.raises(errors.InventoryError):
        target_from_url("ftp://somewhere")
    with pytest.raises(errors.InventoryError):
        parse_amount("0%", 10, "--serial")
    with pytest.raises(errors.PlaybookError):
        remediate.load_playbook("no-such-playbook-anywhere")
    with pytest.raises(errors.ConnectError) as bad:
        remediate.Connection("ftp://gpu-01")
    assert bad.value.host == "ftp://gpu-01"


def test_an_absent_engine_is_host_unreachable() -> None:
    with remediate.Connection(NO_SOCKET, label="gone") as conn, pytest.raises(errors.HostUnreachable) as caught:
        conn.info()
    assert caught.value.host == "gone" and exit_code(caught.value) == 2


def test_a_host_file_that_cannot_be_written_is_a_host_file_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with remediate.Connection("local") as conn, pytest.raises(errors.HostFileError) as caught:
        conn.write_file(f"{blocker}/below", b"data", 0o644)
    assert caught.value.path == f"{blocker}/below" and caught.value.host == "local"
    assert isinstance(caught.value.__cause__, OSError)


def test_rollout_keeps_each_hosts_exception_and_raises_one_rollout_error() -> None:
    book = remediate.load_playbook("fix-vllm-404")
    result = rollout(jobs(book, [Target("gone", url=NO_SOCKET)]), Options(dry_run=True))

    outcome = result.outcomes[0]
    assert outcome.status == "unreachable" and isinstance(outcome.exception, errors.HostUnreachable)
    assert outcome.error == outcome.exception.message
    with pytest.raises(errors.RolloutError) as caught:
        result.raise_for_failure()
    assert caught.value.result is result and caught.value.__cause__ is outcome.exception
    assert exit_code(caught.value) == exit_code(result) == 2  # no host could be worked on


def test_confirm_is_not_asked_when_no_host_could_be_planned() -> None:
    book = remediate.load_playbook("fix-vllm-404")
    result = rollout(jobs(book, [Target("gone", url=NO_SOCKET)]), hooks=Hooks(confirm=lambda _p: pytest.fail("asked")))
    assert result.dry_run and not result.declined and result.outcomes[0].status == "unreachable"


def test_host_result_raises_the_containers_own_exception_with_the_result() -> None:
    checks = (ProbeResult("running", True, "up"), ProbeResult("http GET /", False, "404"))
    probe = errors.ProbeFailed("verify failed: http GET /: 404", checks=checks, host="h1", container="a")
    result = _host(ContainerResult("a", Action.ROLLED_BACK, "1" * 64, error=probe.message, exception=probe),
                   ContainerResult("b", Action.SKIPPED, "2" * 64))

    with pytest.raises(errors.ProbeFailed) as caught:
        result.raise_for_failure()
    assert caught.value is probe and probe.result is result and probe.plan is result.plan
    assert probe.checks == checks and exit_code(probe) == 1
    _host(ContainerResult("a", Action.RECREATED, "1" * 64, "3" * 64)).raise_for_failure()  # nothing to raise


def test_a_failed_restore_wins_and_is_rollback_failed() -> None:
    result = _host(ContainerResult("a", Action.ROLLED_BACK, "1" * 64, error="verify failed"),
                   ContainerResult("b", Action.ROLLBACK_FAILED, "2" * 64, error="engine gone",
                                   manual_steps=("docker start b",)))
    with pytest.raises(errors.RollbackFailed) as caught:
        result.raise_for_failure()
    assert caught.value.container == "b" and caught.value.manual_steps == ("docker start b",)
    assert caught.value.result is result and exit_code(caught.value) == 3


@pytest.mark.parametrize(("outcome", "code"), [
    (None, 0),
    (errors.PlaybookError("bad"), 2),
    (errors.LockedError("held"), 2),
    (errors.PlanStaleError("drifted"), 2),
    (errors.JournalError("disk full, nothing changed"), 2),
    (errors.ApplyError("failed, restored", result=HostResult("h1", Plan("b", "h1", {}, ()), ())), 1),
    (errors.RollbackFailed("restore failed"), 3),
    (click.UsageError("no such option"), 2),
    (click.Abort(), 1),
    (KeyboardInterrupt(), 1),
    (ContainerResult("a", Action.RECREATED, "1"), 0),
    (ContainerResult("a", Action.UNCHANGED, "1"), 0),
    (ContainerResult("a", Action.ROLLED_BACK, "1"), 1),
    (ContainerResult("a", Action.ROLLBACK_FAILED, "1"), 3),
    ([ContainerResult("a", Action.ROLLED_BACK, "1"), ContainerResult("b", Action.RESTORED, "2")], 1),
    ((ContainerResult("a", Action.ROLLBACK_FAILED, "1"), ContainerResult("b", Action.ROLLED_BACK, "2")), 3),
    ([], 0),
    (Recovery("a", "tx", "restored the original"), 0),
    ([Recovery("a", "tx", "restored the original"), Recovery("b", "tx2", "manual action needed",
                                                              manual_steps=("docker start b",))], 3),
    (Revert("h1", "a"), 0),
    (Revert("h1", "a", ContainerResult("a", Action.ROLLED_BACK, "1")), 3),
])
def test_exit_code_of(outcome: object, code: int) -> None:
    assert exit_code(outcome) == code  # type: ignore[arg-type]


def _rollout(*statuses: str, interrupted: bool = False) -> RolloutResult:
    return RolloutResult(tuple(HostOutcome(Target(f"h{i}"), s) for i, s in enumerate(statuses)),  # type: ignore[arg-type]
                         interrupted=interrupted)


@pytest.mark.parametrize(("statuses", "interrupted", "code"), [
    (("changed", "ok"), False, 0),
    (("planned",), False, 0),
    ((), False, 0),
    (("changed", "failed"), False, 1),
    (("changed", "unreachable"), False, 1),
    (("changed", "skipped"), True, 1),
    (("unreachable", "error"), False, 2),
    (("failed", "rollback failed"), False, 3),
])
def test_exit_code_of_a_rollout(statuses: tuple[str, ...], interrupted: bool, code: int) -> None:
    result = _rollout(*statuses, interrupted=interrupted)
    assert exit_code(result) == code
    if result.failed:
        with pytest.raises(errors.RolloutError) as caught:
            result.raise_for_failure()
        assert exit_code(caught.value) == code
    else:
        result.raise_for_failure()


def test_a_targets_connection_keeps_its_own_key() -> None:
    """Every path that reaches an inventory host (rollout, the hold's revert, --restore, rollback,
    recover, history) connects through Target.connection: the host's key file wins."""
    shared = remediate.SshOptions(known_hosts="/k", accept_new_host_keys=True, key_file="/shared")
    own = Target("gpu-01", url="ssh://root@gpu-01:22", key_file="/gpu-01.key").connection(shared, timeout=5)
    other = Target("gpu-02", url="ssh://root@gpu-02:22").connection(shared)
    assert own.ssh_options.key_file == "/gpu-01.key" and own.ssh_options.known_hosts == "/k"
    assert own.ssh_options.accept_new_host_keys and own.timeout == 5 and own.label == "gpu-01"
    assert other.ssh_options.key_file == "/shared"
