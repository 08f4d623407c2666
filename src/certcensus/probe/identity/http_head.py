"""`--http-head`: after the handshake, `HEAD / HTTP/1.1` and the headers that name a backend.

We send one request and read one response head: the status line and the field lines up to the
empty line (RFC 9112 sections 2.1, 4, 5). That much HTTP is written here rather than taken from
h11, the sans-IO HTTP/1.1 library this module was first built on: h11 cost ~95 us of CPU per
probe (building and validating the request, then parsing the response head), a tenth of a whole
probe and so the whole budget backend attribution has (issue 13: under 10% of probes/s); this
parser costs ~10 us. h11 stays the reference: tests/identity/ feeds both the same responses.

The identity is the headers below that the response carries, most specific first, as
`Name: value; Name: value`. Two of them change per request and are reduced to what names the
machine: CF-Ray (`8a1b2c3d4e5f6789-FRA`) to its point of presence (`CF-Ray POP: FRA`), and
X-Cache to its `from ...` parts without the hit/miss word (`Miss from cloudfront` -> `from
cloudfront`; a bare `HIT` names nothing and is left out).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from certcensus.probe.identity.text import ServerIdentity, bounded

# Headers that name the machine that answered, most specific first: explicit backend names
# (Varnish/Fastly X-Served-By, X-Backend-Server, Exchange's X-BEServer, X-FEServer and
# X-CalculatedBETarget), then CDN points of presence, caches, proxies, and the software.
IDENTITY_HEADERS = (
    "X-Served-By", "X-Backend-Server", "X-BEServer", "X-FEServer", "X-CalculatedBETarget",
    "CF-Ray", "X-Amz-Cf-Pop", "X-Cache", "Via", "Server",
)  # fmt: skip
# The response head (status line and headers) may take this much: h11's default, 16 KiB, which
# is also what nginx (large_client_header_buffers: 4 x 8k) and IIS (16 KiB) allow a request.
MAX_RESPONSE_HEAD = 16 * 1024
USER_AGENT = "certcensus (backend attribution)"
# RFC 9112 section 4: a response starts with its status line, `HTTP/1.1 200 OK`. A server that
# sends anything else first (an IMAP greeting, TLS-wrapped SSH) is not HTTP: say so at once
# rather than wait for a blank line that will never come.
STATUS_LINE_START = b"HTTP/"
# RFC 9112 section 4: status-line = HTTP-version SP status-code SP [ reason-phrase ]; the SP
# before an empty reason is often left out, and is accepted (as h11 does).
_STATUS_LINE = re.compile(rb"HTTP/\d\.\d (\d{3})(?: [^\r\n]*)?")
# RFC 9110 section 5.6.2: a field name is a token; RFC 9112 section 5: `name ":" OWS value OWS`.
_FIELD_LINE = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*(.*?)[ \t]*")


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


class _NotHTTP(Exception):
    pass


def _end_of_head(buffer: bytearray) -> int:
    """The index just past the empty line that ends a head, or -1. RFC 9112 section 2.2 lets a
    recipient take a bare LF for CRLF, so `\n\n` and `\n\r\n` both end it."""
    ends = [i for i in (buffer.find(b"\n\r\n"), buffer.find(b"\n\n")) if i >= 0]
    if not ends:
        return -1
    end = min(ends)
    return end + (3 if buffer[end + 1 : end + 2] == b"\r" else 2)


def parse_response_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """(status code, [(lower-case name, value)]) of one response head, empty line included."""
    lines = head.split(b"\n")
    status = _STATUS_LINE.fullmatch(lines[0].rstrip(b"\r"))
    if status is None:
        raise _NotHTTP(f"illegal status line: {bounded(lines[0], 'line').text}")
    fields: list[tuple[bytes, bytes]] = []
    for raw in lines[1:]:
        line = raw.rstrip(b"\r")
        if not line:
            break
        if line[:1] in (b" ", b"\t") and fields:
            # RFC 9112 section 5.2: obs-fold, replaced by a space as the RFC allows.
            name, value = fields[-1]
            fields[-1] = (name, (value + b" " + line.strip(b" \t")).strip())
            continue
        field = _FIELD_LINE.fullmatch(line)
        if field is None:
            raise _NotHTTP(f"illegal header line: {bounded(line, 'line').text}")
        fields.append((field.group(1).lower(), field.group(2)))
    return int(status.group(1)), fields


class HeadRequest:
    """`HEAD /` out, response headers in, `identity` once the response head is whole."""

    def __init__(self, host: str, port: int, extra_headers: Sequence[str] = ()):
        self._host = request_host(host, port)
        self._extra = tuple(extra_headers)
        self._buffer = bytearray()
        self.identity: ServerIdentity | None = None

    @property
    def done(self) -> bool:
        return self.identity is not None

    def initiate(self) -> bytes:
        # RFC 9112 section 3: request-line, then Host (required in HTTP/1.1, RFC 9110 7.2).
        return (
            f"HEAD / HTTP/1.1\r\nHost: {self._host}\r\nUser-Agent: {USER_AGENT}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("ascii", "replace")

    def receive_data(self, data: bytes) -> None:
        if self.done:
            return
        if not data:
            said = "closed mid-answer" if self._buffer else "closed without answering"
            self.identity = ServerIdentity(None, f"--http-head: {said}")
            return
        self._buffer += data
        start = bytes(self._buffer[: len(STATUS_LINE_START)])
        if not STATUS_LINE_START.startswith(start):
            said = bounded(repr(bytes(self._buffer[:60]))[2:-1], "answer").text or "?"
            self.identity = ServerIdentity(None, f"--http-head: not an HTTP answer: {said}")
            return
        try:
            while not self.done:
                end = _end_of_head(self._buffer)
                if end < 0:
                    if len(self._buffer) > MAX_RESPONSE_HEAD:
                        why = f"response head longer than {MAX_RESPONSE_HEAD} bytes"
                        self.identity = ServerIdentity(None, f"--http-head: {why}")
                    return
                head = bytes(self._buffer[:end])
                del self._buffer[:end]
                status, fields = parse_response_head(head)
                if 100 <= status < 200:
                    continue  # RFC 9110 section 15.2: informational; the real answer follows
                identity = identity_from_headers(fields, self._extra)
                self.identity = identity.with_detail(f"HTTP {status}")
        except _NotHTTP as error:
            self.identity = ServerIdentity(None, f"--http-head: not an HTTP answer: {error}")

    def gave_up(self, why: str) -> ServerIdentity:
        if self.identity is None:
            self.identity = ServerIdentity(None, f"--http-head: {why}")
        return self.identity
