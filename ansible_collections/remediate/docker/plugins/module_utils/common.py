# Copyright: remediate contributors
# MIT License (see LICENSE in the remediate repository)
"""Shared by the remediate.docker modules: importing remediate on the managed host, the engine
to talk to, the library's warnings as module warnings, and one-line failures."""

from __future__ import annotations

import contextlib
import logging
import socket
import traceback

from ansible.module_utils.basic import missing_required_lib

REMEDIATE_IMPORT_ERROR = None
try:
    import remediate
    from remediate import redact_text
except ImportError:
    REMEDIATE_IMPORT_ERROR = traceback.format_exc()

#: The argument spec shared by every module (see the ``remediate.docker.engine`` doc fragment).
ENGINE_ARGS = {
    "docker_host": {"type": "str"},
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
