"""The floor: a plain Docker SDK script doing the benchmark's change, nothing more.

Standalone on purpose (docker SDK + stdlib only): the remote benchmark runs this very file on
a lab host through one ``ssh`` exec, and locally or with an ``ssh://`` base URL on this machine.

What it does, for the containers whose name starts with ``--prefix`` (or that carry ``--label``,
or the one container ``--name`` names):

* read: list (server-side name or label filter; ``--name``: no list), inspect each, compare
  ``Config.Env`` with ``--env``; ``--with-image``: inspect each image once too, as a planner must;
* ``--mode dry-run``: print what would change;
* ``--mode apply``: recreate those that differ - a minimal correct recreate from the inspect
  body: create ``<name>-sdknew`` (Config with the new env + the HostConfig as inspected), stop the
  old one, rename it ``<name>-sdkold-<stamp>``, rename the new one, start it.
  ``--threads N`` recreates N containers at a time.

Prints one JSON line: ``{"total": N, "changed": K, "recreated": R}``.

    python3 bench/sdk_floor.py --base-url unix:///var/run/docker.sock --prefix bench-x- --mode dry-run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker

API_VERSION = "1.41"  # pinned: the floor skips version negotiation


def _env_dict(env: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in env:
        key, sep, value = item.partition("=")
        out[key] = value if sep else None
    return out


def _wanted(inspect: dict[str, Any], want: dict[str, str]) -> list[str] | None:
    """The new Env list, or None when the container already has ``want``."""
    env = _env_dict(inspect["Config"].get("Env") or [])
    if all(env.get(k) == v for k, v in want.items()):
        return None
    env.update(want)
    return [k if v is None else f"{k}={v}" for k, v in env.items()]


def _recreate(api: Any, inspect: dict[str, Any], env: list[str]) -> str:
    name = inspect["Name"].lstrip("/")
    old_id = inspect["Id"]
    body = dict(inspect["Config"])
    body["Env"] = env
    if body.get("Hostname") == old_id[:12]:
        del body["Hostname"]  # the engine derives it from the (new) id
    body["HostConfig"] = inspect["HostConfig"]
    new_id = api.create_container_from_config(body, name=f"{name}-sdknew")["Id"]
    api.stop(old_id)
    api.rename(old_id, f"{name}-sdkold-{time.strftime('%H%M%S')}-{old_id[:6]}")
    api.rename(new_id, name)
    api.start(new_id)
    return str(new_id)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default="unix:///var/run/docker.sock")
    select = ap.add_mutually_exclusive_group(required=True)
    select.add_argument("--prefix", help="container name prefix")
    select.add_argument("--label", metavar="KEY=VALUE", help="containers with this label")
    select.add_argument("--name", help="this one container (inspected by name, no listing)")
    ap.add_argument("--with-image", action="store_true", help="inspect each container's image (once per image)")
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--mode", choices=("dry-run", "apply"), default="dry-run")
    ap.add_argument("--threads", type=int, default=1, help="recreates at once (apply)")
    args = ap.parse_args(argv)
    want = dict(item.split("=", 1) for item in args.env) or {"BENCH_FLAG": "1"}

    api = docker.APIClient(base_url=args.base_url, version=API_VERSION, timeout=60,
                           max_pool_size=max(10, args.threads))
    try:
        if args.name:
            names = [args.name]
        else:
            filters = {"name": args.prefix} if args.prefix else {"label": args.label}
            summaries = api.containers(all=True, filters=filters)
            names = sorted(n.lstrip("/") for c in summaries for n in c["Names"][:1])
            names = [n for n in names if n.startswith(args.prefix or "") and "-sdkold-" not in n]
        todo = []
        images: set[str] = set()
        for name in names:
            inspect = api.inspect_container(name)
            if args.with_image and inspect["Image"] not in images:
                images.add(inspect["Image"])
                api.inspect_image(inspect["Image"])
            env = _wanted(inspect, want)
            if env is not None:
                todo.append((inspect, env))
                if args.mode == "dry-run":
                    print(f"{name}: " + " ".join(f"+{k}={v}" for k, v in want.items()))
        recreated = 0
        if args.mode == "apply" and todo:
            if args.threads > 1:
                with ThreadPoolExecutor(max_workers=args.threads) as pool:
                    recreated = len(list(pool.map(lambda t: _recreate(api, *t), todo)))
            else:
                recreated = len([_recreate(api, *t) for t in todo])
        print(json.dumps({"total": len(names), "changed": len(todo), "recreated": recreated}))
    finally:
        api.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
