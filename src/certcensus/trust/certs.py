"""One certificate with the facts path validation asks about, computed once.

`cryptography` parses lazily and re-reads extensions on every access; path building asks the
same questions (names, key, key identifiers, constraints) many times per candidate, so they are
cached here. A certificate `cryptography` refuses in part is read through certs/readable.py:
what could not be read is listed in `malformations`, and every other fact is still there.
`Cert.from_der` raises `UnreadableCertificate` (a ValueError) only when not even the
certificate's own fields parse.
"""

from __future__ import annotations

import base64
import datetime as dt
import warnings
from dataclasses import dataclass, field
from functools import cached_property

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from certcensus.certs.der import DERError, children, oid_text, read_element
from certcensus.certs.names import CanonicalName, canonical_name
from certcensus.certs.readable import (
    Malformation,
    ReadCertificate,
    UnreadableCertificate,
    read_certificate,
)
from certcensus.model.chain import certificate_fingerprint
from certcensus.trust.extensions import ExtensionFacts, extension_facts
from certcensus.trust.signatures import (
    KEY_FAMILIES,
    SIGNATURE_ALGORITHMS,
    key_family_matches,
    rsa_numbers,
    signature_verifies,
)


def _algorithm_oid(algorithm_identifier: bytes) -> str:
    try:
        return oid_text(children(read_element(algorithm_identifier).content)[0].content)
    except (DERError, IndexError):
        return ""


@dataclass(frozen=True, eq=False)
class Cert:
    """A parsed certificate. Equality and hashing are by SHA-256 of the DER, nothing else."""

    der: bytes
    read: ReadCertificate = field(repr=False, compare=False)

    @classmethod
    def from_der(cls, der: bytes) -> Cert:
        return cls(der, read_certificate(der))

    @classmethod
    def from_certificate(cls, certificate: x509.Certificate) -> Cert:
        return cls.from_der(certificate.public_bytes(serialization.Encoding.DER))

    def __hash__(self) -> int:
        return hash(self.sha256)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Cert) and other.sha256 == self.sha256

    @property
    def certificate(self) -> x509.Certificate:
        """`cryptography`'s view (of the re-encoded form if something had to be set aside)."""
        return self.read.certificate

    @cached_property
    def sha256(self) -> str:
        return certificate_fingerprint(self.der)

    @cached_property
    def subject(self) -> x509.Name:
        return self.certificate.subject

    @cached_property
    def issuer(self) -> x509.Name:
        return self.certificate.issuer

    @property
    def subject_der(self) -> bytes:
        return self.read.parts.subject

    @property
    def issuer_der(self) -> bytes:
        return self.read.parts.issuer

    @cached_property
    def subject_key(self) -> CanonicalName:
        """The subject as OpenSSL compares names (certs/names.py): lookups go by this."""
        return canonical_name(self.subject_der)

    @cached_property
    def issuer_key(self) -> CanonicalName:
        return canonical_name(self.issuer_der)

    @property
    def spki_der(self) -> bytes:
        return self.read.parts.spki

    @cached_property
    def identity(self) -> tuple[CanonicalName, bytes]:
        """(subject, key): what a CA *is*; cross-signs of one CA share it, as RFC 4158 2.3 says."""
        return self.subject_key, self.spki_der

    @cached_property
    def is_self_issued(self) -> bool:
        return self.subject_key == self.issuer_key

    @cached_property
    def facts(self) -> ExtensionFacts:
        return extension_facts(self.read)

    @property
    def malformations(self) -> tuple[Malformation, ...]:
        return self.read.malformations

    @property
    def openssl_invalid(self) -> tuple[str, ...]:
        """Why OpenSSL would refuse to use this certificate in a chain at all (empty: it would
        not); see trust/extensions.py."""
        return self.facts.invalid

    @cached_property
    def public_key(self):
        """The key as `cryptography` loads it, or None when it will not (see malformations)."""
        try:
            return self.certificate.public_key()
        except (ValueError, UnsupportedAlgorithm):
            return None

    @cached_property
    def key_family(self) -> str | None:
        """ "rsa", "ec", "ed25519", ... from the SubjectPublicKeyInfo; None if OpenSSL could not
        decode the key either (only RSA keys `cryptography` refuses are still decodable)."""
        try:
            algorithm = children(read_element(self.spki_der).content)[0].encoded
        except (DERError, IndexError):
            return None
        family = KEY_FAMILIES.get(_algorithm_oid(algorithm))
        if self.public_key is None and not (family == "rsa" and rsa_numbers(self.spki_der)):
            return None
        return family

    @cached_property
    def signature_algorithm_oid(self) -> str:
        """The tbsCertificate's signature algorithm (the one OpenSSL matches issuers by)."""
        return _algorithm_oid(self.read.parts.inner_signature_algorithm)

    @cached_property
    def signature_family(self) -> str | None:
        return SIGNATURE_ALGORITHMS.get(self.signature_algorithm_oid, (None, None))[0]

    @property
    def signature_hash_algorithm(self):
        try:
            return self.certificate.signature_hash_algorithm
        except UnsupportedAlgorithm:
            return None

    @property
    def version(self) -> int:
        return self.read.parts.version

    @cached_property
    def serial_number(self) -> int:
        return int.from_bytes(self.read.parts.serial, "big", signed=True)

    @property
    def subject_key_identifier(self) -> bytes | None:
        return self.facts.subject_key_identifier

    @property
    def authority_key_identifier(self) -> bytes | None:
        aki = self.facts.authority_key_identifier
        return aki.key_identifier if aki else None

    @property
    def ca_issuers_urls(self) -> tuple[str, ...]:
        """The AIA caIssuers URIs (RFC 5280 4.2.2.1), in the order the certificate lists them."""
        return self.facts.ca_issuers_urls

    @cached_property
    def is_ca(self) -> bool:
        """May this certificate issue others? Lenient like OpenSSL: a v1 self-issued root counts.

        RFC 5280 4.2.1.9 requires basicConstraints cA=TRUE; v1 roots predate extensions and old
        stores (and GSKit, Java, OpenSSL) still trust them. keyUsage, when present, must allow
        keyCertSign (4.2.1.3); roots without keyUsage are accepted.
        """
        if self.version == 0:
            return self.is_self_issued
        facts = self.facts
        if facts.basic_constraints is None or not facts.basic_constraints[0]:
            return False
        return facts.key_usage is None or "key_cert_sign" in facts.key_usage

    @cached_property
    def not_before(self) -> dt.datetime:
        return self.certificate.not_valid_before_utc

    @cached_property
    def not_after(self) -> dt.datetime:
        return self.certificate.not_valid_after_utc

    def is_valid_at(self, when: dt.datetime) -> bool:
        """notBefore <= when < notAfter: OpenSSL counts a certificate expired at its notAfter
        second (X509_cmp_time maps "equal" to "earlier")."""
        return self.not_before <= when < self.not_after

    @cached_property
    def display_name(self) -> str:
        """The subject CN, or the whole RFC 4514 subject when it has no CN."""
        names = self.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if names and isinstance(names[0].value, str) and names[0].value:
            return names[0].value
        return self.subject.rfc4514_string() or self.sha256[:16]

    @cached_property
    def common_names(self) -> list[str]:
        return [
            a.value
            for a in self.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            if isinstance(a.value, str)
        ]

    @cached_property
    def is_root(self) -> bool:
        """Self-signed: self-issued, its key identifiers and key type fit itself, and its own
        key made its signature. A self-issued certificate signed by another key (a key
        rollover's old-with-new) is not a root, whatever its names say."""
        return openssl_self_signed(self) and signature_verifies(self, self)

    @cached_property
    def pem(self) -> bytes:
        body = base64.encodebytes(self.der).replace(b"\n", b"")
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return (
            b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"
        )


def check_akid(issuer: Cert, child: Cert) -> bool:
    """OpenSSL's X509_check_akid: the child's authorityKeyIdentifier fits the issuer (key id,
    and authorityCertIssuer and serial when present)."""
    aki = child.facts.authority_key_identifier
    if aki is None:
        return True
    ski = issuer.subject_key_identifier
    if aki.key_identifier is not None and ski is not None and aki.key_identifier != ski:
        return False
    if aki.serial is not None and aki.serial != issuer.serial_number:
        return False
    return aki.issuer is None or issuer.issuer_key == canonical_name(aki.issuer)


def names_issuer(issuer: Cert, child: Cert) -> bool:
    """Do names, key identifiers and key type say `issuer` issued `child`? (No signature.)"""
    return (
        issuer.subject_key == child.issuer_key
        and check_akid(issuer, child)
        and key_family_matches(issuer.key_family, child.signature_family)
    )


def likely_issued(issuer: Cert, child: Cert) -> bool:
    """OpenSSL's ossl_x509_likely_issued: could `issuer` have issued `child`? Names, key
    identifiers and key type; not the signature, which OpenSSL checks only once the chain is
    built. A certificate OpenSSL finds invalid neither issues nor is issued."""
    return not issuer.openssl_invalid and not child.openssl_invalid and names_issuer(issuer, child)


def openssl_self_signed(cert: Cert) -> bool:
    """OpenSSL's EXFLAG_SS: self-issued, its AKI fits itself and its key type fits its own
    signature algorithm. The signature is not checked (OpenSSL does not check it either)."""
    return (
        cert.is_self_issued
        and check_akid(cert, cert)
        and key_family_matches(cert.key_family, cert.signature_family)
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


def _pem_blocks(data: bytes) -> list[bytes]:
    """The DER of every CERTIFICATE block, read by hand so that one block `cryptography`
    refuses (an explicit v1 version, say) does not hide the others."""
    found = []
    for label in (b"CERTIFICATE", b"X509 CERTIFICATE"):
        begin, end = b"-----BEGIN " + label + b"-----", b"-----END " + label + b"-----"
        position = 0
        while (start := data.find(begin, position)) != -1:
            stop = data.find(end, start)
            if stop == -1:
                break
            try:
                found.append(base64.b64decode(b"".join(data[start + len(begin) : stop].split())))
            except ValueError:
                pass
            position = stop + len(end)
    return found


def _load_certificates(data: bytes) -> list[Cert]:
    # Bundles like certifi's start with comment lines before the first PEM block.
    if b"-----BEGIN" in data[: 1 << 16]:
        if b"-----BEGIN PKCS7-----" in data or b"-----BEGIN CERTIFICATE CHAIN-----" in data:
            return [Cert.from_certificate(c) for c in pkcs7.load_pem_pkcs7_certificates(data)]
        blocks = _pem_blocks(data)
        if not blocks:
            raise ValueError("PEM file without a CERTIFICATE block")
        certs = []
        for der in blocks:
            try:
                certs.append(Cert.from_der(der))
            except UnreadableCertificate:
                continue  # one unreadable block in a bundle is skipped, the rest load
        if not certs:
            raise ValueError("no readable certificate in the PEM blocks")
        return certs
    try:
        return [Cert.from_der(data)]
    except ValueError:
        pass
    try:
        return [Cert.from_certificate(c) for c in pkcs7.load_der_pkcs7_certificates(data)]
    except ValueError:
        raise ValueError("neither PEM, DER certificate, nor PKCS#7") from None


__all__ = [
    "Cert",
    "UnreadableCertificate",
    "check_akid",
    "issuer_name_text",
    "likely_issued",
    "load_certificates_from_bytes",
    "names_issuer",
    "openssl_self_signed",
]
