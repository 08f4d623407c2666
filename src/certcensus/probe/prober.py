"""One probe: a fresh TCP connection, the STARTTLS dialog if any, a TLS handshake, the chain.

The prober owns the socket and the clock; dialogs are pure state machines it drives. TLS runs on
an `ssl.SSLObject` over memory BIOs that this module feeds from the socket, rather than on
asyncio's SSL transport, for three reasons: each phase gets its own timeout and duration, the
protocols that carry TLS inside their own framing (MSSQL's TDS) use the same code, and it is
markedly cheaper per connection, which matters at thousands of probes a second.

Each probe also records who answered (probe/identity/): what the dialog learned from the
greeting, the ServerHello fingerprint of the raw bytes fed to the incoming BIO, and for implicit
TLS the greeting (or with --http-head the answer to `HEAD /`) read after the handshake. None of
that can fail a probe: what could not be learned is said in `server_identity_detail`.

The handshake step has two engines (`ProbeSettings.engine`): `openssl` (the stdlib's OpenSSL, a
full handshake) and `native` (`probe/native/`, our own sans-IO client that stops once it has the
certificates). Everything before it (connect, the STARTTLS dialog) is shared. A probe that must
read after the handshake (an implicit-TLS greeting, --http-head) needs a session, which the
native engine never makes: such probes are made by the OpenSSL engine whatever `engine` says.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import re
import socket
import ssl
import struct
import time
from dataclasses import dataclass
from typing import Any

from certcensus.model.defaults import TIMEOUT_SECONDS
from certcensus.model.observation import Observation
from certcensus.model.outcomes import EXPLANATIONS, Outcome
from certcensus.probe.dialogs import Dialog, DialogError, DialogOptions, dialog_class
from certcensus.probe.dialogs.base import printable, quoted
from certcensus.probe.identity.after_tls import GREETING_WAIT_SECONDS, GREETINGS, GreetingAfterTLS
from certcensus.probe.identity.http_head import HeadRequest
from certcensus.probe.identity.server_hello import ServerHelloReader, server_hello_fingerprint
from certcensus.probe.identity.text import ServerIdentity
from certcensus.probe.native import CaptureError, ChainCapture
from certcensus.probe.profiles import DEFAULT_ENGINE, PROFILES
from certcensus.probe.socket_clock import ExchangeClock, kernel_connect_seconds
from certcensus.probe.targets import Target
from certcensus.probe.tlschain import unverified_chain_der

RECEIVE_SIZE = 65536
# SO_LINGER on, timeout 0: close() sends RST, so our side keeps no TIME_WAIT entry and a long run
# against one address cannot exhaust the local port range (about 28,000 ports by default).
LINGER_ABORT = struct.pack("ii", 1, 0)


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    context: ssl.SSLContext
    timeout: float = TIMEOUT_SECONDS  # per phase: connect, STARTTLS dialog, handshake
    sni: str | None = None
    dialog_options: DialogOptions | None = None
    profile: str = "default"
    http_head: bool = False  # send `HEAD /` after the handshake of HTTPS targets
    identity_headers: tuple[str, ...] = ()  # --identity-header: more headers naming a backend
    engine: str = DEFAULT_ENGINE  # the handshake step: "native" or "openssl"


# Implicit-TLS services that --http-head asks `HEAD /` of (None: a port with no known service).
HTTP_SERVICES = (None, "https", "tls")


class _Closed(Exception):
    pass


async def probe_once(
    target: Target, address: str, settings: ProbeSettings, source_address: str | None = None
) -> Observation:
    """Probe `address` once and return what happened; never raises for anything the peer does."""
    loop = asyncio.get_running_loop()
    started_at = time.time()
    record: dict[str, Any] = {
        "target": target.name,
        "host": target.host,
        "port": target.port,
        "protocol": target.protocol,
        "address": address,
        "started_at": started_at,
        "sni": settings.sni,
        "profile": settings.profile,
        "source_address": source_address,
    }
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    phase = "connect"
    sock = None
    try:
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_ABORT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source_address:
            sock.bind((source_address, 0))
        # One timer per probe, moved at each phase: --timeout applies to each phase in turn.
        async with asyncio.timeout(None) as deadline:
            deadline.reschedule(loop.time() + settings.timeout)
            # Durations come from the socket's events (socket_clock.py), not the loop's.
            exchanges = ExchangeClock(sock)
            connect_began, clock = time.time(), time.perf_counter()
            await loop.sock_connect(sock, (address, target.port))
            around = time.perf_counter() - clock
            record["connect_seconds"] = kernel_connect_seconds(sock) or around
            record["source_port"] = sock.getsockname()[1]
            dialog = None
            if target.dialog:
                phase = "starttls"
                deadline.reschedule(loop.time() + settings.timeout)
                # The server speaks first: its greeting answers the connection.
                exchanges.start_phase(waiting_since=connect_began + record["connect_seconds"])
                options = settings.dialog_options or DialogOptions(host=target.host)
                dialog = dialog_class(target.dialog)(options)
                try:
                    await _run_dialog(loop, sock, dialog, exchanges)
                finally:
                    record.update(_identity_fields(dialog.identity))
                record["starttls_seconds"] = exchanges.phase_seconds()
                if dialog.refusal:
                    return Observation(
                        **record, outcome=dialog.refusal.outcome, detail=dialog.refusal.server_said
                    )
            phase = "handshake"
            deadline.reschedule(loop.time() + settings.timeout)
            exchanges.start_phase()
            after = _reader_after_tls(target, settings)
            if settings.engine == "native" and after is None:
                chain, version, cipher = await _capture_chain(
                    loop, sock, settings, dialog, record, exchanges
                )
                record.update(handshake_seconds=exchanges.phase_seconds(), tls_version=version,
                              cipher=cipher)  # fmt: skip
                if not chain:
                    return Observation(**record, outcome=Outcome.NO_CERTIFICATE,
                                       detail="no certificate")  # fmt: skip
                return Observation(**record, outcome=Outcome.OK, chain=chain)
            hello = ServerHelloReader()
            try:
                ssl_object, incoming, outgoing = await _handshake(
                    loop, sock, settings, dialog, hello, exchanges,
                    after.initiate() if after else b"",
                )  # fmt: skip
            finally:
                record["server_hello"] = hello.fingerprint
            record["handshake_seconds"] = exchanges.phase_seconds()
            if after is not None:
                # Bounded by its own timer inside `_identify`, which turns running out into a
                # detail: the probe's timer must not fire first and fail a probe that has its chain.
                deadline.reschedule(None)
                tls = (ssl_object, incoming, outgoing)
                record.update(_identity_fields(await _identify(loop, sock, tls, after, settings)))
        chain = unverified_chain_der(ssl_object)
        cipher = ssl_object.cipher()
        record.update(tls_version=ssl_object.version(), cipher=cipher[0] if cipher else None)
        if not chain:
            return Observation(**record, outcome=Outcome.NO_CERTIFICATE, detail="no certificate")
        return Observation(**record, outcome=Outcome.OK, chain=chain)
    except TimeoutError:  # before OSError, of which it is a subclass
        return Observation(
            **record,
            outcome=Outcome.TIMEOUT,
            detail=f"no answer within {settings.timeout:g}s during {phase}",
        )
    except (_HandshakeError, CaptureError) as error:
        return Observation(**record, outcome=error.outcome, detail=error.detail)
    except DialogError as error:
        return Observation(**record, outcome=Outcome.PROTOCOL_ERROR, detail=printable(str(error)))
    except _Closed:
        return Observation(
            **record, outcome=Outcome.CLOSED, detail=f"server closed the connection during {phase}"
        )
    except OSError as error:
        outcome, detail = classify_os_error(error, phase)
        return Observation(**record, outcome=outcome, detail=detail)
    finally:
        if sock is not None:
            sock.close()


def _identity_fields(identity: ServerIdentity | None) -> dict[str, Any]:
    if identity is None:
        return {}
    return {"server_identity": identity.text, "server_identity_detail": identity.detail}


def _reader_after_tls(target: Target, settings: ProbeSettings):
    """What to read after the handshake: an implicit-TLS service's greeting, or with --http-head
    the answer to `HEAD /`; None when nothing follows (STARTTLS targets said it in the dialog)."""
    if target.dialog is not None:
        return None
    if target.service in GREETINGS:
        return GreetingAfterTLS(target.service)
    if settings.http_head and target.service in HTTP_SERVICES:
        return HeadRequest(settings.sni or target.host, target.port, settings.identity_headers)
    return None


async def _identify(loop, sock, tls, reader, settings: ProbeSettings) -> ServerIdentity:
    """Drive `reader` over the TLS session; whatever happens, an identity (never an error).
    A greeting is waited for GREETING_WAIT_SECONDS at most, an HTTP answer --timeout."""
    is_greeting = isinstance(reader, GreetingAfterTLS)
    wait = min(GREETING_WAIT_SECONDS, settings.timeout) if is_greeting else settings.timeout
    waited_for = "greeting" if is_greeting else "HTTP answer"
    try:
        async with asyncio.timeout(wait):
            await _converse_in_tls(loop, sock, tls, reader)
    except TimeoutError:
        return reader.gave_up(f"no {waited_for} within {wait:g}s after the handshake")
    except ssl.SSLError as error:
        return reader.gave_up(
            f"TLS error after the handshake: {printable(error.reason or str(error))}"
        )
    except OSError as error:
        return reader.gave_up(f"{error.strerror or error} after the handshake")
    assert reader.identity is not None  # the loop ends only once the reader is done
    return reader.identity


async def _converse_in_tls(loop, sock, tls, reader) -> None:
    ssl_object, incoming, outgoing = tls  # the reader's request went with our Finished
    while not reader.done:
        pending = outgoing.read()
        if pending:
            await loop.sock_sendall(sock, pending)
        try:
            data = ssl_object.read(RECEIVE_SIZE)
        except ssl.SSLWantReadError:
            received = await loop.sock_recv(sock, RECEIVE_SIZE)
            if received:
                incoming.write(received)
            else:
                reader.receive_data(b"")
            continue
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            data = b""  # close_notify, or the TCP connection ended
        reader.receive_data(data)


async def _run_dialog(loop, sock: socket.socket, dialog: Dialog, exchanges: ExchangeClock) -> None:
    out = dialog.initiate()
    if out:
        exchanges.sent()
        await loop.sock_sendall(sock, out)
    while not dialog.done:
        data = await exchanges.receive(loop, RECEIVE_SIZE)
        out = dialog.receive_data(data)  # b"" (EOF) raises DialogError inside
        if out:
            exchanges.sent()
            await loop.sock_sendall(sock, out)


class _HandshakeError(Exception):
    def __init__(self, outcome: Outcome, detail: str):
        self.outcome = outcome
        self.detail = detail


# OpenSSL reasons meaning "the peer does not speak TLS" (it sent plaintext or another protocol).
_NOT_TLS_REASONS = {
    "WRONG_VERSION_NUMBER",
    "PACKET_LENGTH_TOO_LONG",
    "RECORD_LAYER_FAILURE",
    "HTTP_REQUEST",
    "HTTPS_PROXY_REQUEST",
    "UNKNOWN_PROTOCOL",
    "RECORD_LENGTH_MISMATCH",
    "WRONG_SSL_VERSION",
}


async def _capture_chain(
    loop, sock, settings: ProbeSettings, dialog: Dialog | None, record, exchanges: ExchangeClock
):
    """The native engine: our ClientHello, the server's flight up to its Certificate, stop.
    The ServerHello's fingerprint goes into `record` as soon as it is known, even if the capture
    fails after it (as the OpenSSL path's reader does)."""
    capture = ChainCapture(PROFILES[settings.profile].hello, settings.sni)
    out = capture.initiate()
    try:
        while True:
            if out:
                exchanges.sent()
                await loop.sock_sendall(sock, dialog.wrap_tls(out) if dialog else out)
            if capture.done:
                break
            data = await exchanges.receive(loop, RECEIVE_SIZE)
            out = capture.receive_data(dialog.unwrap_tls(data) if dialog and data else data)
    finally:
        hello = capture.server_hello
        record["server_hello"] = hello and server_hello_fingerprint(
            hello.version, hello.cipher_suite, hello.extension_types,
            capture.hello_retry_request is not None,
        )  # fmt: skip
    result = capture.result
    assert result is not None  # done means a result
    return result.certificates, result.version_name, result.cipher_name


async def _handshake(
    loop,
    sock,
    settings: ProbeSettings,
    dialog: Dialog | None,
    hello: ServerHelloReader,
    exchanges: ExchangeClock,
    then_send: bytes = b"",
):
    """The OpenSSL handshake over memory BIOs; returns (ssl_object, incoming, outgoing). Every
    byte for OpenSSL also goes to `hello` until it has the ServerHello. `then_send` (HEAD /) is
    sent as application data in the same write as our Finished: one send and one wake-up less
    per probe, which --http-head's budget needs (TLS 1.3 lets the client send at once)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    ssl_object = settings.context.wrap_bio(
        incoming, outgoing, server_side=False, server_hostname=settings.sni
    )
    first_bytes = b""
    while True:
        try:
            ssl_object.do_handshake()
            # In TLS 1.3 our Finished is still in the outgoing buffer: send it, so the server
            # logs a completed handshake rather than a failed one before we reset.
            if then_send:
                ssl_object.write(then_send)
            finished = outgoing.read()
            if finished:
                with contextlib.suppress(OSError):
                    sent = sock.send(dialog.wrap_tls(finished) if dialog else finished)
                    if then_send and sent < len(finished):  # never with a dialog (implicit TLS)
                        await loop.sock_sendall(sock, finished[sent:])
            return ssl_object, incoming, outgoing
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLError as error:
            raise _classify_ssl_error(error, first_bytes) from None
        pending = outgoing.read()
        if pending:
            exchanges.sent()
            await loop.sock_sendall(sock, dialog.wrap_tls(pending) if dialog else pending)
        data = await exchanges.receive(loop, RECEIVE_SIZE)
        if not data:
            if first_bytes and not first_bytes.startswith((b"\x15", b"\x16")):
                raise _not_tls(first_bytes)
            raise _Closed()
        if dialog:
            data = dialog.unwrap_tls(data)
        if len(first_bytes) < 64:
            first_bytes += data[: 64 - len(first_bytes)]
        if not hello.done:
            hello.receive_data(data)
        incoming.write(data)


def _not_tls(first_bytes: bytes) -> _HandshakeError:
    # Escaped bytes, not text: "\x16\x03" (a TLS record), "SSH-2.0-" or "HTTP/1.1" tell the
    # user what the port speaks.
    return _HandshakeError(Outcome.NOT_TLS, f"server sent {quoted(first_bytes, 60)} instead of TLS")


# Received alerts whose OpenSSL reason lacks "ALERT" (ssl/ssl_err.c: SSL_AD_REASON_OFFSET + 110
# to 114); and Python's _ssl has no reason name for newer ones, which it reports only in the
# message ("[SSL] tlsv1 alert no application protocol"). Found by the native engine's agreement
# tests: both engines now name every alert alike.
_ALERTS_NAMED_WITHOUT_ALERT = {
    "TLSV1_UNSUPPORTED_EXTENSION": "unsupported extension",
    "TLSV1_CERTIFICATE_UNOBTAINABLE": "certificate unobtainable",
    "TLSV1_UNRECOGNIZED_NAME": "unrecognized name",
    "TLSV1_BAD_CERTIFICATE_STATUS_RESPONSE": "bad certificate status response",
    "TLSV1_BAD_CERTIFICATE_HASH_VALUE": "bad certificate hash value",
}
_UNNAMED_ALERT = re.compile(r"\] tlsv1[3]? alert ([a-z ]+) \(")
# A close_notify alert (RFC 8446 section 6.1) as a server's first record: 21, 3.x, length 2,
# warning, close_notify. OpenSSL 3.0 reports it mid-handshake as an "unknown error".
_CLOSE_NOTIFY_RECORD = re.compile(rb"\x15\x03[\x00-\x04]\x00\x02[\x01\x02]\x00")


def _classify_ssl_error(error: ssl.SSLError, first_bytes: bytes) -> _HandshakeError:
    reason = getattr(error, "reason", None) or ""
    if reason in _NOT_TLS_REASONS:
        return _not_tls(first_bytes)
    if reason == "EXCESSIVE_MESSAGE_SIZE":
        # The handshake message over its limit is, in practice, the Certificate message: OpenSSL
        # caps it at max_cert_list (also applied to a CertificateRequest's CA list).
        return _HandshakeError(Outcome.CHAIN_TOO_LARGE, EXPLANATIONS[Outcome.CHAIN_TOO_LARGE])
    unnamed = _UNNAMED_ALERT.search(str(error)) if not reason else None
    if "ALERT" in reason or reason in _ALERTS_NAMED_WITHOUT_ALERT or unnamed:
        alert = _ALERTS_NAMED_WITHOUT_ALERT.get(reason) or (
            unnamed[1] if unnamed else reason.split("ALERT_", 1)[-1].lower().replace("_", " ")
        )
        return _HandshakeError(Outcome.TLS_ALERT, f"server sent TLS alert: {alert}")
    if not reason and _CLOSE_NOTIFY_RECORD.match(first_bytes):
        return _HandshakeError(Outcome.CLOSED, "server closed the connection during handshake")
    if isinstance(error, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
        return _HandshakeError(Outcome.CLOSED, "server closed the connection during handshake")
    return _HandshakeError(Outcome.HANDSHAKE_FAILED, printable(reason or str(error)))


def classify_os_error(error: OSError, phase: str) -> tuple[Outcome, str]:
    """Map a socket error to the outcome vocabulary, with one line of detail."""
    code = error.errno
    text = error.strerror or str(error)
    if isinstance(error, ConnectionRefusedError):
        return Outcome.REFUSED, "connection refused"
    if isinstance(error, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)):
        return Outcome.RESET, f"connection reset during {phase}"
    if code in (errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN):
        return Outcome.UNREACHABLE, text
    if code == errno.ETIMEDOUT:
        return Outcome.TIMEOUT, f"{text} during {phase}"
    return Outcome.LOCAL_ERROR, f"{text} during {phase}"
