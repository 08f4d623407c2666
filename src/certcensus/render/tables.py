"""Tables for `trust` and `export`: the census's verdicts, and what an export wrote.

Boxed on a terminal; plain, one line per row, when piped (render/table_text.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import click
from rich.table import Table
from rich.text import Text

from certcensus.census.model import Census
from certcensus.certs.text import safe_text
from certcensus.render.console import make_console
from certcensus.render.table_text import print_table
from certcensus.trust.certs import Cert
from certcensus.trust.missing import MissingCAs
from certcensus.trust.verdict import Reason


class KitNotes(Protocol):
    """What export/kits.py's KitNotes carries that the table shows (render does not import
    export: they are sibling stages)."""

    @property
    def check(self) -> dict[str, str]: ...

    @property
    def lacking(self) -> list[str]: ...

    @property
    def java_no_merge(self) -> str | None: ...


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
                    safe_text(target.target),
                    chain.chain_id[:12],
                    safe_text(store_name),
                    _verdict_cell(lenient.trusted),
                    _verdict_cell(verdict.strict.trusted),
                    safe_text(
                        lenient.detail
                        if lenient.reason == Reason.TRUSTED
                        else f"{lenient.reason}: {lenient.detail}"
                    ),
                )
    console = make_console()
    print_table(console, table)
    for target in census.targets:
        for impact in target.clients or []:
            console.print(
                f"{safe_text(target.target)}: {safe_text(impact.sentence())}",
                style="green" if impact.fine else "red",
            )
    for target in census.targets:
        for chain in target.chains:
            for issue in chain.issues or ():
                console.print(
                    f"{safe_text(target.target)} {chain.chain_id[:12]}: chain issue "
                    f"{issue.kind}: {safe_text(issue.detail)}",
                    style="yellow",
                )


def print_nothing(message: str, fmt: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"format": fmt, "certificates": [], "files": [],
                               "nothing_to_export": message, "complete": True}, indent=2))  # fmt: skip
    else:
        make_console().print(safe_text(message), style="green")


def export_document(
    fmt: str, certs: list[Cert], files: list[Path], notes: KitNotes, missing: MissingCAs | None
) -> dict:
    return {
        "format": fmt,
        "certificates": [
            {
                "sha256": c.sha256,
                "subject": c.subject.rfc4514_string(),
                "root": c.is_root,
                "check_with_the_ca": notes.check.get(c.sha256),
            }
            for c in certs
        ],  # fmt: skip
        "files": [str(f) for f in files],
        "unfixable": missing.unfixable if missing else {},
        "unknown_issuers": {
            chain_id: {
                "subject": u.subject,
                "key_identifier": u.key_identifier,
                "aia": list(u.urls),
                "issued": u.issued,
            }
            for chain_id, u in (missing.unknown_issuers.items() if missing else ())
        },  # fmt: skip
        "lacking": notes.lacking,
        "complete": missing.complete if missing else True,
    }


def print_export_table(certs: list[Cert], files: list[Path], fmt: str, notes: KitNotes) -> None:
    console = make_console()
    if certs:
        table = Table(title=f"Exported ({fmt})")
        for column in ("Kind", "Subject", "SHA-256"):
            table.add_column(column, overflow="fold")
        for cert in certs:
            table.add_row(
                "root" if cert.is_root else "intermediate",
                safe_text(cert.subject.rfc4514_string()),
                cert.sha256[:16],
            )
        print_table(console, table)
    for path in files:
        console.print(f"wrote {safe_text(path)}")
    flagged = [c for c in certs if c.sha256 in notes.check]
    if flagged:
        console.print(
            "\nWARNING: check these certificates with the CA before importing them "
            "(compare the SHA-256 with the one the CA publishes):",
            style="bold red",
        )
        for cert in flagged:
            console.print(
                f"  {'root' if cert.is_root else 'intermediate'} "
                f"{safe_text(cert.subject.rfc4514_string())}\n    SHA-256 {cert.sha256}\n"
                f"    why: {safe_text(notes.check[cert.sha256])}",
                style="bold red",
            )
    if notes.java_no_merge and fmt == "java":
        console.print(
            f"no merged truststore written: {safe_text(notes.java_no_merge)}; INSTALL.txt has "
            "the keytool steps",
            style="yellow",
        )
    if notes.lacking:
        heading = (
            "PARTIAL KIT: importing it is not enough for every chain."
            if certs
            else "No CA certificate to export helps these chains:"
        )
        console.print(f"\n{heading}", style="bold red")
        for text in notes.lacking:
            console.print(f"  {safe_text(text)}", style="red")
