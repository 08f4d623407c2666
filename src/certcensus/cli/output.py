"""Printing a census the way scan, report and demo do: tables, or JSON, and PEM files."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from certcensus.census.model import Census, TargetCensus
from certcensus.model.errors import EXIT_OK, EXIT_PROBLEM_FOUND
from certcensus.render.as_json import target_to_json_line, write_census_json
from certcensus.render.console import make_console, print_census
from certcensus.render.pem_files import save_chains_as_pem


def save_pem(census: Census, directory: str) -> None:
    written = save_chains_as_pem(census, Path(directory))
    make_console(stderr=True).print(f"wrote {len(written)} chain file(s) to {directory}")


def emit_census(
    census: Census, *, as_json: bool, pem_directory: str | None, show_certs: bool = False
) -> None:
    if pem_directory:
        save_pem(census, pem_directory)
    if as_json:
        write_census_json(census, sys.stdout)
        sys.stdout.write("\n")
        sys.stdout.flush()
    else:
        print_census(census, make_console(), show_pem=show_certs)


def print_error(message: str) -> None:
    make_console(stderr=True).print(f"certcensus: error: {message}", style="red")


def print_warning(message: str) -> None:
    make_console(stderr=True).print(f"certcensus: warning: {message}", style="yellow")


def status_of_census(census: Census) -> int:
    """EXIT_OK when every target had a successful probe; else EXIT_PROBLEM_FOUND, with a last
    line on stderr naming each target that had none, and what its probes ended in."""
    return status_of_targets(census.targets)


def status_of_targets(targets: list[TargetCensus]) -> int:
    """`status_of_census` for targets written one by one (--json-lines)."""
    failed = [target for target in targets if not target.ok]
    if not failed:
        return EXIT_OK
    named = ", ".join(f"{target.target} ({_what_happened(target)})" for target in failed)
    print_error(f"no successful probe of {named}")
    return EXIT_PROBLEM_FOUND


def _what_happened(target: TargetCensus) -> str:
    if not target.probes:
        return "not probed"
    if not target.errors:
        return f"{target.interrupted} interrupted" if target.interrupted else "leaf-only captures"
    name, count = target.errors.most_common(1)[0]
    return f"{name} {count}/{target.probes}"


class TargetStream:
    """--json-lines: each target's census as one JSON object on one line, written (and
    flushed) as soon as the target is done, so `jq` can follow a fleet of 10,000 targets.

    Each census is built from the store for that target alone and judged like the whole
    census would be. If the reader goes away (`| head`), `on_closed` is called (the scan
    stops) and nothing more is written.
    """

    def __init__(self, store, run_ids: list[int] | None, confidence: float, judge=None,
                 out: TextIO | None = None):  # fmt: skip
        self.store = store
        self.run_ids = run_ids
        self.confidence = confidence
        self.judge = judge
        self.out = out
        self.done: set[str] = set()
        self.written: list[TargetCensus] = []  # for the exit status (status_of_targets)
        self.any_ok = False
        self.closed = False
        self.on_closed: Callable[[], None] | None = None

    def emit(self, name: str) -> None:
        from certcensus.census.build import build_census
        from certcensus.census.judged import judge_census

        if name in self.done or self.closed:
            return
        self.done.add(name)
        census = build_census(self.store, [name], self.run_ids, confidence=self.confidence)
        if self.judge is not None:
            judge_census(census, self.judge)
        self.any_ok = self.any_ok or census.any_ok
        out = self.out or sys.stdout
        try:
            for target in census.targets:
                out.write(target_to_json_line(target) + "\n")
            out.flush()
            self.written.extend(census.targets)  # what the reader got decides the exit status
        except BrokenPipeError:
            self.closed = True
            # Python would complain when it flushes stdout at exit: point it at /dev/null.
            if out is sys.stdout:
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            if self.on_closed is not None:
                self.on_closed()

    def emit_rest(self, names: list[str]) -> None:
        """The targets not yet written (an interrupted scan, a report), in order."""
        for name in names:
            self.emit(name)
