"""Benchmark: 10,000 targets x 2 probes against one nginx, against 1 target x 20,000 probes.

    .venv/bin/python bench/bench_fleet.py                  # ~3 min
    .venv/bin/python bench/bench_fleet.py --targets 2000 --baseline-src /old/src --no-record

In a network namespace of its own (private_network.py) nginx listens on 0.0.0.0, so targets
127.0.0.1:PORT ... are 10,000 distinct loopback addresses on one server. Interleaved, REPEAT
times each (the same number of probes both ways, so the difference is what targets cost):

- fleet:  `certcensus scan ADDR1:PORT ... ADDR10000:PORT --starttls none --count 2 --rate 0
  --json -q --db DB`
- single: `certcensus scan 127.0.0.1:PORT --starttls none --count 20000 --rate 0 --json -q
  --db DB`

Wall, CPU and peak RSS of each scan process come from wait4. The coordinator's overhead per
target is (CPU of fleet - CPU of single) / targets: plan, lanes, store, census and JSON for one
more target, outside probing. Then, on the fleet's database, `certcensus trust --trust-store
ROOT.pem --json` (every chain judged per target) and `certcensus report --json` are timed, and
the JSON's size per target is noted.

Targets of issue 16: coordinator RSS <= 200 MB, overhead <= 0.05 ms per target, `trust` <= 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certcensus.lab.pki import PKI, write_server_files
from nginx import NginxServer
from private_network import enter_private_network, loopback_addresses
from results import machine_line, replace_section, run_measured


def certcensus(source: str | None, *arguments: str, out=subprocess.DEVNULL):
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = source
    return run_measured([sys.executable, "-m", "certcensus", *arguments], stdout=out, env=env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-src", default=None)
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args()
    enter_private_network()
    machine_before = machine_line()
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="certcensus-bench-fleet-"))
    pki = PKI()
    root = pki.root("Fleet Root", key_type="ec256")
    ca = pki.intermediate("Fleet CA", root, key_type="ec256")
    leaf = pki.leaf(["fleet.test"], ca, key_type="ec256")
    cert, key = write_server_files(work, leaf, [ca], "server")
    root_pem = work / "root.pem"
    from cryptography.hazmat.primitives.serialization import Encoding

    root_pem.write_bytes(root.certificate.public_bytes(Encoding.PEM))
    contenders = [("this tree", None)]
    if options.baseline_src:
        contenders.insert(0, ("baseline", options.baseline_src))
    n = options.targets
    samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    with NginxServer(cert, key, listen="0.0.0.0") as nginx:
        fleet = [f"{a}:{nginx.port}" for a in loopback_addresses(n)]
        common = ["--starttls", "none", "--rate", "0", "--json", "-q"]
        for repetition in range(options.repeat):
            for name, source in contenders:
                for shape, targets, count in (("fleet", fleet, 2), ("single", fleet[:1], 2 * n)):
                    db = work / f"{name}-{shape}.sqlite".replace(" ", "-")
                    if repetition < options.repeat - 1:
                        db.unlink(missing_ok=True)  # the last run's database is kept for trust
                    elif db.exists():
                        db.unlink()
                    wall, cpu, rss, status = certcensus(
                        source, "scan", *targets, "--count", str(count), "--db", str(db), *common
                    )
                    samples.setdefault((name, shape), []).append((wall, cpu, rss))
                    print(
                        f"  {name} {shape}: {wall:.1f} s wall, {cpu:.1f} s CPU, {rss:.0f} MB, exit {status}",
                        flush=True,
                    )
        analyses: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
        json_bytes: dict[str, int] = {}
        for _ in range(options.repeat):
            for name, source in contenders:
                db = work / f"{name}-fleet.sqlite".replace(" ", "-")
                trust = certcensus(
                    source, "trust", "--db", str(db), "--trust-store", str(root_pem), "--json"
                )
                analyses.setdefault((name, "trust"), []).append(trust[:3])
                out = work / "report.json"
                with out.open("w") as file:
                    report = certcensus(source, "report", "--db", str(db), "--json", out=file)
                json_bytes[name] = out.stat().st_size
                analyses.setdefault((name, "report"), []).append(report[:3])
                print(
                    f"  {name} trust {trust[0]:.2f} s, report {report[0]:.2f} s ({json_bytes[name] / n:.0f} bytes/target)",
                    flush=True,
                )

    def med(rows, i):
        return statistics.median(r[i] for r in rows)

    lines = [
        "## Many targets (`bench/bench_fleet.py`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {time.monotonic() - began:.0f} s; "
        f"medians of {options.repeat} interleaved repetitions. {machine_before}.",
        "",
        f"nginx (one worker, ECDSA P-256 leaf + intermediate) on 0.0.0.0 in a private network "
        f"namespace; fleet = {n:,} targets (distinct 127.x.y.z) x 2 probes, single = 1 target x "
        f"{2 * n:,} probes; `scan --starttls none --rate 0 --json -q` (default concurrency 64). "
        "Overhead per target = (CPU fleet - CPU single) / targets, the scan process only.",
        "",
        "| contender | fleet wall | fleet CPU | fleet peak RSS | single wall | single CPU | single peak RSS | overhead per target | `trust` | `report --json` | JSON per target |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts = []
    for name, _ in contenders:
        f, s = samples[(name, "fleet")], samples[(name, "single")]
        overhead = (med(f, 1) - med(s, 1)) / n
        trust, report = analyses[(name, "trust")], analyses[(name, "report")]
        lines.append(
            f"| {name} | {med(f, 0):.1f} s | {med(f, 1):.1f} s | {med(f, 2):.0f} MB | {med(s, 0):.1f} s "
            f"| {med(s, 1):.1f} s | {med(s, 2):.0f} MB | {overhead * 1000:.3f} ms | {med(trust, 0):.2f} s "
            f"| {med(report, 0):.2f} s | {json_bytes[name] / n:.0f} B |"
        )
        if name == "this tree":
            verdicts = [
                f"- Coordinator peak RSS at {n:,} targets: {med(f, 2):.0f} MB (target <= 200 MB: "
                f"**{'met' if med(f, 2) <= 200 else 'NOT met'}**).",
                f"- Overhead per target: {overhead * 1000:.3f} ms (target <= 0.05 ms: "
                f"**{'met' if overhead <= 0.05e-3 else 'NOT met'}**).",
                f"- `trust` at {n:,} targets: {med(trust, 0):.2f} s (target <= 2 s: "
                f"**{'met' if med(trust, 0) <= 2 else 'NOT met'}**).",
            ]
    lines += ["", *verdicts]
    print("\n".join(lines))
    if not options.no_record:
        replace_section("fleet", "\n".join(lines))


if __name__ == "__main__":
    main()
