"""`certcensus trust` and `certcensus export`: verdicts per chain and store, and the CA kits.

Both read the chains of the latest runs from the store (store/base.py) and never probe.
Exit codes: 0 ok, 1 some chain untrusted (trust, lenient mode), 2 usage or bad input.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import click
from rich.text import Text

from certcensus.export import ALL_FORMATS, write_export
from certcensus.cli.options import trust_options
from certcensus.render.console import make_console
from certcensus.trust import (
    AIAFetcher,
    CAPool,
    Cert,
    TrustStore,
    TrustStoreError,
    chain_trust_verdicts,
    complete_with_aia,
    load_trust_store,
    missing_cas,
    observed_cas,
)
from certcensus.trust.stores import parse_store_spec

DEFAULT_TRUST_STORE = "system"


class InputError(click.ClickException):
    """Bad input (a store that does not load, an unknown target): exit code 2 like usage errors."""

    exit_code = 2


@dataclass(frozen=True)
class ObservedChain:
    target: str
    chain_id: str
    ders: list[bytes]
    host: str | None  # the SNI sent, else the host probed: the name a client would check


def store_name_of_spec(spec: str) -> str:
    return parse_store_spec(spec)[0]


def _open_store(path: str | None):
    # Imported here: the SQLite store is a sibling module, and tests replace this function.
    from certcensus.store.sqlite import StoreError, open_store

    try:
        return open_store(path)
    except StoreError as error:
        raise InputError(str(error)) from None


def observed_chains(store, targets: tuple[str, ...]) -> list[ObservedChain]:
    """Distinct chains of each target in its latest run, in the order first seen."""
    run_ids = store.latest_run_ids(list(targets) or None)
    if not run_ids:
        if targets:
            raise InputError(f"no probes stored for target(s): {', '.join(targets)}")
        raise InputError("the database holds no runs yet; run a scan first")
    wanted = list(targets) or store.targets(run_ids)
    known = set(store.targets(run_ids))
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise InputError(f"no probes stored for target(s): {', '.join(unknown)}")
    chains: list[ObservedChain] = []
    for target in wanted:
        seen: set[str] = set()
        for probe in store.probes(target, run_ids):
            if probe.chain_id and probe.chain_id not in seen:
                seen.add(probe.chain_id)
                chains.append(
                    ObservedChain(
                        target,
                        probe.chain_id,
                        store.chain_certificates(probe.chain_id),
                        probe.sni or probe.host,
                    )
                )
    return chains


def _parse_time(value: str | None) -> dt.datetime:
    if not value:
        return dt.datetime.now(dt.UTC)
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"--at {value!r} is not an ISO 8601 time (2026-01-31T12:00:00Z)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def load_stores(specs: tuple[str, ...], password: str) -> list[TrustStore]:
    stores = []
    for spec in specs or (DEFAULT_TRUST_STORE,):
        try:
            stores.append(load_trust_store(spec, password))
        except TrustStoreError as error:
            raise InputError(str(error)) from None
    names = [s.name for s in stores]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise InputError(f"two trust stores named {', '.join(sorted(duplicates))}; use NAME=PATH")
    return stores


def cache_directory(cache_dir: str | None) -> Path:
    if cache_dir:
        return Path(cache_dir)
    import platformdirs

    return Path(platformdirs.user_cache_dir("certcensus"))


@dataclass
class Analysis:
    chains: list[ObservedChain]
    stores: list[TrustStore]
    pool: CAPool
    at: dt.datetime


def _prepare(
    db,
    targets,
    trust_stores,
    store_password,
    offline,
    at,
    cache_dir,
    extra_store: str | None = None,
) -> Analysis:
    when = _parse_time(at)  # before any loading or fetching: a typo should fail fast
    stores = load_stores(trust_stores, store_password)
    loaded_names = {s.name for s in stores}
    if extra_store and not {extra_store, store_name_of_spec(extra_store)} & loaded_names:
        stores += load_stores((extra_store,), store_password)
    with _open_store(db) as store:
        chains = observed_chains(store, targets)
    cache = cache_directory(cache_dir)
    pool = CAPool(cache / "ca-pool")
    for trust_store in stores:
        pool.add_all(trust_store.certificates)
    fetcher = AIAFetcher(cache / "aia", offline=offline)
    for chain in chains:
        complete_with_aia([Cert.from_der(d) for d in chain.ders], pool, stores, fetcher)
    return Analysis(chains, stores, pool, when)


def _analysis_options(function):
    options = [
        click.option(
            "--db",
            "db",
            type=click.Path(dir_okay=False),
            default=None,
            help="The census database (default: the user data directory).",
        ),
        click.option(
            "--target",
            "targets",
            multiple=True,
            help="Only this target (repeatable; default: every target of the latest runs).",
        ),
        click.option(
            "--at", "at", metavar="ISO-TIME", help="Judge validity at this time (default: now)."
        ),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
    ]
    for option in reversed(options):
        function = option(function)
    return trust_options(default_store=DEFAULT_TRUST_STORE)(function)


@click.command("trust")
@_analysis_options
def trust(db, targets, trust_stores, store_password, offline, at, cache_dir, as_json):
    """Say, per chain and trust store, whether a client would trust it, and why not."""
    analysis = _prepare(db, targets, trust_stores, store_password, offline, at, cache_dir)
    results = []
    for chain in analysis.chains:
        verdicts = chain_trust_verdicts(
            chain.ders, analysis.stores, pool=analysis.pool, host=chain.host, at=analysis.at
        )
        results.append((chain, verdicts))
    if as_json:
        document = {
            "at": analysis.at.isoformat(),
            "stores": {
                s.name: {
                    "source": s.source,
                    "fingerprint": s.fingerprint,
                    "certificates": len(s.certificates),
                }
                for s in analysis.stores
            },
            "targets": {},
        }
        for chain, verdicts in results:
            document["targets"].setdefault(chain.target, {})[chain.chain_id] = {
                "host": chain.host,
                "trust": verdicts,
            }
        click.echo(json.dumps(document, indent=2))
    else:
        _print_trust_table(results)
    untrusted = any(
        not v["lenient"]["trusted"] for _, verdicts in results for v in verdicts.values()
    )
    click.get_current_context().exit(1 if untrusted else 0)


def _verdict_cell(trusted: bool) -> Text:
    return Text("trusted", style="green") if trusted else Text("untrusted", style="red")


def _print_trust_table(results) -> None:
    from rich.table import Table

    table = Table(title="Trust per chain and store")
    for column in ("Target", "Chain", "Store", "Lenient", "Strict", "Reason"):
        table.add_column(column, overflow="fold")
    for chain, verdicts in results:
        for store_name, modes in verdicts.items():
            lenient, strict = modes["lenient"], modes["strict"]
            table.add_row(
                chain.target,
                chain.chain_id[:12],
                store_name,
                _verdict_cell(lenient["trusted"]),
                _verdict_cell(strict["trusted"]),
                f"{lenient['reason']}: {lenient['detail']}"
                if lenient["reason"] != "trusted"
                else lenient["detail"],
            )
    make_console().print(table)


@click.command("export")
@_analysis_options
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
def export(
    db,
    targets,
    trust_stores,
    store_password,
    offline,
    at,
    cache_dir,
    as_json,
    missing_from,
    export_all,
    fmt,
    output,
    every_ca_of_path,
):
    """Write the CA certificates a store lacks (or all observed CAs) as files or a platform kit."""
    if bool(missing_from) == bool(export_all):
        raise click.UsageError("give exactly one of --missing-from STORE or --all")
    if every_ca_of_path is None:
        every_ca_of_path = fmt == "ibmi"
    analysis = _prepare(
        db, targets, trust_stores, store_password, offline, at, cache_dir, extra_store=missing_from
    )
    chains = [c.ders for c in analysis.chains]
    unfixable: dict[str, str] = {}
    if export_all:
        certs = observed_cas(chains, analysis.stores, analysis.pool, analysis.at)
    else:
        wanted = {missing_from, store_name_of_spec(missing_from)}
        store = next(s for s in analysis.stores if s.name in wanted)
        result = missing_cas(chains, store, analysis.pool, analysis.at, every_ca_of_path)
        certs, unfixable = result.certificates, result.unfixable
    files = write_export(certs, Path(output), fmt)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "format": fmt,
                    "certificates": [
                        {
                            "sha256": c.sha256,
                            "subject": c.subject.rfc4514_string(),
                            "root": c.is_self_issued,
                        }
                        for c in certs
                    ],
                    "files": [str(f) for f in files],
                    "unfixable": unfixable,
                },
                indent=2,
            )
        )
        return
    _print_export_table(certs, files, fmt, unfixable)


def _print_export_table(certs, files, fmt, unfixable) -> None:
    from rich.table import Table

    console = make_console()
    table = Table(title=f"Exported ({fmt})")
    for column in ("Kind", "Subject", "SHA-256"):
        table.add_column(column, overflow="fold")
    for cert in certs:
        table.add_row(
            "root" if cert.is_self_issued else "intermediate",
            cert.subject.rfc4514_string(),
            cert.sha256[:16],
        )
    console.print(table)
    for path in files:
        console.print(f"wrote {path}")
    for chain_id, why in unfixable.items():
        console.print(f"chain {chain_id[:12]}: {why}", style="yellow")
