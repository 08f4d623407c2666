"""The TLS record layer, receiving side: records cut from a byte stream, handshake messages
reassembled from records, and TLS 1.3 record protection removed (RFC 8446 section 5, RFC 5246
section 6.2).

Bytes arrive in whatever pieces the socket gives; `RecordReader.feed` buffers them and yields
only whole records, and `HandshakeAssembler` yields only whole handshake messages, however they
were split or coalesced across records (RFC 8446 section 5.1: messages MAY be fragmented across
several records, and several MAY share one record).
"""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag

from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs.base import quoted
from certcensus.probe.native import limits
from certcensus.probe.native.errors import CaptureError, chain_too_large, handshake_failed

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
CONTENT_TYPES = frozenset((CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA))
HEADER_SIZE = 5

# SSLv2 message types a pre-TLS server answers with (draft-hickman-netscape-ssl-00, section 4.4)
SSL2_ERRORS = {
    1: "no cipher",
    2: "no certificate",
    4: "bad certificate",
    6: "unsupported certificate type",
}


def not_tls(first_bytes: bytes) -> CaptureError:
    # The same words as the OpenSSL engine: the user wants to see what the port said.
    said = quoted(first_bytes[: limits.QUOTED_BYTES], 60)
    return CaptureError(Outcome.NOT_TLS, f"server sent {said} instead of TLS")


def sslv2_answer(first_bytes: bytes) -> CaptureError | None:
    """A server that speaks only SSL 2.0 answers a ClientHello with an SSLv2 record: a two-byte
    header with the top bit set, then ERROR (0) or SERVER-HELLO (4). Say so, rather than quote
    binary. OpenSSL 3 calls this a wrong version number, which the OpenSSL engine reports as not
    TLS; the class is the same, the words say which protocol it was."""
    if len(first_bytes) < 3 or not first_bytes[0] & 0x80:
        return None
    kind = first_bytes[2]
    if kind == 0 and len(first_bytes) >= 5:
        code = int.from_bytes(first_bytes[3:5], "big")
        reason = SSL2_ERRORS.get(code, f"error {code}")
        return CaptureError(
            Outcome.NOT_TLS,
            f"server answered with an SSLv2 error ({reason}): it does not speak TLS",
        )
    if kind == 4:
        return CaptureError(
            Outcome.NOT_TLS, "server answered with an SSLv2 SERVER-HELLO: it speaks SSL 2.0 only"
        )
    return None


class RecordReader:
    """Cuts whole records out of the byte stream, in whatever pieces it arrives."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.first_bytes = b""  # what the server sent first, quoted when it is not TLS
        self.records_seen = 0
        self.bytes_seen = 0
        self.decrypter: RecordDecrypter | None = None

    def feed(self, data: bytes) -> None:
        self.bytes_seen += len(data)
        if self.bytes_seen > limits.MAX_BYTES_BEFORE_CERTIFICATE:
            raise handshake_failed(
                f"server sent more than {limits.MAX_BYTES_BEFORE_CERTIFICATE} bytes without a "
                "complete Certificate (MAX_BYTES_BEFORE_CERTIFICATE)"
            )
        if len(self.first_bytes) < limits.QUOTED_BYTES:
            self.first_bytes += data[: limits.QUOTED_BYTES - len(self.first_bytes)]
        self._buffer += data

    def next_record(self) -> tuple[int, bytes, bool] | None:
        """The next whole record as (content type, fragment, was protected), decrypted when
        protection is on; None until more bytes arrive."""
        buffer = self._buffer
        if len(buffer) < HEADER_SIZE:
            if self.records_seen == 0 and buffer and buffer[0] not in (ALERT, HANDSHAKE):
                if not buffer[0] & 0x80:  # an SSLv2 header needs its message type: wait for it
                    self._check_first_header()  # quote a short non-TLS answer at once
            return None
        if self.records_seen == 0:
            self._check_first_header()
        content_type = buffer[0]
        length = (buffer[3] << 8) | buffer[4]
        if content_type not in CONTENT_TYPES or buffer[1] != 3:
            raise handshake_failed(f"malformed record header {bytes(buffer[:HEADER_SIZE]).hex()}")
        protected = self.decrypter is not None and content_type == APPLICATION_DATA
        limit = limits.MAX_CIPHERTEXT_RECORD if protected else limits.MAX_PLAINTEXT_RECORD
        if length > limit:
            # RFC 8446 section 5.1/5.2: record_overflow.
            raise handshake_failed(
                f"record of {length} bytes is longer than the {limit} allowed (record overflow)"
            )
        if len(buffer) < HEADER_SIZE + length:
            return None
        header = bytes(buffer[:HEADER_SIZE])
        fragment = bytes(buffer[HEADER_SIZE : HEADER_SIZE + length])
        del buffer[: HEADER_SIZE + length]
        self.records_seen += 1
        if protected and self.decrypter is not None:
            inner_type, content = self.decrypter.open(header, fragment)
            return inner_type, content, True
        return content_type, fragment, False

    def _check_first_header(self) -> None:
        first = bytes(self._buffer[:HEADER_SIZE])
        sslv2 = sslv2_answer(bytes(self._buffer[:8]))
        if sslv2:
            raise sslv2
        if first[0] not in (ALERT, HANDSHAKE) or (len(first) > 1 and first[1] != 3):
            raise not_tls(self.first_bytes)

    def pending_bytes(self) -> int:
        return len(self._buffer)


class RecordDecrypter:
    """TLS 1.3 record protection removed with one traffic key (RFC 8446 section 5.2-5.3)."""

    def __init__(self, open_sealed: Callable[[bytes, bytes, bytes], bytes], iv: bytes):
        self._open_sealed = open_sealed  # an AEAD's decrypt(nonce, data, associated_data)
        self._iv = int.from_bytes(iv, "big")
        self._sequence = 0

    def open(self, header: bytes, sealed: bytes) -> tuple[int, bytes]:
        # Section 5.3: the nonce is the IV XORed with the 64-bit record sequence number,
        # left-padded to the IV's length; the additional data is the record header.
        nonce = (self._iv ^ self._sequence).to_bytes(12, "big")
        self._sequence += 1
        try:
            inner = self._open_sealed(nonce, sealed, header)
        except InvalidTag:
            raise handshake_failed("record failed to decrypt (bad record mac)") from None
        # Section 5.4: strip the zero padding; the last non-zero byte is the real content type.
        end = len(inner)
        while end and inner[end - 1] == 0:
            end -= 1
        if not end:
            raise handshake_failed("protected record with no content type (unexpected message)")
        return inner[end - 1], inner[: end - 1]


class HandshakeAssembler:
    """Handshake messages from handshake-record fragments: (type, body, whole message)."""

    def __init__(self, message_limit: Callable[[int], int]):
        self._buffer = bytearray()
        self._limit = message_limit  # the largest body accepted for a message type

    def add(self, fragment: bytes) -> None:
        self._buffer += fragment

    @property
    def partial(self) -> bool:
        return bool(self._buffer)

    def next_message(self) -> tuple[int, bytes, bytes] | None:
        buffer = self._buffer
        if len(buffer) < 4:
            return None
        kind = buffer[0]
        length = (buffer[1] << 16) | (buffer[2] << 8) | buffer[3]
        limit = self._limit(kind)
        if length > limit and limit == limits.MAX_CERTIFICATE_MESSAGE:
            raise chain_too_large(length)
        if length > limit:
            raise handshake_failed(
                f"handshake message type {kind} of {length} bytes is over the {limit}-byte limit "
                f"({'MAX_CERTIFICATE_MESSAGE' if limit == limits.MAX_CERTIFICATE_MESSAGE else 'MAX_OTHER_HANDSHAKE_MESSAGE'})"
            )
        if len(buffer) < 4 + length:
            return None
        message = bytes(buffer[: 4 + length])
        del buffer[: 4 + length]
        return kind, message[4:], message
