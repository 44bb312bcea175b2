"""Saved plans (``apply --dry-run --out plan.json``, then ``apply --plan plan.json``), terraform-style:
apply exactly what was reviewed, or refuse when any container drifted since.

A saved plan holds the playbook (name or path, and a hash of its text), the variables, the hosts
(with the inventory variables the playbook declares), whether it was planned ``--container-only``
(it applies the same way), and each host's plan as shown (secrets masked) with every container's
fingerprint and a digest of what the plan masks. Variables that hold secrets (a secret name, a
value with a secret shape such as a URL with a password, see :mod:`remediate.core.redaction`, or a
value the plan puts in a secret place such as ``env: {HF_TOKEN: "{{ hub_value }}"}``, see
:mod:`remediate.core.secret_flow`) are not saved: pass them again with ``-e`` (or, for a host's,
give the inventory again with ``-i``); a value other than the reviewed one is refused as drift.

It applies to exactly its hosts: given other hosts (``-H``, ``-i``, ``--limit``), it is refused
(:meth:`SavedPlan.check_targets`); a container it does not list, or one that drifted, is refused
too (:meth:`SavedPlan.drift`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediate.core import limits
from remediate.core.drift import host_drift
from remediate.core.playbook import Playbook, find_playbook
from remediate.core.redaction import redact_text, secret_var_names
from remediate.core.secret_flow import plan_secrets
from remediate.errors import PlanError, PlaybookError
from remediate.fleet.results import RolloutResult
from remediate.fleet.target import Target
from remediate.output.plan import plan_json
from remediate.output.private import write_private

FORMAT = "remediate-plan/1"
_SINCE = "the plan was saved"

Json = dict[str, Any]


def _playbook_hash(source: str) -> str:
    return hashlib.sha256(find_playbook(source).read_bytes()).hexdigest()


def save(path: str, book: Playbook, source: str, vars: Mapping[str, Any], containers: Sequence[str],
         result: RolloutResult, *, container_only: bool = False) -> None:
    """Write the plan of a dry-run rollout to ``path``, mode 0600 (never the vars that hold
    secrets); ``container_only``: it was planned with ``--container-only`` (and applies so).

    Raises:
        PlanError: the plan is beyond what :func:`load` reads (too large): nothing is written.
        OSError: it cannot be written.
    """
    secrets = sorted({s for o in result.outcomes if o.plan for s in plan_secrets(o.plan)}, key=len, reverse=True)
    secret = secret_var_names(vars, secrets)
    data = {
        "format": FORMAT,
        "playbook": {"name": book.name, "source": source, "sha256": _playbook_hash(source)},
        "vars": {k: v for k, v in vars.items() if k not in secret},
        "secret_vars": secret,
        "containers": list(containers),
        "container_only": container_only,
        "hosts": [{"name": o.target.name, "url": o.target.url, "docker_host": o.target.docker_host,
                   "key_file": o.target.key_file, **({"jump": o.target.jump} if o.target.jump else {}),
                   **_host_vars(book, o.target, secrets), "status": o.status,
                   "error": redact_text(o.error) if o.error else None,
                   "plan": plan_json(o.plan) if o.plan else None} for o in result.outcomes],
    }
    data["hosts_sha256"] = hosts_digest(data["hosts"])
    text = json.dumps(data, indent=2)
    try:  # never a file that --plan refuses
        limits.load_json(text)
    except limits.LimitExceeded as exc:
        raise PlanError(f"{path}: not written: the plan would be refused by --plan ({exc}); "
                        "plan fewer hosts or containers at a time") from None
    write_private(path, text)


def hosts_digest(hosts: Any) -> str:
    """The ``hosts_sha256`` of a saved plan with ``hosts``: what binds a plan's hosts (where each connects, as which name) to the plan as saved: an
    edited address would connect elsewhere while every message named the host reviewed."""
    keys = ("name", "url", "docker_host", "key_file", "vars", "secret_vars")
    # a jump host only where there is one: the digest of a plan saved before jumps stays its own
    where = [{**{k: h.get(k) for k in keys}, **({"jump": h["jump"]} if h.get("jump") else {})} for h in hosts] \
        if isinstance(hosts, list) and \
        all(isinstance(h, dict) for h in hosts) else hosts
    return hashlib.sha256(json.dumps(where, sort_keys=True).encode()).hexdigest()


def _host_vars(book: Playbook, target: Target, secrets: Sequence[str]) -> Json:
    """The inventory variables of a host that the playbook declares, secrets by name only."""
    declared = {k: v for k, v in target.vars.items() if k in book.vars}
    secret = secret_var_names(declared, secrets)
    return {"vars": {k: v for k, v in declared.items() if k not in secret}, "secret_vars": secret}


def _key(name: str, url: str, docker_host: str | None) -> str:
    """A host as the refusal lists it: what makes it the same host (name, address, engine socket)."""
    return name if url == name and docker_host is None else f"{name} ({url}{' ' + docker_host if docker_host else ''})"


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from a file."""

    source: str
    vars: dict[str, Any]
    secret_vars: tuple[str, ...]
    containers: tuple[str, ...]
    hosts: tuple[Json, ...]
    #: Planned with ``--container-only``: compose services' files are left alone when it applies.
    container_only: bool = False

    def targets(self, overrides: Mapping[str, Any]) -> list[Target]:
        """The hosts the plan was made for, with their saved inventory variables.

        Raises:
            PlanError: a host's inventory set secret variables, which are not saved, and
                ``overrides`` (``-e``) does not give them.
        """
        missing = [f"{h['name']} ({', '.join(names)})" for h in self.hosts
                   if (names := [v for v in h.get("secret_vars") or () if v not in overrides])]
        if missing:
            raise PlanError("secret host vars are not saved: give the inventory again with -i, or -e them: "
                            + "; ".join(missing))
        return [Target(name=h["name"], url=h["url"], docker_host=h.get("docker_host"), key_file=h.get("key_file"), jump=h.get("jump"),
                       vars=dict(h.get("vars") or {})) for h in self.hosts]

    def check_targets(self, targets: Sequence[Target]) -> None:
        """Refuse hosts other than the plan's: the plan applies to exactly the hosts reviewed.

        A host is the same when its name, address and engine socket are.

        Raises:
            PlanError: a target is not in the plan, or a host of the plan is not a target.
        """
        given = [_key(t.name, t.url, t.docker_host) for t in targets]
        planned = [_key(h["name"], h["url"], h.get("docker_host")) for h in self.hosts]
        extra = [k for k in given if k not in planned]
        absent = [k for k in planned if k not in given]
        if extra or absent:
            raise PlanError("the saved plan was reviewed for other hosts (nothing was changed): "
                            + "; ".join(part for part in (
                                f"not in the plan: {', '.join(extra)}" if extra else "",
                                f"in the plan but not given: {', '.join(absent)}" if absent else "") if part)
                            + "; without -H/-i/--limit, --plan uses its own hosts")

    def drift(self, planned: RolloutResult) -> list[str]:
        """What differs between this plan and a fresh one (empty: apply may go ahead)."""
        problems = []
        fresh = {o.target.name: o for o in planned.outcomes}
        for host in self.hosts:
            outcome = fresh.get(host["name"])
            if outcome is None or outcome.plan is None:
                problems.append(f"{host['name']}: cannot plan now ({outcome.error if outcome else 'not reached'})")
                continue
            problems.extend(host_drift(host["name"], host.get("plan") or {}, plan_json(outcome.plan), _SINCE))
        return problems


def load(path: str) -> SavedPlan:
    """Read a saved plan.

    Raises:
        PlaybookError: not a saved plan, its hosts were edited, or its playbook changed since it
            was saved.
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
    if data.get("hosts_sha256") != hosts_digest(data.get("hosts")):
        raise PlaybookError(f"{path}: its hosts were edited since the plan was saved (a plan applies only where "
                            "it was reviewed); plan again")
    source = str(book["source"])
    if _playbook_hash(source) != book["sha256"]:
        raise PlaybookError(f"{path}: playbook {source} changed since the plan was saved; plan again")
    return SavedPlan(source=source, vars=dict(data.get("vars") or {}),
                     secret_vars=tuple(data.get("secret_vars") or ()), containers=tuple(data.get("containers") or ()),
                     hosts=tuple(data.get("hosts") or ()), container_only=data.get("container_only") is True)
