"""What every store backend must do, whatever is behind it: the same tests for each.

A backend is added by adding its name to BACKENDS and a way to open a fresh one in `_open_new`;
the census, trust and renderings never look behind the Store interface, so passing these is what
lets them run on it. PostgreSQL runs on a real server the tests start (tests/pg.py), one fresh
database per test.
"""

from __future__ import annotations

import math
import time
from collections import Counter

import pytest

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store
from certcensus.store.base import GROUP_DIMENSIONS, MISSING_INTEGER, Store

from ..pg import PostgresServer

pytestmark = pytest.mark.server  # the PostgreSQL half starts a real server

BACKENDS = ["sqlite", "postgresql"]
_POSTGRES: dict[str, PostgresServer] = {}  # the session's server, once a test asked for it


def _url(backend: str, tmp_path) -> str:
    """The store a test's `tmp_path` names: a file, or a database made for it on first use."""
    if backend == "sqlite":
        return str(tmp_path / "contract.sqlite")
    if backend == "postgresql":
        server = _POSTGRES["server"]
        name = tmp_path / "postgres-database"
        if not name.exists():
            name.write_text(server.create_database())
        return server.url(name.read_text())
    raise AssertionError(backend)


def _open_new(backend: str, tmp_path, read_only: bool = False):
    return open_store(_url(backend, tmp_path), read_only=read_only)


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    if request.param == "postgresql":
        _POSTGRES["server"] = request.getfixturevalue("postgres_server")
    return request.param


@pytest.fixture
def store(backend, tmp_path):
    with _open_new(backend, tmp_path) as opened:
        yield opened


def observation(chain=(), outcome=Outcome.OK, target="t.test:443", at=None, **extra):
    return Observation(
        target=target, host=target.rpartition(":")[0], port=int(target.rpartition(":")[2]),
        protocol="tls", address=extra.pop("address", "127.0.0.1"),
        started_at=at if at is not None else time.time(), outcome=outcome, chain=tuple(chain),
        **extra,
    )  # fmt: skip


def test_certificates_and_chains_are_stored_once_and_read_back_in_wire_order(store, two_chains):
    old, new = two_chains.old.wire_ders, two_chains.new.wire_ders
    reordered = (old[1], old[0])  # the same certificates in another order: another chain
    run = store.start_run("scan", ["t.test:443"])
    for chain in (old, old, new, reordered, old):
        store.add(run, observation(chain))
    store.add(run, observation(outcome=Outcome.TIMEOUT, detail="no answer during connect"))
    store.finish_run(run)
    ids = [p.chain_id for p in store.probes("t.test:443")]
    expected = [chain_fingerprint(c) for c in (old, old, new, reordered, old)] + [None]
    assert ids == expected
    assert store.chain_certificates(chain_fingerprint(reordered)) == list(reordered)
    bulk = store.chains_certificates([chain_fingerprint(old), chain_fingerprint(new)])
    assert bulk == {chain_fingerprint(old): list(old), chain_fingerprint(new): list(new)}
    assert store.certificate(certificate_fingerprint(new[0])) == new[0]
    assert store.certificate("0" * 64) is None
    assert store.find_chains(chain_fingerprint(new)[:8]) == [chain_fingerprint(new)]


def test_every_field_round_trips(store):
    sent = observation(
        (b"not a certificate",), sni="t.test", source_address="127.0.0.2", source_port=40000,
        tls_version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", connect_seconds=0.001,
        starttls_seconds=0.002, handshake_seconds=0.003, profile="tls1.3", detail="x",
        source="captures/one.txt", leaf_only=True, server_identity="mx7.t.test",
        server_identity_detail="greeting truncated", server_hello="13_1302_002b-0033", vantage="eu",
    )  # fmt: skip
    run = store.start_run("ingest", [])
    store.add(run, sent)
    store.set_run_targets(run, ["t.test:443"])
    store.finish_run(run)
    (probe,) = store.probes("t.test:443")
    for name in ("target", "host", "port", "protocol", "address", "started_at", "outcome",
                 "detail", "sni", "profile", "source_address", "source_port", "tls_version",
                 "cipher", "connect_seconds", "starttls_seconds", "handshake_seconds", "source",
                 "leaf_only", "server_identity", "server_identity_detail",
                 "server_hello", "vantage"):  # fmt: skip
        assert getattr(probe, name) == getattr(sent, name), name
    assert probe.chain_id == sent.chain_id and probe.run_id == run
    assert probe.outcome is Outcome.OK
    (info,) = store.runs()
    assert (info.command, info.targets) == ("ingest", ("t.test:443",))
    assert info.finished_at is not None and info.finished_at >= info.started_at


def test_backend_counts_group_probes_by_identity_server_hello_chain_sni_and_profile(store):
    run = store.start_run("scan", ["t.test:443"])
    for identity, chain, outcome in [
        ("mx1", b"a", Outcome.OK), ("mx1", b"a", Outcome.OK), ("mx2", b"b", Outcome.OK),
        (None, b"b", Outcome.OK), ("mx2", b"", Outcome.RESET),
    ]:  # fmt: skip
        store.add(run, observation((chain,) if chain else (), outcome, server_identity=identity,
                                   server_hello="12_c02f_none", sni="t.test"))  # fmt: skip
    store.add(run, observation((b"leaf",), leaf_only=True, server_identity="mx9"))
    store.finish_run(run)
    a, b = chain_fingerprint((b"a",)), chain_fingerprint((b"b",))
    counted = {(r.identity, r.chain_id, r.server_hello, r.sni, r.profile): r.probes
               for r in store.backend_counts("t.test:443")}  # fmt: skip
    assert counted == {
        ("mx1", a, "12_c02f_none", "t.test", "default"): 2,
        ("mx2", b, "12_c02f_none", "t.test", "default"): 1,
        (None, b, "12_c02f_none", "t.test", "default"): 1,
        ("mx2", None, "12_c02f_none", "t.test", "default"): 1,  # failed: no chain
    }  # leaf-only captures are not probes of a backend


def test_probes_come_back_in_time_order_per_target_and_run(store):
    first = store.start_run("scan", ["a.test:1", "b.test:1"])
    store.add(first, observation(target="b.test:1", at=20.0))
    store.add(first, observation(target="a.test:1", at=30.0))
    store.add(first, observation(target="a.test:1", at=10.0))
    store.finish_run(first)
    second = store.start_run("scan", ["a.test:1"])
    store.add(second, observation(target="a.test:1", at=40.0))
    store.finish_run(second)
    assert [p.started_at for p in store.probes("a.test:1")] == [10.0, 30.0, 40.0]
    assert [p.started_at for p in store.probes("a.test:1", [second])] == [40.0]
    assert list(store.probes("a.test:1", [])) == []
    assert store.targets() == ["b.test:1", "a.test:1"]  # in the order first probed
    assert store.targets([second]) == ["a.test:1"]


def test_latest_run_per_target(store):
    first = store.start_run("scan", ["a:1", "b:1"])
    second = store.start_run("scan", ["a:1"])
    assert store.latest_run_ids() == [first, second]
    assert store.latest_run_ids(["a:1"]) == [second]
    assert store.latest_run_ids(["b:1"]) == [first]


def test_what_was_written_reads_back_read_only(backend, tmp_path, two_chains):
    with _open_new(backend, tmp_path) as store:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, observation(two_chains.old.wire_ders))
        store.finish_run(run)
    with _open_new(backend, tmp_path, read_only=True) as reader:
        assert reader.read_only
        assert [p.chain_id for p in reader.probes("t.test:443")] == [
            chain_fingerprint(two_chains.old.wire_ders)
        ]


def test_a_store_that_was_never_written_reads_as_empty(backend, tmp_path):
    if backend == "postgresql":
        # A database without the certcensus schema is most likely the wrong database (a typo
        # in the URL): reading commands say so (tests/store/test_postgres.py) instead.
        with pytest.raises(StoreError, match="has no certcensus schema"):
            _open_new(backend, tmp_path, read_only=True)
        return
    with _open_new(backend, tmp_path, read_only=True) as reader:
        assert reader.runs() == [] and reader.targets() == []
        assert reader.latest_run_ids() == []


def test_unflushed_observations_are_kept_by_close(backend, tmp_path):
    with _open_new(backend, tmp_path) as store:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, observation())
    with _open_new(backend, tmp_path, read_only=True) as reader:
        assert len(list(reader.probes("t.test:443"))) == 1


def test_a_url_with_a_scheme_this_build_cannot_open_is_a_usage_error():
    from certcensus.model.errors import UsageError

    with pytest.raises(UsageError, match="cannot open nosuchdb:// databases"):
        open_store("nosuchdb://u@host/db")
    assert issubclass(StoreError, Exception)


def test_nothing_but_fields_given_is_invented(store):
    bare = observation(outcome=Outcome.REFUSED, at=5.0)
    run = store.start_run("scan", ["t.test:443"])
    store.add(run, bare)
    store.finish_run(run)
    (probe,) = store.probes("t.test:443")
    for name in ("sni", "source_address", "source_port", "tls_version", "cipher",
                 "connect_seconds", "chain_id", "vantage"):  # fmt: skip
        assert getattr(probe, name) is None, name
    assert (probe.outcome, probe.detail, probe.leaf_only) == (Outcome.REFUSED, "", False)


def test_runs_and_their_targets(store):
    first = store.start_run("scan", ["b:1", "a:1"])
    store.add(first, observation(target="a:1", at=1.0))
    store.finish_run(first)
    second = store.start_run("ingest", [])
    store.set_run_targets(second, ["c:1"])
    runs = store.runs()
    assert [(r.run_id, r.command, r.targets) for r in runs] == [
        (first, "scan", ("b:1", "a:1")),
        (second, "ingest", ("c:1",)),
    ]
    assert runs[0].finished_at is not None and runs[1].finished_at is None
    assert store.targets([]) == [] and list(store.probes("nobody:1")) == []


def test_a_typed_prefix_is_text_not_a_pattern(store, two_chains):
    run = store.start_run("scan", ["t.test:443"])
    store.add(run, observation(two_chains.old.wire_ders))
    store.finish_run(run)
    assert store.find_chains("") == [chain_fingerprint(two_chains.old.wire_ders)]
    assert store.find_chains("%") == [] and store.find_chains("_") == []


def test_a_batch_is_stored_once_whatever_its_retries(backend, tmp_path, two_chains):
    chain = two_chains.old.wire_ders
    batch = [observation(chain, at=float(i)) for i in range(5)]
    with _open_new(backend, tmp_path) as store:
        run = store.start_run("scan", ["t.test:443"])
        other = store.start_run("scan", ["t.test:443"])
        assert store.add_batch(run, "stratum-1/batch-0", batch) is True
        assert store.add_batch(run, "stratum-1/batch-0", batch) is False  # a retried task
        assert store.add_batch(other, "stratum-1/batch-0", batch[:2]) is True  # another run
        assert len(list(store.probes("t.test:443", [run]))) == 5
        assert len(list(store.probes("t.test:443", [other]))) == 2
    with _open_new(backend, tmp_path) as again:  # and after reopening
        assert again.add_batch(run, "stratum-1/batch-0", batch) is False
        assert len(list(again.probes("t.test:443"))) == 7


def test_chains_by_target_counts_successes(store, two_chains):
    old, new = two_chains.old.wire_ders, two_chains.new.wire_ders
    run = store.start_run("scan", ["a:1", "b:1"])
    for target, chain in (("a:1", old), ("a:1", old), ("a:1", new), ("b:1", new)):
        store.add(run, observation(chain, target=target))
    store.add(run, observation(target="b:1", outcome=Outcome.TIMEOUT))
    store.add(run, observation(new, target="b:1", leaf_only=True))
    later = store.start_run("scan", ["a:1"])
    store.add(later, observation(new, target="a:1"))
    store.finish_run(run)
    store.finish_run(later)
    assert store.chains_by_target([run]) == {
        "a:1": Counter({chain_fingerprint(old): 2, chain_fingerprint(new): 1}),
        "b:1": Counter({chain_fingerprint(new): 1}),
    }
    assert store.chains_by_target([later], ["a:1", "c:1"]) == {
        "a:1": Counter({chain_fingerprint(new): 1}),
        "c:1": Counter(),
    }


def test_observations_are_visible_to_another_reader_within_a_second(backend, tmp_path):
    with _open_new(backend, tmp_path) as store:
        run = store.start_run("scan", ["t.test:443"])
        with _open_new(backend, tmp_path, read_only=True) as reader:
            store.add(run, observation(at=1.0))
            deadline = time.monotonic() + 1.5
            while time.monotonic() < deadline:  # add() flushes once a second has passed
                store.add(run, observation(at=2.0))
                if list(reader.probes("t.test:443")):
                    break
                time.sleep(0.05)  # between two looks; the condition is what the reader sees
            assert list(reader.probes("t.test:443"))


def test_a_newer_schema_is_refused(backend, tmp_path):
    with _open_new(backend, tmp_path) as store:
        store.start_run("scan", [])
    url = _url(backend, tmp_path)
    if backend == "postgresql":
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("UPDATE certcensus.schema_version SET version = 99")
    else:
        import sqlite3

        with sqlite3.connect(url) as connection:
            connection.execute("UPDATE schema_version SET version = 99")
    for read_only in (False, True):
        with pytest.raises(StoreError, match="schema version 99, newer than this certcensus"):
            _open_new(backend, tmp_path, read_only=read_only)


def test_an_observation_the_backend_cannot_take_keeps_the_rest_of_its_batch(backend, tmp_path):
    # A lone surrogate is what os.listdir gives for a file name that is not UTF-8: no database
    # encodes it. Before, the whole batch (every good capture with it) was lost.
    bad = observation(source="captures/\udcff.txt", server_identity="nginx/1.22.1")
    with _open_new(backend, tmp_path) as store:
        run = store.start_run("ingest", ["t.test:443"])
        for number in range(5):
            store.add(run, observation(detail=f"good {number}", server_identity="nginx/1.22.1"))
        store.add(run, bad)
        store.add(run, observation(detail="good 5"))
        store.finish_run(run)
        assert [(r.observation, r.reason.split(":")[0]) for r in store.rejected] == [
            (bad, "UnicodeEncodeError")
        ]
    with _open_new(backend, tmp_path, read_only=True) as reader:
        kept = [(p.detail, p.server_identity) for p in reader.probes("t.test:443")]
    # Every field of the kept ones intact (texts the failed batch wrote first were undone too).
    assert kept == [(f"good {n}", "nginx/1.22.1") for n in range(5)] + [("good 5", None)]


# --- aggregates: what the census reads (probe_groups, probe_columns) ----------------------------
# Also checked against the generic versions in store/base.py, which read every probe through
# `probes()`: same store, two ways to the answer.

CHAIN_A = (b"leaf-a", b"ca")
CHAIN_B = (b"leaf-b", b"ca")


def probe(target="a.test:443", at=100.0, chain=CHAIN_A, outcome=Outcome.OK, **extra):
    host, _, port = target.rpartition(":")
    return Observation(
        target=target, host=host, port=int(port), protocol="tls", address=extra.pop("address", "127.0.0.1"),
        started_at=at, outcome=outcome, chain=chain if outcome is Outcome.OK else (), **extra,
    )  # fmt: skip


def filled(store: Store) -> tuple[int, int]:
    """Two runs: a.test gets chains A and B from two addresses and one timeout; b.test one
    chain; the second run probes a.test once more. Added out of time order on purpose."""
    first = store.start_run("scan", ["a.test:443", "b.test:443"])
    store.add(first, probe(at=103.0, chain=CHAIN_B, source_port=4001, sni="a.test",
                           server_identity="mx1", server_hello="13_1302_002b"))  # fmt: skip
    store.add(first, probe(at=101.0, source_port=4000, sni="a.test"))
    store.add(first, probe(at=102.0, address="127.0.0.2", source_port=4002, vantage="eu"))
    store.add(first, probe(at=104.0, outcome=Outcome.TIMEOUT, detail="no answer during connect"))
    store.add(first, probe(at=105.0, outcome=Outcome.TIMEOUT, detail="no answer during handshake"))
    store.add(first, probe("b.test:443", at=100.5, chain=CHAIN_B, source_address="127.0.0.9"))
    store.finish_run(first)
    second = store.start_run("scan", ["a.test:443"])
    store.add(second, probe(at=200.0, connect_seconds=0.25, handshake_seconds=0.5, vantage="us"))
    store.finish_run(second)
    return first, second


def as_table(groups) -> dict:
    return {g.key: (g.probes, g.first_at, g.last_at, g.first_detail) for g in groups}


def test_groups_count_probes_per_value_of_each_dimension(store):
    first, _ = filled(store)
    groups = store.probe_groups(["target", "address", "outcome", "chain"], run_ids=[first])
    assert as_table(groups) == {
        ("a.test:443", "127.0.0.1", "ok", chain_fingerprint(CHAIN_A)): (1, 101.0, 101.0, ""),
        ("a.test:443", "127.0.0.1", "ok", chain_fingerprint(CHAIN_B)): (1, 103.0, 103.0, ""),
        ("a.test:443", "127.0.0.2", "ok", chain_fingerprint(CHAIN_A)): (1, 102.0, 102.0, ""),
        ("a.test:443", "127.0.0.1", "timeout", None): (2, 104.0, 105.0, ""),
        ("b.test:443", "127.0.0.1", "ok", chain_fingerprint(CHAIN_B)): (1, 100.5, 100.5, ""),
    }
    every_run = store.probe_groups(["target"])
    assert as_table(every_run)[("a.test:443",)][:3] == (6, 101.0, 200.0)
    assert as_table(store.probe_groups([])) == {(): (7, 100.5, 200.0, "")}
    assert as_table(store.probe_groups([], where={"profile": "default", "outcome": "ok"})) == {
        (): (5, 100.5, 200.0, "")}  # fmt: skip


def test_groups_filter_by_target_run_and_values(store):
    first, second = filled(store)
    only_b = store.probe_groups(["source_address", "leaf_only"], targets=["b.test:443"])
    assert as_table(only_b) == {("127.0.0.9", False): (1, 100.5, 100.5, "")}
    sni_set = store.probe_groups(["sni"], where={"sni": "a.test"})
    assert as_table(sni_set) == {("a.test",): (2, 101.0, 103.0, "")}
    unset = store.probe_groups(["target"], where={"sni": None, "outcome": ("ok",)})
    assert as_table(unset) == {("a.test:443",): (2, 102.0, 200.0, ""),
                               ("b.test:443",): (1, 100.5, 100.5, "")}  # fmt: skip
    assert store.probe_groups(["target"], where={"address": "192.0.2.1"}) == []
    assert store.probe_groups(["target"], targets=["nobody:1"]) == []
    assert store.probe_groups(["target"], run_ids=[]) == []
    assert as_table(store.probe_groups(["run_id"], targets=["a.test:443"])) == {
        (first,): (5, 101.0, 105.0, ""), (second,): (1, 200.0, 200.0, "")}  # fmt: skip


def test_first_detail_is_the_detail_of_the_earliest_probe(store):
    filled(store)
    groups = store.probe_groups(["outcome"], where={"outcome": "timeout"}, first_detail=True)
    assert [g.first_detail for g in groups] == ["no answer during connect"]


def test_time_bins_count_probes_per_slice(store):
    filled(store)
    groups = store.probe_groups(["time_bin"], targets=["a.test:443"], time_bins=(101.0, 2.0))
    assert as_table(groups) == {(0,): (2, 101.0, 102.0, ""), (1,): (2, 103.0, 104.0, ""),
                                (2,): (1, 105.0, 105.0, ""), (49,): (1, 200.0, 200.0, "")}  # fmt: skip
    with pytest.raises(ValueError):
        store.probe_groups(["time_bin"])
    with pytest.raises(ValueError):
        store.probe_groups(["no such dimension"])


def test_chain_keys_stand_for_chains(store):
    filled(store)
    pairs = {g.key for g in store.probe_groups(["chain", "chain_key"], where={"outcome": "ok"})}
    assert {chain for chain, _ in pairs} == {chain_fingerprint(CHAIN_A), chain_fingerprint(CHAIN_B)}
    assert len({key for _, key in pairs}) == 2 and all(isinstance(k, int) for _, k in pairs)


def test_columns_come_in_time_order_with_missing_values_marked(store):
    first, _ = filled(store)
    columns = store.probe_columns(
        ["started_at", "source_port", "chain_key", "connect_seconds"], target="a.test:443"
    )
    assert list(columns["started_at"]) == [101.0, 102.0, 103.0, 104.0, 105.0, 200.0]
    assert list(columns["source_port"]) == [4000, 4002, 4001] + [MISSING_INTEGER] * 3
    keys = list(columns["chain_key"])
    assert keys[0] == keys[1] == keys[5] != keys[2] and keys[3] == keys[4] == MISSING_INTEGER
    connect = list(columns["connect_seconds"])
    assert all(math.isnan(v) for v in connect[:5]) and connect[5] == 0.25
    ok_first_run = store.probe_columns(
        ["started_at"], target="a.test:443", run_ids=[first], where={"outcome": "ok"}
    )
    assert list(ok_first_run["started_at"]) == [101.0, 102.0, 103.0]
    with pytest.raises(ValueError):
        store.probe_columns(["detail"], target="a.test:443")


@pytest.mark.parametrize(
    "by",
    [
        ["target", "host", "port", "protocol"],
        ["address", "sni", "profile", "source_address", "outcome", "chain", "leaf_only"],
        ["run_id", "source_port", "tls_version", "cipher", "source", "started_at"],
        ["vantage", "server_identity", "server_hello", "outcome", "chain"],
    ],
)
def test_the_backend_agrees_with_reading_every_probe(store, by):
    filled(store)
    assert set(by) <= set(GROUP_DIMENSIONS)
    generic = Store.probe_groups(store, by, first_detail=True)
    assert as_table(store.probe_groups(by, first_detail=True)) == as_table(generic)
    where = {"outcome": ("ok", "timeout"), "sni": None}
    assert as_table(store.probe_groups(by, where=where)) == as_table(
        Store.probe_groups(store, by, where=where)
    )


def test_columns_agree_with_reading_every_probe(store):
    filled(store)
    names = ["probe_id", "run_id", "source_port", "started_at", "handshake_seconds"]
    own = store.probe_columns(names, target="a.test:443", where={"outcome": "ok"})
    generic = Store.probe_columns(store, names, target="a.test:443", where={"outcome": "ok"})
    for name in names:
        assert [str(v) for v in own[name]] == [str(v) for v in generic[name]], name


def test_columns_of_a_long_target_read_in_several_statements(backend, store, monkeypatch):
    # PostgreSQL joins at most ROWS_PER_READ probes' values per statement: a target with more
    # is read in pieces, each in order, none lost or repeated at the seams.
    if backend == "postgresql":
        from certcensus.store import postgres_aggregates

        monkeypatch.setattr(postgres_aggregates, "ROWS_PER_READ", 2)
    filled(store)
    names = ["probe_id", "started_at", "source_port"]
    own = store.probe_columns(names, target="a.test:443")
    generic = Store.probe_columns(store, names, target="a.test:443")
    assert len(own["probe_id"]) == 6  # three pieces of two
    for name in names:
        assert [str(v) for v in own[name]] == [str(v) for v in generic[name]], name


def test_groups_and_columns_by_vantage(store):
    filled(store)
    by_vantage = store.probe_groups(["target", "vantage"])
    assert as_table(by_vantage) == {
        ("a.test:443", None): (4, 101.0, 105.0, ""), ("a.test:443", "eu"): (1, 102.0, 102.0, ""),
        ("a.test:443", "us"): (1, 200.0, 200.0, ""), ("b.test:443", None): (1, 100.5, 100.5, ""),
    }  # fmt: skip
    assert as_table(store.probe_groups(["address"], where={"vantage": ("eu", "us")})) == {
        ("127.0.0.1",): (1, 200.0, 200.0, ""), ("127.0.0.2",): (1, 102.0, 102.0, "")}  # fmt: skip
    assert store.probe_groups(["target"], where={"vantage": "nowhere"}) == []
    here = store.probe_columns(["started_at"], target="a.test:443", where={"vantage": None})
    assert list(here["started_at"]) == [101.0, 103.0, 104.0, 105.0]


def test_time_bins_filter_like_they_group(store):
    filled(store)
    bins = (101.0, 2.0)
    groups = store.probe_groups(["outcome"], where={"time_bin": (1, 2)}, time_bins=bins)
    assert as_table(groups) == {("ok",): (1, 103.0, 103.0, ""), ("timeout",): (2, 104.0, 105.0, "")}
    assert as_table(groups) == as_table(
        Store.probe_groups(store, ["outcome"], where={"time_bin": (1, 2)}, time_bins=bins)
    )


def test_backend_counts_are_the_probes_counted_one_by_one(store):
    filled(store)
    counted: Counter = Counter()
    for p in store.probes("a.test:443"):
        if not p.leaf_only:
            chain = p.chain_id if p.outcome is Outcome.OK else None
            counted[(p.server_identity, p.server_hello, chain, p.sni, p.profile)] += 1
    rows = store.backend_counts("a.test:443")
    assert {(r.identity, r.server_hello, r.chain_id, r.sni, r.profile): r.probes for r in rows} == (
        dict(counted)
    )
    assert len(counted) == 4 and len(rows) == len(counted)


def test_a_batch_with_an_observation_the_backend_cannot_take_keeps_the_rest(backend, tmp_path):
    # A Dask batch is stored all at once: its one bad row is refused and reported, the others
    # and the batch's id are kept, so a retried task still stores nothing twice.
    bad = observation(source="captures/\udcff.txt", server_identity="nginx/1.22.1", at=3.0)
    batch = [
        observation(detail=f"good {n}", server_identity="haproxy", at=float(n)) for n in range(3)
    ]
    batch.insert(1, bad)
    with _open_new(backend, tmp_path) as store:
        run = store.start_run("scan", ["t.test:443"])
        assert store.add_batch(run, "stratum-1/batch-0", batch) is True
        assert [(r.observation, r.reason.split(":")[0]) for r in store.rejected] == [
            (bad, "UnicodeEncodeError")
        ]
        assert store.add_batch(run, "stratum-1/batch-0", batch) is False
        store.add(run, observation(detail="after", server_identity="nginx/1.22.1", at=9.0))
        store.finish_run(run)
    with _open_new(backend, tmp_path, read_only=True) as reader:
        kept = sorted(
            (p.started_at, p.detail, p.server_identity) for p in reader.probes("t.test:443")
        )
    # The key interned for nginx inside the refused row's savepoint was not trusted after it.
    assert kept == [(0.0, "good 0", "haproxy"), (1.0, "good 1", "haproxy"),
                    (2.0, "good 2", "haproxy"), (9.0, "after", "nginx/1.22.1")]  # fmt: skip
