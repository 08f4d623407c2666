"""The strict verdict: `cryptography`'s web PKI verifier (RFC 5280 plus the CA/B Forum profile).

This is what a modern, careful client (rustls, Go, a browser) accepts: no v1 or SHA-1
certificates, keyUsage and basicConstraints enforced, the host name checked against the SAN.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certcensus.trust.certs import Cert
from certcensus.trust.stores import TrustStore


@dataclass(frozen=True)
class StrictResult:
    trusted: bool
    path: list[str]  # SHA-256 hex of the built path, leaf first
    detail: str  # the verifier's message when it refused, "" otherwise
    host: str | None  # the name checked (the leaf's first SAN when no host was given)
    anchor: str | None = None  # the subject of the store certificate the path ends at


def _subject_for(host: str) -> x509.DNSName | x509.IPAddress:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _first_san(leaf: Cert) -> str | None:
    try:
        san = leaf.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for name in san:
        if isinstance(name, x509.DNSName):
            return name.value.replace("*.", "wildcard.", 1)
        if isinstance(name, x509.IPAddress):
            return str(name.value)
    return None


def verify_strictly(
    served: list[Cert], store: TrustStore, host: str | None, at: dt.datetime
) -> StrictResult:
    """Verify `served` (leaf first) against `store` at `at`, checking `host` when given.

    Without a host the leaf's first SAN is checked, so the result speaks only about the path.
    """
    checked = host or _first_san(served[0])
    if checked is None:
        return StrictResult(False, [], "the leaf has no subjectAltName to check", None)
    try:
        anchors = Store([c.certificate for c in store.certificates])
        verifier = (
            PolicyBuilder().store(anchors).time(at).build_server_verifier(_subject_for(checked))
        )
        built = verifier.verify(served[0].certificate, [c.certificate for c in served[1:]])
    except VerificationError as error:
        return StrictResult(False, [], str(error), checked)
    except ValueError as error:  # an unparseable name or an empty store
        return StrictResult(False, [], str(error), checked)
    return StrictResult(
        True,
        [Cert.from_certificate(c).sha256 for c in built],
        "",
        checked,
        built[-1].subject.rfc4514_string(),
    )
