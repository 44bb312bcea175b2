"""Image references as the engine reads them: distribution's reference grammar, through
docker-image-py (the same rules as ``docker pull``: lowercase repository, a tag of at most 128
characters, a digest of a known form). Pure: no engine, no I/O.
"""

from __future__ import annotations

import fnmatch
import functools
from typing import Any

#: Most characters of a reference shown in an error.
_SHOWN = 120
#: Docker Hub's registry under a name distribution's grammar does not fold into ``docker.io``
#: (the engine's registry config does: ``registry-1.docker.io`` is where Hub's API is served).
_HUB_ALIASES = ("registry-1.docker.io/",)


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


def _named(text: str) -> Any:
    """``text`` parsed as ``docker pull`` reads it, Docker Hub's other names folded into ``docker.io``.

    Raises:
        InvalidReference: not a reference.
    """
    return grammar().Reference.parse_normalized_named(_unaliased(text))


def _pinned(name: str, ref: Any, *, implied: bool) -> str:
    """``name`` with the tag or digest of ``ref`` (with ``implied``: ``latest`` when it has neither)."""
    tag, digest = ref.get("tag"), ref.get("digest")
    if digest:
        return f"{name}@{digest}"
    if tag or implied:
        return f"{name}:{tag or 'latest'}"
    return name


def canonical(text: str) -> str:
    """A valid reference in one spelling: registry and ``library/`` made explicit, the tag
    ``latest`` when none is given (``nginx`` -> ``docker.io/library/nginx:latest``), a digest kept.

    Raises:
        InvalidReference: not a reference.
    """
    ref = _named(text)
    return _pinned(str(ref["name"]), ref, implied=True)


def familiar(text: str) -> str:
    """A reference as ``docker`` shows it: Docker Hub's registry and ``library/`` left out
    (``docker.io/library/nginx:1`` -> ``nginx:1``, ``index.docker.io/vllm/vllm-openai`` ->
    ``vllm/vllm-openai``; another registry's stays); ``text`` itself when it is not a reference."""
    try:
        ref = _named(text)
    except grammar().InvalidReference:
        return text
    return _pinned(_familiar_name(ref), ref, implied=False)


def image_matches(image: str, pattern: str) -> bool:
    """Whether the glob ``pattern`` matches the image reference however either is written: as
    given, familiar (``nginx``) or fully qualified (``docker.io/library/nginx``); no tag means
    ``latest`` on both sides."""
    if fnmatch.fnmatchcase(image, pattern):  # as given: no need to load the grammar
        return True
    forms = _spellings(image)
    domain, remainder = grammar().Reference.split_docker_domain(_unaliased(pattern))
    globs = {pattern, f"{domain}/{remainder}"}
    if not any(ch in pattern for ch in "*?["):
        globs |= _spellings(pattern)
    return any(fnmatch.fnmatchcase(form, glob) for form in forms for glob in globs)


def _unaliased(text: str) -> str:
    for alias in _HUB_ALIASES:
        if text.startswith(alias):
            return "docker.io/" + text[len(alias):]
    return text


def _spellings(text: str) -> set[str]:
    """``text``, its familiar form with the tag ``latest`` implied, and its canonical form (just
    ``text`` when it is not a reference)."""
    try:
        ref = _named(text)
    except grammar().InvalidReference:
        return {text}
    return {text, _pinned(_familiar_name(ref), ref, implied=True), _pinned(str(ref["name"]), ref, implied=True)}


def _familiar_name(ref: Any) -> str:
    # From the name alone: docker-image-py's familiar() fails on a reference with a digest.
    return str(grammar().Reference(name=ref["name"]).familiar_name())


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
