"""The census as tables on a terminal (rich), readable when piped too."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from certcensus.census.backends import ranked
from certcensus.census.model import Census, ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo, short_name
from certcensus.certs.text import safe_text
from certcensus.model.outcomes import EXPLANATIONS, Outcome
from certcensus.render.as_json import iso_time
from certcensus.render.table_text import print_table

# Wide enough for an RFC 4514 subject on one line when output goes to a file or a pipe.
PIPE_WIDTH = 160


def make_console(stderr: bool = False) -> Console:
    """A console that wraps to the terminal, or to PIPE_WIDTH when not writing to one."""
    # Certificate subjects are data: never read "[...]" as markup or ":cd:" as an emoji.
    options: dict[str, Any] = {
        "stderr": stderr,
        "highlight": False,
        "markup": False,
        "emoji": False,
    }
    console = Console(**options)
    if not console.is_terminal:
        console = Console(**options, width=PIPE_WIDTH, soft_wrap=True)
    return console


def print_census(census: Census, console: Console, show_pem: bool = False) -> None:
    """Every target; `show_pem` adds each certificate's PEM (as s_client -showcerts)."""
    for target in census.targets:
        print_target(target, console, show_pem)


def print_target(target: TargetCensus, console: Console, show_pem: bool = False) -> None:
    title = Text.assemble(
        (target.target, "bold"), f"  {target.protocol}  ", f"{target.probes} probes, ",
        (f"{target.ok} ok", "green" if target.ok else "red"),
    )  # fmt: skip
    if target.interrupted:
        title.append(f", {target.interrupted} interrupted")
    if target.errors:
        errors = ", ".join(f"{name} {count}" for name, count in target.errors.most_common())
        title.append(f", errors: {errors}", style="yellow")
    console.print(title)
    if len(target.ips) > 1 or target.chains:
        addresses = ", ".join(f"{ip or '(none)'} ({n})" for ip, n in target.ips.most_common())
        console.print(f"  addresses: {addresses}")
    if not target.chains:
        _print_errors(target, console)
        console.print()
        return
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("#", "chain", "share", "count", "first seen", "last seen", "path as sent"):
        table.add_column(column, justify="right" if column in ("share", "count") else "left")
    for number, chain in enumerate(target.chains, 1):
        table.add_row(
            str(number),
            chain.chain_id[:12],
            f"{chain.share:.1%}",
            str(chain.count),
            _short_time(chain.first_seen),
            _short_time(chain.last_seen),
            safe_text(" <- ".join(short_name(info) for info in chain.certificates)),
        )
    print_table(console, table)
    for number, chain in enumerate(target.chains, 1):
        _print_chain(number, chain, target, console, show_pem)
    _print_missing(target, console)
    _print_clients(target, console)
    _print_backends(target, console)
    _print_errors(target, console)
    sentence = target.coverage_sentence()
    if sentence and target.coverage is not None:
        console.print(f"\n  {sentence}", style="bold" if target.coverage.applicable else "yellow")
        if target.coverage.applicable and len(target.strata) > 1:
            console.print(
                f"  ({len(target.strata)} strata: address x SNI x profile x source"
                f"{' x vantage' if target.vantages else ''})",
                style="dim",
            )
    for vantage, sentence in target.vantage_sentences().items():
        applicable = target.vantage_coverage[vantage].applicable
        console.print(f"  {sentence}", style="" if applicable else "yellow")
    console.print()


def _print_chain(
    number: int, chain: ChainCount, target: TargetCensus, console: Console, show_pem: bool
) -> None:
    console.print(f"\n  chain #{number} {chain.chain_id}")
    if len(target.ips) > 1:
        spread = ", ".join(f"{ip} {n}" for ip, n in chain.ips.most_common())
        console.print(f"    seen from: {spread}")
    if len(target.vantages) > 1:
        spread = ", ".join(f"{v} {chain.vantages.get(v, 0)}" for v in sorted(target.vantages))
        console.print(f"    vantages: {spread}")
    for position, info in enumerate(chain.certificates):
        _print_certificate(position, info, console)
        if show_pem:
            console.print(info.pem.rstrip("\n"), soft_wrap=True)
    last = chain.certificates[-1] if chain.certificates else None
    if chain.issues is not None:
        if chain.issues.ends_at_issuer:
            console.print(
                f"    (root not sent; the chain ends at issuer {safe_text(chain.issues.ends_at_issuer)})",
                style="dim",
            )
    elif last and not last.parse_error and not last.self_signed:
        console.print(
            f"    (root not sent; the chain ends at issuer {safe_text(last.issuer)})", style="dim"
        )
    if chain.difference is not None and chain.differences:
        console.print(
            f"    differs from chain #1: {safe_text(chain.difference.summary)}", style="yellow"
        )
    for statement in chain.seen_only:
        console.print(f"    chain #{number} seen {statement}", style="magenta")
    if any(identity is not None for identity in chain.backends):
        console.print(f"    served by: {backends_line(chain.backends)}")
    for issue in chain.issues or ():
        console.print(f"    chain issue: {issue.kind}: {safe_text(issue.detail)}", style="yellow")
    for store, judged in (chain.trust or {}).items():
        for mode, verdict in (("lenient", judged.lenient), ("strict", judged.strict)):
            words = "trusted" if verdict.trusted else "NOT trusted"
            console.print(
                f"    {safe_text(store)} ({mode}): {words}"
                + (
                    f": {verdict.reason}: {safe_text(verdict.detail)}"
                    if not verdict.trusted
                    else ""
                ),
                style="green" if verdict.trusted else "red",
            )


def _print_certificate(position: int, info: CertificateInfo, console: Console) -> None:
    if info.parse_error:
        console.print(f"    {position} {info.parse_error}", style="red")
        console.print(f"      sha256 {info.sha256}")
        return
    console.print(f"    {position} s: {safe_text(info.subject)}")
    console.print(f"      i: {safe_text(info.issuer)}")
    console.print(
        f"      {info.key}, {info.signature_algorithm}, serial {info.serial}, "
        f"valid {info.not_before[:10]} to {info.not_after[:10]}",
        style="dim",
    )
    console.print(f"      sha256 {info.sha256}", style="dim")


def _print_missing(target: TargetCensus, console: Console) -> None:
    for store, missing in (target.missing_cas or {}).items():
        store_name = safe_text(store)
        if not missing.certificates and missing.complete:
            console.print(f"\n  {store_name} already trusts every chain served.", style="green")
            continue
        if missing.certificates:
            console.print(f"\n  To trust every chain, add to {store_name}:", style="bold")
            for cert in missing.certificates:
                kind = "root" if cert.is_root else "intermediate"
                console.print(
                    f"    {kind}: {safe_text(cert.subject.rfc4514_string())}  sha256 {cert.sha256}"
                )
        for chain_id, unknown in missing.unknown_issuers.items():
            key = f" (key identifier {unknown.key_identifier})" if unknown.key_identifier else ""
            console.print(
                f"    chain {chain_id[:12]} also needs a root known nowhere: "
                f"{safe_text(unknown.subject)}{key}; {safe_text(unknown.where_to_get_it())}",
                style="red",
            )
        for chain_id, why in missing.unfixable.items():
            console.print(
                f"    chain {chain_id[:12]} cannot be fixed by adding CAs: {safe_text(why)}",
                style="red",
            )


def _print_clients(target: TargetCensus, console: Console) -> None:
    """What this means for your clients: one line per trust store judged (none when none)."""
    if not target.clients:
        return
    if len(target.clients) == 1:
        line = safe_text(target.clients[0].sentence())
        console.print(f"\n  What this means for your clients: {line}", style="bold")
        return
    console.print("\n  What this means for your clients:", style="bold")
    for impact in target.clients:
        console.print(
            f"    {safe_text(impact.sentence())}", style="green" if impact.fine else "red"
        )


def backends_line(backends, limit: int = 8) -> str:
    """`a 12, b 3, (no identity) 2`: a chain's backends, most probes first, the first `limit`."""
    parts = [
        f"{identity if identity is not None else '(no identity)'} {n}"
        for identity, n in ranked(backends)
    ]
    more = len(parts) - limit
    return ", ".join(parts[:limit]) + (f" and {more} more" if more > 0 else "")


def _print_backends(target: TargetCensus, console: Console) -> None:
    backends = target.backends
    if backends is None or not target.chains:
        return
    console.print("\n  Backends", style="bold")
    for sentence in backends.sentences():
        style = "yellow" if "serves" in sentence and "chains (" in sentence else None
        console.print(f"    {sentence}", style=style)
    if not backends.identified:
        return
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("backend", "probes", "chains", "ServerHello"):
        table.add_column(column, justify="right" if column == "probes" else "left")
    for backend in backends.backends:
        chains = ", ".join(
            f"{backends.chain_number(chain)} {n}" for chain, n in backend.chains.most_common()
        )
        if backend.failed:
            chains += (", " if chains else "") + f"failed {backend.failed}"
        table.add_row(
            backend.identity if backend.identity is not None else "(no identity)",
            str(backend.probes),
            chains,
            " ".join(backend.server_hellos),
            style="yellow" if backend.serves_several_chains else None,
        )
    print_table(console, table)
    if len(backends.by_server_hello) > 1:
        for fingerprint, counts in backends.by_server_hello.items():
            served = ", ".join(f"{backends.chain_number(c)} {n}" for c, n in counts.most_common())
            console.print(f"    ServerHello {fingerprint}: {served}", style="dim")


def _print_errors(target: TargetCensus, console: Console) -> None:
    for name, count in target.errors.most_common():
        example = target.error_examples.get(name, "")
        meaning = EXPLANATIONS.get(Outcome(name), "") if name in Outcome._value2member_map_ else ""
        line = f"  {name} x{count}: {example or meaning}"
        console.print(line, style="yellow")


def _short_time(timestamp: float) -> str:
    text = iso_time(timestamp) or ""
    return text[11:19] if text else ""
