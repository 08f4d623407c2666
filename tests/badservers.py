"""Servers that misbehave on purpose, each on its own loopback port in a thread."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def serving(handler: Callable[[socket.socket], None], host: str = "127.0.0.1") -> Iterator[int]:
    """Accept connections and hand each to `handler` in a thread; yield the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    listener.listen(128)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            held.append(connection)
            threading.Thread(target=_guarded, args=(handler, connection), daemon=True).start()

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        for connection in held:
            with contextlib.suppress(OSError):
                connection.close()


def _guarded(handler, connection) -> None:
    with contextlib.suppress(OSError):
        handler(connection)


def silent(connection: socket.socket) -> None:
    """Accept and never speak; hold the connection until the client gives up."""
    with contextlib.suppress(OSError):
        while connection.recv(4096):
            pass


def speaks_http(connection: socket.socket) -> None:
    connection.recv(4096)
    connection.sendall(
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    connection.close()


def banner_first(connection: socket.socket) -> None:
    """A plaintext SMTP server, probed as if it were implicit TLS."""
    connection.sendall(b"220 mail.example.test ESMTP ready\r\n")
    connection.recv(4096)
    connection.close()


def closes_at_once(connection: socket.socket) -> None:
    connection.close()


def resets_after_client_hello(connection: socket.socket) -> None:
    connection.recv(4096)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()


def sends_tls_alert(connection: socket.socket) -> None:
    """Answer the ClientHello with a fatal handshake_failure alert (RFC 8446 section 6)."""
    connection.recv(4096)
    connection.sendall(b"\x15\x03\x03\x00\x02\x02\x28")
    connection.close()


def babbles(connection: socket.socket) -> None:
    """Speaks first, but not SMTP: what a client meets when a port runs something else."""
    connection.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    connection.recv(4096)
    connection.close()
