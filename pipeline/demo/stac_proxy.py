"""A fault-injecting HTTP proxy on 127.0.0.1 in front of a STAC API (``rustac serve``).

Forwards ``GET``, ``HEAD`` and ``POST`` to the API and rewrites the API's own address in the
answers to the proxy's, so links (``search``, ``next``) lead back through it. On demand, each a
bounded number of times (see :class:`~pipeline.demo.cog_server.FaultyServer`): ``500``, ``429``
with ``Retry-After``, or an answer cut off in the middle of its body. It records every request
body and the API's JSON answer to it (:attr:`StacProxy.bodies`, :attr:`StacProxy.answers`), so a
test observes on the network what the client sent and what the API sent back; and it can make
the API declare conformance classes it lacks (``declare``) while dropping the body keys it would
mishandle (``ignore``): an API that says it filters and then ignores the filter; or hide classes
it has (``withhold``), so a client takes another path (the query extension, not CQL2).
Used by the tests of :mod:`pipeline.tiles.stac_api`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler

from pipeline.demo.cog_server import FaultyServer, answer_fault, drop_midway

SKIPPED_HEADERS = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
                   "accept-encoding", "date", "server"}
"""Headers not passed on: per connection, recomputed, or set by the proxy itself."""


class StacProxy(FaultyServer):
    """Proxy ``upstream`` (an API root URL) at :attr:`url` until :meth:`close`.

    Args:
        upstream: the API's root, e.g. ``http://127.0.0.1:7822``.
        declare: conformance class URIs added to the landing page and ``/conformance``.
        ignore: JSON body keys removed before a request reaches the API (after recording).
        withhold: conformance classes holding any of these strings are removed from the landing
            page and ``/conformance`` (e.g. ``#filter``).
    """

    def __init__(self, upstream: str, declare: Sequence[str] = (),
                 ignore: Sequence[str] = (), withhold: Sequence[str] = ()) -> None:
        self.upstream = upstream.rstrip("/")
        self.declare = list(declare)
        self.ignore = tuple(ignore)
        self.withhold = tuple(withhold)
        self.bodies: list[tuple[str, dict]] = []
        self.answers: list[tuple[str, dict]] = []
        super().__init__(_ProxyHandler)

    def __enter__(self) -> StacProxy:
        return self

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes | None
                ) -> tuple[int, dict[str, str], bytes]:
        """The API's answer to the request, with its address rewritten to the proxy's."""
        if body:
            payload = json.loads(body)
            self.bodies.append((path, payload))
            body = json.dumps({k: v for k, v in payload.items() if k not in self.ignore}).encode()
        request = urllib.request.Request(self.upstream + path, data=body, method=method,
                                         headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                status, answer, data = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            status, answer, data = exc.code, dict(exc.headers), exc.read()
        data = data.replace(self.upstream.encode(), self.url.encode())
        if body and "json" in answer.get("Content-Type", answer.get("content-type", "")):
            self.answers.append((path, json.loads(data)))
        if (self.declare or self.withhold) \
                and path.split("?")[0].rstrip("/") in ("", "/conformance"):
            document = json.loads(data)
            document["conformsTo"] = [
                *(c for c in document.get("conformsTo", [])
                  if not any(w in c for w in self.withhold)), *self.declare]
            data = json.dumps(document).encode()
        return status, answer, data


class _ProxyHandler(BaseHTTPRequestHandler):
    server_ref: StacProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        self._proxy(body=True)

    def do_HEAD(self) -> None:
        self._proxy(body=False)

    def do_POST(self) -> None:
        self._proxy(body=True)

    def _proxy(self, body: bool) -> None:
        proxy = self.server_ref
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else None
        fault = proxy.take_fault(self.path)
        if fault is not None and fault.kind != "drop":
            answer_fault(self, fault)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in SKIPPED_HEADERS}
        status, answer, data = proxy.forward(self.command, self.path, headers, sent)
        self.send_response(status)
        for key, value in answer.items():
            if key.lower() not in SKIPPED_HEADERS:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if not body:
            return
        if fault is not None:
            drop_midway(self, data)
            return
        self.wfile.write(data)
        with proxy.log.lock:
            proxy.log.bytes_sent[self.path] += len(data)
