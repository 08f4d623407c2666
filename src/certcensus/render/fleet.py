"""The fleet overview on a terminal: one line per target, then how to see one in detail."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from certcensus.census.fleet import FleetLine
from certcensus.render.table_text import print_table


def print_fleet(lines: list[FleetLine], console: Console, *, hidden: int = 0) -> None:
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("target", "protocol", "probes", "ok", "chains", "since last run", "coverage",
                   "notes"):  # fmt: skip
        table.add_column(
            column, justify="right" if column in ("probes", "ok", "chains") else "left"
        )
    for line in lines:
        if line.change.previous_run is None:
            change = "first run"
        else:
            change = "CHANGED" if line.change.changed else "same"
        table.add_row(
            line.target, line.protocol, str(line.probes), str(line.ok),
            str(line.chains), change, line.coverage,
            "; ".join(line.notes),
            style="yellow" if line.change.changed or line.multiple else None,
        )  # fmt: skip
    print_table(console, table)  # plain lines (no padding, no box) when piped
    multiple = sum(1 for line in lines if line.multiple)
    changed = sum(1 for line in lines if line.change.changed)
    failing = sum(1 for line in lines if not line.ok)
    summary = (
        f"\n{len(lines)} target{'s' if len(lines) != 1 else ''}: {multiple} with more than one "
        f"chain, {changed} changed since their last run, {failing} with no successful probe"
    )
    if hidden:
        summary += f" ({hidden} more left out by --only-changed/--only-multiple)"
    console.print(summary + ".")
    console.print(
        "Details: certcensus report --target TARGET (repeatable), or --details for all.",
        style="dim",
    )
