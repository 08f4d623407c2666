"""Probes of TLS servers that misbehave after the handshake (stdlib OpenSSL servers from
tests/badservers.py): whatever follows the handshake, the chain observation is kept and the
identity is null or truncated, with the reason."""

from __future__ import annotations

import contextlib
import socket
import ssl

import pytest

from certcensus.lab.pki import PKI, write_server_files
from certcensus.store import open_store

from .. import badservers


@pytest.fixture(scope="module")
def server_context(tmp_path_factory):
    pki = PKI()
    root = pki.root("After TLS Root")
    leaf = pki.leaf(["after.test", "127.0.0.1"], pki.intermediate("After TLS CA", root))
    certificate, key = write_server_files(tmp_path_factory.mktemp("after-tls"), leaf, [], "leaf")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate, key)
    return context


def after_handshake(context: ssl.SSLContext, then):
    def handler(connection: socket.socket) -> None:
        with context.wrap_socket(connection, server_side=True) as tls:
            then(tls)

    return handler


def keeps_quiet(tls) -> None:
    with contextlib.suppress(OSError):
        while tls.recv(4096):
            pass


def sends(payload: bytes):
    def then(tls) -> None:
        with contextlib.suppress(OSError):
            tls.sendall(payload)
            keeps_quiet(tls)

    return then


def probes_of(cli, db, target: str, *options: str, count: int = 3):
    result = cli(
        "scan", target, "--count", count, "--rate", "0", "--db", db, "--json", "-q", *options
    )
    census = result.json["targets"][0]
    assert result.code == 0 and census["ok"] == count, (result.err, census["error_examples"])
    with open_store(db, read_only=True) as store:
        return [
            (p.server_identity, p.server_identity_detail) for p in store.probes(census["target"])
        ]


def test_http_head_to_a_server_that_never_answers_keeps_the_chain(cli, db, server_context):
    with badservers.serving(after_handshake(server_context, keeps_quiet)) as port:
        probes = probes_of(cli, db, f"https://127.0.0.1:{port}", "--http-head", "--timeout", "1")
    assert set(probes) == {(None, "--http-head: no HTTP answer within 1s after the handshake")}


def test_http_head_reads_a_20kb_head_but_not_one_that_never_ends(cli, db, server_context):
    head = b"HTTP/1.1 200 OK\r\nX-Served-By: web-1\r\nX-Padding: " + b"p" * 20000 + b"\r\n"
    with badservers.serving(after_handshake(server_context, sends(head + b"\r\n"))) as port:
        probes = probes_of(cli, db, f"https://127.0.0.1:{port}", "--http-head")
    assert set(probes) == {("X-Served-By: web-1", "HTTP 200")}
    # Headers that go on and on: h11 stops buffering at 16 KiB of an unfinished head.
    endless = head + b"".join(b"X-More-%d: %s\r\n" % (n, b"m" * 100) for n in range(400))
    with badservers.serving(after_handshake(server_context, sends(endless))) as port:
        probes = probes_of(cli, db, f"https://127.0.0.1:{port}", "--http-head")
    assert set(probes) == {(None, "--http-head: response head longer than 16384 bytes")}


def test_a_10kb_imaps_greeting_is_truncated_to_255_characters(cli, db, server_context):
    greeting = b"* OK " + b"g" * 10240 + b"\r\n"
    with badservers.serving(after_handshake(server_context, sends(greeting))) as port:
        probes = probes_of(cli, db, f"imaps://127.0.0.1:{port}")
    assert set(probes) == {("g" * 255, "greeting truncated from 10240 to 255 characters")}


def test_a_binary_smtps_greeting_is_a_null_identity_with_the_reason(cli, db, server_context):
    with badservers.serving(after_handshake(server_context, sends(b"\x00\xff\x1b[2J\r\n"))) as port:
        probes = probes_of(cli, db, f"smtps://127.0.0.1:{port}")
    ((identity, detail),) = set(probes)
    assert identity is None and detail.startswith("malformed reply line")


def test_control_characters_in_a_pop3s_greeting_are_stripped(cli, db, server_context):
    greeting = b"+OK \x1b]0;title\x07pop\xe2\x80\xae7.example\x00 ready\r\n"
    with badservers.serving(after_handshake(server_context, sends(greeting))) as port:
        probes = probes_of(cli, db, f"pop3s://127.0.0.1:{port}")
    assert set(probes) == {("]0;titlepop7.example ready", "")}
