"""Which way the chains split, when they do: by address, SNI, profile or source address.

When every address serves its own chain, "assuming the balancer picks backends at random" is
the wrong thing to say: there is no random choice to assume, the chain follows the address.
This module finds that pattern in the strata counts, so the coverage sentence can say what was
seen ("the chains split by address: 127.0.0.2 always served #1, 127.0.0.3 always #2") and
keep the randomness assumption only for the parts that really mix several chains.

A split is claimed only when every absence it implies is too unlikely to be chance, by the
rule `strata.where_seen` uses: a chain's absence from a part counts when (1 - share)^probes <
ABSENCE_SIGNIFICANCE, share being its share where it was seen. A rare chain that a small part
simply missed does not make a split.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from certcensus.census.strata import ABSENCE_SIGNIFICANCE, DIMENSIONS, StratumCount, StratumKey

# Parts named in the sentence before "and N more": a sentence, not a table.
MAX_PARTS_NAMED = 8

_DIMENSION_WORDS = {
    "address": "address",
    "sni": "SNI",
    "profile": "ClientHello profile",
    "source_address": "source address",
    None: "how we connected",
}


@dataclass(frozen=True, slots=True)
class SplitPart:
    label: str  # "127.0.0.2", "SNI a.example", "no SNI", "profile rsa", "from 127.0.0.5"
    chains: tuple[int, ...]  # chain numbers (1 = the most common), as the census numbers them
    probes: int  # successful probes in this part

    @property
    def mixes_chains(self) -> bool:
        return len(self.chains) > 1

    def to_dict(self) -> dict:
        return {"part": self.label, "chains": list(self.chains), "probes": self.probes}


@dataclass(frozen=True, slots=True)
class ChainSplit:
    dimension: str | None  # one of strata.DIMENSIONS; None: no single one, stratum by stratum
    parts: tuple[SplitPart, ...]

    @property
    def mixed_parts(self) -> list[SplitPart]:
        """The parts that served several chains: where a random choice is still assumed."""
        return [part for part in self.parts if part.mixes_chains]

    def words(self) -> str:
        """'the chains split by address: 127.0.0.2 always served #1, 127.0.0.3 always #2'."""
        verb = "served" if self.dimension == "address" else "got"
        phrases = []
        for index, part in enumerate(self.parts[:MAX_PARTS_NAMED]):
            numbers = _numbers(part.chains)
            if part.mixes_chains:
                phrases.append(f"{part.label} {verb} {numbers}")
            elif index == 0 or self.parts[index - 1].mixes_chains:
                phrases.append(f"{part.label} always {verb} {numbers}")
            else:
                phrases.append(f"{part.label} always {numbers}")
        more = len(self.parts) - MAX_PARTS_NAMED
        tail = f", and {more} more" if more > 0 else ""
        how = _DIMENSION_WORDS[self.dimension]
        lead = "the chains depend on" if self.dimension is None else "the chains split by"
        # Stratum labels have commas of their own ("10.0.0.2, no SNI"): parts take semicolons.
        separator = "; " if self.dimension is None else ", "
        return f"{lead} {how}: " + separator.join(phrases) + tail

    def to_dict(self) -> dict:
        return {"by": self.dimension, "parts": [part.to_dict() for part in self.parts]}


def _numbers(chains: Sequence[int]) -> str:
    named = [f"#{number}" for number in chains]
    return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]


def _label(dimension: str, value) -> str:
    if dimension == "address":
        return str(value or "(no address)")
    if dimension == "sni":
        return f"SNI {value}" if value else "no SNI"
    if dimension == "profile":
        return f"profile {value}"
    return f"from {value}" if value else "from the default source address"


def chain_split(strata: Sequence[StratumCount], numbers: dict[str, int]) -> ChainSplit | None:
    """How the chains split over the strata, or None when every stratum got the same chains
    (or when the differences could be chance). `numbers`: chain id -> its number in the census.
    """
    answered = [s for s in strata if s.ok > 0]
    if len({frozenset(s.chains) for s in answered}) < 2:
        return None
    for dimension in DIMENSIONS:
        split = _split_along(answered, numbers, dimension)
        if split is not None:
            return split
    # No one dimension explains it (address and SNI together, say): name each stratum.
    varying = [d for d in DIMENSIONS if len({getattr(s.key, d) for s in answered}) > 1]
    return _split_by(answered, numbers, None, lambda key: _stratum_label(key, varying))


def _stratum_label(key: StratumKey, varying: list[str]) -> str:
    return ", ".join(_label(dimension, getattr(key, dimension)) for dimension in varying)


def _split_along(
    strata: list[StratumCount], numbers: dict[str, int], dimension: str
) -> ChainSplit | None:
    groups: dict[Hashable, list[StratumCount]] = defaultdict(list)
    for stratum in strata:
        groups[getattr(stratum.key, dimension)].append(stratum)
    if len(groups) < 2:
        return None
    # The dimension explains the split only if, within each of its values, the strata agree.
    for members in groups.values():
        if len(members) > 1 and not _agree(members):
            return None
    return _split_by(
        strata, numbers, dimension, lambda key: _label(dimension, getattr(key, dimension))
    )


def _split_by(
    strata: list[StratumCount],
    numbers: dict[str, int],
    dimension: str | None,
    label_of: Callable[[StratumKey], str],
) -> ChainSplit | None:
    parts: dict[str, Counter] = defaultdict(Counter)
    for stratum in strata:
        parts[label_of(stratum.key)].update(stratum.chains)
    if len({frozenset(counts) for counts in parts.values()}) < 2 or not _absences_significant(
        list(parts.values())
    ):
        return None
    ordered = sorted(parts.items(), key=lambda item: (min(numbers[c] for c in item[1]), item[0]))
    return ChainSplit(
        dimension,
        tuple(
            SplitPart(label, tuple(sorted(numbers[c] for c in counts)), sum(counts.values()))
            for label, counts in ordered
        ),
    )


def _agree(members: list[StratumCount]) -> bool:
    """Strata that got the same chains, up to absences chance explains."""
    return not any(_absence_significances([m.chains for m in members]))


def _absences_significant(parts: list[Counter]) -> bool:
    """True when every chain's absence from every part it is missing from is too unlikely to be
    chance."""
    return all(_absence_significances(parts))


def _absence_significances(parts: list[Counter]) -> list[bool]:
    """For each (chain, part without it): is its absence too unlikely to be chance, given its
    share in the parts where it was seen?"""
    found = []
    for chain in {chain for counts in parts for chain in counts}:
        present = [counts for counts in parts if counts.get(chain)]
        share = sum(c[chain] for c in present) / sum(sum(c.values()) for c in present)
        for counts in parts:
            if chain not in counts:
                found.append((1.0 - share) ** sum(counts.values()) < ABSENCE_SIGNIFICANCE)
    return found
