"""Trust verdicts for a whole census: per chain and store, and the CAs each store lacks.

The census's analysis step: it reads the census (chains as served) and the loaded stores, and
writes the verdicts back onto the census for every output format to read.
"""

from __future__ import annotations

import datetime as dt

from certcensus.census.build import Census
from certcensus.trust.aia import AIAFetcher, complete_with_aia
from certcensus.trust.certs import Cert
from certcensus.trust.missing import missing_cas
from certcensus.trust.pool import CAPool
from certcensus.trust.stores import TrustStore
from certcensus.trust.verdict import chain_trust_verdicts


def judge_census(
    census: Census,
    stores: list[TrustStore],
    *,
    pool: CAPool,
    fetcher: AIAFetcher | None = None,
    at: dt.datetime | None = None,
) -> None:
    """Set `chain.trust` on every chain and `target.missing_cas` on every target."""
    at = at or dt.datetime.now(dt.UTC)
    for store in stores:
        pool.add_all(store.certificates)
    for target in census.targets:
        ders_by_chain = {chain.chain_id: chain.ders for chain in target.chains}
        for ders in ders_by_chain.values():
            complete_with_aia([Cert.from_der(d) for d in ders], pool, stores, fetcher)
        host = target.server_name
        for chain in target.chains:
            chain.trust = chain_trust_verdicts(
                ders_by_chain[chain.chain_id], stores, pool=pool, host=host, at=at
            )
        if target.chains:
            target.missing_cas = {
                store.name: missing_cas(list(ders_by_chain.values()), store, pool, at).as_dict()
                for store in stores
            }
