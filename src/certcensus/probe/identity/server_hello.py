"""A fingerprint of the server's TLS stack, from its ServerHello as it came off the wire.

Sans-IO: the prober feeds `ServerHelloReader` the same raw bytes it writes into OpenSSL's
incoming memory BIO (the native engine in probe/native/ parses its own ServerHello and passes
the same facts to `server_hello_fingerprint`). The reader follows the record layer (RFC 8446
section 5.1, RFC 5246 section 6.2.1), joins handshake fragments, and parses the first
ServerHello (RFC 8446 section 4.1.3, RFC 5246 section 7.4.1.3), stepping over a
HelloRetryRequest. It never raises: anything it cannot read leaves the fingerprint None and says
why in `problem`, and the probe goes on (the handshake is OpenSSL's business, not ours).

The fingerprint, JA3S-like (salesforce/ja3) but readable and with the *negotiated* version
(JA3S hashes the legacy_version field, 0x0303 for every TLS 1.3 server):

    <version>[r]_<cipher suite>_<extension types in wire order>     e.g. 13_1302_002b-0033

`version` is s3, 10, 11, 12 or 13 (else 4 hex digits); `r` marks a HelloRetryRequest before
the ServerHello (the server preferred another key-share group); the cipher suite and each
extension type are 4 lowercase hex digits, the types joined by `-` (`none` when there are
none). Different software or configuration behind one address shows up as different
fingerprints even when every greeting says the same. `ja3s_of(fingerprint)` gives the JA3S MD5
for comparing with other tools (Zeek, Suricata, ...).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from certcensus.probe.native.errors import CaptureError
from certcensus.probe.native.server_hello import HELLO_RETRY_RANDOM, parse_server_hello

__all__ = [
    "HELLO_RETRY_RANDOM", "ServerHelloFacts", "ServerHelloReader", "ja3s_of",
    "server_hello_fingerprint",
]  # fmt: skip

HANDSHAKE = 22
CHANGE_CIPHER_SPEC = 20
ALERT = 21
SERVER_HELLO = 2
# RFC 8446 section 5.1: a plaintext record holds at most 2^14 bytes; section 5.2 allows 2^14 +
# 256 for ciphertext and RFC 5246 section 6.2.3 2^14 + 2048: the largest any version permits.
MAX_RECORD = 2**14 + 2048
# Fixed fields (version 2, random 32, session id 1 + 32, suite 2, compression 1), the 16-bit
# extensions length and at most 2^16 - 1 bytes of extensions, plus the 4-byte message header.
MAX_SERVER_HELLO = 4 + 70 + 2 + 0xFFFF
# At most one HelloRetryRequest precedes the ServerHello (RFC 8446 section 4.1.4).
MAX_HELLOS = 2
VERSION_LABELS = {0x0300: "s3", 0x0301: "10", 0x0302: "11", 0x0303: "12", 0x0304: "13"}


class _Malformed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ServerHelloFacts:
    version: int  # negotiated: supported_versions when sent (TLS 1.3), else legacy_version
    legacy_version: int
    cipher_suite: int
    extension_types: tuple[int, ...]  # in wire order
    hello_retry: bool = False  # a HelloRetryRequest came first

    @property
    def fingerprint(self) -> str:
        return server_hello_fingerprint(
            self.version, self.cipher_suite, self.extension_types, self.hello_retry
        )


def server_hello_fingerprint(
    version: int, cipher_suite: int, extension_types: tuple[int, ...], hello_retry: bool = False
) -> str:
    label = VERSION_LABELS.get(version, f"{version:04x}") + ("r" if hello_retry else "")
    extensions = "-".join(f"{kind:04x}" for kind in extension_types) or "none"
    return f"{label}_{cipher_suite:04x}_{extensions}"


def ja3s_of(fingerprint: str) -> str | None:
    """The JA3S hash (MD5 of `SSLVersion,Cipher,Extensions` in decimal) of a fingerprint."""
    try:
        label, suite, extensions = fingerprint.split("_")
        labels = {text: code for code, text in VERSION_LABELS.items()}
        version = labels.get(label.rstrip("r")) or int(label.rstrip("r"), 16)
        types = [] if extensions == "none" else [int(t, 16) for t in extensions.split("-")]
        legacy = min(version, 0x0303)  # TLS 1.3 puts 0x0303 in legacy_version (section 4.1.3)
        text = f"{legacy},{int(suite, 16)},{'-'.join(map(str, types))}"
    except ValueError:
        return None
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class ServerHelloReader:
    """Feed it the server's raw bytes until `done`; then `facts` or `problem`."""

    __slots__ = ("facts", "problem", "_records", "_handshake", "_hellos", "_retried")

    def __init__(self) -> None:
        self.facts: ServerHelloFacts | None = None
        self.problem = ""
        self._records = bytearray()
        self._handshake = bytearray()
        self._hellos = 0
        self._retried = False

    @property
    def done(self) -> bool:
        return self.facts is not None or bool(self.problem)

    @property
    def fingerprint(self) -> str | None:
        return self.facts.fingerprint if self.facts else None

    def receive_data(self, data: bytes) -> None:
        if self.done:
            return
        self._records += data
        try:
            self._read_records()
        except _Malformed as error:
            self.problem = str(error)

    def _read_records(self) -> None:
        records = self._records
        while not self.done and len(records) >= 5:
            kind = records[0]
            length = int.from_bytes(records[3:5], "big")
            if kind not in (HANDSHAKE, CHANGE_CIPHER_SPEC, ALERT) or records[1] != 3:
                raise _Malformed(f"no ServerHello: record type {kind} before it")
            if length > MAX_RECORD:
                raise _Malformed(f"record of {length} bytes, more than {MAX_RECORD}")
            if len(records) < 5 + length:
                return
            fragment = bytes(records[5 : 5 + length])
            del records[: 5 + length]
            if kind == ALERT:
                raise _Malformed("the server sent an alert before its ServerHello")
            if kind == HANDSHAKE:
                self._handshake += fragment
                self._read_messages()

    def _read_messages(self) -> None:
        buffer = self._handshake
        while not self.done and len(buffer) >= 4:
            length = int.from_bytes(buffer[1:4], "big")
            if buffer[0] != SERVER_HELLO:
                raise _Malformed(f"handshake message type {buffer[0]} before the ServerHello")
            if 4 + length > MAX_SERVER_HELLO:
                raise _Malformed(f"ServerHello of {length} bytes, more than TLS allows")
            if len(buffer) < 4 + length:
                return
            body = bytes(buffer[4 : 4 + length])
            del buffer[: 4 + length]
            self._on_hello(body)

    def _on_hello(self, body: bytes) -> None:
        try:  # the native engine's parser: one reading of the message for both engines
            hello = parse_server_hello(body, b"")
        except CaptureError as error:
            raise _Malformed(error.detail) from None
        self._hellos += 1
        if hello.is_hello_retry_request:
            if self._hellos >= MAX_HELLOS:
                raise _Malformed("a second HelloRetryRequest")
            self._retried = True
            return
        self.facts = ServerHelloFacts(
            hello.version, hello.legacy_version, hello.cipher_suite, hello.extension_types,
            self._retried,
        )  # fmt: skip
