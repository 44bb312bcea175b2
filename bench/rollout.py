"""Rollout over many hosts (issue 4, Performance): is ``--forks 8`` really parallel?

A lab of 8 hosts (network namespaces, each with its own dockerd + sshd), one fleet container per
host, one env-var change (``BENCH_FLAG=1``). Measured in the same run, interleaved, whole-process
wall time:

* dry-run over all 8 hosts (``-i inventory --forks 8``) vs each host alone (``--limit hN``);
* apply over all 8 vs each host alone (the containers are reset between applies).

Prints the medians, the slowest single host, and total / slowest-single (target <= 1.5), plus
the per-host seconds remediate reports inside the 8-host run.

    python -m bench.rollout                 # 8 hosts, 3 repeats
    python -m bench.rollout --hosts 4 --repeat 1
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

TARGET = 1.5


def write_inventory(path: Path, engines: list[Engine], *, named_socket: bool) -> Path:
    # With remediate_docker_host naming each lab engine's socket, remediate opens its API channels
    # straight to that socket (direct-streamlocal); without it, each channel runs
    # `docker system dial-stdio` on the host (the lab's sshd sets DOCKER_HOST to that engine).
    lines = ["[bench]"]
    for e in engines:
        h = e.lab
        socket = f" remediate_docker_host={e.url}" if named_socket else ""
        lines.append(f"{e.name} ansible_host={h.address} ansible_port={h.ssh_port} ansible_user={h.user} "
                     f"ansible_ssh_private_key_file={h.identity_file}{socket}")
    path.write_text("\n".join(lines) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="remediate rollout over N lab hosts vs each host alone")
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--forks", type=int, default=8)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--variant", choices=("dial-stdio", "streamlocal"), default="streamlocal",
                    help="streamlocal: engine sockets named in the inventory (API channels straight to them); "
                         "dial-stdio: no socket named (a `docker system dial-stdio` per channel)")
    args = ap.parse_args(argv)
    launcher = "lab_remediate.py"

    tag = new_tag()
    work = Path(tempfile.mkdtemp(prefix=f"bench-{tag}-work-"))
    playbook = write_playbook(work, f"bench-{tag}-")
    env = {"REMEDIATE_STATE_DIR": str(work / "remediate-state")}
    try:
        with interruptible(), bind_dir(tag) as mount:
            print(f"starting a lab of {args.hosts} hosts ...", flush=True)
            with lab(args.hosts, "benchr") as engines:
                fleets = [Fleet(e, tag, mount) for e in engines]
                inventory = write_inventory(work / "inventory.ini", engines, named_socket=args.variant == "streamlocal")
                kh = str(engines[0].lab.known_hosts_file)
                # The lab hosts share one file system: lab_remediate.py gives each its own state dir.
                base = [sys.executable, str(REPO / "bench" / launcher), "apply", str(playbook),
                        "-i", str(inventory), "--known-hosts", kh, "--forks", str(args.forks), "--format", "json"]

                def reset(selected: list[Fleet]) -> None:
                    with ThreadPoolExecutor(max_workers=4) as pool:
                        list(pool.map(lambda f: f.create(1, workers=1), selected))

                def run(phase: str, limit: str | None) -> tuple[float, dict[str, float]]:
                    argv = base + (["--dry-run"] if phase == "dry-run" else ["--yes"])
                    argv += ["--limit", limit] if limit else []
                    r = timed(argv, env=env, ok=(0, 1))
                    per_host = {}
                    if limit is None:
                        data = json.loads(r.stdout)
                        per_host = {h["host"]: h["seconds"] for h in data.get("hosts", [])}
                        bad = [f"{h['host']}: {h['status']}: {h['error']}" for h in data.get("hosts", [])
                               if h["status"] not in ("planned", "changed", "ok")]
                        if bad:
                            raise RuntimeError(f"{phase}: hosts failed:\n" + "\n".join(bad))
                    if r.rc != 0:
                        raise RuntimeError(f"{' '.join(argv)} exited {r.rc}:\n{r.stderr[-2000:]}{r.stdout[-2000:]}")
                    return r.seconds, per_host

                reset(fleets)
                run("dry-run", None)  # warm-up (byte-code cache, page cache), not counted
                totals: dict[str, list[float]] = {"dry-run": [], "apply": []}
                slowest: dict[str, list[float]] = {"dry-run": [], "apply": []}
                singles: dict[str, dict[str, list[float]]] = {
                    p: {e.name: [] for e in engines} for p in ("dry-run", "apply")}
                inside: dict[str, list[float]] = {"dry-run": [], "apply": []}
                ratios: dict[str, list[float]] = {"dry-run": [], "apply": []}
                for r in range(args.repeat):
                    print(f"  repeat {r + 1}/{args.repeat}", flush=True)
                    for phase in ("dry-run", "apply"):
                        order = engines[r % len(engines):] + engines[:r % len(engines)]
                        alone = []
                        all_first = r % 2 == 0  # interleave: all-hosts run first on even repeats
                        if all_first:
                            total, per_host = run(phase, None)
                            if phase == "apply":
                                reset(fleets)
                        for e, f in ((e, fleets[engines.index(e)]) for e in order):
                            s, _ = run(phase, e.name)
                            alone.append(s)
                            singles[phase][e.name].append(s)
                            if phase == "apply":
                                reset([f])
                        if not all_first:
                            total, per_host = run(phase, None)
                            if phase == "apply":
                                reset(fleets)
                        totals[phase].append(total)
                        slowest[phase].append(max(alone))
                        inside[phase].append(max(per_host.values()) if per_host else float("nan"))
                        ratios[phase].append(total / max(alone))

                print(f"\n### rollout over {args.hosts} lab hosts, --forks {args.forks}, one env-var change per "
                      f"host, engine API via {args.variant}; medians of {args.repeat} (whole-process wall time)\n")
                rows = []
                for phase in ("dry-run", "apply"):
                    single_medians = {n: median(v) for n, v in singles[phase].items()}
                    rows.append([phase, fmt_s(median(totals[phase])), fmt_s(median(slowest[phase])),
                                 fmt_s(median(list(single_medians.values()))),
                                 fmt_s(median(inside[phase])),
                                 f"{median(ratios[phase]):.2f}x"])
                print(table(["phase", f"all {args.hosts} hosts", "slowest single host",
                             "median single host", "slowest host inside the all-hosts run (its own clock)",
                             "total / slowest single"], rows))
                print()
                for phase in ("dry-run", "apply"):
                    ratio = median(ratios[phase])
                    print(f"  target {'MET ' if ratio <= TARGET else 'MISS'}  {phase}: total <= {TARGET}x slowest "
                          f"single host: {ratio:.2f}x  (per repeat: "
                          + ", ".join(f"{x:.2f}x" for x in ratios[phase]) + ")")
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
