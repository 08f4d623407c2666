"""`certcensus report --format text|json|csv|observations-csv|html [-o FILE]`: one function that
turns a census into the chosen format and writes it where the user asked."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import click

from certcensus.census.build import Census
from certcensus.render.console import make_console, print_census
from certcensus.render.as_csv import chains_csv, observations_csv
from certcensus.render.html_report import render_html
from certcensus.render.html_timeline import add_timelines
from certcensus.render.as_json import census_to_dict

FORMATS = ("text", "json", "csv", "observations-csv", "html")


def write_report(
    census: Census,
    store,
    fmt: str,
    output: str | Path | None = None,
    *,
    title: str = "certcensus report",
    kit_links=None,
    enrich: Callable[[dict], dict | None] | None = None,
) -> None:
    """Write `census` as `fmt` to `output` (None or "-": stdout).

    `enrich(census_dict)` adds the optional keys (trust verdicts, coverage) before json, csv and
    html are made; it may change the dict in place or return a new one.
    """
    if fmt not in FORMATS:
        raise click.UsageError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
    to_stdout = output in (None, "-")
    if fmt == "text":
        if to_stdout:
            print_census(census, make_console())
        else:
            from rich.console import Console

            with open(output, "w", encoding="utf-8") as file:
                print_census(census, Console(file=file, width=160, highlight=False))
        return
    if fmt == "observations-csv":
        text = observations_csv(store, [t.target for t in census.targets], census.run_ids)
    else:
        census_dict = census_to_dict(census)
        if enrich is not None:
            census_dict = enrich(census_dict) or census_dict
        if fmt == "json":
            text = json.dumps(census_dict, indent=2) + "\n"
        elif fmt == "csv":
            text = chains_csv(census_dict)
        else:
            add_timelines(census_dict, census)
            text = render_html(census_dict, title=title, kit_links=kit_links)
    if to_stdout:
        click.echo(text, nl=False)
    else:
        Path(output).write_text(text, encoding="utf-8")
