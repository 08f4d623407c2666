"""Fleet benchmarks: many targets over Dask, 1M probes in PostgreSQL, a two-vantage run.

    .venv/bin/python bench/bench_dask_fleet.py                  # everything, ~25 min; RESULTS.md
    .venv/bin/python bench/bench_dask_fleet.py --only store     # one part: dask, store or vantage
    .venv/bin/python bench/bench_dask_fleet.py --targets 200 --probes 10000,100000 --no-record

1. dask: TARGETS loopback targets (distinct 127.0.x.y addresses, each a `listen` of one nginx),
   20 probes each, `--rate 0`: one `certcensus scan` process against `--dask local:2`. Wall time
   from process start to exit, probes/s, and the overhead per target: (wall - wall of the same
   number of probes against one target in one process) / targets. Interleaved repetitions.
2. store: N synthetic probes of one target (three chains, random source ports) written through
   the PostgreSQL store (COPY), then `certcensus report --json` timed (wall, peak RSS), bytes
   per probe (probes table with its index, and the whole database); the same data in SQLite is
   the peer measured in the same run. Growth from the smallest N to the largest.
3. vantage: the fleet of part 1 from two `certcensus worker --vantage` processes (source
   addresses 127.0.0.2 and 127.0.0.3) on a `dask scheduler`: scan wall time, and the merged
   census (`report --json` over both vantages' probes).

The machine is shared (2 cores, other developers' test suites): medians, and ratios against the
peer of the same run, are what to read.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the test PostgreSQL server (tests/pg.py)
sys.path.insert(0, str(HERE))

from certcensus.lab.pki import PKI, write_server_files  # noqa: E402
from nginx import NginxServer  # noqa: E402
from results import write_between  # noqa: E402

RESULTS = HERE / "RESULTS.md"
START, END = "<!-- dask-fleet:start -->", "<!-- dask-fleet:end -->"
CERTCENSUS = [sys.executable, "-m", "certcensus"]


def loopback_targets(count: int) -> list[str]:
    """127.0.1.1, 127.0.1.2, ... 250 per /24: distinct addresses, none of them 127.0.0.x."""
    return [f"127.0.{1 + i // 250}.{1 + i % 250}" for i in range(count)]


class FleetNginx(NginxServer):
    """One nginx listening on PORT at each of `addresses`."""

    def __init__(self, certificate: Path, key: Path, addresses: list[str]):
        super().__init__(certificate, key, workers="1")
        self.addresses = addresses

    def config_text(self) -> str:
        text = super().config_text()
        single = f"listen {self.host}:{self.port} ssl backlog=4096;"
        listens = "\n        ".join(f"listen {a}:{self.port} ssl;" for a in self.addresses)
        text = text.replace(single, f"{single}\n        {listens}")
        return text.replace(
            "worker_processes 1;", "worker_processes 1;\nworker_rlimit_nofile 16384;"
        )


def timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """(wall seconds, result) of a child process."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True)
    return time.perf_counter() - started, done


def timed_rss(command: list[str]) -> tuple[float, float, subprocess.CompletedProcess]:
    """Like `timed`, with the child's own peak RSS in MB, from GNU time."""
    with tempfile.NamedTemporaryFile(prefix="certcensus-time-") as report:
        wall, done = timed(["/usr/bin/time", "-f", "%M", "-o", report.name, *command])
        text = Path(report.name).read_text().strip().splitlines()
    rss = int(text[-1]) / 1024 if text and text[-1].isdigit() else 0.0
    return wall, rss, done


def census_probes(done: subprocess.CompletedProcess) -> tuple[int, int]:
    if done.returncode not in (0, 1) or not done.stdout.strip():
        said = done.stderr.decode(errors="replace")
        raise RuntimeError(
            f"{' '.join(map(str, done.args[:6]))}...: {said[:3000]}\n...\n{said[-800:]}"
        )
    census = json.loads(done.stdout)
    return (sum(t["probes"] for t in census["targets"]), sum(t["ok"] for t in census["targets"]))


# -- 1. many targets over Dask -----------------------------------------------------------------


def bench_dask(work: Path, targets: int, per_target: int, repeat: int) -> dict:
    pki = PKI()
    root = pki.root("Fleet Bench Root", key_type="ec256")
    ca = pki.intermediate("Fleet Bench CA", root, key_type="ec256")
    leaf = pki.leaf(["fleet.test"], ca, key_type="ec256")
    certificate, key = write_server_files(work, leaf, [ca], "fleet")
    addresses = loopback_targets(targets)
    total = targets * per_target
    runs: dict[str, list[dict]] = {
        "one target, one process": [],
        "one process": [],
        "--dask local:2": [],
    }
    with FleetNginx(certificate, key, addresses) as server:
        fleet = [f"{a}:{server.port}" for a in addresses]
        contenders = {
            "one target, one process": [f"127.0.0.1:{server.port}", "--count", str(total)],
            "one process": [*fleet, "--count", str(per_target)],
            "--dask local:2": [*fleet, "--count", str(per_target), "--dask", "local:2"],
        }
        for round_ in range(repeat):
            for label, arguments in contenders.items():
                db = work / f"dask-{round_}-{len(runs[label])}.sqlite"
                command = [*CERTCENSUS, "scan", *arguments, "--rate", "0", "--db", str(db),
                           "--json", "-q"]  # fmt: skip
                cpu = server.cpu_seconds()
                wall, rss, done = timed_rss(command)
                probes, ok = census_probes(done)
                runs[label].append(dict(wall=wall, rss=rss, probes=probes, ok=ok,
                                        server_cpu=server.cpu_seconds() - cpu))  # fmt: skip
                print(f"  dask {label}: {wall:.1f} s, {probes} probes ({ok} ok), {rss:.0f} MB",
                      flush=True)  # fmt: skip
                db.unlink(missing_ok=True)
    return {"targets": targets, "per_target": per_target, "runs": runs}


# -- 2. a million probes in PostgreSQL ---------------------------------------------------------


def synthetic(count: int, chains: list[tuple[bytes, ...]], seed: int = 1):
    """`count` observations of one target as a random three-backend balancer would give them."""
    from certcensus.model.observation import Observation
    from certcensus.model.outcomes import Outcome

    chooser = random.Random(seed)
    start = time.time() - count / 900.0  # as if made at ~900 probes/s
    for i in range(count):
        yield Observation(
            target="pool.test:443", host="pool.test", port=443, protocol="tls",
            address="192.0.2.10", started_at=start + i / 900.0, outcome=Outcome.OK,
            chain=chooser.choices(chains, weights=(0.6, 0.3, 0.1))[0], sni="pool.test",
            source_port=chooser.randrange(32768, 61000), tls_version="TLSv1.3",
            cipher="TLS_AES_256_GCM_SHA384", connect_seconds=0.0004, handshake_seconds=0.002,
        )  # fmt: skip


def bench_store(work: Path, sizes: list[int]) -> dict:
    import psycopg
    from tests.pg import running_postgres

    from certcensus.store import open_store

    pki = PKI()
    root = pki.root("Store Bench Root", key_type="ec256")
    chains = []
    for i in range(3):
        ca = pki.intermediate(f"Store Bench CA {i}", root, key_type="ec256")
        chains.append((pki.leaf(["pool.test"], ca, key_type="ec256").der, ca.der))
    rows = []
    with running_postgres() as server:
        for size in sizes:
            name = f"bench_{size}"
            server.admin(f"CREATE DATABASE {name}")
            url = server.url(name)
            sqlite = work / f"store-{size}.sqlite"
            written = {}
            for backend, where in (("postgresql", url), ("sqlite", str(sqlite))):
                started = time.perf_counter()
                with open_store(where) as store:
                    run = store.start_run("scan", ["pool.test:443"])
                    for observation in synthetic(size, chains):
                        store.add(run, observation)
                    store.finish_run(run)
                written[backend] = time.perf_counter() - started
            with psycopg.connect(url) as connection:
                (table,) = connection.execute(
                    "SELECT pg_total_relation_size('certcensus.probes')"
                ).fetchone()
                (database,) = connection.execute(
                    "SELECT pg_database_size(current_database())"
                ).fetchone()
            with psycopg.connect(server.url("postgres")) as connection:
                (empty,) = connection.execute("SELECT pg_database_size('postgres')").fetchone()
            row = dict(size=size, pg_write=written["postgresql"], sqlite_write=written["sqlite"],
                       pg_table_bytes=table / size, pg_database_bytes=(database - empty) / size,
                       sqlite_bytes=sqlite.stat().st_size / size)  # fmt: skip
            for backend, where in (("postgresql", url), ("sqlite", str(sqlite))):
                # The store's own part of a report: reading every probe row back.
                started = time.perf_counter()
                with open_store(where, read_only=True) as store:
                    count = sum(1 for _ in store.probes("pool.test:443"))
                row[f"{backend}_read"] = time.perf_counter() - started
                assert count == size, (backend, count, size)
                wall, rss, done = timed_rss([*CERTCENSUS, "report", "--db", where, "--json"])
                probes, _ = census_probes(done)
                assert probes == size, (backend, probes, size)
                row[f"{backend}_report"] = wall
                row[f"{backend}_rss"] = rss
            rows.append(row)
            print(f"  store {size}: {row}", flush=True)
            sqlite.unlink()
            server.admin(f"DROP DATABASE {name}")
    return {"rows": rows}


# -- 3. the fleet from two vantage points ------------------------------------------------------


@contextlib.contextmanager
def vantage_cluster() -> Iterator[tuple[str, list[subprocess.Popen]]]:
    from tests.servers import free_port, wait_for_port

    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    assert dask, "the dask command is not installed"
    port = free_port()
    scheduler = subprocess.Popen(
        [dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    wait_for_port(port, scheduler)
    address = f"tcp://127.0.0.1:{port}"
    workers = []
    try:
        for vantage, source in (("a", "127.0.0.2"), ("b", "127.0.0.3")):
            worker = subprocess.Popen(
                [*CERTCENSUS, "worker", "--scheduler", address, "--vantage", vantage,
                 "--source-address", source],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert worker.stderr is not None
            for line in worker.stderr:  # the line that says it joined
                if " ready at " in line:
                    break
            workers.append(worker)
        yield address, workers
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
            process.wait()


def bench_vantage(work: Path, targets: int, per_target: int, repeat: int) -> dict:
    pki = PKI()
    root = pki.root("Vantage Bench Root", key_type="ec256")
    ca = pki.intermediate("Vantage Bench CA", root, key_type="ec256")
    certificate, key = write_server_files(
        work, pki.leaf(["fleet.test"], ca, key_type="ec256"), [ca], "vantage"
    )
    addresses = loopback_targets(targets)
    runs = []
    with FleetNginx(certificate, key, addresses) as server, vantage_cluster() as (address, _):
        fleet = [f"{a}:{server.port}" for a in addresses]
        for round_ in range(repeat):
            db = work / f"vantage-{round_}.sqlite"
            wall, rss, done = timed_rss([*CERTCENSUS, "scan", *fleet, "--count", str(per_target),
                                         "--rate", "0", "--dask", address, "--vantage", "all",
                                         "--db", str(db), "--json", "-q"])  # fmt: skip
            probes, ok = census_probes(done)
            census_wall, census_rss, report = timed_rss(
                [*CERTCENSUS, "report", "--db", str(db), "--json"]
            )
            census_probes(report)
            runs.append(dict(wall=wall, probes=probes, ok=ok, census=census_wall, rss=census_rss))
            print(f"  vantage: {runs[-1]}", flush=True)
            db.unlink()
    return {"targets": targets, "per_target": per_target, "runs": runs}


# -- RESULTS.md --------------------------------------------------------------------------------


def median(values) -> float:
    return statistics.median(list(values))


def render(results: dict) -> str:
    today = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        START,
        "## Fleets: many targets over Dask, 1M probes in PostgreSQL, two vantages "
        "(`bench/bench_dask_fleet.py`)",
        "",
        f"Rendered {today} (each part measured on its own, `--only`); on this shared 2-core "
        "machine, with other developers' test suites running: medians of interleaved "
        "repetitions; read the ratios against the peer measured in the same run rather than "
        "the absolute numbers, which are far below a quiet machine's (bench_probe.py measures "
        "about 900 probes/s for one process against one target there).",
        "",
    ]
    if "dask" in results:
        dask = results["dask"]
        runs = dask["runs"]
        base = median(r["wall"] for r in runs["one target, one process"])
        n_targets, total = dask["targets"], dask["targets"] * dask["per_target"]
        lines += [
            f"### {n_targets} loopback targets x {dask['per_target']} probes, `--rate 0` "
            f"({len(runs['one process'])} repetitions)",
            "",
            "| contender | wall s | probes/s | overhead per target | vs one process | peak RSS MB |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        single = median(r["wall"] for r in runs["one process"])
        for label, measured in runs.items():
            wall = median(r["wall"] for r in measured)
            overhead = (
                "(the reference)"
                if label.startswith("one target")
                else (f"{(wall - base) / n_targets * 1000:.2f} ms")
            )
            lines.append(
                f"| {label} | {wall:.1f} | {total / wall:.0f} | {overhead} | "
                f"{single / wall:.2f}x | {median(r['rss'] for r in measured):.0f} |"
            )
        lines += [
            "",
            f"Every run made {total} probes (all ok). Overhead per target = (wall - wall of the "
            f"same {total} probes against one target in one process) / {n_targets}. "
            "`--dask local:2` starts a LocalCluster of 2 worker processes (~3 s) and sends one "
            "batch (one stratum: target x address x profile) per task. Here its scheduler, both "
            "workers, the scan and nginx share the same 2 cores, so Dask can only add cost: "
            "this measures that cost. What it buys is more cores and machines than one process "
            "has (and vantage points), which a 2-core benchmark cannot show.",
            "",
        ]
    if "store" in results:
        rows = results["store"]["rows"]
        lines += [
            "### PostgreSQL store: probes of one target, then `report --json`",
            "",
            "PostgreSQL first, SQLite (the peer, same data, same run) in parentheses.",
            "",
            "| probes | write (COPY) probes/s | read every row s | report s | report peak RSS MB "
            "| bytes/probe: probes table + index | whole database | SQLite file |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for row in rows:
            read = (
                f"{row['postgresql_read']:.2f} ({row['sqlite_read']:.2f})"
                if "postgresql_read" in row
                else "-"
            )
            lines.append(
                f"| {row['size']:,} | {row['size'] / row['pg_write']:,.0f} "
                f"({row['size'] / row['sqlite_write']:,.0f}) | {read} | {row['postgresql_report']:.2f} "
                f"({row['sqlite_report']:.2f}) | {row['postgresql_rss']:.0f} "
                f"({row['sqlite_rss']:.0f}) | {row['pg_table_bytes']:.0f} | "
                f"{row['pg_database_bytes']:.0f} | {row['sqlite_bytes']:.0f} |"
            )
        first, last = rows[0], rows[-1]
        factor = last["size"] / first["size"]
        growth = last["postgresql_report"] / first["postgresql_report"]
        lines += [
            "",
            f"Growth {first['size']:,} -> {last['size']:,} probes (x{factor:.0f}): report time "
            f"x{growth:.1f} on PostgreSQL (x{last['sqlite_report'] / first['sqlite_report']:.1f} "
            f"on SQLite): {'linear or better' if growth <= factor * 1.1 else 'WORSE than linear'}. "
            "The report's cost is the census (issue 16 makes it streaming); the store's part of "
            "it is reading the rows. Bytes per probe are those of the narrow, interned row "
            "(postgres_schema.py) and its one index.",
            "",
        ]
    if "vantage" in results:
        vantage = results["vantage"]
        runs = vantage["runs"]
        lines += [
            f"### The same fleet from two vantage workers ({vantage['targets']} targets x "
            f"{vantage['per_target']} probes x 2 vantages)",
            "",
            "| scan wall s | probes | probes/s | merged census (`report --json`) s | its peak RSS MB |",
            "| --- | --- | --- | --- | --- |",
        ]
        wall = median(r["wall"] for r in runs)
        lines.append(
            f"| {wall:.1f} | {runs[0]['probes']} | {runs[0]['probes'] / wall:.0f} | "
            f"{median(r['census'] for r in runs):.1f} | {median(r['rss'] for r in runs):.0f} |"
        )
        lines += [
            "",
            "Two `certcensus worker --vantage a|b --source-address 127.0.0.2|.3` processes on one "
            "`dask scheduler`; the census merges both vantages' strata.",
            "",
        ]
    lines.append(END)
    return "\n".join(lines) + "\n"


def record(section: str) -> None:
    write_between(RESULTS, START, END, section.rstrip("\n"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("dask", "store", "vantage"), action="append")
    parser.add_argument("--targets", type=int, default=2000)
    parser.add_argument("--per-target", type=int, default=20)
    parser.add_argument("--probes", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    parser.add_argument(
        "--render", action="store_true", help="Re-render the section from dask-fleet-results.json."
    )
    args = parser.parse_args()
    if args.render:
        record(render(json.loads((HERE / "dask-fleet-results.json").read_text())))
        return
    parts = args.only or ["dask", "store", "vantage"]
    started = time.perf_counter()
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="certcensus-bench-fleet-") as directory:
        work = Path(directory)
        if "dask" in parts:
            results["dask"] = bench_dask(work, args.targets, args.per_target, args.repeat)
        if "store" in parts:
            results["store"] = bench_store(work, [int(n) for n in args.probes.split(",")])
        if "vantage" in parts:
            results["vantage"] = bench_vantage(work, args.targets, args.per_target, args.repeat)
    print(f"measured in {time.perf_counter() - started:.0f} s", flush=True)
    if args.no_record:
        print(render(results))
        return
    # Parts run on their own (--only) keep the other parts' last results in the section.
    raw = HERE / "dask-fleet-results.json"
    kept = json.loads(raw.read_text()) if raw.exists() else {}
    kept.update(results)
    raw.write_text(json.dumps(kept, indent=1) + "\n")
    section = render(kept)
    print(section)
    record(section)


if __name__ == "__main__":
    main()
