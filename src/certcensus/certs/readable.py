"""The one place that reads a certificate `cryptography` may refuse, and says what is malformed.

Clients meet certificates that are not valid DER or RFC 5280 but that OpenSSL accepts: a v1
version encoded explicitly, a duplicate extension, a subjectAltName with an unexpected tag, an
empty extendedKeyUsage, an iPAddress name constraint that is not an address and mask, an AIA
that is not a SEQUENCE, a key `cryptography` will not load. `cryptography` refuses such a
certificate whole (or all of its extensions at once), so a single odd certificate would stop the
analysis. Here the certificate is split with `der.py`, what `cryptography` refuses is set aside
and named (`Malformation`), and the rest is read with `cryptography` as usual. The original bytes
stay what they were: fingerprints and signature checks use them, never the re-encoding.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.utils import CryptographyDeprecationWarning

from certcensus.certs.der import CertificateParts, DERError, RawExtension, split_certificate

# Names for the extensions a message is likely to be about (RFC 5280 4.2 and RFC 3779).
EXTENSION_NAMES = {
    "2.5.29.14": "subjectKeyIdentifier",
    "2.5.29.15": "keyUsage",
    "2.5.29.17": "subjectAltName",
    "2.5.29.18": "issuerAltName",
    "2.5.29.19": "basicConstraints",
    "2.5.29.30": "nameConstraints",
    "2.5.29.31": "cRLDistributionPoints",
    "2.5.29.32": "certificatePolicies",
    "2.5.29.33": "policyMappings",
    "2.5.29.35": "authorityKeyIdentifier",
    "2.5.29.36": "policyConstraints",
    "2.5.29.37": "extendedKeyUsage",
    "2.5.29.54": "inhibitAnyPolicy",
    "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
    "1.3.6.1.5.5.7.1.7": "ipAddrBlocks",
    "1.3.6.1.5.5.7.1.8": "autonomousSysIds",
    "1.3.6.1.4.1.11129.2.4.2": "signedCertificateTimestampList",
}


def extension_name(oid: str) -> str:
    name = EXTENSION_NAMES.get(oid)
    return f"{oid} ({name})" if name else oid


@dataclass(frozen=True)
class Malformation:
    """One way a certificate departs from DER or RFC 5280 that `cryptography` will not read."""

    kind: str  # explicit-default-version, duplicate-extension, undecodable-extension, public-key
    detail: str  # "duplicate extension 2.5.29.17 (subjectAltName)"
    oid: str | None = None  # the extension it is about


class UnreadableCertificate(ValueError):
    """Not even the parts of an X.509 certificate can be read (garbage, truncated, bad fields)."""


@dataclass(frozen=True)
class ReadCertificate:
    certificate: x509.Certificate  # of the re-encoded form when anything had to be set aside
    parts: CertificateParts  # of the original DER
    malformations: tuple[Malformation, ...]
    dropped: tuple[RawExtension, ...]  # extensions that are not in `certificate`

    @property
    def reencoded(self) -> bool:
        """True when `certificate` is not the original DER (its signature will not verify)."""
        return bool(self.dropped) or any(
            m.kind == "explicit-default-version" for m in self.malformations
        )


def _load(der: bytes) -> x509.Certificate:
    # Real certificates carry negative serial numbers; cryptography warns on each.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def _extensions_read(certificate: x509.Certificate) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            certificate.extensions  # noqa: B018 - parsing them is the test
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType):
            return False
    return True


def read_certificate(der: bytes) -> ReadCertificate:
    """Read `der`, setting aside what `cryptography` refuses; raises UnreadableCertificate when
    the certificate's own fields (names, validity, algorithms) do not parse."""
    try:
        parts = split_certificate(der)
    except DERError as error:
        raise UnreadableCertificate(f"not an X.509 certificate: {error}") from None
    malformations: list[Malformation] = []
    explicit_version: bool | None = None
    if parts.version_explicit and parts.version == 0:
        malformations.append(
            Malformation(
                "explicit-default-version",
                "version v1 is encoded explicitly (DER requires the default to be left out)",
            )
        )
        explicit_version = False
    kept: list[RawExtension] = []
    dropped: list[RawExtension] = []
    seen: set[str] = set()
    for extension in parts.extensions:
        if extension.oid in seen:
            dropped.append(extension)
            malformations.append(
                Malformation(
                    "duplicate-extension",
                    f"duplicate extension {extension_name(extension.oid)}",
                    extension.oid,
                )
            )
            continue
        seen.add(extension.oid)
        kept.append(extension)
    changed = bool(dropped) or explicit_version is not None
    try:
        certificate = _load(
            parts.rebuilt(version=explicit_version, extensions=kept) if changed else der
        )
    except ValueError as error:
        raise UnreadableCertificate(f"does not parse as X.509: {error}") from None
    if not _extensions_read(certificate):
        # Find the extensions cryptography refuses: each one alone in an otherwise equal copy.
        readable = []
        for extension in kept:
            alone = _load(parts.rebuilt(version=explicit_version, extensions=[extension]))
            if _extensions_read(alone):
                readable.append(extension)
            else:
                dropped.append(extension)
                malformations.append(
                    Malformation(
                        "undecodable-extension",
                        f"extension {extension_name(extension.oid)} does not decode",
                        extension.oid,
                    )
                )
        certificate = _load(parts.rebuilt(version=explicit_version, extensions=readable))
    try:
        certificate.public_key()
    except (ValueError, UnsupportedAlgorithm) as error:
        malformations.append(Malformation("public-key", f"public key does not load ({error})"))
    return ReadCertificate(certificate, parts, tuple(malformations), tuple(dropped))
