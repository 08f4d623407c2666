"""The HTTP side of `exporter` and `watch --metrics-port`: a threaded server with a few routes.

http.server, not a web framework: three GET routes do not justify one, and prometheus_client's
own `start_http_server` serves one registry on every path, where the exporter needs /probe with
its own registry per request and /metrics for itself. Each route returns (status, content
type, body); the exposition itself is always prometheus_client's (`exposition`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

# A query string longer than this is not a scrape (a target name is at most ~260 characters).
MAX_QUERY_BYTES = 4096


@dataclass(frozen=True)
class Request:
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]

    def one(self, name: str) -> str | None:
        """The parameter's value when given once; raises BadRequest when given twice."""
        values = self.query.get(name)
        if not values:
            return None
        if len(values) > 1:
            raise BadRequest(f"parameter {name!r} given {len(values)} times")
        return values[0]


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


class BadRequest(Exception):
    """A request the server will not answer: the message is the one-line reason sent back."""


Route = Callable[[Request], Response]


def text(status: int, message: str) -> Response:
    """A one-line plain-text answer (errors, the index)."""
    return Response(status, "text/plain; charset=utf-8", (message.rstrip("\n") + "\n").encode())


def exposition(registry: Collector, request: Request) -> Response:
    """The registry in the format the scraper asked for (text 0.0.4 or OpenMetrics)."""
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(200, content_type, encode(registry))


class RoutedServer:
    """Serves `routes` (path -> route) on address:port, each request in a thread of its own."""

    def __init__(self, routes: dict[str, Route], address: str = "127.0.0.1", port: int = 0):
        handler = type("Handler", (_Handler,), {"routes": routes})
        self._server = ThreadingHTTPServer((address, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="certcensus-http", daemon=True
        )

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def address(self) -> str:
        return str(self._server.server_address[0])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Route]
    protocol_version = "HTTP/1.1"  # keep-alive: Prometheus reuses its connections

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        parts = urlsplit(self.path)
        route = self.routes.get(parts.path)
        if route is None:
            known = ", ".join(sorted(self.routes))
            self._send(text(404, f"not found: {parts.path} (here: {known})"))
            return
        if len(parts.query) > MAX_QUERY_BYTES:
            self._send(text(414, f"query string longer than {MAX_QUERY_BYTES} bytes"))
            return
        request = Request(parts.path, parse_qs(parts.query, keep_blank_values=True),
                          {k: v for k, v in self.headers.items()})  # fmt: skip
        try:
            response = route(request)
        except BadRequest as error:
            response = text(400, " ".join(str(error).split()))
        self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - scrapes are not news
        pass
