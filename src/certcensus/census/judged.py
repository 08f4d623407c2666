"""The trust step of the analysis: each chain of the census judged by one TrustJudge.

Verdicts land on the census object (`chain.trust`, `target.missing_cas`, and `chain.issues`
computed again with what the stores and the CA pool know, so "incomplete" can be said) for
every rendering, alert and metric to read. The judge answers each distinct chain and name once.
"""

from __future__ import annotations

import datetime as dt

from certcensus.census.clients import client_impact
from certcensus.census.model import Census
from certcensus.trust.judge import TrustJudge


def judge_census(census: Census, judge: TrustJudge, at: dt.datetime | None = None) -> Census:
    """Set `chain.trust` on every chain, and `target.missing_cas` and what it means for each
    store's clients (`target.clients`) on every target; return the census."""
    at = at or judge.moment()
    census.stores = [store.name for store in judge.stores]
    for target in census.targets:
        host = target.server_name
        for chain in target.chains:
            chain.trust = judge.verdicts(chain.ders, host, at)
            chain.issues = judge.chain_issues(chain.ders, at)
        if target.chains:
            chains = [chain.ders for chain in target.chains]
            target.missing_cas = {
                store.name: judge.missing(chains, store, at=at) for store in judge.stores
            }
        target.clients = client_impact(target, judge.stores)
    return census
