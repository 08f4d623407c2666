"""Vantage points: `certcensus worker --vantage NAME --source-address ADDR` processes behind an
HAProxy that routes by source address, so each vantage is served its own chain, and the census
says so."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from certcensus.lab.pool import running_pool
from certcensus.model.chain import chain_fingerprint

from ..servers import HAPROXY_TCP_DEFAULTS, free_port, require, running

pytestmark = pytest.mark.server


@contextlib.contextmanager
def haproxy_by_source(tmp_path: Path, routes: dict[str, int], default: int) -> Iterator[int]:
    """HAProxy in TCP mode: a client from each address of `routes` goes to its backend port
    (`use_backend ... if { src ADDR }`), everyone else to `default`."""
    binary = require("haproxy")
    port = free_port()
    rules = "\n".join(f"  use_backend b{i} if {{ src {a} }}" for i, a in enumerate(routes))
    backends = "\n".join(
        f"backend b{i}\n  server s 127.0.0.1:{backend}" for i, backend in enumerate(routes.values())
    )
    config = tmp_path / "haproxy.cfg"
    config.write_text(
        f"""{HAPROXY_TCP_DEFAULTS}frontend front
  bind 127.0.0.1:{port}
{rules}
  default_backend home
{backends}
backend home
  server s 127.0.0.1:{default}
"""
    )
    with running([binary, "-db", "-f", str(config)], port):
        yield port


@pytest.fixture
def regional(tmp_path, two_chains, cluster):
    """eu (from 127.0.0.2) is served the old chain, us (from 127.0.0.3) the new one."""
    cluster.start_worker("eu", "127.0.0.2")
    cluster.start_worker("us", "127.0.0.3")
    with (
        running_pool([two_chains.old], seed=1) as eu,
        running_pool([two_chains.new], seed=2) as us,
        running_pool(two_chains.backends, seed=3) as home,
        haproxy_by_source(
            tmp_path, {"127.0.0.2": eu.port, "127.0.0.3": us.port}, home.port
        ) as port,
    ):
        yield f"127.0.0.1:{port}"


def test_each_vantage_sees_its_own_chain(cli, tmp_path, two_chains, cluster, regional):
    db = tmp_path / "census.sqlite"
    result = cli("scan", regional, "--dask", cluster.address, "--vantage", "all",
                 "--count", 30, "--rate", 0, "--db", db, "--json")  # fmt: skip
    assert result.code == 0, result.err
    (target,) = result.json["targets"]
    old = chain_fingerprint(two_chains.old.wire_ders)
    new = chain_fingerprint(two_chains.new.wire_ders)
    chains = {chain["id"]: chain for chain in target["chains"]}
    assert target["probes"] == 60  # --count is per target *and vantage*
    assert chains[old]["vantages"] == {"eu": 30} and chains[new]["vantages"] == {"us": 30}
    assert "only from vantage eu" in chains[old]["seen_only"]
    assert "only from vantage us" in chains[new]["seen_only"]
    assert {s["vantage"] for s in target["strata"]} == {"eu", "us"}
    assert {s["source_address"] for s in target["strata"]} == {"127.0.0.2", "127.0.0.3"}
    for vantage in ("eu", "us"):  # one chain seen 30 times: coverage holds for each alone
        assert target["vantages"][vantage]["probes"] == 30
        assert (
            f"of connections from vantage {vantage}"
            in (target["vantages"][vantage]["coverage"]["sentence"])
        )

    text = cli("report", "--db", db)
    assert "vantages: eu 30, us 0" in text.out or "vantages: eu 0, us 30" in text.out
    assert "seen only from vantage eu" in text.out and "seen only from vantage us" in text.out
    page = tmp_path / "report.html"
    assert cli("report", "--db", db, "--format", "html", "-o", page).code == 0
    assert "seen only from vantage eu" in page.read_text()


def test_one_named_vantage_and_an_unknown_one(cli, tmp_path, two_chains, cluster, regional):
    db = tmp_path / "census.sqlite"
    result = cli("scan", regional, "--dask", cluster.address, "--vantage", "us",
                 "--count", 10, "--rate", 0, "--db", db, "--json")  # fmt: skip
    assert result.code == 0, result.err
    (chain,) = result.json["targets"][0]["chains"]
    assert chain["id"] == chain_fingerprint(two_chains.new.wire_ders)
    missing = cli("scan", regional, "--dask", cluster.address, "--vantage", "eu,asia",
                  "--count", 10, "--db", db)  # fmt: skip
    assert missing.code == 2 and "advertises vantage asia" in missing.err
    assert "certcensus worker --scheduler" in missing.err


def test_a_vantage_whose_only_worker_died_is_given_up(cluster, tmp_path, two_chains, caplog):
    """Its batches would wait for a worker that never comes: after the grace period the scan
    says so and ends with what the other vantages made."""
    import asyncio
    import os
    import signal

    from certcensus.fleet.cluster import Cluster, DaskSpec
    from certcensus.fleet.scan import FleetScan
    from certcensus.probe.plan import ProbeOptions, build_plan
    from certcensus.probe.targets import parse_target
    from certcensus.store import open_store

    doomed = cluster.start_worker("eu")
    cluster.start_worker("us")
    with running_pool(two_chains.backends, seed=5) as pool:
        target = parse_target(f"127.0.0.1:{pool.port}")
        plan = build_plan([target], ProbeOptions(), count=60, rate=20)

        async def go():
            async with Cluster(DaskSpec(address=cluster.address)) as connected:
                with open_store(tmp_path / "census.sqlite") as store:
                    run = store.start_run("scan", [target.name])
                    scan = FleetScan(plan, store, run, connected, ["eu", "us"])
                    scan.worker_check, scan.workerless_grace = 0.2, 1.0
                    running = asyncio.create_task(scan.run())
                    while not scan._futures:  # a batch is out: kill the eu worker now
                        await asyncio.sleep(0.05)
                    os.kill(doomed.process.pid, signal.SIGKILL)
                    result = await asyncio.wait_for(running, 60)
                    store.finish_run(run)
                    return scan, result, [p.vantage for p in store.probes(target.name)]

        scan, result, vantages = asyncio.run(go())
    assert "no worker advertises vantage eu for 1 s: its batches are left out" in caplog.text
    assert scan.progress.lost_batches >= 1
    assert vantages.count("us") == 60 and "eu" not in vantages
