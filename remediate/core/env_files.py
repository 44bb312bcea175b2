"""Environment values read from files on the Docker host (``env: {KEY: {from_file: PATH}}``). Pure.

The file is read on the Docker host (locally, or over SFTP) never through a symlink and at most
:data:`MAX_ENV_FILE_BYTES`; its content, trailing newlines removed as the shell's ``$(cat FILE)``
does, is the value. The value is a secret wherever it goes: it is held as a
:class:`~remediate.core.redaction.Secret` (shown as ``***``), masked in every output by
:mod:`remediate.core.secret_flow`, only a digest of it is saved with a plan, and it is never
journaled (the recreate needs it at create time only; an undo puts back the original container,
which the engine still has). The container already holding the value is a no-op.

Compose cannot take an environment value from a file without writing the value into the compose
file, a ``.env`` file or the environment of every later ``compose up``, so a compose service's
change is refused with what to do by hand (or applied with ``--container-only``).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping

from remediate.core import playbook as pb
from remediate.core.paths import HostPath
from remediate.core.redaction import Secret
from remediate.errors import PlanError

#: Largest file an env value is read from (Linux takes at most 128 KiB per environment string).
MAX_ENV_FILE_BYTES = 64 * 1024


def files_needed(changes: Iterable[object]) -> list[str]:
    """The host files the rendered ``changes`` read env values from."""
    return sorted({v.from_file for c in changes if isinstance(c, pb.EnvChange)
                   for v in c.env.values() if isinstance(v, pb.FromFile)})


def value_of(name: str, source: pb.FromFile, files: Mapping[str, HostPath]) -> Secret:
    """The value of env var ``name`` read from its file (as :func:`files_needed` listed and the
    host read it).

    Raises:
        PlanError: the file is missing, a symlink is on its way, it is not a regular file, larger
            than :data:`MAX_ENV_FILE_BYTES`, not UTF-8 text, or holds a NUL byte (one line; nothing
            was changed).
    """
    path = source.from_file
    state = files.get(path, HostPath(False, kind="missing"))
    where = f"env {name}: from_file {path}"
    if state.symlink is not None:
        raise PlanError(f"{where}: {state.symlink} is a symlink; remediate reads secrets only through real "
                        "directories and files (point from_file at the file itself); nothing was changed")
    if not state.exists:
        raise PlanError(f"{where}: no such file on the Docker host; nothing was changed")
    if state.kind == "large":
        raise PlanError(f"{where}: the file is larger than {MAX_ENV_FILE_BYTES // 1024} KiB, too large for an "
                        "environment value; nothing was changed")
    if state.content is None:
        raise PlanError(f"{where}: not a regular file ({state.kind}); nothing was changed")
    try:
        text = state.content.decode()
    except UnicodeDecodeError:
        raise PlanError(f"{where}: not UTF-8 text (the engine takes environment values as text); "
                        "nothing was changed") from None
    if "\0" in text:
        raise PlanError(f"{where}: holds a NUL byte, which no environment value can; nothing was changed")
    return Secret(text.rstrip("\n"))


def same(current: str | None, wanted: str) -> bool:
    """Whether the container's value is the file's, compared in constant time."""
    return current is not None and hmac.compare_digest(current.encode(), wanted.encode())


def compose_refusal(service: str, names: Iterable[str]) -> str:
    """Why a compose service's env value from a file is not written to its compose file, and
    what to do by hand."""
    keys = ", ".join(sorted(names))
    return (f"compose: {service}: {keys} from a file: Compose has no way to take an environment value from a "
            "file without writing it into the compose file, a .env file or the environment of every later "
            "`compose up`; add it by hand (an env_file: of its own, mode 0600, holding KEY=value) and run "
            "`docker compose up -d`, or apply with --container-only (the next compose recreate drops it); "
            "nothing was changed")
