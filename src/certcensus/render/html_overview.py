"""The parts of the HTML report that answer "what matters" before the details: the overview
(one row per target, in input order), the chain x store trust matrix, the per-address table,
share bars, and each chain's issues in their own words. Read from the census object only.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from html import escape

from certcensus.census.model import Census, ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo, short_name
from certcensus.render.html_timeline import chain_colour

# A share bar is never drawn thinner than this (percent of the bar's width): a 0.1% chain must
# still show as a mark, not vanish into a hairline.
MIN_BAR_PERCENT = 1.5
# Flagged when this close to notAfter (the report's and blackbox_exporter's example alerts).
EXPIRING_SOON = dt.timedelta(days=30)


def days_left(info: CertificateInfo, now: dt.datetime) -> float | None:
    if not info.not_after:
        return None
    end = dt.datetime.fromisoformat(info.not_after.replace("Z", "+00:00"))
    return (end - now).total_seconds() / 86400


def chain_issues(chain: ChainCount, now: dt.datetime) -> list[tuple[str, str]]:
    """(issue, words) for everything wrong with a chain: each verdict problem of each store
    (once, with the store it applies to), then expiry. The words are the verdict's own."""
    issues: list[tuple[str, str]] = []
    seen: dict[tuple[str, str], list[str]] = {}
    for store, verdict in (chain.trust or {}).items():
        for problem in verdict.lenient.problems:
            key = (str(problem.reason), problem.detail)
            if key not in seen:
                seen[key] = []
                issues.append(key)
            seen[key].append(store)
    worded = [(reason, detail) for reason, detail in issues]
    if not chain.trust:
        for info in chain.certificates:
            left = days_left(info, now)
            if left is not None and left <= 0:
                worded.append(("expired", f"{short_name(info)} expired {info.not_after}"))
    for info in chain.certificates:
        left = days_left(info, now)
        if left is not None and 0 < left < EXPIRING_SOON.days:
            worded.append(("expiring", f"{short_name(info)} expires in {int(left)} days "
                                       f"({info.not_after[:10]})"))  # fmt: skip
    return worded


def issue_list(chain: ChainCount, now: dt.datetime) -> str:
    issues = chain_issues(chain, now)
    if not issues:
        return ""
    items = "".join(
        f'<li class="issue" data-issue="{escape(kind)}"><span class="badge issue-{escape(kind)}">'
        f"{escape(kind)}</span> {escape(words)}</li>"
        for kind, words in issues
    )
    return f'<ul class="issues">{items}</ul>'


def share_bar(share: float, index: int) -> str:
    width = max(MIN_BAR_PERCENT, share * 100)
    return (
        f'<span class="bar" title="{share * 100:.2f}%"><span class="fill" '
        f'style="width:{width:.2f}%;background:{chain_colour(index)}"></span></span>'
    )


def _trust_summary(target: TargetCensus, stores: list[str]) -> str:
    cells = []
    for store in stores:
        judged = [c for c in target.chains if c.trusted_by(store) is not None]
        trusted = sum(1 for c in judged if c.trusted_by(store))
        if not judged:
            continue
        kind = "trusted" if trusted == len(judged) else "untrusted"
        cells.append(f'<span class="badge {kind}" data-store="{escape(store)}">{escape(store)} '
                     f"{trusted}/{len(judged)}</span>")  # fmt: skip
    return " ".join(cells) or '<span class="muted">not judged</span>'


def overview(census: Census, now: dt.datetime) -> str:
    """One row per target, in input order: what a reader must know before scrolling."""
    rows = []
    for number, target in enumerate(census.targets, 1):
        chains = target.chains
        rare = min(chains, key=lambda c: c.share) if len(chains) > 1 else None
        kinds = Counter(kind for chain in chains for kind, _ in chain_issues(chain, now))
        issues = ", ".join(f"{escape(kind)}" + (f" &times;{n}" if n > 1 else "")
                           for kind, n in kinds.items())  # fmt: skip
        failed = target.probes - target.ok
        rows.append(
            f'<tr class="overview-row" data-target="{escape(target.target)}">'
            f'<td data-label="target"><a href="#target-{number}">{escape(target.target)}</a></td>'
            f'<td class="num chains" data-label="chains">{len(chains)}</td>'
            f'<td class="num rare" data-label="rarest chain">'
            f"{f'{rare.share * 100:.1f}%' if rare else '&ndash;'}</td>"
            f'<td class="num" data-label="probes ok">{target.ok}/{target.probes}'
            + (f' <span class="badge untrusted">{failed} failed</span>' if failed else "")
            + f'</td><td data-label="trust">{_trust_summary(target, census.stores)}</td>'
            f'<td class="issues-cell" data-label="issues">{issues or "none"}</td></tr>'
        )
    return (
        '<section class="overview"><h2>Overview</h2><div class="table-box"><table '
        'class="overview"><thead><tr><th>target</th><th>chains</th><th>rarest chain</th>'
        "<th>probes ok</th><th>trust per store</th><th>chain issues</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def trust_matrix(target: TargetCensus, stores: list[str]) -> str:
    """Chains down, stores across: each cell the lenient verdict and its reason."""
    if not stores or not target.chains:
        return ""
    head = "".join(f"<th>{escape(store)}</th>" for store in stores)
    rows = []
    for number, chain in enumerate(target.chains, 1):
        cells = []
        for store in stores:
            verdict = (chain.trust or {}).get(store)
            if verdict is None:
                cells.append('<td class="cell unknown">not judged</td>')
                continue
            lenient = verdict.lenient
            kind = "trusted" if lenient.trusted else "untrusted"
            strict = "" if verdict.strict.trusted else " (strict: no)"
            cells.append(f'<td class="cell {kind}" data-store="{escape(store)}" '
                         f'data-trusted="{str(lenient.trusted).lower()}" '
                         f'title="{escape(lenient.detail)}">{escape(str(lenient.reason))}'
                         f"{escape(strict) if lenient.trusted else ''}</td>")  # fmt: skip
        rows.append(
            f'<tr data-chain="{escape(chain.chain_id)}"><th><span class="swatch" '
            f'style="background:{chain_colour(number - 1)}"></span>#{number} '
            f'<span class="mono">{escape(chain.chain_id[:12])}</span></th>{"".join(cells)}</tr>'
        )
    return (
        '<h3>Trust: chain &times; store</h3><div class="table-box"><table class="matrix">'
        f"<thead><tr><th>chain</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def address_table(target: TargetCensus) -> str:
    """Per address: probes, failures, and how many got each chain."""
    addresses = [ip for ip in target.ips]
    if not addresses:
        return ""
    head = "".join(
        f'<th><span class="swatch" style="background:{chain_colour(i)}"></span>#{i + 1}</th>'
        for i in range(len(target.chains))
    )
    rows = []
    for ip in addresses:
        probes = target.ips[ip]
        got = [chain.ips.get(ip, 0) for chain in target.chains]
        failed = probes - sum(got)
        cells = "".join(f'<td class="num">{n or ""}</td>' for n in got)
        rows.append(f'<tr data-ip="{escape(ip)}"><td class="mono">{escape(ip or "(none)")}</td>'
                    f'<td class="num">{probes}</td>{cells}'
                    f'<td class="num">{failed or ""}</td></tr>')  # fmt: skip
    return (
        '<h3>Per address</h3><div class="table-box"><table class="addresses"><thead><tr>'
        f"<th>address</th><th>probes</th>{head}<th>failed</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
