"""The Certificate message in its three forms, and what rides along with it: TLS 1.2's
Certificate (RFC 5246 section 7.4.2), TLS 1.3's Certificate with per-entry extensions (RFC 8446
section 4.4.2), RFC 8879's CompressedCertificate, and stapled OCSP responses and SCTs (RFC 6066
section 8, RFC 6962 section 3.3).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from certcensus.probe.native import codes, limits
from certcensus.probe.native.errors import chain_too_large, handshake_failed
from certcensus.probe.native.wire import Reader

try:  # RFC 8879 brotli: offered only where Brotli >= 1.2 is installed, the first release that
    # can bound a decompressor's output (`output_buffer_limit`), so a bomb cannot inflate freely.
    import brotli as _brotli

    if not hasattr(_brotli.Decompressor(), "can_accept_more_data"):  # pragma: no cover
        _brotli = None
except ImportError:  # pragma: no cover - depends on the environment
    _brotli = None


@dataclass(frozen=True, slots=True)
class CertificateList:
    certificates: tuple[bytes, ...]  # DER, in wire order, exactly as sent
    ocsp_response: bytes | None = None  # the leaf's stapled OCSP response (TLS 1.3 entry)
    signed_certificate_timestamps: bytes | None = None  # the leaf's SCT list (TLS 1.3 entry)


def parse_certificate_tls12(body: bytes) -> CertificateList:
    reader = Reader(body, "Certificate")
    entries = reader.sub24("certificate_list")
    reader.expect_end()
    certificates: list[bytes] = []
    while entries.remaining():
        der = entries.vector24()
        if not der:
            raise entries.error("empty certificate")
        certificates.append(der)
    return CertificateList(tuple(certificates))


def parse_certificate_tls13(body: bytes) -> CertificateList:
    reader = Reader(body, "Certificate")
    context = reader.vector8()
    if context:
        # Section 4.4.2: in the handshake (not post-handshake auth) the context is empty.
        raise reader.error("non-empty certificate_request_context")
    entries = reader.sub24("certificate_list")
    reader.expect_end()
    certificates: list[bytes] = []
    ocsp = sct = None
    while entries.remaining():
        der = entries.vector24()
        if not der:
            raise entries.error("empty certificate")
        extensions = entries.sub16("CertificateEntry extensions")
        while extensions.remaining():
            kind = extensions.uint16()
            data = extensions.vector16()
            if certificates:  # only the leaf's staples are recorded (as OpenSSL exposes them)
                continue
            if kind == codes.EXT_STATUS_REQUEST:
                ocsp = parse_certificate_status(data)
            elif kind == codes.EXT_SIGNED_CERTIFICATE_TIMESTAMP:
                sct = data
        certificates.append(der)
    return CertificateList(tuple(certificates), ocsp, sct)


def parse_certificate_status(body: bytes) -> bytes:
    """RFC 6066 section 8: CertificateStatus { status_type ocsp(1); OCSPResponse<1..2^24-1> }."""
    reader = Reader(body, "CertificateStatus")
    if reader.uint8() != 1:
        raise reader.error("status_type is not ocsp(1)")
    response = reader.vector24()
    reader.expect_end()
    if not response:
        raise reader.error("empty OCSP response")
    return response


def supported_compression() -> tuple[int, ...]:
    """The RFC 8879 algorithms this installation can inflate: zlib always, brotli if present."""
    return (codes.COMPRESSION_ZLIB,) + ((codes.COMPRESSION_BROTLI,) if _brotli else ())


def decompress_certificate(body: bytes, offered: tuple[int, ...]) -> tuple[int, bytes]:
    """(algorithm, the Certificate message body) from a CompressedCertificate (RFC 8879 sec. 4)."""
    reader = Reader(body, "CompressedCertificate")
    algorithm = reader.uint16()
    length = reader.uint24()
    compressed = reader.vector24()
    reader.expect_end()
    name = codes.COMPRESSION_NAMES.get(algorithm, str(algorithm))
    if algorithm not in offered:
        # Section 4: the algorithm MUST be one the client offered (else illegal_parameter).
        raise handshake_failed(
            f"server compressed its certificates with {name}, which we did not offer"
        )
    if length > limits.MAX_DECOMPRESSED_CERTIFICATE:  # as large as sent uncompressed
        raise chain_too_large(length)
    try:
        if algorithm == codes.COMPRESSION_ZLIB:
            inflater = zlib.decompressobj()
            plain = inflater.decompress(compressed, length + 1)  # never more than claimed + 1
        elif algorithm == codes.COMPRESSION_BROTLI and _brotli is not None:
            plain = _inflate_brotli(compressed, length)
        else:
            raise handshake_failed(f"cannot inflate {name}")  # unreachable: never offered
    except (zlib.error, ValueError) as error:  # brotli.error is a ValueError subclass
        raise handshake_failed(f"compressed Certificate does not inflate ({error})") from None
    if len(plain) != length:
        # Section 4: a length that does not match MUST be refused with bad_certificate.
        raise handshake_failed(
            f"compressed Certificate inflates to {len(plain)} bytes, not the {length} stated"
        )
    return algorithm, plain


def _inflate_brotli(compressed: bytes, length: int) -> bytes:
    # One call with the output bounded to the stated length + 1: a longer result is refused by
    # the caller's length check, and the rest of a bomb is never produced.
    return _brotli.Decompressor().process(compressed, output_buffer_limit=length + 1)
