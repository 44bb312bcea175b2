"""Cost follows the selection (issue 23): remediate on an engine crowded with containers it does
not select, against the SDK floor measured in the same run.

The engine gets ``--others`` containers (created, never started) that no playbook selects, then
the selected ones, each started with ``BENCH_BASE=1``: one container for ``--container``, and a
set of each ``--sizes`` (label ``remediate-bench.sel=<tag>-<N>``). Every set is measured with all
of them on the engine (created in that order: the others, the sets from the largest, the named one).
Per scenario, interleaved, ``--repeat`` times (whole processes):

- floor: ``bench/sdk_floor.py --with-image`` (interpreter start, docker SDK, the container(s) by
  name or label filter, each image once, compare env);
- dry run: ``remediate apply PB --dry-run`` with PB adding ``BENCH_FLAG=1`` (all would be recreated);
- no-op: ``remediate apply PB0 --yes`` with PB0 setting ``BENCH_BASE=1``, which they have (a
  second run on a converged fleet: plan, nothing to do).

Prints medians, ratios (also paired: the median of each round's dry run / floor, which a load
that comes and goes moves less), the engine calls remediate made (``-vv``, one untimed run) and
``target MET|MISS`` lines (of the medians): named <= 1.3x floor, N matching <= 1.2x floor, no-op <=
dry run.

    python -m bench.selection                       # 300 others, named + 50 + 300, 5 repeats
    python -m bench.selection --others 300 --sizes 50 --repeat 3
    python -m bench.selection --others-newer        # the others created after the selected ones
    python -m bench.selection --baseline /path/to/main-checkout   # that checkout's remediate too, same rounds
    python -m bench.selection --stopped             # selected containers created, not started

``--baseline DIR`` also times the remediate of another checkout (``PYTHONPATH=DIR``), interleaved
in the same rounds: before/after figures under the same load. ``--stopped`` leaves the selected
containers created, never started: removing hundreds of running containers at once has hung
dockerd 20.10 here (exit events never processed, ``docker rm -f`` waiting forever).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import (
    IMAGE,
    LABEL,
    LOCAL,
    REMEDIATE,
    REPO,
    Engine,
    fmt_ratio,
    fmt_s,
    interruptible,
    lab,
    median,
    new_tag,
    remove_ours,
    shielded,
    table,
    timed,
)

SDK = str(REPO / "bench" / "sdk_floor.py")
SEL = "remediate-bench.sel"
#: Targets of issue 23: (scenario kind, limit of remediate dry run / floor).
LIMITS = {"named": 1.3, "matching": 1.2}


def _docker(engine: Engine, *args: str) -> None:
    p = subprocess.run(engine.docker(*args), capture_output=True, text=True, check=False)
    if p.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)}: {p.stderr.strip()}")


def _make(engine: Engine, names: list[str], tag: str, *, run: bool, sel: str | None = None, start: bool = True) -> None:
    def one(name: str) -> None:
        labels = ["--label", f"{LABEL}={tag}", *(["--label", f"{SEL}={sel}"] if sel else [])]
        if run:
            _docker(engine, "run" if start else "create", *(["-d"] if start else []), "--name", name, *labels,
                    "-e", "BENCH_BASE=1", IMAGE, "sleep", "1d")
        else:
            _docker(engine, "create", "--name", name, *labels, IMAGE, "sleep", "1d")

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, names))


def _playbook(directory: Path, sel: str, env: str) -> str:
    path = directory / f"{sel}-{env.split('=')[0].lower()}.yml"
    key, value = env.split("=", 1)
    path.write_text(f"name: bench-sel\ndescription: benchmark\nsafety: auto\nselect:\n  - labels: {{{SEL}: '{sel}'}}\n"
                    f"changes:\n  - env: {{{key}: '{value}'}}\n")
    return str(path)


_LOAD: list[str] = []


def _load(now: bool = False) -> str:
    """The 1-minute load average (the first call's is kept: the load when the measuring began)."""
    if now or not _LOAD:
        _LOAD.append(Path("/proc/loadavg").read_text().split()[0])
    return _LOAD[-1] if now else _LOAD[0]


def _calls(stderr: str) -> str:
    """What ``-vv`` shows of the engine calls: counts by kind."""
    kinds = Counter("inspect image" if m.startswith("inspect image") else m.split(" ")[0]
                    for m in re.findall(r"engine: (.+?) \(", stderr))
    return ", ".join(f"{kind} {n}" for kind, n in sorted(kinds.items()))


def _paired(times: dict[str, list[float]], key: str) -> str:
    """The median over the rounds of ``key``'s time / the floor's in the same round."""
    return f"{median([t / fl for t, fl in zip(times[key], times['floor'], strict=True)]):.2f}x"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--others", type=int, default=300, help="unselected containers (created, never started)")
    ap.add_argument("--sizes", default="50,300", help="sizes of the label-selected sets")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--others-newer", action="store_true", help="create the others after the selected ones")
    ap.add_argument("--baseline", metavar="DIR", help="also time the remediate of this checkout (PYTHONPATH=DIR)")
    ap.add_argument("--stopped", action="store_true", help="selected containers created, not started")
    ap.add_argument("--lab", action="store_true", help="on a lab host's own engine (tests/lab/hosts.py), not the local one")
    args = ap.parse_args(argv)
    if not args.lab:
        return _bench(args, LOCAL)
    with interruptible(), lab(1, "bsel") as engines:
        return _bench(args, engines[0])


def _bench(args: argparse.Namespace, engine: Engine) -> int:
    """The benchmark on ``engine`` (see the module docstring)."""
    sizes = [int(s) for s in args.sizes.split(",") if s]
    tag = new_tag()
    state = tempfile.mkdtemp(prefix=f"bench-{tag}-state-")
    env = {"REMEDIATE_STATE_DIR": state, "DOCKER_HOST": engine.url}
    others = [f"bench-{tag}-o{i:03d}" for i in range(args.others)]
    target = f"bench-{tag}-target"
    with interruptible(), tempfile.TemporaryDirectory(prefix=f"bench-{tag}-") as tmp:
        try:
            started = time.monotonic()
            if not args.others_newer:
                _make(engine, others, tag, run=False)
                time.sleep(1.1)  # the engine's Created is in seconds
            # Largest set first, the named container last: a set's own dependents lookup inspects
            # the containers newer than its members (they may join their namespaces).
            for n in sorted(sizes, reverse=True):
                _make(engine, [f"bench-{tag}-s{n}-{i:03d}" for i in range(n)], tag, run=True, sel=f"{tag}-{n}",
                      start=not args.stopped)
                time.sleep(1.1)
            _make(engine, [target], tag, run=True, sel=f"{tag}-named", start=not args.stopped)
            if args.others_newer:
                time.sleep(1.1)
                _make(engine, others, tag, run=False)
            print(f"engine ready: {args.others} others + 1 + {'+'.join(map(str, sizes))} selected "
                  f"(others {'newer' if args.others_newer else 'older'}), {time.monotonic() - started:.0f} s")
            rows, targets = [], []
            _load()
            scenarios = [("named", f"{tag}-named", ["--container", target], ["--name", target])]
            scenarios += [(f"{n} matching", f"{tag}-{n}", [], ["--label", f"{SEL}={tag}-{n}"]) for n in sizes]
            for label, sel, extra, floor_sel in scenarios:
                dry = [REMEDIATE, "apply", _playbook(Path(tmp), sel, "BENCH_FLAG=1"), "--dry-run", *extra]
                noop = [REMEDIATE, "apply", _playbook(Path(tmp), sel, "BENCH_BASE=1"), "--yes", *extra]
                floor = [sys.executable, SDK, "--base-url", engine.url, *floor_sel, "--env", "BENCH_FLAG=1", "--with-image", "--mode", "dry-run"]
                calls = _calls(timed([*dry, "-vv"], env=env).stderr)
                noop_calls = _calls(timed([*noop, "-vv"], env=env).stderr)
                argvs = {"floor": floor, "dry": dry, "noop": noop}
                envs = {key: env for key in argvs}
                if args.baseline:
                    argvs |= {"base dry": dry, "base noop": noop}
                    envs |= {key: {**env, "PYTHONPATH": args.baseline} for key in ("base dry", "base noop")}
                times: dict[str, list[float]] = {key: [] for key in argvs}
                for r in range(args.repeat):
                    order = list(argvs)[r % len(argvs):] + list(argvs)[:r % len(argvs)]
                    for key in order:
                        times[key].append(timed(argvs[key], env=envs[key]).seconds)
                f, d, o = (median(times[k]) for k in ("floor", "dry", "noop"))

                if args.baseline:
                    bd, bo = median(times["base dry"]), median(times["base noop"])
                    rows.append([f"{label} (baseline)", fmt_s(f), fmt_s(bd), fmt_s(bo), fmt_ratio(bd, f),
                                 _paired(times, "base dry"), fmt_ratio(bo, f), fmt_ratio(bo, bd)])
                rows.append([label, fmt_s(f), fmt_s(d), fmt_s(o), fmt_ratio(d, f), _paired(times, "dry"), fmt_ratio(o, f),
                             fmt_ratio(o, d)])
                limit = LIMITS["named" if label == "named" else "matching"]
                targets.append(f"target {'MET' if d / f <= limit else 'MISS'} {label}: dry run / floor "
                               f"{d / f:.2f} <= {limit}")
                targets.append(f"target {'MET' if o <= d else 'MISS'} {label}: no-op {o:.2f} s <= dry run {d:.2f} s")
                print(f"{label}: engine calls, dry run: {calls}; no-op: {noop_calls}")
            print()
            print(table(["scenario", "floor", "dry run", "no-op", "dry/floor", "paired dry/floor", "no-op/floor",
                         "no-op/dry"], rows))
            print(f"(medians of {args.repeat}; paired: the median of each round's ratio; load average before: "
                  f"{_load()}, after: {_load(now=True)}; "
                  f"{args.others} unselected containers on the engine, "
                  f"{'newer' if args.others_newer else 'older'} than the selected)")
            print("\n".join(targets))
        finally:
            with shielded():
                remove_ours(engine, tag)
                subprocess.run(["rm", "-rf", state], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
