"""Helpers for the trust tests: openssl as the reference verifier, a local AIA server."""

from __future__ import annotations

import http.server
import subprocess
import threading
from pathlib import Path

from certcensus.lab.pki import Issued


def openssl_verifies(
    directory: Path, store: list[Issued], served: list[Issued], at, host: str | None = None
) -> bool:
    """`openssl verify -partial_chain -purpose sslserver -CAfile store.pem -untrusted served.pem
    leaf.pem` passes (with -verify_hostname HOST when a host is given)?"""
    return openssl_verifies_pems(
        directory, [c.pem for c in store], [c.pem for c in served], at, host
    )


def openssl_verify_command(directory: Path, at=None, host: str | None = None) -> list[str]:
    """The reference command, the way the lenient verdict claims to behave."""
    when = ["-attime", str(int(at.timestamp()))] if at is not None else []
    name: list[str] = []
    if host:
        import ipaddress

        try:
            ipaddress.ip_address(host)
            name = ["-verify_ip", host]
        except ValueError:
            name = ["-verify_hostname", host]
    return [
        "openssl", "verify", "-partial_chain", "-purpose", "sslserver", *when, *name,
        "-CAfile", str(directory / "store.pem"), "-untrusted", str(directory / "served.pem"),
        str(directory / "leaf.pem"),
    ]  # fmt: skip


def openssl_verifies_pems(
    directory: Path, ca_pems: list[bytes], served_pems: list[bytes], at=None, host=None
) -> bool:
    """The same with PEM bytes; `at` None judges validity now."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "store.pem").write_bytes(b"".join(ca_pems))
    (directory / "served.pem").write_bytes(b"".join(served_pems))
    (directory / "leaf.pem").write_bytes(served_pems[0])
    result = subprocess.run(
        openssl_verify_command(directory, at, host), capture_output=True, text=True, timeout=30
    )
    return result.returncode == 0


class AIAServer:
    """caIssuers over HTTP on 127.0.0.1: `serve(path, body)` then `url(path)`."""

    def __init__(self):
        self.bodies: dict[str, bytes] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                owner.requests.append(self.path)
                body = owner.bodies.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        # Bound and listening once constructed: no waiting needed before the first request.
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        # (a short poll interval only makes shutdown() quick; requests are served at once)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def serve(self, path: str, body: bytes) -> None:
        self.bodies[path] = body

    def close(self):
        self.server.shutdown()
        self.server.server_close()
