"""Which CA certificates must a store gain so that every observed chain is trusted?

For one target and one store: choose, for each chain not yet trusted, one path (see paths.py)
whose missing CAs, once added to the store, make the lenient verdict (OpenSSL's) trusted, so
that the union of the certificates those paths need is as small as possible. Each choice is
checked by judging the chain again against the store with the certificates added: a path the
search finds but OpenSSL would not build is never offered. This is a small set cover; targets
have a handful of distinct chains and each chain a handful of paths, so the exact answer is
affordable up to MAX_COMBINATIONS and a greedy one is used beyond.

A chain whose root nobody has (not sent, in no store, not fetchable through AIA) still gets the
intermediates the client lacks; the root is named in `unknown_issuers`, and the kit is partial.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from certcensus.model.chain import chain_fingerprint
from certcensus.trust.certs import Cert
from certcensus.trust.paths import CandidatePath, PathEnd, PathFinder
from certcensus.trust.pool import CAPool
from certcensus.trust.stores import TrustStore
from certcensus.trust.verdict import PRIORITY, Reason, lenient_verdict, served_certificates

MAX_COMBINATIONS = 20_000


@dataclass(frozen=True)
class UnknownIssuer:
    """A CA a chain needs that is known nowhere: not sent, in no store, not fetched by AIA."""

    subject: str  # RFC 4514
    key_identifier: str | None  # the authorityKeyIdentifier of the certificate it issued, hex
    urls: tuple[str, ...]  # that certificate's AIA caIssuers
    issued: str  # that certificate's display name

    def where_to_get_it(self) -> str:
        if self.urls:
            return f"its AIA caIssuers URL ({', '.join(self.urls)}) did not give it; ask the CA"
        return "ask the CA that issued it, or the server's operator, for this certificate"


@dataclass
class MissingCAs:
    store: str
    certificates: list[Cert]  # roots first, then intermediates; each at most once
    needed_by: dict[str, list[str]] = field(default_factory=dict)  # chain id -> SHA-256s
    unfixable: dict[str, str] = field(default_factory=dict)  # chain id -> why no CA helps
    unknown_issuers: dict[str, UnknownIssuer] = field(default_factory=dict)  # chain id -> root

    @property
    def complete(self) -> bool:
        """Would adding `certificates` make every chain trusted?"""
        return not self.unfixable and not self.unknown_issuers


@dataclass(frozen=True)
class ChainNeed:
    options: list[frozenset[Cert]]  # each would make the chain trusted; [set()] if it is
    unknown: UnknownIssuer | None = None  # the options are partial: this root is missing too
    unfixable: str | None = None  # why no set of CA certificates helps


def _requirement(
    path: CandidatePath, served: list[Cert], store: TrustStore, every_ca_of_path: bool
) -> frozenset[Cert]:
    needed = set(path.not_held(served, store))
    if every_ca_of_path:
        # IBM i DCM (and some GSKit clients) build paths only from their own store: every CA of
        # the path must be there, even the intermediates the server sends.
        needed |= {c for c in path.certs[1:] if store.anchor_for(c) is None}
    return frozenset(needed)


def _trusted_with(
    served: list[Cert], store: TrustStore, added: frozenset[Cert], pool, at: dt.datetime
) -> bool:
    candidate = store.with_certificates(sorted(added, key=lambda c: c.sha256)) if added else store
    return lenient_verdict(served, candidate, pool, at).trusted


def chain_need(
    served: list[Cert],
    store: TrustStore,
    pool: CAPool | None,
    at: dt.datetime,
    every_ca_of_path: bool = False,
) -> ChainNeed:
    """What this chain needs from the store's owner."""
    verdict = lenient_verdict(served, store, pool, at)
    if verdict.trusted:
        return ChainNeed([frozenset()])
    malformed = [p for p in verdict.problems if p.reason == Reason.MALFORMED_CERTIFICATE]
    if malformed:  # a certificate OpenSSL cannot use: no CA certificate helps
        return ChainNeed([], unfixable=f"no CA certificate helps: {malformed[0].detail}")
    finder = PathFinder(served, store, pool, at)
    paths = finder.candidate_paths()
    options: set[frozenset[Cert]] = set()
    for path in paths:
        if path.end in (PathEnd.UNKNOWN_ISSUER, PathEnd.TOO_LONG) or path.invalid_at(at):
            continue
        needed = _requirement(path, served, store, every_ca_of_path)
        # OpenSSL takes the first issuer it finds: where that is not this path's, every CA of
        # the path in the store (trusted-first) makes it take this one.
        every = needed | {c for c in path.certs[1:] if store.anchor_for(c) is None}
        for choice in dict.fromkeys((needed, every)):
            if choice and _trusted_with(served, store, choice, pool, at):
                options.add(choice)
                break
    if options:
        return ChainNeed(sorted(options, key=lambda o: (len(o), sorted(c.sha256 for c in o))))
    best = finder.best_path(paths)
    if best.end == PathEnd.UNKNOWN_ISSUER and not best.invalid_at(at):
        last = best.last
        unknown = UnknownIssuer(
            last.issuer.rfc4514_string(),
            last.authority_key_identifier.hex(":") if last.authority_key_identifier else None,
            last.ca_issuers_urls,
            last.display_name,
        )
        return ChainNeed([_requirement(best, served, store, every_ca_of_path)], unknown)
    return ChainNeed([], unfixable=_why_unfixable(verdict))


def _why_unfixable(verdict) -> str:
    """The first problem no added CA certificate can remove (expired, bad signature, ...)."""
    for problem in sorted(verdict.problems, key=lambda p: PRIORITY.index(p.reason)):
        if problem.reason not in (Reason.MISSING_INTERMEDIATE, Reason.MISSING_ROOT):
            return f"no CA certificate helps: {problem.detail}"
    return f"no CA certificate helps: {verdict.detail}"


def _smallest_cover(option_lists: list[list[frozenset[Cert]]]) -> list[frozenset[Cert]]:
    combinations = 1
    for options in option_lists:
        combinations *= len(options)
    if combinations <= MAX_COMBINATIONS:
        return list(
            min(
                itertools.product(*option_lists), key=lambda choice: len(frozenset().union(*choice))
            )
        )
    chosen: list[frozenset[Cert]] = []
    union: frozenset[Cert] = frozenset()
    for options in option_lists:  # greedy: the option adding the fewest new certificates
        best = min(options, key=lambda o: len(o - union))
        chosen.append(best)
        union |= best
    return chosen


def roots_first(certs) -> list[Cert]:
    return sorted(certs, key=lambda c: (not c.is_root, c.display_name, c.sha256))


def missing_cas(
    chains: list[list[bytes]],
    store: TrustStore,
    pool: CAPool | None = None,
    at: dt.datetime | None = None,
    every_ca_of_path: bool = False,
) -> MissingCAs:
    """The smallest set of CAs that, added to `store`, makes every chain trusted.

    `chains` are DER certificates in wire order, as the servers sent them.
    """
    at = at or dt.datetime.now(dt.UTC)
    result = MissingCAs(store.name, [])
    fixable: list[tuple[str, list[frozenset[Cert]]]] = []
    for chain in chains:
        chain_id = chain_fingerprint(chain)
        served, unreadable = served_certificates(chain)
        if unreadable is not None:
            result.unfixable[chain_id] = (
                f"no CA certificate helps: certificate #{unreadable[0]} does not parse"
            )
            continue
        need = chain_need(served, store, pool, at, every_ca_of_path)
        if need.unknown is not None:
            result.unknown_issuers[chain_id] = need.unknown
        if need.unfixable is not None:
            result.unfixable[chain_id] = need.unfixable
        else:
            fixable.append((chain_id, need.options))
    chosen = _smallest_cover([options for _, options in fixable]) if fixable else []
    union: dict[str, Cert] = {}
    for (chain_id, _), requirement in zip(fixable, chosen, strict=True):
        result.needed_by[chain_id] = sorted(c.sha256 for c in requirement)
        for cert in requirement:
            union[cert.sha256] = cert
    result.certificates = roots_first(union.values())
    return result


def observed_cas(
    chains: list[list[bytes]],
    stores: list[TrustStore],
    pool: CAPool | None,
    at: dt.datetime | None = None,
) -> list[Cert]:
    """Every CA of the observed chains: served CAs and the CAs of each best path, per store."""
    at = at or dt.datetime.now(dt.UTC)
    found: dict[str, Cert] = {}
    for chain in chains:
        served, unreadable = served_certificates(chain)
        if unreadable is not None or not served:
            continue
        for cert in served[1:]:
            if cert.is_ca:
                found.setdefault(cert.sha256, cert)
        for store in [*stores, None]:
            path = PathFinder(served, store, pool, at).best_path()
            for cert in path.certs[1:]:
                found.setdefault(cert.sha256, cert)
    return roots_first(found.values())
