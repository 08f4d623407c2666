"""Reference TLS servers for the agreement tests: `openssl s_server` and `gnutls-serv` on free
loopback ports, serving chains made by the lab PKI, and a blocking driver of the engine."""

from __future__ import annotations

import contextlib
import datetime as dt
import socket
from collections.abc import Iterator
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509 import ocsp

from certcensus.probe.native import ChainCapture, HelloSpec

from ..servers import free_port, require, running


def write_chain(directory: Path, leaf, chain: list, stem: str) -> tuple[Path, Path, Path]:
    """(leaf certificate, leaf key, intermediates) files for s_server's -cert/-key/-cert_chain."""
    cert, key, extra = (
        directory / f"{stem}.crt",
        directory / f"{stem}.key",
        directory / f"{stem}-chain.pem",
    )
    cert.write_bytes(leaf.pem)
    key.write_bytes(leaf.key_pem)
    extra.write_bytes(b"".join(c.pem for c in chain))
    return cert, key, extra


def ed25519_key():
    return ed25519.Ed25519PrivateKey.generate()


@contextlib.contextmanager
def s_server(files: tuple[Path, Path, Path], *options: str) -> Iterator[int]:
    binary = require("openssl")
    port = free_port()
    cert, key, extra = files
    command = [binary, "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(cert), "-key", str(key),
               "-cert_chain", str(extra), "-www", "-no_ticket", *options]  # fmt: skip
    with running(command, port):
        yield port


@contextlib.contextmanager
def gnutls_serv(files: tuple[Path, Path, Path], directory: Path, *options: str) -> Iterator[int]:
    binary = require("gnutls-serv")
    port = free_port()
    cert, key, extra = files
    bundle = directory / "gnutls-bundle.pem"
    bundle.write_bytes(cert.read_bytes() + extra.read_bytes())
    command = [binary, "--port", str(port), "--x509certfile", str(bundle), "--x509keyfile", str(key),
               "--echo", "-q", *options]  # fmt: skip
    with running(command, port):
        yield port


def ocsp_response_der(leaf, issuer) -> bytes:
    """A signed 'good' OCSP response for the leaf, for s_server -status_file."""
    now = dt.datetime.now(dt.UTC)
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=leaf.certificate, issuer=issuer.certificate, algorithm=hashes.SHA256(),
        cert_status=ocsp.OCSPCertStatus.GOOD, this_update=now, next_update=now + dt.timedelta(days=1),
        revocation_time=None, revocation_reason=None,
    ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer.certificate)  # fmt: skip
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def capture_over_socket(port: int, spec: HelloSpec, server_name: str | None = None):
    """The engine driven over a blocking loopback socket: its result (or CaptureError)."""
    capture = ChainCapture(spec, server_name)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(capture.initiate())
        while not capture.done:
            out = capture.receive_data(sock.recv(65536))
            if out:
                sock.sendall(out)
    return capture.result
