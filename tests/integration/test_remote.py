"""Remote hosts over SSH and rollouts across an inventory, on a lab of real hosts (netns + dockerd + sshd)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.conftest import Cli, remove_owned
from tests.integration._proc import pad_journal, run, run_vllm, start
from tests.lab.hosts import LabHost, lab_hosts

IMAGE = "remediate-test/fake-vllm:1"
NAME = "rt-remote-vllm"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LabHost]]:
    keys = tmp_path_factory.mktemp("lab-keys")
    with lab_hosts(3, prefix="rrt", images=[IMAGE], keys_dir=keys) as hosts:
        yield hosts


@pytest.fixture
def engines(lab: list[LabHost]) -> Iterator[list[Any]]:
    """A broken fake vLLM on every lab host (through each host's socket, not the tool under test)."""
    clients = [docker.APIClient(base_url=h.docker_url, version="1.41") for h in lab]
    for client in clients:
        _reset(client)
        container = client.create_container(
            IMAGE, ["--model", "mistralai/Mistral-7B-Instruct-v0.3"], name=NAME, ports=[8000],
            host_config=client.create_host_config(port_bindings={8000: ("127.0.0.1", None)},
                                                  restart_policy={"Name": "unless-stopped"}))
        client.start(container)
    yield clients
    for client in clients:
        _reset(client)
        client.close()


def _reset(client: Any) -> None:
    for c in client.containers(all=True):
        if any(n.lstrip("/").startswith(NAME) for n in c["Names"]):
            client.remove_container(c["Id"], force=True)


def _make_slow(client: Any) -> None:
    """Replace the host's vLLM with one that starts answering only after a minute."""
    client.remove_container(NAME, force=True)
    container = client.create_container(
        IMAGE, ["--model", "m"], name=NAME, ports=[8000], environment={"FAKE_VLLM_STARTUP_DELAY": "60"},
        host_config=client.create_host_config(port_bindings={8000: ("127.0.0.1", None)}))
    client.start(container)


def _inventory(path: Path, lab: list[LabHost], template_dir: Path, *, one_template: bool = False) -> Path:
    """An Ansible INI inventory of the lab. The lab hosts share this machine's file system, so each
    host gets its own template path (see :func:`_template`), as separate machines would; with
    ``one_template`` they all name one path (same change everywhere; only for dry runs)."""
    lines = ["[gpu]"]
    lines += [f"{h.name} ansible_host={h.address} ansible_port={h.ssh_port}"
              + ("" if one_template else f" template_host_path={_template(template_dir, h)}") for h in lab]
    lines += ["", "[gpu:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={lab[0].identity_file}"]
    if one_template:
        lines.append(f"template_host_path={template_dir}/tpl.jinja")
    inventory = path / ("one-template.ini" if one_template else "inventory.ini")
    inventory.write_text("\n".join(lines) + "\n")
    return inventory


def _template(template_dir: Path, host: LabHost) -> Path:
    return template_dir / host.name / "tpl.jinja"


def _args(lab: list[LabHost], inventory: Path) -> list[str]:
    return ["-i", str(inventory), "--known-hosts", str(lab[0].known_hosts_file)]


def test_hosts_lists_what_a_pattern_selects(cli: Cli, lab: list[LabHost], tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, lab, tmp_path)

    code, out = cli("hosts", "-i", str(inventory), "--limit", f"gpu:!{lab[2].name}")

    assert code == 0
    assert lab[0].name in out and lab[1].name in out and lab[2].name not in out
    assert f"ssh://root@{lab[0].address}:22" in out


def test_rollout_over_all_hosts_then_no_op(cli: Cli, lab: list[LabHost], engines: list[Any], tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, lab, tmp_path)
    before = [c.inspect_container(NAME)["Id"] for c in engines]

    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--dry-run", "--format", "json")

    assert code == 0, out
    hosts = json.loads(out)["hosts"]
    assert [h["status"] for h in hosts] == ["planned"] * 3
    assert [c.inspect_container(NAME)["Id"] for c in engines] == before

    one_template = _inventory(tmp_path, lab, tmp_path, one_template=True)
    code, out = cli("apply", "fix-vllm-404", *_args(lab, one_template), "--dry-run")
    assert "same change on 3 hosts" in out

    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--yes", "--forks", "3")

    assert code == 0, out
    for client, old in zip(engines, before):
        new = client.inspect_container(NAME)
        assert new["Id"] != old and "--served-model-name" in new["Args"] and new["State"]["Running"]
    for host in lab:
        assert _template(tmp_path, host).read_text().startswith("{%- for message in messages %}")

    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--yes", "--format", "json")
    assert code == 0
    assert [h["status"] for h in json.loads(out)["hosts"]] == ["ok"] * 3


def test_serial_max_fail_rolls_back_and_skips_later_batches(cli: Cli, lab: list[LabHost], engines: list[Any],
                                                             tmp_path: Path) -> None:
    _make_slow(engines[1])  # host 2's vLLM answers too late after a restart: its verification fails
    templates = [_template(tmp_path, h) for h in lab]
    for template in templates:
        template.parent.mkdir()
        template.write_text("previous content\n")
    inventory = _inventory(tmp_path, lab, tmp_path)
    before = [c.inspect_container(NAME)["Id"] for c in engines]

    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--yes", "--serial", "1", "--max-fail", "1",
                    "--timeout", "3", "--format", "json")

    assert code == 1, out
    statuses = [h["status"] for h in json.loads(out)["hosts"]]
    assert statuses == ["changed", "failed", "skipped"]
    after = [c.inspect_container(NAME) for c in engines]
    assert after[0]["Id"] != before[0]
    assert after[1]["Id"] == before[1] and after[1]["State"]["Running"]  # rolled back
    assert after[2]["Id"] == before[2] and "--served-model-name" not in after[2]["Args"]  # untouched
    # Host 1 wrote its file over SFTP, host 2 restored its own on rollback, host 3 never wrote.
    assert templates[0].read_text().startswith("{%- for message in messages %}")
    assert [t.read_text() for t in templates[1:]] == ["previous content\n"] * 2


def test_interrupt_restores_the_host_in_flight_and_skips_the_rest(lab: list[LabHost], engines: list[Any],
                                                                    state_dir: str, tmp_path: Path) -> None:
    _make_slow(engines[0])  # host 1's new container keeps verification waiting until the interrupt
    inventory = _inventory(tmp_path, lab, tmp_path)
    before = [c.inspect_container(NAME)["Id"] for c in engines]
    proc = start(["apply", "fix-vllm-404", *_args(lab, inventory), "--yes", "--serial", "1", "--timeout", "300"],
                 state_dir)
    try:
        proc.wait_for(f"{lab[0].name}: {NAME}: verify", stream="stdout")
        os.kill(proc.pid, signal.SIGINT)
        code = proc.wait()
    finally:
        proc.stop()

    assert code == 1, proc.stdout + proc.stderr
    output = "".join(proc.stdout)
    assert "rollout stopped: interrupted" in output
    after = [c.inspect_container(NAME) for c in engines]
    assert [a["Id"] for a in after] == before and after[0]["State"]["Running"]
    assert not any(_template(tmp_path, h).exists() for h in lab)  # host 1's file removed again


def test_local_and_ssh_hosts_in_one_fresh_process(lab: list[LabHost], engines: list[Any], state_dir: str,
                                                   docker_client: Any) -> None:
    """A local engine's docker-py is imported without paramiko; an SSH host in the same run still works."""
    # --container: only this test's own vLLM on each engine (other tests run beside it on the local one)
    run_vllm(docker_client, NAME)
    try:
        result = run(["apply", "fix-vllm-404", "--dry-run", "--format", "json", "--container", NAME, "-H", "local",
                      "-H", lab[0].ssh_url, "--known-hosts", str(lab[0].known_hosts_file),
                      "--private-key", str(lab[0].identity_file)], state_dir)
    finally:
        remove_owned(docker_client, NAME)

    assert result.code == 0, result.output
    hosts = {h["host"]: h for h in json.loads(result.stdout)["hosts"]}
    assert hosts["local"]["status"] == hosts[lab[0].ssh_url]["status"] == "planned"
    assert [c["container"] for c in hosts[lab[0].ssh_url]["plan"]["containers"]] == [NAME]


def test_saved_plan_runs_on_exactly_its_hosts(cli: Cli, lab: list[LabHost], engines: list[Any],
                                             tmp_path: Path) -> None:
    """A plan reviewed for one inventory host: more hosts (the whole inventory, or -H local beside
    it) or another host are refused before any host is touched; without -i it runs on its own
    host, with that host's inventory vars."""
    inventory = _inventory(tmp_path, lab, tmp_path)
    plan_file = tmp_path / "plan.json"
    before = [c.inspect_container(NAME)["Id"] for c in engines]
    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--limit", lab[0].name, "--dry-run",
                    "--out", str(plan_file))
    assert code == 0, out

    whole = cli("apply", "--plan", str(plan_file), *_args(lab, inventory), "--yes")
    plus_local = cli("apply", "--plan", str(plan_file), *_args(lab, inventory), "--limit", lab[0].name,
                     "-H", "local", "--yes")
    other = cli("apply", "--plan", str(plan_file), *_args(lab, inventory), "--limit", lab[1].name, "--yes")

    for refused in (whole, plus_local, other):
        assert refused[0] == 2, refused[1]
        assert "the saved plan was reviewed for other hosts (nothing was changed): not in the plan: " in refused[1]
        assert "Traceback" not in refused[1]
    assert f"not in the plan: {lab[1].name} ({lab[1].ssh_url}), {lab[2].name} ({lab[2].ssh_url})" in whole[1]
    assert "not in the plan: local; without -H/-i/--limit, --plan uses its own hosts" in plus_local[1]
    assert f"in the plan but not given: {lab[0].name} ({lab[0].ssh_url})" in other[1]
    assert [c.inspect_container(NAME)["Id"] for c in engines] == before
    assert not any(_template(tmp_path, h).exists() for h in lab)

    code, out = cli("apply", "--plan", str(plan_file), "--known-hosts", str(lab[0].known_hosts_file), "--yes")

    assert code == 0, out
    after = [c.inspect_container(NAME) for c in engines]
    assert after[0]["Id"] != before[0] and "--served-model-name" in after[0]["Args"]
    assert _template(tmp_path, lab[0]).exists()  # the host's own template_host_path from the inventory
    assert [a["Id"] for a in after[1:]] == before[1:]
    assert not any(_template(tmp_path, h).exists() for h in lab[1:])


def test_file_restored_over_sftp_on_rollback(cli: Cli, lab: list[LabHost], engines: list[Any], tmp_path: Path) -> None:
    _make_slow(engines[0])
    template = tmp_path / "sftp" / "tpl.jinja"
    template.parent.mkdir()
    template.write_text("previous content\n")
    template.chmod(0o600)

    code, out = cli("apply", "fix-vllm-404", "-H", lab[0].ssh_url, "--known-hosts", str(lab[0].known_hosts_file),
                    "--private-key", str(lab[0].identity_file), "-e", f"template_host_path={template}",
                    "--yes", "--timeout", "3")

    assert code == 1, out
    assert "restored" in out
    assert template.read_text() == "previous content\n" and template.stat().st_mode & 0o777 == 0o600


def _flag_playbook(path: Path) -> Path:
    """A change with no file: the same ``docker run`` diff on every host."""
    book = path / "flag.yml"
    book.write_text(f"name: flag\ndescription: set a flag\nsafety: auto\nselect: {{name: {NAME}}}\n"
                    "changes:\n  - env: {NEW_FLAG: '1'}\n")
    return book


def test_fleet_rollback_shows_one_preview_asks_once_and_rolls_every_host_back(
        cli: Cli, lab: list[LabHost], engines: list[Any], tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, lab, tmp_path)
    before = [c.inspect_container(NAME)["Id"] for c in engines]
    code, out = cli("apply", str(_flag_playbook(tmp_path)), *_args(lab, inventory), "--yes", "--forks", "3")
    assert code == 0, out
    applied = [c.inspect_container(NAME)["Id"] for c in engines]

    code, out = cli("rollback", NAME, *_args(lab, inventory), "--dry-run")

    assert code == 0, out
    assert "same change on 3 hosts" in out and out.count("- --env NEW_FLAG=1") == 1, out
    assert [c.inspect_container(NAME)["Id"] for c in engines] == applied

    code, out = cli("rollback", NAME, *_args(lab, inventory), "--yes", "--format", "json")

    assert code == 0, out
    rows = json.loads(out)
    assert [(r["host"], r["action"]) for r in rows] == [(h.name, "restored") for h in lab]
    assert [c.inspect_container(NAME)["Id"] for c in engines] == before


def test_fleet_rollback_refuses_a_host_that_drifted_while_asked(lab: list[LabHost], engines: list[Any],
                                                              tmp_path: Path, cli: Cli, state_dir: str,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import remediate

    monkeypatch.setenv("REMEDIATE_STATE_DIR", state_dir)
    inventory = _inventory(tmp_path, lab, tmp_path)
    code, out = cli("apply", str(_flag_playbook(tmp_path)), *_args(lab, inventory), "--yes", "--forks", "3")
    assert code == 0, out
    applied = [c.inspect_container(NAME)["Id"] for c in engines]
    asked: list[remediate.RollbackResult] = []

    def confirm(planned: remediate.RollbackResult) -> bool:
        asked.append(planned)  # every host is locked now: remediate cannot change it, docker can
        engines[1].update_container(NAME, restart_policy={"Name": "always"})
        return True

    ssh = remediate.SshOptions(known_hosts=str(lab[0].known_hosts_file))
    targets = [remediate.Target(h.name, h.ssh_url, key_file=str(lab[0].identity_file)) for h in lab]
    result = remediate.roll_back([remediate.RollbackJob(t, NAME) for t in targets],
                                 remediate.Options(forks=3, ssh=ssh), hooks=remediate.Hooks(confirm=confirm))

    assert len(asked) == 1 and [o.status for o in asked[0].outcomes] == ["planned"] * 3
    assert [o.status for o in result.outcomes] == ["restored", "error", "restored"]
    assert isinstance(result.outcomes[1].exception, remediate.PlanStaleError)
    assert engines[1].inspect_container(NAME)["Id"] == applied[1]  # refused: nothing changed there
    assert engines[0].inspect_container(NAME)["Id"] != applied[0]


def test_unknown_host_key_refused_unless_accepted(cli: Cli, lab: list[LabHost], engines: list[Any],
                                                  tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    base = ["apply", "fix-vllm-404", "-H", lab[0].ssh_url, "--known-hosts", str(known),
            "--private-key", str(lab[0].identity_file), "--dry-run"]

    code, out = cli(*base)

    assert code == 2 and "unknown host key" in out and "--accept-new-host-keys" in out
    assert not known.exists()

    code, out = cli(*base, "--accept-new-host-keys")

    assert code == 0, out
    assert lab[0].host_key_pub.split()[1] in known.read_text()
    assert cli(*base)[0] == 0  # now known


def test_changed_host_key_always_refused(cli: Cli, lab: list[LabHost], engines: list[Any], tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    other_key = lab[1].host_key_pub.split()
    known.write_text(f"{lab[0].address} {other_key[0]} {other_key[1]}\n")

    code, out = cli("apply", "fix-vllm-404", "-H", lab[0].ssh_url, "--known-hosts", str(known),
                    "--private-key", str(lab[0].identity_file), "--dry-run", "--accept-new-host-keys")

    assert code == 2 and "CHANGED" in out


def test_unreachable_host_fails_alone(cli: Cli, lab: list[LabHost], engines: list[Any], tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, lab, tmp_path)
    inventory.write_text(inventory.read_text().replace(
        "[gpu:vars]", "down ansible_host=127.0.0.1 ansible_port=1\n\n[gpu:vars]"))

    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--dry-run", "--format", "json")

    assert code == 1
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    assert hosts["down"]["status"] == "unreachable" and "cannot connect" in hosts["down"]["error"]
    assert all(hosts[h.name]["status"] == "planned" for h in lab)

    code, out = cli("apply", "fix-vllm-404", "-H", "ssh://root@127.0.0.1:1", "--dry-run")
    assert code == 2 and "cannot connect to 127.0.0.1:1" in out


def test_diagnose_over_ssh_probes_through_the_tunnel(cli: Cli, lab: list[LabHost], engines: list[Any]) -> None:
    code, out = cli("diagnose", "-H", lab[0].ssh_url, "--known-hosts", str(lab[0].known_hosts_file),
                    "--private-key", str(lab[0].identity_file), "--format", "json")

    assert code == 1, out  # the broken vLLM: `mistral` not served, no chat template
    data = json.loads(out)
    checks = {f["check"]: f for f in data["findings"] if f["container"] == NAME}
    assert checks["health"]["status"] == "pass"
    assert checks["chat-template"]["status"] == "fail" and checks["chat-template"]["fix"] == "fix-vllm-404"


def test_named_engine_socket_is_reached_straight(cli: Cli, lab: list[LabHost], engines: list[Any],
                                                 tmp_path: Path) -> None:
    """remediate_docker_host=unix://... : API channels go to that socket (no dial-stdio on the host)."""
    inventory = _inventory(tmp_path, lab, tmp_path)
    text = inventory.read_text()
    for h in lab:
        text = text.replace(f"{h.name} ansible_host=", f"{h.name} remediate_docker_host={h.docker_url} ansible_host=")
    inventory.write_text(text)

    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--yes", "--format", "json")

    assert code == 0, out
    assert [h["status"] for h in json.loads(out)["hosts"]] == ["changed"] * 3
    for client in engines:
        assert "--served-model-name" in client.inspect_container(NAME)["Args"]


def test_history_and_rollback_over_ssh_read_a_moved_journal(cli: Cli, state_dir: str, lab: list[LabHost],
                                                            engines: list[Any], tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, lab, tmp_path)
    before = [c.inspect_container(NAME)["Id"] for c in engines]
    code, out = cli("apply", "fix-vllm-404", *_args(lab, inventory), "--yes")
    assert code == 0, out
    journals = sorted(Path(state_dir).glob("*/journal.jsonl"))
    assert len(journals) == 3  # one per engine, written over SFTP (the lab hosts share this disk)
    for journal in journals:
        pad_journal(journal)

    code, out = cli("history", *_args(lab, inventory), "--container", NAME, "--format", "json")

    assert code == 0, out
    assert sorted(r["host"] for r in json.loads(out) if r["result"] == "recreated") == [h.name for h in lab]

    code, out = cli("rollback", NAME, "--yes", *_args(lab, inventory), "--limit", lab[0].name)

    assert code == 0, out
    # Its own check moved the grown journal aside (SFTP rename) and found the apply's record there:
    assert len(list(Path(state_dir).glob("*/journal-*.jsonl"))) == 1
    assert not _template(tmp_path, lab[0]).exists()  # the apply created the file; rollback removed it
    assert engines[0].inspect_container(NAME)["Id"] == before[0]
    assert _template(tmp_path, lab[1]).exists() and engines[1].inspect_container(NAME)["Id"] != before[1]


@pytest.fixture
def ssh_agent(lab: list[LabHost], tmp_path: Path) -> Iterator[str]:
    """An ssh-agent of this test holding the lab key; yields its socket (killed by PID after)."""
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                             stdin=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        subprocess.run(["ssh-add", "-q", str(lab[0].identity_file)], env={"SSH_AUTH_SOCK": str(sock)},
                       check=True, timeout=30, stdin=subprocess.DEVNULL, capture_output=True)
        yield str(sock)
    finally:
        agent.kill()
        agent.wait(timeout=30)


def test_ssh_config_aliases_users_ports_keys_proxyjump_and_agent(cli: Cli, lab: list[LabHost], engines: list[Any],
                                                                  tmp_path: Path, ssh_agent: str) -> None:
    """`-H ssh://ALIAS` as ~/.ssh/config defines it: HostName, User, Port, IdentityFile, ProxyJump;
    and a key that only the ssh-agent holds."""
    h = lab[0]
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(h.known_hosts_file, home / ".ssh" / "known_hosts")
    (home / ".ssh" / "config").write_text(
        f"Host gpu-alias\n  HostName {h.address}\n  User {h.user}\n  Port {h.ssh_port}\n"
        f"  IdentityFile {h.identity_file}\n"
        f"Host gpu-jumped\n  HostName {h.address}\n  User {h.user}\n  IdentityFile {h.identity_file}\n"
        "  ProxyJump gpu-alias\n"
        f"Host gpu-agent\n  HostName {h.address}\n  User {h.user}\n"
        f"Host gpu-badjump\n  HostName {h.address}\n  User {h.user}\n  IdentityFile {h.identity_file}\n"
        "  ProxyJump root@127.0.0.1:1\n")
    env: dict[str, str | None] = {**cli.env, "HOME": str(home), "SSH_AUTH_SOCK": None}

    for alias, extra in (("gpu-alias", {}), ("gpu-jumped", {}), ("gpu-agent", {"SSH_AUTH_SOCK": ssh_agent})):
        code, out = Cli({**env, **extra})("apply", "fix-vllm-404", "-H", f"ssh://{alias}", "--dry-run",
                                         "--format", "json")

        assert code == 0, f"{alias}: {out}"
        assert [c["container"] for c in json.loads(out)["containers"]] == [NAME]  # one host: its plan

    code, out = Cli(env)("apply", "fix-vllm-404", "-H", "ssh://gpu-agent", "--dry-run")  # no agent: no key
    assert code == 2 and "authentication failed for root@" in out and "no key to offer" in out
    code, out = Cli(env)("apply", "fix-vllm-404", "-H", "ssh://gpu-badjump", "--dry-run")  # the jump is taken
    assert code == 2 and "cannot connect" in out and "127.0.0.1" in out, out


def test_an_inventory_jump_host_is_followed(cli: Cli, lab: list[LabHost], engines: list[Any], tmp_path: Path) -> None:
    """``-o ProxyJump=`` / ``-J`` in ``ansible_ssh_common_args`` as ``ssh`` takes them (the lab
    host reached through itself; a jump host that is not there fails naming it)."""
    h = lab[0]
    inventory = tmp_path / "jump.ini"
    inventory.write_text(
        "[gpu]\n"
        f"behind ansible_host={h.address} ansible_ssh_common_args='-o ProxyJump=root@{h.address}:{h.ssh_port}'\n"
        f"nowhere ansible_host={h.address} ansible_ssh_extra_args='-J root@127.0.0.1:1'\n"
        f"[gpu:vars]\nansible_user=root\nansible_ssh_private_key_file={h.identity_file}\n")
    args = ["-i", str(inventory), "--known-hosts", str(h.known_hosts_file)]

    code, out = cli("hosts", "-i", str(inventory), "--format", "json")
    assert code == 0 and [row["jump"] for row in json.loads(out)] == [f"root@{h.address}:{h.ssh_port}",
                                                                      "root@127.0.0.1:1"], out
    code, out = cli("apply", "fix-vllm-404", *args, "--limit", "behind", "--dry-run", "--format", "json")
    assert code == 0, out
    assert [c["container"] for c in json.loads(out)["containers"]] == [NAME]
    code, out = cli("apply", "fix-vllm-404", *args, "--limit", "nowhere", "--dry-run")
    assert code == 2 and f"cannot connect to {h.address}:22 via jump host root@127.0.0.1:1" in out, out


FAKE_RAKE = """#!/bin/sh
# Fake gitlab-rake for remediate's tests: the seed's messages for a broken setup.
echo "GitLab Duo Self-Hosted Setup Verification"
echo ">> System info collected ✔"
echo ">> AI Gateway URL configured: http://aigw.example:5052 ✔"
echo ">> AI Gateway returned HTTP 404 ✗"
echo "rake aborted!" >&2
echo "Cannot access AI Gateway. Possible causes:" >&2
exit 1
"""
FAKE_RAILS = """#!/bin/sh
# Fake gitlab-rails for remediate's tests: GitLab 18.8 whose Agent Platform URL has a scheme and
# which expects TLS, and two self-hosted models, one without the /v1 suffix.
printf 'version\\t18.8.1-ee\\ndap_url\\thttp://aigw.example:50052\\ndap_secure\\ttrue\\n'
printf 'ai_gateway_timeout\\t60\\n'
printf 'model\\tmistral\\thttp://vllm.example:8000\\nmodel\\tcodestral\\thttp://vllm.example:8000/v1\\n'
"""


@pytest.fixture
def gitlab_scripts() -> Iterator[None]:
    """Fake gitlab-rake / gitlab-rails on the lab hosts (they share this machine's file system)."""
    paths = [Path("/usr/local/bin/gitlab-rake"), Path("/usr/local/bin/gitlab-rails")]
    if any(p.exists() and "remediate's tests" not in p.read_text(errors="replace") for p in paths):
        pytest.skip("a real GitLab is installed here")
    for path, text in zip(paths, (FAKE_RAKE, FAKE_RAILS)):
        path.write_text(text)
        path.chmod(0o755)
    try:
        yield
    finally:
        for path in paths:
            path.unlink(missing_ok=True)


def test_diagnose_gitlab_host_runs_rake_and_checks_v1(cli: Cli, lab: list[LabHost], engines: list[Any],
                                                      gitlab_scripts: None) -> None:
    code, out = cli("diagnose", "-H", lab[0].ssh_url, "--gitlab-host", lab[1].ssh_url, "--container", NAME,
                    "--known-hosts", str(lab[0].known_hosts_file), "--private-key", str(lab[0].identity_file),
                    "--format", "json")

    assert code == 1, out
    gitlab = json.loads(out)[1]
    found = [(f["check"], f["status"], f["evidence"]) for f in gitlab["findings"]]
    assert ("gitlab-rake", "pass", "System info collected") in found
    assert ("gitlab-rake", "fail", "AI Gateway returned HTTP 404") in found
    assert ("gitlab-rake", "fail", "Cannot access AI Gateway. Possible causes:") in found
    assert ("model-endpoint", "fail") == next((c, s) for c, s, e in found if e.startswith("mistral:"))
    assert ("model-endpoint", "pass") == next((c, s) for c, s, e in found if e.startswith("codestral:"))
    url = next(f for f in gitlab["findings"] if f["check"] == "agent-platform-url")
    assert url["status"] == "fail" and "must be host:port" in url["evidence"]
