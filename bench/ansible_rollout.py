"""The same rollout through ansible-playbook (collection remediate.docker) and through remediate's own.

A lab of N hosts (default 3), one fleet container per host, one env-var change (``BENCH_FLAG=1``).
Whole-process wall time, interleaved, medians of ``--repeat``:

* dry run: ``ansible-playbook --check`` (forks N) vs ``remediate apply --dry-run -i inventory --forks N``;
* apply: ``ansible-playbook`` vs ``remediate apply --yes`` (the containers are reset between applies).

Prints both and the ratio ansible-playbook / remediate.

    python -m bench.ansible_rollout                   # 3 hosts, 3 repeats
    python -m bench.ansible_rollout --hosts 8 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import (
    REPO,
    Engine,
    Fleet,
    bind_dir,
    fmt_s,
    interruptible,
    lab,
    median,
    new_tag,
    shielded,
    table,
    timed,
    write_playbook,
)
from bench.rollout import write_inventory


def write_ansible_inventory(path: Path, engines: list[Engine]) -> Path:
    h0 = engines[0].lab
    ssh_args = (f"-F /dev/null -o IdentitiesOnly=yes -o UserKnownHostsFile={h0.known_hosts_file} "
                "-o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes")
    lines = ["[bench]"] + [f"{e.name} ansible_host={e.lab.address} ansible_port={e.lab.ssh_port}" for e in engines]
    lines += ["", "[bench:vars]", f"ansible_user={h0.user}", f"ansible_ssh_private_key_file={h0.identity_file}",
              f"ansible_ssh_common_args='{ssh_args}'", f"ansible_python_interpreter={sys.executable}"]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_play(path: Path, playbook: Path, state: Path) -> Path:
    # Each lab host gets its own state dir: they share this file system (see bench/lab_remediate.py).
    play = [{"hosts": "bench", "gather_facts": False,
             "environment": {"PYTHONPATH": str(REPO), "REMEDIATE_STATE_DIR": f"{state}/{{{{ inventory_hostname }}}}"},
             "tasks": [{"remediate.docker.apply": {"playbook": str(playbook)}}]}]
    path.write_text(json.dumps(play))
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="ansible-playbook with remediate.docker vs remediate's rollout")
    ap.add_argument("--hosts", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    ansible_playbook = shutil.which("ansible-playbook") or str(Path(sys.executable).with_name("ansible-playbook"))
    tag = new_tag()
    work = Path(tempfile.mkdtemp(prefix=f"bench-{tag}-work-"))
    playbook = write_playbook(work, f"bench-{tag}-")
    state = work / "remediate-state"
    try:
        with interruptible(), bind_dir(tag) as mount:
            print(f"starting a lab of {args.hosts} hosts ...", flush=True)
            with lab(args.hosts, "bencha") as engines:
                fleets = [Fleet(e, tag, mount) for e in engines]
                inventory = write_inventory(work / "inventory.ini", engines, named_socket=False)
                ans_inventory = write_ansible_inventory(work / "ansible.ini", engines)
                play = write_play(work / "play.json", playbook, state)
                remediate = [sys.executable, str(REPO / "bench" / "lab_remediate.py"), "apply", str(playbook),
                             "-i", str(inventory), "--known-hosts", str(engines[0].lab.known_hosts_file),
                             "--forks", str(args.hosts), "--format", "json"]
                ansible = [ansible_playbook, "-i", str(ans_inventory), "--forks", str(args.hosts), str(play)]
                ans_env = {"ANSIBLE_COLLECTIONS_PATH": str(REPO), "ANSIBLE_PIPELINING": "true",
                           "ANSIBLE_HOME": str(work / "ansible-home"), "ANSIBLE_NOCOLOR": "1",
                           "REMEDIATE_STATE_DIR": str(state / "cli")}
                tools = {"remediate": {"dry-run": remediate + ["--dry-run"], "apply": remediate + ["--yes"]},
                         "ansible-playbook": {"dry-run": ansible + ["--check"], "apply": ansible}}

                def reset() -> None:
                    with ThreadPoolExecutor(max_workers=4) as pool:
                        list(pool.map(lambda f: f.create(1, workers=1), fleets))

                reset()
                for tool in tools.values():  # warm-up, not counted
                    timed(tool["dry-run"], env=ans_env)
                seconds: dict[tuple[str, str], list[float]] = {(t, p): [] for t in tools for p in ("dry-run", "apply")}
                for r in range(args.repeat):
                    print(f"  repeat {r + 1}/{args.repeat}", flush=True)
                    order = list(tools) if r % 2 == 0 else list(reversed(tools))
                    for phase in ("dry-run", "apply"):
                        for name in order:
                            seconds[(name, phase)].append(timed(tools[name][phase], env=ans_env).seconds)
                            if phase == "apply":
                                reset()
                print(f"\n### {args.hosts} lab hosts, forks {args.hosts}, one env-var change per host; medians of "
                      f"{args.repeat} (whole-process wall time)\n")
                rows = []
                for phase in ("dry-run", "apply"):
                    rem, ans = median(seconds[("remediate", phase)]), median(seconds[("ansible-playbook", phase)])
                    rows.append([phase, fmt_s(rem), fmt_s(ans), f"{ans / rem:.2f}x"])
                print(table(["phase", "remediate rollout", "ansible-playbook + remediate.docker",
                             "ansible / remediate"], rows))
                with shielded():
                    for f in fleets:
                        f.remove()
    except KeyboardInterrupt:
        print("\ninterrupted: cleaning up", file=sys.stderr)
        return 130
    finally:
        with shielded():
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
