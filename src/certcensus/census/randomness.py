"""Does the balancer really pick backends at random? If not, coverage numbers would lie.

`coverage.py` turns N probes into "no chain above p% was missed", which is only true if each
probe lands on a chain independently of the others and of how we connected. Balancers break
that in recognisable ways:

* round robin (or weighted round robin): the chain sequence repeats with a fixed period;
* hashing on the client's source port or source address: the chain is a function of them,
  so chains tied to ports or addresses we never used stay invisible however many probes;
* time-based switching (DNS or pool changes every few minutes): chains come in long blocks.

Each detector is a significance test against "independent draws from a fixed distribution"
and fires only at a tiny p-value (`SIGNIFICANCE`) on enough data, so that a genuinely random
balancer is essentially never reported as non-random. A finding withdraws the coverage
number; it does not say the census missed anything.

We compute the few distribution tails we need (chi-square, binomial, runs) by hand: scipy
would be a large dependency for three short functions.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from certcensus.census.coverage import Coverage, coverage_of
from certcensus.census.tails import (
    binomial_upper_tail_bound,
    chi_square_survival,
    exact_runs_distribution,
)
from certcensus.model.defaults import CONFIDENCE

# A finding needs p below this. Each sequence runs a few dozen tests (lags, bucket sizes,
# attributes); with the Bonferroni corrections below the whole report's false-alarm rate on
# a truly random balancer stays under ~1e-3, while real round robin or hashing gives p-values
# like 1e-30 after a hundred probes.
SIGNIFICANCE = 1e-4

# Fewer probes than this and no test runs: too little data to tell patterns from luck.
MIN_PROBES_FOR_TESTS = 20

# Round robin with noise (other clients interleaving, a retry) still matches position i-k
# most of the time; below 80% matching we do not call it "repeating", whatever the p-value
# says (the p-value, not this, is what keeps random sequences from being accused).
PERIODIC_MIN_MATCH_FRACTION = 0.8
# Longest period searched. Weighted round robin periods are the sum of weights; pools beyond
# a hundred or so backends are not something a census can cover anyway. Also capped at N/3 so
# a period is seen repeating at least three times.
MAX_PERIOD = 128

# Port buckets tried: backend = port mod m (ECMP / L4 hashes on low bits, parity splits).
PORT_BUCKET_MODULI = (2, 3, 4, 5, 6, 7, 8)
# A dependence must also be large to count: Cramer's V below this is a real but small
# effect (every chain is still reached from every port), not a hidden pool.
MIN_CRAMERS_V = 0.3
# Cochran (1954), "Some methods for strengthening the common chi-square tests", Biometrics
# 10:417-451: the chi-square approximation is trusted when no expected count is below 1 and
# at most 20% are below 5. Tables that fail this are not tested.
COCHRAN_MIN_EXPECTED = 1.0
COCHRAN_SMALL_EXPECTED = 5.0
COCHRAN_MAX_SMALL_FRACTION = 0.2

# The runs test wants both kinds of probe in numbers. Its p-value is exact, so this is not
# about validity but evidence: with fewer than 10 probes off the most common chain, a "block"
# is a handful of connections, too little to call a pattern in time. (The textbook rule for
# the normal approximation, which we do not use, is more than 10 of each.)
RUNS_MIN_EACH = 10


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str  # "periodic", "source-port", "source-address", "clustered-in-time", "alternating"
    words: str  # one plain sentence for a user
    statistic: float
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class RandomnessReport:
    findings: list[Finding] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)  # what we could not check, and why

    @property
    def random_looking(self) -> bool:
        return not self.findings

    def to_dict(self) -> dict:
        return {
            "random_looking": self.random_looking,
            "findings": [f.to_dict() for f in self.findings],
            "untested": list(self.untested),
        }

    def sentence(self) -> str:
        if self.random_looking:
            caveat = f" (not checked: {'; '.join(self.untested)})" if self.untested else ""
            return f"Backend choice looks random: no pattern found{caveat}."
        return "Backend choice is not random: " + "; ".join(f.words for f in self.findings) + "."


# --- detectors ------------------------------------------------------------------------------


def periodic_finding(chain_ids: Sequence[str]) -> Finding | None:
    """Round robin: chain i equals chain i-k far more often than chance, for some k >= 2.

    Under random choice two positions agree with probability r = sum(q_j^2) (q = observed
    shares), so 98% agreement is normal when one chain serves 99% of connections. Neighbouring
    comparisons share a probe and are not independent, but the comparisons (i-k, i) with
    floor(i/k) even use disjoint pairs of probes, and so do those with floor(i/k) odd: two
    independent binomial samples. If the total matches reach a fraction f, one half does, so
    P <= sum over halves of the Chernoff bound exp(-n_half KL(f || r)); Bonferroni over the
    lags tried. The smallest such period is reported.
    """
    n = len(chain_ids)
    counts = Counter(chain_ids)
    if len(counts) < 2 or n < MIN_PROBES_FOR_TESTS:
        return None
    chance_match = sum((c / n) ** 2 for c in counts.values())

    def match_fraction(lag: int) -> float:
        return sum(1 for i in range(lag, n) if chain_ids[i] == chain_ids[i - lag]) / (n - lag)

    # Long blocks (time-based switching) match well at every short lag, best at lag 1; a
    # rotation matches better at its period than at lag 1. Blocks are the runs test's job.
    neighbour_match = match_fraction(1)
    lags = range(2, min(MAX_PERIOD, n // 3) + 1)
    for lag in lags:
        fraction = match_fraction(lag)
        if fraction < PERIODIC_MIN_MATCH_FRACTION or fraction <= neighbour_match:
            continue
        even_half = sum(1 for i in range(lag, n) if (i // lag) % 2 == 0)
        halves = (even_half, n - lag - even_half)
        p_value = sum(binomial_upper_tail_bound(fraction, size, chance_match) for size in halves)
        p_value = min(1.0, p_value * len(lags))
        if p_value < SIGNIFICANCE:
            return Finding(
                kind="periodic",
                words=(
                    f"chains repeat every {lag} connections ({fraction:.0%} of positions), a "
                    f"fixed rotation such as round robin, not a random choice"
                ),
                statistic=float(lag),
                p_value=p_value,
            )
    return None


def _chi_square_independence(
    labels: Sequence[Hashable], chain_ids: Sequence[str]
) -> tuple[float, int, float, float] | None:
    """Pearson chi-square test of chain vs label: (statistic, df, p-value, Cramer's V), or None
    when the table fails Cochran's rule or has fewer than two rows or columns. Chains too rare
    to fill a row are pooled into one "other" row first, so one rare chain does not stop the
    test for all the others."""
    chain_counts = Counter(chain_ids)
    column_count = len(set(labels))
    rare = {c for c, count in chain_counts.items() if count < COCHRAN_SMALL_EXPECTED * column_count}
    rows_of = [None if chain_id in rare else chain_id for chain_id in chain_ids]
    table: dict[Hashable, Counter] = defaultdict(Counter)
    for label, row in zip(labels, rows_of):
        table[label][row] += 1
    column_totals = {label: sum(row.values()) for label, row in table.items()}
    row_totals = Counter(rows_of)
    n = len(chain_ids)
    rows, columns = list(row_totals), list(table)
    if len(rows) < 2 or len(columns) < 2:
        return None
    expected = [row_totals[r] * column_totals[c] / n for r in rows for c in columns]
    small = sum(1 for e in expected if e < COCHRAN_SMALL_EXPECTED)
    if min(expected) < COCHRAN_MIN_EXPECTED or small > COCHRAN_MAX_SMALL_FRACTION * len(expected):
        return None
    statistic = 0.0
    for r in rows:
        for c in columns:
            e = row_totals[r] * column_totals[c] / n
            statistic += (table[c][r] - e) ** 2 / e
    df = (len(rows) - 1) * (len(columns) - 1)
    cramers_v = math.sqrt(statistic / (n * (min(len(rows), len(columns)) - 1)))
    return statistic, df, chi_square_survival(statistic, df), cramers_v


def _determinism_p_value(
    labels: Sequence[Hashable], chain_ids: Sequence[str]
) -> tuple[float, int] | None:
    """If every label that occurs twice or more always gave the same chain, the chance of that
    under random choice: prod over labels of sum_j q_j^count. Returns (p, repeated labels), or
    None when some label saw two chains or no label repeats."""
    by_label: dict[Hashable, set[str]] = defaultdict(set)
    label_counts = Counter(labels)
    for label, chain_id in zip(labels, chain_ids):
        by_label[label].add(chain_id)
    repeated = [label for label, count in label_counts.items() if count >= 2]
    if not repeated or any(len(by_label[label]) > 1 for label in repeated):
        return None
    n = len(chain_ids)
    shares = [c / n for c in Counter(chain_ids).values()]
    log_p = sum(math.log(sum(q ** label_counts[label] for q in shares)) for label in repeated)
    return math.exp(log_p), len(repeated)


def attribute_finding(
    kind: str, what: str, labelings: Mapping[str, Sequence[Hashable]], chain_ids: Sequence[str]
) -> Finding | None:
    """Chain tied to an attribute of how we connected. `labelings` maps a description ("source
    port mod 2") to one label per probe; every labeling gets an exact-determinism test and a
    chi-square test, Bonferroni-corrected over 2 x the number of labelings."""
    if len(set(chain_ids)) < 2 or len(chain_ids) < MIN_PROBES_FOR_TESTS:
        return None
    tests = 2 * len(labelings)
    for description, labels in labelings.items():
        determinism = _determinism_p_value(labels, chain_ids)
        if determinism is not None and determinism[0] * tests < SIGNIFICANCE:
            p, repeated = determinism
            return Finding(
                kind=kind,
                words=(
                    f"each {description} always got the same chain ({repeated} {what} values "
                    f"seen more than once)"
                ),
                statistic=float(repeated),
                p_value=min(1.0, p * tests),
            )
        independence = _chi_square_independence(labels, chain_ids)
        if independence is not None:
            statistic, df, p, cramers_v = independence
            if p * tests < SIGNIFICANCE and cramers_v >= MIN_CRAMERS_V:
                return Finding(
                    kind=kind,
                    words=f"the chain depends on the {description} (Cramer's V {cramers_v:.2f})",
                    statistic=statistic,
                    p_value=min(1.0, p * tests),
                )
    return None


def runs_finding(chain_ids: Sequence[str]) -> Finding | None:
    """Wald-Wolfowitz runs test on "most common chain" vs "any other", in time order.

    R runs among n1 + n2 = n probes; under random order E[R] = 2 n1 n2 / n + 1 and
    Var[R] = 2 n1 n2 (2 n1 n2 - n) / (n^2 (n-1)) (Wald & Wolfowitz 1940, Ann. Math. Statist.
    11:147-162); the z-score is reported as the statistic. The p-value is exact (two-sided,
    twice the smaller tail) rather than erfc(|z|/sqrt 2): when one chain is rare, R is nearly
    twice a Poisson count and the normal tail is far too thin; in our measurements it accused
    2 of 4,000 random 2,000-probe sequences with a 1-3% chain. Too few runs means chains
    come in blocks (time-based switching); too many means they alternate (a rotation).
    """
    counts = Counter(chain_ids)
    if len(counts) < 2:
        return None
    majority = counts.most_common(1)[0][0]
    binary = [chain_id == majority for chain_id in chain_ids]
    n1 = sum(binary)
    n2 = len(binary) - n1
    if n1 < RUNS_MIN_EACH or n2 < RUNS_MIN_EACH:
        return None
    n = n1 + n2
    runs = 1 + sum(1 for i in range(1, n) if binary[i] != binary[i - 1])
    mean = 2 * n1 * n2 / n + 1
    variance = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
    z = (runs - mean) / math.sqrt(variance)
    distribution = exact_runs_distribution(n1, n2)
    at_most = sum(p for r, p in distribution.items() if r <= runs)
    at_least = sum(p for r, p in distribution.items() if r >= runs)
    p_value = min(1.0, 2 * min(at_most, at_least))
    if p_value >= SIGNIFICANCE:
        return None
    if z < 0:
        words = f"chains come in long blocks over time ({runs} runs where about {mean:.0f} were expected)"
        return Finding("clustered-in-time", words, z, p_value)
    words = f"chains alternate more regularly than chance ({runs} runs where about {mean:.0f} were expected)"
    return Finding("alternating", words, z, p_value)


def randomness_report(
    chain_ids: Sequence[str],
    source_ports: Sequence[int] | None = None,
    source_addresses: Sequence[str] | None = None,
    times: Sequence[float] | None = None,
) -> RandomnessReport:
    """Run every detector on one stratum's chain ids (probe order; failed probes left out).
    Attribute sequences, when given, must be aligned with `chain_ids`."""
    attributes = (
        ("source_ports", source_ports),
        ("source_addresses", source_addresses),
        ("times", times),
    )
    for name, values in attributes:
        if values is not None and len(values) != len(chain_ids):
            raise ValueError(f"{name} has {len(values)} entries for {len(chain_ids)} chain ids")
    findings: list[Finding] = []
    untested: list[str] = []
    if len(set(chain_ids)) < 2:
        return RandomnessReport(
            findings, ["only one chain seen: nothing to test"] if chain_ids else []
        )
    if len(chain_ids) < MIN_PROBES_FOR_TESTS:
        return RandomnessReport(
            findings, [f"fewer than {MIN_PROBES_FOR_TESTS} probes: too few to test"]
        )

    in_time_order = list(chain_ids)
    if times is not None:
        in_time_order = [
            chain_id for _, _, chain_id in sorted(zip(times, range(len(chain_ids)), chain_ids))
        ]
    periodic = periodic_finding(in_time_order)
    if periodic:
        findings.append(periodic)
    runs = runs_finding(in_time_order)
    # A rotation also has too many runs; saying so twice would not tell the user more.
    if runs and not (periodic and runs.kind == "alternating"):
        findings.append(runs)

    if source_ports is None:
        untested.append("source ports unknown: a port-hashing balancer would go unnoticed")
    else:
        labelings: dict[str, Sequence[Hashable]] = {"source port": list(source_ports)}
        for modulus in PORT_BUCKET_MODULI:
            labelings[f"source port mod {modulus}"] = [port % modulus for port in source_ports]
        if len(set(source_ports)) == len(source_ports):
            untested.append(
                "no source port was used twice: a balancer hashing the whole port (rather than "
                "a few low bits) would go unnoticed"
            )
        finding = attribute_finding("source-port", "port", labelings, chain_ids)
        if finding:
            findings.append(finding)

    if source_addresses is None or len(set(source_addresses)) < 2:
        untested.append(
            "one source address: a balancer hashing on the client address would show us one "
            "pool and hide the others"
        )
    else:
        labels = {"source address": list(source_addresses)}
        finding = attribute_finding("source-address", "address", labels, chain_ids)
        if finding:
            findings.append(finding)
    return RandomnessReport(findings, untested)


def assess(
    sequence: Sequence[str],
    source_ports: Sequence[int] | None = None,
    source_addresses: Sequence[str] | None = None,
    times: Sequence[float] | None = None,
    confidence: float = CONFIDENCE,
) -> tuple[Coverage, RandomnessReport]:
    """Coverage of one stratum, withdrawn (not applicable) when the choice is plainly not random."""
    coverage = coverage_of(sequence, confidence)
    report = randomness_report(sequence, source_ports, source_addresses, times)
    if not report.random_looking and coverage.applicable:
        reason = "; ".join(f.words for f in report.findings)
        coverage = coverage.marked_not_applicable(reason)
    return coverage, report
