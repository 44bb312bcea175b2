"""Fix everything at once: the fixing playbooks of several findings merged per container.

Each container is recreated and verified once, whatever the number of fixes it needs: the
containers that need the same fixes form one group, and each group becomes one in-memory
:class:`~remediate.core.playbook.Playbook` selecting exactly those containers by name, with the
fixes' changes in order (each naming the fix it comes from, for the plan's diff), all their verify steps and requirements, the union of their vars
and the strictest ``safety``. Two fixes that set one field (an env var, a flag, the network,
the platform, a mount target, a file) to different values on one container are refused.

Example::

    groups = merge_fixes({"gateway": [load_playbook("enable-custom-models"),
                                      load_playbook("disable-auth-bypass")]})
    # one Playbook, selecting the container named "gateway", with both changes
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from remediate.core import host_options
from remediate.core import playbook as pb
from remediate.core.suggest import did_you_mean
from remediate.errors import PlaybookError

__all__ = ["MERGED_NAME", "check_fix_vars", "merge_fixes", "required_vars"]

#: The name of a merged playbook (in plans, the journal and reports).
MERGED_NAME = "diagnose-fix"


def required_vars(book: pb.Playbook, overrides: Mapping[str, Any] | None = None) -> list[str]:
    """The playbook's vars that have no default (``null``) and no value in ``overrides``."""
    given = overrides or {}
    return [name for name, default in book.vars.items() if default is None and given.get(name) is None]


def check_fix_vars(overrides: Mapping[str, Any], books: Iterable[pb.Playbook]) -> None:
    """Refuse an ``-e`` var that none of ``books`` (the playbooks a fix may apply) declares.

    Raises:
        PlaybookError: one line naming the var, the closest declared one, and all of them.
    """
    if not overrides:
        return  # nothing to check: ``books`` is not even read
    declared = sorted({name for book in books for name in book.vars})
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        names = ", ".join(n if n.isidentifier() else repr(n[:80]) for n in unknown)
        hint = did_you_mean(unknown[0], declared) if len(unknown) == 1 else ""
        raise PlaybookError(f"-e {names}: no fixing playbook has this var{hint} "
                            f"(their vars: {', '.join(declared) or 'none'})")


def merge_fixes(fixes: Mapping[str, Sequence[pb.Playbook]]) -> list[pb.Playbook]:
    """One playbook per group of containers that need the same fixes.

    Args:
        fixes: container name -> the playbooks that fix it, in the order they apply.

    Returns:
        The merged playbooks, each selecting only its containers by exact name (name order).

    Raises:
        PlaybookError: two fixes of one container set one field to different values (one line
            naming both playbooks and the field), two fixes declare one var with different
            defaults, or a fix is time-boxed (``revert_after``: apply it alone).
    """
    groups: dict[tuple[str, ...], list[str]] = {}
    books: dict[str, pb.Playbook] = {}
    for container in sorted(fixes):
        chosen = _unique(fixes[container])
        if not chosen:
            continue
        for book in chosen:
            books[book.name] = book
        groups.setdefault(tuple(b.name for b in chosen), []).append(container)
    return [_merged([books[n] for n in names], containers) for names, containers in groups.items()]


def _unique(books: Iterable[pb.Playbook]) -> list[pb.Playbook]:
    seen: dict[str, pb.Playbook] = {}
    for book in books:
        seen.setdefault(book.name, book)
    return list(seen.values())


def _fields(change: Any) -> list[tuple[str, Any]]:
    """(field, value) pairs one change sets, for the conflict check."""
    if isinstance(change, pb.EnvChange):
        return [(f"env {k}", v) for k, v in change.env.items()]
    if isinstance(change, pb.ArgsChange):
        return ([(f"flag {k}", v) for k, v in change.args.set.items()]
                + [(f"flag {k}", None) for k in change.args.remove])
    if isinstance(change, pb.NetworkChange):
        return [("network", change.network)]
    if isinstance(change, pb.PlatformChange):
        return [("platform", change.platform)]
    if isinstance(change, pb.MountChange):
        return [(f"mount {change.mount.target}", change.mount.model_dump())]
    if isinstance(change, pb.PortsChange):
        # A template is compared as written (its port is known only once rendered).
        wanted: dict[str, list[str]] = {}
        for item in change.ports.publish:
            key = item if "{" in item else "{2}/{3}".format(*pb.parse_publish(item))
            wanted.setdefault(f"port {key}", []).append(item)
        gone = [f"port {p if '{' in str(p) else pb.port_key(p)}" for p in change.ports.unpublish]
        return [*wanted.items(), *((key, None) for key in gone)]
    if isinstance(change, pb.TmpfsChange):
        return [(f"tmpfs {change.tmpfs.target}", change.tmpfs.model_dump())]
    if isinstance(change, pb.IpcChange):
        return [("ipc", change.ipc)]
    if isinstance(change, pb.ShmSizeChange):
        size = change.shm_size
        return [("shm_size", size if "{" in str(size) else host_options.parse_size(size))]
    if isinstance(change, pb.GpusChange):
        return [("gpus", change.model_dump()["gpus"])]
    if isinstance(change, pb.RestartChange):
        return [("restart", change.model_dump()["restart"])]
    if isinstance(change, pb.ResourcesChange):
        return [(f"resources {k}", v if v is None or "{" in str(v) else host_options.parse_resource(k, v))
                for k, v in change.resources.values().items()]
    return [(f"file {change.file.dest}", change.file.model_dump())]


def _without(change: Any, done: set[str]) -> Any:
    """``change`` without the fields an earlier fix already sets to the same value (None: nothing left)."""
    if isinstance(change, pb.EnvChange):
        env = {k: v for k, v in change.env.items() if f"env {k}" not in done}
        return pb.EnvChange(env=env) if env else None
    if isinstance(change, pb.ArgsChange):
        edit = pb.ArgsEdit(set={k: v for k, v in change.args.set.items() if f"flag {k}" not in done},
                           remove=[k for k in change.args.remove if f"flag {k}" not in done])
        return pb.ArgsChange(args=edit) if edit.set or edit.remove else None
    if isinstance(change, pb.ResourcesChange):
        kept = {k: v for k, v in change.resources.values().items() if f"resources {k}" not in done}
        return pb.ResourcesChange.model_validate({"resources": kept}) if kept else None
    return None if _fields(change)[0][0] in done else change


def _changes(container: str, books: Sequence[pb.Playbook]) -> list[tuple[Any, str]]:
    """The fixes' changes in order, each with the fix it comes from, each field set once; a field
    two fixes set differently is refused."""
    owner: dict[str, tuple[str, Any]] = {}
    changes: list[tuple[Any, str]] = []
    for book in books:
        if book.revert_after is not None:
            raise PlaybookError(f"{book.name} is time-boxed (revert_after): apply it on its own")
        for change in book.changes:
            done: set[str] = set()
            for field, value in _fields(change):
                first, seen = owner.setdefault(field, (book.name, value))
                if first == book.name:
                    continue
                if seen != value:
                    raise PlaybookError(f"{container}: {first} and {book.name} both set {field}, "
                                        f"to different values: apply one of them alone", field=field)
                done.add(field)
            kept = _without(change, done) if done else change
            if kept is not None:
                changes.append((kept, book.name))
    return changes


def _merged(books: Sequence[pb.Playbook], containers: Sequence[str]) -> pb.Playbook:
    changes = _changes(containers[0], books)
    vars: dict[str, Any] = {}
    declared_by: dict[str, str] = {}
    for book in books:
        for name, default in book.vars.items():
            if declared_by.setdefault(name, book.name) != book.name and vars[name] != default:
                raise PlaybookError(f"{declared_by[name]} and {book.name} both declare var {name}, "
                                    f"with different defaults: apply one of them alone", field=name)
            vars.setdefault(name, default)
    verify: list[Any] = []
    for check in (v for b in books for v in b.verify):
        if check not in verify:
            verify.append(check)
    afters = [b.after.strip() for b in books if b.after]
    names = ", ".join(b.name for b in books)
    merged = pb.Playbook.model_validate({
        "name": MERGED_NAME,
        "description": f"the fixes diagnose found for {', '.join(containers)}: {names}",
        "safety": "confirm" if any(b.safety == "confirm" for b in books) else "auto",
        "vars": vars,
        "select": [{"name": _exact(c)} for c in containers],
        "changes": [change for change, _ in changes],
        "verify": verify,
        "require": [r for b in books for r in b.require],
        "after": "\n".join(afters) or None,
    })
    return merged.with_change_fixes([fix for _, fix in changes])


def _exact(name: str) -> str:
    """A glob that matches only ``name`` (its ``*?[`` escaped)."""
    return "".join(f"[{ch}]" if ch in "*?[" else ch for ch in name)

