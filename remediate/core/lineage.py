"""The versions of one container, replayed from its journal (pure, no I/O).

Each apply that took effect makes a new version from the one in place (its *parent*) and parks
that one as a backup; each rollback that took effect parks the version in place and puts a
backup's version back. Going back ``N`` steps follows the parents from the version in place, so
a rollback after a rollback goes further back, never forward again (no toggle).

>>> moves = [Move("t1", "apply", "web.rbk-1"), Move("t2", "apply", "web.rbk-2"),
...          Move("t3", "rollback", "web.rbk-3", restored="web.rbk-2")]
>>> replay(moves).route(steps=1).backup
'web.rbk-1'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from remediate.core.spec import ContainerSpec


@dataclass(frozen=True)
class Move:
    """One settled transaction of the container that took effect (oldest first).

    ``parked`` is the backup name the container in place was parked under; ``restored`` the
    backup a rollback put back (none for an apply).
    """

    tx: str
    kind: Literal["apply", "rollback"]
    parked: str
    restored: str | None = None


@dataclass(frozen=True)
class Route:
    """How to get from the version in place to the one held by ``backup``.

    ``undone`` are the applies whose saved files (their previous contents) put the files back,
    newest first; ``parked_by`` the transaction that parked ``backup`` (its saved files are the
    target's own when the target is no ancestor, e.g. a version an earlier rollback undid);
    ``between`` the backups of the versions passed over on the way back (they stay backups).
    """

    backup: str
    undone: tuple[str, ...]
    parked_by: str
    ancestor: bool
    between: tuple[str, ...]


@dataclass(frozen=True)
class Lineage:
    """The versions of one container: which is in place, whose parent is which, who holds which."""

    current: int = 0
    parent: Mapping[int, int] = field(default_factory=dict)
    made_by: Mapping[int, str] = field(default_factory=dict)
    holders: Mapping[str, int] = field(default_factory=dict)
    parked_by: Mapping[str, str] = field(default_factory=dict)

    def ancestors(self, version: int | None = None) -> list[int]:
        """``version`` (default: the one in place) and its parents, nearest first."""
        chain = [self.current if version is None else version]
        while chain[-1] in self.parent:
            chain.append(self.parent[chain[-1]])
        return chain

    def backup_of(self, version: int) -> str | None:
        """The backup name that holds ``version``, if any."""
        return next((name for name, v in self.holders.items() if v == version), None)

    def route(self, *, steps: int | None = None, to: str | None = None) -> Route:
        """The route back ``steps`` applies (default 1), or to the backup named ``to``.

        Raises:
            LookupError: there is no such backup, or fewer than ``steps`` applies to go back.
        """
        chain = self.ancestors()
        if to is None:
            count = 1 if steps is None else steps
            if count < 1 or count >= len(chain):
                raise LookupError(f"only {len(chain) - 1} apply(s) to go back")
            target = chain[count]
            # Every parent is parked by the apply that made its child (and again by whatever
            # takes its place after a rollback put it back), so it has a backup name.
            to = next(name for name, v in self.holders.items() if v == target)
        elif to in self.holders:
            target = self.holders[to]
        else:  # a backup the journal does not know (no files to put back)
            return Route(to, (), "", False, ())
        theirs = set(self.ancestors(target))
        undone = []
        for version in chain:
            if version in theirs:
                break
            if version in self.made_by:  # else: a version of a backup the journal never saw parked
                undone.append(self.made_by[version])
        ancestor = target in chain
        between = [self.backup_of(v) for v in chain[1:chain.index(target)]] if ancestor else []
        return Route(to, tuple(undone), self.parked_by.get(to, ""), ancestor, tuple(b for b in between if b))

    @property
    def original(self) -> str | None:
        """The backup that holds the first version of the series in place (the container before
        any remediate change), if it is a backup."""
        return self.backup_of(self.ancestors()[-1])


def replay(moves: Iterable[Move]) -> Lineage:
    """Replay the container's settled transactions, oldest first, into its :class:`Lineage`."""
    current = 0
    parent: dict[int, int] = {}
    made_by: dict[int, str] = {}
    holders: dict[str, int] = {}
    parked_by: dict[str, str] = {}
    for count, move in enumerate(moves, start=1):
        holders[move.parked] = current
        parked_by[move.parked] = move.tx
        if move.kind == "apply":
            parent[count], made_by[count] = current, move.tx
            current = count
        elif move.restored is not None and move.restored in holders:
            current = holders.pop(move.restored)
        else:  # a backup the journal never saw parked: a version of its own
            current = count
    return Lineage(current, parent, made_by, holders, parked_by)


@dataclass(frozen=True)
class FileRestore:
    """A file a rollback puts back: what is there now and what it gets (``None``: no file)."""

    path: str
    now: bytes | None
    restored: bytes | None
    mode: int | None

    @property
    def changed(self) -> bool:
        """True when putting it back changes the file."""
        return self.now != self.restored


@dataclass(frozen=True)
class RollbackPlan:
    """What a rollback of ``name`` would do: put ``backup`` (``target``) in place of the container
    now there (``current``, which becomes a backup) and put ``files`` back. ``between`` stay backups.
    ``in_place``: the last apply was an update in place; the same container is updated back to
    ``target`` (``backup`` is its own name)."""

    name: str
    backup: str
    current: ContainerSpec
    target: ContainerSpec
    files: tuple[FileRestore, ...]
    between: tuple[str, ...]
    steps: int | None
    in_place: bool = False
