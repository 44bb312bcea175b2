"""remediate vs a plain Docker SDK script (the floor) vs Ansible's docker_container (issue 7).

Same fleet, same change (``BENCH_FLAG=1``), same engine, same machine, in one run. Every row is
whole-process wall time; phases are dry-run (Ansible: ``--check --diff``), apply, and a second
run on the converged fleet. Each tool gets a fresh fleet for each repeat; tools are interleaved
(the order rotates every repeat) and the medians are printed with ratios to the floor and to
Ansible, plus how many containers each tool recreated on its second run (remediate's must be 0).

    python -m bench.vs_sdk_ansible                      # N=10, local engine, 3 repeats
    python -m bench.vs_sdk_ansible --sizes 10,50 --remote

``--remote`` adds a lab host (network namespace with its own dockerd + sshd, see
tests/lab/hosts.py) reached over SSH: remediate ``-H ssh://``, the SDK script run on the host
through one ``ssh`` exec (the remote floor), the SDK with an ``ssh://`` base URL (paramiko), and
Ansible over SSH with pipelining.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ansible_env
from bench.fleet import (
    LOCAL,
    REMEDIATE,
    REPO,
    Engine,
    Fleet,
    Run,
    bind_dir,
    fmt_ratio,
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
from bench.startup import TARGET_HELP

PHASES = ("dry-run", "apply", "second")
SDK = str(REPO / "bench" / "sdk_floor.py")
Argv = tuple[list[str], dict[str, str]]


@dataclass
class Tool:
    """One row: how to run each phase against a fleet."""

    key: str
    label: str
    engine: Engine
    command: Callable[[str, Fleet], Argv]
    role: str = ""  # "floor" | "ansible" | "remediate" | ""


@dataclass
class Sample:
    seconds: dict[str, float]
    verify: float  # remediate: seconds its apply spent in verification (0 for others)
    recreated_second: int
    converged: int


def _remediate(engine: Engine, playbook: Path, state_dir: str) -> Callable[[str, Fleet], Argv]:
    def command(phase: str, _fleet: Fleet) -> Argv:
        argv = [REMEDIATE, "apply", str(playbook), *engine.remediate_host_args()]
        argv += ["--dry-run"] if phase == "dry-run" else ["--yes"]
        # Own state dir: the host lock of concurrent test runs on this engine is not ours to wait on.
        # Unbuffered: progress lines arrive when printed, so verification time can be measured.
        return argv, {"REMEDIATE_STATE_DIR": state_dir, "PYTHONUNBUFFERED": "1"}
    return command


def _sdk(engine: Engine, *, threads: int, via: str) -> Callable[[str, Fleet], Argv]:
    def command(phase: str, fleet: Fleet) -> Argv:
        mode = "dry-run" if phase == "dry-run" else "apply"
        args = ["--prefix", fleet.prefix, "--mode", mode, "--threads", str(threads)]
        if via == "local":
            return [sys.executable, SDK, "--base-url", engine.url, *args], {}
        if via == "ssh-exec":  # the lab host shares this file system and python
            return engine.lab.ssh_argv(sys.executable, SDK, "--base-url", engine.url, *args), {}
        h = engine.lab  # ssh:// base URL: docker-py's paramiko transport reads $HOME/.ssh
        return [sys.executable, SDK, "--base-url", h.ssh_url, *args], {"HOME": str(h.ssh_home)}
    return command


def _ansible(engine: Engine, bin_: Path, work: Path) -> Callable[[str, Fleet], Argv]:
    def command(phase: str, fleet: Fleet) -> Argv:
        inventory, playbook = ansible_env.write_files(work, engine, fleet, fleet.names)
        argv = [str(bin_), "-i", str(inventory), str(playbook)]
        if phase == "dry-run":
            argv += ["--check", "--diff"]
        return argv, ansible_env.env(work)
    return command


#: remediate's progress phases of one container: these start its recreate, its verification, its end.
_RECREATE, _VERIFY, _END = ("write files",), ("verify",), ("done", "restore")


def _verify_seconds(run: Run) -> float:
    """Seconds of remediate's apply in which some container was verifying and none was being
    recreated: what verification adds to the wall time (with ``--parallel``, verification that
    overlaps another container's recreate costs nothing here).

    The progress lines of one host do not name the container, so this counts: recreating =
    recreates begun - verifications begun, verifying = verifications begun - ends.
    """
    total, recreating, verifying, last = 0.0, 0, 0, 0.0
    for at, line in run.lines:
        phase = line.strip()
        if verifying > 0 and recreating <= 0:
            total += at - last
        last = at
        if phase in _RECREATE:
            recreating += 1
        elif phase in _VERIFY:
            recreating, verifying = recreating - 1, verifying + 1
        elif phase in _END:
            verifying = max(verifying - 1, 0)
    return total


def measure(tool: Tool, fleet: Fleet, n: int) -> Sample:
    fleet.create(n)
    seconds: dict[str, float] = {}
    verify = 0.0
    recreated = converged = -1
    for phase in PHASES:
        argv, env = tool.command(phase, fleet)
        before = fleet.ids() if phase == "second" else {}
        run = timed(argv, env=env)
        seconds[phase] = run.seconds
        if phase == "apply":
            verify = _verify_seconds(run) if tool.role == "remediate" else 0.0
            converged = fleet.with_flag()
        if phase == "second":
            after = fleet.ids()
            recreated = sum(1 for name, cid in before.items() if after.get(name) != cid)
    fleet.remove()
    return Sample(seconds, verify, recreated, converged)


def section(title: str, tools: list[Tool], fleet: Fleet, n: int, repeat: int) -> list[tuple[str, float, float]]:
    """Measure every tool on fresh fleets of ``n``, print the table; issue 12's ratios."""
    samples: dict[str, list[Sample]] = {t.key: [] for t in tools}
    fleet.create(n)  # warm-up, not counted: byte-code cache, page cache, SSH ControlPersist
    for tool in tools:
        argv, env = tool.command("dry-run", fleet)
        timed(argv, env=env)
    fleet.remove()
    for r in range(repeat):
        order = tools[r % len(tools):] + tools[:r % len(tools)]
        for tool in order:
            print(f"  [{title}] repeat {r + 1}/{repeat}: {tool.label} ...", flush=True)
            samples[tool.key].append(measure(tool, fleet, n))
    return report(title, tools, samples, n)


def report(title: str, tools: list[Tool], samples: dict[str, list[Sample]], n: int) -> list[tuple[str, float, float]]:
    med = {t.key: {p: median([s.seconds[p] for s in samples[t.key]]) for p in PHASES} for t in tools}
    floor = next(t for t in tools if t.role == "floor")
    ansible = next((t for t in tools if t.role == "ansible"), None)
    rows = []
    for t in tools:
        m = med[t.key]
        ss = samples[t.key]

        def ratios(ref: Tool | None, m: dict[str, float] = m) -> str:
            if ref is None:
                return "-"
            return " / ".join(fmt_ratio(m[p], med[ref.key][p]) for p in PHASES)

        rows.append([t.label, fmt_s(m["dry-run"]), fmt_s(m["apply"]), fmt_s(m["second"]), ratios(floor),
                     ratios(ansible), str(max(s.recreated_second for s in ss)),
                     f"{min(s.converged for s in ss)}/{n}"])
        if t.role == "remediate":
            verify = median([s.verify for s in ss])
            excl = median([s.seconds["apply"] - s.verify for s in ss])
            m2 = {"dry-run": float("nan"), "apply": excl, "second": float("nan")}
            rows.append([f"  {t.label}: apply without verify-only time ({fmt_s(verify)})", "", fmt_s(excl), "",
                         ratios(floor, m2).replace("- / ", "").replace(" / -", ""),
                         ratios(ansible, m2).replace("- / ", "").replace(" / -", ""), "", ""])
    print(f"\n### {title}: N={n}, medians of {len(next(iter(samples.values())))} (whole-process wall time)\n")
    print(table(["tool", "dry-run", "apply", "second run", "÷ floor (dry/apply/2nd)",
                 "÷ Ansible (dry/apply/2nd)", "recreated on 2nd run", "converged"], rows))
    rem = next((t for t in tools if t.role == "remediate"), None)
    if rem is None:
        return []
    rm, fm = med[rem.key], med[floor.key]
    excl = median([s.seconds["apply"] - s.verify for s in samples[rem.key]])
    checks = [
        (f"dry-run <= 1.5x floor ({floor.label})", rm["dry-run"] <= 1.5 * fm["dry-run"],
         fmt_ratio(rm["dry-run"], fm["dry-run"])),
        ("apply (verify excluded) <= 1.25x floor", excl <= 1.25 * fm["apply"], fmt_ratio(excl, fm["apply"])),
        ("apply (verify excluded) faster than the floor (bounded parallel recreates)", excl < fm["apply"],
         fmt_ratio(excl, fm["apply"])),
        ("apply with verify <= 1.25x floor", rm["apply"] <= 1.25 * fm["apply"], fmt_ratio(rm["apply"], fm["apply"])),
        ("second run: 0 recreated", max(s.recreated_second for s in samples[rem.key]) == 0,
         str(max(s.recreated_second for s in samples[rem.key]))),
        ("second run <= dry-run", rm["second"] <= rm["dry-run"], f"{fmt_s(rm['second'])} vs {fmt_s(rm['dry-run'])}"),
    ]
    if ansible is not None:
        am = med[ansible.key]
        checks.insert(1, ("dry-run >= 10x faster than Ansible --check", am["dry-run"] >= 10 * rm["dry-run"],
                          fmt_ratio(am["dry-run"], rm["dry-run"])))
    print("\n  issue 7:")
    for name, ok, value in checks:
        print(f"  target {'MET ' if ok else 'MISS'}  {name}: {value}")
    print("\n  issue 12 (ratios of the medians above):")
    targets = issue12_ratios(rm, fm)
    for name, ratio, limit in targets:
        print(f"  target {'MET ' if ratio <= limit else 'MISS'}  {name} <= {limit:g}: {ratio:.2f}x")
    return targets


#: Issue 12's targets: (name, numerator, denominator, limit); "remediate" and "floor" are medians
#: of whole-process wall time in one section (same size, same engine, same run).
ISSUE12 = (
    ("apply with verify / floor apply", ("remediate", "apply"), ("floor", "apply"), 1.15),
    ("dry-run / floor dry-run", ("remediate", "dry-run"), ("floor", "dry-run"), 1.2),
    ("second run / dry-run", ("remediate", "second"), ("remediate", "dry-run"), 1.0),
)


def issue12_ratios(remediate: dict[str, float], floor: dict[str, float]) -> list[tuple[str, float, float]]:
    """(name, ratio, limit) of each of issue 12's targets, from one section's medians."""
    rows = {"remediate": remediate, "floor": floor}
    return [(name, rows[a][pa] / rows[b][pb], limit) for name, (a, pa), (b, pb), limit in ISSUE12]


def _header(args: argparse.Namespace, ansible_note: str) -> None:
    rev = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                         text=True, check=False).stdout.strip()
    others = subprocess.run(["docker", "ps", "-aq"], capture_output=True, text=True, check=False).stdout.split()
    print(f"remediate {rev} | python {platform.python_version()} | {os.cpu_count()} cores | "
          f"load {os.getloadavg()[0]:.2f} | containers on the local engine before: {len(others)}")
    print(f"ansible: {ansible_note}")
    print(f"sizes {args.sizes}, repeat {args.repeat}, remote {args.remote}, fleet -p {args.publish}\n", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="remediate vs Docker SDK vs Ansible (issue 7)")
    ap.add_argument("--sizes", default="10", help="fleet sizes, comma separated (default 10)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per row; medians are printed")
    ap.add_argument("--remote", action="store_true", help="also over SSH to a lab host")
    ap.add_argument("--no-local", action="store_true", help="skip the local engine sections")
    ap.add_argument("--no-ansible", action="store_true", help="skip Ansible")
    ap.add_argument("--threads", type=int, default=10, help="threads of the parallel SDK row")
    ap.add_argument("--publish", default="127.0.0.1::80",
                    help="the fleet's docker run -p; '80' (engine spelling HostIp \"\") binds all the "
                         "engine's interfaces, so it is accepted with --no-local only (a lab host's "
                         "namespace has just loopback and its lab address)")
    args = ap.parse_args(argv)
    if not args.publish.startswith("127.0.0.1:") and not args.no_local:
        ap.error("--publish other than 127.0.0.1:... needs --no-local")
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    ansible_bin, ansible_note = (None, "skipped (--no-ansible)")
    if not args.no_ansible:
        ansible_bin, ansible_note = ansible_env.ensure_ansible()
        if ansible_bin is None:
            ansible_note = f"NOT AVAILABLE - {ansible_note}; continuing without it"
    _header(args, ansible_note)

    tag = new_tag()
    work = Path(tempfile.mkdtemp(prefix=f"bench-{tag}-work-"))
    state_dir = str(work / "remediate-state")
    playbook = write_playbook(work, f"bench-{tag}-")
    engines_done: list[Fleet] = []
    summary: list[tuple[str, list[tuple[str, float, float]]]] = []
    with interruptible(), bind_dir(tag) as mount:
        try:
            def local_tools(e: Engine) -> list[Tool]:
                tools = [
                    Tool("rem", "remediate", e, _remediate(e, playbook, state_dir), "remediate"),
                    Tool("sdk", "Docker SDK, sequential (floor)", e, _sdk(e, threads=1, via="local"), "floor"),
                    Tool("sdkt", f"Docker SDK, {args.threads} threads", e, _sdk(e, threads=args.threads, via="local")),
                ]
                if ansible_bin:
                    tools.append(Tool("ans", "Ansible docker_container, local", e,
                                      _ansible(e, ansible_bin, work / "ansible"), "ansible"))
                return tools

            def remote_tools(e: Engine) -> list[Tool]:
                tools = [
                    Tool("rem", "remediate -H ssh://", e, _remediate(e, playbook, state_dir), "remediate"),
                    Tool("exec", "SDK script on the host, one ssh exec (floor)", e,
                         _sdk(e, threads=1, via="ssh-exec"), "floor"),
                    Tool("exect", f"SDK script on the host, one ssh exec, {args.threads} threads", e,
                         _sdk(e, threads=args.threads, via="ssh-exec")),
                    Tool("url", "SDK ssh:// base URL (paramiko), sequential", e, _sdk(e, threads=1, via="url")),
                ]
                if ansible_bin:
                    tools.append(Tool("ans", "Ansible over SSH (pipelining)", e,
                                      _ansible(e, ansible_bin, work / "ansible"), "ansible"))
                return tools

            if not args.no_local:
                fleet = Fleet(LOCAL, tag, mount, args.publish)
                engines_done.append(fleet)
                for n in sizes:
                    summary.append((f"local, N={n}", section("local engine", local_tools(LOCAL), fleet, n, args.repeat)))
            if args.remote:
                with lab(1, "benchv") as hosts:
                    fleet = Fleet(hosts[0], tag, mount, args.publish)
                    engines_done.append(fleet)
                    try:
                        for n in sizes:
                            summary.append((f"over SSH, N={n}", section(
                                f"over SSH to lab host {hosts[0].lab.address}", remote_tools(hosts[0]),
                                fleet, n, args.repeat)))
                    finally:
                        with shielded():
                            fleet.remove()
        except KeyboardInterrupt:
            print("\ninterrupted: cleaning up", file=sys.stderr)
            return 130
        finally:
            with shielded():
                for fleet in engines_done:
                    if fleet.engine.lab is None:
                        fleet.remove()
                shutil.rmtree(work, ignore_errors=True)
    print_summary(summary, help_seconds(args.repeat))
    return 0


def help_seconds(repeat: int) -> float:
    """Median wall time of ``remediate --help`` (after one warm-up run)."""
    timed([REMEDIATE, "--help"])
    return median([timed([REMEDIATE, "--help"]).seconds for _ in range(max(repeat, 5))])


def print_summary(summary: list[tuple[str, list[tuple[str, float, float]]]], help_s: float) -> None:
    """Issue 12's targets of the whole run: one row per section, then ``remediate --help``."""
    if summary:
        names = [f"{name} (<= {limit:g})" for name, _v, limit in summary[0][1]]
        rows = [[where, *(f"{v:.2f}x {'MET' if v <= limit else 'MISS'}" for _n, v, limit in ratios)]
                for where, ratios in summary if ratios]
        print("\n### issue 12 targets, this run\n")
        print(table(["section", *names], rows))
    print(f"\n  target {'MET ' if help_s <= TARGET_HELP else 'MISS'}  remediate --help <= {TARGET_HELP:g} s: "
          f"{fmt_s(help_s)} (median)")


if __name__ == "__main__":
    sys.exit(main())
