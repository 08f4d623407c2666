"""Backend attribution from the store to the census object and its JSON: per chain the
backends, per backend the chains, Chao1 over backends, and the null identity counted."""

from __future__ import annotations

import sqlite3
import time

import pytest

from certcensus.census.backends import chao1_interval, count_backends
from certcensus.census.build import build_census
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.render.as_json import census_to_dict
from certcensus.store import open_store
from certcensus.store.base import BackendProbeCount, Store

OLD, NEW = (b"old leaf", b"old ca"), (b"new leaf", b"new ca")


def observation(chain, identity, *, hello="13_1302_002b-0033", outcome=Outcome.OK, sni=None,
                profile="default", detail="") -> Observation:  # fmt: skip
    return Observation(
        target="pool.test:443", host="pool.test", port=443, protocol="tls", address="127.0.0.1",
        started_at=time.time(), outcome=outcome, chain=tuple(chain) if outcome is Outcome.OK else (),
        sni=sni, profile=profile, server_identity=identity, server_identity_detail=detail,
        server_hello=hello,
    )  # fmt: skip


def stored(db, observations) -> None:
    with open_store(db) as store:
        run = store.start_run("scan", ["pool.test:443"])
        for obs in observations:
            store.add(run, obs)
        store.finish_run(run)


def pool_observations():
    return [
        *(observation(OLD, "mx1.pool.test") for _ in range(6)),
        *(observation(OLD, "mx2.pool.test") for _ in range(5)),
        *(observation(NEW, "mx3.pool.test", hello="13_1301_002b-0033") for _ in range(3)),
        observation(NEW, None, detail="no greeting within 1s after the handshake"),
        observation((), "mx2.pool.test", outcome=Outcome.RESET),
    ]


def test_identity_fields_round_trip_and_are_stored_once(db):
    stored(db, pool_observations())
    with open_store(db, read_only=True) as store:
        probes = list(store.probes("pool.test:443"))
    assert [p.server_identity for p in probes[:1]] == ["mx1.pool.test"]
    assert probes[14].server_identity is None
    assert probes[14].server_identity_detail == "no greeting within 1s after the handshake"
    assert probes[0].server_identity_detail == "" and probes[0].server_hello == "13_1302_002b-0033"
    with sqlite3.connect(db) as raw:  # interned once each in the store's one table of texts
        texts = [t for (t,) in raw.execute(
            "SELECT value FROM texts WHERE text_key IN (SELECT server_identity_key FROM probes "
            "UNION SELECT server_identity_detail_key FROM probes "
            "UNION SELECT server_hello_key FROM probes) ORDER BY value")]  # fmt: skip
    # 3 identities, 2 fingerprints, 1 detail: each once, however many probes name it.
    assert len(texts) == 6 and len(set(texts)) == 6


def test_sqlite_aggregate_agrees_with_counting_every_probe(db):
    stored(db, pool_observations())
    with open_store(db, read_only=True) as store:
        grouped = sorted(store.backend_counts("pool.test:443"), key=repr)
        counted = sorted(Store.backend_counts(store, "pool.test:443"), key=repr)
    assert grouped == counted
    assert (
        BackendProbeCount("mx2.pool.test", "13_1302_002b-0033", None, None, "default", 1) in grouped
    )


def test_census_attributes_each_chain_to_its_backends(db):
    stored(db, pool_observations())
    with open_store(db, read_only=True) as store:
        census = build_census(store)
    (target,) = census.targets
    old, new = target.chains
    assert dict(old.backends) == {"mx1.pool.test": 6, "mx2.pool.test": 5}
    assert dict(new.backends) == {"mx3.pool.test": 3, None: 1}
    backends = target.backends
    assert backends.split_by_backend
    assert [b.identity for b in backends.backends] == [
        "mx1.pool.test",
        "mx2.pool.test",
        "mx3.pool.test",
        None,
    ]
    mx2 = backends.backends[1]
    assert (mx2.probes, mx2.failed, dict(mx2.chains)) == (6, 1, {old.chain_id: 5})
    assert dict(backends.by_server_hello["13_1301_002b-0033"]) == {new.chain_id: 3}
    sentences = backends.sentences()
    assert sentences[0].startswith("3 backends seen, about 3 in all")
    assert "chain #2 on 1 of them: mx3.pool.test" in sentences
    assert any("split is by backend" in line for line in sentences)

    data = census_to_dict(census)["targets"][0]
    assert data["chains"][1]["backends"] == {"mx3.pool.test": 3, None: 1}
    assert data["backends"][3] == {
        "identity": None, "count": 1, "chains": {new.chain_id: 1}, "failed": 0,
        "server_hello": ["13_1302_002b-0033"], "serves_several_chains": False,
        "why_several_chains": None,
    }  # fmt: skip
    assert data["backend_estimate"] == {
        "seen": 3,
        "estimated": 3,
        "low": 3,
        "high": 3,
        "confidence": 0.99,
    }
    import json

    assert '"null": 1' in json.dumps(data["chains"][1]["backends"])  # null key, never dropped


def rows(*triples):
    return [
        BackendProbeCount(identity, None, chain, sni, profile, n)
        for identity, chain, sni, profile, n in triples
    ]


def test_a_backend_serving_two_chains_is_flagged_with_the_likely_reason():
    by_sni = count_backends(
        rows(
            ("a", "c1", "x.test", "default", 4),
            ("a", "c2", "y.test", "default", 4),
            ("b", "c1", "x.test", "default", 3),
        ),
        ["c1", "c2"],
    )
    (flagged,) = by_sni.serving_several_chains
    assert (
        flagged.identity == "a"
        and "depends on SNI or ClientHello profile" in flagged.why_several_chains
    )
    assert not by_sni.split_by_backend
    mixed = count_backends(
        rows(("a", "c1", None, "default", 9), ("a", "c2", None, "default", 1)), ["c1", "c2"]
    )
    assert "mid-rollout" in mixed.serving_several_chains[0].why_several_chains
    assert any(line.startswith("a serves 2 chains (#1 x9, #2 x1)") for line in mixed.sentences())


def test_no_identity_at_all_says_so():
    none = count_backends(rows((None, "c1", None, "default", 10)), ["c1"])
    assert none.estimate is None and none.identified == []
    assert none.sentences()[0].startswith("No probe learned which backend answered")


def test_chao1_interval_by_hand():
    # Abundances 1,1,1,2,2,5: S_obs 6, f1 3, f2 2, n 12.
    estimate = chao1_interval(6, 3, 2, 12, confidence=0.95)
    assert estimate.estimated == pytest.approx(6 + (11 / 12) * 3 * 2 / (2 * 3))
    assert 6 <= estimate.low < estimate.estimated < estimate.high
    # Chao's log-normal interval, worked out by hand from EstimateS's variance formula.
    k = 11 / 12
    variance = k * 3 * 2 / 6 + k**2 * 3 * 25 / 36 + k**2 * 9 * 2 * 4 / (4 * 81)
    import math

    t = estimate.estimated - 6
    factor = math.exp(1.959964 * math.sqrt(math.log(1 + variance / t**2)))
    assert estimate.low == pytest.approx(6 + t / factor, rel=1e-5)
    assert estimate.high == pytest.approx(6 + t * factor, rel=1e-5)
    # No singletons: nothing suggests an unseen backend.
    assert chao1_interval(4, 0, 4, 40).high == 4


def test_chao1_interval_covers_the_true_pool_size_in_simulation():
    import random

    rng = random.Random(13)
    covered = 0
    for _ in range(200):
        draws = [rng.randrange(40) for _ in range(80)]
        counts = [draws.count(b) for b in set(draws)]
        estimate = chao1_interval(len(counts), counts.count(1), counts.count(2), 80, 0.95)
        covered += estimate.low <= 40 <= estimate.high
    assert covered >= 0.85 * 200  # nominal 95%; Chao1's interval is known to be a little loose


# Schema 2 as it was (before backend identities and integer keys).
V2_SCHEMA = """
CREATE TABLE certificates (sha256 TEXT PRIMARY KEY, der BLOB NOT NULL);
CREATE TABLE chains (chain_id TEXT PRIMARY KEY, length INTEGER NOT NULL);
CREATE TABLE chain_certificates (chain_id TEXT NOT NULL, position INTEGER NOT NULL,
    sha256 TEXT NOT NULL, PRIMARY KEY (chain_id, position));
CREATE TABLE runs (run_id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL,
    started_at REAL NOT NULL, finished_at REAL, targets TEXT NOT NULL);
CREATE TABLE probes (probe_id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER NOT NULL,
    target TEXT NOT NULL, host TEXT NOT NULL, port INTEGER NOT NULL, protocol TEXT NOT NULL,
    address TEXT NOT NULL, started_at REAL NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
    chain_id TEXT, sni TEXT, profile TEXT NOT NULL, source_address TEXT, source_port INTEGER,
    tls_version TEXT, cipher TEXT, connect_seconds REAL, starttls_seconds REAL,
    handshake_seconds REAL, source TEXT NOT NULL, leaf_only INTEGER NOT NULL DEFAULT 0);
CREATE TABLE schema_version (version INTEGER NOT NULL);
"""


def test_a_schema_2_database_is_migrated_and_its_probes_count_under_null(tmp_path):
    path = tmp_path / "v2.sqlite"
    with sqlite3.connect(path) as raw:
        raw.executescript(V2_SCHEMA)
        raw.execute("INSERT INTO schema_version VALUES (2)")
        raw.execute(
            "INSERT INTO runs (command, started_at, targets) VALUES ('scan', 1, '[\"pool.test:443\"]')"
        )
        raw.execute(
            "INSERT INTO probes (run_id, target, host, port, protocol, address, started_at, outcome,"
            " detail, profile, source) VALUES (1, 'pool.test:443', 'pool.test', 443, 'tls',"
            " '127.0.0.1', 1, 'reset', 'connection reset during handshake', 'default', 'probe')"
        )
    stored(path, [observation(OLD, "mx1.pool.test")])
    with open_store(path, read_only=True) as store:
        census = build_census(store)
    (target,) = census.targets
    assert [(b.identity, b.probes, b.failed) for b in target.backends.backends] == [
        ("mx1.pool.test", 1, 0), (None, 1, 1),
    ]  # fmt: skip


def test_every_rendering_shows_the_backends_and_escapes_what_servers_said(db):
    hostile = "<script>alert(1)</script>"
    stored(
        db,
        [
            *pool_observations(),
            observation(NEW, hostile),
            *(observation(NEW, "=cmd|' /C calc'!A0") for _ in range(5)),
        ],
    )
    from certcensus.render.as_csv import chains_csv, observations_csv
    from certcensus.render.html_report import render_html

    with open_store(db, read_only=True) as store:
        census = build_census(store)
        probes_csv = observations_csv(store)
    html = render_html(census, title="t")
    assert "Which backends served which chain" in html
    assert hostile not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "mx3.pool.test" in html and "the split is by backend" in html
    chains = chains_csv(census).splitlines()
    assert chains[0].endswith(",backends")
    assert "mx1.pool.test=6 | mx2.pool.test=5" in chains[1]
    # The new chain's most common backend looks like a formula: the cell starts with "'".
    assert (
        ",'=cmd|' /C calc'!A0=5 | mx3.pool.test=3 | <script>alert(1)</script>=1 | null=1"
        in chains[2]
    )
    header = probes_csv.splitlines()[0].split(",")
    assert header[-4:] == ["server_identity", "server_identity_detail", "server_hello", "vantage"]


def test_console_lists_backends_per_chain_and_the_split(db, capsys):
    stored(db, pool_observations())
    from certcensus.render.console import make_console, print_census

    with open_store(db, read_only=True) as store:
        print_census(build_census(store), make_console())
    out = capsys.readouterr().out
    assert "served by: mx1.pool.test 6, mx2.pool.test 5" in out
    assert "served by: mx3.pool.test 3, (no identity) 1" in out
    assert "3 backends seen, about 3 in all (99% interval 3-3, Chao1)" in out
    assert "Every backend serves exactly one chain" in out
    assert "ServerHello 13_1301_002b-0033: #2 3" in out
