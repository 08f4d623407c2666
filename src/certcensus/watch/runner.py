"""The watch loop: a census of every target each round, into one store, then alerts and metrics.

Each round is one run in the store (`command="watch"`), so `certcensus report --run N` shows any
round again. Targets that share a probe count and a ClientHello profile share one plan (built by
probe/plan.py, the same rules as `scan`); the plans of a round run concurrently under one run id.
Every consumer of a round reads its census object.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from certcensus.census.build import build_census
from certcensus.census.judged import judge_census
from certcensus.census.model import Census
from certcensus.fleet.cluster import Cluster, DaskSpec
from certcensus.fleet.scan import FleetScan
from certcensus.model import defaults
from certcensus.probe.plan import ProbeOptions, ScanPlan, build_plan
from certcensus.probe.probers import Prober, close_probers, start_probers
from certcensus.probe.profiles import DEFAULT_ENGINE
from certcensus.probe.scheduler import Scan
from certcensus.probe.targets import Target, parse_target
from certcensus.store.base import Store
from certcensus.trust.judge import TrustJudge
from certcensus.watch.alerts import AlertEvent, ChangeDetector, chains_in_store
from certcensus.watch.config import WatchTarget
from certcensus.watch.families import not_after_in_pool
from certcensus.watch.metrics import WatchMetrics


@dataclass(frozen=True)
class WatchSettings:
    """How each round probes: the command line's values (a targets file may override some)."""

    default_count: int = defaults.WATCH_COUNT
    timeout: float = defaults.TIMEOUT_SECONDS
    rate: float = defaults.RATE_PER_ADDRESS
    concurrency: int | None = None  # None: default_concurrency, with polite per-target limits
    default_concurrency: int = defaults.WATCH_CONCURRENCY
    protocol_options: dict = field(default_factory=dict)
    engine: str = DEFAULT_ENGINE  # --engine: native or openssl
    # The baseline round (a target's first, with no history in the store) stops when sure:
    # with `confidence`, no chain served on `min_share` or more of connections was missed.
    confidence: float = defaults.CONFIDENCE
    min_share: float = defaults.MIN_SHARE


def build_plans(watch_targets: list[WatchTarget], settings: WatchSettings) -> list[ScanPlan]:
    """One plan per group of targets probed alike (count, profile, SNI, rate, timeout, protocol
    options); raises TargetError for a bad target."""
    groups: dict[tuple, list[Target]] = {}
    for spec in watch_targets:
        target = parse_target(spec.text, spec.starttls)
        options = {**settings.protocol_options, **spec.protocol_options}
        key = (
            spec.count or settings.default_count, spec.profile, spec.sni,
            settings.rate if spec.rate is None else spec.rate,
            spec.timeout or settings.timeout, tuple(sorted(options.items())),
        )  # fmt: skip
        groups.setdefault(key, []).append(target)
    contexts: dict = {}  # one TLS context per profile, shared by every plan
    return [
        build_plan(
            targets,
            ProbeOptions(timeout, sni, False, dict(options), engine=settings.engine),
            profiles=[profile],
            count=count,
            rate=rate,
            concurrency=settings.concurrency,
            default_concurrency=settings.default_concurrency,
            contexts=contexts,
        )  # fmt: skip
        for (count, profile, sni, rate, timeout, options), targets in groups.items()
    ]


def baseline_plans(
    plans: list[ScanPlan], names: set[str], sure: tuple[float, float]
) -> list[ScanPlan]:
    """The plans of a first round: targets in `names` (no history) stop when sure at
    `sure` = (min_share, confidence), with no probe count; the others probe as every round."""
    first = []
    for plan in plans:
        new = [t for t in plan.targets if t.name in names]
        known = [t for t in plan.targets if t.name not in names]
        if new:
            first.append(replace(plan, targets=new, count=None, stop_when_sure=sure))
        if known:
            first.append(replace(plan, targets=known))
    return first


@dataclass
class RoundReport:
    number: int
    run_id: int
    census: Census
    events: list[AlertEvent] = field(default_factory=list)


class Watcher:
    """Runs rounds every `every` seconds until `rounds` are done or `interrupt()` is called."""

    def __init__(
        self,
        plans: list[ScanPlan],
        store: Store,
        *,
        every: float,
        rounds: int | None = None,
        warn_days: float = 30.0,
        sinks=(),
        metrics: WatchMetrics | None = None,
        judge: TrustJudge | None = None,
        on_round_end: Callable[[RoundReport], object] | None = None,
        on_observation: Callable[[object], None] | None = None,
        probers: dict[str, Prober] | None = None,
        baseline: tuple[float, float] | None = (defaults.MIN_SHARE, defaults.CONFIDENCE),
        dask: DaskSpec | None = None,
        vantages: list[str] | None = None,
    ):
        self.plans, self.store, self.every, self.rounds = plans, store, every, rounds
        # --dask: each round's plans run on this cluster (from these vantages), not here.
        self.dask, self.vantages = dask, vantages
        self._cluster: Cluster | None = None
        self.names = list(dict.fromkeys(t.name for plan in plans for t in plan.targets))
        self.sinks = list(sinks)
        self.metrics = metrics
        self.judge = judge
        self.on_round_end = on_round_end
        self.on_observation = on_observation
        history = chains_in_store(store, self.names)
        self.detector = ChangeDetector(history, warn_days=warn_days)
        # (min_share, confidence) for the first round of targets with no history; None: none.
        self.baseline = baseline
        self.baseline_targets = {name for name in self.names if name not in history}
        self.stop = asyncio.Event()
        self.alerts = 0
        self.rounds_done = 0
        self._given_probers = probers
        self._probers: dict[str, Prober] = {}
        self._scans: list[Scan | FleetScan] = []

    def interrupt(self) -> None:
        self.stop.set()
        for scan in self._scans:
            scan.interrupt()

    async def _start_probers(self) -> None:
        if self._given_probers is not None:
            self._probers = dict(self._given_probers)
            return
        workers: dict[str, int] = {}
        profiles: list[str] = []
        for plan in self.plans:
            workers.update(plan.profiles_in_workers())
            profiles += [p for p in plan.profiles if p not in profiles]
        self._probers = await start_probers(workers, profiles)

    async def run(self) -> int:
        """Watch; returns the number of rounds completed."""
        if self.dask is None:
            return await self._watch()
        async with Cluster(self.dask) as cluster:
            if self.vantages:
                self.vantages = await cluster.check_vantages(self.vantages)
            self._cluster = cluster
            try:
                return await self._watch()
            finally:
                self._cluster = None

    async def _watch(self) -> int:
        if self._cluster is None:
            await self._start_probers()
        for sink in self.sinks:
            await sink.start()
        try:
            while not self.stop.is_set():
                started = time.monotonic()
                await self.run_round()
                if self.rounds is not None and self.rounds_done >= self.rounds:
                    break
                pause = self.every - (time.monotonic() - started)
                if pause > 0:
                    try:
                        await asyncio.wait_for(self.stop.wait(), pause)
                    except TimeoutError:
                        pass
        finally:
            for sink in self.sinks:
                await sink.close()
            if self._given_probers is None and self._probers:
                await close_probers(self._probers, abort=self.stop.is_set())
        return self.rounds_done

    async def run_round(self) -> RoundReport:
        started = time.monotonic()
        run_id = self.store.start_run("watch", self.names)
        plans = self.plans
        if self.rounds_done == 0 and self.baseline and self.baseline_targets:
            plans = baseline_plans(plans, self.baseline_targets, self.baseline)
        if self._cluster is not None:
            shared = getattr(self.store, "shared_url", None)
            self._scans = [
                FleetScan(plan, self.store, run_id, self._cluster, self.vantages, None, shared)
                for plan in plans
            ]
        else:
            self._scans = [
                Scan(plan, self.store, run_id, self.on_observation, self._probers) for plan in plans
            ]
        try:
            await asyncio.gather(*(scan.run() for scan in self._scans))
        finally:
            self._scans = []
            self.store.finish_run(run_id)
        census = build_census(self.store, self.names, [run_id])
        if self.judge is not None:
            await asyncio.to_thread(judge_census, census, self.judge)
        if self.stop.is_set():
            # An interrupted round is partial: its absences prove nothing, so no alerts.
            return RoundReport(self.rounds_done + 1, run_id, census, [])
        events = self.detector.observe_round(census, dt.datetime.now(dt.UTC))
        for event in events:
            for sink in self.sinks:
                sink.deliver(event)
        self.alerts += len(events)
        if self.metrics is not None:
            self.metrics.update(census, time.monotonic() - started, events,
                                not_after_in_pool(self.judge) if self.judge else None)  # fmt: skip
        self.rounds_done += 1
        report = RoundReport(self.rounds_done, run_id, census, events)
        if self.on_round_end is not None:
            result = self.on_round_end(report)
            if inspect.isawaitable(result):
                await result
        return report
