"""`certcensus export`: the CA certificates a store lacks (or every observed CA), as files or a
platform kit with INSTALL.txt.

Exit status: 0 the kit makes every chain trusted (or nothing is missing), 1 the kit is partial
(a root known nowhere, or a chain no CA certificate can fix), 2 usage or bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from certcensus.cli.command import Command
from certcensus.cli.trust import analysis_options, judged_census
from certcensus.export import ALL_FORMATS
from certcensus.model.errors import EXIT_PROBLEM_FOUND, UsageError


@click.command("export", cls=Command)
@analysis_options
@click.option(
    "--missing-from",
    "missing_from",
    metavar="STORE",
    help="Export what this store (a --trust-store name, or a spec) lacks. With --format java "
    "and a JKS or PKCS#12 keystore, the kit holds a copy of it with the missing CAs added.",
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
    from certcensus.export.notes import kit_notes
    from certcensus.model.chain import certificate_fingerprint
    from certcensus.render.tables import export_document, print_export_table, print_nothing

    if bool(missing_from) == bool(export_all):
        raise UsageError("give exactly one of --missing-from STORE or --all")
    if every_ca_of_path is None:
        every_ca_of_path = fmt == "ibmi"
    census, judge = judged_census(db_path, targets, trust_stores, store_password, offline, at,
                                  cache_dir)  # fmt: skip
    chains = [chain.ders for target in census.targets for chain in target.chains]
    served = {certificate_fingerprint(der) for chain in chains for der in chain}
    store, missing = None, None
    if export_all:
        certs = judge.observed_cas(chains)
        nothing = "nothing to export: the observed chains hold no CA certificate"
    else:
        store = judge.store(missing_from)
        missing = judge.missing(chains, store, every_ca_of_path=every_ca_of_path)
        certs = missing.certificates
        nothing = f"nothing to export: {store.name} already trusts every chain"
    if not certs and (missing is None or missing.complete):
        print_nothing(nothing, fmt, as_json)
        return
    notes = kit_notes(certs, missing, store, judge.stores, served, fmt, store_password)
    files = write_export(certs, Path(output), fmt, notes) if certs else []
    if as_json:
        click.echo(json.dumps(export_document(fmt, certs, files, notes, missing), indent=2))
    else:
        print_export_table(certs, files, fmt, notes)
    if missing is not None and not missing.complete:
        sys.exit(EXIT_PROBLEM_FOUND)
