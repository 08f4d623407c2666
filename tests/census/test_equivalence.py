"""The streaming census says what the census that kept every probe said, on recorded censuses.

tests/census/recorded/ holds real scans of the lab pools (random with a refusing second target,
round robin, sticky per source address, hashing the source port, switching with time) as the
SQLite files that code wrote (schema 2), and seeded synthetic censuses of 1,200 to 40,000
probes (round robin with noise, rolling windows, a random balancer over 8 strata with failures
and leaf-only captures, a parity hash on the source port, address-sticky pools). With each is
the JSON `report --json` gave with the old code, and (for the scans) its probe-by-probe
timeline. Here the database is migrated (or the synthetic one written again) and the census
built by the current code must give the same JSON: chains, counts, shares, strata, coverage
statement and every randomness finding. Floats may differ in their last bits (sums in another
order), so they are compared to 1e-9 relative; everything else exactly.
"""

from __future__ import annotations

import gzip
import json
import math
import shutil
from pathlib import Path

import pytest

from certcensus.census.build import build_census
from certcensus.census.model import TIMELINE_BINS, TIMELINE_MAX_MARKS
from certcensus.render.as_json import census_to_dict
from certcensus.render.html_timeline import timeline_of, timeline_svg
from certcensus.store import open_store

from .recorded.synthetic import SYNTHETIC, write_synthetic

RECORDED = Path(__file__).parent / "recorded"
SCANNED = ["random", "round-robin", "per-address", "source-port", "time-window"]


def recorded(name: str) -> dict:
    with gzip.open(RECORDED / f"{name}.json.gz", "rt", encoding="utf-8") as file:
        return json.load(file)


# The JSON contract lets fields be added (README, "JSON"), and some were after the recording
# (backend attribution, chain differences in words): every recorded field must be there and
# equal; new ones are not compared. The coverage sentence's words are rendered from the coverage
# fields compared here by whatever wording code is current (reworded after the recording).
WORDING = {"sentence"}


def assert_same(new, old, where="census"):
    if isinstance(old, float) or isinstance(new, float):
        assert math.isclose(new, old, rel_tol=1e-9, abs_tol=1e-300), where
    elif isinstance(old, dict):
        assert isinstance(new, dict), where
        assert set(old) <= set(new), (where, set(old) - set(new))
        for key in old:
            if key not in WORDING:
                assert_same(new[key], old[key], f"{where}.{key}")
    elif isinstance(old, list):
        assert isinstance(new, list) and len(new) == len(old), where
        for index, (a, b) in enumerate(zip(new, old)):
            assert_same(a, b, f"{where}[{index}]")
    else:
        assert new == old, where


def findings(census: dict) -> list:
    return [
        (f["kind"], f["words"])
        for target in census["targets"]
        for stratum in target.get("coverage_strata", [])
        for f in stratum["randomness"]["findings"]
    ]


@pytest.mark.parametrize("name", SCANNED)
def test_scanned_pools_give_the_same_census(name, tmp_path):
    db = tmp_path / "migrated.sqlite"
    shutil.copy(RECORDED / f"{name}.sqlite", db)
    old = recorded(name)
    with open_store(db) as store:  # opening for writing migrates schema 2 to 3
        census = build_census(store)
    new = json.loads(json.dumps(census_to_dict(census)))
    assert_same(new, old["census"])
    assert findings(new) == findings(old["census"])
    for target in census.targets:
        assert timeline_of(target) == old["timelines"][target.target]


EXPECTED_FINDINGS = {
    "synthetic-round-robin": {"periodic"},
    "synthetic-time-window": {"clustered-in-time"},
    "synthetic-random": set(),
    "synthetic-port-parity": {"source-port"},
    "synthetic-address-sticky": {"source-address"},
}


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_censuses_give_the_same_census(name, tmp_path):
    db = tmp_path / "synthetic.sqlite"
    write_synthetic(name, db)
    old = recorded(name)
    with open_store(db, read_only=True) as store:
        census = build_census(store)
    new = json.loads(json.dumps(census_to_dict(census)))
    assert_same(new, old["census"])
    assert {kind for kind, _ in findings(new)} == EXPECTED_FINDINGS[name]
    for target in census.targets:
        timeline = target.timeline
        assert timeline.probes == target.probes
        for lane in timeline.lanes:
            if lane.probes <= TIMELINE_MAX_MARKS:
                assert len(lane.marks) == lane.probes and not lane.bins
            else:  # bounded: at most TIMELINE_BINS slices, every probe counted once
                assert not lane.marks and 0 < len(lane.bins) <= TIMELINE_BINS
                assert sum(b.probes for b in lane.bins) == lane.probes
        svg = timeline_svg(timeline, [c.chain_id for c in target.chains])
        assert svg.count('class="lane"') == len(timeline.lanes)


def test_the_address_sticky_pool_no_longer_breaks_the_census_when_large(tmp_path):
    """The census this replaces failed with math.log(0) on a sticky pool of a few thousand
    probes per address (each address's q^count underflowed); the streaming one reports it."""
    from certcensus.model.observation import Observation
    from certcensus.model.outcomes import Outcome

    from .recorded.synthetic import chains

    cs = chains()
    db = tmp_path / "sticky.sqlite"
    with open_store(db) as store:
        run = store.start_run("scan", ["s.test:443"])
        for i in range(12_000):
            source = f"127.0.2.{i % 4 + 1}"
            store.add(run, Observation("s.test:443", "s.test", 443, "tls", "127.0.0.1",
                                       1000.0 + i, Outcome.OK, chain=cs[i % 4 % 3],
                                       source_address=source, source_port=30000 + i))  # fmt: skip
        store.finish_run(run)
        census = build_census(store)
    words = census_to_dict(census)["targets"][0]["coverage"]["sentence"]
    assert "each source address always got the same chain" in words
