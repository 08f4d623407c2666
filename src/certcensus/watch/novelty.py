"""Is a chain seen for the first time new, or was it there all along and missed by chance?

A chain that gets `count` of a round's `probes` successful probes has a share p that is, with
confidence 1 - SIGNIFICANCE, at least the Clopper-Pearson lower bound p_low (exact binomial,
one-sided). Had it been served at p_low or more all along, the `before` successful probes made
earlier would all have missed it with probability at most (1 - p_low)^before. When that is below
SIGNIFICANCE the chain is new beyond chance; otherwise a chain this rare could simply have been
missed, and the alert says so instead of crying wolf. Pure arithmetic, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# 1%: the same level as chain-gone (alerts.py) and the watch's default confidence (99%).
SIGNIFICANCE = 0.01
_BISECTION_STEPS = 80  # p in [0, 1] to ~1e-24: far past the two digits a sentence shows


def _log_binomial_pmf(n: int, k: int, p: float) -> float:
    return (
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
        + k * math.log(p) + (n - k) * math.log1p(-p)
    )  # fmt: skip


def binomial_upper_tail(n: int, k: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    terms = [_log_binomial_pmf(n, i, p) for i in range(k, n + 1)]
    top = max(terms)
    return min(1.0, math.exp(top) * sum(math.exp(t - top) for t in terms))


def share_lower_bound(count: int, probes: int, significance: float = SIGNIFICANCE) -> float:
    """Clopper-Pearson one-sided lower bound on a share seen on `count` of `probes`."""
    if count <= 0 or probes <= 0:
        return 0.0
    low, high = 0.0, count / probes
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        if binomial_upper_tail(probes, count, middle) < significance:
            low = middle
        else:
            high = middle
    return low


@dataclass(frozen=True)
class Novelty:
    share_at_least: float  # p_low: the chain's share, with 1 - SIGNIFICANCE confidence
    probes_before: int  # successful probes of the target before this round
    chance_missed_before: float  # (1 - p_low)^probes_before
    new_beyond_chance: bool

    def sentence(self) -> str:
        share, before = f"{self.share_at_least:.2%}", self.probes_before
        if self.new_beyond_chance:
            return (f"new beyond chance: a chain served on {share} of connections or more would "
                    f"have shown in the {before} probes before (chance of missing it "
                    f"{self.chance_missed_before:.2g})")  # fmt: skip
        return (f"possibly there all along: a chain served on {share} of connections is missed "
                f"by {before} probes with chance {self.chance_missed_before:.2g}")  # fmt: skip


def novelty(count: int, probes: int, probes_before: int) -> Novelty:
    """How sure we are that a chain seen on `count` of this round's `probes` is new, after
    `probes_before` earlier successful probes that never saw it."""
    low = share_lower_bound(count, probes)
    chance = 1.0 if low <= 0.0 else math.exp(probes_before * math.log1p(-min(low, 1 - 1e-16)))
    return Novelty(low, probes_before, chance, chance < SIGNIFICANCE)
