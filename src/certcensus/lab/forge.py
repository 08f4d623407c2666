"""Certificates with exactly the features (and defects) a test asks for, built and signed here.

`cryptography`'s builder refuses, rightly, most of what clients still meet: SHA-1 and
ECDSA-with-SHA-1 signatures, v1 certificates (with or without an explicit version), duplicate
extensions, a subjectAltName with an unexpected tag, an empty extendedKeyUsage, an iPAddress
name constraint that is not address-and-mask, an authorityKeyIdentifier with authorityCertIssuer
but no serial, an RSA key with exponent 1. So the builder makes a well-formed certificate, the
DER is edited with certs/der.py, and the result is signed again by hand with the issuer's key.
Private keys live here and in pki.py only; nothing outside `lab` ever sees one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, NameOID

from certcensus.certs import der as D

ORGANIZATION = "certcensus lab"
# Key generation dominates the cost of forging; tests draw from a fixed ring of keys per type.
KEY_TYPES = ("rsa2048", "ec256", "ec384", "ed25519", "rsa1024")

# AlgorithmIdentifier DER per (key type, hash): RFC 3279, 4055, 5758, 8410.
_ALGORITHMS = {
    ("rsa", "sha1"): "300d06092a864886f70d0101050500",
    ("rsa", "sha256"): "300d06092a864886f70d01010b0500",
    ("rsa", "sha384"): "300d06092a864886f70d01010c0500",
    ("ec", "sha1"): "300906072a8648ce3d0401",
    ("ec", "sha256"): "300a06082a8648ce3d040302",
    ("ec", "sha384"): "300a06082a8648ce3d040303",
    ("ed25519", None): "300506032b6570",
}
_HASHES: dict[str, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA384]] = {
    "sha1": hashes.SHA1,
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
}
UNKNOWN_EXTENSION = "1.3.6.1.4.1.55555.1.1"  # a private OID no verifier knows

# The malformations `forge` can apply (see the module docstring); each names the extension.
MALFORMATIONS = (
    "duplicate-san",
    "san-bad-tag",
    "empty-eku",
    "bad-ip-name-constraint",
    "bad-aia",
    "aki-issuer-without-serial",
    "explicit-v1",
)


@cache
def ring_key(key_type: str, index: int = 0) -> Any:
    """The `index`th key of `key_type`, generated once per process."""
    if key_type == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa1024":
        return rsa.generate_private_key(public_exponent=65537, key_size=1024)
    if key_type == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec384":
        return ec.generate_private_key(ec.SECP384R1())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r}")


class ExponentOneKey:
    """An RSA key whose public exponent is 1: `cryptography` refuses to load it ("e must be >=
    3"), OpenSSL loads and uses it. Its "signature" is the PKCS #1 v1.5 encoding itself
    (s = m^d mod n with d = 1). The modulus and key identifiers come from `template`."""

    def __init__(self, template: rsa.RSAPrivateKey):
        self.template = template
        self.modulus = template.public_key().public_numbers().n

    def public_key(self):
        return self.template.public_key()

    def spki(self) -> bytes:
        def integer(value: int) -> bytes:
            return D.encode(D.INTEGER, value.to_bytes(value.bit_length() // 8 + 1, "big"))

        algorithm = bytes.fromhex("300d06092a864886f70d0101010500")
        key = D.encode(D.SEQUENCE, integer(self.modulus) + integer(1))
        return D.encode(D.SEQUENCE, algorithm + D.encode(D.BIT_STRING, b"\x00" + key))

    def sign(self, data: bytes, hash_name: str) -> bytes:
        import hashlib

        prefixes = {
            "sha1": "3021300906052b0e03021a05000414",
            "sha256": "3031300d060960864801650304020105000420",
            "sha384": "3041300d060960864801650304020205000430",
        }
        digest_info = bytes.fromhex(prefixes[hash_name]) + hashlib.new(hash_name, data).digest()
        size = (self.modulus.bit_length() + 7) // 8
        return b"\x00\x01" + b"\xff" * (size - 3 - len(digest_info)) + b"\x00" + digest_info


def _template(key):
    return key.template if isinstance(key, ExponentOneKey) else key


def key_kind(key) -> str:
    if isinstance(key, (rsa.RSAPrivateKey, ExponentOneKey)):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "ec"
    return "ed25519"


def name(common_name: str, *more: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    attributes += [x509.NameAttribute(oid, value) for oid, value in more]
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attributes)


@dataclass
class Spec:
    """What one certificate is: its names, keys, validity and extensions."""

    subject: x509.Name
    issuer: x509.Name
    key: Any  # the subject's private key (its public half goes in the certificate)
    issuer_key: Any  # signs the certificate
    serial: int
    not_before: dt.datetime
    not_after: dt.datetime
    ca: bool | None = True  # None: no basicConstraints at all
    path_length: int | None = None
    key_usage: str = "default"  # default, none, no-cert-sign, no-digital-signature
    eku: tuple[str, ...] | None = None  # dotted OIDs; () is an empty (malformed) one
    sans: list[str] | None = None
    name_constraints: x509.NameConstraints | None = None
    ski: bool = True
    aki: str = "keyid"  # keyid, none, keyid-issuer-serial
    issuer_issuer: x509.Name | None = None  # the issuer's issuer, for aki keyid-issuer-serial
    issuer_serial: int | None = None
    aia: str | None = None
    critical_unknown: bool = False
    critical_aki: bool = False
    hash: str | None = "sha256"  # sha1, sha256, sha384; None for Ed25519
    version1: bool = False
    malformations: list[str] = field(default_factory=list)


def _general_name(text: str) -> x509.GeneralName:
    import ipaddress

    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        return x509.DNSName(text)


def _key_usage(spec: Spec) -> x509.KeyUsage | None:
    if spec.key_usage == "none":
        return None
    is_ca = bool(spec.ca)
    digital = spec.key_usage != "no-digital-signature"
    cert_sign = is_ca and spec.key_usage != "no-cert-sign"
    return x509.KeyUsage(
        digital_signature=digital or not is_ca,
        content_commitment=False,
        key_encipherment=not is_ca and digital and isinstance(spec.key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=is_ca and spec.key_usage != "no-cert-sign",
        encipher_only=False,
        decipher_only=False,
    ) if (digital or is_ca) else x509.KeyUsage(
        digital_signature=False, content_commitment=True, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False,
    )  # fmt: skip


def _raw(oid: str, value: bytes, critical: bool = False) -> D.RawExtension:
    body = D.encode(D.OID, D.oid_content(oid))
    if critical:
        body += b"\x01\x01\xff"
    body += D.encode(D.OCTET_STRING, value)
    return D.RawExtension(oid, critical, value, D.encode(D.SEQUENCE, body))


def _extensions(spec: Spec) -> list[tuple[x509.ExtensionType, bool]]:
    public = spec.key.public_key()
    issuer_public = spec.issuer_key.public_key()
    out: list[tuple[x509.ExtensionType, bool]] = []
    if spec.ca is not None:
        out.append((x509.BasicConstraints(spec.ca, spec.path_length if spec.ca else None), True))
    if spec.ski:
        out.append((x509.SubjectKeyIdentifier.from_public_key(public), False))
    if spec.aki == "keyid":
        out.append(
            (x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), spec.critical_aki)
        )
    elif spec.aki == "keyid-issuer-serial":
        keyid = x509.SubjectKeyIdentifier.from_public_key(issuer_public).digest
        out.append(
            (
                x509.AuthorityKeyIdentifier(
                    keyid, [x509.DirectoryName(spec.issuer_issuer or spec.issuer)],
                    spec.issuer_serial or 1,
                ),
                spec.critical_aki,
            )
        )  # fmt: skip
    usage = _key_usage(spec)
    if usage is not None:
        out.append((usage, True))
    if spec.eku:
        out.append((x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in spec.eku]), False))
    if spec.sans:
        out.append((x509.SubjectAlternativeName([_general_name(n) for n in spec.sans]), False))
    if spec.name_constraints is not None:
        out.append((spec.name_constraints, True))
    if spec.aia:
        out.append(
            (
                x509.AuthorityInformationAccess(
                    [x509.AccessDescription(
                        x509.oid.AuthorityInformationAccessOID.CA_ISSUERS,
                        x509.UniformResourceIdentifier(spec.aia),
                    )]
                ),
                False,
            )
        )  # fmt: skip
    if spec.critical_unknown:
        out.append(
            (
                x509.UnrecognizedExtension(x509.ObjectIdentifier(UNKNOWN_EXTENSION), b"\x05\x00"),
                True,
            )
        )
    return out


def _malform(spec: Spec, extensions: list[D.RawExtension]) -> list[D.RawExtension]:
    for malformation in spec.malformations:
        if malformation == "duplicate-san":
            san = [
                e
                for e in extensions
                if e.oid == ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string
            ]
            copy = san[0] if san else _raw("2.5.29.17", bytes.fromhex("300a8208") + b"dup.test")
            extensions = extensions + [copy] * (1 if san else 2)
        elif malformation == "san-bad-tag":
            extensions = [e for e in extensions if e.oid != "2.5.29.17"]
            extensions.append(_raw("2.5.29.17", bytes.fromhex("30058903616263")))  # [9] "abc"
        elif malformation == "empty-eku":
            extensions = [e for e in extensions if e.oid != "2.5.29.37"]
            extensions.append(_raw("2.5.29.37", b"\x30\x00"))
        elif malformation == "bad-ip-name-constraint":
            extensions = [e for e in extensions if e.oid != "2.5.29.30"]
            # permitted: one iPAddress of 5 octets (10.0.0.0 and a one-octet "mask")
            extensions.append(_raw("2.5.29.30", bytes.fromhex("300ba009300787050a000000ff"), True))
        elif malformation == "bad-aia":
            extensions = [e for e in extensions if e.oid != "1.3.6.1.5.5.7.1.1"]
            extensions.append(_raw("1.3.6.1.5.5.7.1.1", bytes.fromhex("3003020101")))
        elif malformation == "aki-issuer-without-serial":
            extensions = [e for e in extensions if e.oid != "2.5.29.35"]
            keyid = x509.SubjectKeyIdentifier.from_public_key(spec.issuer_key.public_key()).digest
            issuer = (spec.issuer_issuer or spec.issuer).public_bytes()
            value = D.encode(
                D.SEQUENCE,
                D.encode(0x80, keyid) + D.encode(0xA1, D.encode(0xA4, issuer)),
            )
            extensions.append(_raw("2.5.29.35", value))
    return extensions


def algorithm_identifier(issuer_key, hash_name: str | None) -> bytes:
    kind = key_kind(issuer_key)
    return bytes.fromhex(_ALGORITHMS[(kind, None if kind == "ed25519" else hash_name or "sha256")])


def sign(tbs: bytes, issuer_key, hash_name: str | None) -> bytes:
    kind = key_kind(issuer_key)
    if kind == "ed25519":
        return issuer_key.sign(tbs)
    if isinstance(issuer_key, ExponentOneKey):
        return issuer_key.sign(tbs, hash_name or "sha256")
    algorithm = _HASHES[hash_name or "sha256"]()
    if kind == "rsa":
        return issuer_key.sign(tbs, padding.PKCS1v15(), algorithm)
    return issuer_key.sign(tbs, ec.ECDSA(algorithm))


def assemble(parts: D.CertificateParts, tbs_fields: list[bytes], issuer_key, hash_name) -> bytes:
    """Sign `tbs_fields` (already encoded, version first if any) and wrap them as a Certificate."""
    tbs = D.encode(D.SEQUENCE, b"".join(tbs_fields))
    algorithm = algorithm_identifier(issuer_key, hash_name)
    signature = sign(tbs, issuer_key, hash_name)
    return D.encode(D.SEQUENCE, tbs + algorithm + D.encode(D.BIT_STRING, b"\x00" + signature))


def forge(spec: Spec) -> bytes:
    """The DER of the certificate `spec` describes, signed by `spec.issuer_key`."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(spec.subject)
        .issuer_name(spec.issuer)
        .public_key(spec.key.public_key())
        .serial_number(spec.serial)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
    )
    if not spec.version1:
        for extension, critical in _extensions(spec):
            builder = builder.add_extension(extension, critical)
    template = builder.sign(
        _template(spec.issuer_key),
        None if key_kind(spec.issuer_key) == "ed25519" else hashes.SHA256(),
    )
    parts = D.split_certificate(template.public_bytes(serialization.Encoding.DER))
    fields = list(parts.fields)
    fields[1] = algorithm_identifier(spec.issuer_key, spec.hash)
    if isinstance(spec.key, ExponentOneKey):
        fields[5] = spec.key.spki()
    head: list[bytes] = []
    extensions = list(parts.extensions)
    if spec.version1 or "explicit-v1" in spec.malformations:
        extensions = []
        if "explicit-v1" in spec.malformations:
            head = [D.encode(D.CONTEXT_0_CONSTRUCTED, D.encode(D.INTEGER, b"\x00"))]
    else:
        head = [D.encode(D.CONTEXT_0_CONSTRUCTED, D.encode(D.INTEGER, b"\x02"))]
        extensions = _malform(spec, extensions)
    tail = (
        [
            D.encode(
                D.CONTEXT_3_CONSTRUCTED,
                D.encode(D.SEQUENCE, b"".join(e.encoded for e in extensions)),
            )
        ]
        if extensions
        else []
    )
    return assemble(parts, head + fields + tail, spec.issuer_key, spec.hash)


def server_auth() -> tuple[str, ...]:
    return (ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,)
