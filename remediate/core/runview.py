"""A ContainerSpec as the ``docker run`` command that makes it: the dry-run view.

Every option comes from the field table (:mod:`remediate.core.fields`). Two forms of one
:class:`RunView`:

* :meth:`RunView.lines` — one option per line (for the diff), each token POSIX shell-quoted, or
  bash-quoted as ``$'...'`` with its control characters escaped (``$'info\x1b[2K'``) when it has
  any, so no value can rewrite what a terminal shows (see :mod:`remediate.core.visible`);
* :meth:`RunView.commands` — complete shell commands: ``docker run -d ...``, then one
  ``docker network connect ...`` per further network.

What the docker CLI cannot express is a remark (``# ...``): its own line, never an inline
comment, so every line stays runnable. Pure; with ``redact`` the values of the table's
secret-bearing fields (env, labels, command, log options, healthcheck) are shown through
:mod:`remediate.core.redaction`.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from remediate.core.fields import (
    CONFIG,
    ENDPOINT,
    HOST,
    Option,
    Remark,
    RenderContext,
    api_tuple,
    csv_field,
    host_field,
)
from remediate.core.redaction import mask_values, redact_args, redact_text, redact_value
from remediate.core.spec import ContainerSpec
from remediate.core.visible import HIDDEN, escape_char, visible


@dataclass(frozen=True)
class RunView:
    """The ``docker run`` form of one container.

    Attributes:
        name: the container name.
        options: ``docker run`` options before the image, as unquoted tokens.
        image: the image reference.
        command: the command after the image (the entrypoint's further words first).
        connects: per further network, the ``docker network connect`` arguments before the name.
        remarks: what the CLI cannot express exactly.
    """

    name: str
    options: tuple[Option, ...]
    image: str
    command: tuple[str, ...]
    connects: tuple[Option, ...]
    remarks: tuple[Remark, ...]

    def lines(self) -> list[str]:
        """One option per line, then the image, the command (a flag with its value per line),
        the ``docker network connect`` commands and the remarks."""
        out = [_join(opt) for opt in self.options]
        out.append(quote(self.image))
        out += [f"  {_join(group)}" for group in _command_groups(list(self.command))]
        out += [self._connect(c) for c in self.connects]
        out += [f"# {visible(r.text)}" for r in self.remarks]
        return out

    def commands(self, *, run: str = "docker run -d") -> list[str]:
        """Complete POSIX shell commands that make this container, remarks last as comments.

        Args:
            run: the command that starts the first line (``docker create`` to make it stopped).
        """
        tokens = [t for opt in self.options for t in opt]
        first = " ".join([run, *map(quote, tokens), quote(self.image), *map(quote, self.command)])
        return [first, *(self._connect(c) for c in self.connects), *(f"# {visible(r.text)}" for r in self.remarks)]

    def _connect(self, args: Option) -> str:
        return f"docker network connect {_join((*args, self.name))}"


class Redactor:
    """How a redacted view shows what may be secret (:mod:`remediate.core.redaction`): the value of
    a secret-bearing field, the command's arguments, a remark's text."""

    def value(self, name: str, value: str) -> str:
        """The value of ``name`` (an env var, a label, a log option...) as shown."""
        return redact_value(name, value)

    def args(self, args: Sequence[str]) -> list[str]:
        """A command as shown (as many arguments)."""
        return redact_args(args)

    def text(self, text: str) -> str:
        """A remark's text as shown."""
        return redact_text(text)


def run_view(spec: ContainerSpec, *, engine_api: str | None = None, redact: bool | Redactor = False,
             secrets: Sequence[str] = ()) -> RunView:
    """The ``docker run`` form of a spec.

    Args:
        spec: the spec to render.
        engine_api: the engine's API version (``"1.41"``); some options depend on it.
        redact: mask secrets in the values of secret-bearing fields (never for a view that runs);
            a :class:`Redactor` of its own shows them its way.
        secrets: literal values (of secret vars) masked wherever they appear.
    """
    redactor = Redactor() if redact is True else redact or None

    def show(name: str, value: str) -> str:
        return redactor.value(name, value) if redactor else value

    ctx = RenderContext(api=api_tuple(engine_api) if engine_api else None, show=show, host_config=spec.host_config)
    options: list[Option] = [("--name", spec.name)]
    remarks: list[Remark] = []
    if spec.platform:
        options.append(("--platform", spec.platform))
    rendered = [CONFIG[k].options(spec.config[k], ctx) for k in CONFIG if k in spec.config]
    rendered += [HOST[k].options(spec.host_config[k], ctx) for k in HOST if k in spec.host_config]
    rendered += [host_field(k).options(v, ctx) for k, v in spec.host_config.items() if k not in HOST]
    network_options, connects, network_remarks = _networks(spec, ctx)
    for item in [i for group in rendered for i in group] + network_options:
        if isinstance(item, Remark):
            remarks.append(replace(item, text=redactor.text(item.text)) if redactor else item)
        else:
            options.append(item)
    remarks += network_remarks
    entrypoint = spec.config.get("Entrypoint")
    command = ([entrypoint] if isinstance(entrypoint, str) else list(entrypoint or []))[1:] + spec.args
    view = RunView(name=spec.name, options=tuple(options), image=spec.image,
                   command=tuple(redactor.args(command) if redactor else command), connects=tuple(connects),
                   remarks=tuple(remarks))
    return _masked(view, secrets) if secrets else view


def _masked(view: RunView, secrets: Sequence[str]) -> RunView:
    def mask(tokens: Sequence[str]) -> Option:
        return tuple(mask_values(t, secrets) for t in tokens)

    return replace(view, options=tuple(mask(o) for o in view.options), command=mask(view.command),
                   connects=tuple(mask(c) for c in view.connects),
                   remarks=tuple(replace(r, text=mask_values(r.text, secrets)) for r in view.remarks))


def run_lines(spec: ContainerSpec, *, engine_api: str | None = None, redact: bool = False) -> list[str]:
    """Shorthand for ``run_view(...).lines()``."""
    return run_view(spec, engine_api=engine_api, redact=redact).lines()


# --------------------------------------------------------------------------- command

def _command_groups(args: list[str]) -> list[Option]:
    """A command cut into a flag with its value per group, for one line each."""
    groups: list[Option] = []
    i = 0
    while i < len(args):
        if args[i].startswith("-") and "=" not in args[i] and i + 1 < len(args) and not args[i + 1].startswith("-"):
            groups.append((args[i], args[i + 1]))
            i += 2
        else:
            groups.append((args[i],))
            i += 1
    return groups


# --------------------------------------------------------------------------- networks

def _networks(spec: ContainerSpec, ctx: RenderContext) -> tuple[list[Option | Remark], list[Option], list[Remark]]:
    """Options of the primary network, ``network connect`` arguments of the others, remarks."""
    mode = spec.network_mode
    primary = "bridge" if mode == "default" else mode
    options: list[Option | Remark] = []
    driver_opts = (spec.networks.get(primary) or {}).get("DriverOpts") or {}
    if driver_opts:
        # Endpoint driver options only have the long --network form (name=...,driver-opt=k=v).
        fields = [f"name={primary}", *(f"driver-opt={k}={v}" for k, v in driver_opts.items())]
        options.append(("--network", ",".join(csv_field(f) for f in fields)))
    elif mode != "default":
        options.append(("--network", mode))
    connects: list[Option] = []
    remarks: list[Remark] = []
    for net, endpoint in spec.networks.items():
        if net == primary:
            args, net_remarks = _endpoint(net, {k: v for k, v in endpoint.items() if k != "DriverOpts"}, ctx,
                                          primary=True)
            options += args
        else:
            args, net_remarks = _endpoint(net, endpoint, ctx, primary=False)
            connects.append((*(t for opt in args for t in opt), net))
        remarks += net_remarks
    return options, connects, remarks


_RUN_ENDPOINT_FLAGS = {"Aliases": "--network-alias", "IPv4Address": "--ip", "IPv6Address": "--ip6",
                       "LinkLocalIPs": "--link-local-ip", "Links": "--link",
                       "MacAddress": "--mac-address"}
_CONNECT_FLAGS = {**_RUN_ENDPOINT_FLAGS, "Aliases": "--alias", "DriverOpts": "--driver-opt", "MacAddress": None}


def _endpoint(net: str, endpoint: Mapping[str, Any], ctx: RenderContext, *,
              primary: bool) -> tuple[list[Option], list[Remark]]:
    flags = _RUN_ENDPOINT_FLAGS if primary else _CONNECT_FLAGS
    values: list[tuple[str, Any]] = []
    for key, value in endpoint.items():
        if key == "IPAMConfig":
            for ip_key, ip in value.items():
                values += [(ip_key, v) for v in (ip if isinstance(ip, list) else [ip])]
        elif key in ("Aliases", "Links"):
            values += [(key, v) for v in value]
        elif key == "DriverOpts":
            values += [(key, f"{k}={v}") for k, v in value.items()]
        else:
            values.append((key, value))
    options: list[Option] = []
    remarks: list[Remark] = []
    for key, value in values:
        flag = flags.get(key)
        if flag is None or (key == "MacAddress" and not ctx.api_at_least(ENDPOINT["MacAddress"].min_api)):
            how = "docker run" if primary else "docker network connect"
            remarks.append(Remark(f"NetworkSettings.Networks.{net}.{key}",
                                  f"network {net}: {key} {value} has no {how} option (remediate sets it through the API)"))
        else:
            options.append((flag, str(value)))
    return options, remarks


def _join(tokens: Option) -> str:
    return " ".join(quote(t) for t in tokens)


def quote(token: str) -> str:
    """A token quoted for the shell: POSIX quoting (:func:`shlex.quote`), or with a control
    character in it, bash's ``$'...'`` with every such character escaped (visible, and the same
    bytes when run).

    >>> quote("warning\x1b[2K")
    "$'warning\\x1b[2K'"
    """
    if not HIDDEN.search(token):
        return shlex.quote(token)
    body = token.replace("\\", "\\\\").replace("'", "\\'")
    return "$'" + HIDDEN.sub(lambda m: escape_char(m.group(0)), body) + "'"
