"""Running one plan: its probers started, its scan run into a sink, its probers stopped.

What scan, demo and check do between "plan built" and "census": the caller owns the event loop
and the signals, and calls `interrupt()` to end the run early.
"""

from __future__ import annotations

from collections.abc import Callable

from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import ObservationSink
from certcensus.probe.plan import ScanPlan
from certcensus.probe.probers import Prober, close_probers, start_probers
from certcensus.probe.scheduler import Scan, ScanResult


class PlanRun:
    def __init__(
        self,
        plan: ScanPlan,
        sink: ObservationSink,
        run_id: int,
        on_observation: Callable[[Observation], None] | None = None,
        probers: dict[str, Prober] | None = None,
        on_target_done: Callable[[str], None] | None = None,
    ):
        self.plan = plan
        self.sink = sink
        self.run_id = run_id
        self.on_observation = on_observation
        self.on_target_done = on_target_done
        self._given_probers = probers
        self._scan: Scan | None = None
        self._interrupted: tuple[Outcome, str | None] | None = None

    async def run(self) -> ScanResult:
        probers = self._given_probers
        if probers is None:
            probers = await start_probers(self.plan.profiles_in_workers(), self.plan.profiles)
        scan = self._scan = Scan(
            self.plan, self.sink, self.run_id, self.on_observation, probers, self.on_target_done
        )
        if self._interrupted:
            scan.interrupt(*self._interrupted)
        try:
            return await scan.run()
        finally:
            if self._given_probers is None:
                await close_probers(probers, abort=scan.stop.is_set())

    def probes_still_needed(self) -> int | None:
        """See Scan.probes_still_needed (None before the scan starts, or when not stopping
        when sure)."""
        return self._scan.probes_still_needed() if self._scan is not None else None

    def interrupt(self, outcome: Outcome = Outcome.INTERRUPTED, detail: str | None = None) -> None:
        """End the run early (see Scan.interrupt): probes cut off are recorded as `outcome`."""
        self._interrupted = (outcome, detail)
        if self._scan is not None:
            self._scan.interrupt(outcome, detail)
