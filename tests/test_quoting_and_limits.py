"""What a server sent is quoted as escaped bytes, and a chain past OpenSSL's certificate-list
limit is its own outcome, as `openssl s_client` (the reference) also refuses it; both handshake
engines say the same."""

from __future__ import annotations

import socket
import subprocess

import pytest

from certcensus.model.outcomes import OPENSSL_MAX_CERT_LIST
from certcensus.probe.dialogs.base import printable, quoted

from . import badservers
from .engines import cli  # noqa: F401 (each probing test runs once per handshake engine)
from .servers import free_port, require, running

# A SOCKS5 proxy refusing every authentication method: two bytes, neither text nor TLS.
SOCKS5_NO_METHODS = b"\x05\xff"
# A MariaDB greeting (protocol 10, then the version): what an SMTP probe of port 3306 meets.
MARIADB_GREETING = b"J\x00\x00\x00\x0a5.5.5-10.11.6-MariaDB-0+deb12u1\x00\x08\x00\x00\x00\xb7\xe2"


def _answers_client_hello_with(data: bytes):
    def handler(connection: socket.socket) -> None:
        connection.recv(4096)
        connection.sendall(data)
        connection.close()

    return handler


def _speaks_first(data: bytes):
    def handler(connection: socket.socket) -> None:
        connection.sendall(data)
        connection.recv(4096)
        connection.close()

    return handler


def _census(cli, db, port, *args):
    result = cli("scan", f"127.0.0.1:{port}", "--count", 1, "--rate", "0", "--timeout", "5",
                 "--db", db, "--json", *args)  # fmt: skip
    return result, result.json["targets"][0]


def test_bytes_from_a_server_that_is_not_tls_are_quoted_as_escapes(cli, db):
    with badservers.serving(_answers_client_hello_with(SOCKS5_NO_METHODS)) as port:
        result, census = _census(cli, db, port, "--starttls", "none")
    assert census["errors"] == {"not-tls": 1}
    detail = census["error_examples"]["not-tls"]
    assert detail == "server sent '\\x05\\xff' instead of TLS"
    assert "\ufffd" not in result.out


def test_a_binary_greeting_in_a_starttls_dialog_is_quoted_as_escapes(cli, db):
    with badservers.serving(_speaks_first(MARIADB_GREETING)) as port:
        result, census = _census(cli, db, port, "--starttls", "smtp")
    assert census["errors"] == {"protocol-error": 1}
    assert census["error_examples"]["protocol-error"] == (
        "malformed reply line: 'J\\x00\\x00\\x00'"  # the MariaDB packet header, recognisable
    )


def test_printable_keeps_text_and_escapes_everything_else():
    assert printable(b"\x16\x03\x01\x02\x00\x01") == "\\x16\\x03\\x01\\x02\\x00\\x01"
    assert printable(b"220 ready\r\n") == "220 ready\\r\\n"
    assert printable("Grüße".encode()) == "Grüße"  # UTF-8 stays readable
    assert printable(b"caf\xe9 \\") == "caf\\xe9 \\\\"  # a stray byte and a backslash
    assert printable(b"\xff" * 100, 11) == "\\xff\\xff..."  # cut between escapes
    assert quoted(b"\x00") == "'\\x00'"


# -- chains past the certificate-list limit ------------------------------------------------------


def _leaf_of_about(pki, size: int):
    """A leaf (and its issuing root) whose DER is about `size` bytes: long SAN lists make it."""
    root = pki.root("Large Chain Test Root", key_type="ec256")
    names = [f"host-{number:05}.large-chain.test" for number in range(size // 33)]
    return pki.leaf(names, root, key_type="ec256"), root


def _s_server(tmp_path, leaf, port):
    (tmp_path / "leaf.pem").write_bytes(leaf.pem)
    (tmp_path / "leaf.key").write_bytes(leaf.key_pem)
    return [require("openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-cert", "leaf.pem",
            "-key", "leaf.key", "-quiet", "-no_ticket"]  # fmt: skip


@pytest.mark.server
@pytest.mark.parametrize(
    "size, outcome",
    [(OPENSSL_MAX_CERT_LIST - 20 * 1024, "ok"), (OPENSSL_MAX_CERT_LIST + 20 * 1024, "too large")],
)
def test_a_chain_past_openssls_limit_is_chain_too_large_as_s_client_says(
    cli, db, pki, tmp_path, size, outcome
):
    leaf, _ = _leaf_of_about(pki, size)
    port = free_port()
    with running(_s_server(tmp_path, leaf, port), port, cwd=tmp_path):
        result, census = _census(cli, db, port, "--starttls", "none")
        reference = subprocess.run(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"],
            input=b"",
            capture_output=True,
            timeout=30,
        )
    refused_by_openssl = b"excessive message size" in reference.stdout + reference.stderr
    if outcome == "ok":
        assert census["ok"] == 1, census["error_examples"]
        assert not refused_by_openssl
        return
    assert refused_by_openssl  # the reference client refuses the same chain
    assert result.code == 1
    assert census["errors"] == {"chain-too-large": 1}
    detail = census["error_examples"]["chain-too-large"]
    assert f"limit of {OPENSSL_MAX_CERT_LIST} bytes (100 KiB)" in detail
