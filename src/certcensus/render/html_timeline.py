"""Which chain was served, probe by probe, per address: the census's `timeline` and its SVG.

The SVG is drawn here in Python, not in the browser, so the report stays one file with no
script and prints the same as it shows. One lane per address, time left to right, one mark per
probe coloured by chain (failed probes grey and lower). Past `MAX_MARKS` probes in a lane the
lane is cut into `BINS` time slices, so a report of a week-long watch stays a few hundred
kilobytes; each slice is a stack with one part per chain (and one for failures) present in it,
each part at least `MIN_PART` high: a chain seen once in a slice of a thousand probes still
marks that slice, so a rare chain never disappears into its neighbours' majority colour.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from html import escape

from certcensus.census.model import TargetCensus
from certcensus.render.as_json import iso_time

# Okabe & Ito's colour-blind-safe palette (2008), black left out: chain 1 is the first colour.
CHAIN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
ERROR_COLOUR = "#9a9a9a"
MAX_MARKS = 1500  # per lane; beyond this, bins (browsers slow down past ~10k SVG elements)
BINS = 300
MIN_PART = 3.0  # px of a lane's 22: the smallest part of a slice, visible on any screen
WIDTH, LANE_HEIGHT, LABEL_WIDTH, AXIS_HEIGHT = 900, 28, 150, 22


def timeline_of(target: TargetCensus) -> list[dict]:
    """Every probe of a target in time order: {"t", "ip", "chain" (None if it failed), "outcome"}."""
    return [
        {"t": iso_time(point.started_at), "ip": point.address, "chain": point.chain_id,
         "outcome": point.outcome}
        for point in target.timeline
    ]  # fmt: skip


def chain_colour(index: int) -> str:
    return CHAIN_COLOURS[index % len(CHAIN_COLOURS)]


def _seconds(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def timeline_svg(timeline: list[dict], chain_order: list[str]) -> str:
    """An inline <svg> of `timeline`; `chain_order` (most common first) picks the colours."""
    if not timeline:
        return ""
    colour_of = {chain: chain_colour(i) for i, chain in enumerate(chain_order)}
    number_of = {chain: i + 1 for i, chain in enumerate(chain_order)}
    times = [_seconds(entry["t"]) for entry in timeline]
    start, end = min(times), max(times)
    span = max(end - start, 1e-3)
    lanes: dict[str, list[tuple[float, dict]]] = {}
    for moment, entry in zip(times, timeline):
        lanes.setdefault(entry["ip"] or "(no address)", []).append((moment, entry))
    plot = WIDTH - LABEL_WIDTH - 10
    height = AXIS_HEIGHT + LANE_HEIGHT * len(lanes) + 4

    def x_of(moment: float) -> float:
        return LABEL_WIDTH + (moment - start) / span * plot

    parts = [
        f'<svg class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{len(timeline)} probes from {escape(timeline[0]['t'])} to "
        f"{escape(timeline[-1]['t'])}, one lane per address</title>",
    ]
    for lane_number, (ip, entries) in enumerate(lanes.items()):
        top = AXIS_HEIGHT + lane_number * LANE_HEIGHT
        parts.append(f'<g class="lane" data-ip="{escape(ip)}" data-probes="{len(entries)}">')
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{top + LANE_HEIGHT / 2 + 4}" text-anchor="end" '
            f'class="lane-label">{escape(ip)}</text>'
        )
        parts.append(
            f'<line x1="{LABEL_WIDTH}" x2="{WIDTH - 10}" y1="{top + LANE_HEIGHT - 2}" '
            f'y2="{top + LANE_HEIGHT - 2}" class="lane-line"/>'
        )
        if len(entries) <= MAX_MARKS:
            parts += _marks(entries, x_of, top, colour_of, number_of, plot)
        else:
            parts += _bins(entries, start, span, top, colour_of, number_of, plot)
        parts.append("</g>")
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="14" class="axis">{escape(timeline[0]["t"][:19])}Z</text>'
        f'<text x="{WIDTH - 10}" y="14" text-anchor="end" class="axis">'
        f"{escape(timeline[-1]['t'][:19])}Z</text></svg>"
    )
    return "".join(parts)


def _mark_width(count: int, plot: float) -> float:
    return max(1.5, min(8.0, plot / max(count, 1) * 0.8))


def _marks(entries, x_of, top, colour_of, number_of, plot) -> list[str]:
    width = _mark_width(len(entries), plot)
    marks = []
    # Rare chains and failures are drawn last, on top: a mark of the common chain must not hide
    # the one probe in a hundred that got the other chain.
    rarest_last = sorted(
        entries, key=lambda item: number_of.get(item[1]["chain"], len(number_of) + 1)
    )
    for moment, entry in rarest_last:
        chain = entry["chain"]
        if chain:
            colour, y, h = colour_of.get(chain, "#333"), top + 3.0, LANE_HEIGHT - 6.0
            label = f"chain #{number_of.get(chain, '?')} {chain[:12]}"
        else:
            colour, y, h = ERROR_COLOUR, top + LANE_HEIGHT / 2, LANE_HEIGHT / 2 - 3
            label = entry["outcome"]
        marks.append(
            f'<rect class="probe" data-chain="{escape(chain or "")}" '
            f'data-outcome="{escape(entry["outcome"])}" x="{x_of(moment) - width / 2:.2f}" '
            f'y="{y:.1f}" width="{width:.2f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{escape(entry['t'])} {escape(label)}</title></rect>"
        )
    return marks


def _bins(entries, start, span, top, colour_of, number_of, plot) -> list[str]:
    slices: list[Counter] = [Counter() for _ in range(BINS)]
    for moment, entry in entries:
        index = min(BINS - 1, int((moment - start) / span * BINS))
        slices[index][entry["chain"] or f"!{entry['outcome']}"] += 1
    width = plot / BINS
    height = LANE_HEIGHT - 6
    rects = []
    for index, counts in enumerate(slices):
        if not counts:
            continue
        total = sum(counts.values())
        # Most common chain at the bottom, failures on top; every part at least MIN_PART high.
        keys = sorted(counts, key=lambda k: (k.startswith("!"), number_of.get(k, len(number_of))))
        parts = [max(MIN_PART, height * counts[k] / total) for k in keys]
        excess = sum(parts) - height
        if excess > 0:  # the minimum heights are taken from the largest part
            largest = parts.index(max(parts))
            parts[largest] = max(MIN_PART, parts[largest] - excess)
        detail = ", ".join(f"{k.lstrip('!')[:12]} {n}" for k, n in counts.most_common())
        y = top + 3 + height
        x = LABEL_WIDTH + index * width
        for key, part in zip(keys, parts):
            y -= part
            failed = key.startswith("!")
            colour = ERROR_COLOUR if failed else colour_of.get(key, "#333")
            what = key[1:] if failed else f"chain #{number_of.get(key, '?')} {key[:12]}"
            rects.append(
                f'<rect class="bin" data-chain="{"" if failed else escape(key)}" '
                f'data-count="{counts[key]}" x="{x:.2f}" y="{y:.2f}" width="{width:.2f}" '
                f'height="{part:.2f}" fill="{colour}"><title>{escape(what)}: {counts[key]} of '
                f"{total} in this slice ({escape(detail)})</title></rect>"
            )
    return rects
