"""Ansible for the comparison: ansible-core + community.docker in a venv the benchmark makes.

The venv lives at /var/tmp/remediate-bench-ansible/venv and is kept as a cache between runs
(``pip install ansible docker requests`` from PyPI: the ``ansible`` package ships the
``community.docker`` collection; galaxy is not used). Inventories and playbooks are written per
run into a work dir.
"""

from __future__ import annotations

import fcntl
import shlex
import subprocess
import sys
from pathlib import Path

from bench.fleet import FLAG, IMAGE, LABEL, Engine, Fleet

ROOT = Path("/var/tmp/remediate-bench-ansible")
VENV = ROOT / "venv"
PLAYBOOK_BIN = VENV / "bin" / "ansible-playbook"
PYTHON = VENV / "bin" / "python"


def _collection_dir() -> Path | None:
    found = sorted(VENV.glob("lib/python*/site-packages/ansible_collections/community/docker"))
    return found[0] if found else None


def ensure_ansible() -> tuple[Path | None, str]:
    """(ansible-playbook, version text) - installed on first use; (None, why) if it cannot be."""
    ROOT.mkdir(parents=True, exist_ok=True)
    with open(ROOT / ".install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (PLAYBOOK_BIN.exists() and _collection_dir()):
            print(f"installing ansible + community.docker into {VENV} (kept as a cache) ...", flush=True)
            steps = [[sys.executable, "-m", "venv", str(VENV)],
                     [str(VENV / "bin" / "pip"), "install", "-q", "ansible", "docker", "requests"]]
            for argv in steps:
                p = subprocess.run(argv, capture_output=True, text=True, check=False)
                if p.returncode != 0:
                    return None, f"{' '.join(argv)} failed: {(p.stderr or p.stdout).strip()[-600:]}"
            if not _collection_dir():
                return None, "the installed ansible package has no community.docker collection"
    version = subprocess.run([str(PLAYBOOK_BIN), "--version"], capture_output=True, text=True, check=False)
    manifest = (_collection_dir() or Path("/")) / "MANIFEST.json"
    coll = ""
    if manifest.exists():
        import json

        coll = json.loads(manifest.read_text())["collection_info"]["version"]
    return PLAYBOOK_BIN, f"{version.stdout.splitlines()[0].strip()}, community.docker {coll}"


def env(work: Path) -> dict[str, str]:
    """Environment for ansible-playbook runs: own home/temp/control dirs, pipelining on."""
    for sub in ("home", "tmp", "cp"):
        (ROOT / sub).mkdir(parents=True, exist_ok=True)
    return {
        "ANSIBLE_HOME": str(ROOT / "home"),
        "ANSIBLE_LOCAL_TEMP": str(ROOT / "tmp"),
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(ROOT / "cp"),
        "ANSIBLE_PIPELINING": "True",
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "ANSIBLE_CONFIG": str(work / "ansible.cfg"),
    }


def write_files(work: Path, engine: Engine, fleet: Fleet, names: list[str]) -> tuple[Path, Path]:
    """Inventory + playbook for the fleet on ``engine``: one docker_container task, full option set."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "ansible.cfg").write_text("[defaults]\ninterpreter_python = auto_silent\n")
    if engine.lab is None:
        host = (f"bench ansible_connection=local ansible_python_interpreter={PYTHON} "
                f"docker_host=unix://{engine.sock}")
    else:
        h = engine.lab
        ssh_args = (f"-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={h.known_hosts_file} "
                    "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o BatchMode=yes")
        host = (f"bench ansible_host={h.address} ansible_port={h.ssh_port} ansible_user={h.user} "
                f"ansible_ssh_private_key_file={h.identity_file} "
                f"ansible_ssh_common_args={shlex.quote(ssh_args)} "
                f"ansible_python_interpreter={PYTHON} docker_host=unix://{engine.sock}")
    inventory = work / f"inventory-{engine.name}.ini"
    inventory.write_text(f"[fleet]\n{host}\n")
    items = "\n".join(f"        - {n}" for n in names)
    playbook = work / f"fleet-{len(names)}.yml"
    playbook.write_text(f"""\
- hosts: fleet
  gather_facts: false
  tasks:
    - name: bench fleet has {FLAG[0]}={FLAG[1]}
      community.docker.docker_container:
        docker_host: "{{{{ docker_host }}}}"
        name: "{{{{ item }}}}"
        image: {IMAGE}
        command: [sleep, 1d]
        init: true
        labels:
          {LABEL}: "{fleet.tag}"
          remediate-bench.role: fleet
        restart_policy: unless-stopped
        volumes:
          - "{fleet.bind_dir}:/data:rw"
        published_ports:
          - "{fleet.publish}"
        env:
          {FLAG[0]}: "{FLAG[1]}"
        state: started
      loop:
{items}
""")
    return inventory, playbook
