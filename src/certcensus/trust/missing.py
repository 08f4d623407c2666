"""Which CA certificates must a store gain so that every observed chain is trusted?

For one target and one store: choose, for each chain not yet trusted, one complete and
time-valid path (see paths.py) so that the union of the certificates those paths need is as
small as possible. This is a small set-cover; targets have a handful of distinct chains and each
chain a handful of paths, so the exact answer is affordable up to MAX_COMBINATIONS and a greedy
one is used beyond.
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

MAX_COMBINATIONS = 20_000


@dataclass
class MissingCAs:
    store: str
    certificates: list[Cert]  # roots first, then intermediates; each at most once
    needed_by: dict[str, list[str]] = field(default_factory=dict)  # chain id -> SHA-256s
    unfixable: dict[str, str] = field(default_factory=dict)  # chain id -> why no CA helps


def _requirement(
    path: CandidatePath, served: list[Cert], store: TrustStore, every_ca_of_path: bool
) -> frozenset[Cert]:
    needed = set(path.not_held(served, store))
    if every_ca_of_path:
        # IBM i DCM (and some GSKit clients) build paths only from their own store: every CA of
        # the path must be there, even the intermediates the server sends.
        needed |= {c for c in path.certs[1:] if store.anchor_for(c) is None}
    return frozenset(needed)


def chain_options(
    served: list[Cert],
    store: TrustStore,
    pool: CAPool | None,
    at: dt.datetime,
    every_ca_of_path: bool = False,
) -> list[frozenset[Cert]] | str:
    """The certificate sets that would each make this chain trusted; [set()] if it already is.

    A string instead says why no set of CA certificates can help (an expired leaf, an issuer
    nobody knows).
    """
    finder = PathFinder(served, store, pool, at)
    paths = finder.candidate_paths()
    if finder.is_trusted(finder.best_path(paths)):
        return [frozenset()]
    options: set[frozenset[Cert]] = set()
    for path in paths:
        if path.end == PathEnd.UNKNOWN_ISSUER or path.invalid_at(at):
            continue
        options.add(_requirement(path, served, store, every_ca_of_path))
    if options:
        return sorted(options, key=lambda o: (len(o), sorted(c.sha256 for c in o)))
    best = finder.best_path(paths)
    if best.invalid_at(at):
        names = ", ".join(c.display_name for c in best.invalid_at(at))
        return f"no CA certificate helps: {names} not valid at {at.isoformat()}"
    return f'no CA certificate we know issued "{best.last.issuer.rfc4514_string()}"'


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
        options = chain_options(
            [Cert.from_der(d) for d in chain], store, pool, at, every_ca_of_path
        )
        if isinstance(options, str):
            result.unfixable[chain_id] = options
        else:
            fixable.append((chain_id, options))
    chosen = _smallest_cover([options for _, options in fixable]) if fixable else []
    union: dict[str, Cert] = {}
    for (chain_id, _), requirement in zip(fixable, chosen, strict=True):
        result.needed_by[chain_id] = sorted(c.sha256 for c in requirement)
        for cert in requirement:
            union[cert.sha256] = cert
    result.certificates = sorted(
        union.values(), key=lambda c: (not c.is_self_issued, c.display_name)
    )
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
        served = [Cert.from_der(d) for d in chain]
        for cert in served[1:]:
            if cert.is_ca:
                found.setdefault(cert.sha256, cert)
        for store in [*stores, None]:
            path = PathFinder(served, store, pool, at).best_path()
            for cert in path.certs[1:]:
                found.setdefault(cert.sha256, cert)
    return sorted(found.values(), key=lambda c: (not c.is_self_issued, c.display_name))
