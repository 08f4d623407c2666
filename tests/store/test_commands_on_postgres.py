"""Every command that reads or writes the store works on PostgreSQL as it does on SQLite:
scan, report (every format), trust, export, ingest, diff, watch and check."""

from __future__ import annotations

import pytest

from certcensus.lab.pool import running_pool
from certcensus.model.chain import chain_fingerprint

pytestmark = pytest.mark.server


def test_every_command_on_postgresql(cli, postgres_url, two_chains, tmp_path):
    roots = tmp_path / "roots.pem"
    roots.write_bytes(b"".join(root.pem for root in two_chains.roots))
    old_id = chain_fingerprint(two_chains.old.wire_ders)
    new_id = chain_fingerprint(two_chains.new.wire_ders)
    db = ("--db", postgres_url)
    with running_pool(two_chains.backends, seed=7) as pool:
        target = f"127.0.0.1:{pool.port}"
        scanned = cli("scan", target, "--count", 60, "--rate", 0, *db, "--json")
        assert scanned.code == 0, scanned.err
        watched = cli("watch", target, "--rounds", 1, "--count", 20, "--rate", 0, "-q", *db)
        assert watched.code == 0, watched.err
        checked = cli("check", target, "--count", 20, "--rate", 0, *db)
        assert checked.code == 1 and "WARNING" in checked.out  # two chains
    assert {c["id"] for c in scanned.json["targets"][0]["chains"]} == {old_id, new_id}

    # report: the latest run (check's), every run, one run; each format.
    latest = cli("report", *db, "--json")
    assert latest.json["targets"][0]["probes"] == 20
    every = cli("report", *db, "--all-runs", "--json")
    assert every.json["targets"][0]["probes"] == 100
    first = cli("report", *db, "--run", 1, "--json")
    assert first.json == scanned.json
    for fmt in ("html", "csv", "observations-csv"):
        out = tmp_path / f"report.{fmt}"
        assert cli("report", *db, "--run", 1, "--format", fmt, "-o", out).code == 0
        assert old_id[:12] in out.read_text() or old_id in out.read_text()

    trusted = cli("trust", *db, "--trust-store", roots, "--offline", "--cache-dir",
                  tmp_path / "cache", "--json")  # fmt: skip
    assert trusted.code == 0, trusted.err
    kit = tmp_path / "kit"
    exported = cli("export", *db, "--trust-store", roots, "--offline", "--cache-dir",
                   tmp_path / "cache", "--all", "--format", "pem", "-o", kit)  # fmt: skip
    assert exported.code == 0, exported.err
    assert any(kit.iterdir())

    capture = tmp_path / "capture.pem"
    capture.write_bytes(two_chains.old.leaf.pem + two_chains.old.chain[0].pem)
    ingested = cli("ingest", capture, "--target", "saved.test:443", *db)
    assert ingested.code == 0, ingested.err
    saved = cli("report", *db, "--target", "saved.test:443", "--json")
    assert [c["id"] for c in saved.json["targets"][0]["chains"]] == [old_id]

    differs = cli("diff", old_id[:10], new_id[:10], *db)
    assert differs.code in (0, 1) and "leaf" in differs.out.lower(), differs.err
