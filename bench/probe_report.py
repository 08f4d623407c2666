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
                  targets: tuple[float, float], default, key_names) -> None:  # fmt: skip
    section = render_section(all_results, settings, machine, commands, elapsed, quick=quick,
                             targets=targets, default=default, key_names=key_names)  # fmt: skip
    text = path.read_text() if path.exists() else TITLE
    if START in text and END in text:
        before, rest = text.split(START, 1)
        after = rest.split(END, 1)[1]
        text = before + section + after
    else:
        head, sep, tail = text.partition("\n")
        text = (
            head + sep + "\n" + section + "\n" + tail
            if head.startswith("# ")
            else section + "\n" + text
        )
    path.write_text(text)


def _verdict(met: bool) -> str:
    return "**met**" if met else "**NOT met**"


def _ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def _rate_with_spread(results, setup) -> str:
    runs = results.certcensus[setup]
    return (f"{results.median(runs):.0f} ({min(r.rate for r in runs):.0f}-"
            f"{max(r.rate for r in runs):.0f}), in-run {results.median(runs, 'in_run_rate'):.0f}")  # fmt: skip


def _header(settings, machine, commands, elapsed, quick, default) -> list[str]:
    today = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    setups = ", ".join(f"W={s.workers} C={s.concurrency}" for s in settings.setups)
    return [
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
        f"- (a) `{commands['certcensus']}` with (W, C) in: {setups} (the defaults are W=0, probes "
        f"in the certcensus process, and C={default.concurrency}). With W > 0 the one command "
        "starts W worker processes that make the probes while the certcensus process schedules "
        "them and writes the store. Rate = `ok` probes / wall time of the whole command "
        "(start-up, starting the workers, SQLite and the census included); every run's JSON must "
        'have `ok` == `probes`. "in-run" = probes/s between the first and the last probe\'s start.',
        f"- (b) `bash -c '{commands['s_client']}'` with N = {settings.s_client_iterations}; "
        "rate = runs that exited 0 / wall time.",
        f"- (c) `{commands['s_time']}`; s_time divides by its own *user CPU* seconds, not by wall "
        "time, so its connections per wall second are shown beside it.",
        "",
    ]


def render_section(all_results, settings, machine, commands, elapsed, *, quick, targets,
                   default, key_names) -> str:  # fmt: skip
    target_rate, target_ratio = targets
    lines = _header(settings, machine, commands, elapsed, quick, default)
    worker_counts = sorted({setup.workers for setup in settings.setups})
    columns = [f"certcensus W={w}" for w in worker_counts]
    lines += [
        f"certcensus at C={default.concurrency} (or its best C if not measured there) per number "
        "of workers W, the best setup, and the openssl contenders (median probes/s, wall):",
        "",
        "| leaf | " + " | ".join(columns) + " | certcensus best | s_client loop | s_time reported "
        "(wall) | best / s_client | best / s_time reported (wall) |",
        "| --- " * (len(columns) + 6) + "|",
    ]
    verdicts, cpu_rows, ceilings, by_setup = [], [], [], []
    for results in all_results:
        name = key_names[results.key_type]
        per_workers = {}
        for workers in worker_counts:
            setup = workers_setup(results, workers, default.concurrency)
            per_workers[workers] = setup
        best = results.best_setup
        best_rate = results.certcensus_median(best)
        s_client = results.median(results.s_client)
        s_time = results.median(results.s_time, "reported_rate")
        s_time_wall = results.median(results.s_time)
        cells = [f"{results.certcensus_median(s):.0f}/s"
                 + ("" if s.concurrency == default.concurrency else f" (C={s.concurrency})")
                 for s in per_workers.values()]  # fmt: skip
        lines.append(
            f"| {name} | " + " | ".join(cells) + f" | {best_rate:.0f}/s (W={best.workers} "
            f"C={best.concurrency}) | {s_client:.1f}/s | {s_time:.0f}/s ({s_time_wall:.0f}/s) | "
            f"{best_rate / s_client:.1f}x | {best_rate / s_time:.2f}x ({best_rate / s_time_wall:.2f}x) |"
        )
        for setup in per_workers.values():
            cpu_rows.append(_cpu_row(results, name, setup.label, results.certcensus[setup]))
        cpu_rows.append(_cpu_row(results, name, "s_client loop", results.s_client))
        cpu_rows.append(_cpu_row(results, name, "s_time -new", results.s_time))
        ceilings += _ceilings(results, name, per_workers, machine)
        by_setup.append(f"- {name}: " + "; ".join(
            f"W={s.workers} C={s.concurrency}: {_rate_with_spread(results, s)}"
            for s in results.certcensus))  # fmt: skip
        verdicts += _verdicts(results, name, default, best, targets=(target_rate, target_ratio))
    lines += ["", "Where the CPU goes (medians; CPU = user + system, per successful connection; for "
              "certcensus less the CPU of a near-empty run with the same W, i.e. start-up and "
              "census; \"client\" includes the worker processes, whose share is in brackets):", "",
              "| leaf | contender | rate | client CPU ms (workers) | nginx CPU ms | cores busy |",
              "| --- | --- | --- | --- | --- | --- |", *cpu_rows, "", *ceilings]  # fmt: skip
    lines += ["", "certcensus by setup (median probes/s, wall; slowest-fastest run in brackets, the "
              "spread being mostly other work on the machine; then the median in-run rate):", "",
              *by_setup]  # fmt: skip
    failures = [line for results in all_results for line in results.failures]
    lines += [
        "",
        "Targets of issue 2 (on this 2-core machine, server included):",
        "",
        *verdicts,
        "",
    ]
    lines.append("Failed probes: " + ("; ".join(failures) if failures else
                                      "none (every certcensus run had `ok` == `probes`; every "
                                      "s_client exited 0)."))  # fmt: skip
    lines += [
        "",
        "What limits the rate (profiles of the prober) and what could raise it: see "
        "[README.md](README.md#what-limits-the-probe-rate).",
        "",
        END,
    ]
    return "\n".join(lines)


def workers_setup(results, workers: int, concurrency: int):
    """The setup with this many workers at `concurrency`, else the fastest with this many."""
    for setup in results.certcensus:
        if setup.workers == workers and setup.concurrency == concurrency:
            return setup
    return results.best_with_workers(workers)


def _cpu_row(results, name, label, runs) -> str:
    client = results.median(runs, "client_cpu_ms")
    workers = results.known_median(runs, "workers_cpu_ms")
    split = f" ({_ms(workers)})" if workers else ""
    return (
        f"| {name} | {label} | {results.median(runs):.0f}/s | {client:.2f}{split} | "
        f"{results.median(runs, 'server_cpu_ms'):.2f} | {results.median(runs, 'cores_busy'):.2f} |"
    )


def _ceilings(results, name, per_workers, machine) -> list[str]:
    """What the CPU per probe says each setup could reach with cores to spare, and on this box."""
    server_ms = results.median(results.s_time, "server_cpu_ms")
    lines = []
    for workers, setup in per_workers.items():
        runs = results.certcensus[setup]
        client_ms = results.median(runs, "client_cpu_ms")
        busy = results.median(runs, "cores_busy")
        on_this_box = f"~{2000 / (client_ms + results.median(runs, 'server_cpu_ms')):.0f}/s"
        if not workers:
            lines.append(
                f"- {name}, W=0: {client_ms:.2f} ms of client CPU per probe: one process (one "
                f"thread) cannot pass ~{1000 / client_ms:.0f}/s however idle the machine; only "
                f"W > 0 can use the other core (both cores full, nginx's share included, would "
                f"give {on_this_box}). Cores busy during the runs: {busy:.2f} of {machine['nproc']}."
            )
            continue
        parent_ms = results.known_median(runs, "parent_cpu_ms")
        worker_ms = results.known_median(runs, "workers_cpu_ms")
        if parent_ms is None or worker_ms is None:
            lines.append(f"- {name}, W={workers}: the workers' CPU was not seen (see README).")
            continue
        lines.append(
            f"- {name}, W={workers}: {client_ms:.2f} ms of client CPU per probe, "
            f"{parent_ms:.2f} ms in the certcensus process and {worker_ms:.2f} ms in the "
            f"workers: with a core each for the parent and every worker it could reach "
            f"~{min(1000 / parent_ms, workers * 1000 / worker_ms):.0f}/s; on this box, with "
            f"nginx's share, both cores full would give {on_this_box}. "
            f"Cores busy during the runs: {busy:.2f} of {machine['nproc']}."
        )
    lines.append(f"- nginx (one worker) spent {server_ms:.2f} ms per {name} handshake of s_time, "
                 f"so it alone caps near {1000 / server_ms:.0f}/s.")  # fmt: skip
    return lines


def _verdicts(results, name, default, best, *, targets) -> list[str]:
    target_rate, target_ratio = targets
    s_client = results.median(results.s_client)
    default_rate = results.certcensus_median(default) if default in results.certcensus else None
    best_rate = results.certcensus_median(best)
    default_text = (f"{_verdict(default_rate >= target_rate)} with the defaults (W=0, "
                    f"C={default.concurrency}: one process, {default_rate:.0f}/s)"
                    if default_rate is not None else "(defaults not measured)")  # fmt: skip
    ratio_rate = default_rate if default_rate is not None else best_rate
    return [
        f"- {name}: >= {target_rate:,.0f} probes/s from one `certcensus scan` command "
        f"{default_text}, {_verdict(best_rate >= target_rate)} at the best setup (`--workers "
        f"{best.workers} --concurrency {best.concurrency}`: one command, "
        f"{best.processes}, {best_rate:.0f}/s); >= {target_ratio:.0f}x the s_client loop "
        f"{_verdict(ratio_rate / s_client >= target_ratio)} ({ratio_rate / s_client:.1f}x "
        f"with the defaults, {best_rate / s_client:.1f}x at the best)."
    ]
