"""The Store contract: what every backend (SQLite now, PostgreSQL next) must answer alike.

Each test runs against every backend in BACKENDS; a new backend adds one factory there. The
aggregate reads (`probe_groups`, `probe_columns`) are also checked against the generic versions
in store/base.py, which read every probe through `probes()`: same store, two ways to the answer.
"""

from __future__ import annotations

import math

import pytest

from certcensus.model.chain import chain_fingerprint
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store
from certcensus.store.base import GROUP_DIMENSIONS, MISSING_INTEGER, Store

BACKENDS = {
    "sqlite": lambda tmp_path: open_store(tmp_path / "contract.sqlite"),
}

CHAIN_A = (b"leaf-a", b"ca")
CHAIN_B = (b"leaf-b", b"ca")


@pytest.fixture(params=sorted(BACKENDS))
def store(request, tmp_path):
    opened = BACKENDS[request.param](tmp_path)
    yield opened
    opened.close()


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
    store.add(first, probe(at=103.0, chain=CHAIN_B, source_port=4001, sni="a.test"))
    store.add(first, probe(at=101.0, source_port=4000, sni="a.test"))
    store.add(first, probe(at=102.0, address="127.0.0.2", source_port=4002))
    store.add(first, probe(at=104.0, outcome=Outcome.TIMEOUT, detail="no answer during connect"))
    store.add(first, probe(at=105.0, outcome=Outcome.TIMEOUT, detail="no answer during handshake"))
    store.add(first, probe("b.test:443", at=100.5, chain=CHAIN_B, source_address="127.0.0.9"))
    store.finish_run(first)
    second = store.start_run("scan", ["a.test:443"])
    store.add(second, probe(at=200.0, connect_seconds=0.25, handshake_seconds=0.5))
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
