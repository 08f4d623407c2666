"""How long one scrape of `certcensus exporter` takes: GET /probe?count=20 against a local nginx.

Contenders, interleaved (each once, then all again), against the same nginx (RSA-2048 leaf +
intermediate, every connection a full handshake: bench/nginx.py):

  (a) certcensus exporter /probe?count=20 (a census of 20 probes, judged against the bench
      root, verifying: the README's module);
  (b) certcensus exporter /probe?count=1;
  (c) blackbox_exporter /probe with a tcp module, tls: true, the bench root as ca_file (one
      connection, Debian's prometheus-blackbox-exporter), when installed;
  (d) `certcensus scan --count 20 --rate 0` as a command (start-up included): what a cron job
      would pay for the same census.

Each /probe is timed from the request to the last byte of the answer (urllib, keep-alive off),
as Prometheus experiences a scrape. Medians and the 90th percentile are recorded between
`<!-- exporter:start -->` and `<!-- exporter:end -->` in bench/RESULTS.md.

    .venv/bin/python bench/bench_exporter.py            # ~1 minute
    .venv/bin/python bench/bench_exporter.py --no-record --requests 10
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from certcensus.lab.pki import PKI, write_server_files  # noqa: E402
from nginx import NginxServer, free_loopback_port, wait_for_port  # noqa: E402
from results import write_between  # noqa: E402

START, END = "<!-- exporter:start -->", "<!-- exporter:end -->"
GOAL_SECONDS = 1.0  # issue 14: /probe with count=20 against the local nginx answers in < 1 s
BLACKBOX = shutil.which("prometheus-blackbox-exporter")


def started(command: list[str], port: int, cwd: Path | None = None) -> subprocess.Popen:
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, cwd=cwd)  # fmt: skip
    wait_for_port("127.0.0.1", port, process, 30.0)
    return process


def scrape_seconds(url: str) -> tuple[float, str]:
    begun = time.perf_counter()
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=30) as response:
        body = response.read().decode()
    return time.perf_counter() - begun, body


def scan_seconds(port: int, root: Path, db: Path) -> tuple[float, str]:
    command = [sys.executable, "-m", "certcensus", "scan", f"127.0.0.1:{port}", "--starttls",
               "none", "--count", "20", "--rate", "0", "--db", str(db), "--json", "-q",
               "--trust-store", f"bench={root}", "--sni", "bench.example"]  # fmt: skip
    begun = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return time.perf_counter() - begun, result.stdout if result.returncode in (0, 1) else ""


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30, help="scrapes per contender")
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    arguments = parser.parse_args()
    began = time.monotonic()
    load_before = os.getloadavg()
    scratch = Path(tempfile.mkdtemp(prefix="certcensus-bench-exporter-"))
    pki = PKI()
    root = pki.root("Bench Root", key_type="rsa2048")
    intermediate = pki.intermediate("Bench Intermediate", root, key_type="rsa2048")
    leaf = pki.leaf(["bench.example", "127.0.0.1"], intermediate, key_type="rsa2048")
    certificate, key = write_server_files(scratch, leaf, [intermediate], "rsa2048")
    root_pem = scratch / "root.pem"
    root_pem.write_bytes(root.pem)
    config = scratch / "exporter.toml"
    config.write_text(f'[modules.default]\ntrust_stores = ["bench={root_pem}"]\n'
                      f'sni = "bench.example"\ncount = 20\n')  # fmt: skip
    times: dict[str, list[float]] = {"a": [], "b": [], "c": [], "d": []}
    bad: dict[str, int] = {name: 0 for name in times}
    processes = []
    with NginxServer(certificate, key) as server:
        target = f"127.0.0.1:{server.port}"
        exporter_port = free_loopback_port()
        processes.append(started([sys.executable, "-m", "certcensus", "exporter", "--listen",
                                  f"127.0.0.1:{exporter_port}", "--config", str(config)],
                                 exporter_port))  # fmt: skip
        urls = {
            "a": f"http://127.0.0.1:{exporter_port}/probe?target={target}&count=20",
            "b": f"http://127.0.0.1:{exporter_port}/probe?target={target}&count=1",
        }
        if BLACKBOX:
            blackbox_port = free_loopback_port()
            (scratch / "blackbox.yml").write_text(
                "modules:\n  tls_connect:\n    prober: tcp\n    timeout: 5s\n    tcp:\n"
                f"      tls: true\n      tls_config:\n        ca_file: {root_pem}\n"
                "        server_name: bench.example\n"
            )
            processes.append(started([BLACKBOX, f"--config.file={scratch / 'blackbox.yml'}",
                                      f"--web.listen-address=127.0.0.1:{blackbox_port}"],
                                     blackbox_port))  # fmt: skip
            urls["c"] = f"http://127.0.0.1:{blackbox_port}/probe?target={target}&module=tls_connect"
        try:
            for url in urls.values():  # warm-up: trust stores, TLS contexts, first imports
                scrape_seconds(url)
            for number in range(arguments.requests):
                for name, url in urls.items():
                    seconds, body = scrape_seconds(url)
                    times[name].append(seconds)
                    bad[name] += "probe_success 1" not in body
                if number % 5 == 0:  # the command is slow; a third as many runs of it
                    seconds, out = scan_seconds(
                        server.port, root_pem, scratch / f"s{number}.sqlite"
                    )
                    times["d"].append(seconds)
                    bad["d"] += '"ok": 20' not in out
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=10)
    elapsed = time.monotonic() - began
    lines = report(times, bad, load_before, os.getloadavg(), elapsed, arguments.requests)
    print("\n".join(lines))
    if not arguments.no_record:
        record(HERE / "RESULTS.md", "\n".join(lines))
        print(f"wrote the exporter section of {HERE / 'RESULTS.md'}")


def report(times, bad, load_before, load_after, elapsed, requests) -> list[str]:
    names = {
        "a": "certcensus exporter /probe?count=20",
        "b": "certcensus exporter /probe?count=1",
        "c": "blackbox_exporter /probe (tcp, tls)",
        "d": "certcensus scan --count 20 (command)",
    }
    median = {name: statistics.median(v) for name, v in times.items() if v}
    lines = [
        START,
        "## Exporter scrape time (`bench/bench_exporter.py`)",
        "",
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {elapsed:.0f} s in all; {requests} "
        "scrapes per exporter contender, interleaved (each once, then all again); the scan "
        "command every fifth round. **A shared machine**: other work ran at the same time.",
        "",
        f"- Machine: {os.cpu_count()} cores; load average {' '.join(f'{x:.2f}' for x in load_before)} "
        f"at the start, {' '.join(f'{x:.2f}' for x in load_after)} at the end.",
        f"- Python {platform.python_version()} ({ssl.OPENSSL_VERSION}); nginx (worker_processes 1, "
        "no session resumption) on 127.0.0.1, RSA-2048 leaf + intermediate, on the same cores.",
        "- Each scrape timed from the request to the last byte of the answer, a new connection each.",
        "",
        "| contender | median | p90 | min | max | runs | not probe_success 1 / not ok |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, label in names.items():
        values = times[name]
        if not values:
            lines.append(f"| {label} | not run (not installed) | | | | 0 | |")
            continue
        lines.append(
            f"| {label} | {median[name] * 1000:.0f} ms | {percentile(values, 0.9) * 1000:.0f} ms | "
            f"{min(values) * 1000:.0f} ms | {max(values) * 1000:.0f} ms | {len(values)} | {bad[name]} |"
        )
    lines.append("")
    if "a" in median:
        met = median["a"] < GOAL_SECONDS and percentile(times["a"], 0.9) < GOAL_SECONDS
        lines.append(f"Issue 14's goal, /probe with count=20 against the local nginx in under 1 s: "
                     f"{'**met**' if met else '**NOT met**'} (median {median['a'] * 1000:.0f} ms, "
                     f"p90 {percentile(times['a'], 0.9) * 1000:.0f} ms).")  # fmt: skip
        ratios = []
        if "c" in median:
            ratios.append(f"{median['a'] / median['c']:.1f}x blackbox_exporter's one-connection "
                          "probe")  # fmt: skip
        if "d" in median:
            ratios.append(f"{median['d'] / median['a']:.1f}x faster than the same census as a "
                          "command (its start-up dominates)")  # fmt: skip
        if "b" in median:
            per_probe = (median["a"] - median["b"]) / 19 * 1000
            ratios.append(f"each probe past the first adds ~{per_probe:.1f} ms")
        if ratios:
            lines.append("Ratios of medians: count=20 takes " + "; ".join(ratios) + ".")
    lines.append(END)
    return lines


def record(path: Path, section: str) -> None:
    write_between(path, START, END, section)


if __name__ == "__main__":
    socket.setdefaulttimeout(30)
    main()
