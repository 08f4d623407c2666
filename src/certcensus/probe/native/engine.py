"""The chain-capture client: a sans-IO state machine that says hello, reads the server's flight
up to its Certificate message, and stops (the zgrab2/zcrypto approach: the handshake log is the
product, not a secure session).

    capture = ChainCapture(spec, server_name="mail.example.com")
    send(capture.initiate())
    while not capture.done:
        send(capture.receive_data(recv()))     # b"" from recv: the server closed
    capture.result.certificates

It never touches a socket or a clock (the prober owns both). Anything the server does that
cannot lead to its certificates raises `CaptureError` with a classified outcome.

Deviations from the RFCs, each on purpose, because we want the certificates and nothing else:
- TLS 1.2 and older (RFC 5246 section 7.3): the client stops after the server's Certificate (and
  CertificateStatus, when stapling was acknowledged). It computes no key exchange and never
  sends ClientKeyExchange, ChangeCipherSpec or Finished; the server's ServerKeyExchange
  signature is not verified.
- TLS 1.3 (RFC 8446 section 4.4): the client decrypts the server's handshake records up to the
  Certificate, and does not verify CertificateVerify or the server's Finished, nor send its own
  Finished. Section 4.4.4 says "Recipients of Finished messages MUST verify that the contents
  are correct"; we never read it.
- Section 6.1 says "Each party MUST send a "close_notify" alert before closing its write side";
  the prober closes the socket without one (and with a reset): the server only logs an aborted
  handshake, which the OpenSSL engine's probes also leave when they reset after Finished.
- Key shares are reused across probes for a while (keyschedule.KeyShare.for_probe says why).
- The certificates are not validated here (RFC 5246 section 7.4.2 / RFC 8446 section 4.4.2.4
  checks): trust is judged later, in analysis, exactly as the OpenSSL engine runs with
  verification off.
"""

from __future__ import annotations

import enum
import hashlib
import os
from collections.abc import Callable

from certcensus.model.outcomes import Outcome
from certcensus.probe.native import codes, limits
from certcensus.probe.native.certificates import (
    CertificateList,
    decompress_certificate,
    parse_certificate_status,
    parse_certificate_tls12,
    parse_certificate_tls13,
)
from certcensus.probe.native.errors import (
    USER_CANCELED,
    WARNING,
    CaptureError,
    alert_error,
    handshake_failed,
)
from certcensus.probe.native.hello import (
    TLS12,
    TLS13,
    HelloSpec,
    client_hello,
)
from certcensus.probe.native.keyschedule import (
    SUITES,
    KeyShare,
    server_handshake_decrypter,
)
from certcensus.probe.native.names import is_anonymous
from certcensus.probe.native.negotiation import check_hello_retry_request, check_server_hello
from certcensus.probe.native.records import (
    ALERT,
    APPLICATION_DATA,
    CHANGE_CIPHER_SPEC,
    HANDSHAKE,
    HandshakeAssembler,
    RecordReader,
    not_tls,
    sslv2_answer,
)
from certcensus.probe.native.result import CaptureResult
from certcensus.probe.native.server_hello import (
    ServerHello,
    key_share_of,
    parse_server_hello,
)

MESSAGE_NAMES = {
    codes.HELLO_REQUEST: "HelloRequest", codes.SERVER_HELLO: "ServerHello",
    codes.NEW_SESSION_TICKET: "NewSessionTicket", codes.ENCRYPTED_EXTENSIONS: "EncryptedExtensions",
    codes.CERTIFICATE: "Certificate", codes.SERVER_KEY_EXCHANGE: "ServerKeyExchange",
    codes.CERTIFICATE_REQUEST: "CertificateRequest", codes.SERVER_HELLO_DONE: "ServerHelloDone",
    codes.CERTIFICATE_VERIFY: "CertificateVerify", codes.FINISHED: "Finished",
    codes.CERTIFICATE_STATUS: "CertificateStatus", codes.COMPRESSED_CERTIFICATE: "CompressedCertificate",
}  # fmt: skip


class _State(enum.Enum):
    START = "start"
    SERVER_HELLO = "waiting for ServerHello"
    ENCRYPTED_EXTENSIONS = "waiting for EncryptedExtensions"  # TLS 1.3
    CERTIFICATE_13 = "waiting for the TLS 1.3 Certificate"
    CERTIFICATE_12 = "waiting for the Certificate"  # TLS 1.2 and older
    CERTIFICATE_STATUS = "waiting for CertificateStatus"  # TLS 1.2, stapling acknowledged
    DONE = "done"


def _message_limit(kind: int) -> int:
    if kind in (codes.CERTIFICATE, codes.COMPRESSED_CERTIFICATE):
        return limits.MAX_CERTIFICATE_MESSAGE
    return limits.MAX_OTHER_HANDSHAKE_MESSAGE


def _record(content_type: int, version: int, payload: bytes) -> bytes:
    """Records of at most 2^14 bytes each (RFC 8446 section 5.1)."""
    out = bytearray()
    for start in range(0, len(payload), limits.MAX_PLAINTEXT_RECORD):
        piece = payload[start : start + limits.MAX_PLAINTEXT_RECORD]
        out += (
            bytes((content_type,))
            + version.to_bytes(2, "big")
            + len(piece).to_bytes(2, "big")
            + piece
        )
    return bytes(out)


class ChainCapture:
    def __init__(self, spec: HelloSpec, server_name: str | None = None,
                 random_bytes: Callable[[int], bytes] = os.urandom):  # fmt: skip
        self.spec = spec
        self.server_name = server_name
        self.result: CaptureResult | None = None
        self._random_bytes = random_bytes
        self._state = _State.START
        self._records = RecordReader()
        self._messages = HandshakeAssembler(_message_limit)
        self._transcript: list[bytes] = []  # handshake messages until the keys are known
        self._shares: dict[int, KeyShare] = {}
        self._hello_retry: ServerHello | None = None
        self._server_hello: ServerHello | None = None
        self._encrypted_extensions: tuple[int, ...] = ()
        self._certificates: CertificateList | None = None
        self._certificate_requested = False
        self._compression: str | None = None
        self._empty_records = self._warnings = self._change_cipher_specs = 0

    @property
    def done(self) -> bool:
        return self._state is _State.DONE

    @property
    def server_hello(self) -> ServerHello | None:
        """The ServerHello once read (also when the capture fails after it)."""
        return self._server_hello

    @property
    def hello_retry_request(self) -> ServerHello | None:
        return self._hello_retry

    @property
    def version(self) -> int | None:
        return self._server_hello.version if self._server_hello else None

    def initiate(self) -> bytes:
        """The first ClientHello, in records, ready to send."""
        spec = self.spec
        self._random = self._random_bytes(32)
        self._session_id = self._random_bytes(32) if spec.session_id else b""
        if spec.offers_tls13:
            self._shares = {group: KeyShare.for_probe(group) for group in spec.key_share_groups}
        message = self._client_hello()
        self._state = _State.SERVER_HELLO
        return _record(HANDSHAKE, spec.record_version, message)

    def receive_data(self, data: bytes) -> bytes:
        """Feed what the server sent (b"": it closed); return bytes to send back (only after a
        HelloRetryRequest: the second ClientHello)."""
        if self._state is _State.START:
            raise RuntimeError("initiate() first")
        if self.done:
            return b""  # the rest of the flight (CertificateVerify, Finished) is not read
        if not data:
            raise self._closed_error()
        records = self._records
        records.feed(data)
        out = b""
        while not self.done:
            record = records.next_record()
            if record is None:
                break
            out += self._on_record(*record)
        return out

    # --- records ----------------------------------------------------------------------------

    def _on_record(self, content_type: int, fragment: bytes, protected: bool) -> bytes:
        if not fragment:
            self._empty_records += 1
            if self._empty_records > limits.MAX_EMPTY_RECORDS:
                raise handshake_failed(
                    f"more than {limits.MAX_EMPTY_RECORDS} empty records (MAX_EMPTY_RECORDS)"
                )
            if content_type != APPLICATION_DATA:
                return b""
        else:
            self._empty_records = 0
        if content_type == HANDSHAKE:
            if self._records.decrypter is not None and not protected:
                # RFC 8446 section 5: after the ServerHello every handshake record is protected.
                raise handshake_failed("unprotected handshake record after the TLS 1.3 ServerHello")
            self._messages.add(fragment)
            out = b""
            while not self.done:
                message = self._messages.next_message()
                if message is None:
                    break
                out += self._on_message(*message)
            return out
        if content_type == ALERT:
            return self._on_alert(fragment)
        if content_type == CHANGE_CIPHER_SPEC:
            return self._on_change_cipher_spec(fragment, protected)
        raise handshake_failed(
            "application data before the server's Certificate (unexpected message)"
        )

    def _on_alert(self, fragment: bytes) -> bytes:
        # RFC 8446 section 5.1: an alert is never fragmented nor coalesced (two bytes, one record).
        # A plaintext alert after the TLS 1.3 keys are in use is read all the same: servers that
        # fail late do send them, and the alert is more telling than a "bad record" refusal.
        if len(fragment) != 2:
            raise handshake_failed(f"alert record of {len(fragment)} bytes (decode error)")
        level, description = fragment[0], fragment[1]
        tls13 = self.version == TLS13
        ignorable = (level == WARNING and not tls13) or (tls13 and description == USER_CANCELED)
        if ignorable and description != 0:
            # RFC 5246 section 7.2: warnings may be ignored; RFC 8446 section 6: in TLS 1.3
            # every alert but user_canceled (and close_notify) is an error whatever its level.
            self._warnings += 1
            if self._warnings > limits.MAX_WARNING_ALERTS:
                raise handshake_failed(
                    f"more than {limits.MAX_WARNING_ALERTS} warning alerts (MAX_WARNING_ALERTS)"
                )
            return b""
        raise alert_error(level, description)

    def _on_change_cipher_spec(self, fragment: bytes, protected: bool) -> bytes:
        # RFC 8446 section 5: a TLS 1.3 peer may send one unprotected change_cipher_spec of one
        # byte 0x01 (middlebox compatibility), which is dropped; a protected one, or any other
        # value, MUST be an unexpected_message. Before TLS 1.2's Certificate it can only mean an
        # abbreviated (resumed) handshake, which we never asked for.
        version = self.version
        middlebox = self.spec.offers_tls13 and version in (None, TLS13)
        if protected or fragment != b"\x01" or not middlebox:
            raise handshake_failed("unexpected ChangeCipherSpec before the server's Certificate")
        self._change_cipher_specs += 1
        if self._change_cipher_specs > limits.MAX_MIDDLEBOX_CCS:
            raise handshake_failed(
                f"more than {limits.MAX_MIDDLEBOX_CCS} ChangeCipherSpec records (MAX_MIDDLEBOX_CCS)"
            )
        return b""

    # --- handshake messages -----------------------------------------------------------------

    def _on_message(self, kind: int, body: bytes, message: bytes) -> bytes:
        state = self._state
        if kind == codes.HELLO_REQUEST and self.version != TLS13:
            # RFC 5246 section 7.4.1.1: ignored while a handshake is under way. (TLS 1.3 has no
            # HelloRequest; there type 0 is an error, below.)
            return b""
        if state is _State.SERVER_HELLO:
            if kind != codes.SERVER_HELLO:
                raise self._unexpected(kind)
            hello = parse_server_hello(body, message)
            if hello.is_hello_retry_request:
                return self._on_hello_retry_request(hello)
            self._on_server_hello(hello)
        elif state is _State.ENCRYPTED_EXTENSIONS:
            if kind != codes.ENCRYPTED_EXTENSIONS:
                raise self._unexpected(kind)
            self._encrypted_extensions = _extension_types(body, "EncryptedExtensions")
            self._state = _State.CERTIFICATE_13
        elif state is _State.CERTIFICATE_13:
            self._on_certificate_13(kind, body)
        elif state is _State.CERTIFICATE_12:
            self._on_certificate_12(kind, body)
        elif state is _State.CERTIFICATE_STATUS:
            ocsp = parse_certificate_status(body) if kind == codes.CERTIFICATE_STATUS else None
            # RFC 6066 section 8: a server that acknowledged status_request MAY still omit
            # CertificateStatus; whatever comes next ends the capture.
            self._finish(self._certificates or CertificateList(()), ocsp=ocsp)
        return b""

    def _on_certificate_13(self, kind: int, body: bytes) -> None:
        if kind == codes.CERTIFICATE_REQUEST:
            self._certificate_requested = True  # section 4.3.2; we would answer with none
            return
        if kind == codes.COMPRESSED_CERTIFICATE:
            if (
                codes.EXT_COMPRESS_CERTIFICATE not in self.spec.extensions
                or not self.spec.compress_certificate
            ):
                raise handshake_failed("server sent CompressedCertificate, which we did not offer")
            algorithm, body = decompress_certificate(body, self.spec.compress_certificate)
            self._compression = codes.COMPRESSION_NAMES[algorithm]
        elif kind != codes.CERTIFICATE:
            raise self._unexpected(kind)
        self._finish(parse_certificate_tls13(body))

    def _on_certificate_12(self, kind: int, body: bytes) -> None:
        hello = self._negotiated()
        suite = hello.cipher_suite
        if kind == codes.CERTIFICATE:
            certificates = parse_certificate_tls12(body)
            if hello.extension(codes.EXT_STATUS_REQUEST) is not None:
                self._certificates = certificates
                self._state = _State.CERTIFICATE_STATUS
                return
            self._finish(certificates)
        elif kind in (codes.SERVER_KEY_EXCHANGE, codes.SERVER_HELLO_DONE) and is_anonymous(suite):
            self._finish(CertificateList(()))  # RFC 5246 section 7.4.2: no Certificate to send
        else:
            raise self._unexpected(kind)

    def _on_hello_retry_request(self, hello: ServerHello) -> bytes:
        group, cookie = check_hello_retry_request(
            self.spec, hello, self._session_id, set(self._shares), self._hello_retry is not None
        )
        if group is not None:
            self._shares = {group: KeyShare.for_probe(group)}
        self._hello_retry = hello
        # RFC 8446 section 4.4.1: the transcript restarts with message_hash(Hash(ClientHello1)).
        suite = SUITES[hello.cipher_suite]
        first = hashlib.new(suite.hash_name, self._transcript[0]).digest()
        self._transcript = [bytes((254, 0, 0, len(first))) + first, hello.message]
        return _record(HANDSHAKE, TLS12, self._client_hello(cookie))

    def _on_server_hello(self, hello: ServerHello) -> None:
        check_server_hello(self.spec, hello, self._session_id, self._hello_retry)
        self._server_hello = hello
        if hello.version != TLS13:
            self._state = _State.CERTIFICATE_12
            return
        share = key_share_of(hello)
        group, server_share = share or (None, None)
        if group not in self._shares or server_share is None:
            raise handshake_failed("TLS 1.3 ServerHello without a key share for a group we sent")
        suite = SUITES[hello.cipher_suite]
        shared_secret = self._shares[group].exchange(server_share)
        self._transcript.append(hello.message)
        transcript = hashlib.new(suite.hash_name, b"".join(self._transcript)).digest()
        self._transcript = []
        if self._messages.partial:
            # Section 5.1: handshake messages MUST NOT span key changes.
            raise handshake_failed("handshake data after the ServerHello in the same record")
        self._records.decrypter = server_handshake_decrypter(suite, shared_secret, transcript)
        self._state = _State.ENCRYPTED_EXTENSIONS

    def _client_hello(self, cookie: bytes | None = None) -> bytes:
        shares = {group: share.public for group, share in self._shares.items()}
        message = client_hello(
            self.spec, self._random, self._session_id, self.server_name, shares, cookie
        )
        self._transcript.append(message)
        return message

    def _negotiated(self) -> ServerHello:
        hello = self._server_hello
        if hello is None:  # unreachable: every state past SERVER_HELLO has one
            raise handshake_failed("no ServerHello")
        return hello

    def _finish(self, certificates: CertificateList, ocsp: bytes | None = None) -> None:
        hello = self._negotiated()
        sct = certificates.signed_certificate_timestamps
        if hello.version != TLS13:
            sct = hello.extension(codes.EXT_SIGNED_CERTIFICATE_TIMESTAMP)  # RFC 6962 section 3.3.1
        self.result = CaptureResult(
            certificates=certificates.certificates, version=hello.version,
            cipher_suite=hello.cipher_suite, server_hello=hello, hello_retry_request=self._hello_retry,
            encrypted_extension_types=self._encrypted_extensions,
            ocsp_response=ocsp or certificates.ocsp_response, signed_certificate_timestamps=sct or None,
            certificate_compression=self._compression, certificate_requested=self._certificate_requested,
        )  # fmt: skip
        self._state = _State.DONE
        self._records.decrypter = None  # nothing more is read; let the key go

    def _unexpected(self, kind: int) -> CaptureError:
        name = MESSAGE_NAMES.get(kind, f"handshake message {kind}")
        return handshake_failed(
            f"server sent {name} while {self._state.value} (unexpected message)"
        )

    def _closed_error(self) -> CaptureError:
        records = self._records
        if records.records_seen == 0 and records.first_bytes:
            sslv2 = sslv2_answer(records.first_bytes)
            if sslv2:
                return sslv2
            if not records.first_bytes.startswith((bytes((ALERT,)), bytes((HANDSHAKE,)))):
                return not_tls(records.first_bytes)
        return CaptureError(Outcome.CLOSED, "server closed the connection during handshake")


def _extension_types(body: bytes, what: str) -> tuple[int, ...]:
    from certcensus.probe.native.wire import Reader

    reader = Reader(body, what)
    block = reader.sub16(f"{what} extensions")
    reader.expect_end()
    kinds = []
    while block.remaining():
        kinds.append(block.uint16())
        block.vector16()
    return tuple(kinds)
