"""The change of a plan expressed as an edit of the compose service that owns the container (pure).

The compose files are the source of truth of a compose container: a fix that is not in them is
lost on the next ``docker compose up --force-recreate``. :func:`edit_project` applies the
difference between the container's spec before and after to ``services.<name>`` of the project's
files, each through :class:`~remediate.core.compose_layout.Layout` (only the changed lines of a
file change; CRLF, comments, quoting, flow style and anchors stay).

Where a value goes: into the last of the ``-f`` files that sets it (compose's own merge order),
else into the last file that defines the service. A value the service takes from an anchor
(``<<: *x``, ``environment: *env``) that other services use too is overridden in the service
itself (``environment: {<<: *env, KEY: new}``), so no other service changes. Host networking
drops the service's ``networks:`` (compose refuses both), ``links`` and ``mac_address``. Entries of
a list that compose merges across files (``ports``, ``volumes``) are removed from every file that
lists them for the service (``tmpfs`` too); new ones go where that list is set last.

Refused (:class:`ComposeEditRefused`, naming the file and line and what to do): a value to change
that comes from ``${VAR}`` interpolation, removing a variable an ``env_file:`` sets, replacing a
mount, removing one that no ``volumes:`` entry names, a changed port inside a published port range,
``networks:`` that an anchor gives the service, a new ``image:`` for a service that builds its
image (``build:``), and GPUs (``gpus:`` or ``deploy.resources.reservations.devices``) that an
anchor gives it. A value that came from an
``env_file:`` or the shell / ``.env`` and is now set in ``environment:`` is said in a note.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.mergevalue import MergeValue
from ruamel.yaml.scalarstring import DoubleQuotedScalarString, ScalarString

from remediate.core import host_options
from remediate.core.compose_layout import Layout, LayoutError
from remediate.core.fields import HOST, bound_targets, norm_ports, split_bind
from remediate.core.gpus import gpu_requests, is_gpu_request
from remediate.core.spec import ContainerSpec
from remediate.errors import PlanError


class ComposeEditRefused(PlanError):
    """The change cannot be expressed safely in the compose files (the message says where and why)."""


@dataclass(frozen=True)
class ComposeEdit:
    """The edited compose files and what the edit did besides the change itself.

    Attributes:
        texts: path -> new text, for the files that change (in ``-f`` order).
        notes: one line each: keys dropped, values that override an env_file or the shell.
    """

    texts: dict[str, str]
    notes: tuple[str, ...]


@dataclass
class _Service:
    file: Layout
    node: CommentedMap
    v1: bool = False  #: read by Compose v1, which validates fewer spellings of "not set"

    def line(self, key: str) -> str:
        return f"{self.file.path}:{_line(self.node, key)}"


#: How Compose v2 says a key is not set where the service would otherwise merge it in (``<<``):
#: each loads (and hashes, so ``up`` leaves the service alone) as the absent key does. Checked
#: key by key with ``config --hash`` on Compose 2.26; v1 validates only the empty environment.
_UNSET: dict[str, Callable[[], Any]] = {
    **dict.fromkeys(("command", "entrypoint"), lambda: None),
    **dict.fromkeys(("environment", "labels", "sysctls", "ulimits"), CommentedMap),
    **dict.fromkeys(("volumes", "ports", "extra_hosts", "dns", "dns_search", "cap_add", "devices", "tmpfs",
                     "security_opt", "group_add", "env_file", "gpus"), CommentedSeq),
    **dict.fromkeys(("user", "working_dir", "platform", "ipc", "runtime", "restart", "stop_signal", "hostname",
                     "mac_address", "userns_mode", "pid"), str),
    **dict.fromkeys(("shm_size", "mem_limit", "cpus", "pids_limit", "mem_reservation", "memswap_limit",
                     "cpu_shares"), int),
    **dict.fromkeys(("privileged", "read_only"), bool),
}

#: Compose keys the engine refuses beside ``network_mode: host`` / ``none`` (and also beside ``container:``).
_NETNS_KEYS = ("networks", "links", "mac_address")
_CONTAINER_NETNS_KEYS = (*_NETNS_KEYS, "hostname", "domainname", "dns", "dns_search", "dns_opt", "extra_hosts",
                         "ports", "expose")


def edit_project(files: Sequence[tuple[str, str]], service: str, before: ContainerSpec,
                 after: ContainerSpec, *, v1: bool = False) -> ComposeEdit | None:
    """The project's compose files (``(path, text)`` in ``-f`` order) with ``service`` changed as
    ``before`` -> ``after`` is; ``None`` when no file defines the service. ``v1``: the project
    is Compose v1's (``docker-compose`` 1.x), which accepts fewer spellings.

    Raises:
        ComposeEditRefused: a file does not parse, a value to change comes from ``${VAR}``, or the
            edit cannot be carried into a file's layout (the message names file, line and remedy).
    """
    layouts = [_layout(text, path) for path, text in files]
    found = [_Service(f, svc, v1) for f in layouts for svc in [_service(f.doc, service)] if svc is not None]
    if not found:
        return None
    notes: list[str] = []
    _edit_env(found, before.env, after.env, notes)
    if before.args != after.args:
        _edit_command(found, after.args, notes)
    if before.network_mode != after.network_mode and after.network_mode:
        _edit_network(found, service, after.network_mode, notes)
    if before.platform != after.platform and after.platform:
        _set(_last(found, "platform"), "platform", after.platform, notes)
    if before.image != after.image:
        _edit_image(found, service, after.image, notes)
    gone = sorted(bound_targets(before.host_config) - bound_targets(after.host_config))
    _remove_volumes(found, gone, service, notes)
    _edit_volumes(found, [b for b in before.host_config.get("Binds") or [] if split_bind(b)[1] not in gone],
                  after.host_config.get("Binds") or [], service, notes)
    _edit_ports(found, before.host_config.get("PortBindings") or {}, after.host_config.get("PortBindings") or {},
                notes)
    _edit_tmpfs(found, before.host_config.get("Tmpfs") or {}, after.host_config.get("Tmpfs") or {}, notes)
    for key, compose_key, shown in (("IpcMode", "ipc", str), ("ShmSize", "shm_size", host_options.size_text)):
        value = after.host_config.get(key)
        if value and value != before.host_config.get(key):
            _set_value(found, compose_key, shown(value), notes)
    _edit_gpus(found, gpu_requests(before), gpu_requests(after), service, notes)
    _edit_limits(found, before.host_config, after.host_config, service, notes)
    texts: dict[str, str] = {}
    for f in layouts:
        try:
            text = f.text()
        except LayoutError as exc:
            raise ComposeEditRefused(exc.message) from exc
        if text != f.original:
            texts[f.path] = text
    return ComposeEdit(texts, tuple(notes))


def _layout(text: str, path: str) -> Layout:
    try:
        return Layout(text, path)
    except LayoutError as exc:
        raise ComposeEditRefused(exc.message) from exc


def _service(doc: Any, name: str) -> CommentedMap | None:
    services = doc.get("services") if isinstance(doc, CommentedMap) else None
    svc = services.get(name) if isinstance(services, CommentedMap) else None
    return svc if isinstance(svc, CommentedMap) else None


def _line(node: Any, key: Any) -> int:
    """1-based line of ``key`` in a mapping, or of item ``key`` in a sequence (0 when unknown)."""
    try:
        return int(node.lc.key(key)[0] if isinstance(node, CommentedMap) else node.lc.item(key)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return 0


def _last(found: list[_Service], key: str) -> _Service:
    """Where ``key`` of the service is set last (compose's merge order), else its last definition."""
    return next((s for s in reversed(found) if key in s.node), found[-1])


def _users(doc: Any, key: str, node: Any) -> int:
    """How many services of the document have ``node`` as their ``key`` (through an alias or ``<<``)."""
    services = doc.get("services") if isinstance(doc, CommentedMap) else None
    if not isinstance(services, CommentedMap):
        return 0
    return sum(1 for svc in services.values() if isinstance(svc, CommentedMap) and svc.get(key) is node)


def _own(s: _Service, key: str, *, merge: bool = True) -> Any:
    """The service's ``key`` as a node only this service uses. One that other services share (an
    anchor, or a key merged in with ``<<``) is overridden in the service first — with a
    ``<<: *anchor`` map when ``merge`` and the anchor allows, else a copy; one that only this
    service uses is edited where it is written, the anchor's owner too."""
    node = s.node.get(key)
    if not isinstance(node, (CommentedMap, CommentedSeq)) or _users(s.file.doc, key, node) <= 1:
        return node
    s.file.touch()
    anchor = node.anchor.value if isinstance(node, CommentedMap) else None
    local: CommentedMap | CommentedSeq
    if merge and anchor:
        local = CommentedMap()
        value = MergeValue()
        value.merge_pos = 0
        value.append(node)
        local.add_yaml_merge(value)
    else:
        local = copy.deepcopy(node)
        local.anchor.value = None  # the copy is the service's own: no second anchor of that name
    s.node[key] = local
    return local


def _set(s: _Service, key: str, value: Any, notes: list[str]) -> None:
    _shield(s, key, notes)
    s.file.touch()
    s.node[key] = value


def _shield(s: _Service, key: str, notes: list[str]) -> None:
    """Before ``key`` of the service changes: services that merge this service's own mapping
    (``other: {<<: *this}``) and take ``key`` from it get their own copy of today's value, so
    they stay as they are. An absent key is spelled as Compose's "not set" (:data:`_UNSET`);
    a key without such a spelling cannot be kept absent there: refused."""
    services = s.file.doc.get("services")
    for name, other in services.items():
        if other is s.node or not isinstance(other, CommentedMap) or key in dict(other.non_merged_items()):
            continue
        if not any(m is s.node for m in getattr(other, "merge", None) or []):
            continue
        if key in s.node:
            pinned = copy.deepcopy(s.node[key])
            if isinstance(pinned, (CommentedMap, CommentedSeq)):
                pinned.anchor.value = None
            said = f"its own {key} (as it was)"
        elif key in _UNSET and (key == "environment" or not s.v1):
            pinned = _UNSET[key]()
            said = f"{key} not set (as it was)"
        else:
            raise ComposeEditRefused(f"{s.file.path}:{_line(services, name)}: services.{name} takes its settings "
                                     f"from this service (<<), so adding {key} here would add it there too, and "
                                     f"{'Compose v1' if s.v1 else 'Compose'} has no way to say it is not set; "
                                     f"give {name} its own settings, or use --container-only")
        s.file.touch()
        other[key] = pinned
        notes.append(f"compose: {name} takes its settings from this service (<<); it now has {said}, so the fix "
                     "stays on this service")


def _refuse_interpolated(value: Any, what: str, where: str) -> None:
    shown = next((str(v) for v in value if "$" in str(v)), "") if isinstance(value, CommentedSeq) else str(value)
    if "$" in shown:
        raise ComposeEditRefused(f"{where}: {what} comes from ${{VAR}} interpolation ({shown}); change it where "
                                 "the variable is set, or use --container-only")


def _env_items(env: Any) -> dict[str, Any]:
    """``environment`` (list or map form) as name -> value (``None``: taken from the shell / .env)."""
    if isinstance(env, Mapping):
        return {str(k): v for k, v in env.items()}
    if isinstance(env, list):
        return {str(i).split("=", 1)[0]: (str(i).split("=", 1)[1] if "=" in str(i) else None) for i in env}
    return {}


def _edit_env(found: list[_Service], before: Mapping[str, str | None], after: Mapping[str, str | None],
              notes: list[str]) -> None:
    changed = [k for k in after if before.get(k) != after.get(k) or k not in before]
    changed += [k for k in before if k not in after]
    env_file = next((s for s in reversed(found) if s.node.get("env_file")), None)
    for key in changed:
        holder = next((s for s in reversed(found) if key in _env_items(s.node.get("environment"))), None)
        if holder is not None:
            current = _env_items(holder.node["environment"])[key]
            env_node = holder.node["environment"]
            at = next((i for i, item in enumerate(env_node) if str(item).split("=", 1)[0] == key), 0) \
                if isinstance(env_node, CommentedSeq) else key
            where = f"{holder.file.path}:{_line(env_node, at)}"
            _refuse_interpolated(current, f"{key} in environment", where)
            if current is None and key in after:
                notes.append(f"compose: {key} was taken from the shell or .env ({where}); {holder.file.path} "
                             "now sets it in environment")
            _shield(holder, "environment", notes)
            env = _own(holder, "environment", merge=key in after)
        elif key not in after:
            if env_file is not None:
                raise ComposeEditRefused(f"{env_file.line('env_file')}: {key} comes from env_file "
                                         f"{env_file.node['env_file']}; remove it there, or use --container-only")
            continue  # the image's default: nothing in the compose files to remove
        else:
            holder = _last(found, "environment")
            if env_file is not None and key in before:
                notes.append(f"compose: {key} came from env_file {env_file.node['env_file']} "
                             f"({env_file.line('env_file')}); environment in {holder.file.path} now overrides it")
            _shield(holder, "environment", notes)
            env = _own(holder, "environment")
            if env is None:
                holder.file.touch()
                env = holder.node["environment"] = CommentedMap()
        holder.file.touch()
        value = after.get(key)
        if isinstance(env, CommentedSeq):
            index = next((i for i, item in enumerate(env) if str(item).split("=", 1)[0] == key), None)
            item = f"{key}={value}" if value is not None else key
            if key not in after:
                del env[index]
                _drop_if_emptied(holder, env)
            elif index is None:
                env.append(item)
            else:
                env[index] = item
        elif key in after:
            env[key] = value
        else:
            del env[key]
            _drop_if_emptied(holder, env)


def _drop_if_emptied(s: _Service, env: CommentedMap | CommentedSeq) -> None:
    """An ``environment`` the edit emptied goes (compose reads an empty one and none alike; so a
    variable's removal undoes its addition to a service that had none), unless others use it
    (an anchor) or it keeps a merged-in one (``<<``) away."""
    if len(env) or env.anchor.value or getattr(env, "merge", None) or s.node.get("environment") is not env:
        return
    if "environment" in dict(s.node.non_merged_items()) and not any(
            "environment" in m for m in getattr(s.node, "merge", None) or []):
        del s.node["environment"]


def _edit_command(found: list[_Service], args: list[str], notes: list[str]) -> None:
    holder = _last(found, "command")
    current = holder.node.get("command")
    _refuse_interpolated(current, "command", holder.line("command"))
    _shield(holder, "command", notes)
    holder.file.touch()
    if isinstance(current, str):
        old = shlex.split(current)
        if args[:len(old)] == old and len(args) > len(old):
            # Appended arguments keep the string's own style (plain, quoted, folded).
            body = current.rstrip("\n")
            text = f"{body} {shlex.join(args[len(old):])}{current[len(body):]}"
            holder.node["command"] = type(current)(text) if isinstance(current, ScalarString) else text
        else:
            holder.node["command"] = shlex.join(args)
        return
    if not isinstance(current, CommentedSeq):
        holder.node["command"] = CommentedSeq(args)
        return
    seq = _own(holder, "command")
    # Item by item: the list keeps its flow or block style, its comments (commented-out
    # arguments too), unchanged items their quoting; new items are quoted as its first item is.
    style = type(seq[0]) if seq and isinstance(seq[0], ScalarString) else str
    for i, arg in enumerate(args[:len(seq)]):
        if seq[i] != arg:
            seq[i] = style(arg)
    for arg in args[len(seq):]:
        seq.append(style(arg))
    while len(seq) > len(args):
        del seq[len(seq) - 1]


def _edit_image(found: list[_Service], service: str, image: str, notes: list[str]) -> None:
    """``image:`` of the service, where compose takes it from (the last file that sets it)."""
    builds = next((s for s in reversed(found) if "build" in s.node), None)
    if builds is not None:
        raise ComposeEditRefused(f"{builds.line('build')}: services.{service} builds its image (build:), so compose "
                                 f"would build {image} rather than run the image pulled; change the build, or use "
                                 "--container-only")
    holder = _last(found, "image")
    current = holder.node.get("image")
    if current is not None:
        _refuse_interpolated(current, "image", holder.line("image"))
    # The value keeps its quoting ("image: 'repo:tag'" stays quoted).
    _set(holder, "image", type(current)(image) if isinstance(current, ScalarString) else image, notes)


def _edit_network(found: list[_Service], service: str, mode: str, notes: list[str]) -> None:
    _set(_last(found, "network_mode"), "network_mode", mode, notes)
    if mode not in ("host", "none") and not mode.startswith(("container:", "service:")):
        return
    keys = _CONTAINER_NETNS_KEYS if mode.startswith(("container:", "service:")) else _NETNS_KEYS
    for s in found:
        for key in keys:
            if key not in s.node:
                continue
            where = s.line(key)
            if key not in dict(s.node.non_merged_items()):
                raise ComposeEditRefused(f"{s.file.path}: services.{service} gets {key} from a merged anchor "
                                         f"(<<), which network_mode {mode} cannot have; move {key} out of the "
                                         "anchor into the services that need it, or use --container-only")
            _shield(s, key, notes)
            s.file.touch()
            del s.node[key]
            notes.append(f"compose: {key} of {service} dropped ({where}): network_mode {mode} cannot have it")


def _edit_volumes(found: list[_Service], before: list[str], after: list[str], service: str,
                  notes: list[str]) -> None:
    added = [b for b in after if b not in before]
    removed = [b for b in before if b not in after]
    holder = _last(found, "volumes")
    if removed:
        raise ComposeEditRefused(f"{holder.file.path}: services.{service}: removing or replacing the mount "
                                 f"{removed[0]} is not supported in a compose edit; use --container-only")
    if not added:
        return
    _shield(holder, "volumes", notes)
    holder.file.touch()
    volumes = _own(holder, "volumes")
    if volumes is None:
        volumes = holder.node["volumes"] = CommentedSeq()
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


def _entries(s: _Service, key: str, notes: list[str]) -> CommentedSeq:
    """The service's own ``key`` list in one file, to edit (created empty when absent).

    Raises:
        ComposeEditRefused: ``key`` is not a list there.
    """
    if key in s.node and not isinstance(s.node[key], CommentedSeq):
        raise ComposeEditRefused(f"{s.line(key)}: {key} is not a list; edit it by hand, or use --container-only")
    _shield(s, key, notes)
    s.file.touch()
    seq = _own(s, key, merge=False)
    if seq is None:
        seq = s.node[key] = CommentedSeq()
    assert isinstance(seq, CommentedSeq)
    return seq


def _drop(s: _Service, key: str, match: Callable[[CommentedSeq, int, str], bool], notes: list[str], *,
          keep: bool = False) -> bool:
    """Remove the entries of the service's ``key`` list in one file for which ``match(seq, index,
    path)`` holds (a list left empty goes, when it is the service's own and not ``keep``); whether
    any was removed."""
    seq = s.node.get(key)
    if not isinstance(seq, CommentedSeq):
        return False
    hits = [i for i in range(len(seq)) if match(seq, i, s.file.path)]
    if not hits:
        return False
    seq = _entries(s, key, notes)
    for index in reversed(hits):
        del seq[index]
    if not seq and not keep and key in dict(s.node.non_merged_items()):
        del s.node[key]
    return True


def _remove_volumes(found: list[_Service], targets: list[str], service: str, notes: list[str]) -> None:
    """Drop the ``volumes:`` entries (short or long syntax) mounted at ``targets``, in every file
    that lists them for the service (compose merges the lists by target)."""
    for target in targets:
        def mounts(seq: CommentedSeq, index: int, path: str, target: str = target) -> bool:
            entry = seq[index]
            text = str(dict(entry)) if isinstance(entry, Mapping) else str(entry)
            at = str(entry.get("target")) if isinstance(entry, Mapping) else split_bind(text)[1]
            if "$" in text and ("$" in at or at == target):
                _refuse_interpolated(text, f"the mount at {target}", f"{path}:{_line(seq, index)}")
            return at == target
        removed = False
        for s in found:
            removed = _drop(s, "volumes", mounts, notes) or removed
        if not removed:
            raise ComposeEditRefused(f"{_last(found, 'volumes').file.path}: services.{service}: no volumes entry "
                                     f"mounts {target}; remove it where it is set, or use --container-only")


def _edit_ports(found: list[_Service], before: Mapping[str, Any], after: Mapping[str, Any],
                notes: list[str]) -> None:
    """Replace the ``ports:`` entries of each container port whose bindings changed: removed from
    every file that publishes it for the service, the new ones added where ``ports`` is set last."""
    old, new = norm_ports(before), norm_ports(after)
    changed = sorted(k for k in {*old, *new} if old.get(k) != new.get(k))
    if not changed:
        return
    holder = _last(found, "ports")
    wanted = [(key, binding) for key in changed for binding in (after.get(key) or after.get(key.removesuffix("/tcp"))
                                                                 or [])]
    # New entries are written as the file already writes them (short or long syntax, quoting).
    current = holder.node.get("ports")
    current = current if isinstance(current, CommentedSeq) else []
    long_form = any(isinstance(p, Mapping) for p in current)
    quoted = next((type(p) for p in current if isinstance(p, ScalarString)), DoubleQuotedScalarString)
    for key in changed:
        port, proto = key.split("/")

        def publishes(seq: CommentedSeq, index: int, path: str, port: int = int(port), proto: str = proto) -> bool:
            return _publishes(seq, index, port, proto, path)
        for s in found:
            _drop(s, "ports", publishes, notes, keep=s is holder and bool(wanted))
    if not wanted:
        return
    ports = _entries(holder, "ports", notes)
    for key, binding in wanted:
        port, proto = key.split("/")
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


def _publishes(seq: CommentedSeq, index: int, port: int, proto: str, path: str) -> bool:
    """True when a ``ports:`` entry publishes container port ``port/proto``; one that cannot be
    told (``${VAR}``, a range holding it) is refused."""
    entry, where = seq[index], f"{path}:{_line(seq, index)}"
    if isinstance(entry, Mapping):
        target, entry_proto = str(entry.get("target", "")), str(entry.get("protocol") or "tcp")
        text = str(dict(entry))
    else:
        text = str(entry)
        body, _, entry_proto = text.partition("/")
        target, entry_proto = body.rsplit(":", 1)[-1], entry_proto or "tcp"
    if "$" in f"{target}{entry_proto}":
        _refuse_interpolated(text, "a published port", where)
    if entry_proto != proto:
        return False
    if "-" in target:
        low, _, high = target.partition("-")
        if low.isdigit() and high.isdigit() and int(low) <= port <= int(high):
            raise ComposeEditRefused(f"{where}: port {port}/{proto} is in the range {text}; edit it by hand, or "
                                     "use --container-only")
        return False
    if not (target.isdigit() and int(target) == port):
        return False
    _refuse_interpolated(text, "a published port", where)
    return True


def _set_value(found: list[_Service], key: str, value: str, notes: list[str]) -> None:
    """Set a plain value (``ipc``, ``shm_size``) where compose takes it from."""
    holder = _last(found, key)
    if key in holder.node:
        _refuse_interpolated(holder.node[key], key, holder.line(key))
    _set(holder, key, value, notes)


def _edit_tmpfs(found: list[_Service], before: Mapping[str, Any], after: Mapping[str, Any], notes: list[str]) -> None:
    """Replace the ``tmpfs:`` entries (``/run`` or ``/tmp:size=64m``) of each changed target: removed
    from every file that lists them for the service, the new ones added where ``tmpfs`` is set last."""
    changed = sorted(t for t in {*before, *after} if t not in before or t not in after
                     or not host_options.same_tmpfs_options(str(before[t] or ""), str(after[t] or "")))
    if not changed:
        return
    holder = _last(found, "tmpfs")
    added = [t for t in changed if t in after]
    for s in found:
        single = s.node.get("tmpfs")
        if isinstance(single, str) and (single.split(":", 1)[0] in changed or (s is holder and added)):
            # One entry, made a list (compose reads both), so it can be replaced or added to.
            _refuse_interpolated(single, "tmpfs", s.line("tmpfs"))
            _set(s, "tmpfs", CommentedSeq([single]), notes)
    for target in changed:
        def mounts(seq: CommentedSeq, index: int, path: str, target: str = target) -> bool:
            at = str(seq[index]).split(":", 1)[0]
            if "$" in at or ("$" in str(seq[index]) and at == target):
                _refuse_interpolated(str(seq[index]), f"the tmpfs at {target}", f"{path}:{_line(seq, index)}")
            return at == target
        for s in found:
            _drop(s, "tmpfs", mounts, notes, keep=s is holder and bool(added))
    if added:
        entries = _entries(holder, "tmpfs", notes)
        style = type(entries[0]) if entries and isinstance(entries[0], ScalarString) else str
        for target in added:
            entries.append(style(f"{target}:{after[target]}" if after[target] else target))


def _edit_gpus(found: list[_Service], before: list[dict[str, Any]], after: list[dict[str, Any]], service: str,
               notes: list[str]) -> None:
    """GPU requests as ``deploy.resources.reservations.devices`` entries (what compose turns into
    device requests): the service's ``gpus:`` and GPU entries go, the new request is added to its
    last definition."""
    field = HOST["DeviceRequests"]
    if field.compare_form(before) == field.compare_form(after):
        return
    for s in found:
        if "gpus" in s.node:
            if "gpus" not in dict(s.node.non_merged_items()):
                raise ComposeEditRefused(f"{s.file.path}: services.{service} gets gpus from a merged anchor (<<); "
                                         "move it into the services that need it, or use --container-only")
            s.file.touch()
            notes.append(f"compose: gpus of {service} ({s.line('gpus')}) replaced by deploy.resources.reservations")
            del s.node["gpus"]
        devices = _devices(s, service, create=False)
        if devices is not None:
            kept = [d for d in devices if not (isinstance(d, Mapping) and is_gpu_request(
                {"Capabilities": [list(d.get("capabilities") or [])], "Driver": d.get("driver")}))]
            if len(kept) != len(devices):
                s.file.touch()
                while len(devices):
                    del devices[len(devices) - 1]
                devices.extend(kept)
                _prune(s.node, ("deploy", "resources", "reservations", "devices"))
    if not after:
        return
    devices = _devices(found[-1], service, create=True)
    if devices is None:
        raise ComposeEditRefused(f"{found[-1].file.path}: services.{service}: deploy.resources.reservations.devices "
                                 "is not a list; fix it by hand, or use --container-only")
    found[-1].file.touch()
    for request in after:
        devices.append(_compose_device(request))


def _devices(s: _Service, service: str, *, create: bool) -> CommentedSeq | None:
    """The service's ``deploy.resources.reservations.devices`` list (made when ``create``)."""
    node: Any = s.node
    for key in ("deploy", "resources", "reservations", "devices"):
        if not isinstance(node, CommentedMap):
            return None
        child = node.get(key)
        shared = key == "deploy" and isinstance(child, CommentedMap) and _users(s.file.doc, key, child) > 1
        if shared or (child is not None and key not in dict(node.non_merged_items())):
            raise ComposeEditRefused(f"{s.file.path}: services.{service} gets {key} from an anchor other services "
                                     "share; give it its own, or use --container-only")
        if child is None:
            if not create:
                return None
            child = CommentedSeq() if key == "devices" else CommentedMap()
            s.file.touch()
            node[key] = child
        node = child
    return node if isinstance(node, CommentedSeq) else None


def _prune(node: CommentedMap, keys: tuple[str, ...]) -> None:
    """Drop the mapping or list at ``keys`` under ``node`` when empty, then its parents that the
    drop leaves empty (``deploy: {resources: {reservations: {devices: []}}}`` goes whole)."""
    child = node.get(keys[0]) if keys else None
    if not isinstance(child, (CommentedMap, CommentedSeq)):
        return
    if len(keys) > 1 and isinstance(child, CommentedMap):
        _prune(child, keys[1:])
    if not child:
        del node[keys[0]]


def _compose_device(request: Mapping[str, Any]) -> CommentedMap:
    """One device request as compose writes it (compose reserves every matching device when no
    count is given, so a count is always written unless device ids are)."""
    entry = CommentedMap()
    if request.get("Driver"):
        entry["driver"] = request["Driver"]
    count = int(request.get("Count") or 0)
    if request.get("DeviceIDs"):
        entry["device_ids"] = CommentedSeq(str(i) for i in request["DeviceIDs"])
    else:
        entry["count"] = "all" if count == -1 else count
    entry["capabilities"] = CommentedSeq((request.get("Capabilities") or [["gpu"]])[0])
    if request.get("Options"):
        entry["options"] = CommentedMap(request["Options"])
    return entry


#: ``HostConfig`` keys of the ``restart`` and ``resources`` changes -> the service key compose v2
#: takes each from, and the ``deploy.resources.limits`` key it also reads (None: none).
_LIMITS: dict[str, tuple[str, str | None]] = {
    "RestartPolicy": ("restart", None), "Memory": ("mem_limit", "memory"),
    "MemoryReservation": ("mem_reservation", None), "MemorySwap": ("memswap_limit", None),
    "NanoCpus": ("cpus", "cpus"), "CpuShares": ("cpu_shares", None), "CpuPeriod": ("cpu_period", None),
    "CpuQuota": ("cpu_quota", None), "CpusetCpus": ("cpuset", None), "PidsLimit": ("pids_limit", "pids"),
    "BlkioWeight": ("blkio_config", None),
}


def _limit_value(key: str, value: Any) -> Any:
    """A restart policy or limit as a compose file writes it (``restart: "no"``, ``mem_limit: 8g``)."""
    if key == "RestartPolicy":
        policy = str(value.get("Name") or "no")
        retries = int(value.get("MaximumRetryCount") or 0)
        text = f"{policy}:{retries}" if retries else policy
        return DoubleQuotedScalarString(text) if policy == "no" else text  # a bare no is YAML's false
    if key == "NanoCpus":
        cpus = host_options.cpus_text(int(value))
        return float(cpus) if "." in cpus else int(cpus)
    if key in ("Memory", "MemoryReservation") or (key == "MemorySwap" and value != -1):
        return host_options.size_text(int(value))
    if key == "BlkioWeight":
        return CommentedMap({"weight": int(value)})
    return value


def _edit_limits(found: list[_Service], before: Mapping[str, Any], after: Mapping[str, Any], service: str,
                 notes: list[str]) -> None:
    """Set each changed restart policy or limit where compose v2 takes it from (the service key,
    and ``deploy.resources.limits`` where the file sets it there), or remove it from every file."""
    if before.get("CpusetMems") != after.get("CpusetMems"):
        raise ComposeEditRefused(f"{found[-1].file.path}: compose has no setting for cpuset_mems of {service}; "
                                 "use --container-only")
    for key, (compose_key, deploy_key) in _LIMITS.items():
        value = after.get(key)
        if value == before.get(key):
            continue
        limits = [(s, node) for s in found for node in [_deploy_limits(s)]
                  if deploy_key and isinstance(node, CommentedMap) and deploy_key in node]
        for s, node in limits:
            _refuse_interpolated(node[deploy_key], f"deploy.resources.limits.{deploy_key}",
                                 f"{s.file.path}:{_line(node, deploy_key)}")
            s.file.touch()
            if value is None:
                del node[deploy_key]
            else:
                node[deploy_key] = _limit_value(key, value)
        holders = [s for s in found if compose_key in s.node]
        for s in holders:
            _refuse_interpolated(s.node[compose_key], compose_key, s.line(compose_key))
        if value is None:
            for s in holders:
                _shield(s, compose_key, notes)
                s.file.touch()
                del s.node[compose_key]
        elif holders or not limits:
            _set(_last(found, compose_key), compose_key, _limit_value(key, value), notes)


def _deploy_limits(s: _Service) -> Any:
    """The service's own ``deploy.resources.limits`` mapping, if it has one."""
    node: Any = s.node
    for key in ("deploy", "resources", "limits"):
        node = node.get(key) if isinstance(node, CommentedMap) else None
    return node
