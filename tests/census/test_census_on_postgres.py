"""The streaming census on the PostgreSQL store, and vantages as a census dimension.

The census reads the store only through `probe_groups` and `probe_columns`; PostgreSQL answers
them with its own SQL (store/postgres_aggregates.py). So the recorded synthetic censuses of the
equivalence test must come out the same from a PostgreSQL database as they did from the census
that kept every probe; and a census made from vantages must be the same from either store.
"""

from __future__ import annotations

import json
import random

import pytest

from certcensus.census.build import build_census
from certcensus.model.chain import chain_fingerprint
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.render.as_json import census_to_dict
from certcensus.render.html_timeline import timeline_of
from certcensus.store import open_store

from .recorded.synthetic import SYNTHETIC, chains, write_synthetic
from .test_equivalence import EXPECTED_FINDINGS, assert_same, findings, recorded

pytestmark = pytest.mark.server  # a real PostgreSQL server (tests/pg.py)


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_censuses_are_the_same_from_postgresql(name, postgres_url, tmp_path):
    write_synthetic(name, postgres_url)
    old = recorded(name)
    with open_store(postgres_url, read_only=True) as store:
        census = build_census(store)
    new = json.loads(json.dumps(census_to_dict(census)))
    assert_same(new, old["census"])
    assert {kind for kind, _ in findings(new)} == EXPECTED_FINDINGS[name]
    # And the timeline, lane for lane, as the SQLite store gives it.
    sqlite = tmp_path / "synthetic.sqlite"
    write_synthetic(name, sqlite)
    with open_store(sqlite, read_only=True) as store:
        expected = {t.target: timeline_of(t) for t in build_census(store).targets}
    assert {t.target: timeline_of(t) for t in census.targets} == expected


def vantage_observations() -> list[Observation]:
    """One target, probed from here (chain A only), from vantage us (127.0.0.3: chain A only)
    and from vantage eu (127.0.0.2: chains A and B at random, new source ports each)."""
    rng = random.Random(17)
    a, b = chains()[:2]
    made = []
    for index in range(180):
        vantage = ("us", "eu", None)[index % 3]
        failed = index in (90, 91, 92)  # one probe of each: us, eu, here
        chain = () if failed else (rng.choice((a, b)) if vantage == "eu" else a)
        made.append(
            Observation(
                "v.test:443", "v.test", 443, "tls", "127.0.0.1", 1_790_000_000.0 + index,
                Outcome.OK if chain else Outcome.RESET, chain=chain, sni="v.test",
                source_address={"eu": "127.0.0.2", "us": "127.0.0.3"}.get(vantage or ""),
                source_port=20000 + index, vantage=vantage,
            )
        )  # fmt: skip
    return made


def stored(url) -> None:
    with open_store(url) as store:
        run = store.start_run("scan", ["v.test:443"])
        for observation in vantage_observations():
            store.add(run, observation)
        store.finish_run(run)


def test_vantages_are_counted_per_chain_and_covered_each_alone(postgres_url, tmp_path, capsys):
    sqlite = tmp_path / "vantages.sqlite"
    censuses = {}
    for url in (str(sqlite), postgres_url):
        stored(url)
        with open_store(url, read_only=True) as store:
            censuses[url] = build_census(store)
    as_json = [json.loads(json.dumps(census_to_dict(c))) for c in censuses.values()]
    assert as_json[0] == as_json[1]  # SQLite and PostgreSQL: the same census

    (target,) = censuses[postgres_url].targets
    made = vantage_observations()
    b = chain_fingerprint(chains()[1])
    eu_b = sum(1 for o in made if o.vantage == "eu" and o.chain_id == b)
    first, second = target.chains
    assert second.chain_id == b
    assert second.vantages == {"eu": eu_b}
    assert first.vantages == {"us": 59, "eu": 59 - eu_b}  # one probe of each vantage failed
    assert dict(target.vantages) == {"us": 60, "eu": 60}  # failed probes count too
    assert "only from vantage eu" in second.seen_only
    strata = {s.key.vantage: s for s in target.strata}
    assert set(strata) == {None, "eu", "us"} and strata["eu"].chains[b] == eu_b
    # Each vantage's own statement: us and eu each from their own 59 successes.
    assert set(target.vantage_coverage) == {"eu", "us"}
    assert target.vantage_coverage["us"].probes == target.vantage_coverage["eu"].probes == 59
    assert target.vantage_coverage["us"].applicable and target.vantage_coverage["eu"].applicable
    eu_randomness = target.assessment.strata[
        (("127.0.0.1", "v.test", "default", "eu"), "127.0.0.2")
    ][1]
    # Two chains at random, enough probes: the sequence was read, tested and found random; what
    # is left untested is what one source address and fresh ports cannot show.
    assert eu_randomness.random_looking
    assert not any("too few" in why or "only one chain" in why for why in eu_randomness.untested)

    rendered = as_json[1]["targets"][0]
    assert rendered["chains"][1]["vantages"] == {"eu": eu_b}
    assert set(rendered["vantages"]) == {"eu", "us"}
    assert rendered["vantages"]["eu"]["probes"] == 60
    assert "connections from vantage eu" in rendered["vantages"]["eu"]["coverage"]["sentence"]

    from certcensus.render.console import make_console, print_census

    print_census(censuses[postgres_url], make_console())
    out = capsys.readouterr().out
    assert "chain #2 seen only from vantage eu" in out
    assert f"vantages: eu {59 - eu_b}, us 59" in out


def test_a_census_without_vantages_says_nothing_of_them(tmp_path):
    db = tmp_path / "here.sqlite"
    with open_store(db) as store:
        run = store.start_run("scan", ["v.test:443"])
        for observation in vantage_observations():
            if observation.vantage is None:
                store.add(run, observation)
        store.finish_run(run)
        census = build_census(store)
    (target,) = census.targets
    assert not target.vantages and not target.vantage_coverage
    assert all(not chain.vantages for chain in target.chains)
    rendered = census_to_dict(census)["targets"][0]
    assert "vantages" not in rendered and "vantages" not in rendered["chains"][0]
    assert all("vantage" not in stratum for stratum in rendered["strata"])
