"""Which chain was served, probe by probe, per address: the census's `timeline` and its SVG.

The SVG is drawn here in Python, not in the browser, so the report stays one file with no
script and prints the same as it shows. One lane per address, time left to right, one mark per
probe coloured by chain (failed probes grey and lower). A lane of more than TIMELINE_MAX_MARKS
probes comes from the census already cut into TIMELINE_BINS time slices (census/model.py's
Timeline), so a report of a week-long watch stays a few hundred kilobytes and the census never
holds every probe; each slice is a stack with one part per chain (and one per failure class)
present in it, each part at least `MIN_PART` high: a chain seen once in a slice of a thousand
probes still marks that slice, so a rare chain never disappears into its neighbours' majority
colour.
"""

from __future__ import annotations

from html import escape

from certcensus.census.model import (
    TIMELINE_BINS,
    TIMELINE_MAX_MARKS,
    ProbePoint,
    TargetCensus,
    Timeline,
    TimelineBin,
)
from certcensus.render.as_json import iso_time

# Okabe & Ito's colour-blind-safe palette (2008), black left out: chain 1 is the first colour.
CHAIN_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
ERROR_COLOUR = "#9a9a9a"
MIN_PART = 3.0  # px of a lane's 22: the smallest part of a slice, visible on any screen
MAX_MARKS, BINS = TIMELINE_MAX_MARKS, TIMELINE_BINS  # the census's bounds (census/model.py)
WIDTH, LANE_HEIGHT, LABEL_WIDTH, AXIS_HEIGHT = 900, 28, 150, 22


def timeline_of(target: TargetCensus) -> list[dict]:
    """The probes the timeline kept one by one (every probe of each lane with at most
    TIMELINE_MAX_MARKS), in time order: {"t", "ip", "chain" (None if it failed), "outcome"}."""
    if not target.timeline:
        return []
    points = sorted(
        (point for lane in target.timeline.lanes for point in lane.marks),
        key=lambda point: point.started_at,
    )
    return [
        {"t": iso_time(point.started_at), "ip": point.address, "chain": point.chain_id,
         "outcome": point.outcome}
        for point in points
    ]  # fmt: skip


def chain_colour(index: int) -> str:
    return CHAIN_COLOURS[index % len(CHAIN_COLOURS)]


def timeline_svg(timeline: Timeline | None, chain_order: list[str]) -> str:
    """An inline <svg> of `timeline`; `chain_order` (most common first) picks the colours."""
    if not timeline:
        return ""
    colour_of = {chain: chain_colour(i) for i, chain in enumerate(chain_order)}
    number_of = {chain: i + 1 for i, chain in enumerate(chain_order)}
    start = timeline.start
    span = max(timeline.end - start, 1e-3)
    plot = WIDTH - LABEL_WIDTH - 10
    height = AXIS_HEIGHT + LANE_HEIGHT * len(timeline.lanes) + 4
    first, last = iso_time(timeline.start) or "", iso_time(timeline.end) or ""

    def x_of(moment: float) -> float:
        return LABEL_WIDTH + (moment - start) / span * plot

    parts = [
        f'<svg class="timeline" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'preserveAspectRatio="xMinYMin meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{timeline.probes} probes from {escape(first)} to "
        f"{escape(last)}, one lane per address</title>",
    ]
    for lane_number, lane in enumerate(timeline.lanes):
        ip = lane.address or "(no address)"
        top = AXIS_HEIGHT + lane_number * LANE_HEIGHT
        parts.append(f'<g class="lane" data-ip="{escape(ip)}" data-probes="{lane.probes}">')
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{top + LANE_HEIGHT / 2 + 4}" text-anchor="end" '
            f'class="lane-label">{escape(ip)}</text>'
        )
        parts.append(
            f'<line x1="{LABEL_WIDTH}" x2="{WIDTH - 10}" y1="{top + LANE_HEIGHT - 2}" '
            f'y2="{top + LANE_HEIGHT - 2}" class="lane-line"/>'
        )
        if lane.marks:
            parts += _marks(lane.marks, x_of, top, colour_of, number_of, plot)
        else:
            parts += _bins(lane.bins, top, colour_of, number_of, plot)
        parts.append("</g>")
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="14" class="axis">{escape(first[:19])}Z</text>'
        f'<text x="{WIDTH - 10}" y="14" text-anchor="end" class="axis">'
        f"{escape(last[:19])}Z</text></svg>"
    )
    return "".join(parts)


def _mark_width(count: int, plot: float) -> float:
    return max(1.5, min(8.0, plot / max(count, 1) * 0.8))


def _marks(points: list[ProbePoint], x_of, top, colour_of, number_of, plot) -> list[str]:
    width = _mark_width(len(points), plot)
    marks = []
    # Rare chains and failures are drawn last, on top: a mark of the common chain must not hide
    # the one probe in a hundred that got the other chain.
    rarest_last = sorted(
        points, key=lambda point: number_of.get(point.chain_id, len(number_of) + 1)
    )
    for point in rarest_last:
        chain = point.chain_id
        if chain:
            colour, y, h = colour_of.get(chain, "#333"), top + 3.0, LANE_HEIGHT - 6.0
            label = f"chain #{number_of.get(chain, '?')} {chain[:12]}"
        else:
            colour, y, h = ERROR_COLOUR, top + LANE_HEIGHT / 2, LANE_HEIGHT / 2 - 3
            label = point.outcome
        marks.append(
            f'<rect class="probe" data-chain="{escape(chain or "")}" '
            f'data-outcome="{escape(point.outcome)}" x="{x_of(point.started_at) - width / 2:.2f}" '
            f'y="{y:.1f}" width="{width:.2f}" height="{h:.1f}" fill="{colour}">'
            f"<title>{escape(iso_time(point.started_at) or '')} {escape(label)}</title></rect>"
        )
    return marks


def _bins(bins: list[TimelineBin], top, colour_of, number_of, plot) -> list[str]:
    width = plot / TIMELINE_BINS
    height = LANE_HEIGHT - 6
    rects = []
    for slice_ in bins:
        if not slice_.counts:
            continue
        total = slice_.probes
        # Most common chain at the bottom, failures on top; every part at least MIN_PART high.
        counts = sorted(
            slice_.counts,
            key=lambda c: (c.chain_id is None, number_of.get(c.chain_id, len(number_of))),
        )
        parts = [max(MIN_PART, height * c.probes / total) for c in counts]
        excess = sum(parts) - height
        if excess > 0:  # the minimum heights are taken from the largest part
            largest = parts.index(max(parts))
            parts[largest] = max(MIN_PART, parts[largest] - excess)
        detail = ", ".join(f"{(c.chain_id or c.outcome)[:12]} {c.probes}" for c in slice_.counts)
        y = top + 3 + height
        x = LABEL_WIDTH + slice_.number * width
        for count, part in zip(counts, parts):
            y -= part
            key = count.chain_id or ""
            failed = count.chain_id is None
            colour = ERROR_COLOUR if failed else colour_of.get(key, "#333")
            what = count.outcome if failed else f"chain #{number_of.get(key, '?')} {key[:12]}"
            rects.append(
                f'<rect class="bin" data-chain="{escape(key)}" '
                f'data-count="{count.probes}" x="{x:.2f}" y="{y:.2f}" width="{width:.2f}" '
                f'height="{part:.2f}" fill="{colour}"><title>{escape(what)}: {count.probes} of '
                f"{total} in this slice ({escape(detail)})</title></rect>"
            )
    return rects
