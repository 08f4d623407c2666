"""A small PKI builder for the demo and the tests: roots, intermediates, cross-signs, leaves.

Everything is generated in memory with `cryptography`; nothing here touches the network. Keys are
kept beside their certificates because the pool servers need them; nothing outside `lab` ever
sees a private key.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Key generation dominates the cost of building a PKI; RSA-2048 is the smallest size every
# client still accepts, P-256 the usual ECDSA curve.
KEY_TYPES = ("rsa2048", "rsa4096", "ec256", "ec384")

ONE_DAY = dt.timedelta(days=1)


def generate_key(key_type: str = "rsa2048"):
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa4096":
        return rsa.generate_private_key(public_exponent=65537, key_size=4096)
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


@dataclass(frozen=True)
class Issued:
    """A certificate with the private key of its subject."""

    certificate: x509.Certificate
    key: Any = field(repr=False)  # an RSA or EC private key from `generate_key`

    @cached_property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @cached_property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @cached_property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def subject(self) -> x509.Name:
        return self.certificate.subject

    @cached_property
    def sha256(self) -> str:
        return self.certificate.fingerprint(hashes.SHA256()).hex()


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attributes = []
    if organization:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


class PKI:
    """Builds certificates relative to one clock, `now`, so tests can make expired ones."""

    def __init__(self, now: dt.datetime | None = None, organization: str = "certcensus lab"):
        self.now = now or dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.organization = organization
        self._serial = 0x1000

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def _build(
        self,
        *,
        subject: x509.Name,
        subject_key,
        issuer_name: x509.Name,
        issuer_key,
        issuer_public_key,
        is_ca: bool,
        path_length: int | None,
        not_before: dt.datetime | None,
        not_after: dt.datetime | None,
        names: list[str] | None = None,
        aia_ca_issuers: str | None = None,
        sha1: bool = False,
        version1: bool = False,
        key_usage: bool = True,
    ) -> x509.Certificate:
        not_before = not_before or self.now - ONE_DAY
        not_after = not_after or self.now + dt.timedelta(days=365 * (10 if is_ca else 1))
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer_name)
            .public_key(subject_key.public_key())
            .serial_number(self._next_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
        )
        if not version1:
            builder = builder.add_extension(
                x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None),
                critical=True,
            )
            builder = builder.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()),
                critical=False,
            )
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key),
                critical=False,
            )
            if key_usage:
                builder = builder.add_extension(
                    x509.KeyUsage(
                        digital_signature=True,
                        content_commitment=False,
                        key_encipherment=not is_ca and isinstance(subject_key, rsa.RSAPrivateKey),
                        data_encipherment=False,
                        key_agreement=False,
                        key_cert_sign=is_ca,
                        crl_sign=is_ca,
                        encipher_only=False,
                        decipher_only=False,
                    ),
                    critical=True,
                )
            if names:
                builder = builder.add_extension(
                    x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False
                )
                builder = builder.add_extension(
                    x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
                )
            if aia_ca_issuers:
                builder = builder.add_extension(
                    x509.AuthorityInformationAccess(
                        [
                            x509.AccessDescription(
                                x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                                x509.UniformResourceIdentifier(aia_ca_issuers),
                            )
                        ]
                    ),
                    critical=False,
                )
        certificate = builder.sign(issuer_key, hashes.SHA256())
        if version1 or sha1:
            certificate = _resign_legacy(certificate, issuer_key, version1=version1, sha1=sha1)
        return certificate

    def root(
        self,
        common_name: str,
        *,
        key_type: str = "rsa2048",
        key=None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        sha1: bool = False,
        version1: bool = False,
        key_usage: bool = True,
    ) -> Issued:
        """A self-signed CA. `sha1`, `version1` and `key_usage=False` make legacy roots."""
        key = key or generate_key(key_type)
        name = _name(common_name, self.organization)
        certificate = self._build(
            subject=name,
            subject_key=key,
            issuer_name=name,
            issuer_key=key,
            issuer_public_key=key.public_key(),
            is_ca=True,
            path_length=None,
            not_before=not_before,
            not_after=not_after,
            sha1=sha1,
            version1=version1,
            key_usage=key_usage,
        )
        return Issued(certificate, key)

    def intermediate(
        self,
        common_name: str,
        issuer: Issued,
        *,
        key_type: str = "rsa2048",
        key=None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        aia_ca_issuers: str | None = None,
        path_length: int | None = 0,
    ) -> Issued:
        key = key or generate_key(key_type)
        certificate = self._build(
            subject=_name(common_name, self.organization),
            subject_key=key,
            issuer_name=issuer.subject,
            issuer_key=issuer.key,
            issuer_public_key=issuer.key.public_key(),
            is_ca=True,
            path_length=path_length,
            not_before=not_before,
            not_after=not_after,
            aia_ca_issuers=aia_ca_issuers,
        )
        return Issued(certificate, key)

    def cross_sign(
        self,
        ca: Issued,
        issuer: Issued,
        *,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        aia_ca_issuers: str | None = None,
    ) -> Issued:
        """The same CA (subject and key) certified by another issuer: the cross-sign case."""
        certificate = self._build(
            subject=ca.subject,
            subject_key=ca.key,
            issuer_name=issuer.subject,
            issuer_key=issuer.key,
            issuer_public_key=issuer.key.public_key(),
            is_ca=True,
            path_length=None,
            not_before=not_before,
            not_after=not_after,
            aia_ca_issuers=aia_ca_issuers,
        )
        return Issued(certificate, ca.key)

    def leaf(
        self,
        names: list[str] | str,
        issuer: Issued,
        *,
        key_type: str = "rsa2048",
        key=None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        aia_ca_issuers: str | None = None,
        common_name: str | None = None,
    ) -> Issued:
        names = [names] if isinstance(names, str) else list(names)
        key = key or generate_key(key_type)
        certificate = self._build(
            subject=_name(common_name or names[0], self.organization),
            subject_key=key,
            issuer_name=issuer.subject,
            issuer_key=issuer.key,
            issuer_public_key=issuer.key.public_key(),
            is_ca=False,
            path_length=None,
            not_before=not_before,
            not_after=not_after,
            names=names,
            aia_ca_issuers=aia_ca_issuers,
        )
        return Issued(certificate, key)


def _general_name(name: str) -> x509.GeneralName:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


# AlgorithmIdentifier DER for the SHA-1 signatures modern builders refuse to produce.
_SHA1_WITH_RSA = bytes.fromhex("300d06092a864886f70d0101050500")
_ECDSA_WITH_SHA1 = bytes.fromhex("300906072a8648ce3d0401")


def _resign_legacy(certificate: x509.Certificate, issuer_key, *, version1: bool, sha1: bool):
    """Re-encode a certificate as X.509 v1 and/or re-sign it with SHA-1.

    Written by hand because cryptography (rightly) refuses to build either; legacy roots like
    these are still in old trust stores, and the trust analysis must be tested against them.
    Only the version field and the two AlgorithmIdentifiers change; the rest of the DER is reused.
    """
    from cryptography.hazmat.primitives.asymmetric import padding

    elements = _der_elements(_der_content(certificate.tbs_certificate_bytes))
    if version1 and elements[0][0] == 0xA0:
        elements = elements[1:]
    is_rsa = isinstance(issuer_key, rsa.RSAPrivateKey)
    algorithm = hashes.SHA1() if sha1 else hashes.SHA256()
    if sha1:
        signature_index = 1 if elements[0][0] != 0xA0 else 2  # [version], serial, signature
        elements[signature_index] = _SHA1_WITH_RSA if is_rsa else _ECDSA_WITH_SHA1
    new_tbs = _der_sequence(b"".join(elements))
    if is_rsa:
        signature = issuer_key.sign(new_tbs, padding.PKCS1v15(), algorithm)
    else:
        signature = issuer_key.sign(new_tbs, ec.ECDSA(algorithm))
    outer = _der_elements(_der_content(certificate.public_bytes(serialization.Encoding.DER)))
    algorithm_identifier = (
        outer[1] if not sha1 else (_SHA1_WITH_RSA if is_rsa else _ECDSA_WITH_SHA1)
    )
    bit_string = b"\x03" + _der_length(len(signature) + 1) + b"\x00" + signature
    return x509.load_der_x509_certificate(
        _der_sequence(new_tbs + algorithm_identifier + bit_string)
    )


def _der_header(data: bytes, offset: int) -> tuple[int, int]:
    """(header length, content length) of the TLV at `offset`."""
    first = data[offset + 1]
    if first < 0x80:
        return 2, first
    count = first & 0x7F
    return 2 + count, int.from_bytes(data[offset + 2 : offset + 2 + count], "big")


def _der_content(data: bytes) -> bytes:
    header, length = _der_header(data, 0)
    return data[header : header + length]


def _der_elements(data: bytes) -> list[bytes]:
    elements, offset = [], 0
    while offset < len(data):
        header, length = _der_header(data, offset)
        elements.append(data[offset : offset + header + length])
        offset += header + length
    return elements


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    encoded = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(encoded)]) + encoded


def _der_sequence(body: bytes) -> bytes:
    return b"\x30" + _der_length(len(body)) + body


def write_server_files(
    directory: Path, leaf: Issued, chain: list[Issued], stem: str
) -> tuple[Path, Path]:
    """Write `<stem>.crt` (leaf then `chain`, in that order) and `<stem>.key`; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    cert_path = directory / f"{stem}.crt"
    key_path = directory / f"{stem}.key"
    cert_path.write_bytes(leaf.pem + b"".join(c.pem for c in chain))
    key_path.write_bytes(leaf.key_pem)
    key_path.chmod(0o600)
    return cert_path, key_path
