"""The watch loop: a census of every target each round, into one store, then alerts and metrics.

Each round is one run in the store (`command="watch"`), so `certcensus report --run N` shows any
round again. Targets that share a probe count and a ClientHello profile share one ScanPlan;
the plans of a round run concurrently under the same run id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from certcensus.census.build import build_census
from certcensus.probe.dialogs import DialogOptions
from certcensus.render.as_json import census_to_dict
from certcensus.probe.prober import ProbeSettings
from certcensus.probe.profiles import DEFAULT_ENGINE, client_context
from certcensus.probe.scheduler import Scan, ScanPlan
from certcensus.store.base import Store
from certcensus.probe.targets import Target, parse_target
from certcensus.watch.alerts import AlertEvent, ChangeDetector, chains_in_store
from certcensus.watch.config import WatchTarget
from certcensus.watch.metrics import MetricsState

# {chain id: {store name: trusted}} from the census dict of a round; wired to certcensus.trust.
VerdictHook = Callable[[dict], dict]


@dataclass
class ProbeOptions:
    default_count: int = 50
    timeout: float = 10.0
    rate: float = 5.0
    concurrency: int = 32
    ehlo_name: str = "certcensus.invalid"
    engine: str = DEFAULT_ENGINE  # the handshake engine (see probe/prober.py)


def build_plans(watch_targets: list[WatchTarget], options: ProbeOptions) -> list[ScanPlan]:
    """One ScanPlan per (count, profile); raises targets.TargetError for a bad target."""
    from certcensus.cli.scan import server_name  # the same SNI rule as `scan`

    groups: dict[tuple[int, str], dict[str, tuple[Target, ProbeSettings]]] = {}
    for spec in watch_targets:
        target = parse_target(spec.text, spec.starttls)
        settings = ProbeSettings(
            context=client_context(spec.profile), timeout=options.timeout,
            sni=server_name(target, spec.profile, spec.sni, False),
            dialog_options=DialogOptions(host=target.host, ehlo_name=options.ehlo_name),
            profile=spec.profile, engine=options.engine,
        )  # fmt: skip
        key = (spec.count or options.default_count, spec.profile)
        groups.setdefault(key, {}).setdefault(target.name, (target, settings))
    return [
        ScanPlan(
            targets=[target for target, _ in members.values()],
            settings={(name, profile): settings for name, (_, settings) in members.items()},
            count=count, rate=options.rate, concurrency=options.concurrency, profiles=[profile],
        )  # fmt: skip
        for (count, profile), members in groups.items()
    ]


@dataclass
class RoundReport:
    number: int
    run_id: int
    census: dict
    events: list[AlertEvent] = field(default_factory=list)
    verdicts: dict = field(default_factory=dict)  # {chain id: {store: trusted}}


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
        metrics: MetricsState | None = None,
        verdicts: VerdictHook | None = None,
        on_round_end: Callable[[RoundReport], object] | None = None,
        on_observation: Callable[[object], None] | None = None,
    ):
        self.plans, self.store, self.every, self.rounds = plans, store, every, rounds
        self.names = list(dict.fromkeys(t.name for plan in plans for t in plan.targets))
        self.sinks = list(sinks)
        self.metrics = metrics
        self.verdicts = verdicts
        self.on_round_end = on_round_end
        self.on_observation = on_observation
        self.detector = ChangeDetector(chains_in_store(store, self.names), warn_days=warn_days)
        self.stop = asyncio.Event()
        self.alerts = 0
        self.rounds_done = 0
        self._scans: list[Scan] = []

    def interrupt(self) -> None:
        self.stop.set()
        for scan in self._scans:
            scan.interrupt()

    async def run(self) -> int:
        """Watch; returns the number of rounds completed."""
        from certcensus.cli.scan import start_profile_workers  # profiles needing their own OpenSSL

        workers = [worker for plan in self.plans for worker in await start_profile_workers(plan)]
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
            for worker in workers:
                await worker.close()
        return self.rounds_done

    async def run_round(self) -> RoundReport:
        run_id = self.store.start_run("watch", self.names)
        self._scans = [Scan(plan, self.store, run_id, self.on_observation) for plan in self.plans]
        try:
            await asyncio.gather(*(scan.run() for scan in self._scans))
        finally:
            self._scans = []
            self.store.finish_run(run_id)
        census = census_to_dict(build_census(self.store, self.names, [run_id]))
        verdicts = await asyncio.to_thread(self.verdicts, census) if self.verdicts else {}
        if self.stop.is_set():
            # An interrupted round is partial: its absences prove nothing, so no alerts.
            return RoundReport(self.rounds_done + 1, run_id, census, [], verdicts)
        events = self.detector.observe_round(census, verdicts, dt.datetime.now(dt.timezone.utc))
        for event in events:
            for sink in self.sinks:
                sink.deliver(event)
        self.alerts += len(events)
        if self.metrics is not None:
            self.metrics.update(census, verdicts)
        self.rounds_done += 1
        report = RoundReport(self.rounds_done, run_id, census, events, verdicts)
        if self.on_round_end is not None:
            result = self.on_round_end(report)
            if inspect.isawaitable(result):
                await result
        return report
