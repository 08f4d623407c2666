"""Two chains side by side: which certificates differ, then field by field for each pair.

Certificates are paired by position (chains are in wire order, leaf first); a chain that is
longer has certificates "added". The summary says it in plain words first ("same leaf;
intermediate replaced: Lab CA-1 -> Lab CA-2; root changed"), the fields after.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from cryptography import x509

from certcensus.certs.info import CertificateInfo, describe_certificate, short_name
from certcensus.model.chain import chain_fingerprint

FIELDS = ("subject", "issuer", "serial", "validity", "key", "signature algorithm",
          "subject key identifier", "authority key identifier", "authority information access",
          "policies", "subject alternative names")  # fmt: skip


@dataclass(frozen=True, slots=True)
class FieldDifference:
    name: str
    a: str
    b: str


@dataclass
class PositionDiff:
    position: int
    role: str  # "leaf", "intermediate", "intermediate 2", "root"
    change: str  # "same", "replaced", "reissued", "added", "removed"
    a: CertificateInfo | None
    b: CertificateInfo | None
    fields: list[FieldDifference] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "position": self.position, "role": self.role, "change": self.change,
            "a": self.a.sha256 if self.a else None, "b": self.b.sha256 if self.b else None,
            "a_subject": self.a.subject if self.a else None,
            "b_subject": self.b.subject if self.b else None,
            "fields": [{"field": f.name, "a": f.a, "b": f.b} for f in self.fields],
        }  # fmt: skip


@dataclass
class ChainDiff:
    a_id: str
    b_id: str
    positions: list[PositionDiff]

    @property
    def identical(self) -> bool:
        return self.a_id == self.b_id

    @property
    def summary(self) -> str:
        if self.identical:
            return "identical chains"
        return "; ".join(_phrase(p) for p in self.positions)

    def to_dict(self) -> dict:
        return {"a": self.a_id, "b": self.b_id, "summary": self.summary,
                "positions": [p.to_dict() for p in self.positions]}  # fmt: skip


def diff_chains(
    a: list[bytes] | tuple[bytes, ...], b: list[bytes] | tuple[bytes, ...]
) -> ChainDiff:
    positions = []
    for position in range(max(len(a), len(b))):
        der_a = a[position] if position < len(a) else None
        der_b = b[position] if position < len(b) else None
        info_a = describe_certificate(der_a) if der_a else None
        info_b = describe_certificate(der_b) if der_b else None
        role = _role(position, info_a or info_b, max(len(a), len(b)))
        if der_a is None or der_b is None or info_a is None or info_b is None:
            change = "added" if info_a is None else "removed"
            positions.append(PositionDiff(position, role, change, info_a, info_b))
            continue
        if info_a.sha256 == info_b.sha256:
            positions.append(PositionDiff(position, role, "same", info_a, info_b))
            continue
        change = "reissued" if info_a.subject == info_b.subject else "replaced"
        positions.append(
            PositionDiff(
                position, role, change, info_a, info_b, certificate_field_differences(der_a, der_b)
            )
        )
    _number_intermediates(positions)
    return ChainDiff(chain_fingerprint(a), chain_fingerprint(b), positions)


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
    fields["key"] = (
        f"{info.key}, SPKI sha256 {_spki_sha256(certificate)[:16]}"  # same size, new key
    )
    for name, reader in _EXTENSIONS.items():
        try:
            fields[name] = reader(certificate)
        except x509.ExtensionNotFound:
            fields[name] = "(none)"
        except Exception as error:  # noqa: BLE001 - a malformed extension is itself a difference
            fields[name] = f"(malformed: {error})"
    return fields


def _spki_sha256(certificate: x509.Certificate) -> str:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

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


def _role(position: int, info: CertificateInfo | None, length: int) -> str:
    if position == 0:
        return "leaf"
    if info is not None and info.self_signed:
        return "root"
    return "intermediate"


def _number_intermediates(positions: list[PositionDiff]) -> None:
    intermediates = [p for p in positions if p.role == "intermediate"]
    if len(intermediates) > 1:
        for number, position in enumerate(intermediates, 1):
            position.role = f"intermediate {number}"


def _phrase(p: PositionDiff) -> str:
    if p.change == "same":
        return f"same {p.role}" if p.role == "leaf" else f"same {p.role} ({short_name(p.a)})"
    if p.change == "added":
        return f"{p.role} added: {short_name(p.b)}"
    if p.change == "removed":
        return f"{p.role} removed: {short_name(p.a)}"
    if p.change == "reissued":
        changed = ", ".join(f.name for f in p.fields if f.name != "subject") or "encoding"
        return f"{p.role} reissued: {short_name(p.a)} ({changed} changed)"
    if p.role == "root":
        return f"root changed: {short_name(p.a)} -> {short_name(p.b)}"
    return f"{p.role} replaced: {short_name(p.a)} -> {short_name(p.b)}"
