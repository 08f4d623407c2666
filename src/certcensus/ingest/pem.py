"""PEM blocks found by position, decoded once per distinct content.

Written by hand rather than with `load_pem_x509_certificates` because a capture needs more than
the certificates: where each block sits (s_client's chain listing vs its "Server certificate"
section), which block is truncated or not a certificate (to tell the user), and a cache keyed by
the block's text so 100,000 captures of a few chains parse each certificate once.
RFC 7468 section 2 (textual encoding) is what we accept: a BEGIN line, base64 lines, an END line
with the same label; whitespace inside the body is ignored.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from cryptography import x509

from certcensus.ingest.capture import UnusableFile

CERTIFICATE_LABELS = (b"CERTIFICATE", b"X509 CERTIFICATE", b"TRUSTED CERTIFICATE")
PKCS7_LABELS = (b"PKCS7", b"CERTIFICATE CHAIN")  # RFC 7468 section 8 names PKCS7

# Distinct certificates seen by this process: body text -> DER. Bounded so a run over many
# distinct files cannot grow without limit; captures of a service repeat a handful of blocks.
_DER_BY_BODY: dict[bytes, bytes] = {}
_CACHE_LIMIT = 50_000


@dataclass(frozen=True, slots=True)
class PemBlock:
    label: bytes
    body: bytes  # base64 text as found
    start: int  # offset of the BEGIN line in the file
    end: int  # offset just past the END line


def find_pem_blocks(data: bytes) -> list[PemBlock]:
    """Every PEM block in order; a block without its END line raises `truncated-pem`.

    Plain `find` calls rather than one regular expression: this runs on every file of a
    100,000-file ingest, and a lazy DOTALL pattern costs several times more per file.
    """
    blocks = []
    position = data.find(b"-----BEGIN ")
    while position >= 0:
        label_end = data.find(b"-----", position + 11)
        following = data.find(b"-----BEGIN ", position + 11)
        end = data.find(b"-----END ", position + 11)
        if label_end < 0 or end < 0 or (0 <= following < end):
            line = data.count(b"\n", 0, position) + 1
            label = data[position + 11 : label_end if label_end >= 0 else position + 40]
            raise UnusableFile(
                "truncated-pem",
                f"BEGIN {label.decode(errors='replace')} at line {line} has no END line",
            )
        end_line = data.find(b"-----", end + 9)
        stop = end_line + 5 if end_line >= 0 else len(data)
        blocks.append(
            PemBlock(data[position + 11 : label_end], data[label_end + 5 : end], position, stop)
        )
        position = following if following >= stop else data.find(b"-----BEGIN ", stop)
    return blocks


def certificate_der_of(block: PemBlock, index: int) -> bytes:
    """The DER of a CERTIFICATE block, checked to parse as X.509 (cached by the block's text)."""
    der = _DER_BY_BODY.get(block.body)
    if der is not None:
        return der
    try:
        der = binascii.a2b_base64(block.body, strict_mode=False)
    except binascii.Error as error:
        raise UnusableFile("bad-pem", f"certificate {index + 1}: {error}") from None
    der = checked_certificate_der(der, f"certificate {index + 1}")
    if len(_DER_BY_BODY) >= _CACHE_LIMIT:
        _DER_BY_BODY.clear()
    _DER_BY_BODY[block.body] = der
    return der


def checked_certificate_der(der: bytes, what: str) -> bytes:
    """`der` if it parses as an X.509 certificate, else `not-a-certificate` naming `what`."""
    try:
        x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise UnusableFile(
            "not-a-certificate", f"{what} ({len(der)} bytes) is not X.509: {error}"
        ) from None
    return der
