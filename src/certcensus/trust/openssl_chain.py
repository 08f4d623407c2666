"""The chain OpenSSL 3 builds for `verify -partial_chain -purpose sslserver`, and what it checks.

Written by hand because the lenient verdict must be exactly that client's verdict, and no Python
library builds chains the OpenSSL way (`cryptography`'s verifier is the web-PKI profile, see
strict.py). The steps follow OpenSSL's x509_vfy.c:

- build_chain: from the leaf, at each step first ask the trust store for an issuer of the top
  certificate (trusted-first), else take the first certificate the server sent that could have
  issued it; "could have issued" is OpenSSL's ossl_x509_likely_issued (names, key identifiers,
  key type; not the signature), preferring one valid at the time, else the one expiring last.
  No backtracking: the first candidate is kept, as OpenSSL keeps it. With -partial_chain any
  store certificate ends the chain as its anchor.
- check_extensions: basicConstraints and keyUsage of every CA (X509_check_ca), the sslserver
  purpose (extendedKeyUsage, Netscape type, the leaf's keyUsage), pathLenConstraint (self-issued
  intermediates do not count), critical extensions OpenSSL does not handle.
- internal_verify: each signature with its issuer's key (keyCertSign required when the issuer
  has keyUsage), and every certificate's validity, the anchor's included.
- check_name_constraints: every constraint of a certificate above applies to the names of each
  certificate below that is not self-issued (and the leaf always).

Beyond OpenSSL, the untrusted certificates also include the CA pool (AIA and every CA seen) after
what the server sent, so that an incomplete chain can name what is missing; a chain that needs a
pool certificate is reported, never trusted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography import x509

from certcensus.certs.names import canonical_name
from certcensus.trust.certs import Cert, likely_issued, openssl_self_signed
from certcensus.trust.extensions import (
    MICROSOFT_SGC,
    NETSCAPE_SGC,
    NS_ANY_CA,
    NS_SSL_CA,
    NS_SSL_SERVER,
    SERVER_AUTH,
)
from certcensus.trust.hostname import host_matches
from certcensus.trust.name_constraints import dns_id_of_common_name, name_violation
from certcensus.trust.pool import CAPool
from certcensus.trust.signatures import signature_verifies
from certcensus.trust.stores import TrustStore

# Real web PKI paths have 3-4 certificates; cross-sign chains reach 5-6. OpenSSL's default
# verify depth is 100, but 10 is ample and keeps a hostile pool's search small; a longer chain
# is reported as "path too long" (a difference the README lists).
MAX_PATH_LENGTH = 10
EMAIL_ADDRESS = "1.2.840.113549.1.9.1"


class ChainEnd(StrEnum):
    TRUSTED = "trusted"  # a store certificate anchors the chain
    SELF_SIGNED = "self-signed"  # the chain ends at a self-signed root the store does not hold
    UNKNOWN_ISSUER = "unknown-issuer"  # no certificate known could have issued the top one
    TOO_LONG = "too-long"  # MAX_PATH_LENGTH certificates without reaching the store


@dataclass
class BuiltChain:
    certs: list[Cert]  # leaf first
    end: ChainEnd
    anchor_index: int | None = None  # the first store certificate (None: not anchored)
    from_pool: set[str] = field(default_factory=set)  # SHA-256 of certificates not sent

    @property
    def top(self) -> Cert:
        return self.certs[-1]


def _best_issuer(
    candidates: Sequence[Cert], child: Cert, at: dt.datetime, chain: list[Cert] | None
) -> Cert | None:
    """OpenSSL's get0_best_issuer_sk: the first likely issuer valid at `at`, else the one with
    the latest notAfter. `chain` excludes certificates already on it (no_dup)."""
    best = None
    allow_self = child.is_self_issued and chain is not None and len(chain) == 1
    for candidate in candidates:
        if chain is not None and not allow_self and candidate in chain:
            continue
        if not likely_issued(candidate, child):
            continue
        if candidate.is_valid_at(at):
            return candidate
        if best is None or candidate.not_after > best.not_after:
            best = candidate
    return best


def build_chain(
    served: list[Cert],
    store: TrustStore | None,
    at: dt.datetime,
    pool: CAPool | None = None,
    max_length: int = MAX_PATH_LENGTH,
) -> BuiltChain:
    """The chain OpenSSL builds for `served` (leaf first, wire order) against `store`, then
    extended from `pool` where OpenSSL would stop for want of an issuer."""
    leaf = served[0]
    chain = [leaf]
    sent = {c.sha256 for c in served}
    used: set[str] = set()
    end = ChainEnd.UNKNOWN_ISSUER
    anchor = None
    while True:
        top = chain[-1]
        if len(chain) >= max_length:
            end = ChainEnd.TOO_LONG
            break
        if store is not None:
            issuer = _best_issuer(store.by_name(top.issuer_key), top, at, None)
            if issuer is not None:
                if not openssl_self_signed(top):
                    chain.append(issuer)
                    anchor = len(chain) - 1
                    end = ChainEnd.TRUSTED
                    break
                if issuer == top:  # the server sent a root the store holds
                    anchor = len(chain) - 1
                    end = ChainEnd.TRUSTED
                    break
                # Otherwise a self-signed impostor of a store root: not trusted (OpenSSL's
                # "self-signed untrusted mimic").
        if openssl_self_signed(top):
            end = ChainEnd.SELF_SIGNED
            break
        remaining = [c for c in served if c.sha256 not in used]
        candidate = _best_issuer(remaining, top, at, chain)
        if candidate is None and pool is not None:
            # Where OpenSSL stops for want of an issuer: what the CA pool knows names it.
            extra = [c for c in pool.with_subject(top.issuer_key) if c.sha256 not in sent | used]
            candidate = _best_issuer(extra, top, at, chain)
        if candidate is None:
            end = ChainEnd.UNKNOWN_ISSUER
            break
        used.add(candidate.sha256)
        chain.append(candidate)
    if end != ChainEnd.TRUSTED and store is not None and leaf.sha256 in store.sha256s:
        # -partial_chain's last resort: the leaf itself is in the store.
        end, anchor = ChainEnd.TRUSTED, 0
    from_pool = {c.sha256 for c in chain if c.sha256 not in sent}
    if anchor is not None:
        from_pool -= {c.sha256 for c in chain[anchor:]}
    return BuiltChain(chain, end, anchor, from_pool)


class Check(StrEnum):
    """What OpenSSL's checks find wrong with a built chain (each maps to a verdict reason)."""

    NOT_A_CA = "not-a-ca"
    KEY_USAGE = "key-usage"
    PURPOSE = "purpose"
    PATH_LENGTH = "path-length"
    CRITICAL_EXTENSION = "critical-extension"
    PROXY = "proxy"
    NAME_CONSTRAINTS = "name-constraints"
    SIGNATURE = "signature"
    KEY = "key"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    NAME_MISMATCH = "name-mismatch"


@dataclass(frozen=True)
class Finding:
    check: Check
    cert: Cert
    detail: str  # words without the certificate's name ("is not a CA")


def _ca_kind(cert: Cert) -> int:
    """OpenSSL's X509_check_ca: 0 not a CA, 1 basicConstraints cA, 3 v1 self-signed root,
    4 keyUsage with keyCertSign but no basicConstraints, 5 Netscape CA type."""
    if cert.openssl_invalid:
        return 0
    facts = cert.facts
    if facts.key_usage is not None and "key_cert_sign" not in facts.key_usage:
        return 0
    if facts.basic_constraints is not None:
        return 1 if facts.basic_constraints[0] else 0
    if cert.version == 0 and openssl_self_signed(cert):
        return 3
    if facts.key_usage is not None:
        return 4
    if facts.netscape_cert_type is not None and facts.netscape_cert_type & NS_ANY_CA:
        return 5
    return 0


def _purpose_problem(cert: Cert, as_ca: bool) -> str | None:
    """OpenSSL's check_purpose_ssl_server, or None when the certificate may serve it. Whether a
    CA is a CA at all is _ca_kind's question (reported as NOT_A_CA, not twice)."""
    if cert.openssl_invalid:
        return None  # X509_check_purpose cannot tell (-1), which OpenSSL lets pass
    facts = cert.facts
    eku = facts.extended_key_usage
    if eku is not None and not {SERVER_AUTH, NETSCAPE_SGC, MICROSOFT_SGC} & set(eku):
        words = ", ".join(eku) or "no purpose at all"
        return f"has an extendedKeyUsage that does not allow TLS servers ({words})"
    netscape = facts.netscape_cert_type
    if as_ca:
        if _ca_kind(cert) == 5 and not (netscape or 0) & NS_SSL_CA:
            return "has a Netscape certificate type that is not an SSL CA"
        return None
    if netscape is not None and not netscape & NS_SSL_SERVER:
        return "has a Netscape certificate type that is not an SSL server"
    usage = facts.key_usage
    if usage is not None and not usage & {"digital_signature", "key_encipherment", "key_agreement"}:
        return "has a keyUsage with neither digitalSignature, keyEncipherment nor keyAgreement"
    return None


def _not_a_ca(cert: Cert) -> str:
    facts = cert.facts
    if cert.openssl_invalid:
        return f"cannot act as a CA: {cert.openssl_invalid[0]}"
    if facts.key_usage is not None and "key_cert_sign" not in facts.key_usage:
        return "is not a CA: its keyUsage lacks keyCertSign"
    if facts.basic_constraints is not None:
        return "is not a CA: its basicConstraints say cA FALSE"
    if _ca_kind(cert):
        return "has no basicConstraints, which only the last certificate of a chain may omit"
    return "is not a CA: it has no basicConstraints"


def _constraint_findings(chain: list[Cert]) -> list[Finding]:
    findings = []
    for index in range(len(chain) - 1, -1, -1):
        cert = chain[index]
        if index != 0 and cert.is_self_issued:
            continue
        for upper in chain[index + 1 :]:
            constraints = upper.facts.name_constraints
            if constraints is None:
                continue
            problem = _names_violation(cert, constraints, is_leaf=index == 0)
            if problem:
                findings.append(
                    Finding(
                        Check.NAME_CONSTRAINTS,
                        cert,
                        f"violates the name constraints of {upper.display_name!r}: {problem}",
                    )
                )
                break
    return findings


def _names_violation(cert: Cert, constraints, is_leaf: bool) -> str | None:
    """OpenSSL's NAME_CONSTRAINTS_check (and, for a leaf without a DNS name, its commonName)."""
    if cert.subject_key:
        problem = name_violation("directory", cert.subject_key, constraints)
        if problem:
            return problem
        for attribute in cert.subject.get_attributes_for_oid(x509.ObjectIdentifier(EMAIL_ADDRESS)):
            problem = name_violation("email", str(attribute.value), constraints)
            if problem:
                return problem
    names = cert.facts.subject_alt_names
    if names is not None:
        for kind, values in (
            ("dns", names.dns), ("ip", names.ip), ("email", names.email), ("uri", names.uri),
        ):  # fmt: skip
            for value in values:
                problem = name_violation(kind, value, constraints)
                if problem:
                    return problem
        for directory in names.directory:
            problem = name_violation("directory", canonical_name(directory), constraints)
            if problem:
                return problem
    if is_leaf and not (names and names.dns):
        for common_name in cert.common_names:
            host = dns_id_of_common_name(common_name)
            if host:
                problem = name_violation("dns", host, constraints)
                if problem:
                    return problem
    return None


def check_chain(
    chain: list[Cert], at: dt.datetime, host: str | None = None, anchored_at: int | None = None
) -> list[Finding]:
    """Every check OpenSSL makes on a built chain, each failure as a Finding (OpenSSL stops at
    the first; a user wants them all)."""
    findings: list[Finding] = []
    count = len(chain)
    path_length = 0
    for index, cert in enumerate(chain):
        for oid in cert.facts.unhandled_critical:
            findings.append(
                Finding(
                    Check.CRITICAL_EXTENSION, cert, f"has an unhandled critical extension {oid}"
                )
            )
        if cert.facts.proxy:
            findings.append(Finding(Check.PROXY, cert, "is a proxy certificate (RFC 3820)"))
        if index > 0:
            kind = _ca_kind(cert)
            if kind == 0 or (index + 1 < count and kind != 1):
                findings.append(Finding(Check.NOT_A_CA, cert, _not_a_ca(cert)))
        if count > 1 and cert.key_family is None:
            findings.append(Finding(Check.KEY, cert, "has a public key that cannot be decoded"))
        problem = _purpose_problem(cert, as_ca=index > 0)
        if problem:
            findings.append(Finding(Check.PURPOSE, cert, problem))
        limit = cert.facts.basic_constraints[1] if cert.facts.basic_constraints else None
        if index > 1 and limit is not None and path_length > limit:
            findings.append(
                Finding(
                    Check.PATH_LENGTH,
                    cert,
                    f"allows {limit} intermediate(s) below it (pathLenConstraint), "
                    f"the chain has {path_length}",
                )
            )
        if index > 0 and not cert.is_self_issued:
            path_length += 1
    if host and not host_matches(chain[0], host):
        findings.append(Finding(Check.NAME_MISMATCH, chain[0], f"is not valid for {host}"))
    findings += _verification_findings(chain, at)
    findings += _constraint_findings(chain)
    return findings


def _verification_findings(chain: list[Cert], at: dt.datetime) -> list[Finding]:
    """OpenSSL's internal_verify: signatures (from the top down) and validity times."""
    findings = []
    for index, cert in enumerate(chain):
        if index + 1 < len(chain):
            issuer = chain[index + 1]
            usage = issuer.facts.key_usage
            if usage is not None and "key_cert_sign" not in usage:
                findings.append(
                    Finding(
                        Check.KEY_USAGE,
                        issuer,
                        "has a keyUsage that does not allow signing certificates",
                    )
                )
            if issuer.key_family is None:
                findings.append(
                    Finding(Check.KEY, issuer, "has a public key that cannot be decoded")
                )
            elif not signature_verifies(cert, issuer):
                findings.append(
                    Finding(
                        Check.SIGNATURE,
                        cert,
                        f"has a signature that {issuer.display_name!r}'s key did not make",
                    )
                )
        if at < cert.not_before:
            findings.append(
                Finding(
                    Check.NOT_YET_VALID, cert, f"is not valid before {cert.not_before.isoformat()}"
                )
            )
        elif not cert.is_valid_at(at):
            findings.append(Finding(Check.EXPIRED, cert, f"expired {cert.not_after.isoformat()}"))
    return findings
