"""The report's "Which backends served which chain" part, from the census's BackendCensus.

A section of its own (html_report.py places it) so the report's layout can change around it.
Backend identities are whatever the server said about itself: every one goes through
`html.escape`, like certificate subjects.
"""

from __future__ import annotations

from html import escape

from certcensus.census.backends import BackendCensus
from certcensus.census.model import TargetCensus
from certcensus.render.html_timeline import chain_colour


def _chain_cell(backends: BackendCensus, chain_id: str, count: int) -> str:
    number = backends.chain_number(chain_id)
    colour = (
        chain_colour(backends.chain_order.index(chain_id))
        if chain_id in backends.chain_order
        else "#888"
    )
    return (
        f'<span class="swatch" style="background:{colour}"></span>'
        f'<span title="{escape(chain_id)}">{escape(number)}</span>&nbsp;{count}'
    )


def backends_section(target: TargetCensus) -> str:
    """The backends table, the sentences above it and the ServerHello fingerprints; "" when the
    target has no chains to attribute."""
    backends = target.backends
    if backends is None or not target.chains:
        return ""
    sentences = "".join(f"<li>{escape(line)}</li>" for line in backends.sentences())
    parts = [
        '<section class="backends"><h3>Which backends served which chain</h3>',
        f'<ul class="backend-summary">{sentences}</ul>',
    ]
    if backends.identified:
        rows = []
        for backend in backends.backends:
            name = backend.identity if backend.identity is not None else "(no identity)"
            chains = " ".join(
                _chain_cell(backends, chain, n) for chain, n in backend.chains.most_common()
            )
            if backend.failed:
                chains += f" failed&nbsp;{backend.failed}"
            flag = backend.why_several_chains
            rows.append(
                f'<tr class="backend{" several" if flag else ""}">'
                f'<td class="mono">{escape(name)}</td><td class="num">{backend.probes}</td>'
                f"<td>{chains}</td>"
                f'<td class="mono">{escape(" ".join(backend.server_hellos))}</td>'
                f"<td>{escape(flag or '')}</td></tr>"
            )
        parts.append(
            '<div class="table-box"><table class="backends"><thead><tr><th>backend</th>'
            "<th>probes</th><th>chains</th><th>ServerHello</th><th>note</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )
    if backends.by_server_hello:
        items = "".join(
            f'<li><span class="mono">{escape(fingerprint)}</span>: '
            + " ".join(_chain_cell(backends, chain, n) for chain, n in chains.most_common())
            + "</li>"
            for fingerprint, chains in backends.by_server_hello.items()
        )
        parts.append(f'<p>Chains per ServerHello fingerprint:</p><ul class="hellos">{items}</ul>')
    parts.append("</section>")
    return "".join(parts)
