"""The census as one self-contained HTML file a person can open, forward, print or read on a phone.

It reads the census object (census/model.py), like every rendering, with what later analysis
added when it is there: per chain `trust` verdicts, per target coverage and the probe timeline
(drawn by html_timeline.py). Nothing is loaded
from the network: the CSS is inlined from report_assets/ and the timeline is SVG drawn here.
Every string from a certificate or a server goes through `html.escape` (a subject may well be
`CN=<script>...`), and the page carries a Content-Security-Policy that forbids scripts anyway.
"""

from __future__ import annotations

import datetime as dt
from html import escape
from importlib import resources
from urllib.parse import urlsplit

from certcensus.census.coverage import Coverage
from certcensus.census.model import Census, ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo, short_name
from certcensus.certs.text import safe_text
from certcensus.render.as_json import iso_time
from certcensus.render.html_backends import backends_section
from certcensus.render.html_overview import (
    address_table,
    issue_list,
    overview,
    share_bar,
    trust_matrix,
)
from certcensus.render.html_timeline import chain_colour, timeline_svg
from certcensus.trust.verdict import ModeVerdict, StoreVerdict

# A certificate this close to its notAfter is flagged: 30 days is what blackbox_exporter's
# example alerts and most CA renewal reminders use.
EXPIRING_SOON = dt.timedelta(days=30)
# No script, no remote anything: the file must render the same offline and in a mail client.
CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def render_html(
    census: Census,
    *,
    title: str,
    kit_links=None,
    trust_store: str | None = None,
    now: dt.datetime | None = None,
) -> str:
    """One HTML document for `census`.

    `kit_links`: the missing-CA kit's files, as {label: relative href} or [(label, href)]; hrefs
    must be relative (the report travels with its kit). `trust_store`: the store whose verdict
    marks the tree (default: the first store in the trust verdicts). `now`: for expiry marks.
    """
    now = now or dt.datetime.now(dt.UTC)
    links = _checked_links(kit_links)
    store = trust_store or (census.stores[0] if census.stores else None)
    targets = census.targets
    body = [
        f"<header><h1>{escape(title)}</h1>",
        f'<p class="meta">{len(targets)} target{"s" if len(targets) != 1 else ""}; '
        f"generated {escape(_iso(now))}"
        + (f"; trust marks from store <b>{escape(store)}</b>" if store else "")
        + "</p></header>",
    ]
    body.append(overview(census, now))
    body += [
        _target_section(number, target, store, now, census.stores)
        for number, target in enumerate(targets, 1)
    ]
    if links:
        items = "".join(
            f'<li><a href="{escape(href)}" download>{escape(label)}</a></li>'
            for label, href in links
        )
        body.append(
            '<section class="kit"><h2>Missing-CA kit</h2><p>The CA certificates a client '
            f"lacks to accept every chain above, ready to install:</p><ul>{items}</ul></section>"
        )
    body.append("<footer>certcensus: every chain a TLS service presents.</footer>")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_stylesheet()}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )


def _stylesheet() -> str:
    return (resources.files(__package__) / "report_assets" / "report.css").read_text("utf-8")


def _checked_links(kit_links) -> list[tuple[str, str]]:
    if not kit_links:
        return []
    pairs = list(kit_links.items()) if isinstance(kit_links, dict) else list(kit_links)
    for _, href in pairs:
        parts = urlsplit(href)
        if parts.scheme or parts.netloc:
            raise ValueError(f"kit link {href!r} must be a relative path, not a URL")
    return pairs


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _target_section(
    number: int, target: TargetCensus, store: str | None, now: dt.datetime, stores: list[str]
) -> str:
    chains = target.chains
    errors = dict(target.errors.most_common())
    error_text = ", ".join(f"{escape(name)} {count}" for name, count in errors.items())
    parts = [
        f'<section class="target" id="target-{number}" data-target="{escape(target.target)}">',
        f"<h2>{escape(target.target)} <small>{escape(target.protocol or '')}</small></h2>",
        f'<p class="summary"><span class="probes">{target.probes}</span> probes, '
        f'<span class="ok">{target.ok}</span> ok, '
        f'<span class="distinct">{len(chains)}</span> distinct chain{"s" if len(chains) != 1 else ""}'
        + (f'; <span class="errors">errors: {error_text}</span>' if errors else "")
        + f"; {escape(iso_time(target.first_probe) or '')} to "
        f"{escape(iso_time(target.last_probe) or '')}</p>",
    ]
    sentence = target.coverage_sentence()
    if target.coverage is not None and sentence:
        parts.append(
            f'<p class="coverage">{escape(sentence)}{_coverage_figures(target.coverage)}</p>'
        )
    if target.clients:
        parts.append(_clients_paragraph(target))
    if chains:
        parts.append(_census_table(chains, store))
        parts.append(trust_matrix(target, stores))
    if len(target.ips) > 1 or target.failed:
        parts.append(address_table(target))
    if target.timeline:
        parts.append('<h3>Which chain, probe by probe</h3><div class="timeline-box">')
        parts.append(timeline_svg(target.timeline, [chain.chain_id for chain in chains]))
        parts.append(_legend(chains) + "</div>")
    parts += [_chain_article(n, chain, store, now) for n, chain in enumerate(chains, 1)]
    parts.append(backends_section(target))
    if errors:
        rows = "".join(
            f"<li><b>{escape(name)}</b> &times;{count}: "
            f"{escape(target.error_examples.get(name, ''))}</li>"
            for name, count in errors.items()
        )
        parts.append(f'<h3>Failed probes</h3><ul class="failures">{rows}</ul>')
    parts.append("</section>")
    return "".join(parts)


def _clients_paragraph(target: TargetCensus) -> str:
    """What this means for your clients: one sentence per trust store judged."""
    items = "".join(
        f'<li class="{"fine" if impact.fine else "failing"}">{escape(impact.sentence())}</li>'
        for impact in target.clients or []
    )
    return f'<div class="clients"><b>What this means for your clients:</b><ul>{items}</ul></div>'


def _coverage_figures(coverage: Coverage) -> str:
    """The estimates behind the sentence, for readers who want them."""
    figures = [
        f"{coverage.singletons} chain(s) seen only once",
        f"Good-Turing unseen share {coverage.unseen_mass_estimate:.2%}",
        f"Chao1 estimate {coverage.estimated_total:.1f} chains in all",
    ]
    return f"<br><small>{escape('; '.join(figures))}</small>"


def _census_table(chains: list[ChainCount], store: str | None) -> str:
    head = (
        "<th>#</th><th>chain</th><th>share</th><th></th><th>count</th><th>first seen</th>"
        "<th>last seen</th>"
    )
    head += "<th>path as sent</th>" + (f"<th>{escape(store)}</th>" if store else "")
    rows = []
    for number, chain in enumerate(chains, 1):
        path = " &larr; ".join(escape(short_name(info)) for info in chain.certificates)
        trust_cell = f"<td>{_verdict_badge(_verdict(chain, store))}</td>" if store else ""
        rows.append(
            f'<tr class="chain-row" data-chain="{escape(chain.chain_id)}">'
            f'<td><span class="swatch" style="background:{chain_colour(number - 1)}"></span>{number}</td>'
            f'<td class="mono" title="{escape(chain.chain_id)}">{escape(chain.chain_id[:12])}</td>'
            f'<td class="num share">{chain.share * 100:.1f}%</td>'
            f'<td class="bar-cell">{share_bar(chain.share, number - 1)}</td>'
            f'<td class="num count">{chain.count}</td>'
            f"<td>{escape(_short(iso_time(chain.first_seen)))}</td>"
            f"<td>{escape(_short(iso_time(chain.last_seen)))}</td>"
            f"<td>{path}</td>{trust_cell}</tr>"
        )
    return (
        f'<div class="table-box"><table class="census"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _legend(chains: list[ChainCount]) -> str:
    items = "".join(
        f'<li><span class="swatch" style="background:{chain_colour(i)}"></span>chain #{i + 1} '
        f'<span class="mono">{escape(chain.chain_id[:12])}</span></li>'
        for i, chain in enumerate(chains)
    )
    return (
        f'<ul class="legend">{items}<li><span class="swatch failed"></span>failed probe</li></ul>'
    )


def _short(iso: str | None) -> str:
    return (iso or "").replace("T", " ")[:19]


def _verdict(chain: ChainCount, store: str | None) -> ModeVerdict | None:
    if not store or not chain.trust or store not in chain.trust:
        return None
    return chain.trust[store].lenient


def _verdict_badge(verdict: ModeVerdict | None) -> str:
    if verdict is None:
        return '<span class="badge unknown">not judged</span>'
    if verdict.trusted:
        return '<span class="badge trusted">trusted</span>'
    return f'<span class="badge untrusted">untrusted: {escape(str(verdict.reason))}</span>'


def _chain_article(number: int, chain: ChainCount, store: str | None, now: dt.datetime) -> str:
    verdict = _verdict(chain, store)
    parts = [
        f'<article class="chain" data-chain="{escape(chain.chain_id)}">',
        f'<h3><span class="swatch" style="background:{chain_colour(number - 1)}"></span>'
        f'Chain #{number} <span class="mono">{escape(chain.chain_id[:16])}</span> '
        f"<small>{chain.count} probes, {chain.share * 100:.1f}%</small></h3>",
        issue_list(chain, now),
    ]
    if len(chain.ips) > 1:
        spread = ", ".join(f"{escape(ip)} {n}" for ip, n in chain.ips.most_common())
        parts.append(f'<p class="ips">seen from {spread}</p>')
    if chain.vantages:
        spread = ", ".join(f"{escape(v)} {n}" for v, n in sorted(chain.vantages.items()))
        parts.append(f'<p class="vantages">vantages: {spread}</p>')
    for statement in (s for s in chain.seen_only if s.startswith("only from vantage")):
        parts.append(f'<p class="vantages">Chain #{number} seen {escape(statement)}</p>')
    parts.append(_tree(chain.certificates, verdict, store, now))
    if chain.issues:
        items = "".join(
            f'<li data-issue="{escape(str(issue.kind))}"><span class="badge expiring">'
            f"{escape(str(issue.kind))}</span> {escape(safe_text(issue.detail))}</li>"
            for issue in chain.issues
        )
        parts.append(f'<p class="extras">Chain issues:</p><ul class="chain-issues">{items}</ul>')
    if chain.trust:
        parts.append(_trust_table(chain.trust))
    parts.append("</article>")
    return "".join(parts)


def _tree(
    certificates: list[CertificateInfo], verdict: ModeVerdict | None, store: str | None, now
) -> str:
    """leaf -> intermediates -> root as nested lists, following the verdict's path if any."""
    served = {info.sha256: info for info in certificates}
    path = list(verdict.path) if verdict else []
    missing = set(verdict.missing) if verdict else set()
    order = path or [info.sha256 for info in certificates]
    extras = [sha for sha in served if sha not in order]
    named_missing = _missing_names(verdict)
    nodes = []
    for position, sha in enumerate(order):
        info = served.get(sha)
        is_last = position == len(order) - 1
        marks = _validity_marks(info, now) if info else []
        if sha in missing:
            marks.append(("missing", f"missing from {store}"))
        elif is_last and verdict and verdict.trusted:
            marks.append(("trusted", f"trusted: in {store}"))
        if info is None:
            name = named_missing.get(sha) or (verdict.anchor if verdict and is_last else None)
            role = "root (not sent)" if is_last else "intermediate (not sent)"
            nodes.append(_node(role, name or f"certificate {sha[:16]}", None, sha, marks))
        else:
            role = "leaf" if position == 0 else ("root" if info.self_signed else "intermediate")
            nodes.append(_node(role, short_name(info), info, sha, marks))
    last = served.get(order[-1]) if order else None
    if last and not last.self_signed and not (verdict and verdict.trusted):
        # The path stops at a certificate whose issuer nobody sent or holds: show that issuer.
        mark = (
            ("unknown", "not judged") if verdict is None else ("missing", f"missing from {store}")
        )
        nodes.append(_node("issuer (not sent)", last.issuer or "?", None, "", [mark]))
    html = ""
    for node in reversed(nodes):
        html = f"<li>{node}" + (f"<ul>{html}</ul>" if html else "") + "</li>"
    tree = f'<ul class="tree">{html}</ul>'
    if extras:
        extra = "".join(f"<li>{escape(short_name(served[sha]))}</li>" for sha in extras)
        tree += f'<p class="extras">Also sent, not on the path:</p><ul class="extras">{extra}</ul>'
    return tree


def _missing_names(verdict: ModeVerdict | None) -> dict[str, str]:
    """sha256 -> the verdict's sentence about it (the only place a missing CA is named)."""
    names = {}
    for problem in verdict.problems if verdict else []:
        if str(problem.reason).startswith("missing"):
            for sha in problem.certificates:
                names[sha] = problem.detail
    return names


def _validity_marks(info: CertificateInfo, now: dt.datetime) -> list[tuple[str, str]]:
    if not info.not_after:
        return []
    end = dt.datetime.fromisoformat(info.not_after.replace("Z", "+00:00"))
    if end <= now:
        return [("expired", f"expired {info.not_after[:10]}")]
    if end - now < EXPIRING_SOON:
        return [("expiring", f"expires in {(end - now).days} days ({info.not_after[:10]})")]
    return []


def _node(role: str, name: str, info: CertificateInfo | None, sha: str, marks) -> str:
    badges = "".join(f'<span class="badge {cls}">{escape(text)}</span>' for cls, text in marks)
    details = ""
    if info is not None:
        details = (
            f'<div class="cert-details">s: {escape(safe_text(info.subject))}<br>'
            f"i: {escape(safe_text(info.issuer))}<br>{escape(info.key)}, "
            f"valid {escape(info.not_before[:10])} to {escape(info.not_after[:10])}"
            f'<br><span class="mono">sha256 {escape(sha)}</span></div>'
        )
    return (
        f'<div class="node" data-sha256="{escape(sha)}"><span class="role">{escape(role)}</span> '
        f'<span class="name">{escape(safe_text(name))}</span> {badges}{details}</div>'
    )


def _trust_table(trust: dict[str, StoreVerdict]) -> str:
    rows = []
    for store, judged in trust.items():
        for mode, verdict in (("lenient", judged.lenient), ("strict", judged.strict)):
            rows.append(
                f'<tr class="verdict" data-store="{escape(store)}" data-mode="{mode}" '
                f'data-trusted="{str(verdict.trusted).lower()}">'
                f"<td>{escape(store)}</td><td>{mode}</td><td>{_verdict_badge(verdict)}</td>"
                f'<td class="why">{escape(safe_text(verdict.detail))}</td></tr>'
            )
    return (
        '<div class="table-box"><table class="trust"><thead><tr><th>store</th><th>mode</th>'
        f"<th>verdict</th><th>why</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )
