"""Inventories read by Ansible itself, through its command line (remediate never imports Ansible).

``ansible-inventory -i SOURCE --list`` gives the hosts, groups and each host's variables
(any source Ansible accepts: files, directories, ``group_vars``/``host_vars``, scripts,
plugins, vault with the user's vault settings; with ``--playbook-dir`` the ``group_vars``/``host_vars``
beside the playbook too); ``ansible -i SOURCE --list-hosts PATTERN`` resolves a ``--limit``
pattern, so selection and order are Ansible's own. A ``!vault`` value, which ``--list`` prints
still encrypted, is decrypted by ``ansible-vault decrypt`` (once per distinct ciphertext) and
kept as a :class:`~remediate.core.redaction.Secret`, so it is never shown. Each command is
time-boxed by ``REMEDIATE_INVENTORY_TIMEOUT`` seconds (default 60). A source that Ansible
cannot parse is an error here (``ANSIBLE_INVENTORY_UNPARSED_FAILED`` and
``ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED`` are set for these commands), reported in one line.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from remediate.core import limits
from remediate.core.redaction import Secret, redact_text
from remediate.errors import InventoryError
from remediate.fleet.inventory import LOCALHOST, Host, Inventory, ancestors
from remediate.fleet.inventory_files import ALL, UNGROUPED
from remediate.fleet.inventory_sources import inventory_timeout, is_host_list, read_inventory_text
from remediate.fleet.inventory_vars import connection_vars

__all__ = ["AnsibleInventory", "load_with_ansible"]

_log = logging.getLogger(__name__)

_ENV = {
    "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True",
    "ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED": "True",
    "ANSIBLE_NOCOLOR": "1",
    "ANSIBLE_FORCE_COLOR": "0",
}
#: Largest output accepted from an Ansible command (bytes).
_MAX_OUTPUT = 16 * limits.MAX_FILE_BYTES
_LISTED = re.compile(r"^\s*hosts \(([0-9]+)\):$")
# Warnings about the pattern itself; inventory warnings come once, from ansible-inventory.
_PATTERN_WARNINGS = ("could not match supplied host pattern", "subscript")
_MAX_MESSAGE = 300
#: What ``getpass`` prints when ansible-vault asks for a password (there is no terminal to ask on).
_PROMPTED = "Vault password:"
_NO_PASSWORD = ("no vault password is configured (set ANSIBLE_VAULT_PASSWORD_FILE, or vault_password_file"
                " or vault_identity_list in ansible.cfg)")

#: ``decrypt(ciphertext, where)``: the plain text of a ``!vault`` value; ``where`` names it in errors.
Decrypt = Callable[[str, str], Secret]


def _run(args: list[str], what: str, data: bytes | None = None) -> str:
    """Run an Ansible command (``data`` on its stdin, without a terminal to prompt on); its
    stdout, or one InventoryError line from its stderr."""
    timeout = inventory_timeout()
    started = time.monotonic()
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, check=False, input=data,
                              stdin=subprocess.DEVNULL if data is None else None, start_new_session=data is not None,
                              env={**os.environ, **_ENV})
    except subprocess.TimeoutExpired:
        raise InventoryError(f"{what}: {args[0]} ran longer than {timeout:g} s (REMEDIATE_INVENTORY_TIMEOUT)") from None
    except OSError as exc:
        raise InventoryError(f"{what}: cannot run {args[0]}: {exc.strerror or exc}") from exc
    _log.debug("ansible: %s (%.2f s)", redact_text(shlex.join(args)), time.monotonic() - started)
    stderr = done.stderr.decode("utf-8", "replace")
    if done.returncode != 0:
        raise InventoryError(f"{what}: {_error_line(stderr) or f'{args[0]} exited {done.returncode}'}")
    if len(done.stdout) > _MAX_OUTPUT:
        raise InventoryError(f"{what}: {args[0]} printed more than {_MAX_OUTPUT // (1024 * 1024)} MiB")
    _warn(stderr, pattern_only=args[0] == "ansible")
    return done.stdout.decode("utf-8", "replace")


def _error_line(stderr: str) -> str:
    if _PROMPTED in stderr:
        return _NO_PASSWORD
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("[ERROR]:")]
    line = errors[0].removeprefix("[ERROR]:").strip() if errors else (lines[-1] if lines else "")
    line = line.removesuffix(" for -")  # ansible-vault names its input, which is stdin
    return redact_text(line)[:_MAX_MESSAGE]


def _warn(stderr: str, *, pattern_only: bool) -> None:
    for line in stderr.splitlines():
        if not line.startswith("[WARNING]:"):
            continue
        text = line.removeprefix("[WARNING]:").strip()
        if text.startswith("No hosts matched"):
            continue  # select() reports an empty selection itself
        if pattern_only and not any(key in text.lower() for key in _PATTERN_WARNINGS):
            continue
        _log.warning("ansible: %s", redact_text(text)[:_MAX_MESSAGE])


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InventoryError(f"{what}: ansible-inventory printed no valid JSON: {str(exc)[:_MAX_MESSAGE]}") from None


def _decrypter(what: str) -> Decrypt:
    """``ansible-vault decrypt`` of a ``!vault`` ciphertext, run once per distinct ciphertext."""
    found: dict[str, Secret] = {}

    def decrypt(ciphertext: str, where: str) -> Secret:
        if ciphertext not in found:
            text = _run(["ansible-vault", "decrypt", "--output", "-"], f"{what}: {where}: cannot decrypt !vault",
                        ciphertext.encode())
            found[ciphertext] = Secret(text)
        return found[ciphertext]

    return decrypt


def _plain(value: Any, decrypt: Decrypt, where: str) -> Any:
    """Undo the ``inventory_legacy`` JSON profile's wrapping: ``{"__ansible_unsafe": v}`` is ``v``,
    ``{"__ansible_vault": ciphertext}`` its decrypted text."""
    if isinstance(value, dict):
        if len(value) == 1 and "__ansible_unsafe" in value:
            return _plain(value["__ansible_unsafe"], decrypt, where)
        if len(value) == 1 and isinstance(value.get("__ansible_vault"), str):
            return decrypt(value["__ansible_vault"], where)
        return {key: _plain(item, decrypt, where) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, decrypt, where) for item in value]
    return value


def _plain_vars(variables: Mapping[str, Any], decrypt: Decrypt, host: str) -> dict[str, Any]:
    return {key: _plain(value, decrypt, f"host {host!r}: {key}") for key, value in variables.items()}


def _host(name: str, groups: frozenset[str], variables: Any, what: str, decrypt: Decrypt) -> Host:
    if not isinstance(variables, dict):
        raise InventoryError(f"{what}: host {name!r}: variables are not a mapping")
    variables = _plain_vars(variables, decrypt, name)
    conn = connection_vars(name, groups, variables, what)
    return Host(name, conn.address or name, conn.port, conn.user, conn.key_file, conn.docker_host, groups, variables,
                conn.jump)


class AnsibleInventory(Inventory):
    """An inventory as ``ansible-inventory --list`` printed it; :meth:`select` asks ``ansible``.

    Args:
        source: The ``-i`` source, passed to Ansible unchanged.
        listing: The parsed ``--list`` JSON.
        playbook_dir: Given to Ansible as ``--playbook-dir`` (its ``group_vars``/``host_vars``).

    Raises:
        InventoryError: the listing is malformed or has more than MAX_HOSTS hosts.
    """

    def __init__(self, source: str, listing: Mapping[str, Any], playbook_dir: str | None = None) -> None:
        self._source = source
        self._options = _playbook_option(playbook_dir)
        what = f"inventory {source}"
        self._decrypt = _decrypter(what)
        meta = listing.get("_meta", {})
        hostvars = meta.get("hostvars", {}) if isinstance(meta, dict) else None
        if not isinstance(hostvars, dict):
            raise InventoryError(f"{what}: ansible-inventory printed no _meta.hostvars")
        children: dict[str, list[str]] = {ALL: [], UNGROUPED: []}
        own: dict[str, list[str]] = {ALL: [], UNGROUPED: []}
        for name, body in listing.items():
            if name == "_meta":
                continue
            if not isinstance(body, dict):
                raise InventoryError(f"{what}: ansible-inventory printed group {name!r} as no mapping")
            children[name] = [str(child) for child in body.get("children", [])]
            own[name] = [str(host) for host in body.get("hosts", [])]
        for kids in list(children.values()):
            for child in kids:
                children.setdefault(child, [])
                own.setdefault(child, [])
        parents: dict[str, list[str]] = {name: [] for name in children}
        for name, kids in children.items():
            for child in kids:
                parents[child].append(name)
        names = list(dict.fromkeys([*(h for hosts in own.values() for h in hosts), *hostvars]))
        if len(names) > limits.MAX_HOSTS:
            raise InventoryError(f"{what}: more than {limits.MAX_HOSTS} hosts")
        direct: dict[str, list[str]] = {name: [] for name in names}
        for group, hosts in own.items():
            for host in hosts:
                direct[host].append(group)
        hosts_made = [_host(name, frozenset(ancestors(direct[name], parents) | {ALL}), hostvars.get(name, {}), what,
                            self._decrypt) for name in names]
        members = {group: _members(group, children, own) for group in children}
        members[ALL] = list(dict.fromkeys([*members[ALL], *names]))
        super().__init__(hosts_made, members=members, implicit=self._implicit_vars, source=what)

    def _implicit_vars(self, name: str) -> Mapping[str, Any]:
        what = f"inventory {self._source}"
        found = _json(_run(["ansible-inventory", "-i", self._source, *self._options, "--host", name], what), what)
        if not isinstance(found, dict):
            raise InventoryError(f"{what}: ansible-inventory printed no variables for {name!r}")
        return _plain_vars(found, self._decrypt, name)

    def _resolve(self, pattern: str) -> list[Host]:
        """The hosts ``ansible -i SOURCE --list-hosts PATTERN`` lists, in its order (``all``'s,
        which orders every selection, asked once)."""
        if pattern == ALL:
            return list(self._all)
        return self._listed(pattern)

    @cached_property
    def _all(self) -> tuple[Host, ...]:
        return tuple(self._listed(ALL))

    def _listed(self, pattern: str) -> list[Host]:
        what = f"inventory {self._source}"
        text = _run(["ansible", "-i", self._source, *self._options, "--list-hosts", "--", pattern], what)
        lines = text.splitlines()
        listed: list[str] = []
        for index, line in enumerate(lines):
            match = _LISTED.match(line)
            if match is not None:
                listed = [entry.strip() for entry in lines[index + 1 : index + 1 + int(match.group(1))]]
                break
        selected = []
        for name in listed:
            host = self.get(name)
            if host is None and name in LOCALHOST:
                host = self._implicit_host(name)
            if host is None:
                raise InventoryError(f"{what}: ansible selected {name!r}, which ansible-inventory did not list")
            selected.append(host)
        return selected


def _members(group: str, children: Mapping[str, list[str]], own: Mapping[str, list[str]]) -> list[str]:
    found: dict[str, None] = {}
    stack, seen = [group], set()
    while stack:  # breadth first, as Ansible walks child groups
        level, stack = stack, []
        for name in level:
            if name in seen:
                continue
            seen.add(name)
            found.update(dict.fromkeys(own.get(name, [])))
            stack.extend(children.get(name, []))
    return list(found)


def _playbook_option(playbook_dir: str | None) -> list[str]:
    return [] if playbook_dir is None else ["--playbook-dir", playbook_dir]


def load_with_ansible(source: str, playbook_dir: str | None = None) -> AnsibleInventory:
    """Read ``source`` with ``ansible-inventory -i SOURCE --list`` (and ``--playbook-dir``).

    Raises:
        InventoryError: Ansible refused the source, ran too long, or printed no inventory, or
            a ``!vault`` value cannot be decrypted; one line, from Ansible's own error.
    """
    what = f"inventory {source}"
    if not is_host_list(source) and not os.path.exists(source):
        raise InventoryError(f"{source}: cannot read inventory: No such file or directory", path=source)
    if os.path.isfile(source) and not os.access(source, os.X_OK):
        read_inventory_text(Path(source))  # the bounds of remediate.core.limits; UTF-8 (Ansible reads binaries as INI)
    try:
        text = _run(["ansible-inventory", "-i", source, *_playbook_option(playbook_dir), "--list"], what)
    except InventoryError as failed:
        if not os.path.exists(source) or "vault" in str(failed).lower():
            raise  # the built-in reader, which reads no vault, knows no more
        from remediate.fleet.inventory import load_inventory

        try:  # Ansible says only that it failed; the built-in reader names the file and line
            load_inventory(source, parser="builtin", playbook_dir=playbook_dir)
        except InventoryError as precise:
            raise precise from None
        raise failed from None
    listing = _json(text, what)
    if not isinstance(listing, dict):
        raise InventoryError(f"{what}: ansible-inventory printed no inventory")
    return AnsibleInventory(source, listing, playbook_dir)
