"""Printing a census the way scan, report and demo do: tables, or JSON, and PEM files."""

from __future__ import annotations

import sys
from pathlib import Path

from certcensus.census.model import Census
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
