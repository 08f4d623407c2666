"""`report --format text|json|csv|observations-csv|html [-o FILE]`: the census, rendered in
the chosen format, written where the user asked."""

from __future__ import annotations

import sys
from pathlib import Path

from rich.console import Console

from certcensus.census.model import Census
from certcensus.model.errors import UsageError
from certcensus.render.as_csv import chains_csv, observations_csv
from certcensus.render.as_json import census_to_json, write_census_json
from certcensus.render.console import PIPE_WIDTH, make_console, print_census
from certcensus.render.html_report import render_html
from certcensus.store.base import Store

FORMATS = ("text", "json", "csv", "observations-csv", "html")


def render_report(
    census: Census,
    store: Store | None,
    fmt: str,
    *,
    title: str = "certcensus report",
    kit_links=None,
) -> str:
    """`census` as the text of `fmt` (observations-csv also reads every probe from `store`)."""
    if fmt == "json":
        return census_to_json(census) + "\n"
    if fmt == "csv":
        return chains_csv(census)
    if fmt == "observations-csv":
        if store is None:
            raise UsageError("observations-csv needs the store the census was built from")
        return observations_csv(store, [t.target for t in census.targets], census.run_ids)
    if fmt == "html":
        return render_html(census, title=title, kit_links=kit_links)
    raise UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")


def write_report(
    census: Census,
    store: Store | None,
    fmt: str,
    output: str | Path | None = None,
    *,
    title: str = "certcensus report",
    kit_links=None,
) -> None:
    """Write `census` as `fmt` to `output` (None or "-": stdout)."""
    to_stdout = output in (None, "-")
    if fmt == "text":
        if to_stdout:
            print_census(census, make_console())
        else:
            with open(output, "w", encoding="utf-8") as file:  # type: ignore[arg-type]
                print_census(census, Console(file=file, width=PIPE_WIDTH, highlight=False))
        return
    if fmt == "json":  # written a target at a time (a fleet's JSON is tens of megabytes)
        if to_stdout:
            write_census_json(census, sys.stdout)
            sys.stdout.write("\n")
            sys.stdout.flush()
        else:
            with open(output, "w", encoding="utf-8") as file:  # type: ignore[arg-type]
                write_census_json(census, file)
                file.write("\n")
        return
    text = render_report(census, store, fmt, title=title, kit_links=kit_links)
    if to_stdout:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        Path(output).write_text(text, encoding="utf-8")  # type: ignore[arg-type]
