"""Printing a census the way scan, report and demo do: tables, or JSON, and PEM files."""

from __future__ import annotations

import sys
from pathlib import Path

from certcensus.census.model import Census, TargetCensus
from certcensus.model.errors import EXIT_OK, EXIT_PROBLEM_FOUND
from certcensus.render.as_json import census_to_json
from certcensus.render.console import make_console, print_census
from certcensus.render.pem_files import save_chains_as_pem


def save_pem(census: Census, directory: str) -> None:
    written = save_chains_as_pem(census, Path(directory))
    make_console(stderr=True).print(f"wrote {len(written)} chain file(s) to {directory}")


def emit_census(census: Census, *, as_json: bool, pem_directory: str | None) -> None:
    if pem_directory:
        save_pem(census, pem_directory)
    if as_json:
        sys.stdout.write(census_to_json(census) + "\n")
        sys.stdout.flush()
    else:
        print_census(census, make_console())


def print_error(message: str) -> None:
    make_console(stderr=True).print(f"certcensus: error: {message}", style="red")


def print_warning(message: str) -> None:
    make_console(stderr=True).print(f"certcensus: warning: {message}", style="yellow")


def status_of_census(census: Census) -> int:
    """EXIT_OK when every target had a successful probe; else EXIT_PROBLEM_FOUND, with a last
    line on stderr naming each target that had none, and what its probes ended in."""
    failed = [target for target in census.targets if not target.ok]
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
