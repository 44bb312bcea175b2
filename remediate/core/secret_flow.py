"""Which values of a plan are secret, wherever they flow: the values of secret vars, and every
value the plan holds in a secret place (a secret env var, label, flag, log option, an env var set
from a host file and the value it replaces) or in a secret shape, whatever var it was rendered from. ``env: {HF_TOKEN: "{{ hub_value }}"}`` makes the value
of ``hub_value`` secret in the vars, the verify lines, the file diffs, the messages and the logs.

A reviewed plan shows those values masked, so it also carries a digest of what was masked
(:func:`secrets_digest`): a secret changed since the review changes the digest, and a saved plan
refuses it as drift without ever holding the value. Pure: no engine, no I/O.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Sequence

from remediate.core.planner import ContainerPlan, Plan
from remediate.core.redaction import MASK, is_maskable, secret_values
from remediate.core.runview import Redactor, run_view
from remediate.core.spec import ContainerSpec

#: A masked part shorter than this is not tracked elsewhere: it would mask ordinary short words.
_MIN_TRACKED = 4
#: PBKDF2 rounds of :func:`secrets_digest`: a saved plan's digest is slow to guess a secret from.
_DIGEST_ROUNDS = 100_000


def masked_parts(original: str, shown: str) -> list[str]:
    """The parts of ``original`` that ``shown`` (its redacted form) replaced by :data:`MASK`.

    >>> masked_parts("HF_TOKEN=hf_abc --x", "HF_TOKEN=*** --x")
    ['hf_abc']
    """
    pieces = shown.split(MASK)
    if len(pieces) == 1 or original == shown:
        return []
    found = re.fullmatch("(.*?)".join(re.escape(p) for p in pieces), original, re.DOTALL)
    return [part for part in found.groups() if part] if found else []


class _Recorder(Redactor):
    """A redaction that keeps what it masked: one rendering of a spec tells its secrets."""

    def __init__(self) -> None:
        self.masked: list[str] = []

    def value(self, name: str, value: str) -> str:
        return self._seen(value, super().value(name, value))

    def args(self, args: Sequence[str]) -> list[str]:
        shown = super().args(args)
        for original, redacted in zip(args, shown, strict=True):
            self._seen(original, redacted)
        return shown

    def text(self, text: str) -> str:
        return self._seen(text, super().text(text))

    def _seen(self, original: str, shown: str) -> str:
        self.masked += masked_parts(original, shown)
        return shown


def _masked(spec: ContainerSpec) -> list[str]:
    recorder = _Recorder()
    run_view(spec, redact=recorder)
    return recorder.masked


def spec_secrets(spec: ContainerSpec) -> list[str]:
    """The values a spec holds in secret places or shapes (what its shown ``docker run`` masks)
    that are worth masking elsewhere: not very short, not ``true``/``false``-like."""
    return [part for part in _masked(spec) if len(part) >= _MIN_TRACKED and is_maskable(part)]


def plan_secrets(plan: Plan) -> list[str]:
    """Every value to mask wherever it appears in the plan's outputs, longest first: the values of
    the secret vars (:func:`remediate.core.redaction.secret_values`) and of the secret places of
    each container before and after."""
    found = set(secret_values(plan.vars))
    for cp in plan.containers:
        found.update(spec_secrets(cp.before))
        if cp.after != cp.before:  # a container the plan leaves alone holds nothing new
            found.update(spec_secrets(cp.after))
        found.update(v for v in _from_files(cp) if is_maskable(v))
    return sorted(found, key=len, reverse=True)


def _from_files(cp: ContainerPlan) -> list[str]:
    """The values of the env vars a plan sets from host files, and those they replace (secret
    whatever their name)."""
    return [value for spec in (cp.before, cp.after) for name, value in spec.env.items()
            if name in cp.secret_env and value]


def secrets_digest(cp: ContainerPlan, secrets: Sequence[str]) -> str | None:
    """A digest of what the shown plan of ``cp`` masks (None when it masks nothing): the values in
    its new spec's secret places, its files' contents and its verify steps, salted by the
    container's id and fingerprint. Equal digests: the same secrets as when it was shown."""
    after = _masked(cp.after) + [str(cp.after.env.get(name) or "") for name in cp.secret_env]
    if not after and not secrets:
        return None
    payload = json.dumps({"after": after, "files": [hashlib.sha256(f.content).hexdigest() for f in cp.files],
                          "verify": [p.model_dump_json(by_alias=True) for p in cp.verify]}, sort_keys=True)
    return _slow_hash(hashlib.sha256(payload.encode()).digest(), f"{cp.id}/{cp.fingerprint}".encode())


@functools.lru_cache(maxsize=256)
def _slow_hash(data: bytes, salt: bytes) -> str:
    return hashlib.pbkdf2_hmac("sha256", data, salt, _DIGEST_ROUNDS).hex()[:32]
