"""The strict verdict: `cryptography`'s web PKI verifier (RFC 5280 plus the CA/B Forum profile).

This is what a modern, careful client (rustls, Go, a browser) accepts: no v1 or SHA-1
certificates, keyUsage and basicConstraints enforced, the host name checked against the SAN.
A refusal is returned, never raised; strict_verdict explains it from the chain's structure (the
verifier's message is kept only to be quoted). Certificates `cryptography` reads only in part
(certs/readable.py) are left out: the verifier would be judging a re-encoding, not them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from certcensus.trust.certs import Cert
from certcensus.trust.reasons import ModeVerdict, Problem, Reason, key_is_weak, named
from certcensus.trust.signatures import is_weak_signature, signature_hash_name
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
    names = leaf.facts.subject_alt_names
    if names is None:
        return None
    if names.dns:
        return names.dns[0].replace("*.", "wildcard.", 1)
    if names.ip:
        return str(ipaddress.ip_address(names.ip[0]))
    return None


def _fingerprint(certificate: x509.Certificate) -> str:
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def verify_strictly(
    served: list[Cert], store: TrustStore, host: str | None, at: dt.datetime
) -> StrictResult:
    """Verify `served` (leaf first) against `store` at `at`, checking `host` when given.

    Without a host the leaf's first SAN is checked, so the result speaks only about the path.
    """
    checked = host or _first_san(served[0])
    if checked is None:
        return StrictResult(False, [], "the leaf has no subjectAltName to check", None)
    readable = [c.certificate for c in store.certificates if not c.malformations]
    if not readable:
        return StrictResult(False, [], "no store certificate cryptography can read", checked)
    intermediates = [c.certificate for c in served[1:] if not c.malformations]
    try:
        verifier = (
            PolicyBuilder()
            .store(Store(readable))
            .time(at)
            .build_server_verifier(_subject_for(checked))
        )
        built = verifier.verify(served[0].certificate, intermediates)
    except (VerificationError, ValueError, TypeError, UnsupportedAlgorithm) as error:
        # VerificationError: refused; the others: a name or key the verifier cannot take.
        return StrictResult(False, [], str(error), checked)
    return StrictResult(
        True,
        [_fingerprint(c) for c in built],
        "",
        checked,
        built[-1].subject.rfc4514_string(),
    )


def _unreadable_by_cryptography(served: list[Cert]) -> Problem | None:
    for position, cert in enumerate(served):
        if cert.malformations and position == 0:
            return Problem(
                Reason.MALFORMED_CERTIFICATE,
                f"web PKI verifier: {cert.malformations[0].detail} in leaf {named(cert)} "
                "(cryptography cannot read it)",
                [cert.sha256],
            )
    return None


def _strict_refusal(
    served: list[Cert], lenient: ModeVerdict, host: str | None, message: str
) -> Problem:
    """Why the web PKI verifier refused, from the chain's structure (never from `message`,
    whose wording can change with any `cryptography` release; it is only quoted)."""
    said = f" (it said: {message})" if message else ""
    if not lenient.trusted:
        detail = f"{lenient.detail} (the web PKI verifier refuses it as well)"
        return Problem(lenient.reason, detail, [])
    by_sha = {c.sha256: c for c in served}
    leaf = served[0]
    names = leaf.facts.subject_alt_names
    if names is None or not (names.dns or names.ip):
        return Problem(
            Reason.NAME_MISMATCH if host else Reason.POLICY,
            f"web PKI verifier: {named(leaf)} has no subjectAltName (commonName is not checked)",
            [leaf.sha256],
        )
    path = [by_sha.get(sha) for sha in lenient.path]
    for position, cert in enumerate(path):
        if cert is None:
            continue
        if cert.malformations:
            return Problem(
                Reason.MALFORMED_CERTIFICATE,
                f"web PKI verifier: {cert.malformations[0].detail} in {named(cert)}",
                [cert.sha256],
            )
        is_top = position == len(path) - 1
        if not is_top and is_weak_signature(cert):
            return Problem(
                Reason.WEAK_SIGNATURE,
                f"web PKI verifier: {named(cert)} is signed with {signature_hash_name(cert)}",
                [cert.sha256],
            )
        if key_is_weak(cert):
            return Problem(
                Reason.WEAK_KEY, f"web PKI verifier: {named(cert)} has a weak key", [cert.sha256]
            )
        if cert.version == 0:
            return Problem(
                Reason.POLICY,
                f"web PKI verifier: {named(cert)} is an X.509 v1 certificate{said}",
                [cert.sha256],
            )
    return Problem(Reason.POLICY, f"web PKI verifier: refused by the CA/B Forum profile{said}", [])


def strict_verdict(
    served: list[Cert], store: TrustStore, at: dt.datetime, host: str | None, lenient: ModeVerdict
) -> ModeVerdict:
    unreadable = _unreadable_by_cryptography(served)
    if unreadable is not None:
        problems = [unreadable] + [p for p in lenient.problems if p.reason != unreadable.reason]
        return ModeVerdict(False, problems, [], lenient.missing, lenient.anchor)
    result = verify_strictly(served, store, host, at)
    if result.trusted:
        return ModeVerdict(True, [], result.path, [], result.anchor)
    refusal = _strict_refusal(served, lenient, host, result.detail)
    problems = [refusal] + [p for p in lenient.problems if p.reason != refusal.reason]
    return ModeVerdict(False, problems, [], lenient.missing, lenient.anchor)
