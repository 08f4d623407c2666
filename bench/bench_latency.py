"""Benchmark: throughput against a slow service, for C = 8, 64, 256, 1024 probes in flight.

    .venv/bin/python bench/bench_latency.py                       # ~5 min
    .venv/bin/python bench/bench_latency.py --baseline-src /path/to/old/src --no-record

The kernel here has no `tc netem`, so the delay is HAProxy's (Debian's haproxy):
`tcp-request inspect-delay 200ms` + `tcp-request content accept if WAIT_END` holds each
connection's first bytes (the ClientHello) for 200 ms before passing them to nginx, so every
probe takes ~200 ms of waiting and a fraction of a millisecond of work. Everything runs in a
network namespace of its own (private_network.py); HAProxy listens on 0.0.0.0 there, so the
1,000 targets are 1,000 distinct loopback addresses 127.0.0.1 ... on one port.

For each C: `certcensus scan ADDR1:PORT ... ADDR1000:PORT --starttls none --rate 0 --count 20
--concurrency C --duration 30s --db DB --json -q` (1,000 targets x 20 probes; the duration
caps the small C, which would take minutes). Throughput = ok probes / (last start - first
start) from the database; the ideal is C / L, L being the median stored connect + handshake of
a 20-probe run at C=1 (the server's time: HAProxy's delay plus nginx). The CPU bound is one
core / the CPU per probe of certcensus (wait4 of the scan process / probes): the most a single
process could do with a core to itself. Target (issue 16): throughput >= 80% of
min(C / L, CPU bound).

With --baseline-src, the same runs with that tree's certcensus first (PYTHONPATH), for the
before/after curve in the same conditions.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from certcensus.lab.pki import PKI, write_server_files
from nginx import NginxServer, free_loopback_port, wait_for_port
from private_network import enter_private_network, loopback_addresses
from results import machine_line, replace_section, run_measured

HAPROXY = "/usr/sbin/haproxy"
HAPROXY_CONFIG = """\
global
    maxconn 8000
    pidfile {prefix}/haproxy.pid
defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend delayed
    bind 0.0.0.0:{port}
    tcp-request inspect-delay {delay_ms}ms
    tcp-request content accept if WAIT_END
    default_backend nginx
backend nginx
    server nginx 127.0.0.1:{backend_port}
"""


class DelayingProxy:
    def __init__(self, backend_port: int, delay_ms: int):
        self.backend_port, self.delay_ms = backend_port, delay_ms
        self.port = 0
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> DelayingProxy:
        self._dir = tempfile.TemporaryDirectory(prefix="certcensus-bench-haproxy-")
        self.port = free_loopback_port()
        config = Path(self._dir.name) / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(prefix=self._dir.name, port=self.port,
                                                delay_ms=self.delay_ms,
                                                backend_port=self.backend_port))  # fmt: skip
        self._process = subprocess.Popen([HAPROXY, "-db", "-f", str(config)],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        wait_for_port("127.0.0.1", self.port, self._process, 15.0)
        return self

    def __exit__(self, *exc_info) -> None:
        if self._process:
            self._process.terminate()
            self._process.wait(timeout=10)
        self._dir.cleanup()


def scan(targets, concurrency, count, duration, db: Path, source: str | None):
    env = dict(os.environ)
    if source:
        env["PYTHONPATH"] = source
    command = [sys.executable, "-m", "certcensus", "scan", *targets, "--starttls", "none",
               "--rate", "0", "--count", str(count), "--concurrency", str(concurrency),
               "--duration", f"{duration}s", "--timeout", "10", "--db", str(db), "--json", "-q"]  # fmt: skip
    db.unlink(missing_ok=True)
    wall, cpu, rss, _ = run_measured(command, stdout=subprocess.DEVNULL, env=env)
    connection = sqlite3.connect(db)
    tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
    if "texts" in tables:  # schema 3 keeps outcomes as keys
        rows = connection.execute(
            "SELECT x.value, p.started_at, p.connect_seconds, p.handshake_seconds FROM probes p "
            "JOIN texts x ON x.text_key = p.outcome_key"
        ).fetchall()
    else:
        rows = connection.execute(
            "SELECT outcome, started_at, connect_seconds, handshake_seconds FROM probes"
        ).fetchall()
    ok = [r for r in rows if r[0] == "ok"]
    starts = sorted(r[1] for r in ok)
    span = starts[-1] - starts[0] if len(starts) > 1 else float("nan")
    server_time = statistics.median(r[2] + r[3] for r in ok) if ok else float("nan")
    return {
        "ok": len(ok), "failed": len(rows) - len(ok), "rate": (len(ok) - 1) / span,
        "wall": wall, "cpu_per_probe": cpu / max(1, len(rows)), "rss": rss,
        "server_time": server_time,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="8,64,256,1024")
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--duration", type=int, default=30)
    parser.add_argument("--delay-ms", type=int, default=200)
    parser.add_argument(
        "--baseline-src", default=None, help="a src/ folder of other certcensus code"
    )
    parser.add_argument("--no-record", action="store_true")
    options = parser.parse_args()
    enter_private_network()
    machine_before = machine_line()
    began = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="certcensus-bench-latency-"))
    pki = PKI()
    root = pki.root("Latency Root", key_type="ec256")
    leaf = pki.leaf(["latency.test"], root, key_type="ec256")
    cert, key = write_server_files(work, leaf, [], "server")
    levels = [int(c) for c in options.concurrency.split(",")]
    contenders = [("this tree", None)]
    if options.baseline_src:
        contenders.insert(0, ("baseline", options.baseline_src))
    results: dict[tuple[str, int], dict] = {}
    with (
        NginxServer(cert, key, listen="127.0.0.1") as nginx,
        DelayingProxy(nginx.port, options.delay_ms) as proxy,
    ):
        targets = [f"{a}:{proxy.port}" for a in loopback_addresses(options.targets)]
        latency = scan(targets[:1], 1, 20, 60, work / "l.sqlite", None)["server_time"]
        print(f"L (median connect + handshake at C=1): {latency * 1000:.1f} ms", flush=True)
        for concurrency in levels:
            for name, source in contenders:
                result = scan(targets, concurrency, options.count, options.duration,
                              work / "s.sqlite", source)  # fmt: skip
                results[(name, concurrency)] = result
                print(f"  {name} C={concurrency}: {result['rate']:.0f}/s ({result['ok']} ok, "
                      f"{result['failed']} failed), {result['cpu_per_probe'] * 1000:.2f} ms CPU "
                      f"per probe, server time p50 {result['server_time'] * 1000:.1f} ms",
                      flush=True)  # fmt: skip
    lines = [
        "## Latency-bound throughput (`bench/bench_latency.py`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {time.monotonic() - began:.0f} s; "
        f"one run per point. {machine_before}.",
        "",
        f"HAProxy 2.6 (`tcp-request inspect-delay {options.delay_ms}ms`, no tc netem in this "
        f"kernel) in front of nginx, in a private network namespace; {options.targets} targets "
        f"(distinct 127.x.y.z, one port) x {options.count} probes, `--rate 0 --concurrency C`, "
        f"at most {options.duration} s a run. L = {latency * 1000:.0f} ms (median stored connect "
        "+ handshake at C=1). CPU bound = 1 / (CPU per probe of the scan process). Target: >= 80% "
        "of min(C / L, CPU bound).",
        "",
        "| C | contender | probes/s | C / L | CPU bound | share of min(C/L, CPU bound) | CPU ms / probe | peak RSS | failed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for concurrency in levels:
        for name, _ in contenders:
            r = results[(name, concurrency)]
            ideal = concurrency / latency
            cpu_bound = 1 / r["cpu_per_probe"]
            share = r["rate"] / min(ideal, cpu_bound)
            mark = "" if name != "this tree" else (" **met**" if share >= 0.8 else " **NOT met**")
            lines.append(
                f"| {concurrency} | {name} | {r['rate']:.0f} | {ideal:.0f} | {cpu_bound:.0f} | "
                f"{share:.0%}{mark} | {r['cpu_per_probe'] * 1000:.2f} | {r['rss']:.0f} MB | {r['failed']} |"
            )
    print("\n".join(lines))
    if not options.no_record:
        replace_section("latency", "\n".join(lines))


if __name__ == "__main__":
    main()
