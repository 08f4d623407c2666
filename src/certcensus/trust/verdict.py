"""The verdict for one served chain and one trust store, in plain words.

Lenient `trusted` means what OpenSSL 3's `openssl verify -partial_chain -purpose sslserver` says
at the given time, with the host name checked only when one is given (openssl_chain.py builds
and checks the chain as it does; the README lists where we deliberately differ). Weak
algorithms, order and extra certificates are reported as advisory problems and never make a
chain untrusted. Strict is `cryptography`'s web-PKI verifier (strict.py); its refusals are
explained from the structure of the chain, never from the verifier's wording.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

from certcensus.certs.readable import UnreadableCertificate
from certcensus.trust.certs import Cert
from certcensus.trust.hostname import host_matches
from certcensus.trust.openssl_chain import (
    MAX_PATH_LENGTH,
    BuiltChain,
    ChainEnd,
    Check,
    build_chain,
    check_chain,
)
from certcensus.trust.pool import CAPool
from certcensus.trust.signatures import is_weak_signature, signature_hash_name
from certcensus.trust.stores import TrustStore
from certcensus.trust.strict import verify_strictly


class Reason(StrEnum):
    """Why a chain is not trusted (or what else is wrong), most urgent first."""

    TRUSTED = "trusted"
    MALFORMED_CERTIFICATE = "malformed-certificate"
    MISSING_INTERMEDIATE = "missing-intermediate"
    MISSING_ROOT = "missing-root"
    PATH_TOO_LONG = "path-too-long"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    BAD_SIGNATURE = "bad-signature"
    NOT_A_CA = "not-a-ca"
    KEY_USAGE = "key-usage"
    PATH_LENGTH = "path-length"
    NAME_CONSTRAINTS = "name-constraints"
    WRONG_PURPOSE = "wrong-purpose"
    CRITICAL_EXTENSION = "unhandled-critical-extension"
    NAME_MISMATCH = "name-mismatch"
    POLICY = "policy"  # refused by the web PKI profile for a reason not listed here
    WEAK_SIGNATURE = "weak-signature"
    WEAK_KEY = "weak-key"
    WRONG_ORDER = "wrong-order"
    EXTRA_CERTIFICATES = "extra-certificates"


# The first of these that applies is the chain's `reason`: what a user must fix first.
PRIORITY = list(Reason)[1:]
# Reported, but never what makes a lenient chain untrusted (OpenSSL accepts all of them).
ADVISORY = frozenset(
    {Reason.WEAK_SIGNATURE, Reason.WEAK_KEY, Reason.WRONG_ORDER, Reason.EXTRA_CERTIFICATES}
)
# Smallest key sizes still accepted by CA/B Forum Baseline Requirements 6.1.5.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 256

_CHECK_REASONS = {
    Check.NOT_A_CA: Reason.NOT_A_CA,
    Check.KEY_USAGE: Reason.KEY_USAGE,
    Check.PURPOSE: Reason.WRONG_PURPOSE,
    Check.PATH_LENGTH: Reason.PATH_LENGTH,
    Check.CRITICAL_EXTENSION: Reason.CRITICAL_EXTENSION,
    Check.PROXY: Reason.POLICY,
    Check.NAME_CONSTRAINTS: Reason.NAME_CONSTRAINTS,
    Check.SIGNATURE: Reason.BAD_SIGNATURE,
    Check.KEY: Reason.MALFORMED_CERTIFICATE,
    Check.EXPIRED: Reason.EXPIRED,
    Check.NOT_YET_VALID: Reason.NOT_YET_VALID,
    Check.NAME_MISMATCH: Reason.NAME_MISMATCH,
}


@dataclass(frozen=True)
class Problem:
    reason: Reason
    detail: str
    certificates: list[str] = field(default_factory=list)  # SHA-256 hex of what it is about


@dataclass(frozen=True)
class ModeVerdict:
    """One mode's verdict (lenient or strict) for one chain and one store."""

    trusted: bool
    problems: list[Problem]
    path: list[str]  # SHA-256 hex of the path built, leaf first
    missing: list[str]  # SHA-256 hex of the path's certificates neither sent nor in the store
    anchor: str | None  # the subject of the root (or store certificate) the path ends at

    @property
    def reason(self) -> Reason:
        """The first problem a user must fix (see PRIORITY), or TRUSTED."""
        for reason in PRIORITY:
            if any(p.reason == reason for p in self.problems):
                return reason
        return Reason.TRUSTED

    @property
    def detail(self) -> str:
        """The words of the primary problem, or where a trusted path is anchored."""
        primary = next((p for p in self.problems if p.reason == self.reason), None)
        return primary.detail if primary else f"trusted, anchored at {self.anchor}"


@dataclass(frozen=True)
class StoreVerdict:
    """Both modes' verdicts for one chain and one store."""

    store: str
    lenient: ModeVerdict
    strict: ModeVerdict

    @property
    def trusted(self) -> bool:
        """What `trust`'s exit status and the alerts go by: the lenient verdict."""
        return self.lenient.trusted


def named(cert: Cert) -> str:
    return f'"{cert.display_name}" ({cert.sha256[:16]})'


def role(position: int, cert: Cert, count: int) -> str:
    if position == 0:
        return "leaf"
    if position == count - 1 and cert.is_root:
        return "root"
    return "intermediate"


def _in(chain: list[Cert], cert: Cert) -> str:
    position = chain.index(cert) if cert in chain else 1
    return f"{role(position, cert, len(chain))} {named(cert)}"


def _unknown_issuer(top: Cert, chain: list[Cert], store: TrustStore) -> Problem:
    aki = top.authority_key_identifier.hex(":") if top.authority_key_identifier else "none"
    urls = ", ".join(top.ca_issuers_urls) or "none"
    kind = Reason.MISSING_INTERMEDIATE if len(chain) == 1 else Reason.MISSING_ROOT
    noun = "intermediate" if kind == Reason.MISSING_INTERMEDIATE else "issuer"
    return Problem(
        kind,
        f'{noun} "{top.issuer.rfc4514_string()}" (AKI {aki}, AIA caIssuers {urls}) of '
        f"{named(top)} is neither sent, in store {store.name}, nor known",
        [],
    )


def _invalid_candidate(
    top: Cert, served: list[Cert], store: TrustStore, pool: CAPool | None
) -> Cert | None:
    """A certificate that would have issued `top` if OpenSSL could use it (it is invalid)."""
    candidates = [c for c in served if c.subject_key == top.issuer_key]
    candidates += store.by_name(top.issuer_key)
    candidates += pool.with_subject(top.issuer_key) if pool is not None else []
    for candidate in candidates:
        if candidate.openssl_invalid and candidate != top:
            return candidate
    return None


def _end_problems(
    built: BuiltChain, served: list[Cert], store: TrustStore, pool: CAPool | None
) -> list[Problem]:
    """What keeps the chain from reaching the store: missing, unusable, or too many."""
    chain, problems = built.certs, []
    for position, cert in enumerate(chain):
        if cert.sha256 not in built.from_pool or (
            built.end == ChainEnd.SELF_SIGNED and cert == built.top
        ):
            continue
        # The AIA of the certificate it issued says where a client could have fetched it.
        urls = ", ".join(chain[position - 1].ca_issuers_urls)
        where = f", available from {urls}" if urls else ""
        problems.append(
            Problem(
                Reason.MISSING_INTERMEDIATE,
                f"intermediate {named(cert)} was not sent by the server{where}",
                [cert.sha256],
            )
        )
    top = built.top
    if built.end == ChainEnd.SELF_SIGNED:
        sent = " (the server sent it)" if top.sha256 not in built.from_pool else ""
        problems.append(
            Problem(
                Reason.MISSING_ROOT,
                f"root {named(top)}{sent} is not in store {store.name}",
                [top.sha256],
            )
        )
    elif built.end == ChainEnd.TOO_LONG:
        problems.append(
            Problem(
                Reason.PATH_TOO_LONG,
                f"no certificate of store {store.name} within {MAX_PATH_LENGTH} certificates: "
                f"the path is longer than certcensus follows (it stops at {named(top)})",
                [top.sha256],
            )
        )
    elif built.end == ChainEnd.UNKNOWN_ISSUER:
        unusable = top if top.openssl_invalid else _invalid_candidate(top, served, store, pool)
        if unusable is not None:
            problems.append(
                Problem(
                    Reason.MALFORMED_CERTIFICATE,
                    f"{unusable.openssl_invalid[0]} in {_in(chain, unusable)}: "
                    "OpenSSL cannot use it in a chain",
                    [unusable.sha256],
                )
            )
        else:
            problems.append(_unknown_issuer(top, chain, store))
    return problems


def _check_problems(built: BuiltChain, at: dt.datetime, host: str | None) -> list[Problem]:
    chain = built.certs
    return [
        Problem(_CHECK_REASONS[f.check], f"{_in(chain, f.cert)} {f.detail}", [f.cert.sha256])
        for f in check_chain(chain, at, host, built.anchor_index)
    ]


def key_is_weak(cert: Cert) -> bool:
    key = cert.public_key
    return (
        (isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS)
        or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS)
        or (isinstance(key, dsa.DSAPublicKey) and key.key_size < MIN_RSA_BITS)
    )


def _advisory_problems(chain: list[Cert], served: list[Cert]) -> list[Problem]:
    problems = []
    for position, cert in enumerate(chain):
        is_top_root = position == len(chain) - 1 and cert.is_root
        if not is_top_root and is_weak_signature(cert):
            problems.append(
                Problem(
                    Reason.WEAK_SIGNATURE,
                    f"{named(cert)} is signed with {signature_hash_name(cert)}",
                    [cert.sha256],
                )
            )
        if key_is_weak(cert):
            problems.append(
                Problem(
                    Reason.WEAK_KEY,
                    f"{named(cert)} has a {cert.public_key.key_size}-bit key",
                    [cert.sha256],
                )
            )
    # RFC 5246 7.4.2: "each following certificate MUST directly certify the one preceding it".
    # By CA identity: a cross-signed twin sent right after its sibling is an alternative, not
    # a misplaced certificate.
    positions = {c.identity: i for i, c in reversed(list(enumerate(served)))}
    used = [positions[c.identity] for c in chain if c.identity in positions]
    if used != list(range(len(used))):
        problems.append(
            Problem(
                Reason.WRONG_ORDER,
                f"the server sent its certificates out of order (wire positions {used} along "
                "the path)",
                [],
            )
        )
    related = {c.identity for c in chain} | {c.sha256 for c in chain}
    extra = [c for c in served[1:] if c.sha256 not in related and c.identity not in related]
    if extra:
        names = ", ".join(named(c) for c in extra)
        problems.append(
            Problem(
                Reason.EXTRA_CERTIFICATES,
                f"the server sent certificates that are not on the path: {names}",
                [c.sha256 for c in extra],
            )
        )
    return problems


def lenient_verdict(
    served: list[Cert],
    store: TrustStore,
    pool: CAPool | None,
    at: dt.datetime,
    host: str | None = None,
) -> ModeVerdict:
    """OpenSSL's verdict (see the module docstring), with every problem named."""
    built = build_chain(served, store, at, pool)
    problems = _end_problems(built, served, store, pool) + _check_problems(built, at, host)
    problems += _advisory_problems(built.certs, served)
    trusted = (
        built.end == ChainEnd.TRUSTED
        and not built.from_pool
        and all(p.reason in ADVISORY for p in problems)
    )
    missing = [c.sha256 for c in built.certs if c.sha256 in built.from_pool]
    if built.end == ChainEnd.SELF_SIGNED and built.top.sha256 not in missing:
        missing.append(built.top.sha256)
    anchor = None
    if built.end == ChainEnd.TRUSTED and built.anchor_index is not None:
        anchor = built.certs[built.anchor_index].subject.rfc4514_string()
    elif built.end == ChainEnd.SELF_SIGNED:
        anchor = built.top.subject.rfc4514_string()
    return ModeVerdict(trusted, problems, [c.sha256 for c in built.certs], missing, anchor)


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


def unreadable_verdicts(
    position: int, error: Exception, stores: list[TrustStore]
) -> dict[str, StoreVerdict]:
    """Every store's verdict on a chain with a certificate that does not parse at all."""
    which = "the leaf" if position == 0 else f"certificate #{position}"
    problem = Problem(
        Reason.MALFORMED_CERTIFICATE,
        f"{which} does not parse ({error}); a client fails the handshake",
        [],
    )
    verdict = ModeVerdict(False, [problem], [], [], None)
    return {store.name: StoreVerdict(store.name, verdict, verdict) for store in stores}


def served_certificates(chain: list[bytes]) -> tuple[list[Cert], tuple[int, Exception] | None]:
    """The chain's certificates, or the first that does not parse (position, error)."""
    served = []
    for position, der in enumerate(chain):
        try:
            served.append(Cert.from_der(der))
        except UnreadableCertificate as error:
            return served, (position, error)
    return served, None


def chain_trust_verdicts(
    chain: list[bytes],
    stores: list[TrustStore],
    *,
    pool: CAPool | None = None,
    host: str | None = None,
    at: dt.datetime | None = None,
) -> dict[str, StoreVerdict]:
    """Each store's verdict on one chain (DER, wire order), by store name. Never raises for
    anything a server or a store can contain."""
    at = at or dt.datetime.now(dt.UTC)
    served, unreadable = served_certificates(chain)
    if unreadable is not None:
        return unreadable_verdicts(*unreadable, stores)
    verdicts = {}
    for store in stores:
        lenient = lenient_verdict(served, store, pool, at, host)
        strict = strict_verdict(served, store, at, host, lenient)
        verdicts[store.name] = StoreVerdict(store.name, lenient, strict)
    return verdicts


__all__ = [
    "ADVISORY",
    "ModeVerdict",
    "Problem",
    "Reason",
    "StoreVerdict",
    "chain_trust_verdicts",
    "host_matches",
    "key_is_weak",
    "lenient_verdict",
    "named",
    "served_certificates",
    "strict_verdict",
]
