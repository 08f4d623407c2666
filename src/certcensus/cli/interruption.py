"""Ctrl-C and SIGTERM during a probing run, local (scan.py) or on a Dask cluster (fleet.py)."""

from __future__ import annotations

import os
import signal
import sys
from typing import Protocol

from rich.console import Console

from certcensus.probe.scheduler import INTERRUPT_GRACE_SECONDS, ScanResult

LOCAL_GRACE = f"probes in flight get {INTERRUPT_GRACE_SECONDS:g}s"
FLEET_GRACE = "batches in flight are cancelled, stored ones kept"


class Interruptible(Protocol):
    def interrupt(self) -> None: ...


class Interruption:
    """What the signals ask for: the first stops the run cleanly (probes in flight get a
    moment, then the census is printed); a second ends the process at once. SQLite and
    PostgreSQL keep every committed transaction whatever moment the process ends at, so the
    store stays consistent; only the last second of observations, not yet committed, is lost
    (as with kill -9)."""

    def __init__(self, run: Interruptible, console: Console, grace: str = LOCAL_GRACE):
        self.run = run
        self.console = console
        self.grace = grace
        self.signal: int | None = None

    def __call__(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.signal is not None:
            self.console.print(f"certcensus: {name} again: quitting now; committed data is kept")
            sys.stderr.flush()
            os._exit(128 + signum)
        self.signal = signum
        self.console.print(
            f"certcensus: {name}: stopping; {self.grace} (Ctrl-C again to quit at once)"
        )
        self.run.interrupt()


def interrupted_line(result: ScanResult, signum: int) -> str:
    """The one line said before the census of an interrupted run."""
    parts = [f"certcensus: interrupted ({signal.Signals(signum).name})"]
    if result.probes_interrupted:
        parts.append(f"{result.probes_interrupted} probe(s) in flight recorded as interrupted")
    if result.not_started:
        waiting = ", ".join(f"{n} of {name}" for name, n in result.not_started.items())
        parts.append(f"planned probes not started: {waiting}")
    return "; ".join(parts) + "; the census of the probes made so far follows"
