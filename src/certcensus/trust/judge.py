"""The one trust judge every command uses: stores, CA pool and AIA loaded once, verdicts typed.

`TrustJudge.load(request)` reads the named stores (a bad one fails before any probe is made),
opens the CA pool and the AIA cache, and then answers, for a chain as served and the name a
client checks, each store's verdict; and for a set of chains, what a store lacks. Each distinct
chain is judged once per store and time, however many targets served it under however many
names: the name enters a verdict only as "the leaf covers it or not" (and, when not, the name
quoted in that problem), so a fleet of 10,000 addresses serving one chain costs one judgement.
"""

from __future__ import annotations

import dataclasses
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
from certcensus.trust.verdict import (
    ModeVerdict,
    Reason,
    StoreVerdict,
    chain_trust_verdicts,
    host_matches,
)

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
        # (chain, time, does the leaf cover the name) -> (the name judged, its verdicts)
        self._judged: dict[tuple, tuple[str | None, dict[str, StoreVerdict]]] = {}
        self._leaves: dict[str, Cert] = {}
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
        chain_id = chain_fingerprint(chain)
        key = (chain_id, host, at)
        if key not in self._verdicts:
            if len(self._verdicts) >= CACHE_LIMIT:
                self._verdicts.clear()
                self._judged.clear()
                self._leaves.clear()
            leaf = self._leaves.get(chain_id)
            if leaf is None:
                leaf = self._leaves[chain_id] = Cert.from_der(chain[0])
            covered = host is None or host_matches(leaf, host)
            judged = self._judged.get((chain_id, at, covered, len(self.stores)))
            if judged is None:
                self._complete(chain)
                verdicts = chain_trust_verdicts(
                    chain, self.stores, pool=self.pool, host=host, at=at
                )
                self._judged[(chain_id, at, covered, len(self.stores))] = (host, verdicts)
            elif covered or judged[0] == host:
                verdicts = judged[1]  # a name the leaf covers changes nothing in a verdict
            else:
                verdicts = _for_name(judged[1], judged[0], host)
            self._verdicts[key] = verdicts
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


def _for_name(
    verdicts: dict[str, StoreVerdict], judged: str | None, host: str | None
) -> dict[str, StoreVerdict]:
    """The verdicts judged for one name the leaf does not cover, for another such name: the
    same but for the name the mismatch problem quotes (tests/trust compare with judging anew)."""
    said, meant = f" is not valid for {judged}", f" is not valid for {host}"

    def renamed(mode: ModeVerdict) -> ModeVerdict:
        problems = [
            dataclasses.replace(p, detail=p.detail.replace(said, meant))
            if p.reason is Reason.NAME_MISMATCH and said in p.detail
            else p
            for p in mode.problems
        ]
        return dataclasses.replace(mode, problems=problems)

    return {
        name: dataclasses.replace(v, lenient=renamed(v.lenient), strict=renamed(v.strict))
        for name, v in verdicts.items()
    }
