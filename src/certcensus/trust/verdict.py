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
from certcensus.trust.reasons import (
    ADVISORY,
    PRIORITY,
    ModeVerdict,
    Problem,
    Reason,
    StoreVerdict,
    key_is_weak,
    named,
)
from certcensus.trust.signatures import is_weak_signature, signature_hash_name
from certcensus.trust.stores import TrustStore
from certcensus.trust.strict import strict_verdict

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
    "PRIORITY",
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
