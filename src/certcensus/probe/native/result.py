"""What one chain capture found: the certificate list and the handshake facts around it."""

from __future__ import annotations

from dataclasses import dataclass

from certcensus.probe.native.hello import VERSION_NAMES
from certcensus.probe.native.names import cipher_name
from certcensus.probe.native.server_hello import ServerHello


@dataclass(frozen=True, slots=True)
class CaptureResult:
    certificates: tuple[bytes, ...]  # DER, wire order, as sent (empty: an anonymous suite)
    version: int  # negotiated, e.g. 0x0304
    cipher_suite: int
    # The ServerHello as received (negotiated version, suite, extension types in wire order,
    # the raw message): what a JA3S/JA4S-style server fingerprint is computed from.
    server_hello: ServerHello
    hello_retry_request: ServerHello | None = None
    encrypted_extension_types: tuple[int, ...] = ()  # TLS 1.3 EncryptedExtensions, in order
    ocsp_response: bytes | None = None  # stapled (status_request), DER OCSPResponse
    signed_certificate_timestamps: bytes | None = None  # SignedCertificateTimestampList, raw
    certificate_compression: str | None = None  # RFC 8879 algorithm the server used
    certificate_requested: bool = False  # the server asked for a client certificate

    @property
    def version_name(self) -> str:
        """`TLSv1.3`, as `ssl.SSLObject.version()` names it."""
        return VERSION_NAMES.get(self.version, f"0x{self.version:04X}")

    @property
    def cipher_name(self) -> str:
        return cipher_name(self.cipher_suite)
