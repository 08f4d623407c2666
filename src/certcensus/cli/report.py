"""`certcensus report`: the census again, from the store, in any format."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import click

from certcensus.cli.command import Command
from certcensus.cli.options import db_option, show_certs_option, trust_options
from certcensus.cli.output import emit_census, status_of_census, status_of_targets
from certcensus.cli.output import save_pem as write_pem_files
from certcensus.cli.sclient import sclient_options
from certcensus.model import defaults
from certcensus.model.errors import EXIT_OK, InputError, UsageError
from certcensus.render.formats import FORMATS


def kit_links(kit_dir, output) -> list[tuple[str, str]] | None:
    """The kit's files as (label, href relative to the report's folder)."""
    if not kit_dir:
        return None
    base = Path(output).resolve().parent if output else Path.cwd()
    files = sorted(p for p in Path(kit_dir).resolve().iterdir() if p.is_file())
    return [(p.name, os.path.relpath(p, base)) for p in files]


@click.command(cls=Command)
@db_option
@click.option("--target", "targets", multiple=True, help="Only this target (repeatable).")
@click.option("--run", "run_ids", type=int, multiple=True, help="Only this run id (repeatable).")
@click.option("--all-runs", is_flag=True, help="Count every run in the store, not the latest.")
@click.option(
    "--confidence",
    type=click.FloatRange(0.5, 0.999999),
    default=defaults.CONFIDENCE,
    show_default=True,
    help="Confidence of the coverage statement.",
)
@trust_options()
@click.option(
    "--format",
    "fmt",
    default="text",
    show_default=True,
    type=click.Choice(FORMATS),
    help="text tables; the JSON contract; CSV of chains or of every probe; one "
    "self-contained HTML file.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write the report to this file (default: stdout).",
)
@click.option(
    "--kit-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="HTML: link the files of this export kit (relative to the report).",
)
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option(
    "--json-lines", is_flag=True,
    help="Each target's census as one JSON object per line, written as each is built.",
)  # fmt: skip
@click.option(
    "--only-changed",
    is_flag=True,
    help="Only targets whose chains differ from their previous run (new or gone chains).",
)
@click.option("--only-multiple", is_flag=True, help="Only targets that served more than one chain.")
@click.option(
    "--details",
    is_flag=True,
    help="Text: every target in full (default for several targets: one line each).",
)
@click.option(
    "--save-pem",
    type=click.Path(file_okay=False),
    default=None,
    help="Write each distinct chain to DIR/<chain id>.pem.",
)
@show_certs_option
@sclient_options("-CAfile", "-CApath", "-showcerts")
def report(db_path, targets, run_ids, all_runs, confidence, trust_stores, store_password, offline,
           cache_dir, fmt, output, kit_dir, as_json, json_lines, only_changed, only_multiple,
           details, save_pem, show_certs):  # fmt: skip
    """Print the census again from the store (by default each target's latest run).

    Several targets are shown one line each (chains, change since the previous run, coverage);
    --target shows one in full.
    """
    from certcensus.census.build import build_census
    from certcensus.census.fleet import changes, fleet_lines, select
    from certcensus.census.judged import judge_census
    from certcensus.render.console import make_console
    from certcensus.render.fleet import print_fleet
    from certcensus.render.formats import write_report
    from certcensus.store import open_store
    from certcensus.trust.judge import TrustJudge, TrustRequest

    if json_lines and (as_json or fmt != "text"):
        raise UsageError("--json-lines is a format of its own: drop --json / --format")
    judge = TrustJudge.load(TrustRequest(trust_stores, store_password, offline, cache_dir))
    with open_store(db_path, read_only=True) as store:
        names = list(targets) or None
        if run_ids:
            runs: list[int] | None = list(run_ids)
        elif all_runs:
            runs = None
        else:
            runs = store.latest_run_ids(names)
        if json_lines:
            sys.exit(_stream_report(store, names, runs, confidence, judge, output))
        census = build_census(store, names, runs, confidence=confidence)
        if not census.targets:
            raise InputError(
                "no probes in the store for that selection (run `certcensus scan` first)"
            )
        everything = len(census.targets)
        change = changes(store, census)
        census = select(census, change, only_changed=only_changed, only_multiple=only_multiple)
        if not census.targets:  # the filters left nothing: a fine answer for a fleet
            which = [
                *(["changed since its last run"] if only_changed else []),
                *(["served more than one chain"] if only_multiple else []),
            ]
            make_console().print(f"No target of {everything} {' and '.join(which)}.")
            sys.exit(EXIT_OK)
        if judge is not None:
            judge_census(census, judge)
        fmt = "json" if as_json else fmt
        if fmt == "text" and output is None and len(census.targets) > 1 and not details:
            if save_pem:
                write_pem_files(census, save_pem)
            print_fleet(fleet_lines(census, change), make_console(),
                        hidden=everything - len(census.targets))  # fmt: skip
        elif fmt == "text" and output is None:
            emit_census(census, as_json=False, pem_directory=save_pem, show_certs=show_certs)
        else:
            if save_pem:
                write_pem_files(census, save_pem)
            write_report(census, store, fmt, output, title="certcensus report",
                         kit_links=kit_links(kit_dir, output))  # fmt: skip
    sys.exit(status_of_census(census))


def _stream_report(store, names, runs, confidence, judge, output) -> int:
    """--json-lines: one target at a time, built, judged and written, then the next."""
    from certcensus.cli.output import TargetStream

    every = names or store.targets(runs)
    if not every:
        raise InputError("no probes in the store for that selection (run `certcensus scan` first)")
    with open(output, "w", encoding="utf-8") if output else contextlib.nullcontext() as file:
        stream = TargetStream(store, runs, confidence, judge, out=file)
        stream.emit_rest(every)
    return status_of_targets(stream.written)
