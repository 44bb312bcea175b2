"""The remediate.docker collection masks secrets by value, as Ansible's ``no_log`` does: every value
of a secret var (nested ones too) and every secret-shaped value (each token shape remediate's
redaction knows), wherever it flows (results, diffs, errors, the echo of the module's arguments),
while ordinary values stay readable. Run by a real ansible-playbook on this machine (a local
connection) against the local engine; read in its ``-vvv`` output and in the result JSON its
callback prints.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from remediate.core.redaction import MASK
from tests.conftest import remove_owned
from tests.integration.test_ansible import REPO, RUN_TIMEOUT, _ansible_tool
from tests.lab.containers import LabContainer
from tests.unit.test_redaction import LOOK_ALIKES, SHAPE_CASES

pytestmark = [pytest.mark.integration, pytest.mark.ansible]

PREFIX = "ans-sec-"
#: One whole token per shape remediate's redaction knows (their unit-test samples).
TOKENS = list({shape: value for shape, value, shown in SHAPE_CASES if shown == MASK}.values())
#: Secret by where they stand: under a secret name, nested under one, in a secret-named list.
SECRET_VALUES = ["Plain-Secret-Value-7731", "nested-db-pw-5512", "listed-one-9d2f", "listed-two-8e3a", "998877665544"]
#: Ordinary values (some look like tokens), shown as they are.
ORDINARY = [v for v in LOOK_ALIKES if len(v) >= 6 and "\n" not in v] + ["mistralai/Mistral-7B-Instruct-v0.3"]


def _book(path: Path, container: str) -> Path:
    """A remediate playbook rendering every value into a harmless env var, a file and the after-text."""
    notes = {f"note_{i}": value for i, value in enumerate(TOKENS + ORDINARY)}
    env = {f"NOTE_{i}": f"{{{{ note_{i} }}}}" for i in range(len(notes))}
    env.update(PLAIN_A="{{ api_key }}", PLAIN_B="{{ db.password }}", PLAIN_C="{{ secrets | join(',') }}",
               PLAIN_D="{{ pin_secret }}")
    content = "".join(f"line {name}: {{{{ {name} }}}}\n" for name in notes)
    book = {
        "name": "ans-secrets", "description": "renders every value in ordinary places", "safety": "auto",
        "vars": {**dict.fromkeys(notes, ""), "api_key": "", "db": {}, "secrets": [], "pin_secret": 0,
                 "file_path": ""},
        "select": {"name": container},
        "changes": [{"env": env}, {"file": {"dest": "{{ file_path }}", "content": content, "mode": "0644"}}],
        "after": "Tell the owner: {{ api_key }} {{ db.password }} " + " ".join(f"{{{{ {n} }}}}" for n in notes),
    }
    path.write_text(json.dumps(book))  # JSON is YAML
    return path


def _vars(work: Path) -> dict[str, Any]:
    notes = {f"note_{i}": value for i, value in enumerate(TOKENS + ORDINARY)}
    return {**notes, "api_key": SECRET_VALUES[0], "db": {"user": "dbadmin", "password": SECRET_VALUES[1]},
            "secrets": SECRET_VALUES[2:4], "pin_secret": int(SECRET_VALUES[4]), "file_path": str(work / "note.txt")}


@pytest.fixture
def container(docker_client: Any) -> Iterator[str]:
    name = f"{PREFIX}{uuid.uuid4().hex[:8]}"
    idle = LabContainer("remediate-test/idle:1").with_name(name)
    try:
        idle.start()
        yield name
    finally:
        remove_owned(docker_client, name)


def _play(work: Path, state_dir: str, book: Path, container: str) -> Path:
    apply = {"remediate.docker.apply": {"playbook": str(book), "vars": _vars(work)}, "register": "applied"}
    refused = {"name": "an error carrying the values", "ignore_errors": True,
               "remediate.docker.apply": {"playbook": str(book), "vars": _vars(work),
                                          "containers": [f"{SECRET_VALUES[0]}-gone"]}}
    diagnose = {"name": "diagnose --fix with the same vars", "ignore_errors": True,
                "remediate.docker.diagnose": {"containers": [container], "fix": True,
                                              "vars": {"api_key": SECRET_VALUES[0], "note": TOKENS[1]}}}
    play = {"name": "secrets", "hosts": "local", "gather_facts": False,
            "environment": {"PYTHONPATH": str(REPO), "REMEDIATE_STATE_DIR": state_dir},
            "tasks": [apply, refused, diagnose]}
    path = work / "play.yml"
    path.write_text(json.dumps([play]))
    return path


def _run(work: Path, play: Path, *args: str) -> tuple[int, str, list[dict[str, Any]]]:
    inventory = work / "hosts.ini"
    inventory.write_text(f"[local]\nlocalhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "PYTHONPATH"))}
    env.update({"ANSIBLE_COLLECTIONS_PATH": str(REPO), "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "false",
                "ANSIBLE_HOME": str(work / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false"})
    proc = subprocess.run([_ansible_tool("ansible-playbook"), "-i", str(inventory), str(play), "-vvv", *args],
                          capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT, check=False)
    results = [json.loads(m.group(1)) for m in re.finditer(r"^(?:ok|changed|fatal): \[localhost\](?:: FAILED!)? => "
                                                           r"(\{.*\})$", proc.stdout, re.MULTILINE)]
    return proc.returncode, proc.stdout + proc.stderr, results


@pytest.mark.parametrize("mode", ["check", "apply"])
def test_no_secret_value_or_token_shape_in_any_output(mode: str, container: str, tmp_path: Path,
                                                      state_dir: str) -> None:
    book = _book(tmp_path / "book.yml", container)
    play = _play(tmp_path, state_dir, book, container)

    code, output, results = _run(tmp_path, play, *(["--check", "--diff"] if mode == "check" else ["--diff"]))

    assert code == 0, output
    assert len(results) == 3, output  # one result per task, each as the callback's JSON
    shown = output + json.dumps(results)
    leaked = [v for v in TOKENS + SECRET_VALUES if v in shown]
    assert not leaked, f"shown: {leaked}\n{output}"
    hidden = [v for v in ORDINARY if v not in output]
    assert not hidden, f"masked: {hidden}\n{output}"
    assert "dbadmin" in output  # a non-secret key beside a secret one
    assert results[1]["msg"].endswith("no container named ***-gone")  # the error is there, its secret masked
    assert results[0]["invocation"]["module_args"]["vars"]["db"] == {"user": "dbadmin", "password": "***"}
    if mode == "apply":
        written = (tmp_path / "note.txt").read_text()
        assert all(v in written for v in TOKENS)  # masked in what is shown, not in what is done
