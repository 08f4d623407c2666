"""What path validation reads from a certificate's extensions, as OpenSSL 3 reads it.

OpenSSL decodes a fixed set of extensions once per certificate (ossl_x509v3_cache_extensions)
and marks the certificate invalid when one of them is duplicated or does not decode; an invalid
certificate can then neither issue nor be issued in a chain. The same facts are gathered here
from `cryptography`'s extension objects. Where `cryptography` refuses an extension that OpenSSL
decodes (an empty extendedKeyUsage, an authorityKeyIdentifier with authorityCertIssuer but no
serial, an iPAddress name constraint that is not address-and-mask), the extension is read by hand
from its DER below, because no library reads it and the verdict must match what OpenSSL does.
"""

from __future__ import annotations

import ipaddress
import warnings
from dataclasses import dataclass

from cryptography import x509
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import AuthorityInformationAccessOID

from certcensus.certs.der import (
    BIT_STRING,
    OID,
    SEQUENCE,
    DERError,
    RawExtension,
    children,
    oid_text,
    read_element,
)
from certcensus.certs.readable import ReadCertificate, extension_name
from certcensus.trust.name_constraints import (
    NameConstraints,
    constraints_from_cryptography,
    constraints_from_der,
)

BASIC_CONSTRAINTS = "2.5.29.19"
KEY_USAGE = "2.5.29.15"
EXTENDED_KEY_USAGE = "2.5.29.37"
SUBJECT_KEY_IDENTIFIER = "2.5.29.14"
AUTHORITY_KEY_IDENTIFIER = "2.5.29.35"
SUBJECT_ALT_NAME = "2.5.29.17"
NAME_CONSTRAINTS = "2.5.29.30"
CRL_DISTRIBUTION_POINTS = "2.5.29.31"
NETSCAPE_CERT_TYPE = "2.16.840.1.113730.1.1"
PROXY_CERT_INFO = "1.3.6.1.5.5.7.1.14"
IP_ADDR_BLOCKS = "1.3.6.1.5.5.7.1.7"
AS_IDENTIFIERS = "1.3.6.1.5.5.7.1.8"

# The extensions OpenSSL decodes for every certificate; a duplicate or an undecodable one marks
# the certificate invalid (EXFLAG_INVALID).
DECODED_BY_OPENSSL = {
    BASIC_CONSTRAINTS, KEY_USAGE, EXTENDED_KEY_USAGE, SUBJECT_KEY_IDENTIFIER,
    AUTHORITY_KEY_IDENTIFIER, SUBJECT_ALT_NAME, NAME_CONSTRAINTS, CRL_DISTRIBUTION_POINTS,
    NETSCAPE_CERT_TYPE, PROXY_CERT_INFO, IP_ADDR_BLOCKS, AS_IDENTIFIERS,
}  # fmt: skip
# OpenSSL 3.0's X509_supported_extension: a critical extension not listed is "unhandled".
HANDLED_WHEN_CRITICAL = {
    NETSCAPE_CERT_TYPE, KEY_USAGE, SUBJECT_ALT_NAME, BASIC_CONSTRAINTS,
    "2.5.29.32",  # certificatePolicies
    CRL_DISTRIBUTION_POINTS, EXTENDED_KEY_USAGE, IP_ADDR_BLOCKS, AS_IDENTIFIERS,
    "1.3.6.1.5.5.7.48.1.5",  # OCSP noCheck
    "2.5.29.36",  # policyConstraints
    PROXY_CERT_INFO, NAME_CONSTRAINTS,
    "2.5.29.33",  # policyMappings
    "2.5.29.54",  # inhibitAnyPolicy
}  # fmt: skip

SERVER_AUTH = "1.3.6.1.5.5.7.3.1"
# Server-Gated Cryptography, which OpenSSL still accepts in place of serverAuth.
NETSCAPE_SGC = "2.16.840.1.113730.4.1"
MICROSOFT_SGC = "1.3.6.1.4.1.311.10.3.3"
ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0"
# Netscape certificate type bits (OpenSSL's NS_SSL_SERVER, NS_SSL_CA, NS_ANY_CA).
NS_SSL_SERVER = 0x40
NS_SSL_CA = 0x04
NS_ANY_CA = 0x07


@dataclass(frozen=True)
class AuthorityKeyId:
    key_identifier: bytes | None
    issuer: bytes | None  # the first directoryName of authorityCertIssuer, as Name DER
    serial: int | None


@dataclass(frozen=True)
class SubjectNames:
    """A subjectAltName's names by kind (what host checks and name constraints read)."""

    dns: tuple[str, ...] = ()
    ip: tuple[bytes, ...] = ()  # packed addresses
    email: tuple[str, ...] = ()
    uri: tuple[str, ...] = ()
    directory: tuple[bytes, ...] = ()  # Name DER
    other: int = 0  # names of kinds no constraint check here understands


@dataclass(frozen=True)
class ExtensionFacts:
    basic_constraints: tuple[bool, int | None] | None  # (cA, pathLenConstraint)
    key_usage: frozenset[str] | None  # the bits set, by cryptography's attribute names
    extended_key_usage: tuple[str, ...] | None  # dotted OIDs
    subject_key_identifier: bytes | None
    authority_key_identifier: AuthorityKeyId | None
    subject_alt_names: SubjectNames | None
    name_constraints: NameConstraints | None
    netscape_cert_type: int | None
    ca_issuers_urls: tuple[str, ...]
    unhandled_critical: tuple[str, ...]  # critical extensions OpenSSL does not process
    proxy: bool
    invalid: tuple[str, ...]  # why OpenSSL would mark the certificate invalid


_KEY_USAGE_BITS = (
    "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
    "key_agreement", "key_cert_sign", "crl_sign",
)  # fmt: skip


def _key_usage(value: x509.KeyUsage) -> frozenset[str]:
    bits = {name for name in _KEY_USAGE_BITS if getattr(value, name)}
    if value.key_agreement:  # encipher_only/decipher_only are only defined with keyAgreement
        bits |= {n for n in ("encipher_only", "decipher_only") if getattr(value, n)}
    return frozenset(bits)


def _subject_names(value: x509.SubjectAlternativeName) -> SubjectNames:
    dns, ip, email, uri, directory, other = [], [], [], [], [], 0
    for name in value:
        if isinstance(name, x509.DNSName):
            dns.append(name.value)
        elif isinstance(name, x509.IPAddress):
            address = name.value
            if isinstance(address, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                ip.append(address.packed)
        elif isinstance(name, x509.RFC822Name):
            email.append(name.value)
        elif isinstance(name, x509.UniformResourceIdentifier):
            uri.append(name.value)
        elif isinstance(name, x509.DirectoryName):
            directory.append(name.value.public_bytes())
        else:
            other += 1
    return SubjectNames(tuple(dns), tuple(ip), tuple(email), tuple(uri), tuple(directory), other)


def _eku_from_der(value: bytes) -> tuple[str, ...]:
    """ExtKeyUsageSyntax ::= SEQUENCE OF KeyPurposeId; OpenSSL accepts an empty one."""
    sequence = read_element(value)
    if sequence.tag != SEQUENCE or sequence.end != len(value):
        raise DERError("extendedKeyUsage is not a SEQUENCE")
    purposes = children(sequence.content)
    if any(p.tag != OID for p in purposes):
        raise DERError("extendedKeyUsage holds something other than OIDs")
    return tuple(oid_text(p.content) for p in purposes)


def _aki_from_der(value: bytes) -> AuthorityKeyId:
    """AuthorityKeyIdentifier (RFC 5280 4.2.1.1) with any combination of its three fields."""
    sequence = read_element(value)
    if sequence.tag != SEQUENCE or sequence.end != len(value):
        raise DERError("authorityKeyIdentifier is not a SEQUENCE")
    key_id = issuer = serial = None
    for field in children(sequence.content):
        if field.tag == 0x80:
            key_id = field.content
        elif field.tag == 0xA1:
            for name in children(field.content):
                if name.tag == 0xA4 and issuer is None:  # directoryName [4] EXPLICIT Name
                    issuer = read_element(name.content).encoded
        elif field.tag == 0x82:
            serial = int.from_bytes(field.content, "big", signed=True)
        else:
            raise DERError("unexpected field in authorityKeyIdentifier")
    return AuthorityKeyId(key_id, issuer, serial)


def _netscape_cert_type(value: bytes) -> int:
    bits = read_element(value)
    if bits.tag != BIT_STRING or not bits.content:
        raise DERError("netscape certificate type is not a BIT STRING")
    return bits.content[1] if len(bits.content) > 1 else 0


def _value(certificate: x509.Certificate, oid: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        try:
            return certificate.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
        except x509.ExtensionNotFound:
            return None


def _fallback(extension: RawExtension):
    """Read by hand an extension `cryptography` refused but OpenSSL decodes; None if OpenSSL
    would not decode it either."""
    try:
        if extension.oid == EXTENDED_KEY_USAGE:
            return _eku_from_der(extension.value)
        if extension.oid == AUTHORITY_KEY_IDENTIFIER:
            return _aki_from_der(extension.value)
        if extension.oid == NAME_CONSTRAINTS:
            return constraints_from_der(extension.value)
    except DERError:
        return None
    return None


def extension_facts(read: ReadCertificate) -> ExtensionFacts:
    certificate = read.certificate
    invalid: list[str] = []
    fallback: dict[str, object] = {}
    duplicated = {m.oid for m in read.malformations if m.kind == "duplicate-extension"}
    for extension in read.dropped:
        if extension.oid not in DECODED_BY_OPENSSL:
            continue  # OpenSSL does not read it during verification (AIA, SCTs, policies)
        if extension.oid in duplicated:
            invalid.append(f"duplicate extension {extension_name(extension.oid)}")
            continue
        value = _fallback(extension)
        if value is None:
            invalid.append(f"extension {extension_name(extension.oid)} does not decode")
        else:
            fallback[extension.oid] = value

    constraints = _value(certificate, BASIC_CONSTRAINTS)
    basic = (constraints.ca, constraints.path_length) if constraints is not None else None
    if basic is not None and basic[1] is not None and basic[1] < 0:
        invalid.append("negative pathLenConstraint")
    usage = _value(certificate, KEY_USAGE)
    key_usage = _key_usage(usage) if usage is not None else None
    if key_usage is not None and not key_usage:
        invalid.append("empty keyUsage")
    eku = _value(certificate, EXTENDED_KEY_USAGE)
    extended = tuple(o.dotted_string for o in eku) if eku is not None else None
    if EXTENDED_KEY_USAGE in fallback:
        extended = fallback[EXTENDED_KEY_USAGE]  # type: ignore[assignment]
    ski = _value(certificate, SUBJECT_KEY_IDENTIFIER)
    aki_value = _value(certificate, AUTHORITY_KEY_IDENTIFIER)
    aki = (
        AuthorityKeyId(
            aki_value.key_identifier,
            _first_directory_name(aki_value.authority_cert_issuer),
            aki_value.authority_cert_serial_number,
        )
        if aki_value is not None
        else fallback.get(AUTHORITY_KEY_IDENTIFIER)
    )
    san = _value(certificate, x509.SubjectAlternativeName.oid.dotted_string)
    nc_value = _value(certificate, NAME_CONSTRAINTS)
    name_constraints = (
        constraints_from_cryptography(nc_value)
        if nc_value is not None
        else fallback.get(NAME_CONSTRAINTS)
    )
    netscape = None
    unhandled, proxy = [], False
    for extension in read.parts.extensions:
        if extension.oid == NETSCAPE_CERT_TYPE and netscape is None:
            try:
                netscape = _netscape_cert_type(extension.value)
            except DERError:
                invalid.append(f"extension {extension_name(NETSCAPE_CERT_TYPE)} does not decode")
        if extension.oid == PROXY_CERT_INFO:
            proxy = True
        if extension.critical and extension.oid not in HANDLED_WHEN_CRITICAL:
            unhandled.append(extension.oid)
    aia = _value(certificate, x509.AuthorityInformationAccess.oid.dotted_string)
    urls = tuple(
        d.access_location.value
        for d in (aia or ())
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )
    return ExtensionFacts(
        basic_constraints=basic,
        key_usage=key_usage,
        extended_key_usage=extended,
        subject_key_identifier=ski.digest if ski is not None else None,
        authority_key_identifier=aki,  # type: ignore[arg-type]
        subject_alt_names=_subject_names(san) if san is not None else None,
        name_constraints=name_constraints,  # type: ignore[arg-type]
        netscape_cert_type=netscape,
        ca_issuers_urls=urls,
        unhandled_critical=tuple(dict.fromkeys(unhandled)),
        proxy=proxy,
        invalid=tuple(invalid),
    )


def _first_directory_name(names) -> bytes | None:
    for name in names or ():
        if isinstance(name, x509.DirectoryName):
            return name.value.public_bytes()
    return None


__all__ = [
    "ANY_EXTENDED_KEY_USAGE",
    "AuthorityKeyId",
    "ExtensionFacts",
    "NS_ANY_CA",
    "NS_SSL_CA",
    "NS_SSL_SERVER",
    "SERVER_AUTH",
    "SubjectNames",
    "extension_facts",
]
