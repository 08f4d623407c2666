"""One file's bytes -> its captures, the format found by content (never by the extension)."""

from __future__ import annotations

import binascii
import json
import re

from cryptography.hazmat.primitives.serialization import pkcs7

from certcensus.ingest.capture import Capture, UnusableFile
from certcensus.ingest.census_json import captures_from_census
from certcensus.ingest.pem import (
    CERTIFICATE_LABELS,
    PKCS7_LABELS,
    certificate_der_of,
    checked_certificate_der,
    find_pem_blocks,
)
from certcensus.ingest.sclient import looks_like_s_client, parse_s_client_output

_BASE64_ONLY = re.compile(rb"[A-Za-z0-9+/=\s]+")
_UTF8_BOM = b"\xef\xbb\xbf"


def detect_format(data: bytes) -> str:
    """ "empty", "census-json", "s_client", "pem", "der", "base64" or "unknown"."""
    text = data.removeprefix(_UTF8_BOM).lstrip()
    if not text:
        return "empty"
    if text[:1] == b"{":
        return "census-json"
    if looks_like_s_client(data):
        return "s_client"
    if b"-----BEGIN " in data:
        return "pem"
    if data[:1] == b"\x30":  # an ASN.1 SEQUENCE: a certificate or a PKCS#7 ContentInfo
        return "der"
    if len(text) >= 64 and _BASE64_ONLY.fullmatch(text):
        return "base64"
    return "unknown"


def read_capture_file(data: bytes, path: str) -> list[Capture]:
    """The captures in one file; raises UnusableFile with the reason when there are none."""
    kind = detect_format(data)
    if kind == "empty":
        raise UnusableFile("empty")
    if kind == "census-json":
        try:
            document = json.loads(data.decode("utf-8-sig"))
        except (UnicodeDecodeError, ValueError) as error:
            raise UnusableFile("bad-json", str(error)) from None
        return captures_from_census(document, path)
    if kind == "s_client":
        return parse_s_client_output(data, path)
    if kind == "pem":
        return [_read_pem(data, path)]
    if kind == "der":
        return [_read_der(data, path)]
    if kind == "base64":
        der = binascii.a2b_base64(data, strict_mode=False)
        if der[:1] != b"\x30":
            raise UnusableFile("not-a-certificate", "base64 that does not decode to DER")
        return [_read_der(der, path)]
    binary = any(byte < 9 or 13 < byte < 32 for byte in data[:512])
    raise UnusableFile("unknown-format", "binary data" if binary else "text without a certificate")


def _read_pem(data: bytes, path: str) -> Capture:
    blocks = find_pem_blocks(data)
    chain: list[bytes] = []
    for block in blocks:
        if block.label in CERTIFICATE_LABELS:
            chain.append(certificate_der_of(block, len(chain)))
        elif block.label in PKCS7_LABELS:
            chain.extend(_pkcs7_certificates(data[block.start : block.end], pem=True))
    if not chain:
        labels = ", ".join(sorted({b.label.decode() for b in blocks}))
        raise UnusableFile("no-certificate", f"PEM blocks without a certificate ({labels})")
    return Capture(path=path, format="pem", chain=tuple(chain))


def _read_der(data: bytes, path: str) -> Capture:
    try:
        return Capture(path=path, format="der", chain=(checked_certificate_der(data, "DER"),))
    except UnusableFile as not_x509:
        try:
            return Capture(
                path=path, format="pkcs7", chain=tuple(_pkcs7_certificates(data, pem=False))
            )
        except UnusableFile:
            raise not_x509 from None


def _pkcs7_certificates(data: bytes, *, pem: bool) -> list[bytes]:
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        loaded = (
            pkcs7.load_pem_pkcs7_certificates(data)
            if pem
            else pkcs7.load_der_pkcs7_certificates(data)
        )
    except ValueError as error:
        raise UnusableFile("not-a-certificate", f"PKCS#7 without certificates: {error}") from None
    return [certificate.public_bytes(Encoding.DER) for certificate in loaded]
