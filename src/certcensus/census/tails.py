"""Tail probabilities the randomness checks need, computed exactly or bounded, stdlib only.

Written by hand because SciPy would be a large dependency for three functions; each is a
textbook formula, cited where it is defined.
"""

from __future__ import annotations

import math


def chi_square_survival(statistic: float, degrees_of_freedom: int) -> float:
    """P(X >= statistic) for X ~ chi-square(df), df a positive integer.

    Closed forms of the regularized upper gamma Q(df/2, x/2) for integer df (Abramowitz &
    Stegun 26.4.4 and 26.4.5): with h = x/2, even df: e^-h sum_{i<df/2} h^i / i!; odd df:
    erfc(sqrt h) + e^-h sum_{k=1}^{(df-1)/2} h^(k-1/2) / Gamma(k+1/2). Our tables have df <= 35,
    where these finite sums are exact to rounding.
    """
    if statistic <= 0:
        return 1.0
    half = statistic / 2
    if degrees_of_freedom % 2 == 0:
        term = total = math.exp(-half)
        for i in range(1, degrees_of_freedom // 2):
            term *= half / i
            total += term
    else:
        total = math.erfc(math.sqrt(half))
        term = math.exp(-half) * math.sqrt(half) / math.gamma(1.5)
        for k in range(1, (degrees_of_freedom - 1) // 2 + 1):
            total += term
            term *= half / (k + 0.5)
    return min(1.0, total)


def binomial_upper_tail_bound(observed: float, trials: int, rate: float) -> float:
    """Chernoff bound exp(-n KL(f || r)) on P(Binomial(n, r) >= f n): an upper bound on the
    exact p-value, so using it can only make us slower to cry wolf."""
    if trials <= 0 or observed <= rate:
        return 1.0
    if rate <= 0:
        return 0.0
    kl = observed * math.log(observed / rate)
    if observed < 1:
        kl += (1 - observed) * math.log((1 - observed) / (1 - rate))
    return math.exp(-trials * kl)


def log_choose(n: int, k: int) -> float:
    if k < 0 or k > n:
        return -math.inf
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def exact_runs_distribution(n1: int, n2: int) -> dict[int, float]:
    """Exact P(R = r) for the number of runs in a random arrangement of n1 and n2 symbols:
    P(R = 2k) = 2 C(n1-1, k-1) C(n2-1, k-1) / C(n, n1), and
    P(R = 2k+1) = [C(n1-1, k) C(n2-1, k-1) + C(n1-1, k-1) C(n2-1, k)] / C(n, n1)."""
    log_total = log_choose(n1 + n2, n1)
    distribution: dict[int, float] = {}
    for k in range(1, min(n1, n2) + 2):
        even = math.log(2) + log_choose(n1 - 1, k - 1) + log_choose(n2 - 1, k - 1)
        odd_a = log_choose(n1 - 1, k) + log_choose(n2 - 1, k - 1)
        odd_b = log_choose(n1 - 1, k - 1) + log_choose(n2 - 1, k)
        distribution[2 * k] = math.exp(even - log_total)
        distribution[2 * k + 1] = math.exp(odd_a - log_total) + math.exp(odd_b - log_total)
    return distribution


# exp() of anything below this is exactly 0.0 in double precision (the smallest subnormal is
# about exp(-744.4)): runs_tails leaves out only terms that would add exactly nothing.
_LOG_UNDERFLOW = -746.0


def _log_runs_terms(n1: int, n2: int, k: int, log_total: float) -> tuple[float, float, float]:
    """The logs of exact_runs_distribution's terms for 2k and 2k+1 (the odd one in two parts)."""
    even = math.log(2) + log_choose(n1 - 1, k - 1) + log_choose(n2 - 1, k - 1)
    odd_a = log_choose(n1 - 1, k) + log_choose(n2 - 1, k - 1)
    odd_b = log_choose(n1 - 1, k - 1) + log_choose(n2 - 1, k)
    return even - log_total, odd_a - log_total, odd_b - log_total


def runs_tails(n1: int, n2: int, runs: int) -> tuple[float, float]:
    """(P(R <= runs), P(R >= runs)) under random order, summed from the exact distribution.

    The same terms as exact_runs_distribution, but only those that are not exactly zero in
    double precision: the distribution is unimodal around its mean, so they lie in a window of
    a few dozen standard deviations (k in the hundreds for a million probes, not the hundreds
    of thousands of the whole support), found by walking out from the mean until both terms
    underflow.
    """
    log_total = log_choose(n1 + n2, n1)
    last = min(n1, n2) + 1
    centre = min(last, max(1, round(n1 * n2 / (n1 + n2) + 0.5)))
    terms: dict[int, float] = {}
    for step in (-1, 1):
        k = centre if step == 1 else centre - 1
        while 1 <= k <= last:
            even, odd_a, odd_b = _log_runs_terms(n1, n2, k, log_total)
            if max(even, odd_a, odd_b) < _LOG_UNDERFLOW:
                break
            terms[2 * k] = math.exp(even)
            terms[2 * k + 1] = math.exp(odd_a) + math.exp(odd_b)
            k += step
    ordered = sorted(terms.items())  # ascending r, as the full distribution is summed
    at_most = sum(p for r, p in ordered if r <= runs)
    at_least = sum(p for r, p in ordered if r >= runs)
    return at_most, at_least
