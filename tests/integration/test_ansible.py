"""The remediate.docker Ansible collection, run by a real ansible-playbook over SSH against the lab hosts.

Each lab host shares this machine's file system, so the managed hosts' Python is this one: the
play points ``ansible_python_interpreter`` at it and ``PYTHONPATH`` at this checkout (so the
modules import the remediate under test), and each host's sshd sets ``DOCKER_HOST`` to its own
engine. The collection is found through ``ANSIBLE_COLLECTIONS_PATH=<checkout>``, or installed from
a tarball that ``ansible-galaxy collection build`` made.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.lab.hosts import LabHost, lab_hosts

pytestmark = pytest.mark.integration

IMAGE = "remediate-test/fake-vllm:1"
NAME = "ans-vllm"
REPO = Path(__file__).resolve().parents[2]
COLLECTION = REPO / "ansible_collections" / "remediate" / "docker"
#: Upper bound of one ansible-playbook run (a bound, never asserted on).
RUN_TIMEOUT = 300


def _ansible_tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the test extras (pip install -e '.[test]')")
    return found


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def results(self) -> dict[str, dict[str, Any]]:
        """The last module result per host, from the default callback's ``-v`` output."""
        found: dict[str, dict[str, Any]] = {}
        for m in re.finditer(r"^(?:ok|changed|fatal): \[([^\]]+)\](?:: FAILED!)? => (\{.*\})$", self.stdout,
                             re.MULTILINE):
            found[m.group(1)] = json.loads(m.group(2))
        return found

    def recap(self) -> dict[str, dict[str, int]]:
        """PLAY RECAP counts per host: ok, changed, failed, ..."""
        recap = self.stdout.split("PLAY RECAP", 1)[-1]
        return {m.group(1): {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
                for m in re.finditer(r"^(\S+)\s+:\s+(.*)$", recap, re.MULTILINE)}


@dataclass(frozen=True)
class Ansible:
    """Runs ansible-playbook against the lab with an inventory and a play written for it."""

    lab: list[LabHost]
    work: Path
    state_dir: str
    control_dir: str

    def inventory(self) -> Path:
        lines = ["[gpu]"]
        lines += [f"{h.name} ansible_host={h.address} ansible_port={h.ssh_port} "
                  f"template_host_path={template(self.work, h)}" for h in self.lab]
        ssh_args = (f"-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={self.lab[0].known_hosts_file} "
                    "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes")
        lines += ["", "[gpu:vars]", "ansible_user=root", f"ansible_ssh_private_key_file={self.lab[0].identity_file}",
                  f"ansible_ssh_common_args='{ssh_args}'", f"ansible_python_interpreter={sys.executable}"]
        path = self.work / "inventory.ini"
        path.write_text("\n".join(lines) + "\n")
        return path

    def play(self, *tasks: Mapping[str, Any], serial: int | None = None,
             max_fail_percentage: int | None = None, name: str = "play.yml") -> Path:
        play: dict[str, Any] = {"name": "remediate on the GPU hosts", "hosts": "gpu", "gather_facts": False,
                                "environment": {"PYTHONPATH": str(REPO), "REMEDIATE_STATE_DIR": self.state_dir},
                                "tasks": [dict(t) for t in tasks]}
        if serial is not None:
            play["serial"] = serial
        if max_fail_percentage is not None:
            play["max_fail_percentage"] = max_fail_percentage
        path = self.work / name
        path.write_text(json.dumps([play], indent=2))  # JSON is YAML
        return path

    def env(self, collections: Path = REPO) -> dict[str, str]:
        """The environment of the Ansible tools: collections from ``collections`` only."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHONPATH"))}
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",  # only the path above, never this checkout by accident
            "ANSIBLE_HOME": str(self.work / "ansible-home"),
            "ANSIBLE_SSH_CONTROL_PATH_DIR": self.control_dir,
            "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=10s",
            "ANSIBLE_PIPELINING": "true",
            "ANSIBLE_HOST_KEY_CHECKING": "true",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false",  # one result per line
            "ANSIBLE_FORKS": "3",
        })
        return env

    def run(self, play: Path, *args: str, collections: Path = REPO) -> Run:
        proc = subprocess.run([_ansible_tool("ansible-playbook"), "-i", str(self.inventory()), str(play), *args],
                              capture_output=True, text=True, env=self.env(collections), timeout=RUN_TIMEOUT,
                              check=False)
        return Run(proc.returncode, proc.stdout, proc.stderr)


def template(work: Path, host: LabHost) -> Path:
    """Each host's own template path (they share this file system, as separate machines would not)."""
    return work / "templates" / host.name / "tpl.jinja"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LabHost]]:
    keys = tmp_path_factory.mktemp("ans-lab-keys")
    with lab_hosts(3, prefix="ans", images=[IMAGE], keys_dir=keys) as hosts:
        yield hosts


@pytest.fixture
def engines(lab: list[LabHost]) -> Iterator[list[Any]]:
    """A broken fake vLLM on every lab host (made through each host's socket, not the tool under test)."""
    clients = [docker.APIClient(base_url=h.docker_url, version="1.41") for h in lab]
    for client in clients:
        _reset(client)
        _start_vllm(client)
    yield clients
    for client in clients:
        _reset(client)
        client.close()


@pytest.fixture
def ansible(lab: list[LabHost], tmp_path: Path, state_dir: str) -> Iterator[Ansible]:
    control_dir = tempfile.mkdtemp(prefix="ans-cp-", dir="/tmp")  # short: it holds ssh control sockets
    try:
        yield Ansible(lab, tmp_path, state_dir, control_dir)
    finally:
        shutil.rmtree(control_dir, ignore_errors=True)


def _reset(client: Any) -> None:
    for c in client.containers(all=True):
        if any(n.lstrip("/").startswith(NAME) for n in c["Names"]):
            client.remove_container(c["Id"], force=True)


def _start_vllm(client: Any, env: Mapping[str, str] | None = None) -> None:
    container = client.create_container(
        IMAGE, ["--model", "mistralai/Mistral-7B-Instruct-v0.3"], name=NAME, ports=[8000], environment=dict(env or {}),
        host_config=client.create_host_config(port_bindings={8000: ("127.0.0.1", None)},
                                              restart_policy={"Name": "unless-stopped"}))
    client.start(container)


def _make_slow(client: Any) -> None:
    """Replace the host's vLLM with one that starts answering only after a minute: its verify cannot pass."""
    client.remove_container(NAME, force=True)
    _start_vllm(client, {"FAKE_VLLM_STARTUP_DELAY": "60"})


def _recap(**counts: int) -> dict[str, int]:
    return {k: counts.get(k, 0) for k in ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")}


FIX = {"name": "fix vLLM", "remediate.docker.apply": {"playbook": "fix-vllm-404", "pull_stall": 30,
                                                      "vars": {"template_host_path": "{{ template_host_path }}"}},
       "register": "fixed"}


def test_check_diff_shows_the_change_and_touches_nothing(ansible: Ansible, lab: list[LabHost],
                                                         engines: list[Any]) -> None:
    before = [c.inspect_container(NAME)["Id"] for c in engines]

    run = ansible.run(ansible.play(FIX), "--check", "--diff", "-v")

    assert run.code == 0, run.output
    results = run.results()
    assert sorted(results) == [h.name for h in lab], run.stdout
    for host in lab:
        result = results[host.name]
        assert result["changed"] is True and result["status"] == "planned"
        assert [(c["container"], c["action"]) for c in result["containers"]] == [(NAME, "recreate")]
    assert f"+++ after: {NAME} (docker run)" in run.stdout
    assert "+  --served-model-name mistral" in run.stdout
    assert "+{%- for message in messages %}" in run.stdout  # the file diff
    assert all(counts["changed"] == 1 for counts in run.recap().values())
    assert [c.inspect_container(NAME)["Id"] for c in engines] == before
    assert not any(template(ansible.work, h).exists() for h in lab)


def test_secret_vars_are_masked_in_results_and_diffs(ansible: Ansible, lab: list[LabHost], engines: list[Any]) -> None:
    secret = "hf_ansible_s3cr3t_value"
    book = ansible.work / "token.yml"
    book.write_text(f"name: set-token\ndescription: sets a token\nsafety: auto\nvars: {{hf_token: ''}}\nselect: {{name: {NAME}}}\n"
                    "changes:\n  - env: {HF_TOKEN: '{{ hf_token }}'}\n")
    task = {"remediate.docker.apply": {"playbook": str(book), "vars": {"hf_token": secret}}}

    run = ansible.run(ansible.play(task), "--check", "--diff", "-vvv")  # -vvv: the module's arguments too

    assert run.code == 0, run.output
    assert secret not in run.output
    assert "+--env 'HF_TOKEN=***'" in run.stdout
    assert run.results()[lab[0].name]["invocation"]["module_args"]["vars"] == {"hf_token": "***"}


def test_a_replaced_secret_shows_in_the_diff_that_it_changed(ansible: Ansible, lab: list[LabHost],
                                                             engines: list[Any]) -> None:
    old, new = "hf_ansible_old_value_1", "hf_ansible_new_value_2"
    for client in engines:
        client.remove_container(NAME, force=True)
        _start_vllm(client, {"HF_TOKEN": old})
    book = ansible.work / "rotate.yml"
    book.write_text(f"name: rotate-token\ndescription: a new token\nsafety: auto\nvars: {{hf_token: ''}}\n"
                    f"select: {{name: {NAME}}}\nchanges:\n  - env: {{HF_TOKEN: '{{{{ hf_token }}}}'}}\n")
    task = {"remediate.docker.apply": {"playbook": str(book), "vars": {"hf_token": new}}}

    run = ansible.run(ansible.play(task), "--check", "--diff")

    assert run.code == 0, run.output
    assert old not in run.output and new not in run.output
    assert "---env 'HF_TOKEN=***'" in run.stdout and "+--env 'HF_TOKEN=***' (value changed)" in run.stdout, run.stdout


def test_rendered_secrets_token_shapes_and_control_characters_in_the_result_and_diff(
        ansible: Ansible, lab: list[LabHost], engines: list[Any]) -> None:
    value, token = "hub-ansible-value-4417", "glpat-An9xQ2wE4rT6yU8iO0pA"
    book = ansible.work / "hub.yml"
    book.write_text(f"name: hub-flow\ndescription: a harmless var in a secret place\nsafety: auto\n"
                    f"vars: {{hub_value: ''}}\nselect: {{name: {NAME}}}\nchanges:\n"
                    f"  - env: {{HF_TOKEN: '{{{{ hub_value }}}}', NOTE: {token}}}\n"
                    "  - args: {set: {--log-level: \"info\\e[1A\\e[2K\"}}\n")
    task = {"remediate.docker.apply": {"playbook": str(book), "vars": {"hub_value": value}}}

    run = ansible.run(ansible.play(task), "--check", "--diff", "-vvv")

    assert run.code == 0, run.output
    assert value not in run.output and token not in run.output
    assert "\x1b" not in run.output, run.output
    assert "+  --log-level $'info\\x1b[1A\\x1b[2K'" in run.stdout, run.stdout
    assert "+--env NOTE=***" in run.stdout.replace("'", ""), run.stdout
    result = run.results()[lab[0].name]
    assert result["invocation"]["module_args"]["vars"] == {"hub_value": "***"}
    assert result["plan"]["vars"] == {"hub_value": "***"}


def test_serial_apply_then_no_op_rerun(ansible: Ansible, lab: list[LabHost], engines: list[Any]) -> None:
    before = [c.inspect_container(NAME)["Id"] for c in engines]
    play = ansible.play(FIX, serial=1, max_fail_percentage=0)

    run = ansible.run(play, "-v")

    assert run.code == 0, run.output
    assert run.stdout.count("PLAY [remediate on the GPU hosts]") == 3  # one batch per host
    results = run.results()
    for host, client, old in zip(lab, engines, before):
        new = client.inspect_container(NAME)
        assert new["Id"] != old and "--served-model-name" in new["Args"] and new["State"]["Running"]
        (entry,) = results[host.name]["containers"]
        assert entry["action"] == "recreated" and entry["id_before"] == old[:12] and entry["id_after"] == new["Id"][:12]
        assert entry["backup"].startswith(f"{NAME}-remediate-backup-")
        assert entry["checks"] and all(check["ok"] for check in entry["checks"])
        assert template(ansible.work, host).read_text().startswith("{%- for message in messages %}")
    assert all(counts["changed"] == 1 for counts in run.recap().values())
    applied = [c.inspect_container(NAME)["Id"] for c in engines]

    again = ansible.run(play, "-v")

    assert again.code == 0, again.output
    assert all(counts["changed"] == 0 and counts["failed"] == 0 for counts in again.recap().values())
    assert all(r["status"] == "ok" for r in again.results().values())
    assert [c.inspect_container(NAME)["Id"] for c in engines] == applied


def test_failed_verify_restores_the_host_and_stops_the_play(ansible: Ansible, lab: list[LabHost],
                                                            engines: list[Any]) -> None:
    _make_slow(engines[1])
    before = [c.inspect_container(NAME)["Id"] for c in engines]
    task = {**FIX, "remediate.docker.apply": {**FIX["remediate.docker.apply"], "timeout": 3}}  # type: ignore[dict-item]

    run = ansible.run(ansible.play(task, serial=1, max_fail_percentage=0), "-v")

    assert run.code == 2, run.output
    results = run.results()
    assert sorted(results) == [lab[0].name, lab[1].name]  # the play stopped before host 3
    assert f"fatal: [{lab[1].name}]: FAILED!" in run.stdout
    assert run.recap() == {lab[0].name: _recap(ok=1, changed=1), lab[1].name: _recap(failed=1)}
    failed = results[lab[1].name]
    assert failed["status"] == "failed" and failed["changed"] is False
    assert [c["action"] for c in failed["containers"]] == ["rolled back"]
    assert "\n" not in failed["msg"]
    assert failed["msg"].startswith(f"fix-vllm-404: {NAME}: verify failed")
    assert failed["msg"].endswith(f"restored the original container {before[1][:12]}")
    assert "NO MORE HOSTS LEFT" in run.stdout
    after = [c.inspect_container(NAME) for c in engines]
    assert after[0]["Id"] != before[0]
    assert after[1]["Id"] == before[1] and after[1]["State"]["Running"]  # restored: the same container
    assert after[2]["Id"] == before[2] and "--served-model-name" not in after[2]["Args"]  # never started
    assert not template(ansible.work, lab[1]).exists()  # the file written is removed again


def test_diagnose_fix_plans_in_check_mode_fixes_then_has_nothing_left(ansible: Ansible, lab: list[LabHost],
                                                                      engines: list[Any]) -> None:
    task = {"remediate.docker.diagnose": {"containers": [NAME], "fix": True, "pull_stall": 30,
                                          "vars": {"template_host_path": "{{ template_host_path }}"}},
            "register": "fixed"}
    play = ansible.play(task)
    before = engines[0].inspect_container(NAME)["Id"]

    checked = ansible.run(play, "--check", "-v", "--limit", lab[0].name)

    assert checked.code == 0, checked.output
    result = checked.results()[lab[0].name]
    assert result["changed"] is True and result["summary"] == {"planned": 1}, result
    assert [c["container"] for c in result["hosts"][0]["plan"]["containers"]] == [NAME]
    assert engines[0].inspect_container(NAME)["Id"] == before  # check mode changed nothing

    fixed = ansible.run(play, "-v", "--limit", lab[0].name)

    assert fixed.code == 0, fixed.output
    result = fixed.results()[lab[0].name]
    assert result["changed"] is True and result["summary"] == {"changed": 1}, result
    after = engines[0].inspect_container(NAME)
    assert after["Id"] != before and "--served-model-name" in after["Args"]

    again = ansible.run(play, "-v", "--limit", lab[0].name)

    assert again.code == 0, again.output
    result = again.results()[lab[0].name]
    assert result["changed"] is False and result["hosts"] == [], result
    assert engines[0].inspect_container(NAME)["Id"] == after["Id"]


def test_collection_runs_from_a_built_tarball(ansible: Ansible, lab: list[LabHost], engines: list[Any],
                                              tmp_path: Path) -> None:
    galaxy = _ansible_tool("ansible-galaxy")
    built = tmp_path / "built"
    installed = tmp_path / "installed"
    env = ansible.env(installed)
    subprocess.run([galaxy, "collection", "build", "--output-path", str(built), str(COLLECTION)], check=True,
                   capture_output=True, env=env, timeout=RUN_TIMEOUT)
    (tarball,) = built.glob("remediate-docker-*.tar.gz")
    subprocess.run([galaxy, "collection", "install", "--offline", "-p", str(installed), str(tarball)], check=True,
                   capture_output=True, env=env, timeout=RUN_TIMEOUT)
    module = installed / "ansible_collections/remediate/docker/plugins/modules/diagnose.py"
    assert module.exists()
    task = {"remediate.docker.diagnose": {"containers": [NAME]}, "register": "diagnosis"}

    run = ansible.run(ansible.play(task), "--limit", lab[0].name, "-vvv", collections=installed)

    assert run.code == 0, run.output
    assert f"Using module file {module}" in run.stdout
    result = run.results()[lab[0].name]
    assert result["changed"] is False and result["ok"] is False
    by_check = {f["check"]: f for f in result["findings"]}
    assert by_check["served-model"]["status"] == "fail" and by_check["served-model"]["fix"] == "fix-vllm-404"
    assert {f["container"] for f in result["findings"]} == {NAME}
