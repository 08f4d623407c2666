"""What only the SQLite store promises: its tables, WAL mode, migrations, nothing lost on kill.

What every store promises is in test_store_contract.py."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store
from certcensus.store.sqlite import SCHEMA_VERSION


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


V1_SCHEMA = """
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
    handshake_seconds REAL, source TEXT NOT NULL);
"""


def test_a_first_release_database_is_migrated_and_leaf_only_becomes_a_column(db):
    raw = sqlite3.connect(db)
    raw.executescript(V1_SCHEMA)
    raw.execute("INSERT INTO runs (command, started_at, targets) VALUES ('ingest', 1, '[\"t:1\"]')")
    for detail in ("leaf-only", "verify return code 0"):
        raw.execute(
            "INSERT INTO probes (run_id, target, host, port, protocol, address, started_at, "
            "outcome, detail, profile, source) VALUES (1, 't:1', 't', 1, 'tls', '', 1, 'ok', ?, "
            "'ingest', 'f.txt')",
            (detail,),
        )
    raw.commit()
    raw.close()
    with open_store(db) as store:
        leaf_only, verified = store.probes("t:1")
    assert (leaf_only.leaf_only, leaf_only.detail) == (True, "")
    assert (verified.leaf_only, verified.detail) == (False, "verify return code 0")
    assert leaf_only.vantage is None  # schema 5 added the vantage, empty for old probes
    version = sqlite3.connect(db).execute("SELECT version FROM schema_version").fetchone()
    assert version == (SCHEMA_VERSION,)


RECORDED = Path(__file__).parents[1] / "census" / "recorded"
V2_COLUMNS = (
    "probe_id, run_id, target, host, port, protocol, address, started_at, outcome, detail, "
    "chain_id, sni, profile, source_address, source_port, tls_version, cipher, connect_seconds, "
    "starttls_seconds, handshake_seconds, source, leaf_only"
)


@pytest.mark.parametrize("name", ["random", "per-address", "time-window"])
def test_a_schema_2_database_is_migrated_to_integer_keys_losing_nothing(name, tmp_path):
    db = tmp_path / "v2.sqlite"
    shutil.copy(RECORDED / f"{name}.sqlite", db)
    before = sqlite3.connect(db).execute(f"SELECT {V2_COLUMNS} FROM probes ORDER BY probe_id")
    expected = [tuple(row) for row in before]
    with open_store(db) as store:
        after = sorted(
            (p for target in store.targets() for p in store.probes(target)),
            key=lambda p: p.probe_id,
        )
        rows = [
            tuple(str(v) if isinstance(v, Outcome) else v for v in dataclasses.astuple(p))
            for p in after
        ]
        assert len(store.probe_columns(["probe_id"], target=after[0].target)["probe_id"]) > 0
    assert [(*r[:21], int(r[21])) for r in rows] == expected
    raw = sqlite3.connect(db)
    assert raw.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,)
    columns = {row[1] for row in raw.execute("PRAGMA table_info(probes)")}
    assert "chain_key" in columns and "chain_id" not in columns and "target" not in columns
    chunked = raw.execute("SELECT SUM(probes) FROM probe_chunks").fetchone()[0]
    assert chunked == len(expected)
    assert "vantage_key" in columns  # schema 5: made here, every old probe
    with open_store(db, read_only=True) as store:
        assert [(g.key, g.probes) for g in store.probe_groups(["vantage"])] == [
            ((None,), len(expected))
        ]


def test_a_newer_schema_is_refused_with_one_line(db):
    with open_store(db):
        pass
    raw = sqlite3.connect(db)
    raw.execute("UPDATE schema_version SET version = 99")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="schema version 99, newer than this certcensus"):
        open_store(db)


def test_an_sqlite_file_that_is_not_ours_is_refused(db):
    raw = sqlite3.connect(db)
    raw.execute("CREATE TABLE something (x)")
    raw.commit()
    raw.close()
    with pytest.raises(StoreError, match="not a certcensus one"):
        open_store(db)


def test_a_schema_3_database_keeps_its_backend_identities(tmp_path):
    """Schema 3 (backend identity ids into probe_strings) becomes 4 (keys into texts)."""
    db = tmp_path / "v3.sqlite"
    shutil.copy(RECORDED / "round-robin.sqlite", db)
    raw = sqlite3.connect(db)
    for column in ("server_identity_id", "server_identity_detail_id", "server_hello_id"):
        raw.execute(f"ALTER TABLE probes ADD COLUMN {column} INTEGER")
    raw.execute("CREATE TABLE probe_strings (string_id INTEGER PRIMARY KEY, text TEXT UNIQUE)")
    raw.executemany("INSERT INTO probe_strings VALUES (?, ?)",
                    [(1, "backend-a"), (2, "from the greeting"), (3, "tls13/x25519")])  # fmt: skip
    raw.execute("UPDATE probes SET server_identity_id = 1, server_identity_detail_id = 2, "
                "server_hello_id = 3 WHERE probe_id % 2 = 0")  # fmt: skip
    raw.execute("UPDATE schema_version SET version = 3")
    raw.commit()
    raw.close()
    with open_store(db) as store:
        (target,) = store.targets()
        probes = list(store.probes(target))
        counts = store.backend_counts(target)
    named = [p for p in probes if p.probe_id % 2 == 0]
    assert named and all(
        (p.server_identity, p.server_identity_detail, p.server_hello)
        == ("backend-a", "from the greeting", "tls13/x25519")
        for p in named
    )
    assert all(p.server_identity is None for p in probes if p.probe_id % 2)
    assert sum(c.probes for c in counts if c.identity == "backend-a") == len(named)
    tables = {r[0] for r in sqlite3.connect(db).execute("SELECT name FROM sqlite_master")}
    assert "probe_strings" not in tables and "texts" in tables


def test_a_schema_4_database_gets_vantages_and_keeps_everything(tmp_path):
    """Schema 4 (issue 16's keys, recorded by that code: tests/store/recorded/schema4.py)
    becomes 5: probes read back as written, with no vantage; its columnar chunks are read as
    they are (no vantage_key in them) beside new ones that have it."""
    from certcensus.store.base import Store

    from .recorded.schema4 import FILE, observations

    db = tmp_path / "v4.sqlite"
    shutil.copy(FILE, db)
    written = observations()
    with open_store(db) as store:
        runs = [run.run_id for run in store.runs()]
        read = {
            (p.target, p.started_at): p for target in store.targets() for p in store.probes(target)
        }
        assert len(read) == len(written)
        for run, sent in written:
            probe = read[(sent.target, sent.started_at)]
            assert probe.run_id == runs[run] and probe.chain_id == sent.chain_id
            for name in ("host", "port", "protocol", "address", "outcome", "detail", "sni",
                         "source_port", "tls_version", "cipher", "leaf_only", "server_identity",
                         "server_hello", "vantage"):  # fmt: skip
                assert getattr(probe, name) == getattr(sent, name), name
        # Old chunks lack vantage_key: probe_groups (NumPy) agrees with reading every probe.
        by = ["target", "vantage", "chain", "server_identity", "outcome"]
        assert sorted(store.probe_groups(by), key=repr) == sorted(
            Store.probe_groups(store, by), key=repr
        )
        new = store.start_run("scan", ["a.test:443"])
        for vantage in ("eu", "us", None):
            store.add(new, dataclasses.replace(written[1][1], vantage=vantage, started_at=2e9))
        store.finish_run(new)
        counts = {g.key: g.probes for g in store.probe_groups(["vantage"], targets=["a.test:443"])}
    assert counts == {("eu",): 1, ("us",): 1, (None,): 2000 + 1}
    raw = sqlite3.connect(db)
    assert raw.execute("SELECT version FROM schema_version").fetchone() == (SCHEMA_VERSION,) == (5,)
    assert {"batches", "texts"} <= {r[0] for r in raw.execute("SELECT name FROM sqlite_master")}
    # Vantage names are texts like every other string (no probe_strings table).
    assert raw.execute("SELECT COUNT(*) FROM texts WHERE value IN ('eu', 'us')").fetchone() == (2,)
