"""The change of a plan expressed as an edit of the compose service that owns the container (pure).

The compose file is the source of truth of a compose container: a fix that is not in it is lost
on the next ``docker compose up --force-recreate``. :func:`edit_service` applies the difference
between the container's spec before and after to ``services.<name>`` with a ruamel.yaml
round-trip, so comments, key order, quoting and ``${VAR}`` references elsewhere survive; a file
that would not come back byte for byte from the round-trip is refused rather than reformatted.

Covered: ``environment`` (list and map forms), ``command`` (list or string form), ``network_mode``,
``platform``, ``volumes`` (short and long syntax, new bind mounts, removed mounts), ``ports`` (short and long syntax:
the entries of each changed container port are replaced). A value to change that comes
from ``${VAR}`` interpolation or an ``env_file:`` is refused (:class:`ComposeEditRefused`),
naming the file and line: the fix would have to go where the user keeps that value.
"""

from __future__ import annotations

import io
import shlex
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from remediate.core.fields import norm_ports, split_bind
from remediate.core.spec import ContainerSpec
from remediate.errors import PlanError


class ComposeEditRefused(PlanError):
    """The change cannot be expressed safely in the compose file (the message says where and why)."""


def edit_service(text: str, service: str, before: ContainerSpec, after: ContainerSpec, *, path: str) -> str | None:
    """``text`` (a compose file) with ``services.<service>`` changed as ``before`` -> ``after`` is;
    ``None`` when the file does not define the service.

    Raises:
        ComposeEditRefused: the file does not parse, would not survive a round-trip unchanged, or a
            value to change comes from ``${VAR}`` or an ``env_file:``.
    """
    yaml, doc = _load(text, path)
    services = doc.get("services") if isinstance(doc, CommentedMap) else None
    svc = services.get(service) if isinstance(services, CommentedMap) else None
    if not isinstance(svc, CommentedMap):
        return None
    where = f"{path}: services.{service}"
    _edit_env(svc, before.env, after.env, path)
    if before.args != after.args:
        _edit_command(svc, after.args, path)
    if before.network_mode != after.network_mode:
        svc["network_mode"] = after.network_mode
    if before.platform != after.platform and after.platform:
        svc["platform"] = after.platform
    gone = sorted(_mount_targets(before) - _mount_targets(after))
    _remove_volumes(svc, gone, path, where)
    _edit_volumes(svc, [b for b in before.host_config.get("Binds") or [] if split_bind(b)[1] not in gone],
                  after.host_config.get("Binds") or [], where)
    _edit_ports(svc, before.host_config.get("PortBindings") or {}, after.host_config.get("PortBindings") or {},
                path, where)
    out = io.StringIO()
    yaml.dump(doc, out)
    return out.getvalue()


#: (mapping, sequence, offset) indents tried, most common first: the first that round-trips is used.
_LAYOUTS = [(m, s, o) for m in (2, 4, 3) for s in (m + 2, m, 2, 4) for o in (s - 2, 0, 2) if 0 <= o < s]


def _load(text: str, path: str) -> tuple[YAML, Any]:
    for mapping, sequence, offset in dict.fromkeys(_LAYOUTS):
        yaml = YAML()
        yaml.preserve_quotes = True
        yaml.width = 1 << 16  # never re-wrap a long line
        yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
        try:
            doc = yaml.load(text)
            again = io.StringIO()
            yaml.dump(doc, again)
        except YAMLError as exc:
            raise ComposeEditRefused(f"{path}: not a compose file ruamel.yaml can edit: "
                                     f"{str(exc).splitlines()[0]}") from exc
        if again.getvalue() == text:
            return yaml, doc
    raise ComposeEditRefused(f"{path}: its layout would not survive an edit unchanged; edit it by hand")


def _line(node: Any, key: Any) -> int:
    """1-based line of ``key`` in a mapping, or of item ``key`` in a sequence."""
    try:
        return int(node.lc.key(key)[0] if isinstance(node, CommentedMap) else node.lc.item(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return 0


def _refuse_interpolated(value: Any, what: str, path: str, node: Any, key: Any) -> None:
    shown = next((str(v) for v in value if "$" in str(v)), "") if isinstance(value, CommentedSeq) else str(value)
    if "$" in shown:
        raise ComposeEditRefused(f"{path}:{_line(node, key)}: {what} comes from ${{VAR}} interpolation "
                                 f"({shown}); change it where the variable is set, or use --container-only")


def _edit_env(svc: CommentedMap, before: Mapping[str, str | None], after: Mapping[str, str | None],
              path: str) -> None:
    changed = {k: after.get(k) for k in {*before, *after} if before.get(k) != after.get(k) or (k in before) != (k in after)}
    if not changed:
        return
    env = svc.get("environment")
    for key in sorted(changed, key=lambda k: list(after).index(k) if k in after else len(after)):
        value = changed[key] if key in after else None
        if isinstance(env, CommentedSeq):
            index = next((i for i, item in enumerate(env) if str(item).split("=", 1)[0] == key), None)
            if index is not None:
                _refuse_interpolated(env[index], f"{key} in environment", path, env, index)
                if key in after:
                    env[index] = f"{key}={value}" if value is not None else key
                else:
                    del env[index]
                continue
        elif isinstance(env, CommentedMap) and key in env:
            _refuse_interpolated(env[key], f"{key} in environment", path, env, key)
            if key in after:
                env[key] = value
            else:
                del env[key]
            continue
        if key in before and svc.get("env_file"):
            raise ComposeEditRefused(f"{path}:{_line(svc, 'env_file')}: {key} comes from env_file "
                                     f"{svc['env_file']}; change it there, or use --container-only")
        if key not in after:
            continue  # the image's default: nothing in the compose file to remove
        if env is None:
            env = svc["environment"] = CommentedMap()
        if isinstance(env, CommentedSeq):
            env.append(f"{key}={value}" if value is not None else key)
        else:
            env[key] = value


def _edit_command(svc: CommentedMap, args: list[str], path: str) -> None:
    current = svc.get("command")
    _refuse_interpolated(current, "command", path, svc, "command")
    if isinstance(current, str):
        svc["command"] = shlex.join(args)
    elif isinstance(current, CommentedSeq):
        # In place: the list keeps its flow or block style and comments, unchanged items their
        # quoting, and new items are quoted as its first item is.
        style = type(current[0]) if current and isinstance(current[0], ScalarString) else str
        kept = [old if old == new else style(new) for old, new in zip(current, args)]
        current[:] = kept + [style(a) for a in args[len(kept):]]
    else:
        svc["command"] = CommentedSeq(args)


def _edit_volumes(svc: CommentedMap, before: list[str], after: list[str], where: str) -> None:
    added = [b for b in after if b not in before]
    removed = [b for b in before if b not in after]
    if removed:
        raise ComposeEditRefused(f"{where}: removing or replacing the mount {removed[0]} is not supported "
                                 "in a compose edit; use --container-only")
    if not added:
        return
    volumes = svc.get("volumes")
    if volumes is None:
        volumes = svc["volumes"] = CommentedSeq()
    long_form = any(isinstance(v, Mapping) for v in volumes)
    for bind in added:
        source, target, *opts = bind.split(":")
        if long_form:
            entry = CommentedMap([("type", "bind"), ("source", source), ("target", target)])
            if "ro" in ",".join(opts).split(","):
                entry["read_only"] = True
            volumes.append(entry)
        else:
            volumes.append(bind)


def _edit_ports(svc: CommentedMap, before: Mapping[str, Any], after: Mapping[str, Any], path: str,
                where: str) -> None:
    """Replace the ``ports:`` entries of each container port whose bindings changed."""
    old, new = norm_ports(before), norm_ports(after)
    changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    if not changed:
        return
    ports = svc.get("ports")
    if ports is None:
        ports = svc["ports"] = CommentedSeq()
    if not isinstance(ports, CommentedSeq):
        raise ComposeEditRefused(f"{where}.ports is not a list; edit it by hand, or use --container-only")
    long_form = any(isinstance(p, Mapping) for p in ports)
    quoted = next((type(p) for p in ports if isinstance(p, ScalarString)), DoubleQuotedScalarString)
    for key in changed:
        port, proto = key.split("/")
        for index in reversed(range(len(ports))):
            if _publishes(ports[index], int(port), proto, path, ports, index):
                del ports[index]
        for binding in after.get(key) or []:
            ip, host_port = str(binding.get("HostIp") or ""), str(binding.get("HostPort") or "")
            if long_form:
                entry = CommentedMap([("target", int(port))])
                if host_port:
                    entry["published"] = host_port
                if ip:
                    entry["host_ip"] = ip
                entry["protocol"] = proto
                ports.append(entry)
            else:
                shown_ip = f"[{ip}]" if ":" in ip else ip
                text = f"{shown_ip}:{host_port}:{port}" if ip else (f"{host_port}:{port}" if host_port else port)
                ports.append(quoted(text + ("" if proto == "tcp" else f"/{proto}")))


def _publishes(entry: Any, port: int, proto: str, path: str, node: CommentedSeq, index: int) -> bool:
    """True when a ``ports:`` entry publishes container port ``port/proto``; one that cannot be
    told (``${VAR}``, a range holding it) is refused."""
    if isinstance(entry, Mapping):
        target, entry_proto = str(entry.get("target", "")), str(entry.get("protocol") or "tcp")
    else:
        text, _, entry_proto = str(entry).partition("/")
        target, entry_proto = text.rsplit(":", 1)[-1], entry_proto or "tcp"
    if "$" in f"{target}{entry_proto}":
        _refuse_interpolated(str(entry), "a published port", path, node, index)
    if entry_proto != proto:
        return False
    if "-" in target:
        low, _, high = target.partition("-")
        if low.isdigit() and high.isdigit() and int(low) <= port <= int(high):
            raise ComposeEditRefused(f"{path}:{_line(node, index)}: port {port}/{proto} is in the range "
                                     f"{entry}; edit it by hand, or use --container-only")
        return False
    if not (target.isdigit() and int(target) == port):
        return False
    _refuse_interpolated(str(dict(entry)) if isinstance(entry, Mapping) else str(entry), "a published port",
                         path, node, index)
    return True


def _mount_targets(spec: ContainerSpec) -> set[str]:
    binds = {split_bind(b)[1] for b in spec.host_config.get("Binds") or []}
    return binds | {str(m.get("Target")) for m in spec.host_config.get("Mounts") or []}


def _remove_volumes(svc: CommentedMap, targets: list[str], path: str, where: str) -> None:
    """Drop the ``volumes:`` entries (short or long syntax) mounted at ``targets``."""
    if not targets:
        return
    volumes = svc.get("volumes")
    if not isinstance(volumes, CommentedSeq):
        raise ComposeEditRefused(f"{where}: the mount at {targets[0]} is not in its volumes list; "
                                 "edit it by hand, or use --container-only")
    for target in targets:
        found = [i for i, v in enumerate(volumes)
                 if (str(v.get("target")) if isinstance(v, Mapping) else split_bind(str(v))[1]) == target]
        if not found:
            raise ComposeEditRefused(f"{where}: no volumes entry mounts {target} (it may come from ${{VAR}}); "
                                     "edit it by hand, or use --container-only")
        for index in reversed(found):
            _refuse_interpolated(str(dict(volumes[index])) if isinstance(volumes[index], Mapping)
                                 else str(volumes[index]), f"the mount at {target}", path, volumes, index)
            del volumes[index]
    if not volumes:
        del svc["volumes"]
