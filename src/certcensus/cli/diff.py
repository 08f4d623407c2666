"""`certcensus diff`: how two chains differ, certificate by certificate and field by field."""

from __future__ import annotations

import json
import os
import re

import click

from certcensus.certs.compare import ChainDiff, diff_chains
from certcensus.certs.text import safe_text
from certcensus.cli.command import Command
from certcensus.cli.ingest import chains_in_file
from certcensus.cli.options import db_option
from certcensus.model.errors import InputError, UsageError


@click.command(cls=Command)
@click.argument("chains", nargs=-1)
@click.option(
    "--target", default=None, help="Compare this target's most common chain with each other one."
)
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print the differences as JSON on stdout.")
def diff(chains, target, db_path, as_json):
    """Show how two chains differ, certificate by certificate and field by field.

    A and B are chain ids (or a unique prefix) from the store, or capture files.

    \b
    Examples:
      certcensus diff 3f2a9c 81be04
      certcensus diff expected.pem captures/odd-one.txt
      certcensus diff --target mail.example.com:25
    """
    from certcensus.store import open_store

    if target and chains:
        raise UsageError("give two chains or --target, not both")
    if not target and len(chains) != 2:
        raise UsageError("give two chains (ids, prefixes or files), or --target")
    store = None
    try:
        if target:
            store = open_store(db_path, read_only=True)
            diffs = _diffs_of_target(store, target)
        else:
            resolved = []
            for argument in chains:
                if os.path.exists(argument):
                    resolved.append(chains_in_file(argument)[0])
                else:
                    store = store or open_store(db_path, read_only=True)
                    resolved.append(_chain_from_store(store, argument))
            diffs = [diff_chains(*resolved)]
    finally:
        if store is not None:
            store.close()
    if as_json:
        click.echo(json.dumps({"diffs": [d.to_dict() for d in diffs]}, indent=2))
    else:
        for number, chain_diff in enumerate(diffs):
            if number:
                click.echo("")
            _print_diff(chain_diff)


def _chain_from_store(store, prefix: str) -> tuple[bytes, ...]:
    if not re.fullmatch(r"[0-9a-fA-F]{4,64}", prefix):
        raise UsageError(f"{prefix!r} is neither a file nor a chain id (4 to 64 hex digits)")
    found = store.find_chains(prefix)
    if not found:
        raise InputError(f"no chain id starts with {prefix}")
    if len(found) > 1:
        raise InputError(f"{prefix} is ambiguous: {', '.join(c[:16] for c in found[:5])} ...")
    return tuple(store.chain_certificates(found[0]))


def _diffs_of_target(store, target: str) -> list[ChainDiff]:
    from certcensus.census.build import build_census

    chains = build_census(store, [target]).target(target).chains
    if len(chains) < 2:
        raise InputError(
            f"{target} has {len(chains)} distinct chain(s) in the store: nothing to compare"
        )
    return [chain.difference for chain in chains[1:] if chain.difference is not None]


def _print_diff(chain_diff: ChainDiff) -> None:
    click.echo(f"A: {chain_diff.a_id}\nB: {chain_diff.b_id}")
    click.echo(safe_text(chain_diff.summary))
    for position in chain_diff.changes:
        where = _where(position.a_position, position.b_position)
        click.echo(f"\n  {where} ({position.role}): {position.words}")
        if position.a:
            click.echo(f"    A: {safe_text(position.a.subject)}  sha256 {position.a.sha256[:16]}")
        if position.b:
            click.echo(f"    B: {safe_text(position.b.subject)}  sha256 {position.b.sha256[:16]}")
        for field in position.fields:
            click.echo(
                f"    {field.name}:\n      A: {safe_text(field.a)}\n      B: {safe_text(field.b)}"
            )


def _where(a: int | None, b: int | None) -> str:
    if a is None:
        return f"position {b} (B only)"
    if b is None:
        return f"position {a} (A only)"
    return f"position {b}" if a == b else f"position {a} in A, {b} in B"
