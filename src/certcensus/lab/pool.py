"""A load-balanced pool on loopback: one address, several backends, each with its own chain.

This is the situation certcensus exists for (a service whose backends present different chains),
rebuilt in-process for the tests and the demo. The pool picks a backend when the TCP connection
arrives, as an L4 load balancer does, and that backend's certificate chain is what the client
sees. `protocol="smtp"` puts an RFC 3207 STARTTLS dialog in front of the handshake, with knobs to
misbehave so the client's SMTP dialog can be tested against a real peer.

Written by hand because nothing in the stdlib or on PyPI serves *several* chains behind one port
with a controllable choice between them; `asyncio` and `ssl` do all the real work.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import hashlib
import itertools
import random
import ssl
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from certcensus.lab.pki import Issued, write_server_files
from certcensus.lab.pool_smtp import SMTPBehaviour, SMTPConnection, SMTPSession

CHOICES = ("random", "round-robin", "per-address", "source-port", "time-window")
PROTOCOLS = ("tls", "smtp")

# A prober opens hundreds of connections at once; the usual default backlog (100) would drop
# SYNs and turn them into one-second retransmits that look like a slow server.
LISTEN_BACKLOG = 1024


@dataclass
class Backend:
    """One server behind the pool: a leaf and the certificates it sends after it, in wire order."""

    name: str
    leaf: Issued
    chain: list[Issued]
    weight: float = 1.0

    @property
    def wire_ders(self) -> tuple[bytes, ...]:
        """The DER certificates a client receives from this backend, in the order sent."""
        return (self.leaf.der, *(c.der for c in self.chain))


def server_context(backend: Backend, directory: Path, stem: str) -> ssl.SSLContext:
    """An SSLContext that presents `backend`'s chain and lets no client resume a session.

    A resumed handshake carries no Certificate message, so a client that resumed would see no
    chain at all. TLS 1.3 resumes only through tickets: `num_tickets = 0` sends none (with
    OP_NO_TICKET alone, OpenSSL 1.1.1+ switches TLS 1.3 to *stateful* tickets instead).
    TLS 1.2 tickets go with OP_NO_TICKET. The TLS 1.2 session-ID cache cannot be switched off
    from Python (no SSL_CTX_set_session_cache_mode), so the pool never sends close_notify:
    OpenSSL drops a session that was not shut down cleanly from its cache when the connection
    is freed (ssl_clear_bad_session), which CPython does as soon as the connection ends.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.options |= ssl.OP_NO_TICKET
    context.num_tickets = 0
    cert_path, key_path = write_server_files(directory, backend.leaf, backend.chain, stem)
    context.load_cert_chain(cert_path, key_path)
    return context


class PoolServer:
    """Serves `backends` on one address; `served` counts, per backend name, the connections
    handed to it for a TLS handshake (TLS: every accepted connection; SMTP: every STARTTLS 220).

    Choices (all deterministic with `seed`, except time-window, which follows `clock`):
      random        weighted by `Backend.weight`, from a seeded RNG
      round-robin   each backend in turn, weights ignored
      per-address   a stable hash of the client IP, weighted (sticky sessions by source IP)
      source-port   a stable hash of the client port, weighted (ECMP-like 4-tuple hashing)
      time-window   the next backend every `window_seconds` (a rolling deployment)
    """

    def __init__(
        self,
        backends: list[Backend],
        *,
        protocol: str = "tls",
        choice: str = "random",
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int | None = None,
        window_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        handshake_timeout: float = 10.0,
        idle_timeout: float = 10.0,
        smtp_name: str = "pool.certcensus.test",
        smtp_greeting: str | None = None,
        smtp_advertise_starttls: bool = True,
        smtp_starttls_reply: str = "220 2.0.0 Ready to start TLS",
        split_writes: bool = False,
        smtp_backend_names: bool = False,
    ):
        if not backends:
            raise ValueError("a pool needs at least one backend")
        if len({b.name for b in backends}) != len(backends):
            raise ValueError("backend names must be unique")
        for value, allowed in ((protocol, PROTOCOLS), (choice, CHOICES)):
            if value not in allowed:
                raise ValueError(f"unknown {value!r}; expected one of {', '.join(allowed)}")
        if any(b.weight < 0 for b in backends) or sum(b.weight for b in backends) <= 0:
            raise ValueError("weights must be non-negative and not all zero")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.backends = list(backends)
        self.protocol = protocol
        self.choice = choice
        self.host = host
        self.smtp = SMTPBehaviour(
            smtp_name, smtp_greeting, smtp_advertise_starttls, smtp_starttls_reply, split_writes,
            smtp_backend_names,
        )  # fmt: skip
        # Counted before the ServerHello goes out, so it is exact by the time a client has the
        # chain (a "handshakes finished" count would lag: the server finishes after the client).
        self.served: collections.Counter[str] = collections.Counter()
        self._requested_port = port
        self._seed = seed
        self._random = random.Random(seed)
        self._window_seconds = window_seconds
        self._clock = clock
        self._handshake_timeout = handshake_timeout
        self._idle_timeout = idle_timeout
        self._turn = 0
        self._cumulative_weights = list(itertools.accumulate(b.weight for b in backends))
        # Built once: loading a chain per connection would dominate the cost of a handshake.
        # The key files exist only while the contexts load them.
        with tempfile.TemporaryDirectory(prefix="certcensus-pool-") as directory:
            self._contexts = {
                b.name: server_context(b, Path(directory), f"backend-{i}")
                for i, b in enumerate(self.backends)
            }
        self._server: asyncio.AbstractServer | None = None
        self._tasks: set[asyncio.Task] = set()
        self._transports: set[asyncio.Transport] = set()

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        connection = _HeldConnection if self.protocol == "tls" else SMTPConnection
        self._server = await asyncio.get_running_loop().create_server(
            lambda: connection(self), self.host, self._requested_port, backlog=LISTEN_BACKLOG
        )

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        # Connections whose task never got to run its `finally` are still open; Python 3.12+
        # waits for every connection in wait_closed().
        for transport in list(self._transports):
            transport.abort()
        await self._server.wait_closed()
        self._server = None

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("the pool is not started")
        return self._server.sockets[0].getsockname()[:2]  # type: ignore[attr-defined]  # a Server

    @property
    def port(self) -> int:
        return self.address[1]

    # -- choosing a backend -----------------------------------------------------------------

    def choose_backend(self, peer: tuple) -> Backend:
        """The backend for a new connection from `peer` (host, port, ...); advances the state."""
        if self.choice == "round-robin":
            backend = self.backends[self._turn % len(self.backends)]
            self._turn += 1
            return backend
        if self.choice == "time-window":
            window = int(self._clock() // self._window_seconds)
            return self.backends[window % len(self.backends)]
        if self.choice == "random":
            return self._weighted(self._random.random())
        key = peer[0] if self.choice == "per-address" else peer[1]
        return self._weighted(self._stable_fraction(f"{self._seed}|{key}"))

    def _weighted(self, fraction: float) -> Backend:
        """The backend whose slice of [0, total weight) holds `fraction` of the total."""
        index = bisect.bisect_right(
            self._cumulative_weights, fraction * self._cumulative_weights[-1]
        )
        return self.backends[min(index, len(self.backends) - 1)]

    @staticmethod
    def _stable_fraction(key: str) -> float:
        # hashlib, not hash(): str hashes are salted per process, and the mapping must not be.
        return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64

    # -- connections ------------------------------------------------------------------------

    def _track(self, task: asyncio.Task) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_tls(self, transport: asyncio.Transport, protocol: _HeldConnection) -> None:
        backend = self.choose_backend(transport.get_extra_info("peername"))
        try:
            self.served[backend.name] += 1
            await asyncio.get_running_loop().start_tls(
                transport,
                protocol,
                self._contexts[backend.name],
                server_side=True,
                ssl_handshake_timeout=self._handshake_timeout,
            )
            # Hold the connection until the client is done, as a real server would.
            await asyncio.wait_for(protocol.closed, self._idle_timeout)
        except _CLIENT_GONE:
            pass  # resets, bad handshakes and timeouts are the client's business, not ours
        finally:
            transport.abort()  # never a close_notify: see server_context()

    async def _serve_smtp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None  # a connection handler always runs in a task
        self._track(task)
        raw_transport = writer.transport  # the TCP transport, under TLS once STARTTLS is done
        backend = self.choose_backend(writer.get_extra_info("peername"))
        try:
            await SMTPSession(self, backend, reader, writer).run()
            # Closing the TCP transport flushes the last reply (221, 421) and then sends FIN,
            # without a TLS close_notify: see server_context().
            raw_transport.close()
            await asyncio.wait_for(writer.wait_closed(), self._handshake_timeout)
        except _CLIENT_GONE:
            pass
        except asyncio.CancelledError:
            pass  # stop(); re-raising makes Python 3.11's StreamReaderProtocol log a traceback
        finally:
            raw_transport.abort()


# Everything a client can do to a connection that must not become a traceback in our logs.
# ssl.SSLError, ConnectionResetError, BrokenPipeError and TimeoutError are all OSErrors.
_CLIENT_GONE = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, EOFError)


class _HeldConnection(asyncio.Protocol):
    """A TLS-mode connection: stops reading at once, then hands the socket to start_tls.

    Pausing in connection_made is what makes this correct: otherwise the ClientHello could be
    read as plaintext before start_tls takes over the socket, and the handshake would hang.
    """

    def __init__(self, pool: PoolServer):
        self._pool = pool
        self.closed: asyncio.Future = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        transport.pause_reading()
        self._raw_transport = transport
        self._pool._transports.add(transport)
        self._pool._track(asyncio.ensure_future(self._pool._serve_tls(transport, self)))

    def data_received(self, data):
        pass  # after the handshake: whatever the client sends is ignored

    def eof_received(self):
        self.connection_lost(None)  # the client is done; returning False closes our side

    def connection_lost(self, exc):
        self._pool._transports.discard(self._raw_transport)
        if not self.closed.done():
            self.closed.set_result(None)


def _quiet_exception_handler(loop: asyncio.AbstractEventLoop, context: dict) -> None:
    """Drop connection-level errors (clients that reset or vanish); report everything else."""
    if isinstance(context.get("exception"), _CLIENT_GONE):
        return
    loop.default_exception_handler(context)


@contextlib.contextmanager
def running_pool(backends: list[Backend], **options) -> Iterator[PoolServer]:
    """Run a started PoolServer on its own event loop in a daemon thread; stop it on exit."""
    pool = PoolServer(backends, **options)  # contexts load here, so errors surface in the caller
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(_quiet_exception_handler)
    ready = threading.Event()
    start_error: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(pool.start())
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread below
            start_error.append(error)
            return
        finally:
            ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="certcensus-pool", daemon=True)
    thread.start()
    ready.wait()
    if start_error:
        thread.join()
        loop.close()
        raise start_error[0]
    try:
        yield pool
    finally:
        asyncio.run_coroutine_threadsafe(pool.stop(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
