"""Which backends serve which chain: the census of who answered, per target.

Built from the store's aggregate (`Store.backend_counts`: probes counted by backend identity,
ServerHello fingerprint, chain, SNI and profile), never from a per-probe list, so it costs the
same for a hundred probes as for a million. It says, per chain, the backends that served it;
per backend, the chains it served, flagging one that served several (and whether SNI or the
ClientHello profile explains it); per ServerHello fingerprint, the chains; how many backends
were seen and, by Chao1, how many there are likely to be; and whether the split between chains
is by backend ("every backend serves exactly one chain") or happens within backends.

Probes that learned no identity are counted under `None` (JSON `null`), never dropped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

from certcensus.census.coverage import chao1_estimated_total
from certcensus.model.defaults import CONFIDENCE
from certcensus.store.base import BackendProbeCount

# Backends named in one sentence before "and N more": enough to paste into a ticket.
NAMED_IN_SENTENCE = 5


@dataclass(frozen=True, slots=True)
class BackendEstimate:
    """How many backends answer, by Chao1 over the probes' backend identities."""

    seen: int
    estimated: float
    low: float
    high: float
    confidence: float

    def to_dict(self) -> dict:
        return {
            "seen": self.seen,
            "estimated": round(self.estimated, 2),
            "low": round(self.low, 2),
            "high": round(self.high, 2),
            "confidence": self.confidence,
        }


def chao1_interval(
    seen: int, singletons: int, doubletons: int, n_probes: int, confidence: float = CONFIDENCE
) -> BackendEstimate:
    """Bias-corrected Chao1 with Chao's (1987) log-normal confidence interval.

    Variance: the bias-corrected form's, as EstimateS (Colwell, User's Guide, appendix B) gives
    it. Interval: S_obs + T/K to S_obs + T*K, T = estimate - S_obs, K = exp(z sqrt(ln(1 +
    var/T^2))), so it never goes below what was seen. Where that breaks down (T = 0 with f1 = 1)
    the normal interval is used, cut at S_obs; with no backend seen once there is no sign of an
    unseen one and the interval is the point.
    """
    estimate = chao1_estimated_total(seen, singletons, doubletons, n_probes)
    if n_probes == 0 or singletons == 0:
        return BackendEstimate(seen, float(seen), float(seen), float(seen), confidence)
    f1, f2 = singletons, doubletons
    k = (n_probes - 1) / n_probes
    variance = (
        k * f1 * (f1 - 1) / (2 * (f2 + 1))
        + k**2 * f1 * (2 * f1 - 1) ** 2 / (4 * (f2 + 1) ** 2)
        + k**2 * f1**2 * f2 * (f1 - 1) ** 2 / (4 * (f2 + 1) ** 4)
    )
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    unseen = estimate - seen
    if unseen <= 0:
        spread = z * math.sqrt(variance)
        return BackendEstimate(seen, estimate, float(seen), estimate + spread, confidence)
    factor = math.exp(z * math.sqrt(math.log(1 + variance / unseen**2)))
    return BackendEstimate(
        seen, estimate, seen + unseen / factor, seen + unseen * factor, confidence
    )


@dataclass
class Backend:
    """One backend identity (None: probes that learned none) and what it served."""

    identity: str | None
    probes: int = 0  # every probe that named it, failed ones included
    failed: int = 0  # of those, probes that got no chain
    chains: Counter = field(default_factory=Counter)  # chain id -> ok probes
    server_hellos: Counter = field(default_factory=Counter)  # fingerprint -> probes
    # (SNI, profile) -> the chains served there: tells "depends on SNI/profile" from "mixed".
    chains_by_stratum: dict[tuple[str | None, str], set[str]] = field(default_factory=dict)

    @property
    def serves_several_chains(self) -> bool:
        return self.identity is not None and len(self.chains) > 1

    @property
    def why_several_chains(self) -> str | None:
        """Why one backend serves more than one chain, as far as the probes can tell."""
        if not self.serves_several_chains:
            return None
        if all(len(chains) <= 1 for chains in self.chains_by_stratum.values()):
            return "the chain depends on SNI or ClientHello profile"
        return "mixed within one SNI and profile: mid-rollout, or several servers behind one name"


@dataclass
class BackendCensus:
    backends: list[Backend]  # most probes first; the unidentified (None) last
    by_chain: dict[str, Counter]  # chain id -> identity (None included) -> ok probes
    by_server_hello: dict[str, Counter]  # fingerprint -> chain id -> ok probes
    server_hello_probes: Counter  # fingerprint -> every probe (failed included)
    estimate: BackendEstimate | None  # None when no probe named a backend
    chain_order: list[str] = field(default_factory=list)  # the census's chains, #1 first

    @property
    def identified(self) -> list[Backend]:
        return [b for b in self.backends if b.identity is not None]

    @property
    def unidentified(self) -> Backend | None:
        return next((b for b in self.backends if b.identity is None), None)

    @property
    def serving_several_chains(self) -> list[Backend]:
        return [b for b in self.backends if b.serves_several_chains]

    @property
    def split_by_backend(self) -> bool:
        """Several chains, several backends, and every backend that served a chain served
        exactly one: the split is by backend, not by chance within a backend."""
        serving = [b for b in self.identified if b.chains]
        chains = {chain for b in serving for chain in b.chains}
        return len(chains) > 1 and len(serving) > 1 and all(len(b.chains) == 1 for b in serving)

    def backends_of(self, chain_id: str) -> Counter:
        return self.by_chain.get(chain_id, Counter())

    def chain_number(self, chain_id: str) -> str:
        if chain_id in self.chain_order:
            return f"#{self.chain_order.index(chain_id) + 1}"
        return chain_id[:12]

    def sentences(self) -> list[str]:
        """What a person reads first: counts, the rare chains' backends, the verdict on the split."""
        if self.estimate is None:
            return [
                "No probe learned which backend answered (nothing in the greeting names one; "
                "for HTTPS, --http-head asks)."
            ]
        estimate = self.estimate
        seen = f"{estimate.seen} backend{'s' if estimate.seen != 1 else ''} seen"
        about = (
            f"about {estimate.estimated:.0f} in all ({estimate.confidence:.0%} interval "
            f"{math.floor(estimate.low)}-{math.ceil(estimate.high)}, Chao1)"
        )
        lines = [f"{seen}, {about}"]
        for chain_id in self.chain_order[1:]:
            named = [i for i, _ in ranked(self.backends_of(chain_id)) if i is not None]
            if named:
                lines.append(
                    f"chain {self.chain_number(chain_id)} on {len(named)} of them: "
                    + _listed(named)
                )
        if self.split_by_backend:
            lines.append(
                "Every backend serves exactly one chain: the split is by backend, not by chance "
                "within a backend."
            )
        for backend in self.serving_several_chains:
            served = ", ".join(f"{self.chain_number(c)} x{n}" for c, n in ranked(backend.chains))
            lines.append(
                f"{backend.identity} serves {len(backend.chains)} chains ({served}): "
                f"{backend.why_several_chains}"
            )
        unidentified = self.unidentified
        if unidentified is not None:
            lines.append(f"{unidentified.probes} probe(s) learned no backend identity")
        return lines


def ranked(counts: Counter) -> list[tuple]:
    """(key, count) most first, ties by key (None last): output that does not depend on which
    probe happened to finish first."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0] is None, str(item[0])))


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:NAMED_IN_SENTENCE])
    more = len(names) - NAMED_IN_SENTENCE
    return shown + (f" and {more} more" if more > 0 else "")


def count_backends(
    rows: Iterable[BackendProbeCount], chain_order: Sequence[str], confidence: float = CONFIDENCE
) -> BackendCensus:
    """The backends analysis of one target from the store's aggregate rows; `chain_order` is the
    census's chain order (most common first), for numbering."""
    backends: dict[str | None, Backend] = {}
    by_chain: dict[str, Counter] = {}
    by_server_hello: dict[str, Counter] = {}
    hello_probes: Counter = Counter()
    for row in rows:
        backend = backends.get(row.identity)
        if backend is None:
            backend = backends[row.identity] = Backend(row.identity)
        backend.probes += row.probes
        if row.server_hello:
            backend.server_hellos[row.server_hello] += row.probes
            hello_probes[row.server_hello] += row.probes
        if row.chain_id is None:
            backend.failed += row.probes
            continue
        backend.chains[row.chain_id] += row.probes
        backend.chains_by_stratum.setdefault((row.sni, row.profile), set()).add(row.chain_id)
        by_chain.setdefault(row.chain_id, Counter())[row.identity] += row.probes
        if row.server_hello:
            by_server_hello.setdefault(row.server_hello, Counter())[row.chain_id] += row.probes
    ordered = sorted(
        backends.values(), key=lambda b: (b.identity is None, -b.probes, b.identity or "")
    )
    named = [b.probes for b in ordered if b.identity is not None]
    estimate = None
    if named:
        abundance = Counter(named)
        estimate = chao1_interval(len(named), abundance[1], abundance[2], sum(named), confidence)
    return BackendCensus(
        ordered, by_chain, by_server_hello, hello_probes, estimate, list(chain_order)
    )
