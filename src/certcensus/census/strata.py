"""Strata: who asked, and what they were served.

A stratum is (server address, SNI sent, client profile, source address, vantage): what a
server sends may depend on any of them. This module counts chains per stratum and says when a
chain was seen only in some ("only without SNI", "only from 127.0.0.3", "only from vantage eu").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from certcensus.model.outcomes import Outcome
from certcensus.store.base import StoredProbe

# A chain's absence from a stratum counts only if chance alone would rarely explain it:
# (1 - share)^probes below this, share being the chain's share where it was seen.
ABSENCE_SIGNIFICANCE = 0.01

DIMENSIONS = ("address", "sni", "profile", "source_address", "vantage")


@dataclass(frozen=True, slots=True)
class StratumKey:
    address: str
    sni: str | None
    profile: str
    source_address: str | None
    vantage: str | None = None  # the `certcensus worker --vantage` probing; None: this host

    def describe(self) -> str:
        parts = [self.address or "(no address)", f"SNI {self.sni}" if self.sni else "no SNI",
                 f"profile {self.profile}"]  # fmt: skip
        if self.source_address:
            parts.append(f"from {self.source_address}")
        if self.vantage:
            parts.append(f"vantage {self.vantage}")
        return ", ".join(parts)


@dataclass
class StratumCount:
    key: StratumKey
    probes: int = 0
    ok: int = 0
    chains: Counter = field(default_factory=Counter)


def stratum_of(probe: StoredProbe) -> StratumKey:
    return StratumKey(probe.address, probe.sni, probe.profile, probe.source_address, probe.vantage)


def count_strata(probes: Iterable[StoredProbe]) -> list[StratumCount]:
    strata: dict[StratumKey, StratumCount] = {}
    for probe in probes:
        key = stratum_of(probe)
        count = strata.setdefault(key, StratumCount(key))
        count.probes += 1
        if probe.outcome is Outcome.OK and probe.chain_id and not probe.leaf_only:
            count.ok += 1
            count.chains[probe.chain_id] += 1
    return list(strata.values())


def _phrase(dimension: str, values: list) -> str:
    shown = ", ".join(str(v) for v in values)
    if dimension == "address":
        return f"only at {shown}"
    if dimension == "sni":
        named = [v for v in values if v]
        if not named:
            return "only without SNI"
        return f"only with SNI {', '.join(named)}" + (" or none" if None in values else "")
    if dimension == "profile":
        return f"only with profile {shown}"
    if dimension == "vantage":
        return f"only from vantage {shown}"
    return f"only from {shown}"


def where_seen(chain_id: str, strata: list[StratumCount]) -> list[str]:
    """Plain statements of the dimensions along which `chain_id` was seen in only some values,
    where its absence from the others is too unlikely to be chance."""
    statements: list[str] = []
    if len(strata) < 2:
        return statements  # one way of connecting: nothing was seen "only" somewhere
    for dimension in DIMENSIONS:
        ok_by_value: Counter = Counter()
        hits_by_value: Counter = Counter()
        for stratum in strata:
            value = getattr(stratum.key, dimension)
            ok_by_value[value] += stratum.ok
            hits_by_value[value] += stratum.chains.get(chain_id, 0)
        values = [v for v, n in ok_by_value.items() if n > 0]
        present = [v for v in values if hits_by_value[v] > 0]
        if len(values) < 2 or len(present) == len(values) or not present:
            continue
        share = sum(hits_by_value[v] for v in present) / sum(ok_by_value[v] for v in present)
        absent = [v for v in values if v not in present]
        if all((1 - share) ** ok_by_value[v] < ABSENCE_SIGNIFICANCE for v in absent):
            ordered = sorted(present, key=lambda v: (v is None, str(v)))
            statements.append(_phrase(dimension, ordered))
    return statements
