"""The "Native engine" sections of bench/RESULTS.md (markers `native` and `native-memory`):
issue 15's chain-capture engine against the OpenSSL engine, `s_time -new` and the s_client loop,
measured in the same interleaved run as the probe section, with the targets and, from a profile
of one native scan, where its time goes."""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path

from results import write_between

TARGET_RATIO_TO_S_TIME_WALL = 3.0
TARGET_CLIENT_CPU_MS = 0.35
TARGET_PEAK_RSS_MIB = 150
RSA_NOTE = (
    "With an RSA leaf nginx still signs the TLS 1.3 CertificateVerify for every probe although "
    "the native engine never reads it: on one nginx worker sharing the client's cores, nginx's "
    "CPU per handshake (the nginx column) bounds every contender alike, so native / s_time wall "
    "is bounded by nginx, not by the client (an ECDSA leaf costs nginx about a third as much)."
)
NATIVE = ("<!-- native:start -->", "<!-- native:end -->")
MEMORY = ("<!-- native-memory:start -->", "<!-- native-memory:end -->")


def replace_section(path: Path, markers: tuple[str, str], body: str) -> None:
    start, end = markers
    write_between(path, start, end, f"{start}\n{body.rstrip()}\n{end}")


def _verdict(met: bool) -> str:
    return "**met**" if met else "**NOT met**"


def _native(results, workers: int = 0, concurrency: int = 64):
    for setup in results.certcensus:
        if (
            setup.engine == "native"
            and setup.workers == workers
            and setup.concurrency == concurrency
        ):
            return setup
    return None


def _openssl(results):
    for setup in results.certcensus:
        if setup.engine == "openssl" and setup.workers == 0 and setup.concurrency == 64:
            return setup
    return None


def _cpu(runs, attribute="client_cpu_ms"):
    values = [getattr(run, attribute) for run in runs if getattr(run, attribute) is not None]
    return statistics.median(values) if values else None


def summary_lines(all_results, key_names) -> list[str]:
    lines = []
    for results in all_results:
        native = _native(results)
        if native is None:
            continue
        name = key_names[results.key_type]
        rate = results.certcensus_median(native)
        s_time_wall = results.median(results.s_time)
        cpu = _cpu(results.certcensus[native])
        openssl = _openssl(results)
        versus = (
            f", {rate / results.certcensus_median(openssl):.2f}x the openssl engine"
            if openssl
            else ""
        )
        lines.append(
            f"{name}: native W=0 {rate:.0f}/s = {rate / s_time_wall:.2f}x s_time wall{versus}; "
            f"client CPU {cpu:.2f} ms/probe; >= {TARGET_RATIO_TO_S_TIME_WALL:.0f}x s_time wall "
            f"{'met' if rate / s_time_wall >= TARGET_RATIO_TO_S_TIME_WALL else 'NOT met'}, <= "
            f"{TARGET_CLIENT_CPU_MS} ms {'met' if cpu <= TARGET_CLIENT_CPU_MS else 'NOT met'}"
        )
    return lines


def write_native_section(
    path: Path, all_results, settings, machine, elapsed, *, quick, key_names
) -> None:
    today = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    native_setups = ", ".join(
        f"W={s.workers} C={s.concurrency}" for s in settings.setups if s.engine == "native"
    )
    lines = [
        "## Native engine (`bench/bench_probe.py`, issue 15)",
        "",
        f"Run {today}{' with `--quick`' if quick else ''}, one run of `bench_probe.py` with the "
        f"OpenSSL-engine setups of the probe section (the whole benchmark took {elapsed:.0f} s; "
        f"medians of {settings.repeat} repetitions, every contender once, then again). Load "
        f"average {machine['load']} at the start, {machine['load_end']} at the end; nginx shares "
        "the 2 cores with the client, as in the probe section.",
        "",
        *_load_warning(machine),
        f"- native: `certcensus scan 127.0.0.1:PORT --starttls none --rate 0 --duration "
        f"{settings.certcensus_seconds:g}s --concurrency C --workers W --engine native ...` with {native_setups};",
        "- openssl engine: the same with `--engine openssl` (W=0 C=64 here; every setup in the "
        "probe section); `s_time -new` and the s_client loop as in the probe section. Rates are "
        "wall-clock rates of the whole command; CPU is per successful probe, less the CPU of a "
        "near-empty run of the same setup.",
        "",
        "| leaf | native W=0 C=64 | native best | openssl engine W=0 C=64 | s_time -new wall (reported) "
        "| s_client loop | native / s_time wall | native / openssl engine |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    cpu_rows, verdicts, profiles = [], [], []
    for results in all_results:
        native = _native(results)
        if native is None:
            continue
        name = key_names[results.key_type]
        natives = [s for s in results.certcensus if s.engine == "native"]
        best = max(natives, key=results.certcensus_median)
        openssl = _openssl(results)
        rate = results.certcensus_median(native)
        openssl_rate = results.certcensus_median(openssl) if openssl else None
        s_time_wall = results.median(results.s_time)
        s_time = results.median(results.s_time, "reported_rate")
        s_client = results.median(results.s_client)
        lines.append(
            f"| {name} | {rate:.0f}/s | {results.certcensus_median(best):.0f}/s (W={best.workers} "
            f"C={best.concurrency}) | {f'{openssl_rate:.0f}/s' if openssl_rate else '-'} | "
            f"{s_time_wall:.0f}/s ({s_time:.0f}/s) | {s_client:.1f}/s | {rate / s_time_wall:.2f}x | "
            f"{f'{rate / openssl_rate:.2f}x' if openssl_rate else '-'} |"
        )
        for setup in [*natives, *([openssl] if openssl else [])]:
            runs = results.certcensus[setup]
            cpu_rows.append(_cpu_row(name, setup.label, runs, results))
        cpu_rows.append(_cpu_row(name, "s_time -new", results.s_time, results))
        cpu_cost = _cpu(results.certcensus[native])
        verdicts.append(
            f"- {name}: native W=0 at {rate / s_time_wall:.2f}x `s_time -new` wall: "
            f"{_verdict(rate / s_time_wall >= TARGET_RATIO_TO_S_TIME_WALL)} (target >= "
            f"{TARGET_RATIO_TO_S_TIME_WALL:.0f}x); client CPU {cpu_cost:.2f} ms per probe at W=0: "
            f"{_verdict(cpu_cost <= TARGET_CLIENT_CPU_MS)} (target <= {TARGET_CLIENT_CPU_MS} ms)."
        )
        if results.native_profile:
            profiles.append(_profile_rows(name, results.native_profile))
    lines += ["", "CPU per successful probe (medians):", "",
              "| leaf | contender | rate | client CPU ms (workers) | nginx CPU ms | cores busy |",
              "| --- | --- | --- | --- | --- | --- |", *cpu_rows, "", RSA_NOTE, "", "Targets of issue 15:", "", *verdicts]  # fmt: skip
    if profiles:
        lines += ["", "Where a native scan's client time goes (`cProfile` of one `--engine native "
                  "--workers 0 --count 5000` scan, each function's own time grouped; shares "
                  "are what to read, since the profiler slows Python calls more than C calls):", "",
                  "| leaf | part | share | ms per probe under cProfile |", "| --- | --- | --- | --- |"]  # fmt: skip
        for rows in profiles:
            lines += rows
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_section(path, NATIVE, "\n".join(lines) + "\n")


def _load_warning(machine) -> list[str]:
    """A load average far above the cores means other work had most of the machine: every
    contender got a fraction of a core, the rates say more about that than about us."""
    cores = int(machine.get("nproc") or 2)
    load = float(machine["load"].split()[0])
    if load <= 1.5 * cores:
        return []
    return [
        f"**This run is not representative**: the load average was {load:.0f} on {cores} cores "
        "(other sessions' test suites ran at the same time), so every contender, nginx included, "
        "got a small and changing share of the CPU; the OpenSSL engine's rates are a tenth of the "
        "probe section's. The rates and their ratios are distorted most (`s_time` is one "
        "process, certcensus another, nginx a third, each descheduled differently); CPU per "
        "probe is distorted least. Run it again on a quiet machine.",
        "",
    ]


def _cpu_row(name, label, runs, results) -> str:
    rate = statistics.median(run.rate for run in runs)
    workers = _cpu(runs, "workers_cpu_ms")
    split = f" ({workers:.2f})" if workers else ""
    return (
        f"| {name} | {label} | {rate:.0f}/s | {_cpu(runs):.2f}{split} | "
        f"{_cpu(runs, 'server_cpu_ms'):.2f} | {statistics.median(r.cores_busy for r in runs):.2f} |"
    )


def _profile_rows(name, profile) -> list[str]:
    rows = []
    for category in sorted(profile.by_category, key=profile.by_category.get, reverse=True):
        rows.append(f"| {name} | {category} | {profile.share(category):.0%} | "
                    f"{profile.ms_per_probe(category):.3f} |")  # fmt: skip
    return rows


def write_memory_section(path: Path, memory, machine) -> None:
    today = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    mib = 1024
    timeline = ", ".join(
        f"{f:.0%}: {memory.rss_at(f) / mib:.0f}" for f in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
    )
    met = memory.peak_kib / mib < TARGET_PEAK_RSS_MIB
    growth = (memory.peak_kib - memory.probing_peak_kib) * 1024 / max(memory.probes, 1)
    lines = [
        "## Native engine: memory of a long run (`bench/bench_probe.py --memory-probes N`)",
        "",
        f"Run {today}: `certcensus scan 127.0.0.1:PORT --starttls none --rate 0 --count "
        f"{memory.probes} --engine native` against the benchmark's nginx (ECDSA P-256), RSS read "
        "from /proc every 0.5 s.",
        "",
        f"- {memory.ok:,} of {memory.probes:,} probes ok; probing took {memory.probing_seconds:.0f} s "
        f"({memory.ok / max(memory.probing_seconds, 1):.0f}/s), the whole command {memory.seconds:.0f} s "
        "(the rest is start-up and the census of the run, built from the store at the end).",
        f"- RSS (MiB) through the probing phase, by share of it done: {timeline}.",
        f"- Peak RSS while probing {memory.probing_peak_kib / mib:.0f} MiB: "
        f"{_verdict(memory.probing_peak_kib / mib < TARGET_PEAK_RSS_MIB)} (target < "
        f"{TARGET_PEAK_RSS_MIB} MiB). Peak of the whole command (VmHWM, the census at the end "
        f"included) {memory.peak_kib / mib:.0f} MiB: {_verdict(met)}.",
        "- What grows after the last probe is not the prober: RSS is flat while probing and "
        "rises only while the census of the run is built from the store, which reads the run's "
        "probe columns as NumPy arrays (a few 8-byte numbers per probe) and sorts them in time "
        f"order for the randomness tests: {growth:.0f} bytes per probe above the probing peak.",
        f"- The store on disk at the end: {memory.database_bytes / 2**20:.0f} MiB.",
    ]
    replace_section(path, MEMORY, "\n".join(lines) + "\n")
