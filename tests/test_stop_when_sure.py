"""Stop when sure: probe until the coverage bound holds; say so when randomness is a lie."""

from __future__ import annotations

from certcensus.census.coverage import probes_needed
from certcensus.lab.pool import Backend, running_pool
from certcensus.model.chain import chain_fingerprint


def test_a_one_percent_chain_is_found_and_the_bound_holds(cli, db, pki, two_chains):
    rare = Backend("rare", two_chains.new.leaf, two_chains.new.chain, weight=0.01)
    common = Backend("common", two_chains.old.leaf, two_chains.old.chain, weight=0.99)
    with running_pool([common, rare], seed=11) as pool:
        result = cli(
            "scan",
            f"127.0.0.1:{pool.port}",
            "--confidence",
            "0.99",
            "--min-share",
            "0.01",
            "--rate",
            "0",
            "--db",
            db,
            "--json",
        )
    assert result.code == 0, result.err
    (target,) = result.json["targets"]
    needed = probes_needed(0.01, 0.99)
    assert target["ok"] == needed  # it stopped by itself, as soon as the bound held
    ids = {chain["id"] for chain in target["chains"]}
    assert chain_fingerprint(rare.wire_ders) in ids  # P(missed) = 0.99^917 < 1e-4
    coverage = target["coverage"]
    assert coverage["applicable"] and coverage["max_missed_share"] <= 0.01
    assert coverage["confidence"] == 0.99 and coverage["probes"] == needed
    assert coverage["sentence"].startswith("With 99% confidence, no chain served on more than")


def test_stopping_when_sure_is_the_default_without_a_count(cli, db, two_chains):
    with running_pool(two_chains.backends, seed=5) as pool:
        result = cli(
            "scan",
            f"127.0.0.1:{pool.port}",
            "--min-share",
            "0.05",
            "--rate",
            "0",
            "--db",
            db,
            "--json",
        )
    (target,) = result.json["targets"]
    assert target["ok"] == probes_needed(0.05, 0.99)


def test_round_robin_says_the_statement_does_not_apply(cli, db, two_chains):
    with running_pool(two_chains.backends, choice="round-robin") as pool:
        result = cli(
            "scan",
            f"127.0.0.1:{pool.port}",
            "--count",
            200,
            "--rate",
            "0",
            "--concurrency",
            1,
            "--db",
            db,
            "--json",
        )
    (target,) = result.json["targets"]
    coverage = target["coverage"]
    assert not coverage["applicable"]
    assert (
        "period" in coverage["not_applicable_reason"]
        or "round" in coverage["not_applicable_reason"]
    )
    assert coverage["sentence"].startswith("No confidence statement")
    text = cli("report", "--db", db)
    assert "No confidence statement" in text.out


def test_time_windowed_rotation_is_detected(cli, db, two_chains):
    with running_pool(two_chains.backends, choice="time-window", window_seconds=0.5) as pool:
        result = cli(
            "scan", f"127.0.0.1:{pool.port}", "--count", 120, "--rate", "60", "--db", db, "--json"
        )
    (target,) = result.json["targets"]
    assert len(target["chains"]) == 2
    assert not target["coverage"]["applicable"]


def test_source_address_stickiness_is_detected_and_reported(cli, db, two_chains):
    with running_pool(two_chains.backends, choice="per-address", seed=1) as pool:
        # Find two source addresses the pool maps to different backends.
        addresses = [f"127.0.0.{n}" for n in range(2, 40)]
        by_backend = {}
        for address in addresses:
            by_backend.setdefault(pool.choose_backend((address, 1)).name, address)
        sources = ",".join(by_backend.values())
        result = cli(
            "scan",
            f"127.0.0.1:{pool.port}",
            "--source-address",
            sources,
            "--count",
            80,
            "--rate",
            "0",
            "--db",
            db,
            "--json",
        )
    (target,) = result.json["targets"]
    assert len(target["chains"]) == 2
    statements = [s for chain in target["chains"] for s in chain["seen_only"]]
    assert any(s.startswith("only from 127.0.0.") for s in statements)
    assert not target["coverage"]["applicable"]


def test_whole_port_hashing_is_named_as_untestable(cli, db, two_chains):
    """A balancer hashing the whole source port looks random to clients whose ports never
    repeat (as every client's do): the statement holds for them, and the report says which
    hashing it could not rule out. (Hashing a few low bits is detected: tests/test_randomness.)"""
    with running_pool(two_chains.backends, choice="source-port", seed=2) as pool:
        result = cli(
            "scan", f"127.0.0.1:{pool.port}", "--count", 300, "--rate", "0", "--db", db, "--json"
        )
    (target,) = result.json["targets"]
    assert len(target["chains"]) == 2
    (stratum,) = target["coverage_strata"]
    assert any("source port" in note for note in stratum["randomness"]["untested"])
