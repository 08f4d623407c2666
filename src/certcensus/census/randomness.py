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

Every test runs on the whole sequence, not a sample, so its power does not shrink as the census
grows: the sequence tests (round robin, runs) on one array of chain codes, one byte or eight
per probe, compared with NumPy a lag at a time (127 lags of a million probes: ~0.1 s, where
the per-probe loop took most of a minute); the attribute tests on contingency tables
(`contingency.py`), built from the sequence or from the store's GROUP BY counts. NumPy, not a
pure-Python trick, because the lag comparisons and the tables are exactly what it does in C,
and it is imported only when a stratum has two chains and enough probes to test. The
functions taking lists (`periodic_finding`, `randomness_report`, ...) convert and call the
array versions, so both paths are one implementation.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from certcensus.census.contingency import (
    Table,
    chi_square_independence,
    codes_of,
    determinism_p_value,
    first_appearance_codes,
    merged_rows,
    table_of_sequence,
)
from certcensus.census.coverage import Coverage, coverage_of
from certcensus.census.tails import binomial_upper_tail_bound, runs_tails
from certcensus.model.defaults import CONFIDENCE

if TYPE_CHECKING:
    import numpy as np

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
        return {"kind": self.kind, "words": self.words, "statistic": self.statistic,
                "p_value": self.p_value}  # fmt: skip


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


def periodic_finding(chain_ids: Sequence[Hashable]) -> Finding | None:
    """Round robin in a list of chain ids in probe order (see periodic_finding_of_codes)."""
    codes, _ = codes_of(chain_ids)
    return periodic_finding_of_codes(codes)


def periodic_finding_of_codes(codes: np.ndarray) -> Finding | None:
    """Round robin: chain i equals chain i-k far more often than chance, for some k >= 2.

    `codes`: chain numbers in probe order, numbered by first appearance. Under random choice
    two positions agree with probability r = sum(q_j^2) (q = observed shares), so 98%
    agreement is normal when one chain serves 99% of connections. Neighbouring comparisons
    share a probe and are not independent, but the comparisons (i-k, i) with floor(i/k) even
    use disjoint pairs of probes, and so do those with floor(i/k) odd: two independent binomial
    samples. If the total matches reach a fraction f, one half does, so
    P <= sum over halves of the Chernoff bound exp(-n_half KL(f || r)); Bonferroni over the
    lags tried. The smallest such period is reported.
    """
    import numpy as np

    n = len(codes)
    counts = np.bincount(codes).tolist() if n else []
    if sum(1 for c in counts if c) < 2 or n < MIN_PROBES_FOR_TESTS:
        return None
    chance_match = sum((c / n) ** 2 for c in counts if c)
    compact = codes.astype(np.uint8 if len(counts) <= 256 else np.int64)

    def match_fraction(lag: int) -> float:
        return int(np.count_nonzero(compact[lag:] == compact[:-lag])) / (n - lag)

    # Long blocks (time-based switching) match well at every short lag, best at lag 1; a
    # rotation matches better at its period than at lag 1. Blocks are the runs test's job.
    neighbour_match = match_fraction(1)
    lags = range(2, min(MAX_PERIOD, n // 3) + 1)
    for lag in lags:
        fraction = match_fraction(lag)
        if fraction < PERIODIC_MIN_MATCH_FRACTION or fraction <= neighbour_match:
            continue
        # Positions i in [lag, n) with floor(i / lag) even: blocks 2, 4, ... of `lag` each,
        # and the last, partial block when its number is even.
        full, rest = divmod(n, lag)
        even_half = (full - 1) // 2 * lag + (rest if full % 2 == 0 else 0)
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


def attribute_finding(
    kind: str, what: str, labelings: Mapping[str, Sequence[Hashable]], chain_ids: Sequence[Hashable]
) -> Finding | None:
    """Chain tied to an attribute of how we connected, from per-probe lists: `labelings` maps a
    description ("source port mod 2") to one label per probe (see attribute_finding_of_tables)."""
    codes, _ = codes_of(chain_ids)
    tables = {}
    for description, labels in labelings.items():
        label_codes, distinct = codes_of(labels)
        tables[description] = table_of_sequence(label_codes, codes, distinct)
    return attribute_finding_of_tables(kind, what, tables)


def attribute_finding_of_tables(
    kind: str, what: str, tables: Mapping[str, Table]
) -> Finding | None:
    """Every labeling's table gets an exact-determinism test and a chi-square test,
    Bonferroni-corrected over 2 x the number of labelings."""
    first = next(iter(tables.values()), None)
    if first is None:
        return None
    chains = int((first.counts.sum(axis=0) > 0).sum())
    if chains < 2 or first.probes < MIN_PROBES_FOR_TESTS:
        return None
    tests = 2 * len(tables)
    for description, table in tables.items():
        determinism = determinism_p_value(table)
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
        independence = chi_square_independence(table)
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


def port_tables(ports: np.ndarray, codes: np.ndarray) -> dict[str, Table]:
    """The source-port labelings: the whole port, and port mod m for PORT_BUCKET_MODULI."""
    port_codes, distinct = first_appearance_codes(ports)
    by_port = table_of_sequence(port_codes, codes, distinct.tolist())
    tables = {"source port": by_port}
    for modulus in PORT_BUCKET_MODULI:
        tables[f"source port mod {modulus}"] = merged_rows(by_port, distinct % modulus)
    return tables


def runs_finding(chain_ids: Sequence[Hashable]) -> Finding | None:
    """The runs test on a list of chain ids in time order (see runs_finding_of_codes)."""
    codes, _ = codes_of(chain_ids)
    return runs_finding_of_codes(codes)


def runs_finding_of_codes(codes: np.ndarray) -> Finding | None:
    """Wald-Wolfowitz runs test on "most common chain" vs "any other", in time order.

    R runs among n1 + n2 = n probes; under random order E[R] = 2 n1 n2 / n + 1 and
    Var[R] = 2 n1 n2 (2 n1 n2 - n) / (n^2 (n-1)) (Wald & Wolfowitz 1940, Ann. Math. Statist.
    11:147-162); the z-score is reported as the statistic. The p-value is exact (two-sided,
    twice the smaller tail) rather than erfc(|z|/sqrt 2): when one chain is rare, R is nearly
    twice a Poisson count and the normal tail is far too thin; in our measurements it accused
    2 of 4,000 random 2,000-probe sequences with a 1-3% chain. Too few runs means chains
    come in blocks (time-based switching); too many means they alternate (a rotation).
    """
    import numpy as np

    if len(codes) == 0:
        return None
    counts = np.bincount(codes)
    if np.count_nonzero(counts) < 2:
        return None
    binary = codes == int(np.argmax(counts))  # ties: the first seen, as Counter.most_common
    n1 = int(np.count_nonzero(binary))
    n2 = len(binary) - n1
    if n1 < RUNS_MIN_EACH or n2 < RUNS_MIN_EACH:
        return None
    n = n1 + n2
    runs = 1 + int(np.count_nonzero(binary[1:] != binary[:-1]))
    mean = 2 * n1 * n2 / n + 1
    variance = 2 * n1 * n2 * (2 * n1 * n2 - n) / (n * n * (n - 1))
    z = (runs - mean) / math.sqrt(variance)
    at_most, at_least = runs_tails(n1, n2, runs)
    p_value = min(1.0, 2 * min(at_most, at_least))
    if p_value >= SIGNIFICANCE:
        return None
    if z < 0:
        words = f"chains come in long blocks over time ({runs} runs where about {mean:.0f} were expected)"
        return Finding("clustered-in-time", words, z, p_value)
    words = f"chains alternate more regularly than chance ({runs} runs where about {mean:.0f} were expected)"
    return Finding("alternating", words, z, p_value)


def randomness_report(
    chain_ids: Sequence[Hashable],
    source_ports: Sequence[int] | None = None,
    source_addresses: Sequence[str] | None = None,
    times: Sequence[float] | None = None,
) -> RandomnessReport:
    """Run every detector on one stratum's chain ids (probe order; failed probes left out).
    Attribute sequences, when given, must be aligned with `chain_ids`."""
    import numpy as np

    attributes = (
        ("source_ports", source_ports),
        ("source_addresses", source_addresses),
        ("times", times),
    )
    for name, values in attributes:
        if values is not None and len(values) != len(chain_ids):
            raise ValueError(f"{name} has {len(values)} entries for {len(chain_ids)} chain ids")
    codes, distinct = codes_of(chain_ids)
    in_time_order = codes
    if times is not None and len(codes):
        in_time_order = codes[np.lexsort((np.arange(len(codes)), np.asarray(times, float)))]
    ports = np.asarray(source_ports, dtype=np.int64) if source_ports is not None else None
    address_table = None
    if source_addresses is not None and len(set(source_addresses)) >= 2:
        label_codes, labels = codes_of(source_addresses)
        address_table = table_of_sequence(label_codes, codes, labels)
    return randomness_report_of_codes(
        in_time_order, len(distinct), ports, codes, address_table, one_address=address_table is None
    )


def untestable_report(probes: int, chains: int) -> RandomnessReport:
    """The report of a stratum too small or too uniform to test (no sequence needed)."""
    if chains < 2:
        return RandomnessReport([], ["only one chain seen: nothing to test"] if probes else [])
    return RandomnessReport([], [f"fewer than {MIN_PROBES_FOR_TESTS} probes: too few to test"])


def randomness_report_of_codes(
    in_time_order: np.ndarray,
    chains: int,
    ports: np.ndarray | None,
    port_order_codes: np.ndarray | None = None,
    address_table: Table | None = None,
    *,
    one_address: bool = True,
) -> RandomnessReport:
    """Every detector on one stratum: chain codes in time order, `chains` distinct ones,
    source ports aligned with `port_order_codes` (default: the time order), and a source
    address table when the stratum has two addresses or more."""
    findings: list[Finding] = []
    untested: list[str] = []
    n = len(in_time_order)
    if chains < 2 or n < MIN_PROBES_FOR_TESTS:
        return untestable_report(n, chains)
    periodic = periodic_finding_of_codes(in_time_order)
    if periodic:
        findings.append(periodic)
    runs = runs_finding_of_codes(in_time_order)
    # A rotation also has too many runs; saying so twice would not tell the user more.
    if runs and not (periodic and runs.kind == "alternating"):
        findings.append(runs)

    if ports is None:
        untested.append("source ports unknown: a port-hashing balancer would go unnoticed")
    else:
        codes = in_time_order if port_order_codes is None else port_order_codes
        tables = port_tables(ports, codes)
        if len(tables["source port"].labels) == n:
            untested.append(
                "no source port was used twice: a balancer hashing the whole port (rather than "
                "a few low bits) would go unnoticed"
            )
        finding = attribute_finding_of_tables("source-port", "port", tables)
        if finding:
            findings.append(finding)

    if one_address or address_table is None:
        untested.append(
            "one source address: a balancer hashing on the client address would show us one "
            "pool and hide the others"
        )
    else:
        finding = attribute_finding_of_tables(
            "source-address", "address", {"source address": address_table}
        )
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
