"""An HTTP body as evidence: a JSON answer whole (compact), other text on one line, cut visibly."""

from __future__ import annotations

import json

#: A JSON answer up to this many characters (compact) is shown whole: never cut mid-document.
JSON_WHOLE = 8192


def body_evidence(body: str, limit: int = 200) -> str:
    """``body`` on one line for a check's evidence: a JSON document whole and compact (up to
    :data:`JSON_WHOLE` characters), anything else whitespace-collapsed and cut at ``limit``
    characters; a cut says how much is left out.

    Example::

        body_evidence('{"detail": "Not Found"}')  # '{"detail":"Not Found"}'
    """
    text = " ".join(body.split())
    try:
        compact = json.dumps(json.loads(body), separators=(",", ":"), ensure_ascii=False)
    except ValueError:
        compact = None
    if compact is not None and len(compact) <= JSON_WHOLE:
        return compact
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters not shown)"
