"""Rollback over many hosts (issue 23): is a fleet rollback as parallel as apply?

A lab of N hosts (network namespaces, each with its own dockerd + sshd), one fleet container per
host, changed once by ``remediate apply`` (untimed) so that it has a backup to go back to. Then,
measured in the same run, interleaved, whole-process wall time:

* ``remediate rollback NAME -i inventory --forks N --yes`` over all hosts, vs
* the same with ``--limit hN`` for each host alone.

Each timed rollback is preceded by an untimed apply of the hosts it rolls back. Prints the
medians, the slowest single host, and total / slowest single (target <= 1.2).

    python -m bench.rollback                 # 3 and 8 hosts, 3 repeats
    python -m bench.rollback --hosts 3 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import tempfile
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import (
    REPO,
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

TARGET = 1.2


def _cpu_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every core of the machine so far (/proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes (the remediate runs) so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(hosts: int, repeat: int) -> list[float]:
    """total / slowest single host, per repeat, for a rollback over ``hosts`` lab hosts."""
    tag = new_tag()
    work = Path(tempfile.mkdtemp(prefix=f"bench-{tag}-work-"))
    playbook = write_playbook(work, f"bench-{tag}-")
    env = {"REMEDIATE_STATE_DIR": str(work / "remediate-state")}
    ratios: list[float] = []
    totals: list[float] = []
    slowest: list[float] = []
    busy: list[float] = []  # share of the machine's CPU in use during the all-hosts rollback
    own: list[float] = []  # remediate's own CPU seconds in it
    single_own: list[float] = []
    try:
        with bind_dir(tag) as mount:
            print(f"starting a lab of {hosts} hosts ...", flush=True)
            with lab(hosts, "benchb") as engines:
                fleets = [Fleet(e, tag, mount) for e in engines]
                for f in fleets:
                    f.create(1, workers=1)
                name = fleets[0].names[0]
                inventory = write_inventory(work / "inventory.ini", engines, named_socket=True)
                kh = str(engines[0].lab.known_hosts_file)
                shim = [sys.executable, str(REPO / "bench" / "lab_remediate.py")]
                where = ["-i", str(inventory), "--known-hosts", kh]

                def apply(limit: str | None) -> None:
                    argv = [*shim, "apply", str(playbook), *where, "--forks", str(hosts), "--yes",
                            *(["--limit", limit] if limit else [])]
                    timed(argv, env=env)

                def rollback(limit: str | None) -> float:
                    argv = [*shim, "rollback", name, *where, "--forks", str(hosts), "--yes", "--format", "json",
                            *(["--limit", limit] if limit else [])]
                    ticks, cpu = _cpu_ticks(), _children_cpu()
                    r = timed(argv, env=env)
                    after = _cpu_ticks()
                    (own if limit is None else single_own).append(_children_cpu() - cpu)
                    if limit is None:
                        busy.append((after[0] - ticks[0]) / max(1, after[1] - ticks[1]))
                    rows = json.loads(r.stdout)
                    bad = [row for row in rows if row.get("action") != "restored"]
                    if bad or len(rows) != (1 if limit else hosts):
                        raise RuntimeError(f"rollback: not every host restored: {rows}")
                    return r.seconds

                apply(None)
                rollback(None)  # warm-up (byte-code cache, page cache), not counted
                for r in range(repeat):
                    print(f"  repeat {r + 1}/{repeat}", flush=True)
                    alone = []
                    all_first = r % 2 == 0  # interleave: all-hosts run first on even repeats
                    if all_first:
                        apply(None)
                        total = rollback(None)
                    for e in engines[r % hosts:] + engines[:r % hosts]:
                        apply(e.name)
                        alone.append(rollback(e.name))
                    if not all_first:
                        apply(None)
                        total = rollback(None)
                    totals.append(total)
                    slowest.append(max(alone))
                    ratios.append(total / max(alone))
                with shielded():
                    for f in fleets:
                        f.remove()
    finally:
        with shielded():
            shutil.rmtree(work, ignore_errors=True)
    print(f"\n### rollback over {hosts} lab hosts, --forks {hosts}; medians of {repeat} (whole-process wall time)\n")
    print(table(["hosts", f"all {hosts} hosts", "slowest single host", "total / slowest single"],
                [[str(hosts), fmt_s(median(totals)), fmt_s(median(slowest)), f"{median(ratios):.2f}x"]]))
    print(f"during the all-hosts rollback the machine's {os.cpu_count()} cores were {median(busy[1:] or busy):.0%} busy; "
          f"remediate's own CPU: {median(own[1:] or own):.2f} s (one host alone: {median(single_own):.2f} s)")
    return ratios


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="remediate rollback over N lab hosts vs each host alone")
    ap.add_argument("--hosts", default="3,8", help="comma-separated lab sizes")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    results: dict[int, list[float]] = {}
    try:
        with interruptible():
            for hosts in (int(n) for n in args.hosts.split(",")):
                results[hosts] = measure(hosts, args.repeat)
    except KeyboardInterrupt:
        print("\ninterrupted: cleaned up", file=sys.stderr)
        return 130
    print()
    for hosts, ratios in results.items():
        ratio = median(ratios)
        print(f"  target {'MET ' if ratio <= TARGET else 'MISS'}  rollback over {hosts} hosts: total <= {TARGET}x "
              f"slowest single host: {ratio:.2f}x  (per repeat: " + ", ".join(f"{x:.2f}x" for x in ratios) + ")")
    return 0


if __name__ == "__main__":
    sys.exit(main())
