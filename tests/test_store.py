"""The SQLite store: each certificate and chain once, every probe a row, nothing lost on kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store


def observation(chain=(), outcome=Outcome.OK, address="127.0.0.1", at=None, **extra):
    return Observation(
        target="t.test:443",
        host="t.test",
        port=443,
        protocol="tls",
        address=address,
        started_at=at if at is not None else time.time(),
        outcome=outcome,
        chain=tuple(chain),
        **extra,
    )


def test_certificates_and_chains_are_stored_once(db, two_chains):
    old, new = two_chains.old.wire_ders, two_chains.new.wire_ders
    reordered = (old[1], old[0])  # same certificates, other order: another chain
    with open_store(db) as store:
        run = store.start_run("scan", ["t.test:443"])
        for chain in (old, old, new, reordered, old):
            store.add(run, observation(chain))
        store.add(run, observation(outcome=Outcome.TIMEOUT, detail="connect"))
        store.finish_run(run)
        probes = list(store.probes("t.test:443"))
        assert [p.chain_id for p in probes] == [
            chain_fingerprint(old),
            chain_fingerprint(old),
            chain_fingerprint(new),
            chain_fingerprint(reordered),
            chain_fingerprint(old),
            None,
        ]
        assert store.chain_certificates(chain_fingerprint(reordered)) == list(reordered)
        assert store.certificate(certificate_fingerprint(new[0])) == new[0]
        assert store.find_chains(chain_fingerprint(new)[:8]) == [chain_fingerprint(new)]
    raw = sqlite3.connect(db)
    assert raw.execute("SELECT COUNT(*) FROM certificates").fetchone() == (4,)
    assert raw.execute("SELECT COUNT(*) FROM chains").fetchone() == (3,)
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_every_field_round_trips(db):
    obs = observation(
        (b"not a certificate",),
        sni="t.test",
        source_address="127.0.0.2",
        source_port=40000,
        tls_version="TLSv1.3",
        cipher="TLS_AES_128_GCM_SHA256",
        connect_seconds=0.001,
        starttls_seconds=0.002,
        handshake_seconds=0.003,
        profile="default",
    )
    with open_store(db) as store:
        run = store.start_run("scan", ["t.test:443"])
        store.add(run, obs)
        store.finish_run(run)
        (probe,) = store.probes("t.test:443")
    assert (
        probe.sni,
        probe.source_address,
        probe.source_port,
        probe.tls_version,
        probe.cipher,
    ) == ("t.test", "127.0.0.2", 40000, "TLSv1.3", "TLS_AES_128_GCM_SHA256")
    assert (probe.connect_seconds, probe.starttls_seconds, probe.handshake_seconds) == (
        0.001,
        0.002,
        0.003,
    )
    assert probe.outcome is Outcome.OK and probe.run_id == run


def test_latest_run_per_target(db):
    with open_store(db) as store:
        first = store.start_run("scan", ["a:1", "b:1"])
        second = store.start_run("scan", ["a:1"])
        assert store.latest_run_ids() == [first, second]
        assert store.latest_run_ids(["a:1"]) == [second]


WRITER = r"""
import sys, time
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store
store = open_store(sys.argv[1])
run = store.start_run("scan", ["t:1"])
n = 0
while True:
    store.add(run, Observation("t:1", "t", 1, "tls", "127.0.0.1", time.time(), Outcome.OK, chain=(b"c%d" % (n % 3),)))
    n += 1
    if n % 50 == 0:
        print(n, time.time(), flush=True)
    time.sleep(0.002)
"""


def test_a_killed_run_loses_at_most_the_last_second(db):
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE, text=True
    )
    reported = []
    for line in writer.stdout:  # wait for lines, not for time
        count, at = line.split()
        reported.append((int(count), float(at)))
        if reported[-1][1] - reported[0][1] > 2.5:
            break
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    killed_at = reported[-1][1]
    stored = sqlite3.connect(db).execute("SELECT COUNT(*) FROM probes").fetchone()[0]
    # Everything added more than a second (plus scheduling slack) before the kill is on disk.
    durable = max(count for count, at in reported if at <= killed_at - 1.2)
    assert stored >= durable
