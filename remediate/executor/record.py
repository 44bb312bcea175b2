"""The records of the journal: one pydantic model per ``op``, read and written as one JSON object
a line (:mod:`remediate.executor.journal` keeps the file).

::

    {"v": 1, "tx": ID, "op": "begin", "container": NAME, "old_id": ..., "backup": ..., "temp": ...,
     "was_running": bool, "restart_policy": {...}, "files": [{"path", "saved", "mode", "written", "owner"}],
     "dirs": [the directories the change creates, outermost first],
     "run": ID of the host's apply (its transactions own its files jointly),
     "tied": [{"name", "id", "was_running"}] (the neighbours joined to it), ...}
    {"v": 1, "tx": ID, "op": "step", "step": "files|created|stopped|parked|swapped|started|dependent|updated|verified", ...}
    {"v": 1, "tx": ID, "op": "end", "result": "recreated|updated in place|rolled back|rollback failed|restored|recovered: ...|..."}

An update in place (``docker update``, no recreate) has ``live: {"before": {...}, "after": {...}}``
in its begin (the ``HostConfig`` values it sets and those that put the container back), ``new_id``
the container's own id, and no backup.
    {"v": 1, "tx": ID, "op": "revert-dropped", "reason": ...}

The words are :class:`Kind` (a begin's ``kind``), :class:`Step` and :class:`End`. ``v`` is the
record format (records without it are version 0, read the same way). Keys a version does not
know are ignored, so an older remediate reads a newer journal. Only what is read back is
checked; a record that does not fit gets one line saying why (:func:`problem`).

A record is written with the keys it was given only (:func:`encode`): a file entry without
``written`` (an older version's) and one whose ``written`` is null (the transaction removes the
file) stay apart.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import socket
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, ValidationError

#: The record format written now (a record without ``v`` is version 0).
VERSION = 1

Json = dict[str, Any]


class Kind(StrEnum):
    """What a transaction does (a begin record's ``kind``; none: an apply)."""

    APPLY = "apply"
    ROLLBACK = "rollback"


class Step(StrEnum):
    """A step of a transaction, journaled once it is done (before the next one starts)."""

    FILES = "files"
    CREATED = "created"
    STOPPED = "stopped"
    PARKED = "parked"
    SWAPPED = "swapped"
    STARTED = "started"
    #: A tied container is about to follow the change (its record is under ``dependent``).
    DEPENDENT = "dependent"
    #: The container was updated in place (``docker update``; the begin's ``live``).
    UPDATED = "updated"
    VERIFIED = "verified"


class End(StrEnum):
    """How a transaction ended (an end record's ``result``)."""

    RECREATED = "recreated"
    UPDATED = "updated in place"
    ROLLED_BACK = "rolled back"
    ROLLBACK_FAILED = "rollback failed"
    RESTORED = "restored"
    RECOVERED_KEPT = "recovered: kept the verified new container"
    RECOVERED_RESTORED = "recovered: restored the original"
    RECOVER_FAILED = "recover failed"


def digest(content: bytes) -> str:
    """What a file entry's ``written`` holds for ``content``."""
    return hashlib.sha256(content).hexdigest()


def now() -> str:
    """A record's ``time``: UTC, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def controller() -> Json:
    """Who is running remediate: user, machine and process (a begin record's and the lock's)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return {"user": user, "controller": socket.gethostname(), "pid": os.getpid()}


def _text(value: Any) -> Any:
    """Shown-only text (who, when) read whatever JSON holds it: never a reason to skip a record."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


#: Text that is only shown (``time``, ``user``): any JSON value is read, as text.
Shown = Annotated[str | None, BeforeValidator(_text)]
_Text = Annotated[str, Field(min_length=1)]
_Number = int | float


class _Model(BaseModel):
    # Built when first used: a dry run reads no journal record, and the models take a while to build.
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True, defer_build=True)


class FileEntry(_Model):
    """A file a transaction writes: where its previous content is saved (none: it did not exist),
    its mode and owner then, and the SHA-256 of what the transaction puts there (null: it removes
    the file; absent: an older version's record, see :attr:`written_known`)."""

    path: str
    saved: str | None = None
    mode: int | None = None
    written: str | None = None
    #: Owner and group ids.
    owner: Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=2, max_length=2)] | None = None

    @property
    def written_known(self) -> bool:
        """False for a record of a version that did not journal ``written``."""
        return "written" in self.model_fields_set


class Tied(_Model):
    """A neighbour joined to the container before a change (enough to bring it along again)."""

    name: str
    id: str
    was_running: bool = False


class Dependent(_Model):
    """A tied container re-created to follow a change (journaled before it is touched)."""

    name: str
    old_id: str
    temp: str
    backup: str | None = None
    was_running: bool = False
    restart_policy: Json | None = None


class Live(_Model):
    """An update in place (``docker update``): the ``HostConfig`` values it sets (``after``) and
    those that put the container back (``before``), as the update API takes them."""

    before: Json
    after: Json


class _Record(_Model):
    v: Annotated[int, Field(ge=0)] = 0
    tx: _Text
    time: Shown = None


class Begin(_Record):
    """The start of a transaction: everything its undo needs (specs are never stored)."""

    op: Literal["begin"] = "begin"
    container: _Text
    old_id: _Text
    kind: str | None = None
    temp: str | None = None
    backup: str | None = None
    playbook: str | None = None
    new_id: str | None = None
    run: str | None = None
    was_running: bool = False
    was_paused: bool = False
    restart_policy: Json | None = None
    revert_after: _Number | None = None
    files: list[FileEntry] | None = None
    dirs: list[Annotated[str, Field(pattern="^/")]] | None = None
    tied: list[Tied] | None = None
    old_image: str | None = None  # an image change: the image the original runs
    new_image: str | None = None  # and the one it moves to
    live: Live | None = None  # an update in place: no backup, the same container
    user: Shown = None
    controller: Shown = None
    pid: Any = None


def begin(**fields: Any) -> Begin:
    """A begin record of now, by this process (:func:`controller`), with ``fields`` as :class:`Begin` has them."""
    return Begin.model_validate({"time": now(), **controller(), **fields})


class StepDone(_Record):
    """A step that is done (written before the next one starts)."""

    op: Literal["step"] = "step"
    step: str
    new_id: str | None = None
    dependent: Dependent | None = None


class Ended(_Record):
    """The end of a transaction, with its result (see :class:`End`)."""

    op: Literal["end"] = "end"
    result: str
    new_id: str | None = None
    error: str | None = None
    #: A time-boxed change: when (epoch seconds) it is due back.
    revert_at: _Number | None = None


class RevertDropped(_Record):
    """A time-boxed change given up (its container changed outside remediate)."""

    op: Literal["revert-dropped"] = "revert-dropped"
    reason: str | None = None


Record = Annotated[Begin | StepDone | Ended | RevertDropped, Field(discriminator="op")]
_RECORD: TypeAdapter[Record] = TypeAdapter(Record, config=ConfigDict(defer_build=True))
#: Required text whose absence or bad type reads "without ..." (the rest: "with a bad ...").
_REQUIRED = {"container", "old_id", "step", "result"}


class _Envelope(_Model):
    v: Annotated[int, Field(ge=0)] = 0
    tx: _Text
    op: Literal["begin", "step", "end", "revert-dropped"]


def read(value: Any) -> Record:
    """The record a decoded JSON line holds.

    Raises:
        ValueError: it is no record of a shape this version reads; the message is one line saying
            why (see :func:`problem`).
    """
    try:
        return _RECORD.validate_python(value)
    except ValidationError as exc:
        raise ValueError(_why(value, exc)) from None


def problem(value: Any) -> str | None:
    """Why ``value`` is not a journal record this version reads, or None if it is.

    >>> problem({"tx": "a1", "op": "begin"})
    'a begin record without container'
    """
    try:
        read(value)
    except ValueError as exc:
        return str(exc)
    return None


def encode(record: Record) -> bytes:
    """One line of the journal file for ``record``: the keys it was given, the format version,
    sorted."""
    data = {**record.model_dump(mode="json", exclude_unset=True), "op": record.op, "v": VERSION}
    return (json.dumps(data, sort_keys=True) + "\n").encode()


def _why(value: Any, exc: ValidationError) -> str:
    if not isinstance(value, dict):
        return f"not a JSON object ({type(value).__name__})"
    try:
        _Envelope.model_validate(value)
    except ValidationError as bad:
        key = bad.errors()[0]["loc"][0]
        if key == "v":
            return "bad record version"
        if key == "tx":
            return "no transaction id"
        return f"unknown op {str(value.get('op'))[:20]!r}"
    op = str(value["op"])
    error = exc.errors()[0]
    key = str(error["loc"][1]) if len(error["loc"]) > 1 else "?"
    record = f"{'an' if op == 'end' else 'a'} {op} record"
    if key in _REQUIRED:
        return f"{record} without {key}"
    if key in ("files", "dirs"):
        return f"{record} with bad {key}"
    return f"{record} with a bad {key}"
