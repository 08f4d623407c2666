"""The census object: what every rendering, alert, metric and check reads.

Per target, every distinct chain with its count, share, when and where it was seen, how it
differs from the most common one, and (once judged) each trust store's verdict on it.
JSON (`render/as_json.py`) is one rendering of these objects, not the interface.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple

from certcensus.census.assessment import TargetAssessment
from certcensus.census.backends import BackendCensus
from certcensus.census.clients import ClientImpact
from certcensus.census.coverage import RANDOM_CHOICE, Coverage
from certcensus.census.splits import ChainSplit, chain_split
from certcensus.census.strata import StratumCount
from certcensus.certs.compare import ChainDiff, PositionDiff
from certcensus.certs.info import CertificateInfo
from certcensus.model.names import name_a_client_checks
from certcensus.trust.chain_issues import ChainIssues
from certcensus.trust.missing import MissingCAs
from certcensus.trust.verdict import StoreVerdict

# The timeline keeps every probe of an address while there are at most this many (browsers
# draw ~10k SVG marks smoothly; a report has a few addresses), and past that counts per time
# slice: TIMELINE_BINS slices of the target's span, so its size never depends on the probes.
TIMELINE_MAX_MARKS = 1500
TIMELINE_BINS = 300


class ProbePoint(NamedTuple):
    """One probe, as the timeline draws it."""

    started_at: float
    address: str
    chain_id: str | None  # None: the probe failed (or was a leaf-only capture)
    outcome: str


class BinCount(NamedTuple):
    """Probes of one time slice that got one chain (or failed with one outcome)."""

    chain_id: str | None  # None: failed (or leaf-only), see `outcome`
    outcome: str
    probes: int


class TimelineBin(NamedTuple):
    """One time slice of an address's lane: [start, end) (the last slice includes its end)."""

    number: int  # 0 .. TIMELINE_BINS - 1
    start: float
    end: float
    counts: tuple[BinCount, ...]  # most probes first; ties: the one seen first in the slice

    @property
    def probes(self) -> int:
        return sum(count.probes for count in self.counts)


@dataclass
class TimelineLane:
    """One address's probes over time: every probe (`marks`) or per-slice counts (`bins`)."""

    address: str
    probes: int
    marks: list[ProbePoint] = field(default_factory=list)  # when probes <= TIMELINE_MAX_MARKS
    bins: list[TimelineBin] = field(default_factory=list)  # otherwise; empty slices left out

    @property
    def binned(self) -> bool:
        return not self.marks and bool(self.bins)


@dataclass
class Timeline:
    """Which chain was served when, per address: bounded by TIMELINE_MAX_MARKS marks or
    TIMELINE_BINS slices per lane, whatever the number of probes."""

    start: float
    end: float
    lanes: list[TimelineLane] = field(default_factory=list)  # in order of first probe

    @property
    def probes(self) -> int:
        return sum(lane.probes for lane in self.lanes)

    @property
    def bin_seconds(self) -> float:
        return max(self.end - self.start, 1e-3) / TIMELINE_BINS

    def __bool__(self) -> bool:
        return bool(self.lanes)

    @classmethod
    def of_points(cls, points: Iterable[ProbePoint]) -> Timeline:
        """The timeline of probes given one by one (census objects made by hand, tests): the
        same marks-or-slices rule as the census built from the store."""
        ordered = sorted(points, key=lambda p: p.started_at)
        if not ordered:
            return cls(0.0, 0.0)
        timeline = cls(ordered[0].started_at, ordered[-1].started_at)
        lanes: dict[str, list[ProbePoint]] = {}
        for point in ordered:
            lanes.setdefault(point.address, []).append(point)
        width = timeline.bin_seconds
        for address, lane_points in lanes.items():
            lane = TimelineLane(address, len(lane_points))
            if len(lane_points) <= TIMELINE_MAX_MARKS:
                lane.marks = lane_points
            else:
                slices: dict[int, Counter] = {}
                for p in lane_points:
                    number = min(TIMELINE_BINS - 1, int((p.started_at - timeline.start) / width))
                    slices.setdefault(number, Counter())[(p.chain_id, p.outcome)] += 1
                for number, counts in sorted(slices.items()):
                    start = timeline.start + number * width
                    lane.bins.append(TimelineBin(number, start, start + width, tuple(
                        BinCount(c, o, n) for (c, o), n in counts.most_common())))  # fmt: skip
            timeline.lanes.append(lane)
        return timeline

    def ok_probes_before(self, moment: float) -> int:
        """Probes that got a chain and started before `moment`: exact in lanes of marks; in
        binned lanes whole slices before it count, and the slice holding it pro rata."""
        total = 0.0
        for lane in self.lanes:
            total += sum(1 for p in lane.marks if p.chain_id and p.started_at < moment)
            for slice_ in lane.bins:
                good = sum(c.probes for c in slice_.counts if c.chain_id)
                if slice_.end <= moment:
                    total += good
                elif slice_.start < moment:
                    total += good * (moment - slice_.start) / (slice_.end - slice_.start)
        return int(total)


@dataclass
class ChainCount:
    chain_id: str
    ders: list[bytes]  # the certificates as sent, in wire order
    certificates: list[CertificateInfo]  # the same, described
    count: int = 0
    share: float = 0.0
    first_seen: float = 0.0
    last_seen: float = 0.0
    ips: Counter = field(default_factory=Counter)
    difference: ChainDiff | None = None  # vs the most common chain (None for that one)
    seen_only: list[str] = field(default_factory=list)  # "only without SNI", ...
    vantages: Counter = field(default_factory=Counter)  # probes per vantage (when probed from any)
    trust: dict[str, StoreVerdict] | None = None  # by store name, once judged
    issues: ChainIssues | None = None  # SSL Labs' chain issues (trust/chain_issues.py)
    backends: Counter = field(default_factory=Counter)  # backend identity (None too) -> probes

    @property
    def differences(self) -> list[PositionDiff]:
        """The positions where this chain differs from the most common one."""
        if self.difference is None:
            return []
        return self.difference.changes

    @property
    def leaf(self) -> CertificateInfo | None:
        return self.certificates[0] if self.certificates else None

    def trusted_by(self, store: str) -> bool | None:
        """The lenient verdict of `store`, or None when the chain was not judged against it."""
        if not self.trust or store not in self.trust:
            return None
        return self.trust[store].trusted


@dataclass
class TargetCensus:
    target: str
    host: str
    port: int
    protocol: str
    probes: int = 0
    ok: int = 0
    interrupted: int = 0  # probes cancelled when the run was interrupted: not errors
    errors: Counter = field(default_factory=Counter)
    error_examples: dict[str, str] = field(default_factory=dict)  # class -> one detail line
    chains: list[ChainCount] = field(default_factory=list)  # most common first
    ips: Counter = field(default_factory=Counter)  # probes per address, all outcomes
    leaf_only: Counter = field(default_factory=Counter)  # ingested leaf-only captures, by leaf
    first_probe: float | None = None
    last_probe: float | None = None
    sni: str | None = None  # the first SNI the probes sent, if any
    tls_versions: Counter = field(default_factory=Counter)  # successful probes per version
    ciphers: Counter = field(default_factory=Counter)  # successful probes per cipher suite
    strata: list[StratumCount] = field(default_factory=list)
    timeline: Timeline | None = field(default=None, repr=False)  # bounded, see Timeline
    assessment: TargetAssessment | None = None
    missing_cas: dict[str, MissingCAs] | None = None  # by store name, once judged
    backends: BackendCensus | None = None  # who served which chain (census/backends.py)
    clients: list[ClientImpact] | None = None  # what it means per store's clients, once judged
    # Probed from named vantage points (`certcensus worker --vantage`): probes per vantage, and
    # the coverage statement for each vantage alone (empty when probed from this host only).
    vantages: Counter = field(default_factory=Counter)
    vantage_coverage: dict[str, Coverage] = field(default_factory=dict)

    @property
    def server_name(self) -> str | None:
        """The name a client checks the certificate against (model/names.py has the rule)."""
        return name_a_client_checks(self.sni, self.host)

    @property
    def coverage(self) -> Coverage | None:
        return self.assessment.coverage if self.assessment else None

    def chain_split(self) -> ChainSplit | None:
        """How the chains split by address, SNI, profile or source (None: they do not)."""
        numbers = {chain.chain_id: number for number, chain in enumerate(self.chains, 1)}
        return chain_split(self.strata, numbers)

    def coverage_sentence(self) -> str:
        """The coverage statement in words that fit the pattern seen: when the chains split
        by address (or SNI, profile, source), say so, and assume a random choice only where
        several chains were mixed."""
        if self.coverage is None:
            return ""
        addresses = [ip for ip in self.ips if ip]
        where = (
            f"connections to {addresses[0]}"
            if len(addresses) == 1
            else f"connections to {self.target}"
        )
        split = self.chain_split()
        if split is None:
            return self.coverage.sentence(where)
        lead = split.words()
        lead = lead[0].upper() + lead[1:] + ". "
        if not self.coverage.applicable:
            return lead + self.coverage.sentence(where)
        parts = len(split.parts)
        if split.dimension == "address" and self.coverage.strata == parts:
            where = "connections to any one address"
        else:
            where = f"connections in any one of the {self.coverage.strata} ways we connected"
        mixed = split.mixed_parts
        assumption = (
            f"{RANDOM_CHOICE} for {', '.join(part.label for part in mixed)}" if mixed else None
        )
        return lead + self.coverage.sentence(where, scope="", assumption=assumption)

    def vantage_sentences(self) -> dict[str, str]:
        """Per vantage, the coverage sentence for connections from there alone."""
        return {
            vantage: coverage.sentence(f"connections from vantage {vantage}")
            for vantage, coverage in sorted(self.vantage_coverage.items())
        }

    def share_of(self, chain_id: str) -> float:
        for chain in self.chains:
            if chain.chain_id == chain_id:
                return chain.share
        return 0.0

    @property
    def most_common(self) -> ChainCount | None:
        return self.chains[0] if self.chains else None

    @property
    def failed(self) -> int:
        return self.probes - self.ok - self.interrupted


@dataclass
class Census:
    targets: list[TargetCensus]
    run_ids: list[int] | None = None
    stores: list[str] = field(default_factory=list)  # the trust stores judged against, in order

    def target(self, name: str) -> TargetCensus:
        for target in self.targets:
            if target.target == name:
                return target
        raise KeyError(name)

    @property
    def any_ok(self) -> bool:
        return any(t.ok for t in self.targets)

    @property
    def judged(self) -> bool:
        return bool(self.stores)
