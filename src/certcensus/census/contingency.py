"""Chain-versus-label tables and their two tests, built without an object per probe.

A `Table` counts probes per (label, chain): label = what we connected with (source port, port
mod m, source address), chain = what came back. Rows (labels) and columns (chains) are kept in
order of first appearance, which is all the order the tests need, so a table made from a
million-probe sequence (NumPy, `table_of_sequence`) and one made from the store's GROUP BY
counts (`table_of_counts`) give the same answer as the per-probe code they replace.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from certcensus.census.tails import chi_square_survival

if TYPE_CHECKING:
    import numpy as np

# Cochran (1954), "Some methods for strengthening the common chi-square tests", Biometrics
# 10:417-451: the chi-square approximation is trusted when no expected count is below 1 and
# at most 20% are below 5. Tables that fail this are not tested.
COCHRAN_MIN_EXPECTED = 1.0
COCHRAN_SMALL_EXPECTED = 5.0
COCHRAN_MAX_SMALL_FRACTION = 0.2


@dataclass(frozen=True)
class Table:
    """counts[label, chain]: labels and chains in order of first appearance."""

    counts: np.ndarray  # int64, labels x chains
    labels: list  # the label values, one per row

    @property
    def probes(self) -> int:
        return int(self.counts.sum())


def first_appearance_codes(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(codes, distinct values): codes[i] = index of values[i] among the distinct values, which
    are numbered in order of first appearance (as a Counter would see them)."""
    import numpy as np

    distinct, first_index, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first_index, kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[inverse.reshape(-1)], distinct[order]


def codes_of(items: Sequence[Hashable]) -> tuple[np.ndarray, list]:
    """first_appearance_codes for any hashable items (the per-probe API's lists)."""
    import numpy as np

    numbering: dict[Hashable, int] = {}
    codes = np.fromiter(
        (numbering.setdefault(item, len(numbering)) for item in items), np.int64, len(items)
    )
    return codes, list(numbering)


def table_of_sequence(label_codes: np.ndarray, chain_codes: np.ndarray, labels: list) -> Table:
    """A table from aligned per-probe codes (both in first-appearance numbering)."""
    import numpy as np

    rows, columns = len(labels), int(chain_codes.max()) + 1 if len(chain_codes) else 0
    flat = np.bincount(label_codes * columns + chain_codes, minlength=rows * columns)
    return Table(flat.reshape(rows, columns).astype(np.int64), labels)


def table_of_counts(cells: Sequence[tuple[Hashable, int, int, float]], chains: int) -> Table:
    """A table from (label, chain index, probes, first seen) cells, e.g. GROUP BY rows; labels
    are ordered by when they were first seen."""
    import numpy as np

    first: dict[Hashable, float] = {}
    for label, _, _, at in cells:
        first[label] = min(first.get(label, at), at)
    labels = sorted(first, key=first.__getitem__)
    row_of = {label: i for i, label in enumerate(labels)}
    counts = np.zeros((len(labels), chains), dtype=np.int64)
    for label, chain, probes, _ in cells:
        counts[row_of[label], chain] += probes
    return Table(counts, labels)


def merged_rows(table: Table, label_of_row: np.ndarray) -> Table:
    """Rows summed by a function of their label (port -> port mod m), first appearance kept
    (the rows are in first-appearance order, so a new label's first row is its first probe)."""
    import numpy as np

    target, labels = first_appearance_codes(np.asarray(label_of_row))
    counts = np.zeros((len(labels), table.counts.shape[1]), dtype=np.int64)
    np.add.at(counts, target, table.counts)
    return Table(counts, labels.tolist())


def chi_square_independence(table: Table) -> tuple[float, int, float, float] | None:
    """Pearson chi-square test of chain vs label: (statistic, df, p-value, Cramer's V), or None
    when the table fails Cochran's rule or has fewer than two rows or columns. Chains too rare
    to fill a row are pooled into one "other" row first, so one rare chain does not stop the
    test for all the others."""
    import numpy as np

    counts = table.counts
    chain_totals = counts.sum(axis=0)
    present = chain_totals > 0
    counts, chain_totals = counts[:, present], chain_totals[present]
    label_count = counts.shape[0]
    rare = chain_totals < COCHRAN_SMALL_EXPECTED * label_count
    # Rows in order of first appearance: kept chains in their order, the pooled row where the
    # first rare chain was.
    columns: list[np.ndarray | None] = []
    pooled_at = None
    for index, is_rare in enumerate(rare.tolist()):
        if not is_rare:
            columns.append(counts[:, index])
        elif pooled_at is None:
            pooled_at = len(columns)
            columns.append(None)
    if pooled_at is not None:
        columns[pooled_at] = counts[:, rare].sum(axis=1)
    if len(columns) < 2 or label_count < 2:
        return None
    observed = np.stack(columns)  # type: ignore[arg-type]  # every None was replaced  # chains (pooled) x labels
    n = int(observed.sum())
    row_totals = observed.sum(axis=1).astype(float)
    column_totals = observed.sum(axis=0).astype(float)
    expected = np.outer(row_totals, column_totals) / n
    small = int(np.count_nonzero(expected < COCHRAN_SMALL_EXPECTED))
    if expected.min() < COCHRAN_MIN_EXPECTED or small > COCHRAN_MAX_SMALL_FRACTION * expected.size:
        return None
    statistic = float(((observed - expected) ** 2 / expected).sum())
    df = (observed.shape[0] - 1) * (observed.shape[1] - 1)
    cramers_v = math.sqrt(statistic / (n * (min(observed.shape) - 1)))
    return statistic, df, chi_square_survival(statistic, df), cramers_v


def determinism_p_value(table: Table) -> tuple[float, int] | None:
    """If every label that occurs twice or more always gave the same chain, the chance of that
    under random choice: prod over labels of sum_j q_j^count. Returns (p, repeated labels), or
    None when some label saw two chains or no label repeats."""
    import numpy as np

    label_counts = table.counts.sum(axis=1)
    repeated = label_counts >= 2
    if not repeated.any():
        return None
    if (np.count_nonzero(table.counts[repeated], axis=1) > 1).any():
        return None
    n = table.probes
    shares = [c / n for c in table.counts.sum(axis=0).tolist() if c]
    log_shares = [math.log(q) for q in shares]
    cache: dict[int, float] = {}
    log_p = 0.0
    for count in label_counts[repeated].tolist():
        if count not in cache:
            total = sum(q**count for q in shares)
            if total > 0:
                cache[count] = math.log(total)
            else:  # every q**count underflowed: the same sum, in logs
                top = max(log_shares) * count
                cache[count] = top + math.log(sum(math.exp(ls * count - top) for ls in log_shares))
        log_p += cache[count]
    return math.exp(log_p), int(np.count_nonzero(repeated))
