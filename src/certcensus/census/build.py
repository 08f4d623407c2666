"""Building the census from the store: counts per chain, strata, coverage, differences.

Built from the store only (never from the prober), so `scan` and `report` print the same thing.

Streaming: the census never holds an object per probe. It asks the store for

1. one GROUP BY over every target (`Store.probe_groups(GROUPED_BY)`): probes, first and last
   start per combination of the dimensions below. Every count of the census object (probes,
   ok, errors, addresses, chains with their addresses and first/last seen, strata, leaf-only
   captures, the coverage bound) is a sum over these groups; orders (Counter insertion, strata,
   ties between equal counts) follow each group's first start, as the per-probe loop did;
2. the first detail line of each failure class (the same GROUP BY, `first_detail`), only when
   there are failures;
3. for the strata whose randomness can be tested (two chains or more, MIN_PROBES_FOR_TESTS),
   the chain sequence and source ports as two compact arrays (`Store.probe_columns`);
4. for the timeline, each probe of the addresses with at most TIMELINE_MAX_MARKS probes, and
   per-slice counts (`time_bin`) for the others;
5. successful probes per TLS version and cipher suite, and per backend identity and ServerHello
   (two more small GROUP BYs; census/backends.py reads the second).

Vantage (issue 17: probes made by a named `certcensus worker --vantage`) is one of the
dimensions of the first GROUP BY: chains and the target count probes per vantage, a vantage is
part of every stratum's destination (its probes are never pooled with another's: a GeoDNS or
source-hashing balancer serves each its own pool), so "only from vantage eu" is a strata
statement like any other, and each vantage gets its own coverage statement from its strata.

So memory is O(groups + the largest tested stratum x 16 bytes) and the work per probe is done
by the store (SQLite: NumPy over its columnar copy, store/columnar.py) and in NumPy.

Adding a grouping dimension (as issue 17's `vantage` was, or issue 13's backend identity):
1. store/base.py: add its name to GROUP_DIMENSIONS and a line to `_probe_values` (the generic
   answer every backend is checked against);
2. each backend: a column for it (SQLite: an integer `<name>_key` into `texts`, a MIGRATIONS
   step, `_TEXT_COLUMNS`; to keep it on the NumPy path, `CHUNK_COLUMNS` in store/columnar.py,
   `_CHUNK_FIELDS` in store/sqlite.py and `_ARRAY_COLUMNS` in store/sqlite_aggregates.py);
3. here: add a field to the `_Key` namedtuple (GROUPED_BY is its field list, so no position is
   ever counted) and read it as `group.key.<name>`. Every sum over groups then splits by it;
   if it defines a stratum, add it to `StratumKey` and to `destination` in `_stratum_counts`
   and to the `where` of `_sequence_reader`;
4. tests/store/test_store_contract.py: one more dimension in the parametrized comparison.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import NamedTuple, cast

from certcensus.census.assessment import StratumCounts, assess_strata, coverage_of_strata
from certcensus.census.backends import count_backends
from certcensus.census.model import (
    TIMELINE_BINS,
    TIMELINE_MAX_MARKS,
    BinCount,
    Census,
    ChainCount,
    ProbePoint,
    TargetCensus,
    Timeline,
    TimelineBin,
    TimelineLane,
)
from certcensus.census.randomness import MIN_PROBES_FOR_TESTS
from certcensus.census.strata import StratumCount, StratumKey, where_seen
from certcensus.certs.compare import ChainDiff, diff_chains
from certcensus.certs.info import CertificateInfo, describe_certificate
from certcensus.model.defaults import CONFIDENCE
from certcensus.model.outcomes import Outcome
from certcensus.store.base import (
    BACKEND_DIMENSIONS,
    MISSING_INTEGER,
    BackendProbeCount,
    ProbeGroup,
    Store,
    backend_counts_of,
)
from certcensus.trust.chain_issues import ChainIssues, chain_issues


class _Key(NamedTuple):
    """One group's values, named: the fields are GROUPED_BY."""

    target: str
    host: str
    port: int
    protocol: str
    address: str
    sni: str | None
    profile: str
    source_address: str | None
    outcome: str
    chain: str | None
    chain_key: int | None
    leaf_only: bool
    vantage: str | None


GROUPED_BY = _Key._fields
_OK = str(Outcome.OK)


class _Group(NamedTuple):
    key: _Key
    probes: int
    first_at: float
    last_at: float

    @property
    def kind(self) -> str:
        """What the census does with these probes: "chain", "leaf-only" or "failed"."""
        key = self.key
        if key.leaf_only and key.chain is not None:
            return "leaf-only"
        if key.outcome != _OK or key.chain is None:
            return "failed"
        return "chain"


class _Shared:
    """What targets have in common, computed once per census: certificates and differences."""

    def __init__(self, store: Store, chain_ids: Iterable[str]):
        self.ders = store.chains_certificates(chain_ids)
        self._described: dict[str, list[CertificateInfo]] = {}
        self._diffs: dict[tuple[str, str], ChainDiff] = {}
        self._issues: dict[str, ChainIssues] = {}

    def described(self, chain_id: str) -> list[CertificateInfo]:
        if chain_id not in self._described:
            self._described[chain_id] = [describe_certificate(d) for d in self.ders[chain_id]]
        return self._described[chain_id]

    def issues(self, chain_id: str) -> ChainIssues:
        """Its chain issues, found once per chain (judged.py replaces them, never edits)."""
        if chain_id not in self._issues:
            self._issues[chain_id] = chain_issues(self.ders[chain_id])
        return self._issues[chain_id]

    def difference(self, reference: str, chain_id: str) -> ChainDiff:
        if (reference, chain_id) not in self._diffs:
            self._diffs[(reference, chain_id)] = diff_chains(
                self.ders[reference], self.ders[chain_id]
            )
        return self._diffs[(reference, chain_id)]


def build_census(
    store: Store,
    targets: Iterable[str] | None = None,
    run_ids: Iterable[int] | None = None,
    confidence: float = CONFIDENCE,
    *,
    timeline: bool = True,
) -> Census:
    """Count chains per target over `run_ids` (None: every run) for `targets` (None: all), and
    say how sure the count is at `confidence`. `timeline=False` leaves `target.timeline` None
    (for consumers that draw none, such as `trust`)."""
    run_list = list(run_ids) if run_ids is not None else None
    wanted = list(targets) if targets is not None else None
    grouped: dict[str, list[_Group]] = defaultdict(list)
    for group in store.probe_groups(GROUPED_BY, targets=wanted, run_ids=run_list):
        grouped[group.key[0]].append(_Group(_Key(*group.key), *_counts(group)))
    for groups in grouped.values():
        groups.sort(key=lambda g: g.first_at)
    names = wanted if wanted is not None else store.targets(run_list)
    details = _failure_details(store, grouped, wanted, run_list)
    backends = _backend_counts(store, wanted, run_list)
    shared = _Shared(store, {g.key.chain for gs in grouped.values() for g in gs if g.key.chain})
    census = Census(
        [
            _census_of(
                store,
                name,
                grouped.get(name, []),
                details,
                backends,
                shared,
                run_list,
                confidence,
            )  # fmt: skip
            for name in names
        ],
        run_list,
    )
    _add_protocols(store, census, wanted, run_list)
    if timeline:
        _add_timelines(store, census, grouped, run_list)
    return census


def _add_protocols(store: Store, census: Census, targets, run_ids) -> None:
    """Successful probes per TLS version and per cipher suite, for each target."""
    by_name = {t.target: t for t in census.targets}
    groups = store.probe_groups(
        ("target", "tls_version", "cipher", "chain_key", "leaf_only"),
        targets=targets, run_ids=run_ids, where={"outcome": _OK},
    )  # fmt: skip
    for group in sorted(groups, key=lambda g: g.first_at):  # Counter order: first seen first
        name, version, cipher, chain_key, leaf_only = group.key
        target = by_name.get(name)
        if target is None or chain_key is None or leaf_only:
            continue
        if version:
            target.tls_versions[version] += group.probes
        if cipher:
            target.ciphers[cipher] += group.probes


def _counts(group: ProbeGroup) -> tuple[int, float, float]:
    return group.probes, group.first_at, group.last_at


def _backend_counts(store: Store, targets, run_ids) -> dict[str, list[BackendProbeCount]]:
    """Store.backend_counts for every target at once (one aggregate, not one per target)."""
    per_target: dict[str, list[ProbeGroup]] = defaultdict(list)
    for group in store.probe_groups(("target", *BACKEND_DIMENSIONS), targets=targets,
                                    run_ids=run_ids):  # fmt: skip
        per_target[group.key[0]].append(group)
    return {name: backend_counts_of(groups) for name, groups in per_target.items()}


def _failure_details(store, grouped, targets, run_ids) -> dict[tuple[str, str], str]:
    """(target, outcome) -> the detail of that failure class's first probe."""
    failed = {g.key.outcome for gs in grouped.values() for g in gs if g.kind == "failed"}
    if not failed:
        return {}
    groups = store.probe_groups(
        ("target", "outcome", "chain_key", "leaf_only"),
        targets=targets,
        run_ids=run_ids,
        where={"outcome": tuple(sorted(failed))},
        first_detail=True,
    )
    first: dict[tuple[str, str], tuple[float, str]] = {}
    for group in groups:
        target, outcome, chain_key, leaf_only = group.key
        if outcome == _OK and chain_key is not None and not leaf_only:
            continue  # a successful probe, not a failure
        if leaf_only and chain_key is not None:
            continue  # a leaf-only capture
        earlier = first.get((target, outcome))
        if earlier is None or group.first_at < earlier[0]:
            first[(target, outcome)] = (group.first_at, group.first_detail)
    return {key: detail for key, (_, detail) in first.items()}


def _census_of(
    store: Store,
    name: str,
    groups: list[_Group],
    details: dict[tuple[str, str], str],
    backends: dict[str, list[BackendProbeCount]],
    shared: _Shared,
    run_ids: list[int] | None,
    confidence: float,
) -> TargetCensus:
    if not groups:
        host, _, port = name.rpartition(":")
        return TargetCensus(name, host.strip("[]"), int(port) if port.isdigit() else 0, "")
    first = groups[0].key
    census = TargetCensus(name, first.host, first.port, first.protocol)
    by_chain: dict[str, ChainCount] = {}
    strata: dict[StratumKey, StratumCount] = {}
    for group in groups:  # in order of first appearance
        key = group.key
        census.probes += group.probes
        census.ips[key.address] += group.probes
        if key.vantage is not None:
            census.vantages[key.vantage] += group.probes
        if census.sni is None and key.sni:
            census.sni = key.sni
        stratum_key = StratumKey(key.address, key.sni, key.profile, key.source_address, key.vantage)
        stratum = strata.setdefault(stratum_key, StratumCount(stratum_key))
        stratum.probes += group.probes
        if key.outcome == Outcome.INTERRUPTED:  # the user's doing, not the server's
            census.interrupted += group.probes
            continue
        if group.kind == "failed" or key.chain is None:
            census.errors[key.outcome] += group.probes
            census.error_examples.setdefault(key.outcome, details.get((name, key.outcome), ""))
            continue
        chain_id = key.chain
        if group.kind == "leaf-only":
            census.leaf_only[shared.ders[chain_id][0]] += group.probes
            continue
        census.ok += group.probes
        stratum.ok += group.probes
        stratum.chains[chain_id] += group.probes
        chain = by_chain.get(chain_id)
        if chain is None:
            chain = by_chain[chain_id] = ChainCount(
                chain_id, shared.ders[chain_id], shared.described(chain_id),
                first_seen=group.first_at, last_seen=group.last_at,
            )  # fmt: skip
            chain.issues = shared.issues(chain_id)  # judged.py adds what needs the stores
        chain.count += group.probes
        chain.last_seen = max(chain.last_seen, group.last_at)
        chain.ips[key.address] += group.probes
        if key.vantage is not None:
            chain.vantages[key.vantage] += group.probes
    census.first_probe = groups[0].first_at
    census.last_probe = max(g.last_at for g in groups)
    census.chains = sorted(by_chain.values(), key=lambda c: (-c.count, c.first_seen))
    for chain in census.chains:
        chain.share = chain.count / census.ok
    if census.chains:
        reference = census.chains[0]
        for chain in census.chains[1:]:
            chain.difference = shared.difference(reference.chain_id, chain.chain_id)
    census.strata = list(strata.values())
    for chain in census.chains:
        chain.seen_only = where_seen(chain.chain_id, census.strata)
    stratum_counts = _stratum_counts(store, name, groups, run_ids)
    census.assessment = assess_strata(stratum_counts, confidence)
    for vantage in census.vantages:  # what a client at each vantage alone can be told
        mine = [s for s in stratum_counts if _vantage_of(s.destination) == vantage]
        census.vantage_coverage[vantage] = coverage_of_strata(census.assessment, mine, confidence)
    chain_order = [chain.chain_id for chain in census.chains]
    census.backends = count_backends(backends.get(name, []), chain_order, confidence)
    for chain in census.chains:
        chain.backends = census.backends.backends_of(chain.chain_id)
    return census


def _stratum_counts(
    store: Store, name: str, groups: list[_Group], run_ids: list[int] | None
) -> list[StratumCounts]:
    """The successful probes of each (destination, source address), as assessment.py needs
    them: counts now, sequences on demand."""
    strata: dict[tuple, StratumCounts] = {}
    keys_of: dict[tuple, dict[int, str]] = defaultdict(dict)  # chain_key -> chain
    for group in groups:
        key = group.key
        if group.kind != "chain" or key.chain is None or key.chain_key is None:
            continue
        destination = _destination(key)
        stratum = strata.get((destination, key.source_address))
        if stratum is None:
            stratum = strata[(destination, key.source_address)] = StratumCounts(
                destination, key.source_address
            )
        stratum.chains[key.chain] = stratum.chains.get(key.chain, 0) + group.probes
        stratum.first_seen.setdefault(key.chain, group.first_at)
        keys_of[(destination, key.source_address)][key.chain_key] = key.chain
    for stratum_key, stratum in strata.items():
        if len(stratum.chains) >= 2 and stratum.probes >= MIN_PROBES_FOR_TESTS:
            stratum.sequences = _sequence_reader(
                store, name, run_ids, stratum, keys_of[stratum_key]
            )
    return list(strata.values())


def _destination(key: _Key) -> tuple:
    """What a stratum connected to and how; from a vantage, where from as well (a 3-tuple for
    probes made here, as before vantages existed)."""
    if key.vantage is None:
        return (key.address, key.sni, key.profile)
    return (key.address, key.sni, key.profile, key.vantage)


def _vantage_of(destination) -> str | None:
    return destination[3] if len(destination) > 3 else None


def _sequence_reader(store, name, run_ids, stratum: StratumCounts, chain_of_key: dict[int, str]):
    def read():
        import numpy as np

        address, sni, profile = cast(tuple, stratum.destination)[:3]  # as built above
        where = {"address": address, "sni": sni, "profile": profile,
                 "source_address": stratum.source_address, "outcome": _OK, "leaf_only": False,
                 "vantage": _vantage_of(stratum.destination)}  # fmt: skip
        columns = store.probe_columns(
            ("chain_key", "source_port"), target=name, run_ids=run_ids, where=where
        )
        keys = np.frombuffer(columns["chain_key"], dtype=np.int64)
        ports = np.frombuffer(columns["source_port"], dtype=np.int64)
        keep = keys != MISSING_INTEGER
        if not keep.all():
            keys, ports = keys[keep], ports[keep]
        # Chain numbers as StratumCounts.chains has them (first seen first).
        number = {chain: i for i, chain in enumerate(stratum.chains)}
        known = np.array(sorted(chain_of_key), dtype=np.int64)
        numbers = np.array([number[chain_of_key[k]] for k in known.tolist()], dtype=np.int64)
        codes = numbers[np.searchsorted(known, keys)].astype(np.int32)
        if (ports == MISSING_INTEGER).any():
            return codes, None
        return codes, ports.astype(np.int32)  # ports fit; half the memory of int64

    return read


# --- the timeline ---------------------------------------------------------------------------


def _add_timelines(store: Store, census: Census, grouped, run_ids) -> None:
    """Each target's Timeline: marks for small lanes (one query for all such targets), bins for
    the large ones (one query per target that has any)."""
    small_targets: list[str] = []
    for target in census.targets:
        groups = grouped.get(target.target)
        if not groups:
            continue
        lanes: dict[str, TimelineLane] = {}
        for group in groups:
            lane = lanes.setdefault(group.key.address, TimelineLane(group.key.address or "", 0))
            lane.probes += group.probes
        target.timeline = Timeline(
            target.first_probe or 0.0, target.last_probe or 0.0, list(lanes.values())
        )
        if all(lane.probes <= TIMELINE_MAX_MARKS for lane in target.timeline.lanes):
            small_targets.append(target.target)
        else:
            _fill_lanes(store, target, run_ids)
    if small_targets:
        by_name = {t.target: t for t in census.targets}
        marks = store.probe_groups(
            ("target", "address", "started_at", "chain", "outcome", "leaf_only"),
            targets=small_targets,
            run_ids=run_ids,
        )
        _add_marks(by_name, marks)


def _add_marks(by_name: dict[str, TargetCensus], groups: list[ProbeGroup]) -> None:
    lanes = {
        (t.target, lane.address): lane
        for t in by_name.values()
        if t.timeline
        for lane in t.timeline.lanes
    }
    for group in sorted(groups, key=lambda g: g.first_at):
        target, address, started_at, chain, outcome, leaf_only = group.key
        good = outcome == _OK and not leaf_only
        point = ProbePoint(started_at, address, chain if good else None, outcome)
        lanes[(target, address or "")].marks.extend([point] * group.probes)


def _fill_lanes(store: Store, target: TargetCensus, run_ids) -> None:
    timeline = target.timeline
    assert timeline is not None
    small = [lane.address for lane in timeline.lanes if lane.probes <= TIMELINE_MAX_MARKS]
    if small:
        marks = store.probe_groups(
            ("target", "address", "started_at", "chain", "outcome", "leaf_only"),
            targets=[target.target],
            run_ids=run_ids,
            where={"address": tuple(small)},
        )
        _add_marks({target.target: target}, marks)
    large = tuple(lane.address for lane in timeline.lanes if lane.probes > TIMELINE_MAX_MARKS)
    width = timeline.bin_seconds
    groups = store.probe_groups(
        ("address", "time_bin", "chain", "outcome", "leaf_only"),
        targets=[target.target],
        run_ids=run_ids,
        where={"address": large},
        time_bins=(timeline.start, width),
    )
    slices: dict[tuple[str, int], list[tuple[float, BinCount]]] = defaultdict(list)
    for group in groups:
        address, index, chain, outcome, leaf_only = group.key
        good = outcome == _OK and not leaf_only
        index = min(TIMELINE_BINS - 1, max(0, index))
        slices[(address, index)].append(
            (group.first_at, BinCount(chain if good else None, outcome, group.probes))
        )
    for lane in timeline.lanes:
        if lane.probes <= TIMELINE_MAX_MARKS:
            continue
        for index in range(TIMELINE_BINS):
            counts = slices.get((lane.address, index))
            if not counts:
                continue
            merged: Counter = Counter()
            for _, count in sorted(counts, key=lambda item: item[0]):  # first seen first
                merged[(count.chain_id, count.outcome if count.chain_id is None else _OK)] += (
                    count.probes
                )
            start = timeline.start + index * width
            lane.bins.append(
                TimelineBin(
                    index, start, start + width,
                    tuple(BinCount(c, o, n) for (c, o), n in merged.most_common()),
                )
            )  # fmt: skip
