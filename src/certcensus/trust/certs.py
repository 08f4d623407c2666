"""One certificate with the facts path building asks about, computed once.

`cryptography` parses lazily and re-reads extensions on every access; the path builder asks the
same questions (subject, key, SKI, AKI) many times per candidate, so they are cached here.
"""

from __future__ import annotations

import base64
import datetime as dt
import warnings
from dataclasses import dataclass, field
from functools import cached_property

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from certcensus.model.chain import certificate_fingerprint


@dataclass(frozen=True, eq=False)
class Cert:
    """A parsed certificate. Equality and hashing are by SHA-256 of the DER, nothing else."""

    der: bytes
    certificate: x509.Certificate = field(repr=False, compare=False)

    @classmethod
    def from_der(cls, der: bytes) -> Cert:
        return cls(der, x509.load_der_x509_certificate(der))

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> Cert:
        return cls(certificate.public_bytes(serialization.Encoding.DER), certificate)

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cert) and other.sha256 == self.sha256

    @cached_property
    def sha256(self) -> str:
        return certificate_fingerprint(self.der)

    @cached_property
    def subject(self) -> x509.Name:
        return self.certificate.subject

    @cached_property
    def issuer(self) -> x509.Name:
        return self.certificate.issuer

    @cached_property
    def subject_der(self) -> bytes:
        return self.subject.public_bytes()

    @cached_property
    def issuer_der(self) -> bytes:
        return self.issuer.public_bytes()

    @cached_property
    def spki_der(self) -> bytes:
        return self.certificate.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @cached_property
    def identity(self) -> tuple[bytes, bytes]:
        """(subject, key): what a CA *is*; cross-signs of one CA share it, as RFC 4158 2.3 says."""
        return self.subject_der, self.spki_der

    @cached_property
    def is_self_issued(self) -> bool:
        return self.subject_der == self.issuer_der

    def _extension(self, extension_type):
        # Parsing extensions re-checks the serial number; see load_certificates_from_bytes.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            try:
                return self.certificate.extensions.get_extension_for_class(extension_type).value
            except x509.ExtensionNotFound:
                return None

    @cached_property
    def subject_key_identifier(self) -> bytes | None:
        value = self._extension(x509.SubjectKeyIdentifier)
        return value.digest if value else None

    @cached_property
    def authority_key_identifier(self) -> bytes | None:
        value = self._extension(x509.AuthorityKeyIdentifier)
        return value.key_identifier if value else None

    @cached_property
    def ca_issuers_urls(self) -> tuple[str, ...]:
        """The AIA caIssuers URIs (RFC 5280 4.2.2.1), in the order the certificate lists them."""
        value = self._extension(x509.AuthorityInformationAccess)
        if not value:
            return ()
        return tuple(
            d.access_location.value
            for d in value
            if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(d.access_location, x509.UniformResourceIdentifier)
        )

    @cached_property
    def is_ca(self) -> bool:
        """May this certificate issue others? Lenient like OpenSSL: a v1 self-issued root counts.

        RFC 5280 4.2.1.9 requires basicConstraints cA=TRUE; v1 roots predate extensions and old
        stores (and GSKit, Java, OpenSSL) still trust them. keyUsage, when present, must allow
        keyCertSign (4.2.1.3); roots without keyUsage are accepted.
        """
        if self.certificate.version == x509.Version.v1:
            return self.is_self_issued
        constraints = self._extension(x509.BasicConstraints)
        if constraints is None or not constraints.ca:
            return False
        usage = self._extension(x509.KeyUsage)
        return usage is None or usage.key_cert_sign

    @cached_property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @cached_property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def is_valid_at(self, when: dt.datetime) -> bool:
        return self.not_before <= when <= self.not_after

    @cached_property
    def display_name(self) -> str:
        """The subject CN, or the whole RFC 4514 subject when it has no CN."""
        names = self.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if names and isinstance(names[0].value, str) and names[0].value:
            return names[0].value
        return self.subject.rfc4514_string() or self.sha256[:16]

    @cached_property
    def pem(self) -> bytes:
        body = base64.encodebytes(self.der).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return (
            b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"
        )


def issuer_name_text(cert: Cert) -> str:
    return cert.issuer.rfc4514_string()


def load_certificates_from_bytes(data: bytes) -> list[Cert]:
    """Every certificate in `data`: PEM (one or many), DER, or PKCS#7 certs-only (DER or PEM).

    Raises ValueError when none of these formats fits.
    """
    # Real stores carry old CAs with negative serial numbers; cryptography warns on each, which
    # would flood a user's terminal for certificates they cannot change.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return _load_certificates(data)


def _load_certificates(data: bytes) -> list[Cert]:
    # Bundles like certifi's start with comment lines before the first PEM block.
    if b"-----BEGIN" in data[: 1 << 16]:
        if b"-----BEGIN PKCS7-----" in data or b"-----BEGIN CERTIFICATE CHAIN-----" in data:
            return [Cert.from_certificate(c) for c in pkcs7.load_pem_pkcs7_certificates(data)]
        if (
            b"-----BEGIN CERTIFICATE-----" not in data
            and b"-----BEGIN X509 CERTIFICATE-----" not in data
        ):
            raise ValueError("PEM file without a CERTIFICATE block")
        return [Cert.from_certificate(c) for c in x509.load_pem_x509_certificates(data)]
    try:
        return [Cert.from_der(data)]
    except ValueError:
        pass
    try:
        return [Cert.from_certificate(c) for c in pkcs7.load_der_pkcs7_certificates(data)]
    except ValueError:
        raise ValueError("neither PEM, DER certificate, nor PKCS#7") from None
