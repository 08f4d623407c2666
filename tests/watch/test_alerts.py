"""Change detection between rounds, on hand-made census objects (no network)."""

from __future__ import annotations

import datetime as dt

from certcensus.watch.alerts import ChangeDetector, TargetHistory
from certcensus.watch.novelty import binomial_upper_tail, novelty, share_lower_bound

from .. import census_objects as made

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def cert(sha: str, days_left: float = 365):
    not_after = (NOW + dt.timedelta(days=days_left)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return made.certificate(sha, not_after)


def census(*chains: tuple[str, int], target="mx:25", days_left=365, trust=None):
    ok = sum(count for _, count in chains)
    return made.census(made.target(target, [
        made.chain(chain_id, count, ok, [cert(chain_id + "-leaf", days_left), cert(chain_id + "-ca", 3650)],
                   trust=(trust or {}).get(chain_id))
        for chain_id, count in chains
    ]))  # fmt: skip


def kinds(events) -> list[tuple[str, str]]:
    return [(event.event, event.chain) for event in events]


def test_first_round_is_a_baseline_without_history():
    detector = ChangeDetector()
    assert detector.observe_round(census(("A", 40), ("B", 10)), now=NOW) == []
    events = detector.observe_round(census(("A", 40), ("C", 10)), now=NOW)
    # B had 20%: missing it on 50 probes by chance has probability 0.8^50, about 1e-5.
    assert kinds(events) == [("new-chain", "C"), ("chain-gone", "B")]


def test_history_in_the_store_makes_the_first_round_alert():
    detector = ChangeDetector({"mx:25": TargetHistory({"A"}, 500)})
    events = detector.observe_round(census(("A", 45), ("B", 5)), now=NOW)
    assert kinds(events) == [("new-chain", "B")]
    assert events[0].details["share"] == 0.1
    assert events[0].to_dict()["event"] == "new-chain" and events[0].to_dict()["target"] == "mx:25"


def test_a_chain_is_gone_only_when_its_absence_is_significant():
    detector = ChangeDetector()
    detector.observe_round(census(("A", 49), ("B", 1)), now=NOW)  # B at 2%
    # 50 probes without a 2% chain: (0.98)^50 = 0.36, chance explains it.
    assert detector.observe_round(census(("A", 50)), now=NOW) == []
    # Absences add up: after 250 probes (0.98)^250 = 0.006 < 0.01.
    for _ in range(3):
        assert detector.observe_round(census(("A", 50)), now=NOW) == []
    events = detector.observe_round(census(("A", 50)), now=NOW)
    assert kinds(events) == [("chain-gone", "B")]
    assert events[0].details["probes_without"] == 250
    assert detector.observe_round(census(("A", 50)), now=NOW) == []  # said once


def test_a_dominant_chain_missing_from_a_small_round_is_gone():
    detector = ChangeDetector()
    detector.observe_round(census(("A", 20)), now=NOW)
    events = detector.observe_round(census(("B", 20)), now=NOW)
    assert kinds(events) == [("new-chain", "B"), ("chain-gone", "A")]


def test_a_round_without_successful_probes_proves_nothing():
    detector = ChangeDetector()
    detector.observe_round(census(("A", 20)), now=NOW)
    empty = made.census(made.target("mx:25", [], probes=20))
    assert detector.observe_round(empty, now=NOW) == []


def test_trust_changes_alert_when_a_verdict_flips():
    detector = ChangeDetector()
    trusted = census(("A", 20), trust={"A": {"corp": True}})
    assert detector.observe_round(trusted, now=NOW) == []
    assert detector.observe_round(trusted, now=NOW) == []
    events = detector.observe_round(census(("A", 20), trust={"A": {"corp": False}}), now=NOW)
    assert kinds(events) == [("trust-changed", "A")]
    assert (events[0].details["store"], events[0].details["trusted_now"]) == ("corp", False)


def test_expiring_certificates_alert_once_per_certificate():
    detector = ChangeDetector(warn_days=30)
    events = detector.observe_round(census(("A", 20), days_left=10), now=NOW)
    assert kinds(events) == [("expiring", "A")]
    assert events[0].details["sha256"] == "A-leaf" and events[0].details["days_left"] == 10
    assert "expires in 10 days" in events[0].line()
    assert detector.observe_round(census(("A", 20), days_left=10), now=NOW) == []
    # A minute short of 365 days: "364 days" in the words and 364.99 in the details, not 365.0.
    almost = ChangeDetector(warn_days=400).observe_round(
        census(("C", 20), days_left=365 - 1 / 1440), now=NOW
    )
    assert "expires in 364 days" in almost[0].line() and almost[0].details["days_left"] == 364.99
    expired = detector.observe_round(census(("B", 20), days_left=-2), now=NOW)
    assert [e.details["expired"] for e in expired if e.event == "expiring"] == [True]


def test_a_rare_chain_missed_by_a_small_baseline_is_not_called_new():
    """The issue's case: an 8% chain missed in a 50-probe baseline shows up next round."""
    detector = ChangeDetector()
    detector.observe_round(census(("A", 50)), now=NOW)  # unlucky: 0.92^50 = 1.5%
    (event,) = detector.observe_round(census(("A", 46), ("B", 4)), now=NOW)
    assert event.event == "new-chain"
    assert event.details["new_beyond_chance"] is False
    assert event.details["baseline_probes"] == 50 and event.details["probes_before"] == 50
    assert "possibly there all along" in event.details["summary"]


def test_after_a_sure_baseline_the_same_chain_is_new_beyond_chance():
    detector = ChangeDetector()
    detector.observe_round(census(("A", 917)), now=NOW)  # stop when sure at 1%, 99%
    (event,) = detector.observe_round(census(("A", 46), ("B", 4)), now=NOW)
    assert event.details["new_beyond_chance"] is True
    assert event.details["chance_missed_before"] < 0.01
    assert "new beyond chance" in event.details["summary"]
    assert "first after 917 probes" in event.details["summary"]


def test_the_share_lower_bound_is_clopper_pearson():
    # Exact one-sided 99% bound: P(X >= k | p_low) = 1% (checked against the definition).
    low = share_lower_bound(4, 50)
    assert abs(binomial_upper_tail(50, 4, low) - 0.01) < 1e-6
    assert 0.01 < low < 0.08
    assert share_lower_bound(0, 50) == 0.0
    assert novelty(0, 50, 10_000).new_beyond_chance is False
    # A chain on every probe of a round cannot have hidden from 30 probes before.
    assert novelty(50, 50, 30).new_beyond_chance is True
