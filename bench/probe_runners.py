"""The three contenders of the probe benchmark, each run as a subprocess and timed from outside.

Every runner returns a `Measurement` that counts failures too, so a contender that errors fast
cannot look fast: certcensus's JSON census must say "ok" == "probes", the s_client loop counts
the openssl processes that exited 0, and s_time must report at least one connection.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Measurement:
    label: str
    rate: float  # successful connections per wall-clock second, process start to exit
    attempts: int
    failed: int
    seconds: float
    reported_rate: float = 0.0  # s_time: its own "connections/user sec"
    in_run_rate: float = 0.0  # certcensus: probes/s between the first and last probe's start
    failure_detail: str = ""
    client_cpu_seconds: float = 0.0  # user + system CPU of the client processes, workers included
    client_fixed_seconds: float = 0.0  # of which independent of the count (start-up, census)
    server_cpu_seconds: float = 0.0  # user + system CPU of nginx during the run
    # certcensus --workers N: the CPU of the worker processes, as the certcensus process reaped
    # them (its cutime + cstime); None when they were not seen reaped before it exited.
    workers_cpu_seconds: float | None = 0.0
    workers_fixed_seconds: float = 0.0  # of which their start-up

    @property
    def successes(self) -> int:
        return self.attempts - self.failed

    @property
    def client_cpu_ms(self) -> float:
        """Client CPU per successful connection, less the fixed part."""
        return 1000 * (self.client_cpu_seconds - self.client_fixed_seconds) / max(self.successes, 1)

    @property
    def workers_cpu_ms(self) -> float | None:
        """Of `client_cpu_ms`, what the worker processes spent (0 with --workers 0)."""
        if self.workers_cpu_seconds is None:
            return None
        spent = self.workers_cpu_seconds - self.workers_fixed_seconds
        return 1000 * spent / max(self.successes, 1)

    @property
    def parent_cpu_ms(self) -> float | None:
        """Of `client_cpu_ms`, what the certcensus process itself spent."""
        workers = self.workers_cpu_ms
        return None if workers is None else self.client_cpu_ms - workers

    @property
    def server_cpu_ms(self) -> float:
        return 1000 * self.server_cpu_seconds / max(self.successes, 1)

    @property
    def cores_busy(self) -> float:
        """Client and server CPU over the run's wall time: 2.0 means both cores were ours."""
        return (self.client_cpu_seconds + self.server_cpu_seconds) / self.seconds

    @property
    def note(self) -> str:
        split = ""
        if self.workers_cpu_seconds:
            split = f" (workers {self.workers_cpu_ms:.2f})"
        cpu = (f"; CPU ms/conn client {self.client_cpu_ms:.2f}{split} server "
               f"{self.server_cpu_ms:.2f}, {self.cores_busy:.2f} cores")  # fmt: skip
        if self.in_run_rate:
            return f"  (in-run {self.in_run_rate:.0f}/s, {self.seconds:.2f} s{cpu})"
        if self.reported_rate:
            return f"  (reports {self.reported_rate:.0f}/user s, {self.seconds:.2f} s{cpu})"
        return f"  ({self.attempts} in {self.seconds:.2f} s{cpu})"


def certcensus_executable() -> str:
    """The certcensus beside this interpreter (the venv's), else the one on PATH."""
    beside = Path(sys.executable).parent / "certcensus"
    if beside.exists():
        return str(beside)
    found = shutil.which("certcensus")
    if not found:
        raise SystemExit("bench_probe: certcensus is not installed; run `make install`")
    return found


def certcensus_command(
    port, seconds, concurrency, database, workers=0, engine="openssl"
) -> list[str]:
    # --duration rather than --count: a run lasts the same time however loaded the machine is,
    # so the whole benchmark keeps to its time budget. --engine always explicit, so a change of
    # the default engine does not change what a row of RESULTS.md measures.
    return [certcensus_executable(), "scan", f"127.0.0.1:{port}", "--starttls", "none",
            "--rate", "0", "--duration", f"{seconds}s", "--concurrency", str(concurrency),
            "--workers", str(workers), "--engine", engine, "--db", str(database), "--json", "-q"]  # fmt: skip


def certcensus_label(workers: int, concurrency: int, engine: str = "openssl") -> str:
    if engine == "native":
        return f"certcensus native -w{workers} -c{concurrency}"
    return f"certcensus -w{workers} -c{concurrency}"


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
POLL_SECONDS = 0.01


def reaped_children_cpu(pid: int) -> float | None:
    """cutime + cstime of a running process: the CPU of the children it has waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[13]) + int(fields[14])) / CLOCK_TICKS  # stat fields 16 and 17


def run_and_watch_children(command: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    """Run `command`, reading its reaped children's CPU every 10 ms until it exits.

    RUSAGE_CHILDREN around the run already counts the workers (certcensus waits for them, and
    a waited-for child's CPU is added to its parent's, which we wait for); this splits that
    total into certcensus's own CPU and its workers'. certcensus closes and reaps its workers
    before it writes the census, so the last reading before it exits holds their whole CPU."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    children_cpu = 0.0
    while True:
        reading = reaped_children_cpu(process.pid)
        if reading is not None:
            children_cpu = reading
        try:
            stdout, stderr = process.communicate(timeout=POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            continue
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    return done, children_cpu


def _parse_iso(text: str | None) -> float | None:
    if not text:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def run_certcensus(port: int, seconds: float, concurrency: int, database: Path,
                   workers: int = 0, engine: str = "openssl") -> Measurement:  # fmt: skip
    """One `certcensus scan` command (with --workers N: the process and its N workers); the
    rate is `ok` probes over its whole wall-clock life (interpreter start, imports, starting the
    workers, SQLite and the census included: what a user waits for)."""
    label = certcensus_label(workers, concurrency, engine)
    started = time.perf_counter()
    done, children_cpu = run_and_watch_children(
        certcensus_command(port, seconds, concurrency, database, workers, engine)
    )
    wall = time.perf_counter() - started
    for leftover in database.parent.glob(database.name + "*"):
        leftover.unlink()
    # With workers, a reading of 0 means certcensus exited before we saw them reaped.
    workers_cpu = children_cpu if children_cpu > 0 or workers == 0 else None
    try:
        target = json.loads(done.stdout)["targets"][0]
    except (ValueError, KeyError, IndexError):
        detail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return Measurement(label, 0.0, 1, 1, wall,
                           failure_detail=f"(exit {done.returncode}: {detail})")  # fmt: skip
    probes, ok = target["probes"], target["ok"]
    first, last = _parse_iso(target.get("first_probe")), _parse_iso(target.get("last_probe"))
    in_run = (probes - 1) / (last - first) if first and last and last > first else 0.0
    detail = f"errors {target.get('errors')}" if ok != probes else ""
    return Measurement(label, ok / wall, probes, probes - ok, wall, in_run_rate=in_run,
                       failure_detail=detail, workers_cpu_seconds=workers_cpu)  # fmt: skip


def s_client_loop_script(port, iterations) -> str:
    """The story's loop without its `sleep 5`; it prints how many s_client runs exited 0."""
    return (
        f"ok=0; for i in $(seq {iterations}); do "
        f"openssl s_client -connect 127.0.0.1:{port} -servername x </dev/null >/dev/null 2>&1 "
        "&& ok=$((ok+1)); done; echo $ok"
    )


def run_s_client_loop(port: int, iterations: int) -> Measurement:
    label = "s_client loop (sequential)"
    started = time.perf_counter()
    done = subprocess.run(["bash", "-c", s_client_loop_script(port, iterations)],
                          capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - started
    ok = int(done.stdout.strip() or 0)
    return Measurement(label, ok / seconds, iterations, iterations - ok, seconds)


def s_time_command(port, seconds) -> list[str]:
    return ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-time", str(seconds)]


# "1681 connections in 1.33s; 1263.91 connections/user sec, bytes read 0"
S_TIME_LINE = re.compile(r"(\d+) connections in ([\d.]+)s; ([\d.]+) connections/user sec")


def run_s_time(port: int, seconds: int) -> Measurement:
    """`openssl s_time -new`. Its own figure divides by s_time's *user CPU* seconds, not by wall
    time, so it is kept apart (`reported_rate`) from the wall-clock rate."""
    label = "s_time -new"
    started = time.perf_counter()
    done = subprocess.run(s_time_command(port, seconds), capture_output=True, text=True)
    wall = time.perf_counter() - started
    match = S_TIME_LINE.search(done.stdout)
    if not match or int(match[1]) == 0:
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        return Measurement(label, 0.0, 1, 1, wall, failure_detail=f"({tail[0]})")
    connections = int(match[1])
    # s_time stops starting connections after `seconds`; its process lives a few ms longer.
    return Measurement(label, connections / wall, connections, 0, wall,
                       reported_rate=float(match[3]))  # fmt: skip
