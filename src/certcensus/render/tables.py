"""Tables for `trust` and `export`: the census's verdicts, and what an export wrote.

Boxed on a terminal; plain, one line per row, when piped (render/table_text.py).
"""

from __future__ import annotations

from pathlib import Path

from rich.table import Table
from rich.text import Text

from certcensus.census.model import Census
from certcensus.render.console import make_console
from certcensus.render.table_text import print_table
from certcensus.trust.certs import Cert
from certcensus.trust.verdict import Reason


def _verdict_cell(trusted: bool) -> Text:
    return Text("trusted", style="green") if trusted else Text("untrusted", style="red")


def print_trust_table(census: Census) -> None:
    table = Table(title="Trust per chain and store")
    for column in ("Target", "Chain", "Store", "Lenient", "Strict", "Reason"):
        table.add_column(column, overflow="fold")
    for target in census.targets:
        for chain in target.chains:
            for store_name, verdict in (chain.trust or {}).items():
                lenient = verdict.lenient
                table.add_row(
                    target.target,
                    chain.chain_id[:12],
                    store_name,
                    _verdict_cell(lenient.trusted),
                    _verdict_cell(verdict.strict.trusted),
                    lenient.detail
                    if lenient.reason == Reason.TRUSTED
                    else f"{lenient.reason}: {lenient.detail}",
                )
    console = make_console()
    print_table(console, table)
    for target in census.targets:
        for impact in target.clients or []:
            console.print(
                f"{target.target}: {impact.sentence()}", style="green" if impact.fine else "red"
            )


def print_export_table(
    certs: list[Cert], files: list[Path], fmt: str, unfixable: dict[str, str]
) -> None:
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
    print_table(console, table)
    for path in files:
        console.print(f"wrote {path}")
    for chain_id, why in unfixable.items():
        console.print(f"chain {chain_id[:12]}: {why}", style="yellow")
