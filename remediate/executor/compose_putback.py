"""A rollback's compose files when other edits followed the one it undoes.

When a compose file still holds what the undone apply wrote, the rollback puts its saved copy
back. When it changed since (another service's fix of the same file went in after it, or a hand
edit), the saved copy would take those out too; instead only the undone service's part comes out:

1. line by line (:func:`remediate.core.revert.revert`), when the apply's edit can be made again
   from the saved copy exactly as it was written (its digest in the journal says so) and its lines
   are in the file unchanged: every other byte stays;
2. else by editing the service back to the container the rollback puts in place
   (:func:`remediate.core.compose_edit.edit_project`), as an apply would.
"""

from __future__ import annotations

from collections.abc import Sequence

from remediate.core import compose, compose_edit
from remediate.core.revert import revert
from remediate.core.spec import ContainerSpec
from remediate.errors import PlanError
from remediate.executor.record import FileEntry, digest
from remediate.executor.undo import saved_content
from remediate.host.connection import Connection


def compose_contents(conn: Connection, entries: Sequence[FileEntry], current: ContainerSpec,
                     target: ContainerSpec) -> dict[str, bytes]:
    """Path -> content, for the compose files of ``current``'s service among ``entries`` that
    changed since their apply wrote them; ``target`` is the container put back.

    Raises:
        PlanError: the service's part cannot be taken out alone (nothing was changed).
    """
    owner = compose.owner(current.config.get("Labels"))
    if owner is None or owner.oneoff:
        return {}
    texts: list[tuple[str, str]] = []
    path_of: dict[str, str] = {}  # the file written (symlinks followed) -> its config path
    for path in owner.config_paths():
        state = conn.read_path(path, follow=True)
        try:
            texts.append((path, (state.content or b"").decode()))
        except UnicodeDecodeError:
            return {}
        path_of[state.real or path] = path
    out: dict[str, bytes] = {}
    edited: dict[str, str] | None = None  # the edit back, made once when some file needs it
    for entry in entries:
        config = path_of.get(entry.path)
        if config is None or entry.written is None or digest(dict(texts)[config].encode()) == entry.written:
            continue
        saved = saved_content(conn, entry)
        text = _taken_out(texts, config, saved.decode() if saved is not None else "", owner, current, target,
                          entry.written)
        if text is None:
            if edited is None:
                edited = _edited_back(conn, texts, owner, current, target, config)
            text = edited.get(config, dict(texts)[config])
        out[entry.path] = text.encode()
    return out


def _taken_out(texts: Sequence[tuple[str, str]], path: str, saved: str, owner: compose.ComposeOwner, current: ContainerSpec,
               target: ContainerSpec, written: str) -> str | None:
    """The file with the apply's own lines taken out, or None when that cannot be told exactly."""
    try:
        again = compose_edit.edit_project([(p, saved if p == path else t) for p, t in texts], owner.service, target,
                                          current, v1=owner.v1)
    except compose_edit.ComposeEditRefused:
        return None
    wrote = again.texts.get(path, saved) if again is not None else saved
    if digest(wrote.encode()) != written:
        return None
    return revert(dict(texts)[path], before=saved, written=wrote)


def _edited_back(conn: Connection, texts: Sequence[tuple[str, str]], owner: compose.ComposeOwner, current: ContainerSpec,
                 target: ContainerSpec, path: str) -> dict[str, str]:
    try:
        edit = compose_edit.edit_project(texts, owner.service, current, target, v1=owner.v1)
    except compose_edit.ComposeEditRefused as exc:
        raise PlanError(f"{conn.label}: {path} changed since remediate wrote it, and the part of service {owner.service} "
                        f"cannot be put back alone ({exc.message}); nothing was changed",
                        host=conn.label, container=current.name) from exc
    return edit.texts if edit is not None else {}
