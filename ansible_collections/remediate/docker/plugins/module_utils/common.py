# Copyright: remediate contributors
# MIT License (see LICENSE in the remediate repository)
"""Shared by the remediate.docker modules: importing remediate on the managed host, the engine
to talk to, the library's warnings as module warnings, one-line failures, and secrets masked by
value as Ansible's ``no_log`` masks them."""

from __future__ import annotations

import contextlib
import logging
import socket
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

REMEDIATE_IMPORT_ERROR = None
try:
    import remediate
    from remediate import MASK, is_maskable, is_secret_name, mask_json, masked_parts, redact_text
except ImportError:
    REMEDIATE_IMPORT_ERROR = traceback.format_exc()

#: The argument spec shared by every module (see the ``remediate.docker.engine`` doc fragment).
ENGINE_ARGS = {
    "docker_host": {"type": "str"},
}
#: The arguments of the modules that may pull an image (doc fragment remediate.docker.engine.pull).
PULL_ARGS = {
    "pull_stall": {"type": "float", "default": 60.0},
}


def require_remediate(module):
    """Fail the task with one line when remediate is not importable on the managed host."""
    if REMEDIATE_IMPORT_ERROR is not None:
        module.fail_json(msg=missing_required_lib("remediate", reason="to reach the Docker engine"),
                         exception=REMEDIATE_IMPORT_ERROR)


def engine_target(module):
    """The ``remediate.Target`` of this host's engine: ``docker_host``, else ``DOCKER_HOST``,
    else ``/var/run/docker.sock``; named after the host (its messages start with that name)."""
    return remediate.Target(name=socket.gethostname(), url=module.params["docker_host"] or "local")


class _ToWarnings(logging.Handler):
    def __init__(self, module):
        super().__init__(logging.WARNING)
        self.module = module

    def emit(self, record):
        self.module.warn(redact_text(record.getMessage()))


@contextlib.contextmanager
def library_warnings(module):
    """While the block runs, the library's warnings (e.g. damaged journal lines) become module
    warnings (redacted)."""
    handler = _ToWarnings(module)
    logger = logging.getLogger("remediate")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


def fail_unexpected(module, exc):
    """Fail the task on an error remediate did not expect: one redacted line, the traceback kept
    (redacted too) for ``-vvv``."""
    module.fail_json(msg=f"unexpected error (please report it): {type(exc).__name__}: {redact_text(str(exc))}",
                     exception=redact_text(traceback.format_exc()))


#: A secret shorter than this is masked by this module only, as a whole word (Ansible's own
#: masking replaces every occurrence, inside other words too: a false mask).
_ANSIBLE_MASKS_FROM = 8
#: Shorter parts of a text that redaction masks are not masked elsewhere (too common).
_TRACKED_FROM = 4


class RemediateModule(AnsibleModule):
    """An ``AnsibleModule`` that masks secrets by value, as ``no_log`` does, in everything it
    returns (results, diffs, ``msg``, tracebacks, warnings, the echo of its arguments): every value
    of a secret var (``api_key``, and every value nested under a secret name at any depth), every
    secret-shaped value (the token shapes, URL passwords, ... of ``remediate.core.redaction``) of
    any argument or result, and what :meth:`add_secrets` adds (the values a plan puts in secret
    places). Ordinary values stay readable: a short secret is masked only as a whole word."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._secrets = set()
        if REMEDIATE_IMPORT_ERROR is None:
            self.add_secrets(_secrets_in(self.params))

    def add_secrets(self, values):
        """Mask these values wherever they appear in what the module returns."""
        for value in values:
            text = str(value)
            if not text or not is_maskable(text) or text == MASK:
                continue
            self._secrets.add(text)
            if len(text) >= _ANSIBLE_MASKS_FROM:
                self.no_log_values.add(text)

    def masked(self, data):
        """``data`` (a string or JSON-like data) as it may be shown: its secret shapes found and
        masked, and every secret value masked (see the class)."""
        if REMEDIATE_IMPORT_ERROR is None:
            self.add_secrets(_shapes(data))
            data = mask_json(data, sorted(self._secrets, key=len, reverse=True))
        return data

    def warn(self, warning, *args, **kwargs):
        """A module warning, masked."""
        super().warn(self.masked(str(warning)), *args, **kwargs)

    def exit_json(self, **kwargs):
        """Exit with the result masked."""
        super().exit_json(**self._shown(kwargs))

    def fail_json(self, msg, **kwargs):
        """Fail with the message, result and traceback masked."""
        shown = self._shown(dict(kwargs, msg=str(msg)))
        super().fail_json(shown.pop("msg"), **shown)

    def _shown(self, result):
        result = dict(result)
        result.setdefault("invocation", {"module_args": self.params})
        return self.masked(result)


def _secrets_in(params):
    """The secret values of the module's arguments: every value under a secret name (nested too)
    and every secret-shaped part of any string."""
    found = []

    def walk(value, secret):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, secret or is_secret_name(str(key)))
        elif isinstance(value, (list, tuple)):
            for item in value:
                walk(item, secret)
        elif secret and value is not None and not isinstance(value, bool):
            found.append(str(value))

    walk(params, False)
    return found + _shapes(params)


def _shapes(data):
    """The parts of every string in ``data`` that redaction masks (``glpat-...``, URL passwords,
    the value of ``HF_TOKEN=...``), but for very short ones."""
    if isinstance(data, str):
        return [p for p in masked_parts(data, redact_text(data)) if len(p) >= _TRACKED_FROM]
    if isinstance(data, dict):
        data = list(data.values())
    if isinstance(data, (list, tuple)):
        return [part for item in data for part in _shapes(item)]
    return []
