"""What a person wants to read about one certificate, taken from its DER with `cryptography`.

A certificate that does not parse is still described (fingerprint, size, the parse error), so a
server that sends garbage is reported, not dropped.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass, fields
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from certcensus.certs.readable import UnreadableCertificate, read_certificate
from certcensus.model.chain import certificate_fingerprint


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    sha256: str
    subject: str  # RFC 4514
    issuer: str  # RFC 4514
    serial: str  # hex
    not_before: str  # ISO 8601, UTC
    not_after: str
    key: str  # e.g. "RSA-2048", "EC-secp256r1", "Ed25519"
    signature_algorithm: str
    pem: str
    common_name: str = ""
    is_ca: bool | None = None
    self_signed: bool = False
    parse_error: str | None = None

    def to_dict(self) -> dict:
        # Not dataclasses.asdict (a deep copy of every field): fleets render thousands.
        data = {name: getattr(self, name) for name in _INFO_FIELDS}
        if self.parse_error is None:
            del data["parse_error"]
        return data


_INFO_FIELDS = tuple(f.name for f in fields(CertificateInfo))


def pem_of(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN CERTIFICATE-----\n" + "\n".join(lines) + "\n-----END CERTIFICATE-----\n"


def key_description(public_key) -> str:
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC-{public_key.curve.name}"
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"DSA-{public_key.key_size}"
    return type(public_key).__name__


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@lru_cache(maxsize=4096)
def describe_certificate(der: bytes) -> CertificateInfo:
    sha256 = certificate_fingerprint(der)
    try:
        # Read around what cryptography refuses (an explicit v1 version, a bad extension):
        # such a certificate is still described (certs/readable.py names what is wrong).
        certificate = read_certificate(der).certificate
        return _describe(certificate, sha256, der)
    except UnreadableCertificate as error:
        message = str(error).removeprefix("does not parse as X.509: ")
        return CertificateInfo(
            sha256=sha256, subject="", issuer="", serial="", not_before="", not_after="",
            key="", signature_algorithm="", pem=pem_of(der),
            parse_error=f"does not parse as X.509 ({len(der)} bytes): {message}",
        )  # fmt: skip
    except Exception as error:  # noqa: BLE001 - any parse failure is reported, never raised
        return CertificateInfo(
            sha256=sha256, subject="", issuer="", serial="", not_before="", not_after="",
            key="", signature_algorithm="", pem=pem_of(der),
            parse_error=f"does not parse as X.509 ({len(der)} bytes): {error}",
        )  # fmt: skip


def _describe(certificate: x509.Certificate, sha256: str, der: bytes) -> CertificateInfo:
    try:
        key = key_description(certificate.public_key())
    except Exception as error:  # noqa: BLE001 - unsupported key types still get a row
        key = f"unknown ({error})"
    try:
        signature = certificate.signature_algorithm_oid._name
    except Exception:  # noqa: BLE001
        signature = "unknown"
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        is_ca = constraints.value.ca
    except x509.ExtensionNotFound:
        is_ca = None
    except Exception:  # noqa: BLE001 - a malformed extension must not hide the certificate
        is_ca = None
    common_names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return CertificateInfo(
        sha256=sha256,
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial=format(certificate.serial_number, "x"),
        not_before=iso(certificate.not_valid_before_utc),
        not_after=iso(certificate.not_valid_after_utc),
        key=key,
        signature_algorithm=signature,
        pem=pem_of(der),
        common_name=str(common_names[0].value) if common_names else "",
        is_ca=is_ca,
        self_signed=certificate.subject == certificate.issuer,
    )


def short_name(info: CertificateInfo | None) -> str:
    """The common name, else the whole subject; for tables and sentences."""
    if info is None:
        return "(none)"
    if info.parse_error:
        return f"<unparseable {info.sha256[:12]}>"
    return info.common_name or info.subject or f"<empty subject {info.sha256[:12]}>"
