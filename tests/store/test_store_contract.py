"""The store contract: what every backend (SQLite, PostgreSQL) must do the same way.

Each test runs once per backend (conftest.py: `store_url`), against a real SQLite file and a
real PostgreSQL server the tests start.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store

pytestmark = pytest.mark.server


def observation(chain=(), outcome=Outcome.OK, target="t.test:443", at=None, **extra):
    host, _, port = target.rpartition(":")
    return Observation(
        target=target, host=host, port=int(port), protocol="tls",
        address=extra.pop("address", "127.0.0.1"),
        started_at=at if at is not None else time.time(), outcome=outcome, chain=tuple(chain),
        **extra,
    )  # fmt: skip


def test_certificates_and_chains_are_stored_once(store_url, two_chains):
    old, new = two_chains.old.wire_ders, two_chains.new.wire_ders
    reordered = (old[1], old[0])  # same certificates, other order: another chain
    with open_store(store_url) as store:
        run = store.start_run("scan", ["t.test:443"])
        for chain in (old, old, new, reordered, old):
            store.add(run, observation(chain))
        store.add(run, observation(outcome=Outcome.TIMEOUT, detail="connect"))
        store.finish_run(run)
        probes = list(store.probes("t.test:443"))
        assert [p.chain_id for p in probes] == [
            chain_fingerprint(old), chain_fingerprint(old), chain_fingerprint(new),
            chain_fingerprint(reordered), chain_fingerprint(old), None,
        ]  # fmt: skip
        assert store.chain_certificates(chain_fingerprint(reordered)) == list(reordered)
        assert store.certificate(certificate_fingerprint(new[0])) == new[0]
        assert store.certificate("0" * 64) is None
        assert store.find_chains(chain_fingerprint(new)[:8]) == [chain_fingerprint(new)]
        assert sorted(store.find_chains("")) == sorted(
            {chain_fingerprint(c) for c in (old, new, reordered)}
        )
        assert store.find_chains("%") == [] and store.find_chains("_") == []


def test_every_field_round_trips(store_url):
    obs = observation(
        (b"not a certificate",), sni="t.test", source_address="127.0.0.2", source_port=40000,
        tls_version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", connect_seconds=0.001,
        starttls_seconds=0.002, handshake_seconds=0.003, profile="tls1.3", vantage="eu",
        source="capture.pem", leaf_only=True, detail="what the server said",
    )  # fmt: skip
    bare = observation(outcome=Outcome.REFUSED, at=obs.started_at + 1)
    with open_store(store_url) as store:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, obs)
        store.add(run, bare)
        store.finish_run(run)
        first, second = store.probes("t.test:443")
    fields = ("target", "host", "port", "protocol", "address", "started_at", "outcome", "detail",
              "sni", "profile", "source_address", "source_port", "tls_version", "cipher",
              "connect_seconds", "starttls_seconds", "handshake_seconds", "source", "leaf_only",
              "vantage")  # fmt: skip
    for stored, given in ((first, obs), (second, bare)):
        assert {f: getattr(stored, f) for f in fields} == {f: getattr(given, f) for f in fields}
        assert stored.run_id == run and stored.chain_id == given.chain_id
    assert first.outcome is Outcome.OK and second.outcome is Outcome.REFUSED


def test_runs_targets_and_filters(store_url):
    with open_store(store_url) as store:
        first = store.start_run("scan", ["b:1", "a:1"])
        store.add(first, observation(target="b:1", at=10.0))
        store.add(first, observation(target="a:1", at=11.0))
        store.add(first, observation(target="b:1", at=9.0))
        store.finish_run(first)
        second = store.start_run("watch", ["a:1"])
        store.add(second, observation(target="a:1", at=20.0, outcome=Outcome.TIMEOUT))
        store.finish_run(second)
        third = store.start_run("ingest", [])
        store.set_run_targets(third, ["c:1"])
        runs = store.runs()
        assert [(r.run_id, r.command, r.targets) for r in runs] == [
            (first, "scan", ("b:1", "a:1")), (second, "watch", ("a:1",)), (third, "ingest", ("c:1",)),
        ]  # fmt: skip
        assert runs[0].finished_at is not None and runs[2].finished_at is None
        assert store.targets() == ["b:1", "a:1"]  # in the order first probed
        assert store.targets([second]) == ["a:1"]
        assert store.targets([]) == []
        assert [p.started_at for p in store.probes("b:1")] == [9.0, 10.0]  # time order
        assert [p.run_id for p in store.probes("a:1")] == [first, second]
        assert [p.run_id for p in store.probes("a:1", [second])] == [second]
        assert list(store.probes("a:1", [])) == [] and list(store.probes("nobody:1")) == []
        assert store.latest_run_ids() == [first, second, third]
        assert store.latest_run_ids(["a:1"]) == [second]


def test_a_batch_is_stored_once_whatever_its_retries(store_url, two_chains):
    chain = two_chains.old.wire_ders
    batch = [observation(chain, at=float(i)) for i in range(5)]
    with open_store(store_url) as store:
        run = store.start_run("scan", ["t.test:443"])
        other = store.start_run("scan", ["t.test:443"])
        assert store.add_batch(run, "stratum-1/batch-0", batch) is True
        assert store.add_batch(run, "stratum-1/batch-0", batch) is False  # a retried task
        assert store.add_batch(other, "stratum-1/batch-0", batch[:2]) is True  # another run
        assert len(list(store.probes("t.test:443", [run]))) == 5
        assert len(list(store.probes("t.test:443", [other]))) == 2
    with open_store(store_url) as again:  # and after reopening
        assert again.add_batch(run, "stratum-1/batch-0", batch) is False
        assert len(list(again.probes("t.test:443"))) == 7


def test_chains_by_target_counts_successes(store_url, two_chains):
    old, new = two_chains.old.wire_ders, two_chains.new.wire_ders
    with open_store(store_url) as store:
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
        certificates = store.chains_certificates([chain_fingerprint(new), chain_fingerprint(old)])
        assert certificates == {
            chain_fingerprint(new): list(new),
            chain_fingerprint(old): list(old),
        }


def test_read_only_sees_what_was_written_and_writes_nothing(store_url, two_chains):
    with open_store(store_url) as store:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, observation(two_chains.new.wire_ders))
        store.finish_run(run)
    with open_store(store_url, read_only=True) as reader:
        (probe,) = reader.probes("t.test:443")
        assert probe.chain_id == chain_fingerprint(two_chains.new.wire_ders)
        assert reader.read_only


def test_observations_are_durable_within_a_second(store_url):
    """A second process sees what was added, without a flush, about a second later."""
    with open_store(store_url) as store, open_store(store_url, read_only=True) as reader:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, observation(at=1.0))
        deadline = time.monotonic() + 1.5
        while time.monotonic() < deadline:  # add() flushes once a second has passed
            store.add(run, observation(at=2.0))
            if list(reader.probes("t.test:443")):
                break
            time.sleep(0.05)
        assert len(list(reader.probes("t.test:443"))) >= 1


def test_a_newer_schema_is_refused(store_url):
    with open_store(store_url) as store:
        store.start_run("scan", [])
    _set_version(store_url, 99)
    for read_only in (False, True):
        with pytest.raises(StoreError, match="schema version 99, newer than this certcensus"):
            open_store(store_url, read_only=read_only)


def _set_version(url: str, version: int) -> None:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("UPDATE certcensus.schema_version SET version = %s", (version,))
    else:
        import sqlite3

        with sqlite3.connect(url) as connection:
            connection.execute("UPDATE schema_version SET version = ?", (version,))
