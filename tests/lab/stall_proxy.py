"""A registry that stalls mid-layer: an HTTP proxy on 127.0.0.1 in front of a real registry
(tests/lab/registry.py) that passes the v2 API through, but of a layer blob sends the headers
and the first part of the body, then nothing more while keeping the connection open (or, with
``at="manifest"``, answers a manifest request with nothing at all, not even a header). It says on
stdout what happened, one line each: ``ready PORT``, ``stalled PATH``, and ``closed PATH`` when
the client (the engine) hangs up on a stalled blob (dockerd 20.10 does not within 30 s of its own
client hanging up: its pull goes on).

It runs in the engine's network namespace, as this test's child, stopped by its PID::

    with stalling(engine, reg.address) as proxy:          # reg: a Registry the image was pushed to
        ref = f"{proxy.address}/rt-stall/app:1"          # its pull stalls in the first layer
"""

from __future__ import annotations

import contextlib
import http.client
import http.server
import queue
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.lab.engines import Engine

#: Blobs at least this large are layers: they stall after :data:`SENT` bytes.
LAYER = 64 * 1024
SENT = 16 * 1024
#: Longest a stalled connection is held (a bound: the test is over long before).
HOLD = 600.0
_DROPPED = {"connection", "keep-alive", "transfer-encoding", "content-length"}


def _say(line: str) -> None:
    print(line, flush=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = ""
    at = "layer"

    def do_HEAD(self) -> None:
        self._forward(body=False)

    def do_GET(self) -> None:
        self._forward(body=True)

    def _forward(self, *, body: bool) -> None:
        if self.at == "manifest" and "/manifests/" in self.path:
            _say(f"stalled {self.path}")
            self._hold()
            return
        conn = http.client.HTTPConnection(self.upstream, timeout=30)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for key, value in self.headers.items():  # each one: the engine sends one Accept per manifest type
            if key.lower() not in _DROPPED:
                conn.putheader(key, value)
        conn.endheaders()
        answer = conn.getresponse()
        content = answer.read()
        conn.close()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in _DROPPED:
                self.send_header(key, value)
        length = len(content) if body else int(answer.getheader("Content-Length") or 0)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        if not body:
            return
        if "/blobs/" not in self.path or len(content) < LAYER:
            self.wfile.write(content)
            return
        self.wfile.write(content[:SENT])
        self.wfile.flush()
        _say(f"stalled {self.path}")
        self._hold()

    def _hold(self) -> None:
        """Send nothing more until the client hangs up (or :data:`HOLD` passes)."""
        deadline = time.monotonic() + HOLD
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.2)
            if readable and not self.connection.recv(1024):
                _say(f"closed {self.path}")
                break
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class Proxy:
    """A running stalling proxy: ``address`` is ``127.0.0.1:PORT`` in its engine's namespace."""

    def __init__(self, address: str, said: queue.Queue[str]) -> None:
        self.address = address
        self._said = said
        self.lines: list[str] = []

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The first line the proxy says that starts with ``prefix``, waiting at most ``timeout`` s.

        Raises:
            AssertionError: it said none by then.
        """
        deadline = time.monotonic() + timeout
        for line in self.lines:
            if line.startswith(prefix):
                return line
        while True:
            left = deadline - time.monotonic()
            try:  # what it already said, then what it says until the deadline
                line = self._said.get(timeout=left) if left > 0 else self._said.get_nowait()
            except queue.Empty:
                break
            self.lines.append(line)
            if line.startswith(prefix):
                return line
        raise AssertionError(f"the stalling proxy never said {prefix!r} in {timeout} s: {self.lines}")


@contextlib.contextmanager
def stalling(engine: Engine, upstream: str, at: str = "layer") -> Iterator[Proxy]:
    """Run the proxy in front of the registry at ``upstream`` (``127.0.0.1:PORT``), in
    ``engine``'s network namespace, stalling ``at`` the first layer or the manifest; stopped by
    its PID on exit."""
    from tests.conftest import free_port
    from tests.lab.registry import stop

    port = free_port()
    proc = subprocess.Popen(engine.argv([sys.executable, "-m", "tests.lab.stall_proxy", upstream, str(port), at]),
                            cwd=Path(__file__).resolve().parents[2], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, text=True)
    said: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            said.put(line.strip())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        proxy = Proxy(f"127.0.0.1:{port}", said)
        proxy.wait_for("ready ", 30)
        yield proxy
    finally:
        stop(proc)
        reader.join(timeout=10)  # to the end of its output
        assert proc.stdout is not None
        proc.stdout.close()


def main(upstream: str, port: int, at: str) -> None:
    _Handler.upstream, _Handler.at = upstream, at
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Handler)
    server.daemon_threads = True
    _say(f"ready {port}")
    server.serve_forever()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
