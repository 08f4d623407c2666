"""`certcensus ingest` and `certcensus diff` as a user runs them (click's CliRunner)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from certcensus.census.build import build_census
from certcensus.cli.diff import diff
from certcensus.cli.ingest import ingest
from certcensus.store import open_store

from .conftest import vary_capture

MATCHING, DIFFERENT = 805, 73


@pytest.fixture(scope="module")
def pool_captures(tmp_path_factory, real_captures):
    """805 captures of chain A and 73 of chain B, interleaved as a load balancer would."""
    folder = tmp_path_factory.mktemp("captures") / "mail.example.com"
    folder.mkdir()
    different = set(range(5, 878, 12))  # 73 numbers
    assert len(different) == DIFFERENT
    for number in range(MATCHING + DIFFERENT):
        template = real_captures.showcerts_b if number in different else real_captures.showcerts_a
        (folder / f"capture-{number:04d}.txt").write_bytes(vary_capture(template, number))
    return folder, {f"capture-{n:04d}.txt" for n in different}


def test_baseline_counts_groups_and_copies_the_different_ones(tmp_path, pool_captures, two_chains):
    folder, different_names = pool_captures
    baseline = tmp_path / "expected.pem"
    baseline.write_bytes(b"".join(c.pem for c in two_chains.chain_a))
    odd = tmp_path / "odd"
    db = tmp_path / "db.sqlite"
    result = CliRunner().invoke(ingest, [str(folder), "--db", str(db), "--baseline", str(baseline),
                                         "--copy-different", str(odd)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "805 capture(s) match the baseline chain" in result.output
    assert "73 capture(s) have a different chain" in result.output
    assert "root replaced: Lab Root A -> Lab Root B" in result.output
    assert set(os.listdir(odd)) == different_names
    census = build_census(open_store(db))
    [target] = census.targets
    assert target.target == "mail.example.com"  # the folder's name: s_client output names no target
    assert [c.count for c in target.chains] == [MATCHING, DIFFERENT]

    chain_b = target.chains[1].chain_id
    shown = CliRunner().invoke(
        diff, [target.chains[0].chain_id[:10], chain_b[:10], "--db", str(db)]
    )
    assert shown.exit_code == 0, shown.output
    first_line = shown.output.splitlines()[2]
    assert first_line == (
        "same leaf; same intermediate key (Lab CA-1), cross-signed by Lab Root B instead of "
        "Lab Root A; root replaced: Lab Root A -> Lab Root B"
    )
    assert "A: CN=Lab Root A,O=certcensus lab" in shown.output
    assert "B: CN=Lab Root B,O=certcensus lab" in shown.output
    assert "subject key identifier:" in shown.output and "key:" in shown.output

    by_target = CliRunner().invoke(
        diff, ["--target", "mail.example.com", "--db", str(db), "--json"]
    )
    [entry] = json.loads(by_target.output)["diffs"]
    assert (entry["a"], entry["b"]) == (target.chains[0].chain_id, chain_b)
    assert [p["change"] for p in entry["positions"]] == ["same", "cross-signed", "replaced"]


def test_json_report_and_leaf_only_captures_counted_apart(tmp_path, real_captures, two_chains):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "full.txt").write_bytes(real_captures.showcerts_a)
    (folder / "leaf.txt").write_bytes(real_captures.leaf_only_a)
    (folder / "other.txt").write_bytes(real_captures.showcerts_b)
    (folder / "junk.txt").write_bytes(b"\x00\x01garbage")
    baseline = tmp_path / "baseline.txt"  # an s_client capture as the baseline
    baseline.write_bytes(real_captures.showcerts_a)
    result = CliRunner().invoke(ingest, [str(folder), "--db", str(tmp_path / "db"), "--baseline",
                                         str(baseline), "--json", "--target", "lb:443"])  # fmt: skip
    report = json.loads(result.output)
    assert report["baseline"]["matching"] == 1
    assert report["baseline"]["different"] == 1
    assert report["baseline"]["leaf_only_matching"] == 1
    assert report["baseline"]["leaf_only_different"] == 0
    assert report["leaf_only"] == 1
    assert report["problems"] == [{"path": str(folder / "junk.txt"), "reason": "unknown-format",
                                   "detail": "binary data"}]  # fmt: skip
    [group] = report["baseline"]["different_groups"]
    assert group["files"] == [str(folder / "other.txt")]
    assert group["diff"]["summary"].startswith("same leaf; same intermediate key (Lab CA-1), cross")


def _census_dict(two_chains, count_a, count_b, timeouts):
    def chain(issued, count):
        return {"id": "x", "count": count, "share": 0.5, "first_seen": "2024-05-01T10:00:00.000Z",
                "last_seen": "2024-05-01T11:00:00.000Z", "ips": {"127.0.0.1": count},
                "certificates": [{"sha256": c.sha256, "pem": c.pem.decode()} for c in issued]}  # fmt: skip

    return {"targets": [{"target": "127.0.0.1:2525", "host": "127.0.0.1", "port": 2525,
                         "protocol": "smtp", "probes": count_a + count_b + timeouts,
                         "ok": count_a + count_b, "errors": {"timeout": timeouts},
                         "chains": [chain(two_chains.chain_a, count_a), chain(two_chains.chain_b, count_b)]}]}  # fmt: skip


def test_censuses_from_two_machines_merge_and_add_up(tmp_path, two_chains):
    (tmp_path / "host1.json").write_text(json.dumps(_census_dict(two_chains, 460, 38, 2)))
    (tmp_path / "host2.json").write_text(json.dumps(_census_dict(two_chains, 40, 2, 0)))
    db = tmp_path / "db.sqlite"
    result = CliRunner().invoke(
        ingest, [str(tmp_path / "host1.json"), str(tmp_path / "host2.json"), "--db", str(db)]
    )
    assert result.exit_code == 0, result.output
    [target] = build_census(open_store(db)).targets
    assert (target.target, target.port, target.protocol) == ("127.0.0.1:2525", 2525, "smtp")
    assert (target.probes, target.ok, dict(target.errors)) == (542, 540, {"timeout": 2})
    assert [c.count for c in target.chains] == [500, 40]
    assert target.chains[0].ips == {"127.0.0.1": 500}


def test_the_parallel_path_gives_the_same_result(tmp_path, pool_captures, monkeypatch):
    from certcensus.ingest import pipeline

    folder, _ = pool_captures
    monkeypatch.setattr(pipeline, "POOL_THRESHOLD", 10)
    monkeypatch.setattr(pipeline, "CHUNK_FILES", 50)
    parallel = pipeline.ingest_paths([folder], None, jobs=2)
    serial = pipeline.ingest_paths([folder], None, jobs=1)
    assert parallel.captures == serial.captures
    assert len(parallel.chains) == 2


def test_diff_of_two_files_and_usage_errors(tmp_path, two_chains):
    a, b = tmp_path / "a.pem", tmp_path / "b.pem"
    a.write_bytes(b"".join(c.pem for c in two_chains.chain_a))
    b.write_bytes(b"".join(c.pem for c in two_chains.chain_a[:2]))
    shown = CliRunner().invoke(diff, [str(a), str(b), "--json"])
    [entry] = json.loads(shown.output)["diffs"]
    assert entry["summary"] == "same leaf; root Lab Root A no longer sent (was at position 2)"
    missing = CliRunner().invoke(diff, ["abcdef", str(b), "--db", str(tmp_path / "db")])
    assert missing.exit_code == 2 and "no chain id starts with abcdef" in missing.output
    bad_baseline = tmp_path / "empty"
    bad_baseline.write_bytes(b"")
    refused = CliRunner().invoke(
        ingest, [str(a), "--baseline", str(bad_baseline), "--db", str(tmp_path / "db")]
    )
    assert refused.exit_code == 2 and "the file is empty" in refused.output


def test_round_trip_through_the_real_json_writer(tmp_path, real_captures):
    from certcensus.render.as_json import census_to_json

    (tmp_path / "in").mkdir()
    for number in range(6):
        template = real_captures.showcerts_b if number % 3 == 0 else real_captures.showcerts_a
        (tmp_path / "in" / f"{number}.txt").write_bytes(vary_capture(template, number))
    with open_store(tmp_path / "first.sqlite") as store:
        ingest_paths_result = CliRunner().invoke(
            ingest, [str(tmp_path / "in"), "--db", str(tmp_path / "first.sqlite")]
        )
        assert ingest_paths_result.exit_code == 0
        first = build_census(store)
    (tmp_path / "census.json").write_text(census_to_json(first))
    db = tmp_path / "second.sqlite"
    CliRunner().invoke(ingest, [str(tmp_path / "census.json"), "--db", str(db)])
    [again] = build_census(open_store(db)).targets
    [before] = first.targets
    assert [(c.chain_id, c.count) for c in again.chains] == [
        (c.chain_id, c.count) for c in before.chains
    ]
    assert (again.target, again.ok) == (before.target, before.ok) == ("in", 6)
