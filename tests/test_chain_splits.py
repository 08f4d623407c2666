"""When chains split by address, SNI, profile or source (census/splits.py): claimed only when
every absence is too unlikely to be chance, and worded as the pattern seen."""

from __future__ import annotations

from collections import Counter

from certcensus.census.splits import chain_split
from certcensus.census.strata import StratumCount, StratumKey

NUMBERS = {"a": 1, "b": 2, "c": 3}


def stratum(address, chains: dict[str, int], sni=None, profile="default") -> StratumCount:
    counts = Counter(chains)
    total = sum(counts.values())
    return StratumCount(StratumKey(address, sni, profile, None), total, total, counts)


def test_one_chain_per_address():
    split = chain_split([stratum("10.0.0.2", {"a": 300}), stratum("10.0.0.3", {"b": 300})], NUMBERS)
    assert split is not None and split.dimension == "address"
    assert (
        split.words()
        == "the chains split by address: 10.0.0.2 always served #1, 10.0.0.3 always #2"
    )
    assert split.mixed_parts == []


def test_a_rare_chain_a_small_stratum_missed_is_no_split():
    # 8% of 300 at one address, none in 20 probes at the other: 0.92^20 = 19%, chance.
    strata = [stratum("10.0.0.2", {"a": 276, "b": 24}), stratum("10.0.0.3", {"a": 20})]
    assert chain_split(strata, NUMBERS) is None


def test_the_same_chains_everywhere_is_no_split():
    strata = [stratum("10.0.0.2", {"a": 276, "b": 24}), stratum("10.0.0.3", {"a": 280, "b": 20})]
    assert chain_split(strata, NUMBERS) is None


def test_a_mixing_part_is_named_as_mixing():
    strata = [stratum("10.0.0.2", {"a": 400}), stratum("10.0.0.3", {"b": 200, "c": 200})]
    split = chain_split(strata, NUMBERS)
    assert split is not None
    assert split.words() == (
        "the chains split by address: 10.0.0.2 always served #1, 10.0.0.3 served #2 and #3"
    )
    assert [part.label for part in split.mixed_parts] == ["10.0.0.3"]


def test_split_by_sni_across_addresses():
    strata = [stratum(address, {"a": 200}, sni="a.test") for address in ("10.0.0.2", "10.0.0.3")]
    strata += [stratum(address, {"b": 200}) for address in ("10.0.0.2", "10.0.0.3")]
    split = chain_split(strata, NUMBERS)
    assert split is not None and split.dimension == "sni"
    assert split.words() == "the chains split by SNI: SNI a.test always got #1, no SNI always #2"


def test_no_single_dimension_names_each_stratum():
    # Chain b only at 10.0.0.3 *with* SNI: neither the address nor the SNI alone explains it.
    strata = [stratum("10.0.0.2", {"a": 200}, sni="a.test"), stratum("10.0.0.2", {"a": 200}),
              stratum("10.0.0.3", {"b": 200}, sni="a.test"), stratum("10.0.0.3", {"a": 200})]  # fmt: skip
    split = chain_split(strata, NUMBERS)
    assert split is not None and split.dimension is None
    assert split.words() == (
        "the chains depend on how we connected: 10.0.0.2, SNI a.test always got #1; "
        "10.0.0.2, no SNI always #1; 10.0.0.3, no SNI always #1; 10.0.0.3, SNI a.test always #2"
    )
