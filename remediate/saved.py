"""Saved plans (``apply --dry-run --out plan.json``, then ``apply --plan plan.json``), terraform-style:
apply exactly what was reviewed, or refuse when any container drifted since.

A saved plan holds the playbook (name or path, and a hash of its text), the variables, the hosts,
and each host's plan as shown (secrets masked) with every container's fingerprint. Variables that
hold secrets (a secret name, or a value with a secret shape such as a URL with a password; see
:mod:`remediate.redaction`) are not saved: pass them again with ``-e``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediate import limits
from remediate.errors import PlaybookError
from remediate.fleet import RolloutResult, Target
from remediate.playbook import Playbook, find_playbook
from remediate.redaction import redact_text, secret_var_names
from remediate.report import plan_json

FORMAT = "remediate-plan/1"
_COMPARED = ("container", "id", "fingerprint", "action", "diff")

Json = dict[str, Any]


def _playbook_hash(source: str) -> str:
    return hashlib.sha256(find_playbook(source).read_bytes()).hexdigest()


def save(path: str, book: Playbook, source: str, vars: Mapping[str, Any], containers: Sequence[str],
         result: RolloutResult) -> None:
    """Write the plan of a dry-run rollout to ``path`` (never the vars that hold secrets)."""
    secret = secret_var_names(vars)
    data = {
        "format": FORMAT,
        "playbook": {"name": book.name, "source": source, "sha256": _playbook_hash(source)},
        "vars": {k: v for k, v in vars.items() if k not in secret},
        "secret_vars": secret,
        "containers": list(containers),
        "hosts": [{"name": o.target.name, "url": o.target.url, "docker_host": o.target.docker_host,
                   "key_file": o.target.key_file, "status": o.status,
                   "error": redact_text(o.error) if o.error else None,
                   "plan": plan_json(o.plan) if o.plan else None} for o in result.outcomes],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2)


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from a file."""

    source: str
    vars: dict[str, Any]
    secret_vars: tuple[str, ...]
    containers: tuple[str, ...]
    hosts: tuple[Json, ...]

    def targets(self) -> list[Target]:
        """The hosts the plan was made for."""
        return [Target(name=h["name"], url=h["url"], docker_host=h.get("docker_host"), key_file=h.get("key_file"))
                for h in self.hosts]

    def drift(self, planned: RolloutResult) -> list[str]:
        """What differs between this plan and a fresh one (empty: apply may go ahead)."""
        problems = []
        fresh = {o.target.name: o for o in planned.outcomes}
        for host in self.hosts:
            outcome = fresh.get(host["name"])
            if outcome is None or outcome.plan is None:
                problems.append(f"{host['name']}: cannot plan now ({outcome.error if outcome else 'not reached'})")
                continue
            before = {c["container"]: c for c in (host.get("plan") or {}).get("containers", [])}
            now = {c["container"]: c for c in plan_json(outcome.plan)["containers"]}
            for name in sorted(before.keys() | now.keys()):
                problems.extend(_container_drift(host["name"], name, before.get(name), now.get(name)))
        return problems


def _container_drift(host: str, name: str, before: Json | None, now: Json | None) -> list[str]:
    if before is None:
        return [f"{host}: {name}: new container, not in the saved plan"]
    if now is None:
        return [f"{host}: {name}: no longer selected (removed or changed)"]
    changed = [key for key in _COMPARED if before.get(key) != now.get(key)]
    if [f.get("diff") for f in before.get("files", [])] != [f.get("diff") for f in now.get("files", [])]:
        changed.append("files")
    if not changed:
        return []
    if "fingerprint" in changed or "id" in changed:
        return [(f"{host}: {name}: drifted since the plan was saved "
                f"(fingerprint {before.get('fingerprint')} -> {now.get('fingerprint')})")]
    return [f"{host}: {name}: the change differs now ({', '.join(changed)})"]


def load(path: str) -> SavedPlan:
    """Read a saved plan.

    Raises:
        PlaybookError: not a saved plan, or its playbook changed since it was saved.
    """
    try:
        data = limits.load_json(limits.read_text(Path(path), "saved plan"))
    except limits.LimitExceeded as exc:
        raise PlaybookError(f"{path}: {exc}") from None
    except (OSError, ValueError) as exc:  # ValueError: not JSON, not UTF-8
        raise PlaybookError(f"{path}: not a readable saved plan ({exc.__class__.__name__})") from None
    book = data.get("playbook") if isinstance(data, dict) else None
    if not isinstance(book, dict) or data.get("format") != FORMAT or not {"source", "sha256"} <= book.keys():
        raise PlaybookError(f"{path}: not a remediate saved plan (format {FORMAT})")
    source = str(book["source"])
    if _playbook_hash(source) != book["sha256"]:
        raise PlaybookError(f"{path}: playbook {source} changed since the plan was saved; plan again")
    return SavedPlan(source=source, vars=dict(data.get("vars") or {}),
                     secret_vars=tuple(data.get("secret_vars") or ()), containers=tuple(data.get("containers") or ()),
                     hosts=tuple(data.get("hosts") or ()))
