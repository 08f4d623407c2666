"""The coverage formulas against values worked out by hand."""

import dataclasses
import json
import math

import pytest

from certcensus.census.coverage import (
    Coverage,
    chain_ids_by_stratum,
    chao1_estimated_total,
    coverage_by_stratum,
    coverage_of,
    describe_stratum,
    good_turing_unseen_mass,
    max_missed_share,
    miss_probability_bound,
    probes_needed,
    target_coverage,
    unseen_mass_upper_bound,
)


def test_max_missed_share_for_1000_probes_at_99_percent():
    p = max_missed_share(1000, 0.99)
    # By hand: p lies in (1/109, 1/108], where floor(1/p) = 108, so the boundary solves
    # 108 (1-p)^1000 = 0.01, i.e. p = 1 - (0.01/108)^(1/1000) = 0.0092443...
    assert math.floor(1 / p) == 108
    assert p == pytest.approx(1 - (0.01 / 108) ** (1 / 1000), rel=1e-6)
    assert p == pytest.approx(0.0092443, abs=1e-6)
    # The defining inequality holds at p and fails just below it.
    assert 108 * (1 - p) ** 1000 <= 0.01
    assert miss_probability_bound(p, 1000) <= 0.01
    assert miss_probability_bound(p * (1 - 1e-6), 1000) > 0.01


@pytest.mark.parametrize("n", [1, 2, 5, 30, 100, 917, 5000, 100_000])
@pytest.mark.parametrize("confidence", [0.5, 0.9, 0.99, 0.999])
def test_max_missed_share_is_the_boundary_of_the_inequality(n, confidence):
    p = max_missed_share(n, confidence)
    delta = 1 - confidence
    assert 0 < p <= 1
    assert miss_probability_bound(p, n) <= delta
    if p < 1:
        assert miss_probability_bound(p * (1 - 1e-6), n) > delta


def test_more_probes_or_less_confidence_never_weakens_the_statement():
    shares = [max_missed_share(n, 0.99) for n in range(1, 400)]
    assert all(a >= b for a, b in zip(shares, shares[1:]))
    assert max_missed_share(500, 0.9) < max_missed_share(500, 0.99) < max_missed_share(500, 0.999)


def test_no_probes_means_nothing_is_known():
    assert max_missed_share(0, 0.99) == 1.0
    coverage = coverage_of([], 0.99)
    assert not coverage.applicable
    assert "no probe returned a chain" in coverage.sentence("connections to 192.0.2.10")


def test_probes_needed_for_one_percent_at_99_percent():
    # By hand: floor(1/0.01) = 100, N = ceil(ln(0.01/100) / ln(0.99)) = ceil(916.42) = 917.
    assert probes_needed(0.01, 0.99) == 917
    assert max_missed_share(917, 0.99) <= 0.01
    assert max_missed_share(916, 0.99) > 0.01


@pytest.mark.parametrize("share", [0.5, 0.3, 0.25, 0.1, 0.05, 0.01, 0.005, 0.001])
@pytest.mark.parametrize("confidence", [0.9, 0.99, 0.999])
def test_probes_needed_agrees_with_max_missed_share(share, confidence):
    n = probes_needed(share, confidence)
    assert max_missed_share(n, confidence) <= share * (1 + 1e-9)
    assert miss_probability_bound(share, n) <= 1 - confidence
    assert miss_probability_bound(share, n - 1) > 1 - confidence


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        max_missed_share(10, 1.0)
    with pytest.raises(ValueError):
        max_missed_share(-1, 0.9)
    with pytest.raises(ValueError):
        probes_needed(0.0, 0.9)
    assert probes_needed(1.0, 0.99) == 1


def test_good_turing_and_chao1_on_a_small_sample():
    # a a b c d d d: N = 7; b and c seen once (f1 = 2), a twice (f2 = 1), d three times.
    coverage = coverage_of(list("aabcddd"), 0.95)
    assert (coverage.probes, coverage.distinct, coverage.singletons, coverage.doubletons) == (
        7,
        4,
        2,
        1,
    )
    assert coverage.unseen_mass_estimate == pytest.approx(2 / 7)
    # Chao1 bias-corrected: 4 + (6/7) * 2 * 1 / (2 * 2) = 4 + 3/7.
    assert coverage.estimated_total == pytest.approx(4 + 3 / 7)
    # f1/N + (1 + sqrt 2) sqrt(ln(2/0.05) / 7), capped at 1 (it is above 1 here: 7 probes).
    assert coverage.unseen_mass_upper_bound == 1.0
    assert unseen_mass_upper_bound(2, 700, 0.95) == pytest.approx(
        2 / 700 + (1 + math.sqrt(2)) * math.sqrt(math.log(40) / 700)
    )


def test_estimates_without_rare_chains():
    # No singletons: Good-Turing says nothing is unseen and Chao1 adds nothing.
    assert good_turing_unseen_mass(0, 100) == 0.0
    assert chao1_estimated_total(3, 0, 5, 100) == 3.0
    # Only singletons, no doubletons: S + ((N-1)/N) f1 (f1-1) / 2.
    assert chao1_estimated_total(5, 5, 0, 5) == pytest.approx(5 + (4 / 5) * 5 * 4 / 2)


def test_to_dict_is_json_with_the_promised_keys():
    coverage = coverage_of(["a"] * 60 + ["b"] * 39 + ["c"], 0.99)
    data = json.loads(json.dumps(coverage.to_dict()))
    for key in (
        "probes",
        "distinct",
        "singletons",
        "unseen_mass_estimate",
        "max_missed_share",
        "confidence",
        "estimated_total",
    ):
        assert key in data
    assert data["probes"] == 100 and data["distinct"] == 3 and data["singletons"] == 1
    assert data["applicable"] is True and data["not_applicable_reason"] is None


def test_sentence_states_the_number_and_the_assumption():
    coverage = coverage_of(["a"] * 500 + ["b"] * 500, 0.99)
    sentence = coverage.sentence("connections to 192.0.2.10")
    # p = 0.0092443...: printed rounded up, so the sentence never claims more than was shown.
    assert sentence == (
        "With 99% confidence, no chain served on more than 0.93% of connections to 192.0.2.10 "
        "was missed (assuming the balancer picks backends at random)."
    )
    assert "99.9% confidence" in coverage_of(["a"] * 10, 0.999).sentence("x")


@pytest.mark.parametrize(
    "share, printed",
    [
        (0.0092443, "0.93%"),
        (0.0099937, "1.0%"),
        (0.05, "5.0%"),
        (0.123, "13%"),
        (0.99, "99%"),
        (1.0, "100%"),
        (0.000012, "0.0012%"),
    ],
)
def test_shares_are_printed_rounded_up_to_two_digits(share, printed):
    coverage = coverage_of(["a"], 0.9)
    coverage = dataclasses.replace(coverage, max_missed_share=share)
    assert f"more than {printed} of" in coverage.sentence("x")


def test_sentence_when_not_applicable_gives_the_reason_and_no_number():
    coverage = coverage_of(["a", "b"] * 50, 0.99).marked_not_applicable(
        "chains repeat every 2 connections"
    )
    sentence = coverage.sentence("connections to 192.0.2.10")
    assert "chains repeat every 2 connections" in sentence
    assert "no chain served" not in sentence
    assert coverage.to_dict()["applicable"] is False


def test_strata_are_grouped_in_probe_order():
    records = [
        (("192.0.2.10", "a.example"), "x"),
        (("192.0.2.11", "a.example"), "y"),
        (("192.0.2.10", "a.example"), "z"),
    ]
    grouped = chain_ids_by_stratum(records)
    assert grouped == {("192.0.2.10", "a.example"): ["x", "z"], ("192.0.2.11", "a.example"): ["y"]}
    per_stratum = coverage_by_stratum(grouped, 0.9)
    assert per_stratum[("192.0.2.10", "a.example")].probes == 2


def test_target_statement_is_the_worst_stratum_at_a_bonferroni_confidence():
    strata = {
        ("192.0.2.10",): ["a"] * 1000,
        ("192.0.2.11",): ["a"] * 200 + ["b"] * 100,
        ("192.0.2.12",): [],  # every probe failed: serves no chain, not part of the statement
    }
    target = target_coverage(strata, 0.99)
    assert target.strata == 2
    assert target.probes == 1300 and target.distinct == 2
    # Each answering stratum is held to 1 - 0.01/2; the smaller one is the worst.
    assert target.max_missed_share == max_missed_share(300, 0.995)
    assert target.max_missed_share > max_missed_share(300, 0.99)
    assert target.applicable
    assert "in each of the 2 ways we connected" in target.sentence("connections to a.example")


def test_one_non_random_stratum_withdraws_the_target_statement():
    strata = {"v4": ["a", "b"] * 50, "v6": ["a"] * 100}
    target = target_coverage(
        strata, 0.99, not_applicable={"v4": "chains repeat every 2 connections"}
    )
    assert not target.applicable
    assert "v4: chains repeat every 2 connections" in target.not_applicable_reason


def test_target_with_no_answers_is_not_applicable():
    target = target_coverage({"v4": []}, 0.99)
    assert not target.applicable and target.strata == 0


def test_coverage_is_a_frozen_value():
    coverage = coverage_of(["a"], 0.9)
    assert isinstance(coverage, Coverage)
    with pytest.raises(AttributeError):
        coverage.probes = 3  # type: ignore[misc]


def test_stratum_keys_are_described_for_people():
    assert (
        describe_stratum((("192.0.2.11", "a.example", "default"), None))
        == "192.0.2.11, a.example, default"
    )
    assert describe_stratum("v4") == "v4"
