"""Verification probes: is the container up (and healthy), does it answer HTTP as expected.

Probes reach a container port where the Docker host publishes it: on its loopback (or the
published host IP), or the port itself with host networking. Never a container's bridge address.
"""

from __future__ import annotations

import http.client
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from remediate.core.evidence import body_evidence
from remediate.core.health import health_timing
from remediate.core.live import differing
from remediate.core.playbook import HttpProbe
from remediate.core.results import ProbeResult
from remediate.core.spec import ContainerSpec, spec_from_inspect
from remediate.errors import PlaybookError, RemediateError
from remediate.host.connection import Connection

Json = dict[str, Any]
_log = logging.getLogger(__name__)

#: Seconds a container must stay up after start before it counts as running (crash loops and
#: port clashes show up within it), unless ``REMEDIATE_STABLE_SECONDS`` says otherwise.
MIN_UPTIME = 2.0
_POLL = 0.25


def stable_window() -> float:
    """Seconds a started container must stay up to count as running: ``REMEDIATE_STABLE_SECONDS``
    (0 to 600), default :data:`MIN_UPTIME`.

    Raises:
        PlaybookError: the variable is not a number in that range.
    """
    text = os.environ.get("REMEDIATE_STABLE_SECONDS", "").strip()
    if not text:
        return MIN_UPTIME
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= 600:
        raise PlaybookError(f"REMEDIATE_STABLE_SECONDS={text!r}: not a number of seconds from 0 to 600")
    return value


def where_published(inspect: Mapping[str, Any], port: int) -> tuple[str, int] | None:
    """(host ip, host port) where a container port is reachable from the Docker host, or None."""
    host_config = inspect.get("HostConfig") or {}
    if host_config.get("NetworkMode") == "host":
        return "127.0.0.1", port
    ports = ((inspect.get("NetworkSettings") or {}).get("Ports")) or {}
    for binding in ports.get(f"{port}/tcp") or []:
        ip = binding.get("HostIp") or "0.0.0.0"
        if ":" in ip:  # prefer the IPv4 binding the engine lists first
            continue
        return ("127.0.0.1" if ip == "0.0.0.0" else ip), int(binding["HostPort"])
    return None


def wait_running(conn: Connection, container: str, *, timeout: float, cancel: threading.Event | None = None,
                 clock: Callable[[], float] = time.monotonic) -> ProbeResult:
    """Wait until the container is running, stable for :func:`stable_window`, and healthy if it
    has a healthcheck.

    ``timeout`` bounds the wait, except for a healthcheck that reaches its verdict later (see
    :func:`remediate.core.health.health_timing`): then the wait lasts until that verdict, and the
    result says so. An "unhealthy" verdict fails at once. ``cancel`` (set by an interrupt) ends
    the wait at once with a failed result.
    """
    begin = clock()
    deadline = begin + timeout
    window = stable_window()
    attempts, first_started, up_since = 0, None, None
    evidence, note = "not checked", ""
    while True:
        attempts += 1
        pause = _POLL
        inspect = conn.inspect_container(container)
        state = inspect.get("State") or {}
        if attempts == 1 and state.get("Health"):
            timing = health_timing(inspect, conn.inspect_image(str(inspect.get("Image", ""))))
            needed = timing.verdict_within + window + 1.0 if timing else 0.0
            if timing and needed > timeout:
                deadline = begin + needed
                note = (f" (verification waited up to {needed:g}s, past the {timeout:g}s timeout, for the "
                        f"healthcheck's verdict: {timing.describe()})")
        started = state.get("StartedAt")
        health = (state.get("Health") or {}).get("Status")
        if state.get("Status") != "running" or state.get("Restarting"):
            evidence = f"status {state.get('Status')}, exit code {state.get('ExitCode')}"
            if state.get("Error"):
                evidence += f": {state['Error']}"
            up_since = None
        elif first_started is not None and started != first_started:
            evidence = "restarted during verification"
            up_since = None
        else:
            up_since = up_since or clock()
            evidence = "running" + (f", health {health}" if health else "")
            left = up_since + window - clock()
            if left <= 0 and health in (None, "healthy"):
                return ProbeResult("running", True, evidence + note, attempts)
            if health == "unhealthy":
                # Docker's own verdict, after the healthcheck's retries: waiting longer changes nothing.
                return ProbeResult("running", False, evidence + note, attempts)
            if health is None:
                # Nothing to watch until the window ends: a crash or restart in it still shows
                # then (not running, or another StartedAt), and fails only at the deadline anyway.
                # Fewer inspects leave the engine to the recreates that overlap this window.
                pause = max(left, 0.0)
        first_started = first_started or started
        _log.debug("%s: %s: running: attempt %d: %s", conn.label, container, attempts, evidence)
        if clock() >= deadline or _cancelled(cancel, min(pause, max(deadline - clock(), 0.0))):
            return ProbeResult("running", False, _why(evidence, cancel) + note, attempts)


def still_running(conn: Connection, container: str, started_at: str) -> ProbeResult:
    """One look: the container runs, and has not restarted since ``started_at``."""
    state = conn.inspect_container(container).get("State") or {}
    if state.get("Status") != "running" or state.get("Restarting"):
        return ProbeResult("still running", False, f"status {state.get('Status')}, exit code {state.get('ExitCode')}")
    if state.get("StartedAt") != started_at:
        return ProbeResult("still running", False, "restarted during verification")
    return ProbeResult("still running", True, "running, no restart")


def configured(conn: Connection, container: str, expected: ContainerSpec, *, paused: bool) -> ProbeResult:
    """One look at a container that is not to run: it is paused (``paused``) or not running, and
    its configuration is ``expected`` (the image it runs included, whatever reference it shows)."""
    inspect = conn.inspect_container(container)
    state = inspect.get("State") or {}
    if bool(state.get("Paused")) != paused or (not paused and state.get("Running")):
        return ProbeResult("configured", False, f"status {state.get('Status')}, expected "
                           + ("paused" if paused else "not running"))
    spec = spec_from_inspect(inspect, conn.inspect_image(str(inspect.get("Image", ""))))
    differ = _differences(spec.comparable(), expected.comparable())
    if differ:
        return ProbeResult("configured", False, f"the new container differs from the plan in {', '.join(differ)}")
    return ProbeResult("configured", True, f"{state.get('Status')}, configured as planned")


def _differences(now: Json, want: Json) -> list[str]:
    """The settings (``config.Env``, ``image_id``) of two comparable specs that differ; the image
    reference aside (the same image may show by another reference)."""
    found = []
    for part, value in want.items():
        if part == "image":
            continue
        if isinstance(value, dict):
            other = now.get(part) or {}
            found += [f"{part}.{key}" for key in sorted(set(value) | set(other)) if value.get(key) != other.get(key)]
        elif now.get(part) != value:
            found.append(part)
    return found


def updated(conn: Connection, container: str, values: Mapping[str, Any]) -> ProbeResult:
    """One look: the engine shows ``values`` (``HostConfig`` keys an update in place set)."""
    differ = differing(conn.inspect_container(container).get("HostConfig") or {}, values)
    if differ:
        return ProbeResult("updated", False, f"the engine does not show the new {', '.join(differ)}")
    return ProbeResult("updated", True, f"the engine shows the new {', '.join(values)}")


def started_at(conn: Connection, container: str) -> str:
    """The engine's StartedAt of the container's current run."""
    return str((conn.inspect_container(container).get("State") or {}).get("StartedAt", ""))


def http_probe(conn: Connection, container: str, probe: HttpProbe, *, timeout: float,
               cancel: threading.Event | None = None, clock: Callable[[], float] = time.monotonic) -> ProbeResult:
    """Send the probe's request until it answers as expected, ``timeout`` passes or ``cancel`` is set."""
    name = f"http {probe.method} {probe.path} on port {probe.port}"
    deadline = clock() + timeout
    attempts, evidence = 0, "no attempt"
    while True:
        attempts += 1
        inspect = conn.inspect_container(container)
        published = where_published(inspect, int(probe.port))
        if published is None:
            evidence = f"port {probe.port} is not published on the Docker host"
        else:
            ok, evidence = _request(conn, *published, probe)
            if ok:
                return ProbeResult(name, True, evidence, attempts)
        _log.debug("%s: %s: %s: attempt %d: %s", conn.label, container, name, attempts, evidence)
        if clock() >= deadline or _cancelled(cancel, _POLL):
            return ProbeResult(name, False, _why(evidence, cancel), attempts)


def _cancelled(cancel: threading.Event | None, pause: float) -> bool:
    """Wait ``pause`` seconds before the next attempt; True if ``cancel`` is set meanwhile."""
    if cancel is None:
        time.sleep(pause)
        return False
    return cancel.wait(pause)


def _why(evidence: str, cancel: threading.Event | None) -> str:
    return f"interrupted ({evidence})" if cancel is not None and cancel.is_set() else evidence


def _request(conn: Connection, host: str, port: int, probe: HttpProbe) -> tuple[bool, str]:
    where = f"{host}:{port}{probe.path}"
    reply = host_request(conn, host, port, probe.method, probe.path, body=probe.json_body,
                         headers=probe.headers, timeout=5.0)
    if reply.status is None:
        return False, f"{where}: {reply.error}"
    snippet = body_evidence(reply.body)
    if reply.status != probe.status:
        return False, f"{where}: status {reply.status} (expected {probe.status}): {snippet}"
    if probe.contains is not None and probe.contains not in reply.body:
        return False, f"{where}: status {reply.status} but body lacks {probe.contains!r}: {snippet}"
    return True, f"{where}: status {reply.status}: {snippet}"


@dataclass(frozen=True)
class HttpReply:
    """The answer to :func:`host_request`: ``status`` None (and ``error`` set) when none came."""

    status: int | None
    body: str = ""
    error: str | None = None


def host_request(conn: Connection, host: str, port: int, method: str, path: str, *, body: Any = None,
                 headers: Mapping[str, str] | None = None, timeout: float = 5.0,
                 max_body: int = 64 * 1024) -> HttpReply:
    """One HTTP request to ``host:port`` as the Docker host sees it (tunnelled over SSH for a
    remote host). ``body`` is sent as JSON. Never raises for a failed exchange: the reply says why.

    Example::

        reply = host_request(conn, "127.0.0.1", 8000, "GET", "/health")
        ok = reply.status == 200
    """
    data = None if body is None else json.dumps(body).encode()
    sent = dict(headers or {})
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    client = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        # The socket comes from the connection: direct for a local engine, through SSH otherwise.
        client.sock = conn.open_socket(host, port, timeout=timeout)
        client.request(method, path, body=data, headers=sent)
        response = client.getresponse()
        text = response.read(max_body).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        return HttpReply(None, "", f"{exc.__class__.__name__}: {exc}")
    except RemediateError as exc:
        return HttpReply(None, "", exc.message)
    finally:
        client.close()
    return HttpReply(response.status, text)
