"""Image references as the engine reads them: distribution's reference grammar, through
docker-image-py (the same rules as ``docker pull``: lowercase repository, a tag of at most 128
characters, a digest of a known form). Pure: no engine, no I/O.
"""

from __future__ import annotations

import functools
from typing import Any

#: Most characters of a reference shown in an error.
_SHOWN = 120


@functools.cache
def grammar() -> Any:
    """docker-image-py's reference module, imported when a reference is first read (its regex
    grammar takes a while to load, and most runs read none) or the template sandbox is made."""
    from docker_image import reference

    return reference


def check_reference(text: str) -> str:
    """``text`` when it is an image reference a pull accepts: a tag (``vllm/vllm-openai:v0.18.1``,
    no tag: ``latest``) or a digest (``repo@sha256:…``).

    Raises:
        ValueError: not such a reference (one line saying why); an image id (``sha256:…``) is
            refused too: it names an image on one host only, and cannot be pulled.
    """
    shown = repr(text[:_SHOWN])
    if text.startswith("sha256:"):
        raise ValueError(f"{shown} is an image id, not a reference: give a tag (repo:tag) or a digest "
                         "(repo@sha256:...)")
    module = grammar()
    try:
        module.Reference.parse_normalized_named(text)
    except module.InvalidReference as exc:
        reason = " ".join(str(exc).split()) or "invalid reference format"
        if text and text in reason:  # shown once, at the start
            reason = reason.replace(text, "…")
        raise ValueError(f"{shown} is not an image reference: {reason}") from None
    return text


def repository(text: str) -> str:
    """The repository of a reference as written, without its tag or digest
    (``localhost:5000/vllm:v1`` -> ``localhost:5000/vllm``); the jinja2 filter ``image_repo``.

    Raises:
        ValueError: not an image reference (see :func:`check_reference`).
    """
    return str(grammar().Reference.parse(check_reference(text))["name"])


def canonical(text: str) -> str:
    """A valid reference in one spelling: registry and ``library/`` made explicit, the tag
    ``latest`` when none is given (``nginx`` -> ``docker.io/library/nginx:latest``), a digest kept."""
    ref = grammar().Reference.parse_normalized_named(text)
    name, tag, digest = str(ref["name"]), ref.get("tag"), ref.get("digest")
    if digest:
        return f"{name}@{digest}"
    return f"{name}:{tag or 'latest'}"


def same_reference(a: str, b: str) -> bool:
    """Whether two references name the same thing however written (``nginx`` and
    ``docker.io/library/nginx:latest``); False when either is not a valid reference."""
    try:
        return canonical(a) == canonical(b)
    except grammar().InvalidReference:
        return False


def registry(text: str) -> str:
    """The registry a reference is pulled from (``nginx`` -> ``docker.io``,
    ``localhost:5000/app:1`` -> ``localhost:5000``); the reference itself when it is not one."""
    module = grammar()
    try:
        return str(module.Reference.parse_normalized_named(text).domain())
    except module.InvalidReference:
        return text
