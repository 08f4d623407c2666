"""The one trust judge every command uses: stores, CA pool and AIA loaded once, verdicts typed.

`TrustJudge.load(request)` reads the named stores (a bad one fails before any probe is made),
opens the CA pool and the AIA cache, and then answers, for a chain as served and the name a
client checks, each store's verdict; and for a set of chains, what a store lacks. Each distinct
(chain, name, time) is judged once per judge, however many targets served it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from certcensus.model.chain import chain_fingerprint
from certcensus.model.defaults import STORE_PASSWORD
from certcensus.model.errors import TrustStoreError
from certcensus.trust.aia import AIAFetcher, complete_with_aia
from certcensus.trust.certs import Cert, names_issuer
from certcensus.trust.chain_issues import ChainIssues, chain_issues
from certcensus.trust.missing import MissingCAs, missing_cas, observed_cas
from certcensus.trust.pool import CAPool
from certcensus.trust.stores import TrustStore, load_trust_store, parse_store_spec
from certcensus.trust.verdict import StoreVerdict, chain_trust_verdicts

# Verdicts are cached per (chain, name, moment); a long-running exporter or watch judges at a
# new moment every scrape or round, so the caches are emptied past this many entries.
CACHE_LIMIT = 4096


@dataclass(frozen=True)
class TrustRequest:
    """What the user asked for: stores to judge against, and how to find missing issuers."""

    stores: tuple[str, ...] = ()
    password: str = STORE_PASSWORD
    offline: bool = False  # True: no AIA fetches, the cache only
    cache_dir: str | None = None
    at: dt.datetime | None = None  # judge validity at this time; None: now, at each call
    # False: no AIA at all (watch and check run unattended and must not reach out on their own).
    fetch_aia: bool = True
    default_store: str | None = None  # used when `stores` is empty (trust, export: "system")


def cache_directory(cache_dir: str | None) -> Path:
    """The CA pool and AIA cache: --cache-dir, else the user cache directory."""
    if cache_dir:
        return Path(cache_dir)
    import platformdirs

    return Path(platformdirs.user_cache_dir("certcensus"))


def load_stores(specs: tuple[str, ...], password: str) -> list[TrustStore]:
    """Load every store spec; raises TrustStoreError for a bad store or two with one name."""
    stores = [load_trust_store(spec, password) for spec in specs]
    names = [s.name for s in stores]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise TrustStoreError(
            f"two trust stores named {', '.join(sorted(duplicates))}; use NAME=PATH"
        )
    return stores


class TrustJudge:
    def __init__(
        self,
        stores: list[TrustStore],
        pool: CAPool | None = None,
        fetcher: AIAFetcher | None = None,
        at: dt.datetime | None = None,
        password: str = STORE_PASSWORD,
    ):
        self.stores = list(stores)
        self.pool = pool if pool is not None else CAPool()
        self.fetcher = fetcher
        self.at = at
        self._password = password
        for store in self.stores:
            self.pool.add_all(store.certificates)
        self._completed: set[str] = set()
        self._verdicts: dict[tuple[str, str | None, dt.datetime], dict[str, StoreVerdict]] = {}
        self._missing: dict[tuple, MissingCAs] = {}
        self._issues: dict[tuple[str, dt.datetime], ChainIssues] = {}

    @classmethod
    def load(cls, request: TrustRequest) -> TrustJudge | None:
        """The judge for `request`, or None when it names no store and has no default."""
        specs = request.stores or ((request.default_store,) if request.default_store else ())
        if not specs:
            return None
        stores = load_stores(specs, request.password)
        cache = cache_directory(request.cache_dir)
        fetcher = AIAFetcher(cache / "aia", offline=request.offline) if request.fetch_aia else None
        return cls(stores, CAPool(cache / "ca-pool"), fetcher, request.at, request.password)

    def moment(self) -> dt.datetime:
        return self.at or dt.datetime.now(dt.UTC)

    def store(self, name_or_spec: str) -> TrustStore:
        """A loaded store by name or by the spec it was given as; a spec not yet loaded is loaded
        (export --missing-from may name a store that is not a --trust-store)."""
        wanted = {name_or_spec, parse_store_spec(name_or_spec)[0]}
        for store in self.stores:
            if store.name in wanted or store.source == name_or_spec:
                return store
        loaded = load_stores((name_or_spec,), self._password)[0]
        self.stores.append(loaded)
        self.pool.add_all(loaded.certificates)
        return loaded

    def _complete(self, chain: list[bytes]) -> None:
        chain_id = chain_fingerprint(chain)
        if chain_id not in self._completed:
            self._completed.add(chain_id)
            complete_with_aia(
                [Cert.from_der(d) for d in chain], self.pool, self.stores, self.fetcher
            )

    def verdicts(
        self, chain: list[bytes], host: str | None, at: dt.datetime | None = None
    ) -> dict[str, StoreVerdict]:
        """Each store's verdict on `chain` (DER, wire order) for a client checking `host`."""
        at = at or self.moment()
        key = (chain_fingerprint(chain), host, at)
        if key not in self._verdicts:
            if len(self._verdicts) >= CACHE_LIMIT:
                self._verdicts.clear()
            self._complete(chain)
            self._verdicts[key] = chain_trust_verdicts(
                chain, self.stores, pool=self.pool, host=host, at=at
            )
        return self._verdicts[key]

    def missing(
        self,
        chains: list[list[bytes]],
        store: TrustStore,
        *,
        every_ca_of_path: bool = False,
        at: dt.datetime | None = None,
    ) -> MissingCAs:
        """The smallest set of CAs that, added to `store`, makes every chain trusted."""
        at = at or self.moment()
        key = (tuple(chain_fingerprint(c) for c in chains), store.name, at, every_ca_of_path)
        if key not in self._missing:
            if len(self._missing) >= CACHE_LIMIT:
                self._missing.clear()
            for chain in chains:
                self._complete(chain)
            self._missing[key] = missing_cas(chains, store, self.pool, at, every_ca_of_path)
        return self._missing[key]

    def issuers_of(self, cert: Cert) -> list[Cert]:
        """Every known certificate (stores first, then the CA pool) that could have issued
        `cert`, as OpenSSL picks candidates (the caller checks signatures)."""
        found: dict[str, Cert] = {}
        for store in self.stores:
            for candidate in store.by_name(cert.issuer_key):
                found.setdefault(candidate.sha256, candidate)
        for candidate in self.pool.with_subject(cert.issuer_key):
            found.setdefault(candidate.sha256, candidate)
        return [c for c in found.values() if names_issuer(c, cert)]

    def chain_issues(self, chain: list[bytes], at: dt.datetime | None = None) -> ChainIssues:
        """The chain's issues, "incomplete" included (the stores and the pool say what the
        server should have sent)."""
        at = at or self.moment()
        key = (chain_fingerprint(chain), at)
        if key not in self._issues:
            self._complete(chain)
            self._issues[key] = chain_issues(chain, at, self.issuers_of)
        return self._issues[key]

    def observed_cas(self, chains: list[list[bytes]], at: dt.datetime | None = None) -> list[Cert]:
        """Every CA of the chains: served ones and those of each store's best path."""
        for chain in chains:
            self._complete(chain)
        return observed_cas(chains, self.stores, self.pool, at or self.moment())


__all__ = ["TrustJudge", "TrustRequest", "cache_directory", "load_stores"]
