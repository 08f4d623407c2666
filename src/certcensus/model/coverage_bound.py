"""The union bound behind every coverage statement, and its inverse: how many probes to make.

Shared by the scheduler (stop when sure: probe until the bound holds) and the census (what the
bound says about the probes made), so it sits below both. Pure arithmetic, no I/O.

With N independent probes of one stratum, at most floor(1/p) chains can each have share >= p;
a given one is missed by all N with probability (1-q)^N <= (1-p)^N; the union bound over them
gives P(some such chain missed) <= floor(1/p) (1-p)^N, which we keep <= delta = 1 - confidence.
"""

from __future__ import annotations

import functools
import math

# Bisection on log(p) stops when the bracket is this tight relative to p: far finer than the
# two significant digits a sentence prints, and cheap (about 60 steps).
_RELATIVE_TOLERANCE = 1e-9


def _check_confidence(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")
    return 1.0 - confidence


def _log_miss_probability_bound(share: float, n_probes: int) -> float:
    """log of floor(1/p) * (1-p)^N: the union bound on missing some chain of share >= p."""
    if share >= 1.0:
        # One chain with all the traffic is missed only if there were no probes at all.
        return 0.0 if n_probes == 0 else -math.inf
    # The small epsilon stops 1/0.25 = 3.9999999 from flooring to 3 (which would be unsafe).
    chains_at_or_above = math.floor(1.0 / share + 1e-12)
    return math.log(chains_at_or_above) + n_probes * math.log1p(-share)


def miss_probability_bound(share: float, n_probes: int) -> float:
    """floor(1/p) * (1-p)^N: bound on P(some chain with share >= p got no probe)."""
    return math.exp(_log_miss_probability_bound(share, n_probes))


@functools.lru_cache(maxsize=4096)
def max_missed_share(n_probes: int, confidence: float) -> float:
    """Smallest share p such that, with `confidence`, no chain with share >= p was missed.

    Solves floor(1/p) (1-p)^N <= 1 - confidence. The left side never increases with p (both
    factors are non-increasing), so bisection applies. It jumps down just above each 1/m, so
    the exact infimum can fail the inequality; we return the upper end of the final bracket,
    which always satisfies it (the statement printed is then true, never optimistic).
    Cached: a fleet asks the same (N, confidence) for thousands of targets.
    """
    delta = _check_confidence(confidence)
    if n_probes < 0:
        raise ValueError(f"n_probes must be >= 0, got {n_probes}")
    if n_probes == 0:
        return 1.0  # no probes: nothing is known, not even that one chain exists
    log_delta = math.log(delta)

    def holds(share: float) -> bool:
        return _log_miss_probability_bound(share, n_probes) <= log_delta

    low, high = 1e-300, 1.0  # holds(1.0) for any N >= 1; holds(1e-300) for no real N
    if holds(low):
        return low
    while high - low > _RELATIVE_TOLERANCE * high:
        middle = math.sqrt(low * high)  # bisection in log space: p spans many decades
        if middle <= low or middle >= high:
            break
        if holds(middle):
            high = middle
        else:
            low = middle
    return high


def probes_needed(min_share: float, confidence: float) -> int:
    """Smallest N with floor(1/p) (1-p)^N <= 1 - confidence: "stop when sure" for share p.

    After this many random probes, every chain with share >= min_share has been seen with the
    stated confidence; `max_missed_share(probes_needed(p, c), c) <= p`.
    """
    delta = _check_confidence(confidence)
    if not 0.0 < min_share <= 1.0:
        raise ValueError(f"min_share must be in (0, 1], got {min_share!r}")
    if min_share >= 1.0:
        return 1
    chains_at_or_above = math.floor(1.0 / min_share + 1e-12)
    estimate = math.ceil(math.log(delta / chains_at_or_above) / math.log1p(-min_share))
    n = max(estimate, 1)
    # The closed form is exact in real arithmetic; nudge for floating-point rounding.
    log_delta = math.log(delta)
    while _log_miss_probability_bound(min_share, n) > log_delta:
        n += 1
    while n > 1 and _log_miss_probability_bound(min_share, n - 1) <= log_delta:
        n -= 1
    return n
