"""How sure is the census: what share of connections could go to a chain we never saw?

Pure arithmetic on the sequence of chain ids a census observed; no I/O. Everything here
assumes what a random load balancer gives: each successful probe of one *stratum* (one
address, SNI, ClientHello profile and source address) lands on a chain drawn independently
from the same fixed distribution. `randomness.py` checks that assumption and, when the
sequence plainly contradicts it, `assess` there marks the coverage not applicable instead of
printing a number that would be false.

Three numbers, from strongest guarantee to softest estimate:

* `max_missed_share` (a guarantee): with the stated confidence, no chain served with share
  >= p went unseen. Proof: at most floor(1/p) chains can each have share >= p; a given one
  is missed by all N independent probes with probability (1-q)^N <= (1-p)^N; the union
  bound over them gives P(some such chain missed) <= floor(1/p) (1-p)^N, which we keep
  <= delta = 1 - confidence. Nothing about the number of chains is assumed.
* `unseen_mass_upper_bound` (a guarantee): the total share of all unseen chains together.
* `unseen_mass_estimate` and `estimated_total` (point estimates, no guarantee): Good-Turing
  and Chao1.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

from certcensus.model.coverage_bound import (  # noqa: F401 - re-exported for callers
    _check_confidence,
    _log_miss_probability_bound,
    max_missed_share,
    miss_probability_bound,
    probes_needed,
)
from certcensus.model.defaults import CONFIDENCE


def good_turing_unseen_mass(singletons: int, n_probes: int) -> float:
    """Good (1953), credited to Turing: the unseen chains' total share is about f1 / N."""
    return singletons / n_probes if n_probes else 1.0


def unseen_mass_upper_bound(singletons: int, n_probes: int, confidence: float) -> float:
    """With `confidence`, the unseen chains together get at most this share of connections.

    M0 <= f1/N + (1 + sqrt 2) sqrt(ln(2/delta) / N), assuming N independent identically
    distributed draws (and nothing about the number of chains). It is the argument of
    McAllester & Schapire, "On the convergence rate of Good-Turing estimators", COLT 2000,
    with a sharper concentration step; each half gets delta/2:
      1. McAllester & Ortiz, "Concentration inequalities for the missing mass and for
         histogram rule error", JMLR 4 (2003) 895-911: P(M0 >= E[M0] + e) <= exp(-N e^2),
         so M0 <= E[M0] + sqrt(ln(2/delta)/N).
      2. E[M0] = sum p_i (1-p_i)^N <= sum p_i (1-p_i)^(N-1) = E[f1/N] (exactly).
      3. McDiarmid: changing one draw moves f1/N by at most 2/N, so
         P(E[f1/N] - f1/N >= e) <= exp(-N e^2 / 2), i.e. E[f1/N] <= f1/N + sqrt(2 ln(2/delta)/N).
    Step 1 is the upper-deviation inequality as stated there (and restated by Berend &
    Kontorovich, "On the concentration of the missing mass", Electron. Commun. Probab. 18
    (2013), who sharpen the other tail). We do not use McAllester & Schapire's closed-form
    constant: the bound above rests only on the two cited inequalities and one identity.
    The simulation in tests/test_coverage_simulation.py checks it holds at the stated rate.
    """
    delta = _check_confidence(confidence)
    if n_probes == 0:
        return 1.0
    slack = (1.0 + math.sqrt(2.0)) * math.sqrt(math.log(2.0 / delta) / n_probes)
    return min(1.0, singletons / n_probes + slack)


def chao1_estimated_total(distinct: int, singletons: int, doubletons: int, n_probes: int) -> float:
    """Bias-corrected Chao1 estimate of how many distinct chains the service has.

    S_obs + ((N-1)/N) f1 (f1-1) / (2 (f2+1)): Chao (1987), Biometrics 43:783-791, in the
    bias-corrected form of Chao (2005), "Species estimation and applications", Encyclopedia
    of Statistical Sciences, as given (Eq. for abundance data, "Chao1 bias-corrected") in
    Colwell's EstimateS User's Guide. It is a lower-bound-style estimate, not a guarantee.
    """
    if n_probes == 0:
        return float(distinct)
    return distinct + ((n_probes - 1) / n_probes) * singletons * (singletons - 1) / (
        2 * (doubletons + 1)
    )


def _format_share(share: float) -> str:
    """A share as a percentage with two significant digits, rounded *up* (a weaker, true claim)."""
    percent = share * 100.0
    if percent >= 100.0:
        return "100%"
    digits = max(0, 1 - math.floor(math.log10(percent))) if percent > 0 else 2
    scale = 10.0**digits
    rounded = math.ceil(percent * scale - 1e-9) / scale
    if rounded >= 100.0:
        return "100%"
    # 0.9994 rounds up to 1.00: print it as 1.0, still two significant digits.
    digits = min(digits, max(0, 1 - math.floor(math.log10(rounded))))
    return f"{rounded:.{digits}f}%"


# What every number here rests on; said after it unless the census saw no random choice.
RANDOM_CHOICE = "the balancer picks backends at random"


def _format_confidence(confidence: float) -> str:
    return f"{confidence * 100:.10g}%"


@dataclass(frozen=True, slots=True)
class Coverage:
    probes: int  # N: successful probes that returned a chain
    distinct: int  # K: distinct chains seen
    singletons: int  # f1: chains seen exactly once
    doubletons: int  # f2: chains seen exactly twice
    unseen_mass_estimate: float  # Good-Turing f1/N (estimate)
    unseen_mass_upper_bound: float  # holds with `confidence`
    max_missed_share: float  # p: no chain with share >= p missed, with `confidence`
    confidence: float
    estimated_total: float  # Chao1 bias-corrected (estimate)
    applicable: bool = True
    not_applicable_reason: str | None = None
    strata: int = 1  # how many strata this statement covers (target-level: all of them)

    def to_dict(self) -> dict:
        # Not dataclasses.asdict: it deep-copies every value, 40% of a 10,000-target report.
        return {name: getattr(self, name) for name in _COVERAGE_FIELDS}

    def marked_not_applicable(self, reason: str) -> Coverage:
        """The same counts, but the random-choice statement withdrawn, with the reason."""
        return replace(self, applicable=False, not_applicable_reason=reason)

    def sentence(
        self,
        where: str,
        *,
        scope: str | None = None,
        assumption: str | None = RANDOM_CHOICE,
    ) -> str:
        """One plain sentence for a human, e.g. for `where` = "connections to 192.0.2.10".

        `scope` replaces "(in each of the N ways we connected)"; `assumption` is what the
        number rests on, said in parentheses (None: nothing to assume, e.g. when each address
        always served one chain and no random choice was seen).
        """
        if not self.applicable:
            reason = self.not_applicable_reason or "the random-choice assumption does not hold"
            return (
                f"No confidence statement for {where}: {reason} ({self.probes} probes, "
                f"{self.distinct} distinct chain{'s' if self.distinct != 1 else ''} seen)."
            )
        if scope is None:
            scope = "" if self.strata == 1 else f" (in each of the {self.strata} ways we connected)"
        return (
            f"With {_format_confidence(self.confidence)} confidence, no chain served on more "
            f"than {_format_share(self.max_missed_share)} of {where}{scope} was missed"
            + (f" (assuming {assumption})." if assumption else ".")
        )


_COVERAGE_FIELDS = tuple(f.name for f in fields(Coverage))


def coverage_of(chain_ids: Sequence[str], confidence: float = CONFIDENCE) -> Coverage:
    """Coverage of one stratum from its chain ids in probe order (failed probes left out)."""
    return coverage_of_counts(Counter(chain_ids).values(), confidence)


def coverage_of_counts(chain_counts: Iterable[int], confidence: float = CONFIDENCE) -> Coverage:
    """Coverage of one stratum from how many probes got each chain: all the bound needs."""
    return _coverage_of_sorted_counts(tuple(sorted(c for c in chain_counts if c > 0)), confidence)


@functools.lru_cache(maxsize=4096)
def _coverage_of_sorted_counts(counts: tuple[int, ...], confidence: float) -> Coverage:
    """Cached (Coverage is immutable): a fleet's targets mostly share the same few counts."""
    _check_confidence(confidence)
    n = sum(counts)
    frequency_of_frequencies = Counter(counts)
    f1, f2 = frequency_of_frequencies.get(1, 0), frequency_of_frequencies.get(2, 0)
    coverage = Coverage(
        probes=n,
        distinct=len(counts),
        singletons=f1,
        doubletons=f2,
        unseen_mass_estimate=good_turing_unseen_mass(f1, n),
        unseen_mass_upper_bound=unseen_mass_upper_bound(f1, n, confidence),
        max_missed_share=max_missed_share(n, confidence),
        confidence=confidence,
        estimated_total=chao1_estimated_total(len(counts), f1, f2, n),
    )
    if n == 0:
        return coverage.marked_not_applicable("no probe returned a chain")
    return coverage


def chain_ids_by_stratum(records: Iterable[tuple[Hashable, str]]) -> dict[Hashable, list[str]]:
    """Group (stratum key, chain id) pairs, keeping probe order within each stratum."""
    grouped: dict[Hashable, list[str]] = {}
    for key, chain_id in records:
        grouped.setdefault(key, []).append(chain_id)
    return grouped


def coverage_by_stratum(
    chain_ids: Mapping[Hashable, Sequence[str]], confidence: float = CONFIDENCE
) -> dict[Hashable, Coverage]:
    """Per-stratum coverage, each at the full `confidence` (a statement about that stratum)."""
    return {key: coverage_of(ids, confidence) for key, ids in chain_ids.items()}


def describe_stratum(key: Hashable) -> str:
    """A stratum key for people: ("192.0.2.11", "a.example", None) -> "192.0.2.11, a.example"."""
    if isinstance(key, tuple):
        return ", ".join(part for part in map(describe_stratum, key) if part)
    return "" if key is None else str(key)


def target_coverage(
    chain_ids: Mapping[Hashable, Sequence[str]],
    confidence: float = CONFIDENCE,
    not_applicable: Mapping[Hashable, str] | None = None,
) -> Coverage:
    """One conservative statement for a whole target made of several strata.

    Different strata (addresses, SNIs, profiles, source addresses) may reach different pools,
    so their probes cannot be pooled into one sample. Instead each stratum's bound is computed
    at confidence 1 - delta/S (Bonferroni over the S strata that returned chains) and the
    target reports the worst stratum. By the union bound, P(any stratum missed a chain above
    its own p) <= S * delta/S = delta, and every stratum's p is <= the reported maximum, so
    "no chain with share >= p (within any stratum) was missed" holds with `confidence`.
    Chain counts (distinct, f1, f2, Chao1) are pooled: a chain seen in another stratum is not
    missing from the target. `not_applicable` maps stratum keys to why randomness failed
    there; any such stratum withdraws the whole target's statement (its bound is not valid,
    and the worst stratum would otherwise silently be left out).
    """
    return target_coverage_of_counts(
        {key: Counter(ids) for key, ids in chain_ids.items()}, confidence, not_applicable
    )


def _combined(pooled: Coverage, worst: list[Coverage]) -> Coverage:
    """Pooled counts, each bound from the worst stratum (see target_coverage)."""
    return replace(
        pooled,
        unseen_mass_estimate=max(c.unseen_mass_estimate for c in worst),
        unseen_mass_upper_bound=max(c.unseen_mass_upper_bound for c in worst),
        max_missed_share=max(c.max_missed_share for c in worst),
        strata=len(worst),
    )


@functools.lru_cache(maxsize=4096)
def _one_stratum(counts: tuple[int, ...], confidence: float) -> Coverage:
    """_combined for a single stratum (cached: fleets repeat the same counts)."""
    delta = 1.0 - confidence
    pooled = _coverage_of_sorted_counts(counts, confidence)
    return _combined(pooled, [_coverage_of_sorted_counts(counts, 1.0 - delta / 1)])


def target_coverage_of_counts(
    chain_counts: Mapping[Hashable, Mapping[str, int]],
    confidence: float = CONFIDENCE,
    not_applicable: Mapping[Hashable, str] | None = None,
) -> Coverage:
    """target_coverage from each stratum's probes per chain (stratum -> chain -> probes)."""
    delta = _check_confidence(confidence)
    answered = {key: counts for key, counts in chain_counts.items() if sum(counts.values()) > 0}
    if len(answered) == 1:  # most targets of a fleet: one way of connecting
        (counts,) = answered.values()
        combined = _one_stratum(tuple(sorted(c for c in counts.values() if c > 0)), confidence)
    else:
        pooled_counts: Counter = Counter()
        for counts in answered.values():
            pooled_counts.update(counts)
        pooled = coverage_of_counts(pooled_counts.values(), confidence)
        if not answered:
            return replace(pooled, strata=0)
        per_stratum_confidence = 1.0 - delta / len(answered)
        worst = [coverage_of_counts(c.values(), per_stratum_confidence) for c in answered.values()]
        combined = _combined(pooled, worst)
    withdrawn = (not_applicable or {}).items()
    reasons = [f"{describe_stratum(key)}: {why}" for key, why in withdrawn if key in answered]
    if reasons:
        return combined.marked_not_applicable("; ".join(reasons))
    return combined
