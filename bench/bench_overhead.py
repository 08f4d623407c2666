"""Benchmark: what one more target costs the coordinator outside probing (no network at all).

    .venv/bin/python bench/bench_overhead.py                      # ~2 min
    .venv/bin/python bench/bench_overhead.py --baseline-src /old/src --no-record

`bench_fleet.py` measures this against a real nginx, as the difference of two large CPU totals
that mostly pay for TLS; on a shared machine their noise (±20% of 40 s) is far larger than the
difference. Here the probes cost nothing: the scan runs with probe/fake.py's FakeProber (each
probe answers the same two-certificate chain at once), so what is left is the coordinator:
target parsing, the plan (one TLS context per profile, settings per target), the scheduler's
lanes, the store, the census and its JSON. Each shape runs in its own process (so peak RSS is
its own), interleaved, REPEAT times:

- fleet: N targets (127.x.y.z:443) x 2 probes;
- single: 1 target x 2N probes.

Overhead per target = (CPU fleet - CPU single) / N. Target of issue 16: <= 0.05 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from private_network import loopback_addresses
from results import machine_line, replace_section

CHILD = "--child"


def child(shape: str, n: int, db: Path) -> None:
    import asyncio

    from certcensus.census.build import build_census
    from certcensus.lab.pki import PKI
    from certcensus.probe.fake import FakeProber
    from certcensus.probe.plan import ProbeOptions, build_plan
    from certcensus.probe.scheduler import Scan
    from certcensus.probe.targets import parse_target
    from certcensus.render.as_json import census_to_json
    from certcensus.store import open_store

    pki = PKI()
    root = pki.root("Overhead Root", key_type="ec256")
    leaf = pki.leaf(["overhead.test"], root, key_type="ec256")
    chain = (leaf.der, root.der)
    began = time.process_time()
    names = [f"{a}:443" for a in loopback_addresses(n)] if shape == "fleet" else ["127.0.0.1:443"]
    count = 2 if shape == "fleet" else 2 * n
    targets = [parse_target(name, "none") for name in names]
    plan = build_plan(targets, ProbeOptions(), count=count, rate=0, concurrency=64)
    prober = FakeProber(lambda call: chain)
    with open_store(db) as store:
        run = store.start_run("scan", names)
        asyncio.run(Scan(plan, store, run, probers={"default": prober}).run())
        store.finish_run(run)
        census = build_census(store, names, [run])
        text = census_to_json(census)
    cpu = time.process_time() - began
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cpu": cpu, "rss": rss, "probes": sum(t.probes for t in census.targets),
                      "json": len(text)}))  # fmt: skip


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == CHILD:
        child(sys.argv[2], int(sys.argv[3]), Path(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline-src", default=None)
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args()
    machine_before = machine_line()
    began = time.monotonic()
    contenders = [("this tree", None)]
    if options.baseline_src:
        contenders.insert(0, ("baseline", options.baseline_src))
    work = Path(tempfile.mkdtemp(prefix="certcensus-bench-overhead-"))
    samples: dict[tuple[str, str], list[dict]] = {}
    for _ in range(options.repeat):
        for name, source in contenders:
            for shape in ("fleet", "single"):
                env = dict(os.environ)
                env["PYTHONPATH"] = os.pathsep.join(
                    [p for p in (source, str(Path(__file__).parent)) if p]
                )
                db = work / f"{shape}.sqlite"
                db.unlink(missing_ok=True)
                out = subprocess.run(
                    [sys.executable, __file__, CHILD, shape, str(options.targets), str(db)],
                    env=env, capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
                result = json.loads(out.strip().splitlines()[-1])
                samples.setdefault((name, shape), []).append(result)
                print(f"  {name} {shape}: {result['cpu']:.2f} s CPU, {result['rss']:.0f} MB",
                      flush=True)  # fmt: skip
    n = options.targets
    lines = [
        "## Coordinator overhead per target, no network (`bench/bench_overhead.py`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {time.monotonic() - began:.0f} s; "
        f"medians of {options.repeat} interleaved repetitions. {machine_before}.",
        "",
        f"In-process plan + scheduler + SQLite store + census + JSON with FakeProber (every probe "
        f"answers at once): fleet = {n:,} targets x 2 probes, single = 1 target x {2 * n:,} "
        "probes; CPU from time.process_time of that process (PKI set-up left out), peak RSS "
        "from getrusage.",
        "",
        "| contender | fleet CPU | fleet peak RSS | single CPU | single peak RSS | overhead per target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    verdict = ""
    for name, _ in contenders:
        fleet = samples[(name, "fleet")]
        single = samples[(name, "single")]
        f_cpu = statistics.median(r["cpu"] for r in fleet)
        s_cpu = statistics.median(r["cpu"] for r in single)
        overhead = (f_cpu - s_cpu) / n
        lines.append(
            f"| {name} | {f_cpu:.2f} s | {statistics.median(r['rss'] for r in fleet):.0f} MB | "
            f"{s_cpu:.2f} s | {statistics.median(r['rss'] for r in single):.0f} MB | "
            f"{overhead * 1000:.3f} ms |"
        )
        if name == "this tree":
            verdict = (
                f"- Overhead per target: {overhead * 1000:.3f} ms (target <= 0.05 ms: "
                f"**{'met' if overhead <= 0.05e-3 else 'NOT met'}**)."
            )
    lines += ["", verdict]
    print("\n".join(lines))
    if not options.no_record:
        replace_section("overhead", "\n".join(lines))


if __name__ == "__main__":
    main()
