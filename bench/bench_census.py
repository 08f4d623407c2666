"""Benchmark: the census of one target at 10k, 100k and 1M probes, and the bytes each probe takes.

    .venv/bin/python bench/bench_census.py                    # 10k, 100k, 1M; 3 repetitions
    .venv/bin/python bench/bench_census.py --sizes 10000,100000 --repeat 5 --no-record

For each size it writes a database of that many probes of one target through the Store
interface (what a scan writes: one address, three chains drawn at random 70/25/5, a fresh source
port each, TLS version, cipher, the three durations), kept under --cache so reruns skip it.
Then it runs, interleaved (each size once, then again), the command a user runs:

    certcensus report --db DB --json > /dev/null

and takes its wall time, CPU time and peak RSS from the kernel (wait4 on that one process).
The census it prints runs every randomness test on every probe (two chains or more: periodic,
runs, source port), so this is the heaviest census of one stratum. Bytes per probe are the
database's pages (page_count x page_size) over the probes: table rows, the index, free space.

Targets of issue 16: 1M probes in <= 5 s with peak RSS <= 200 MB; <= 150 bytes per probe;
growth from 10k to 1M linear or better (time per probe at 1M <= time per probe at 10k, the
start-up of a Python process taken out: the `--help` run of the same command).

Then `scan --duration` (--scan-seconds, 0 to skip) against the benchmark nginx: the seconds
from the last probe's end to the end of the command (the census it ends with, printed as
JSON) and its peak RSS, beside `report --json` on the database it wrote: the same census, so
the same cost.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import results
from certcensus.lab.pki import PKI, write_server_files
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store import open_store
from certcensus.store.sqlite import SCHEMA_VERSION
from nginx import NginxServer
from results import machine_line, replace_section, run_measured

TARGET = "bench.test:443"
START = 1_790_000_000.0


def chains() -> list[tuple[bytes, ...]]:
    pki = PKI()
    root = pki.root("Bench Root", key_type="ec256")
    made = []
    for i in range(3):
        ca = pki.intermediate(f"Bench CA {i}", root, key_type="ec256")
        made.append((pki.leaf(["bench.test"], ca, key_type="ec256").der, ca.der))
    return made


def write_database(path: Path, probes: int, seed: int = 1) -> None:
    rng = random.Random(seed)
    cs = chains()
    with open_store(path) as store:
        run = store.start_run("scan", [TARGET])
        for i in range(probes):
            draw = rng.random()
            chain = cs[0] if draw < 0.7 else cs[1] if draw < 0.95 else cs[2]
            store.add(
                run,
                Observation(
                    TARGET, "bench.test", 443, "tls", "127.0.0.1", START + i * 0.001,
                    Outcome.OK, chain=chain, sni="bench.test", source_port=1024 + i % 60000,
                    tls_version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
                    connect_seconds=0.0004 + rng.random() * 1e-4, handshake_seconds=0.0021,
                ),
            )  # fmt: skip
        store.finish_run(run)


def bytes_per_probe(path: Path, probes: int) -> float:
    db = sqlite3.connect(path)
    pages = (
        db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
    )
    db.close()
    return pages / probes


def scan_then_report(seconds: int, work: Path, certcensus: list[str]) -> list[str]:
    """`scan --duration` against nginx, then `report` on what it wrote: census cost of each."""
    pki = PKI()
    root = pki.root("Scan Root", key_type="ec256")
    ca = pki.intermediate("Scan CA", root, key_type="ec256")
    leaf = pki.leaf(["scan.test"], ca, key_type="ec256")
    cert, key = write_server_files(work, leaf, [ca], "scan-server")
    db = work / "scan.sqlite"
    db.unlink(missing_ok=True)
    with NginxServer(cert, key) as nginx:
        command = [*certcensus, "scan", f"127.0.0.1:{nginx.port}", "--starttls", "none",
                   "--rate", "0", "--duration", f"{seconds}s", "--db", str(db), "--json", "-q"]  # fmt: skip
        began = time.time()
        wall, cpu, rss, _ = run_measured(command, stdout=subprocess.DEVNULL)
        ended = began + wall
    connection = sqlite3.connect(db)
    probes, last_end = connection.execute(
        "SELECT COUNT(*), MAX(started_at + COALESCE(connect_seconds, 0) + "
        "COALESCE(handshake_seconds, 0)) FROM probes"
    ).fetchone()
    connection.close()
    r_wall, r_cpu, r_rss, _ = run_measured(
        [*certcensus, "report", "--db", str(db), "--json"], stdout=subprocess.DEVNULL
    )
    return [
        f"`scan 127.0.0.1:PORT --rate 0 --duration {seconds}s --json` against nginx: {probes:,} "
        f"probes, peak RSS {rss:.0f} MB; from its last probe to the end of the command (the "
        f"census printed as JSON, the store's last commit) {ended - last_end:.2f} s. `report "
        f"--json` on the same database: {r_wall:.2f} s wall ({r_cpu:.2f} s CPU, start-up "
        f"included), peak RSS {r_rss:.0f} MB. The scan ends with the same streaming census as "
        "report, so a longer scan ends like a larger report in the table above.",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/certcensus-bench-census"))
    parser.add_argument("--scan-seconds", type=int, default=60)
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args()
    sizes = [int(s) for s in options.sizes.split(",")]
    options.cache.mkdir(parents=True, exist_ok=True)
    machine_before = machine_line()
    databases = {}
    for size in sizes:
        path = options.cache / f"census-{size}-v{SCHEMA_VERSION}.sqlite"
        if not path.exists():
            print(f"writing {size:,} probes to {path} ...", flush=True)
            write_database(path.with_suffix(".tmp"), size)
            path.with_suffix(".tmp").rename(path)
        databases[size] = path
    certcensus = [sys.executable, "-m", "certcensus"]
    runs: dict[int, list[tuple[float, ...]]] = {size: [] for size in sizes}
    startup: list[tuple[float, ...]] = []
    for _ in range(options.repeat):
        wall, cpu, rss, _status = run_measured(
            [*certcensus, "report", "--help"], stdout=subprocess.DEVNULL
        )
        startup.append((wall, cpu, rss, results.last_run_queue_wait))
        for size in sizes:
            wall, cpu, rss, status = run_measured(
                [*certcensus, "report", "--db", str(databases[size]), "--json"],
                stdout=subprocess.DEVNULL,
            )
            if status != 0:
                raise SystemExit(f"report exited {status} at {size} probes")
            queued = results.last_run_queue_wait
            runs[size].append((wall, cpu, rss, queued))
            print(f"  {size:>9,} probes: {wall:6.2f} s wall, {cpu:6.2f} s CPU, {rss:6.1f} MB, "
                  f"{queued:.2f} s waiting for a core", flush=True)  # fmt: skip

    def median_of(rows: list[tuple[float, ...]]) -> tuple[float, ...]:
        return tuple(statistics.median(r[i] for r in rows) for i in range(4))

    median = {size: median_of(runs[size]) for size in sizes}
    base = median_of(startup)
    lines = [
        "## Census and store (`bench/bench_census.py`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; medians of {options.repeat} "
        "interleaved repetitions. " + machine_before + ".",
        "",
        "`certcensus report --db DB --json > /dev/null` on one target (one address, three chains "
        "70/25/5, a new source port per probe, so every randomness test runs on every probe); "
        "time and peak RSS of that process from wait4, its time runnable but waiting for a core "
        "from /proc/PID/schedstat. Start-up = the same command's `--help`.",
        "",
        "| probes | wall | CPU | peak RSS | waiting for a core | wall per 1k probes (less start-up) | CPU per 1k probes (less start-up) | bytes / probe |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    per_probe, cpu_per_probe = {}, {}
    for size in sizes:
        wall, cpu, rss, queued = median[size]
        per_probe[size] = (wall - base[0]) / size
        cpu_per_probe[size] = (cpu - base[1]) / size
        lines.append(
            f"| {size:,} | {wall:.2f} s | {cpu:.2f} s | {rss:.0f} MB | {queued:.2f} s "
            f"| {per_probe[size] * 1e6:.1f} ms | {cpu_per_probe[size] * 1e6:.1f} ms "
            f"| {bytes_per_probe(databases[size], size):.0f} |"
        )
    lines.append(
        f"| start-up (`report --help`) | {base[0]:.2f} s | {base[1]:.2f} s | {base[2]:.0f} MB "
        f"| {base[3]:.2f} s | | | |"
    )
    lines.append("")
    largest, smallest = max(sizes), min(sizes)
    wall, _, rss, _ = median[largest]
    size_bytes = bytes_per_probe(databases[largest], largest)
    lines += [
        f"- {largest:,} probes: `report --json` in {wall:.2f} s (target <= 5 s: "
        f"**{'met' if wall <= 5 else 'NOT met'}**), peak RSS {rss:.0f} MB (target <= 200 MB: "
        f"**{'met' if rss <= 200 else 'NOT met'}**).",
        f"- Bytes per probe at {largest:,}: {size_bytes:.0f} (target <= 150: "
        f"**{'met' if size_bytes <= 150 else 'NOT met'}**).",
    ]
    if largest != smallest:
        ratio = per_probe[largest] / per_probe[smallest]
        cpu_ratio = cpu_per_probe[largest] / cpu_per_probe[smallest]
        lines.append(
            f"- Growth {smallest:,} -> {largest:,}: wall per probe (less start-up) x{ratio:.2f}, "
            f"CPU per probe x{cpu_ratio:.2f} (linear or better means <= 1: "
            f"**{'met' if max(ratio, cpu_ratio) <= 1.05 else 'NOT met'}**)."
        )
    if options.scan_seconds:
        lines += ["", *scan_then_report(options.scan_seconds, options.cache, certcensus)]
    print("\n".join(lines))
    if not options.no_record:
        replace_section("census", "\n".join(lines))


if __name__ == "__main__":
    main()
