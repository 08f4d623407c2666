"""The "Probe throughput" section of bench/RESULTS.md, between its two marker comments.

The file is shared with the ingest benchmark, which appends its own sections; this module only
ever replaces the text between `<!-- probe:start -->` and `<!-- probe:end -->` (or adds the
section once, after the title, if the markers are not there yet).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

START = "<!-- probe:start -->"
END = "<!-- probe:end -->"
TITLE = "# Benchmark results\n"


def write_section(path: Path, all_results, settings, machine, commands, elapsed, *, quick: bool,
                  targets: tuple[float, float], default_concurrency: int, key_names) -> None:  # fmt: skip
    section = render_section(all_results, settings, machine, commands, elapsed, quick=quick,
                             targets=targets, default_concurrency=default_concurrency,
                             key_names=key_names)  # fmt: skip
    text = path.read_text() if path.exists() else TITLE
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        head, sep, tail = text.partition("\n")
        text = head + sep + "\n" + section + "\n" + tail if head.startswith("# ") else section + "\n" + text
    path.write_text(text)


def _verdict(met: bool) -> str:
    return "**met**" if met else "**NOT met**"


def render_section(all_results, settings, machine, commands, elapsed, *, quick, targets,
                   default_concurrency, key_names) -> str:  # fmt: skip
    target_rate, target_ratio = targets
    today = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    lines = [
        START,
        "## Probe throughput (`bench/bench_probe.py`)",
        "",
        f"Run {today}{' with `--quick`' if quick else ''}; the whole benchmark took {elapsed:.0f} s. "
        f"Medians of {settings.repeat} repetitions, interleaved (every contender once, then again).",
        "",
        f"- Machine: {machine['nproc']} cores (`nproc`), {machine['cpu']}; load average "
        f"{machine['load']} at the start, {machine['load_end']} at the end (a shared machine: "
        "other work ran at the same time).",
        f"- Python: {machine['python']}; openssl CLI: {machine['openssl']}.",
        f"- Server: {machine['nginx']}, TLS on 127.0.0.1, `ssl_session_cache off; "
        "ssl_session_tickets off;` (every connection a full handshake), serving leaf + intermediate "
        "(root, intermediate and leaf all of the leaf's key type).",
        "- **nginx runs on the same 2 cores as the client**: each rate below is what client and "
        "server manage together on this machine, not what the client could do against a remote "
        "server.",
        "",
        "Commands (PORT is a free loopback port):",
        "",
        f"- (a) `{commands['certcensus']}` with C in {', '.join(map(str, settings.concurrencies))} "
        f"(the default is {default_concurrency}). Rate = `ok` probes / wall time of the whole "
        "process (start-up, SQLite and the census included); every run's JSON must have `ok` == "
        "`probes`. \"in-run\" = probes/s between the first and the last probe's start time.",
        f"- (b) `bash -c '{commands['s_client']}'` with N = {settings.s_client_iterations}; "
        "rate = runs that exited 0 / wall time.",
        f"- (c) `{commands['s_time']}`; s_time divides by its own *user CPU* seconds, not by wall "
        "time, so its connections per wall second are shown beside it.",
        "",
        "| leaf | certcensus, default C | certcensus, best C | in-run, default C | s_client loop "
        "| s_time reported (wall) | certcensus / s_client | certcensus / s_time reported (wall) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    verdicts, cpu_rows, ceilings = [], [], []
    for results in all_results:
        name = key_names[results.key_type]
        default_runs = results.certcensus[default_concurrency]
        default_rate = results.median(default_runs)
        best = results.best_concurrency
        best_rate = results.certcensus_median(best)
        in_run = results.median(default_runs, "in_run_rate")
        s_client = results.median(results.s_client)
        s_time = results.median(results.s_time, "reported_rate")
        s_time_wall = results.median(results.s_time)
        lines.append(
            f"| {name} | {default_rate:.0f}/s | {best_rate:.0f}/s (C={best}) | {in_run:.0f}/s | "
            f"{s_client:.1f}/s | {s_time:.0f}/s ({s_time_wall:.0f}/s) | "
            f"{default_rate / s_client:.1f}x (best C: {best_rate / s_client:.1f}x) | "
            f"{default_rate / s_time:.2f}x ({default_rate / s_time_wall:.2f}x) |"
        )
        for label, runs in (
            (f"certcensus C={default_concurrency}", default_runs),
            ("s_client loop", results.s_client),
            ("s_time -new", results.s_time),
        ):
            cpu_rows.append(
                f"| {name} | {label} | {results.median(runs):.0f}/s | "
                f"{results.median(runs, 'client_cpu_ms'):.2f} | "
                f"{results.median(runs, 'server_cpu_ms'):.2f} | {results.median(runs, 'cores_busy'):.2f} |"
            )
        client_ms = results.median(default_runs, "client_cpu_ms")
        server_ms = results.median(default_runs, "server_cpu_ms")
        ceilings.append(
            f"- {name}: certcensus spends {client_ms:.2f} ms of CPU per extra probe and nginx "
            f"{server_ms:.2f} ms per handshake: "
            f"one certcensus process (one thread) cannot pass ~{1000 / client_ms:.0f}/s on this CPU "
            f"however idle the machine, and one nginx worker ~{1000 / server_ms:.0f}/s. Client and "
            f"server filling both cores (several client processes) would reach "
            f"~{2000 / (client_ms + server_ms):.0f}/s."
        )
        ceilings.append(
            f"  During the certcensus runs client and nginx together kept "
            f"{results.median(default_runs, 'cores_busy'):.2f} of the {machine['nproc']} cores busy; "
            "the rest went to other work on the machine (or idled)."
        )
        verdicts.append(
            f"- {name}: >= {target_rate:,.0f} probes/s from one process "
            f"{_verdict(default_rate >= target_rate)} at the default concurrency "
            f"({default_rate:.0f}/s), {_verdict(best_rate >= target_rate)} at the best "
            f"({best_rate:.0f}/s); >= {target_ratio:.0f}x the s_client loop "
            f"{_verdict(default_rate / s_client >= target_ratio)} ({default_rate / s_client:.1f}x)."
        )
    lines += ["", "Where the CPU goes (medians; CPU = user + system, per successful connection; for "
              "certcensus less the CPU of a near-empty run, i.e. start-up and census):", "",
              "| leaf | contender | rate | client CPU ms | nginx CPU ms | cores busy |",
              "| --- | --- | --- | --- | --- | --- |", *cpu_rows, "", *ceilings]  # fmt: skip
    lines += ["", "certcensus by concurrency (median probes/s, wall; slowest-fastest run in brackets, "
              "the spread being mostly other work on the machine):", ""]  # fmt: skip
    for results in all_results:
        per_c = ", ".join(
            f"C={c}: {results.certcensus_median(c):.0f} ({min(r.rate for r in runs):.0f}-"
            f"{max(r.rate for r in runs):.0f})"
            for c, runs in sorted(results.certcensus.items())
        )
        fastest = max((r for runs in results.certcensus.values() for r in runs), key=lambda r: r.in_run_rate)
        lines.append(f"- {key_names[results.key_type]}: {per_c}; fastest in-run rate "
                     f"{fastest.in_run_rate:.0f}/s ({fastest.label})")  # fmt: skip
    failures = [line for results in all_results for line in results.failures]
    lines += ["", "Targets of issue 2 (on this 2-core machine, server included):", "", *verdicts, ""]
    lines.append("Failed probes: " + ("; ".join(failures) if failures else
                                      "none (every certcensus run had `ok` == `probes`; every "
                                      "s_client exited 0)."))  # fmt: skip
    lines += ["", "What limits the rate (profiles of the prober) and what could raise it: see "
              "[README.md](README.md#what-limits-the-probe-rate).", "", END]
    return "\n".join(lines)
