"""Property tests (hypothesis) for the identity parsers: whatever a server sends, they never
raise, never keep more than their limits, and give back what a well-formed message says."""

from __future__ import annotations

import base64
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from certcensus.probe.identity.after_tls import GREETINGS, GreetingAfterTLS
from certcensus.probe.identity.greetings import exchange_encoded_name, greeting_text_identity
from certcensus.probe.identity.http_head import HeadRequest
from certcensus.probe.identity.server_hello import (
    HELLO_RETRY_RANDOM,
    ServerHelloReader,
    ja3s_of,
    server_hello_fingerprint,
)
from certcensus.probe.identity.text import MAX_IDENTITY, bounded

STRIPPED = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}


def assert_clean(text: str | None) -> None:
    if text is None:
        return
    assert 0 < len(text) <= MAX_IDENTITY
    assert text == text.strip() and "  " not in text
    assert not any(unicodedata.category(c) in STRIPPED for c in text)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.one_of(st.binary(max_size=2000), st.text(max_size=2000)))
def test_bounded_is_one_clean_line_of_at_most_255_characters(raw):
    identity = bounded(raw)
    assert_clean(identity.text)
    if identity.text is None:
        assert identity.detail
    if isinstance(raw, str) and raw.isprintable() and raw.strip() == raw and "  " not in raw:
        assert identity.text == (raw[:MAX_IDENTITY].rstrip() or None)


def test_a_cut_at_a_blank_leaves_no_blank():
    # Found by the FTP dialog's property test: a multi-line greeting cut at 255 characters.
    identity = bounded("a" * (MAX_IDENTITY - 1) + " " + "b" * 50)
    assert identity.text == "a" * (MAX_IDENTITY - 1)
    assert identity.detail == "greeting truncated from 305 to 255 characters"


LABEL = st.from_regex(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,20}[A-Za-z0-9])?", fullmatch=True)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(st.lists(LABEL, min_size=2, max_size=5), st.text(max_size=40).filter(lambda t: "[" not in t))
def test_exchange_names_decode_from_anywhere_in_the_greeting(labels, prefix):
    name = ".".join(labels)
    encoded = base64.b64encode(name.encode("utf-16-le"))
    greeting = prefix.encode("utf-8", "replace") + b" [" + encoded + b"]"
    assert exchange_encoded_name(greeting) == name
    assert greeting_text_identity(greeting).text == name[:MAX_IDENTITY]


# --- ServerHello ---------------------------------------------------------------------------


def _extension(kind: int, body: bytes) -> bytes:
    return kind.to_bytes(2, "big") + len(body).to_bytes(2, "big") + body


def _server_hello(version, suite, extensions, random=bytes(32), session_id=b"") -> bytes:
    block = b"".join(_extension(kind, body) for kind, body in extensions)
    body = (
        version.to_bytes(2, "big") + random + bytes([len(session_id)]) + session_id
        + suite.to_bytes(2, "big") + b"\x00" + len(block).to_bytes(2, "big") + block
    )  # fmt: skip
    return b"\x02" + len(body).to_bytes(3, "big") + body


def _records(handshake: bytes, sizes: list[int]) -> bytes:
    out, position = b"", 0
    for size in [*sizes, len(handshake)]:
        fragment = handshake[position : position + max(1, size)]
        if not fragment:
            break
        out += b"\x16\x03\x03" + len(fragment).to_bytes(2, "big") + fragment
        position += len(fragment)
    return out


EXTENSION_TYPES = st.lists(
    st.integers(0, 0xFFFF).filter(lambda t: t != 43), unique=True, max_size=12
)


@settings(max_examples=300, deadline=None)
@given(
    version=st.sampled_from([0x0301, 0x0302, 0x0303, 0x0304]),
    suite=st.integers(0, 0xFFFF),
    types=EXTENSION_TYPES,
    retry=st.booleans(),
    fragments=st.lists(st.integers(1, 64), max_size=6),
    reads=st.lists(st.integers(1, 100), max_size=8),
    trailing=st.binary(max_size=64),
)
def test_server_hello_fingerprint_round_trips_however_fragmented(
    version, suite, types, retry, fragments, reads, trailing
):
    extensions = [(t, bytes(t % 5)) for t in types]
    legacy = min(version, 0x0303)
    if version == 0x0304:
        extensions.append((43, b"\x03\x04"))
    flight = b""
    if retry:
        flight += _records(
            _server_hello(
                0x0303, suite, [(43, b"\x03\x04"), (51, b"\x00\x1d")], HELLO_RETRY_RANDOM
            ),
            [],
        )
        flight += b"\x14\x03\x03\x00\x01\x01"  # middlebox-compatibility change_cipher_spec
    flight += _records(_server_hello(legacy, suite, extensions), fragments) + trailing
    reader = ServerHelloReader()
    position = 0
    for size in [*reads, len(flight)]:
        reader.receive_data(flight[position : position + size])
        position += size
    expected_types = tuple(kind for kind, _ in extensions)
    assert reader.problem == ""
    assert reader.fingerprint == server_hello_fingerprint(version, suite, expected_types, retry)
    assert reader.facts.version == version and reader.facts.cipher_suite == suite
    assert ja3s_of(reader.fingerprint) is not None


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=8))
def test_server_hello_reader_never_raises_on_garbage(chunks):
    reader = ServerHelloReader()
    for chunk in chunks:
        reader.receive_data(chunk)
    if reader.done:
        assert (reader.facts is None) != (reader.problem == "")


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_server_hello_reader_never_raises_on_damaged_hellos(data):
    hello = bytearray(
        _records(_server_hello(0x0303, 0xC02F, [(0xFF01, b"\x00"), (11, b"\x01\x00")]), [])
    )
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(hello) - 1))
        hello[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(hello)))
    reader = ServerHelloReader()
    reader.receive_data(bytes(hello[:cut]))
    reader.receive_data(bytes(hello[cut:]))
    assert reader.facts is None or reader.fingerprint.count("_") == 2


def test_known_fingerprints():
    assert server_hello_fingerprint(0x0304, 0x1302, (43, 51)) == "13_1302_002b-0033"
    assert server_hello_fingerprint(0x0303, 0xC030, (), False) == "12_c030_none"
    assert server_hello_fingerprint(0x0304, 0x1301, (51, 43), True) == "13r_1301_0033-002b"
    # JA3S of TLS 1.3 uses legacy_version 771 (salesforce/ja3: "SSLVersion,Cipher,SSLExtension").
    import hashlib

    assert ja3s_of("13_1302_002b-0033") == hashlib.md5(b"771,4866,43-51").hexdigest()
    assert ja3s_of("12_c030_none") == hashlib.md5(b"771,49200,").hexdigest()
    assert ja3s_of("not a fingerprint") is None


def test_an_alert_instead_of_a_server_hello_is_a_problem_not_an_error():
    reader = ServerHelloReader()
    reader.receive_data(b"\x15\x03\x03\x00\x02\x02\x28")
    assert reader.fingerprint is None and "alert" in reader.problem
    reader = ServerHelloReader()
    reader.receive_data(b"220 mail.example ESMTP\r\n")
    assert reader.fingerprint is None and "record type" in reader.problem


# --- after the handshake -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(GREETINGS)), st.lists(st.binary(max_size=30000), max_size=5))
def test_greeting_reader_never_raises_and_stays_bounded(service, chunks):
    reader = GreetingAfterTLS(service)
    for chunk in chunks:
        reader.receive_data(chunk)
    if reader.done:
        assert_clean(reader.identity.text)
    else:
        assert len(reader._buffer) <= 65536 + 30000


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=20000), max_size=5))
def test_head_request_never_raises_on_any_answer(chunks):
    request = HeadRequest("example.com", 443)
    assert request.initiate().startswith(b"HEAD / HTTP/1.1\r\nHost: example.com\r\n")
    for chunk in [*chunks, b""]:
        request.receive_data(chunk)
    assert request.done
    assert_clean(request.identity.text)


HEADER_VALUE = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)


@settings(deadline=None)  # a shared, loaded machine: no per-example deadline
@given(served_by=HEADER_VALUE, server=HEADER_VALUE, split=st.integers(0, 200))
def test_head_request_reads_the_backend_headers_however_split(served_by, server, split):
    answer = (
        f"HTTP/1.1 204 No Content\r\nServer: {server}\r\nDate: x\r\nX-Served-By: {served_by}\r\n\r\n"
    ).encode()
    request = HeadRequest("example.com", 8443)
    assert b"Host: example.com:8443\r\n" in request.initiate()
    for part in (answer[:split], answer[split:]):
        if part:  # b"" means the server closed
            request.receive_data(part)
    assert request.identity.text == f"X-Served-By: {served_by}; Server: {server}"[:MAX_IDENTITY]
    assert request.identity.detail == "HTTP 204"


# --- the HEAD response parser against h11, the reference -----------------------------------

TOKEN = st.text(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.!#$%&'*+^`|~",
    min_size=1,
    max_size=20,
)
VALUE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=30) | st.builds(
    lambda a, b: f"{a} {b}", HEADER_VALUE, HEADER_VALUE
)
NAMES = (
    st.sampled_from(["Server", "Via", "X-Served-By", "X-Cache", "CF-Ray", "X-BEServer", "Date"])
    | TOKEN
)


def _h11_identity(answer: bytes, chunks: list[int]):
    import h11

    from certcensus.probe.identity.http_head import identity_from_headers

    connection = h11.Connection(h11.CLIENT)
    connection.send(h11.Request(method="HEAD", target="/", headers=[("Host", "example.com")]))
    position = 0
    for size in [*chunks, len(answer)]:
        connection.receive_data(answer[position : position + size])
        position += size
        while (event := connection.next_event()) is not h11.NEED_DATA:
            if isinstance(event, h11.Response):
                return identity_from_headers(event.headers).with_detail(f"HTTP {event.status_code}")
    return None


@settings(max_examples=300, deadline=None)
@given(
    informational=st.lists(st.sampled_from([100, 102, 103]), max_size=2),
    status=st.integers(200, 599),
    reason=st.sampled_from(["", " OK", " Not Found", " x y z"]),
    headers=st.lists(st.tuples(NAMES, VALUE), max_size=10),
    chunks=st.lists(st.integers(1, 50), max_size=6),
    line_end=st.sampled_from([b"\r\n", b"\n"]),
)
def test_head_parser_agrees_with_h11(informational, status, reason, headers, chunks, line_end):
    lines = []
    for code in informational:
        lines += [f"HTTP/1.1 {code} Info".encode(), b""]
    lines.append(f"HTTP/1.1 {status}{reason}".encode())
    lines += [f"{name}: {value}".encode() for name, value in headers]
    lines.append(b"")
    answer = line_end.join(lines) + line_end
    reference = _h11_identity(answer, chunks)
    request = HeadRequest("example.com", 443)
    request.initiate()
    position = 0
    for size in [*chunks, len(answer)]:
        part = answer[position : position + size]
        if part:
            request.receive_data(part)
        position += size
    assert request.identity == reference
