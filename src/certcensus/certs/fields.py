"""One certificate's compared fields, each as one line of text, and the fields two differ in.

What `diff` and the chain comparison (compare.py) show field by field once a pair of
certificates is known to differ.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from certcensus.certs.info import describe_certificate

FIELDS = ("subject", "issuer", "serial", "validity", "key", "signature algorithm",
          "subject key identifier", "authority key identifier", "authority information access",
          "policies", "subject alternative names")  # fmt: skip


@dataclass(frozen=True, slots=True)
class FieldDifference:
    name: str
    a: str
    b: str


def certificate_field_differences(a: bytes, b: bytes) -> list[FieldDifference]:
    fields_a, fields_b = certificate_fields(a), certificate_fields(b)
    return [
        FieldDifference(name, fields_a.get(name, ""), fields_b.get(name, ""))
        for name in FIELDS
        if fields_a.get(name, "") != fields_b.get(name, "")
    ]


def certificate_fields(der: bytes) -> dict[str, str]:
    """The compared fields of one certificate, each as one line of text."""
    info = describe_certificate(der)
    fields = {
        "subject": info.subject, "issuer": info.issuer, "serial": info.serial,
        "validity": f"{info.not_before} .. {info.not_after}", "key": info.key,
        "signature algorithm": info.signature_algorithm,
    }  # fmt: skip
    if info.parse_error:
        fields["subject"] = info.parse_error
        return fields
    certificate = x509.load_der_x509_certificate(der)
    fields["key"] = f"{info.key}, SPKI sha256 {spki_sha256(certificate)[:16]}"  # same size, new key
    for name, reader in _EXTENSIONS.items():
        try:
            fields[name] = reader(certificate)
        except x509.ExtensionNotFound:
            fields[name] = "(none)"
        except Exception as error:  # noqa: BLE001 - a malformed extension is itself a difference
            fields[name] = f"(malformed: {error})"
    return fields


def spki_sha256(certificate: x509.Certificate) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, hex; "unknown" for a key type that cannot load."""
    try:
        spki = certificate.public_key().public_bytes(
            Encoding.DER, PublicFormat.SubjectPublicKeyInfo
        )
    except Exception:  # noqa: BLE001 - a key type cryptography cannot load
        return "unknown"
    return hashlib.sha256(spki).hexdigest()


def _extension(certificate: x509.Certificate, kind):
    return certificate.extensions.get_extension_for_class(kind).value


def _aia(certificate) -> str:
    entries = _extension(certificate, x509.AuthorityInformationAccess)
    return ", ".join(f"{e.access_method._name}={e.access_location.value}" for e in entries)


def _policies(certificate) -> str:
    policies = _extension(certificate, x509.CertificatePolicies)
    return ", ".join(p.policy_identifier.dotted_string for p in policies)


def _sans(certificate) -> str:
    names = _extension(certificate, x509.SubjectAlternativeName)
    return ", ".join(str(getattr(n, "value", n)) for n in names)


def _aki(certificate) -> str:
    value = _extension(certificate, x509.AuthorityKeyIdentifier).key_identifier
    return value.hex(":") if value else "(no key identifier)"


_EXTENSIONS = {
    "subject key identifier": lambda c: _extension(c, x509.SubjectKeyIdentifier).digest.hex(":"),
    "authority key identifier": _aki,
    "authority information access": _aia,
    "policies": _policies,
    "subject alternative names": _sans,
}
