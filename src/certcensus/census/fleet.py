"""A fleet's census at a glance: one line per target, and what changed since its last run.

For thousands of targets nobody reads every chain of every target: `report` shows this overview
and the details of a target on demand (`--target`). "Changed" compares the chains a target
served in the census with those it served in the run before (the newest earlier run that probed
it), read from the store with one GROUP BY per distinct earlier run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from certcensus.census.coverage import _format_share
from certcensus.census.model import Census, TargetCensus
from certcensus.store.base import Store


@dataclass(frozen=True)
class Change:
    """How a target's chains differ from the run before; `previous_run` None: no history."""

    previous_run: int | None
    new: tuple[str, ...] = ()  # chain ids served now and not then
    gone: tuple[str, ...] = ()  # chain ids served then and not now

    @property
    def changed(self) -> bool:
        return bool(self.new or self.gone)


@dataclass
class FleetLine:
    target: str
    protocol: str
    probes: int
    ok: int
    chains: int
    coverage: str  # "<= 1.2% missed", "no statement", "" (no successful probe)
    change: Change
    notes: list[str] = field(default_factory=list)

    @property
    def multiple(self) -> bool:
        return self.chains > 1


def previous_runs(store: Store, census: Census) -> dict[str, int | None]:
    """For each target of the census, the newest run that probed it before the census's own
    runs of it (None: a census of every run, or no earlier run)."""
    in_census = set(census.run_ids) if census.run_ids is not None else None
    runs_of: dict[str, list[int]] = {}
    for run in store.runs():
        for name in run.targets:
            runs_of.setdefault(name, []).append(run.run_id)
    previous: dict[str, int | None] = {}
    for target in census.targets:
        mine = runs_of.get(target.target, [])
        counted = [r for r in mine if in_census is not None and r in in_census]
        earlier = [r for r in mine if counted and r < min(counted)]
        previous[target.target] = max(earlier) if earlier else None
    return previous


def changes(store: Store, census: Census) -> dict[str, Change]:
    """Each target's Change against the run before the census."""
    before = previous_runs(store, census)
    by_run: dict[int, list[str]] = {}
    for name, run in before.items():
        if run is not None:
            by_run.setdefault(run, []).append(name)
    then: dict[str, Counter] = {}
    for run, names in by_run.items():
        then.update(store.chains_by_target([run], names))
    result = {}
    for target in census.targets:
        run = before[target.target]
        if run is None:
            result[target.target] = Change(None)
            continue
        now = {chain.chain_id for chain in target.chains}
        old = set(then.get(target.target, Counter()))
        result[target.target] = Change(run, tuple(sorted(now - old)), tuple(sorted(old - now)))
    return result


def fleet_lines(census: Census, changed: dict[str, Change]) -> list[FleetLine]:
    return [_line(target, changed.get(target.target, Change(None))) for target in census.targets]


def _line(target: TargetCensus, change: Change) -> FleetLine:
    coverage = ""
    if target.coverage is not None and target.ok:
        coverage = (
            f"<= {_format_share(target.coverage.max_missed_share)} missed"
            if target.coverage.applicable
            else "no statement"
        )
    notes: list[str] = []
    for number, chain in enumerate(target.chains, 1):
        notes += [f"chain #{number} {statement}" for statement in chain.seen_only]
    if change.new:
        notes.append(f"{len(change.new)} new since run {change.previous_run}")
    if change.gone:
        notes.append(f"{len(change.gone)} gone since run {change.previous_run}")
    if target.errors:
        notes.append("errors: " + ", ".join(f"{n} {c}" for n, c in target.errors.most_common()))
    return FleetLine(
        target.target, target.protocol, target.probes, target.ok, len(target.chains), coverage,
        change, notes,
    )  # fmt: skip


def select(
    census: Census, changed: dict[str, Change], *, only_changed: bool, only_multiple: bool
) -> Census:
    """The census of the targets that pass the filters (all of them without filters)."""
    kept: Iterable[TargetCensus] = census.targets
    if only_changed:
        kept = [t for t in kept if changed.get(t.target, Change(None)).changed]
    if only_multiple:
        kept = [t for t in kept if len(t.chains) > 1]
    return Census(list(kept), census.run_ids, census.stores)
