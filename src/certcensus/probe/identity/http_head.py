"""`--http-head`: after the handshake, `HEAD / HTTP/1.1` and the headers that name a backend.

HTTP/1.1 is h11's (sans-IO, bounded): we send one request and read one response head. The
identity is the headers below that the response carries, most specific first, as
`Name: value; Name: value`. Two of them change per request and are reduced to what names the
machine: CF-Ray (`8a1b2c3d4e5f6789-FRA`) to its point of presence (`CF-Ray POP: FRA`), and
X-Cache to its `from ...` parts without the hit/miss word (`Miss from cloudfront` -> `from
cloudfront`; a bare `HIT` names nothing and is left out).
"""

from __future__ import annotations

from collections.abc import Sequence

import h11

from certcensus.probe.identity.text import ServerIdentity, bounded

# Headers that name the machine that answered, most specific first: explicit backend names
# (Varnish/Fastly X-Served-By, X-Backend-Server, Exchange's X-BEServer, X-FEServer and
# X-CalculatedBETarget), then CDN points of presence, caches, proxies, and the software.
IDENTITY_HEADERS = (
    "X-Served-By", "X-Backend-Server", "X-BEServer", "X-FEServer", "X-CalculatedBETarget",
    "CF-Ray", "X-Amz-Cf-Pop", "X-Cache", "Via", "Server",
)  # fmt: skip
# The response head (status line and headers) may take this much: h11's own default, 16 KiB,
# which is also what nginx (large_client_header_buffers: 4 x 8k) and IIS (16 KiB) allow.
MAX_RESPONSE_HEAD = 16 * 1024
USER_AGENT = "certcensus (backend attribution)"
# RFC 9112 section 4: a response starts with its status line, `HTTP/1.1 200 OK`. A server that
# sends anything else first (an IMAP greeting, TLS-wrapped SSH) is not HTTP: say so at once
# rather than wait for a blank line that will never come.
STATUS_LINE_START = b"HTTP/"


def request_host(host: str, port: int) -> str:
    """The Host header (RFC 9110 section 7.2): the port only when not 443, IPv6 in brackets."""
    name = f"[{host}]" if ":" in host else host
    return name if port == 443 else f"{name}:{port}"


def _reduced(name: str, value: str) -> str | None:
    if name.lower() == "cf-ray":
        pop = value.rpartition("-")[2]
        return pop.upper() if pop and pop != value else None
    if name.lower() == "x-cache":
        kept = []
        for part in value.split(","):
            words = part.split()
            lowered = [word.lower() for word in words]
            if "from" in lowered:
                kept.append(" ".join(words[lowered.index("from") :]))
            elif len(words) > 1:
                kept.append(part.strip())
        return ", ".join(kept) or None
    return value


def identity_from_headers(
    headers: Sequence[tuple[bytes, bytes]], extra: Sequence[str] = ()
) -> ServerIdentity:
    """The `Name: value; ...` identity of a response's headers (`extra`: --identity-header)."""
    values: dict[str, list[str]] = {}
    for raw_name, raw_value in headers:
        values.setdefault(raw_name.decode("ascii", "replace").lower(), []).append(
            raw_value.decode("utf-8", "backslashreplace")
        )
    parts = []
    wanted = list(dict.fromkeys([*extra, *IDENTITY_HEADERS]))
    for name in wanted:
        if name.lower() not in values:
            continue
        value = _reduced(name, ", ".join(values[name.lower()]))
        if value:
            label = "CF-Ray POP" if name.lower() == "cf-ray" else name
            parts.append(f"{label}: {value}")
    if not parts:
        return ServerIdentity(None, "HTTP response carries no header that names a backend")
    return bounded("; ".join(parts), "identity headers")


class HeadRequest:
    """`HEAD /` out, response headers in, `identity` once the response head is whole."""

    def __init__(self, host: str, port: int, extra_headers: Sequence[str] = ()):
        self._connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)
        self._host = request_host(host, port)
        self._extra = tuple(extra_headers)
        self._start = b""
        self.identity: ServerIdentity | None = None

    @property
    def done(self) -> bool:
        return self.identity is not None

    def initiate(self) -> bytes:
        request = h11.Request(
            method="HEAD",
            target="/",
            headers=[("Host", self._host), ("User-Agent", USER_AGENT), ("Connection", "close")],
        )
        return self._connection.send(request) or b""

    def receive_data(self, data: bytes) -> None:
        if self.done:
            return
        if data and len(self._start) < len(STATUS_LINE_START):
            self._start += data[: len(STATUS_LINE_START) - len(self._start)]
            if not STATUS_LINE_START.startswith(self._start):
                said = bounded(repr(data[:60])[2:-1], "answer").text
                self.identity = ServerIdentity(None, f"--http-head: not an HTTP answer: {said}")
                return
        try:
            self._connection.receive_data(data)
            while True:
                event = self._connection.next_event()
                if event is h11.NEED_DATA:
                    return
                if isinstance(event, h11.Response):
                    identity = identity_from_headers(event.headers, self._extra)
                    self.identity = identity.with_detail(f"HTTP {event.status_code}")
                    return
                if isinstance(event, h11.ConnectionClosed) or event is h11.PAUSED:
                    self.identity = ServerIdentity(None, "--http-head: closed without answering")
                    return
                # InformationalResponse (1xx): the real answer follows.
        except h11.RemoteProtocolError as error:
            if not data:
                why = "closed without answering" if not self._start else "closed mid-answer"
            elif "too long" in str(error):
                why = f"response head longer than {MAX_RESPONSE_HEAD} bytes"
            else:
                why = "not an HTTP answer: " + (bounded(str(error), "error").text or "malformed")
            self.identity = ServerIdentity(None, f"--http-head: {why}")

    def gave_up(self, why: str) -> ServerIdentity:
        if self.identity is None:
            self.identity = ServerIdentity(None, f"--http-head: {why}")
        return self.identity
