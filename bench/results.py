"""Shared by the benchmarks: each owns a section of RESULTS.md between its own markers."""

from __future__ import annotations

import os
import platform
import resource
import subprocess
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"


def replace_section(name: str, text: str) -> None:
    """Put `text` between `<!-- NAME:start -->` and `<!-- NAME:end -->` in RESULTS.md (appended
    at the end the first time), leaving every other section alone."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    write_between(RESULTS, start, end, f"{start}\n{text.rstrip()}\n{end}")


def write_between(path: Path, start: str, end: str, section: str) -> None:
    """`section` (its markers included) in place of the one from `start` to `end` in `path`, or
    appended the first time; every other section is left alone."""
    current = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        current = before + section + rest.split(end, 1)[1]
    else:
        current = current.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(current, encoding="utf-8")


def machine_line() -> str:
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {load} (a shared machine: other work ran at the same time)"
    )


# Seconds the last measured process spent runnable but waiting for a core (the machine is
# shared: this says how much of its wall time other work took).
last_run_queue_wait = 0.0


def run_measured(command: list[str], **options) -> tuple[float, float, float, int]:
    """Run `command` to its end: (wall seconds, CPU seconds, peak RSS in MB, exit status),
    from the kernel's own accounting of that one child (wait4). While it runs, its
    /proc/PID/schedstat run-queue wait is sampled into `last_run_queue_wait`."""
    global last_run_queue_wait
    started = time.perf_counter()
    process = subprocess.Popen(command, **options)
    waited = [0.0]
    done = threading.Event()

    def sample() -> None:
        path = f"/proc/{process.pid}/schedstat"
        while not done.wait(0.02):
            try:
                with open(path) as file:
                    waited[0] = int(file.read().split()[1]) / 1e9
            except (OSError, ValueError, IndexError):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    last_run_queue_wait = waited[0]
    return wall, cpu, usage.ru_maxrss / 1024, process.returncode


def own_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
