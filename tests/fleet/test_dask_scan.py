"""`scan --dask`: probes spread over Dask workers, a census with no duplicates and no gaps, even
when a worker is killed in the middle of its batches."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading

import pytest

from certcensus.lab.pool import running_pool
from certcensus.store import open_store

pytestmark = pytest.mark.server


def stored(url: str) -> list:
    with open_store(url, read_only=True) as store:
        return [p for target in store.targets() for p in store.probes(target)]


@contextlib.contextmanager
def two_pools(backends):
    with running_pool(backends, seed=11) as first, running_pool(backends, seed=12) as second:
        yield [first, second]


def test_local_cluster_census_matches_what_the_servers_served(cli, store_url, two_chains):
    with two_pools(two_chains.backends) as pools:
        targets = [f"127.0.0.1:{pool.port}" for pool in pools]
        result = cli("scan", *targets, "--count", 120, "--rate", 0, "--profile", "default,tls1.2",
                     "--dask", "local:2", "--db", store_url, "--json")  # fmt: skip
        served = [sum(pool.served.values()) for pool in pools]
    assert result.code == 0, result.err
    census = result.json["targets"]
    assert [t["probes"] for t in census] == [120, 120] == served
    for target in census:  # two strata per target (profiles), the count spread over them
        assert sorted(s["probes"] for s in target["strata"]) == [60, 60]
        assert len(target["chains"]) == 2
    probes = stored(store_url)
    assert len({(p.target, p.started_at, p.source_port) for p in probes}) == 240


def test_local_cluster_stops_when_sure_per_stratum(cli, tmp_path, two_chains):
    db = tmp_path / "census.sqlite"
    with running_pool(two_chains.backends, seed=13) as pool:
        local = cli("scan", f"127.0.0.1:{pool.port}", "--rate", 0, "--min-share", "0.1",
                    "--db", db, "--json")  # fmt: skip
        fleet = cli("scan", f"127.0.0.1:{pool.port}", "--rate", 0, "--min-share", "0.1",
                    "--dask", "local:2", "--db", db, "--json")  # fmt: skip
    assert local.code == fleet.code == 0, fleet.err
    (one,), (other,) = local.json["targets"], fleet.json["targets"]
    assert one["probes"] == other["probes"]  # the same goal: probes_needed(0.1, 0.99)
    assert other["coverage"]["sentence"] == one["coverage"]["sentence"]


def test_bad_dask_options_are_one_line(cli, tmp_path):
    for args, words in (
        (["--dask", "local:0"], "at least one worker"),
        (["--dask", "yarn://x"], "is not local:N or tcp://HOST:PORT"),
        (["--vantage", "eu"], "--vantage needs --dask"),
        (["--dask", "tcp://127.0.0.1:1"], "cannot reach the Dask scheduler at tcp://127.0.0.1:1"),
    ):
        result = cli("scan", "127.0.0.1:1", "--count", 1, "--db", tmp_path / "x.sqlite", *args)
        assert result.code == 2 and result.err.count("\n") == 1, result.err
        assert words in result.err, result.err
    worker = cli("worker", "--scheduler", "local:2")  # a worker joins a scheduler: no local:N
    assert worker.code == 2 and worker.err.count("\n") == 1, worker.err
    assert "--scheduler 'local:2' is not tcp://HOST:PORT" in worker.err


def _wait_until_stored(url: str, at_least: int, scan: subprocess.Popen) -> None:
    while scan.poll() is None:
        try:
            if len(stored(url)) >= at_least:
                return
        except Exception:  # noqa: BLE001 - the scan has not created the schema yet
            pass
        threading.Event().wait(0.1)  # between two looks; the condition is the stored count
    raise AssertionError(f"the scan ended first: {scan.communicate()}")


def _busy_worker(cluster, scan: subprocess.Popen):
    """A worker that is running a batch now, as the scheduler sees it."""
    from distributed import Client

    with Client(cluster.address, timeout=30) as client:
        while scan.poll() is None:
            for address, keys in client.processing().items():
                if keys:
                    return next(
                        w for w in cluster.workers if any(address in line for line in w.lines)
                    )
            threading.Event().wait(0.05)  # between two looks; the condition is the scheduler's
    raise AssertionError(f"the scan ended before a worker could be killed: {scan.communicate()}")


def test_a_worker_killed_mid_run_leaves_no_duplicates_and_no_gaps(cluster, store_url, two_chains):
    cluster.start_worker()
    cluster.start_worker()
    with two_pools(two_chains.backends) as pools:
        targets = [f"127.0.0.1:{pool.port}" for pool in pools]
        # 2 targets x 3 profiles: six strata of 100 probes, each two batches of ~4 s at this
        # rate; once the first batches are stored, the second ones are running.
        scan = subprocess.Popen(
            [sys.executable, "-m", "certcensus", "scan", *targets, "--count", "300",
             "--rate", "40", "--profile", "default,tls1.2,tls1.3", "--dask", cluster.address,
             "--db", store_url, "--json", "-q"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        _wait_until_stored(store_url, 50, scan)  # some batches are done, others are running
        victim = _busy_worker(cluster, scan)
        os.kill(victim.process.pid, signal.SIGKILL)
        victim.process.wait()
        out, err = scan.communicate(timeout=240)
        served = sum(sum(pool.served.values()) for pool in pools)
    assert scan.returncode == 0, err
    probes = stored(store_url)
    keys = [(p.target, p.profile, p.started_at, p.source_port) for p in probes]
    assert len(keys) == len(set(keys)) == 600  # every stratum complete, nothing twice
    for target in targets:
        for profile in ("default", "tls1.2", "tls1.3"):
            assert sum(1 for p in probes if (p.target, p.profile) == (target, profile)) == 100
    assert served > 600  # the killed worker's batch was probed, then made again elsewhere


def test_watch_rounds_on_a_local_cluster(cli, store_url, two_chains):
    with running_pool(two_chains.backends, seed=14) as pool:
        target = f"127.0.0.1:{pool.port}"
        result = cli("watch", target, "--rounds", 2, "--count", 20, "--rate", 0,
                     "--every", "1s", "--dask", "local:1", "-q", "--db", store_url)  # fmt: skip
        served = sum(pool.served.values())
    assert result.code == 0, result.err
    with open_store(store_url, read_only=True) as store:
        rounds = [run for run in store.runs() if run.command == "watch"]
        made = [len(list(store.probes(target, [run.run_id]))) for run in rounds]
    # The first round of a target without history is a baseline that stops when sure (on the
    # cluster too, per stratum); the next makes its --count.
    assert len(made) == 2 and made[0] > 20 and made[1] == 20
    assert served == sum(made)
