"""A small HTTP file server answering range requests, as object stores serve COGs to GDAL.

Serves a folder on 127.0.0.1 in a background thread (``GET`` and ``HEAD``, one ``Range:
bytes=a-b`` per request, ``206 Partial Content``), counts the requests and bytes it sends per
file, and injects faults on demand, each a bounded number of times: ``500``, ``429`` with
``Retry-After``, or a connection dropped in the middle of a body. Used by the tests, by
``make demo-stac`` and by ``make bench-acquire``.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RANGE = re.compile(r"bytes=(\d+)-(\d*)$")
FAULTS = ("500", "429", "drop")


@dataclass
class Fault:
    """Answer the next ``count`` requests whose path contains ``match`` with ``kind``."""

    kind: str
    count: int
    match: str = ""
    retry_after_s: int = 1


@dataclass
class ServerLog:
    """What the server sent: requests and body bytes per path, faults injected, and the most
    requests it was answering at once (of :class:`CogServer`)."""

    requests: Counter = field(default_factory=Counter)
    bytes_sent: Counter = field(default_factory=Counter)
    faults: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    most_in_flight: int = 0


class FaultyServer:
    """A threaded HTTP server on 127.0.0.1 with bounded faults on demand, until :meth:`close`
    (a context manager). :meth:`inject` queues faults; ``handler`` (a request handler class
    with a ``server_ref`` attribute) takes one per request with :meth:`take_fault` and answers
    it with :func:`answer_fault` or :func:`drop_midway`. Shared by :class:`CogServer` and the
    STAC API proxy (:mod:`pipeline.demo.stac_proxy`)."""

    def __init__(self, handler: type[BaseHTTPRequestHandler], port: int = 0) -> None:
        self.log = ServerLog()
        self.faults: list[Fault] = []
        # TCP_NODELAY, as web servers and object stores answer: without it the body waited on
        # the client's delayed ACK of the headers (~10 ms a request in `make bench-acquire`)
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), type(
            "Handler", (handler,), {"server_ref": self, "disable_nagle_algorithm": True}))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> FaultyServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def inject(self, kind: str, count: int, match: str = "", retry_after_s: int = 1) -> None:
        """Fail the next ``count`` matching requests with ``kind`` (one of :data:`FAULTS`)."""
        if kind not in FAULTS:
            raise ValueError(f"fault must be one of {FAULTS}; got {kind!r}")
        with self.log.lock:
            self.faults.append(Fault(kind, count, match, retry_after_s))

    def take_fault(self, path: str) -> Fault | None:
        with self.log.lock:
            self.log.requests[path] += 1
            for fault in self.faults:
                if fault.count > 0 and fault.match in path:
                    fault.count -= 1
                    self.log.faults[fault.kind] += 1
                    return fault
        return None


def answer_fault(handler: BaseHTTPRequestHandler, fault: Fault) -> None:
    """Answer a ``500`` or ``429`` fault (with its ``Retry-After``) on ``handler``."""
    status = int(fault.kind)
    handler.send_response(status)
    if status == 429:
        handler.send_header("Retry-After", str(fault.retry_after_s))
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def drop_midway(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    """The ``drop`` fault: half of ``body`` (after full headers), then the connection is gone."""
    handler.wfile.write(body[:len(body) // 2])
    handler.wfile.flush()
    handler.close_connection = True
    handler.connection.close()


class CogServer(FaultyServer):
    """Serve ``root`` at ``http://127.0.0.1:<port>/`` until :meth:`close` (a context manager),
    each answer after ``latency_s`` (an object store's time to first byte; none by default)."""

    def __init__(self, root: Path, port: int = 0, latency_s: float = 0.0) -> None:
        self.root = Path(root)
        self.latency_s = latency_s
        super().__init__(_Handler, port)

    def __enter__(self) -> CogServer:
        return self


class _Handler(BaseHTTPRequestHandler):
    server_ref: CogServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def _serve(self, body: bool) -> None:
        log = self.server_ref.log
        with log.lock:
            log.in_flight += 1
            log.most_in_flight = max(log.most_in_flight, log.in_flight)
        try:
            self._answer(body)
        finally:
            with log.lock:
                log.in_flight -= 1

    def _answer(self, body: bool) -> None:
        server = self.server_ref
        path = server.root / self.path.split("?")[0].lstrip("/")
        fault = server.take_fault(self.path)
        if fault is not None and fault.kind != "drop":
            answer_fault(self, fault)
            return
        if not path.resolve().is_relative_to(server.root.resolve()) or not path.is_file():
            self.send_error(404)
            return
        size = path.stat().st_size
        start, end, status = 0, size - 1, 200
        match = RANGE.match(self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
            status = 206
        time.sleep(server.latency_s)
        with path.open("rb") as file:  # only the range: COGs can be large
            file.seek(start)
            chunk = file.read(max(end + 1 - start, 0))
        self.send_response(status)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(chunk)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            return
        if fault is not None:
            drop_midway(self, chunk)
            return
        self.wfile.write(chunk)
        with server.log.lock:
            server.log.bytes_sent[self.path] += len(chunk)
