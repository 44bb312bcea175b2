"""A host's connection settings as Ansible's ssh connection plugin reads them from its variables.

- Spellings: the plugin reads ``ansible_host`` then the older ``ansible_ssh_host`` and keeps the
  last one found, so ``ansible_ssh_host``, ``ansible_ssh_port``, ``ansible_ssh_user`` and
  ``ansible_ssh_private_key_file`` win over ``ansible_host``, ``ansible_port``, ``ansible_user``
  and ``ansible_private_key_file`` when a host has both (see
  :class:`~remediate.fleet.inventory_files.ConnectionVars`).
- Templates: a connection variable holding Jinja (``ansible_host: "{{ inventory_hostname
  }}.gpu.example"``, ``ansible_user: "{{ admin_user }}"``) is rendered over the host's variables
  (those it names rendered first, the same way), ``inventory_hostname``,
  ``inventory_hostname_short`` and ``group_names``, in remediate's sandbox. What only Ansible
  can render (``lookup``, Ansible's own filters) is refused in one line naming the inventory.
- SSH options: ``ansible_ssh_common_args`` and ``ansible_ssh_extra_args`` are not passed on
  (remediate's SSH is not OpenSSH's command). A jump host (``-o ProxyJump=[user@]host[:port]``,
  ``-J``, hops separated by commas; the first one given wins, as in ``ssh``) is followed. A host
  whose options say otherwise where or as whom to connect (``ProxyCommand``, ``Port``, ``User``,
  ``HostName``, ``IdentityFile``) is refused when selected, in one line saying to put them in
  ``~/.ssh/config``, which remediate reads. Other options (``ControlMaster``, ...) do not change
  which host is reached and are ignored.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from remediate.core.templating import referenced_names, render_value
from remediate.errors import InventoryError, PlaybookError
from remediate.fleet.inventory_files import ALL, ConnectionVars

__all__ = ["connection_vars", "is_templated", "routing_ssh_option"]

#: The variables a host's connection is built from (every spelling).
_CONNECTION_KEYS = ("ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user",
                    "ansible_ssh_user", "ansible_ssh_private_key_file", "ansible_private_key_file",
                    "remediate_docker_host", "ansible_connection")
#: ``ssh`` options (``-o Name=value``, case-insensitive) that change which host is reached, or how
#: (but a jump host, which remediate follows).
_ROUTING_OPTIONS = frozenset({"proxycommand", "port", "user", "hostname", "identityfile"})
#: ``ssh`` flags with the same effect (``-p 2222``, ``-l user``, ``-i key``).
_ROUTING_FLAGS = frozenset({"-p", "-l", "-i"})
#: Variables whose SSH options remediate reads for a jump host, and to refuse the routing ones.
SSH_ARGS_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
_MAX_DEPTH = 20


def is_templated(value: Any) -> bool:
    """True for a string holding Jinja (``{{ }}`` or ``{% %}``), rendered only when used."""
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def connection_vars(name: str, groups: frozenset[str], variables: Mapping[str, Any], where: str) -> ConnectionVars:
    """The connection settings of host ``name`` from its merged ``variables``, templates rendered.

    Args:
        name: the inventory host name.
        groups: every group of the host (``all`` included).
        variables: the host's merged variables, as Ansible lists them (templates unrendered).
        where: the inventory, for errors (``inventory hosts.ini``).

    Raises:
        InventoryError: a template cannot be rendered here, or a value is invalid (one line).
    """
    context: dict[str, Any] = {"inventory_hostname": name, "inventory_hostname_short": name.split(".")[0],
                               "group_names": sorted(groups - {ALL})}
    values = {key: _rendered(key, variables, context, name, where, 0)
              for key in (*_CONNECTION_KEYS, *SSH_ARGS_VARS) if key in variables}
    values["jump"] = proxy_jump(values)
    try:
        return ConnectionVars.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = str(error["loc"][0]) if error["loc"] else "a connection variable"
        raise InventoryError(f"{where}: host {name!r}: invalid {key}={values.get(key)!r}: {error['msg']}") from None


def _rendered(key: str, variables: Mapping[str, Any], context: dict[str, Any], host: str, where: str,
              depth: int) -> Any:
    value = variables[key]
    if not is_templated(value):
        return value
    if depth > _MAX_DEPTH:
        raise InventoryError(f"{where}: host {host!r}: {key}: variables refer to each other in a loop")
    for needed in sorted(referenced_names(value) & variables.keys() - context.keys()):
        context[needed] = _rendered(needed, variables, context, host, where, depth + 1)
    scope = {**{k: v for k, v in variables.items() if not is_templated(v)}, **context}
    try:
        return render_value(value, scope, playbook=f"{where}: host {host!r}", field=key)
    except PlaybookError as exc:
        raise InventoryError(f"{exc.message}; remediate renders plain Jinja only (no lookups or Ansible "
                             "filters)", path=where) from None


def routing_ssh_option(variables: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first SSH option in ``ansible_ssh_common_args`` / ``ansible_ssh_extra_args`` that
    changes which host is reached or how (``-o Port=2222``), as (variable, option); a jump host
    is not one (:func:`proxy_jump`)."""
    for var, flag, value in _ssh_options(variables):
        if flag in _ROUTING_FLAGS:
            return var, f"{flag} {value}".rstrip()
        if flag == "-o" and _option(value)[0] in _ROUTING_OPTIONS:
            return var, f"-o {value}"
    return None


def proxy_jump(variables: Mapping[str, Any]) -> str | None:
    """The jump host(s) the SSH options name (``-J`` or ``-o ProxyJump=``; the first one given
    wins, as in ``ssh``), as ``[user@]host[:port][,...]``; None without one or for ``none``."""
    for _var, flag, value in _ssh_options(variables):
        name, setting = _option(value)
        if flag == "-J" or (flag == "-o" and name == "proxyjump"):
            jump = value.strip() if flag == "-J" else setting
            return None if jump.lower() in ("", "none") else jump
    return None


def _option(value: str) -> tuple[str, str]:
    """An ``-o`` value as (name in lower case, setting): ``ProxyJump=b``, ``ProxyJump b`` alike."""
    name, _, setting = value.replace("=", " ", 1).partition(" ")
    return name.lower(), setting.strip()


def _ssh_options(variables: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The ``-X value`` options of the ``ssh`` arguments in the variables, in the order ``ssh``
    gets them, as (variable, flag, value): ``-o Port=22`` and ``-oPort=22`` alike."""
    found: list[tuple[str, str, str]] = []
    for var in SSH_ARGS_VARS:
        value = variables.get(var)
        if not isinstance(value, str) or not value.strip():
            continue
        try:
            words = shlex.split(value)
        except ValueError:
            words = value.split()
        index = 0
        while index < len(words):
            word = words[index]
            if word[:2] in (*_ROUTING_FLAGS, "-J", "-o") and len(word) >= 2:
                if len(word) > 2:
                    found.append((var, word[:2], word[2:]))
                elif index + 1 < len(words):
                    found.append((var, word, words[index + 1]))
                    index += 1
                else:
                    found.append((var, word, ""))
            index += 1
    return found
