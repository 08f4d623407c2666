"""`report` over a fleet: one line per target, what changed since the previous run, and the
filters an operator of thousands of endpoints needs (--only-changed, --only-multiple)."""

from __future__ import annotations

import contextlib

from certcensus.lab.pool import running_pool
from certcensus.model.chain import chain_fingerprint


@contextlib.contextmanager
def pools(backend_lists, ports=None):
    with contextlib.ExitStack() as stack:
        yield [
            stack.enter_context(running_pool(backends, seed=i, port=(ports or {}).get(i, 0)))
            for i, backends in enumerate(backend_lists)
        ]


def scan_fleet(cli, db, two_chains):
    """Three targets scanned twice; between the scans the third switches to the new chain."""
    old, new = two_chains.old, two_chains.new
    with pools([[old], [old, new], [old]]) as first:
        ports = {i: pool.port for i, pool in enumerate(first)}
        targets = [f"127.0.0.1:{pool.port}" for pool in first]
        assert cli("scan", *targets, "--count", 30, "--rate", 0, "--db", db, "-q").code == 0
    with pools([[old], [old, new], [new]], ports):
        assert cli("scan", *targets, "--count", 30, "--rate", 0, "--db", db, "-q").code == 0
    return targets


def test_one_line_per_target_and_what_changed(cli, db, two_chains):
    quiet, mixed, switched = scan_fleet(cli, db, two_chains)
    overview = cli("report", "--db", db)
    assert overview.code == 0
    rows = {line.split()[0]: line for line in overview.out.splitlines() if line.startswith("127.")}
    assert set(rows) == {quiet, mixed, switched}
    assert rows[quiet].split()[1:6] == ["tls", "30", "30", "1", "same"]
    assert rows[mixed].split()[1:6] == ["tls", "30", "30", "2", "same"]
    assert rows[switched].split()[1:6] == ["tls", "30", "30", "1", "CHANGED"]
    assert "1 new since run 1; 1 gone since run 1" in rows[switched]
    assert "3 targets: 1 with more than one chain, 1 changed since their last run" in overview.out
    assert "chain #1" not in overview.out  # no details unless asked
    # Piped (as here): plain aligned lines, no box drawing, no padding after the last column.
    assert all(line == line.rstrip() for line in overview.out.splitlines())
    assert not set("─│┃━┏┓┗┛") & set(overview.out)

    detail = cli("report", "--db", db, "--target", mixed)
    assert "chain #2" in detail.out and switched not in detail.out
    assert "chain #1" in cli("report", "--db", db, "--details").out


def test_only_changed_and_only_multiple(cli, db, two_chains):
    quiet, mixed, switched = scan_fleet(cli, db, two_chains)
    changed = cli("report", "--db", db, "--only-changed", "--json")
    assert [t["target"] for t in changed.json["targets"]] == [switched]
    assert [c["id"] for c in changed.json["targets"][0]["chains"]] == [
        chain_fingerprint(two_chains.new.wire_ders)
    ]
    multiple = cli("report", "--db", db, "--only-multiple", "--json")
    assert [t["target"] for t in multiple.json["targets"]] == [mixed]
    both = cli("report", "--db", db, "--only-multiple", "--only-changed")
    assert both.code == 0
    assert "No target of 3 changed since its last run and served more than one chain" in both.out
    # Every run at once has no "previous run": nothing counts as changed.
    assert "No target of 3 changed" in cli("report", "--db", db, "--all-runs", "--only-changed").out
