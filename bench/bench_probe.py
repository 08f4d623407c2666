"""Benchmark: TLS probes per second against a local nginx, certcensus vs openssl.

Starts nginx (Debian package) on a loopback high port with session resumption off, serving a
leaf + intermediate chain built with certcensus.lab.pki, once with an RSA-2048 leaf and once with
an ECDSA P-256 leaf, and measures on each, repetitions interleaved so the noise of a shared
machine falls on every contender alike:

  (a) `certcensus scan` (one command) with --workers 0 (probes in the certcensus process, the
      default), 2 and 3 (probes in that many worker processes the command starts and reaps), at
      the default --concurrency (64) and at 128;
  (a') the same with `--engine native` (issue 15's chain-capture engine), --workers 0 and 2;
  (b) a sequential shell loop of `openssl s_client -connect ... -servername x </dev/null`;
  (c) `openssl s_time -connect ... -new -time T` (connections/s as it reports them).

Prints medians and the ratios certcensus/s_client and certcensus/s_time, checks the targets of
issue 2 (>= 1,000 probes/s from one certcensus command, >= 15x the s_client loop) on the
OpenSSL engine and of issue 15 (native >= 3x `s_time -new` wall, <= 0.35 ms of client CPU per
probe at --workers 0), profiles a native scan to say where its time goes, and writes the "Probe
throughput" and "Native engine" sections of bench/RESULTS.md. `--memory-probes N` adds a long
native run of N probes with its peak RSS (section "Native engine: memory").

    .venv/bin/python bench/bench_probe.py [--quick] [--workers 0,2] [--concurrency 64]
        [--nginx-workers 1|auto] [--repeat N] [--no-record]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

import native_report  # noqa: E402
from certcensus.lab.pki import PKI, write_server_files  # noqa: E402
from native_memory import measure_memory  # noqa: E402
from native_profile import profile_native_scan  # noqa: E402
from nginx import NGINX, NginxServer  # noqa: E402
from probe_report import write_section  # noqa: E402
from probe_runners import (  # noqa: E402
    Measurement,
    certcensus_command,
    certcensus_label,
    run_certcensus,
    run_s_client_loop,
    run_s_time,
    s_client_loop_script,
    s_time_command,
)

HERE = Path(__file__).resolve().parent
DEFAULT_CONCURRENCY = 64  # certcensus scan's default
TARGET_PROBES_PER_SECOND = 1000.0
TARGET_RATIO_TO_S_CLIENT = 15.0
KEY_TYPES = {"rsa2048": "RSA-2048", "ec256": "ECDSA P-256"}


class Setup(NamedTuple):
    """One way of running certcensus: `--workers`, `--concurrency` and `--engine`."""

    workers: int
    concurrency: int
    engine: str = "openssl"

    @property
    def label(self) -> str:
        return certcensus_label(self.workers, self.concurrency, self.engine)

    @property
    def processes(self) -> str:
        """What "one command" means for this setup."""
        if not self.workers:
            return "one process"
        return f"1 parent + {self.workers} worker processes"


@dataclass(frozen=True)
class Settings:
    """How much work each repetition does; `--quick` shrinks everything for a ~35 s run."""

    repeat: int
    setups: tuple[Setup, ...]
    certcensus_seconds: float  # --duration of each certcensus run
    s_client_iterations: int  # s_client processes per loop run
    s_time_seconds: int

    @classmethod
    def full(cls) -> Settings:
        setups = (
            Setup(0, 64),
            Setup(0, 128),
            Setup(2, 64),
            Setup(2, 128),
            Setup(3, 64),
            Setup(0, 64, "native"),
            Setup(0, 128, "native"),
            Setup(2, 64, "native"),
        )
        return cls(repeat=3, setups=setups, certcensus_seconds=3,
                   s_client_iterations=60, s_time_seconds=3)  # fmt: skip

    @classmethod
    def quick(cls) -> Settings:
        return cls(repeat=3, setups=(Setup(0, 64), Setup(2, 64), Setup(0, 64, "native")), certcensus_seconds=1,
                   s_client_iterations=20, s_time_seconds=1)  # fmt: skip


@dataclass
class KeyResults:
    """Every measurement made against one nginx (one leaf key type)."""

    key_type: str
    certcensus: dict[Setup, list[Measurement]] = field(default_factory=dict)
    s_client: list[Measurement] = field(default_factory=list)
    s_time: list[Measurement] = field(default_factory=list)
    native_profile: object = None  # native_profile.ProfileSummary of one native scan

    def median(self, runs: list[Measurement], attribute: str = "rate") -> float:
        return statistics.median(getattr(run, attribute) for run in runs)

    def known_median(self, runs: list[Measurement], attribute: str) -> float | None:
        """The median over the runs where `attribute` is known (not None)."""
        values = [getattr(run, attribute) for run in runs]
        values = [value for value in values if value is not None]
        return statistics.median(values) if values else None

    def certcensus_median(self, setup: Setup) -> float:
        return self.median(self.certcensus[setup])

    def of_engine(self, engine: str) -> KeyResults:
        """These results with only the certcensus setups of one engine."""
        kept = {setup: runs for setup, runs in self.certcensus.items() if setup.engine == engine}
        return replace(self, certcensus=kept)

    @property
    def best_setup(self) -> Setup:
        return max(self.certcensus, key=self.certcensus_median)

    def best_with_workers(self, workers: int) -> Setup:
        """The fastest concurrency measured with this many workers."""
        setups = [setup for setup in self.certcensus if setup.workers == workers]
        return max(setups, key=self.certcensus_median)

    @property
    def failures(self) -> list[str]:
        """One line per run where some probe or connection did not succeed."""
        lines = []
        every = (
            [run for runs in self.certcensus.values() for run in runs] + self.s_client + self.s_time
        )
        for run in every:
            if run.failed:
                lines.append(f"{KEY_TYPES[self.key_type]}: {run.label}: {run.failed} of "
                             f"{run.attempts} failed {run.failure_detail}".rstrip())  # fmt: skip
        return lines


def build_server_files(directory: Path, key_type: str) -> tuple[Path, Path]:
    """Root -> intermediate -> leaf, all of `key_type`; nginx serves leaf + intermediate."""
    pki = PKI()
    root = pki.root(f"Bench Root {key_type}", key_type=key_type)
    intermediate = pki.intermediate(f"Bench Intermediate {key_type}", root, key_type=key_type)
    leaf = pki.leaf(["bench.example", "127.0.0.1"], intermediate, key_type=key_type)
    return write_server_files(directory, leaf, [intermediate], key_type)


def measure_one_server(key_type: str, settings: Settings, nginx_workers: str,
                       scratch: Path) -> KeyResults:  # fmt: skip
    certificate, key = build_server_files(scratch, key_type)
    results = KeyResults(key_type)
    with NginxServer(certificate, key, workers=nginx_workers) as server:
        port = server.port
        print(
            f"{KEY_TYPES[key_type]}: nginx on 127.0.0.1:{port} (worker_processes {nginx_workers})"
        )
        # One short unmeasured run first: page in certcensus's imports and nginx's key.
        warmup = run_certcensus(port, 0.3, DEFAULT_CONCURRENCY, scratch / "warmup.sqlite")
        if warmup.failed:
            raise SystemExit(
                f"bench_probe: certcensus fails against nginx: {warmup.failure_detail}"
            )
        # The CPU of a near-empty run (interpreter, imports, starting the workers, SQLite, census)
        # is subtracted from each run's, so "client CPU per probe" is what one more probe costs.
        start_up = {}
        for workers, engine in sorted({(setup.workers, setup.engine) for setup in settings.setups}):
            start_up[workers, engine] = with_cpu(server, run_certcensus, port, 0.01, DEFAULT_CONCURRENCY,
                                                 scratch / "start-up.sqlite", workers, engine)  # fmt: skip
            run = start_up[workers, engine]
            print(f"  certcensus --workers {workers} --engine {engine} start-up and census: "
                  f"{run.client_cpu_seconds:.2f} s of CPU ({run.successes} probes in "
                  f"{run.seconds:.2f} s)")  # fmt: skip
        for attempt in range(1, settings.repeat + 1):
            for setup in settings.setups:
                database = (
                    scratch / f"{key_type}-{setup.workers}-{setup.concurrency}-{attempt}.sqlite"
                )
                fixed = start_up[setup.workers, setup.engine]
                run = with_cpu(server, run_certcensus, port, settings.certcensus_seconds,
                               setup.concurrency, database, setup.workers, setup.engine,
                               client_fixed=fixed.client_cpu_seconds,
                               workers_fixed=fixed.workers_cpu_seconds or 0.0)  # fmt: skip
                results.certcensus.setdefault(setup, []).append(run)
                _print_run(attempt, run)
            run = with_cpu(server, run_s_client_loop, port, settings.s_client_iterations)
            results.s_client.append(run)
            _print_run(attempt, run)
            run = with_cpu(server, run_s_time, port, settings.s_time_seconds)
            results.s_time.append(run)
            _print_run(attempt, run)
        if any(setup.engine == "native" for setup in settings.setups):
            results.native_profile = profile_native_scan(port, scratch)
    return results


def with_cpu(server: NginxServer, runner, *arguments, client_fixed: float = 0.0,
             workers_fixed: float = 0.0) -> Measurement:  # fmt: skip
    """Run one contender and add the CPU it and nginx used; `client_fixed` is the part of the
    client's that does not depend on the number of probes (start-up, census), `workers_fixed`
    the part of that spent by certcensus's worker processes."""
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = server.cpu_seconds()
    run = runner(*arguments)
    server_seconds = server.cpu_seconds() - server_before
    client_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # RUSAGE_CHILDREN counts descendants once waited for: certcensus and the worker processes it
    # starts and waits for (--workers), s_time, bash and its openssl processes; not nginx, which
    # is still running (its CPU is read from /proc).
    client_seconds = (client_after.ru_utime - client_before.ru_utime
                      + client_after.ru_stime - client_before.ru_stime)  # fmt: skip
    return replace(run, client_cpu_seconds=client_seconds, client_fixed_seconds=client_fixed,
                   workers_fixed_seconds=workers_fixed, server_cpu_seconds=server_seconds)  # fmt: skip


def _print_run(attempt: int, run: Measurement) -> None:
    extra = f" ({run.failed} FAILED)" if run.failed else ""
    print(f"  run {attempt}: {run.label:<28} {run.rate:8.1f} /s{run.note}{extra}", flush=True)


def machine_description(workers: str) -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    nginx = subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip()
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "python": f"{platform.python_implementation()} {platform.python_version()} ({ssl.OPENSSL_VERSION})",
        "openssl": openssl,
        "nginx": f"{nginx.replace('nginx version: ', '')}, worker_processes {workers}",
        "load": " ".join(f"{value:.2f}" for value in os.getloadavg()),
    }


def check_prerequisites() -> None:
    missing = [tool for tool in (NGINX, "openssl", "bash") if not shutil.which(tool)]
    if missing:
        raise SystemExit(
            f"bench_probe: missing {', '.join(missing)}; run ./scripts/install-debian-packages.sh"
        )


def _met(met: bool) -> str:
    return "met" if met else "NOT met"


def summary_lines(all_results: list[KeyResults]) -> list[str]:
    lines = []
    for results in (r.of_engine("openssl") for r in all_results):
        if not results.certcensus:
            continue
        name = KEY_TYPES[results.key_type]
        s_client = results.median(results.s_client)
        s_time = results.median(results.s_time, "reported_rate")
        s_time_wall = results.median(results.s_time)
        per_setup = ", ".join(f"{setup.label} {results.certcensus_median(setup):.0f}/s"
                              for setup in results.certcensus)  # fmt: skip
        lines.append(f"{name}: {per_setup}; s_client loop {s_client:.1f}/s; s_time "
                     f"{s_time:.0f}/s reported ({s_time_wall:.0f}/s wall)")  # fmt: skip
        best = results.best_setup
        best_rate = results.certcensus_median(best)
        lines.append(
            f"{name}: best {best.label} ({best.processes}) {best_rate:.0f}/s = "
            f"{best_rate / s_client:.1f}x s_client, {best_rate / s_time:.2f}x s_time reported; "
            f">= {TARGET_PROBES_PER_SECOND:.0f}/s from one command "
            f"{_met(best_rate >= TARGET_PROBES_PER_SECOND)}, >= {TARGET_RATIO_TO_S_CLIENT:.0f}x "
            f"s_client {_met(best_rate / s_client >= TARGET_RATIO_TO_S_CLIENT)}"
        )
    return lines


def parse_numbers(text: str | None) -> list[int] | None:
    return [int(item) for item in text.split(",")] if text else None


def chosen_setups(settings: Settings, workers: list[int] | None,
                  concurrencies: list[int] | None, engines: list[str]) -> tuple[Setup, ...]:  # fmt: skip
    """The settings' setups of `engines`, or the cross product of --workers, --concurrency and
    the engines when given."""
    if not workers and not concurrencies:
        return tuple(setup for setup in settings.setups if setup.engine in engines)
    workers = workers or sorted({setup.workers for setup in settings.setups})
    concurrencies = concurrencies or [DEFAULT_CONCURRENCY]
    return tuple(Setup(w, c, e) for e in engines for w in workers for c in concurrencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="~35 s instead of ~3 minutes")
    parser.add_argument("--workers", help="certcensus --workers values, e.g. 0,2,3 (with "
                        "--concurrency, replaces the built-in list of setups)")  # fmt: skip
    parser.add_argument("--concurrency", help="certcensus --concurrency values, e.g. 64,128")
    parser.add_argument("--nginx-workers", default="1",
                        help="nginx worker_processes: 1 (default) or auto")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=None, help="repetitions of each measurement")
    parser.add_argument("--engines", default="openssl,native",
                        help="certcensus --engine values measured (default: both)")  # fmt: skip
    parser.add_argument("--memory-probes", type=int, default=0,
                        help="also make one native run of this many probes and record its peak RSS")  # fmt: skip
    parser.add_argument("--no-record", action="store_true", help="do not write bench/RESULTS.md")
    parser.add_argument("--sections", default="probe,native",
                        help="sections of RESULTS.md to write: probe, native or both (default)")  # fmt: skip
    options = parser.parse_args()
    check_prerequisites()
    settings = Settings.quick() if options.quick else Settings.full()
    if options.repeat:
        settings = replace(settings, repeat=options.repeat)
    settings = replace(
        settings,
        setups=chosen_setups(
            settings,
            parse_numbers(options.workers),
            parse_numbers(options.concurrency),
            options.engines.split(","),
        ),
    )
    machine = machine_description(options.nginx_workers)
    print(f"{machine['nproc']} cores, {machine['cpu']}; load average {machine['load']}")
    started = time.perf_counter()
    all_results = []
    with tempfile.TemporaryDirectory(prefix="certcensus-bench-probe-") as temporary:
        for key_type in KEY_TYPES:
            scratch = Path(temporary) / key_type
            scratch.mkdir()
            all_results.append(
                measure_one_server(key_type, settings, options.nginx_workers, scratch)
            )
    elapsed = time.perf_counter() - started
    machine["load_end"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\nmedians of {settings.repeat} runs, benchmark took {elapsed:.0f} s:")
    for line in summary_lines(all_results):
        print("  " + line)
    for line in native_report.summary_lines(all_results, KEY_TYPES):
        print("  " + line)
    for results in all_results:
        if results.native_profile:
            print(
                f"  {KEY_TYPES[results.key_type]} native scan profile: {results.native_profile.one_line()}"
            )
    memory = (
        measure_memory(options.memory_probes, Path(tempfile.gettempdir()))
        if options.memory_probes
        else None
    )
    if memory:
        print("  " + memory.one_line())
    failures = [line for results in all_results for line in results.failures]
    for line in failures:
        print("  FAILED PROBES: " + line)
    if not options.no_record:
        commands = {
            "certcensus": " ".join(
                [
                    "certcensus",
                    *certcensus_command(
                        "PORT", settings.certcensus_seconds, "C", "/tmp/x.sqlite", "W"
                    )[1:],
                ]
            ),
            "s_client": s_client_loop_script("PORT", "N"),
            "s_time": " ".join(s_time_command("PORT", settings.s_time_seconds)),
        }
        openssl_results = [results.of_engine("openssl") for results in all_results]
        openssl_settings = replace(
            settings, setups=tuple(s for s in settings.setups if s.engine == "openssl")
        )
        sections = options.sections.split(",")
        if openssl_settings.setups and "probe" in sections:
            write_section(HERE / "RESULTS.md", openssl_results, openssl_settings, machine, commands, elapsed,
                          quick=options.quick, targets=(TARGET_PROBES_PER_SECOND, TARGET_RATIO_TO_S_CLIENT),
                          default=Setup(0, DEFAULT_CONCURRENCY), key_names=KEY_TYPES)  # fmt: skip
            print(f"wrote the probe section of {HERE / 'RESULTS.md'}")
        if "native" in sections and any(setup.engine == "native" for setup in settings.setups):
            native_report.write_native_section(HERE / "RESULTS.md", all_results, settings, machine,
                                               elapsed, quick=options.quick, key_names=KEY_TYPES)  # fmt: skip
            print(f"wrote the native section of {HERE / 'RESULTS.md'}")
        if memory:
            native_report.write_memory_section(HERE / "RESULTS.md", memory, machine)
            print(f"wrote the native memory section of {HERE / 'RESULTS.md'}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
