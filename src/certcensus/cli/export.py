"""`certcensus export`: the CA certificates a store lacks (or every observed CA), as files or a
platform kit with INSTALL.txt."""

from __future__ import annotations

import json
from pathlib import Path

import click

from certcensus.cli.command import Command
from certcensus.cli.trust import analysis_options, judged_census
from certcensus.export import ALL_FORMATS
from certcensus.model.errors import UsageError


@click.command("export", cls=Command)
@analysis_options
@click.option(
    "--missing-from",
    "missing_from",
    metavar="STORE",
    help="Export what this store (a --trust-store name, or a spec) lacks.",
)
@click.option("--all", "export_all", is_flag=True, help="Export every CA of the observed chains.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(ALL_FORMATS),
    default="pem",
    show_default=True,
    help="A file format, or a platform kit with INSTALL.txt.",
)
@click.option(
    "-o",
    "--output",
    "output",
    type=click.Path(file_okay=False),
    required=True,
    help="Directory to write into.",
)
@click.option(
    "--every-ca-of-path/--only-missing",
    "every_ca_of_path",
    default=None,
    help="Also export served intermediates the store lacks (IBM i DCM needs them). "
    "Default: on for --format ibmi.",
)
def export(db_path, targets, trust_stores, store_password, offline, at, cache_dir, as_json,
           missing_from, export_all, fmt, output, every_ca_of_path):  # fmt: skip
    """Write the CA certificates a store lacks (or all observed CAs) as files or a platform kit."""
    from certcensus.export import write_export
    from certcensus.render.tables import print_export_table

    if bool(missing_from) == bool(export_all):
        raise UsageError("give exactly one of --missing-from STORE or --all")
    if every_ca_of_path is None:
        every_ca_of_path = fmt == "ibmi"
    census, judge = judged_census(db_path, targets, trust_stores, store_password, offline, at,
                                  cache_dir)  # fmt: skip
    chains = [chain.ders for target in census.targets for chain in target.chains]
    unfixable: dict[str, str] = {}
    if export_all:
        certs = judge.observed_cas(chains)
    else:
        store = judge.store(missing_from)
        result = judge.missing(chains, store, every_ca_of_path=every_ca_of_path)
        certs, unfixable = result.certificates, result.unfixable
    files = write_export(certs, Path(output), fmt)
    if as_json:
        click.echo(json.dumps({
            "format": fmt,
            "certificates": [
                {"sha256": c.sha256, "subject": c.subject.rfc4514_string(), "root": c.is_self_issued}
                for c in certs
            ],
            "files": [str(f) for f in files],
            "unfixable": unfixable,
        }, indent=2))  # fmt: skip
        return
    print_export_table(certs, files, fmt, unfixable)
