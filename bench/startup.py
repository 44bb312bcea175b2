"""Start-up time of the CLI (issue 7): ``remediate --help`` and ``remediate list``.

Prints the median (and min/max) wall time of each command over ``--repeat`` runs (interleaved,
default 10) next to a bare ``python -c pass``, then, from ``python -X importtime``, which heavy
modules each command imports (docker, paramiko, fabric, rich, jinja2, pydantic, yaml, requests,
...) and what they cost. Target: ``remediate --help`` <= 0.3 s.

    python -m bench.startup
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fleet import PYCACHE, REMEDIATE, fmt_s, median, table, timed

HEAVY = ("docker", "paramiko", "fabric", "invoke", "rich", "jinja2", "pydantic", "pydantic_core", "yaml",
         "requests", "urllib3", "cryptography", "nacl", "bcrypt", "markdown_it", "pygments", "click")
TARGET_HELP = 0.3
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")


def import_costs(args: list[str]) -> tuple[dict[str, float], list[tuple[str, float]]]:
    """({heavy package: cumulative ms}, top-level imports by cumulative ms) for one command."""
    env = {**os.environ, "PYTHONPYCACHEPREFIX": PYCACHE}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    p = subprocess.run([sys.executable, "-X", "importtime", REMEDIATE, *args], capture_output=True, text=True,
                       env=env, check=False)
    heavy: dict[str, float] = {}
    top: list[tuple[str, float]] = []
    for line in p.stderr.splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        cumulative, depth, name = int(m.group(2)) / 1000, len(m.group(3)) - 1, m.group(4)
        if name in HEAVY:
            heavy[name] = max(heavy.get(name, 0.0), cumulative)
        if depth == 0:
            top.append((name, cumulative))
    return heavy, sorted(top, key=lambda x: -x[1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="remediate CLI start-up time")
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args(argv)

    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "remediate --help": [REMEDIATE, "--help"],
        "remediate list": [REMEDIATE, "list"],
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    for cmd in commands.values():  # warm the page cache
        timed(cmd)
    for _ in range(args.repeat):
        for key, cmd in commands.items():
            times[key].append(timed(cmd).seconds)
    rows = [[k, fmt_s(median(v)), fmt_s(min(v)), fmt_s(max(v))] for k, v in times.items()]
    print(f"### CLI start-up, {args.repeat} runs each (interleaved)\n")
    print(table(["command", "median", "min", "max"], rows))
    help_median = median(times["remediate --help"])
    print(f"\n  target {'MET ' if help_median <= TARGET_HELP else 'MISS'}  remediate --help <= "
          f"{TARGET_HELP} s: {fmt_s(help_median)}")

    for label, cli_args in (("remediate --help", ["--help"]), ("remediate list", ["list"])):
        heavy, top = import_costs(cli_args)
        print(f"\n### heavy modules imported by `{label}` (python -X importtime, cumulative)\n")
        rows = [[name, "yes" if name in heavy else "no", f"{heavy[name]:.0f} ms" if name in heavy else "-"]
                for name in HEAVY]
        print(table(["module", "imported", "cumulative"], rows))
        print("\n  slowest top-level imports: " + ", ".join(f"{n} {ms:.0f} ms" for n, ms in top[:6]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
