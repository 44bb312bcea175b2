"""A journal file's bytes as records, damage included: one JSON object a line
(:mod:`remediate.executor.record`).

Damage is expected (a full disk, a crash mid-write, a hand edit): reading skips every line that
is not a record of the right shape, and says why, without losing the record after it; what is
damaged can be moved aside while the rest is kept as it was, byte for byte (:attr:`Parsed.clean`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from remediate.executor.record import Record, read


@dataclass(frozen=True)
class Parsed:
    """A journal file as read: its records, what was wrong with it, and the file without it."""

    records: list[Record]
    problems: list[str]
    damaged: list[bytes]
    clean: bytes
    size: int


def parse(content: bytes, where: str = "journal") -> Parsed:
    """Read the records of a journal file, skipping (and describing) every damaged line: one that
    is no JSON, JSON of the wrong shape (see :func:`remediate.executor.record.problem`), or a
    torn last record. A record glued to bytes before it on its line (an older writer did not
    start each record on a fresh line) is still read.
    """
    name = where.rsplit("/", 1)[-1]
    records: list[Record] = []
    problems: list[str] = []
    damaged: list[bytes] = []
    clean: list[bytes] = []
    lines = content.split(b"\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        value, start = _decode(line)
        try:
            if value is None:
                raise ValueError("not a journal record")
            records.append(read(value))
        except ValueError as exc:
            damaged.append(line)
            torn = number == len(lines) and value is None
            problems.append(f"{name} line {number}: " + ("torn last record (an interrupted write); "
                                                          "`remediate recover` moves it aside" if torn
                                                          else f"{exc}; skipped"))
            continue
        clean.append(line[start:])
        if start:
            damaged.append(line[:start])
            problems.append(f"{name} line {number}: bytes before a record skipped")
    return Parsed(records, problems, damaged, b"".join(c + b"\n" for c in clean), len(content))


def _decode(line: bytes) -> tuple[Any, int]:
    """The JSON value of a line and where it starts in it (the last ``{`` from which the rest of
    the line is one JSON object); (None, 0) when there is none."""
    try:
        return json.loads(line), 0
    except ValueError:
        pass
    decoder = json.JSONDecoder()
    start = line.rfind(b"{")
    while start > 0:
        try:
            text = line[start:].decode("utf-8")
            value, stop = decoder.raw_decode(text)
            if isinstance(value, dict) and not text[stop:].strip():
                return value, start
        except ValueError:
            pass
        start = line.rfind(b"{", 0, start)
    return None, 0
