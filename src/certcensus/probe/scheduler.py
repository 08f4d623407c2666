"""Runs probes: how many, how fast, against which addresses and profiles, until when.

Each (target, address, profile) triple is a lane, and a lane is a stratum of the census. Lanes
are paced at `rate` probes per second per address (or spread evenly over `spread` seconds); a
global semaphore caps probes in flight. A target's budget (`count` probes and/or a deadline) is
shared by its lanes, so `--count N` means N probes per target spread over its strata. In
"stop when sure" mode each lane also has a goal, the successful probes after which the coverage
bound holds for it, and stops there. Names are re-resolved periodically so DNS rotation brings
new lanes.

Unpaced lanes (`--rate 0`) do not start a probe the instant a slot frees: against a slow
service the probes of one wave would then finish together, free their slots together and start
again together, and the CPU work of each wave (the handshakes) would queue up behind itself
while the network sits idle: 55% of concurrency / latency at C=256 against a 208 ms service.
`_StartSpacer` spreads the starts instead, a random gap averaging the probe duration / C, so
probes in flight fall out of step (bench/RESULTS.md, "latency").
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from certcensus.model.coverage_bound import probes_needed
from certcensus.model.errors import CertcensusError, ResolutionError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import ObservationSink
from certcensus.probe.plan import ScanPlan
from certcensus.probe.prober import ProbeSettings
from certcensus.probe.probers import LocalProber, Prober
from certcensus.probe.resolve import resolve_addresses
from certcensus.probe.targets import Target

# A lane whose probes all fail gives up after this many, rather than chasing a goal it cannot
# reach; its failures are in the census.
GIVE_UP_AFTER_FAILURES = 20
# When the user interrupts, probes in flight get this long to finish (most take milliseconds);
# the rest are cancelled and recorded as `interrupted`. Short, because the user is waiting.
INTERRUPT_GRACE_SECONDS = 1.0


class _LaneGoal:
    """Successful probes a lane still needs (stop-when-sure mode); counts failures too."""

    def __init__(self, needed: int | None):
        self.needed = needed
        self.ok = 0
        self.failed = 0
        self.in_flight = 0
        self.changed = asyncio.Event()  # set whenever a probe of this lane ends

    def wants_more(self) -> bool:
        if self.needed is None:
            return True
        if self.ok == 0 and self.failed >= GIVE_UP_AFTER_FAILURES:
            return False
        return self.ok + self.in_flight < self.needed and self.failed < 2 * self.needed


def _lane_budgets(budget: _Budget, lanes: int, *, exact: bool) -> _Budget | list[_Budget]:
    """A `--count` run without a deadline gives each lane its share of the target's count
    (the first count % lanes lanes one more), so N probes are spread over the strata exactly
    however the starts are spaced; otherwise (a deadline, stop-when-sure, names that may bring
    new lanes) the lanes share the one budget."""
    if not exact or budget.remaining is None or budget.deadline is not None or lanes < 2:
        return budget
    share, extra = divmod(budget.remaining, lanes)
    return [_Budget(share + (1 if i < extra else 0), None) for i in range(lanes)]


def _budget_of(budgets: _Budget | list[_Budget], index: int) -> _Budget:
    return budgets[index] if isinstance(budgets, list) else budgets


class _StartSpacer:
    """Spaces the starts of unpaced probes: on average duration / concurrency apart, duration
    being the running mean of probes made so far, each gap drawn uniformly from 0.5x to 1.5x
    that so no two probes stay in step. Tiny gaps are owed rather than slept (a start waits only
    once SPACER_MIN_SLEEP has built up), so a fast local run pays no timer per probe; the gap
    is a little shorter than the mean (SPACER_SLACK) so the concurrency limit, not the spacer,
    is what binds once the probes are in flight."""

    def __init__(self, concurrency: int, rng: random.Random | None = None):
        self.concurrency = max(1, concurrency)
        self.mean_duration: float | None = None
        self._next = 0.0
        self._random = rng or random.Random()

    def finished(self, seconds: float) -> None:
        if self.mean_duration is None:
            self.mean_duration = seconds
        else:
            self.mean_duration += SPACER_WEIGHT * (seconds - self.mean_duration)

    def delay(self, now: float) -> float:
        """Seconds the start asked for at `now` should wait (and book its place)."""
        if self.mean_duration is None:
            return 0.0  # nothing measured yet: the first wave starts at once
        gap = self.mean_duration / self.concurrency * SPACER_SLACK
        # A start waits only if the previous one was less than a gap ago: starts that are
        # already spread out (slots freeing one by one) go at once, a burst is spread.
        start_at = max(now, self._next)
        self._next = start_at + gap * self._random.uniform(0.5, 1.5)
        return start_at - now

    async def wait(self, loop: asyncio.AbstractEventLoop) -> None:
        delay = self.delay(loop.time())
        if delay >= SPACER_MIN_SLEEP:
            await asyncio.sleep(delay)


# Weight of each new probe in the running mean duration (about the last 20 probes count).
SPACER_WEIGHT = 0.05
# Starts are spaced at this fraction of duration / concurrency, so spacing never holds the run
# below the concurrency it was given.
SPACER_SLACK = 0.9
# Below this a start does not sleep: timers this short cost more than the bursts they smooth.
SPACER_MIN_SLEEP = 0.0005


class _Budget:
    def __init__(self, count: int | None, deadline: float | None):
        self.remaining = count
        self.deadline = deadline

    def take(self) -> bool:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return False
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


@dataclass
class ScanResult:
    run_id: int
    addresses: dict[str, list[str]]  # target name -> addresses probed
    resolution_errors: dict[str, str]  # target name -> one-line error
    interrupted: bool = False
    probes: int = 0
    # An interrupted run: probes in flight when it stopped (recorded with the `interrupted`
    # outcome), and, with --count, the planned probes of each target that never started.
    probes_interrupted: int = 0
    not_started: dict[str, int] = field(default_factory=dict)


class Scan:
    def __init__(
        self,
        plan: ScanPlan,
        store: ObservationSink,
        run_id: int,
        on_observation: Callable[[Observation], None] | None = None,
        probers: Mapping[str, Prober] | None = None,
        on_target_done: Callable[[str], None] | None = None,
    ):
        self.plan = plan
        self.store = store
        local = LocalProber()
        self.probers = {profile: (probers or {}).get(profile, local) for profile in plan.profiles}
        self.run_id = run_id
        self.on_observation = on_observation or (lambda obs: None)
        self.stop = asyncio.Event()
        # What a probe cut off by the stop is recorded as (see `interrupt`).
        self._cut_off: tuple[Outcome, str | None] = (Outcome.INTERRUPTED, None)
        self._started: dict[str, int] = {}  # probes started per target
        self._slots = asyncio.Semaphore(plan.concurrency if plan.concurrency > 0 else 1_000_000)
        self._target_slots = {
            name: asyncio.Semaphore(limit) for name, limit in plan.target_concurrency.items()
        }
        self._inflight: set[asyncio.Task] = set()
        self._spacer = _StartSpacer(plan.concurrency)
        self._sources = itertools.cycle(plan.source_addresses) if plan.source_addresses else None
        self.result = ScanResult(run_id, {}, {})
        self.failure: CertcensusError | None = None  # the store gave up: the scan stops
        # Called with a target's name once its last probe is recorded (--json-lines streams
        # each target's census then); not for targets an interrupt cut short.
        self.on_target_done = on_target_done
        self._inflight_by_target: dict[str, set[asyncio.Task]] = {}
        self._goals: list[_LaneGoal] = []  # every lane's goal, for the progress estimate

    async def run(self) -> ScanResult:
        deadline = time.monotonic() + self.plan.duration if self.plan.duration else None
        flusher = asyncio.create_task(self._flush_every_second())
        drivers = [
            asyncio.create_task(self._drive_target(target, _Budget(self.plan.count, deadline)))
            for target in self.plan.targets
        ]
        stopper = asyncio.create_task(self.stop.wait())
        try:
            # Plain tasks awaited with asyncio.wait: no gathering future whose cancellation
            # nobody retrieves (asyncio logged "_GatheringFuture exception was never retrieved").
            pending: set[asyncio.Task] = set(drivers)
            while pending and not self.stop.is_set():
                _, pending = await asyncio.wait(
                    pending | {stopper}, return_when=asyncio.FIRST_COMPLETED
                )
                pending.discard(stopper)
            for driver in drivers:
                driver.cancel()
            if drivers:
                await asyncio.wait(drivers)
            await self._drain()
        finally:
            stopper.cancel()
            flusher.cancel()
            for driver in drivers:
                driver.cancel()
            if self.failure is not None:  # the store gave up: flushing again would only fail
                raise self.failure
            self.store.flush()
        if self.result.interrupted and self.plan.count is not None:
            planned = {t.name: self.plan.count for t in self.plan.targets}
            self.result.not_started = {
                name: count - self._started.get(name, 0)
                for name, count in planned.items()
                if name not in self.result.resolution_errors and count > self._started.get(name, 0)
            }
        for driver in drivers:  # a bug in a driver is not lost silently
            error = None if driver.cancelled() else driver.exception()
            if error is not None:
                raise error
        return self.result

    def interrupt(self, outcome: Outcome = Outcome.INTERRUPTED, detail: str | None = None) -> None:
        """Stop the run: no new probes; those in flight get INTERRUPT_GRACE_SECONDS, then are
        cancelled and recorded as `outcome` (the user's Ctrl-C: interrupted; a deadline of the
        caller's own, such as check's -t: a timeout, with `detail` saying which)."""
        if not self.stop.is_set():
            self._cut_off = (outcome, detail)
        self.stop.set()

    def probes_still_needed(self) -> int | None:
        """Successful probes the started lanes still need before the coverage bound holds for
        each (stop-when-sure mode; None otherwise). Capped by what --count leaves."""
        if not self.plan.stop_when_sure:
            return None
        wanted = 0
        for goal in self._goals:
            if goal.needed is not None and (goal.wants_more() or goal.in_flight):
                wanted += max(0, goal.needed - goal.ok)
        if self.plan.count is not None:
            wanted = min(wanted, self.plan.count * len(self.plan.targets) - self.result.probes)
        return max(0, wanted)

    async def _drain(self) -> None:
        """Let probes in flight finish (each is bounded by the per-phase timeout), until the
        user interrupts, now or while waiting: then give them INTERRUPT_GRACE_SECONDS, cancel
        the rest, and record each as interrupted."""
        if self._inflight and not self.stop.is_set():
            stopper = asyncio.create_task(self.stop.wait())
            finished = asyncio.create_task(asyncio.wait(set(self._inflight)))
            await asyncio.wait({stopper, finished}, return_when=asyncio.FIRST_COMPLETED)
            stopper.cancel()
            finished.cancel()  # stops the waiting, not the probes
        if not self.stop.is_set():
            return
        self.result.interrupted = True
        if not self._inflight:
            return
        _, late = await asyncio.wait(set(self._inflight), timeout=INTERRUPT_GRACE_SECONDS)
        for task in late:
            task.cancel()
        if late:
            await asyncio.wait(late)

    async def _flush_every_second(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            try:
                self.store.flush()
            except CertcensusError as error:  # a database lost for good: stop, and say why
                self.failure = error
                self.interrupt()
                return

    async def _drive_target(self, target: Target, budget: _Budget) -> None:
        try:
            addresses = await resolve_addresses(target, self.plan.ip_mode)
        except ResolutionError as error:
            self.result.resolution_errors[target.name] = str(error)
            self._record(
                Observation(
                    target=target.name, host=target.host, port=target.port,
                    protocol=target.protocol, address="", started_at=time.time(),
                    outcome=Outcome.DNS, detail=str(error),
                )
            )  # fmt: skip
            self._target_done(target.name)
            return
        self.result.addresses[target.name] = list(addresses)
        budgets = _lane_budgets(budget, len(addresses) * len(self.plan.profiles),
                                exact=not self.plan.stop_when_sure)  # fmt: skip
        lanes = [
            lane
            for number, a in enumerate(addresses)
            for lane in self._start_lanes(target, a, budgets, number * len(self.plan.profiles))
        ]
        watcher = None
        if not target.is_address and self.plan.ip_mode == "all" and budget.deadline is not None:
            watcher = asyncio.create_task(self._reresolve(target, budget, addresses, lanes))
        try:
            while lanes:
                await asyncio.gather(*list(lanes))
                if all(lane.done() for lane in lanes):
                    break
        finally:
            if watcher:
                watcher.cancel()
            for lane in lanes:
                lane.cancel()
        if self.on_target_done is not None:
            # A lane ends when its budget is spent, maybe with probes still in flight.
            pending = self._inflight_by_target.get(target.name)
            if pending:
                await asyncio.wait(set(pending))
            self._target_done(target.name)

    def _target_done(self, name: str) -> None:
        if self.on_target_done is not None and not self.stop.is_set():
            self.store.flush()  # the census is built from the store
            self.on_target_done(name)

    async def _reresolve(self, target, budget, addresses, lanes) -> None:
        while True:
            await asyncio.sleep(self.plan.resolve_every)
            try:
                fresh = await resolve_addresses(target, "all")
            except ResolutionError:
                continue  # a passing resolver failure must not end a long run
            for address in fresh:
                if address not in addresses:
                    addresses.append(address)
                    self.result.addresses[target.name].append(address)
                    lanes.extend(self._start_lanes(target, address, budget))

    def _start_lanes(
        self, target: Target, address: str, budgets: _Budget | list[_Budget], first: int = 0
    ) -> list[asyncio.Task]:
        return [
            asyncio.create_task(
                self._lane(target, address, profile, _budget_of(budgets, first + i))
            )
            for i, profile in enumerate(self.plan.profiles)
        ]

    def _goal_per_lane(self, target: Target) -> int | None:
        if not self.plan.stop_when_sure:
            return None
        min_share, confidence = self.plan.stop_when_sure
        sources = max(1, len(self.plan.source_addresses))
        strata = len(self.result.addresses.get(target.name, ())) * len(self.plan.profiles) * sources
        per_stratum = probes_needed(min_share, 1.0 - (1.0 - confidence) / max(1, strata))
        return per_stratum * sources  # a lane cycles through the source addresses

    def _interval(self, goal: int | None) -> float:
        if self.plan.spread:
            return self.plan.spread / (goal or self.plan.count or 1)
        # --rate is per address: the address's profiles share it.
        return 1.0 / self.plan.rate * len(self.plan.profiles) if self.plan.rate > 0 else 0.0

    async def _lane(self, target: Target, address: str, profile: str, budget: _Budget) -> None:
        loop = asyncio.get_running_loop()
        goal = _LaneGoal(self._goal_per_lane(target))
        self._goals.append(goal)
        interval = self._interval(goal.needed)
        next_start = loop.time()
        settings = self.plan.settings_for(target, profile)
        while not self.stop.is_set():
            if not goal.wants_more():
                if not goal.in_flight:
                    return
                goal.changed.clear()  # probes in flight may fail: wait for them, then decide
                await goal.changed.wait()
                continue
            if interval:
                delay = next_start - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                # A start that woke late moves the next one: never two closer than `interval`.
                next_start = max(next_start, loop.time()) + interval
            target_slot = self._target_slots.get(target.name)
            if target_slot:
                await target_slot.acquire()
            await self._slots.acquire()
            if self.stop.is_set() or not goal.wants_more() or not budget.take():
                self._slots.release()
                if target_slot:
                    target_slot.release()
                if goal.wants_more() or self.stop.is_set():
                    return
                continue
            if not interval:
                await self._spacer.wait(loop)
                if self.stop.is_set():
                    self._slots.release()
                    if target_slot:
                        target_slot.release()
                    return
            source = next(self._sources) if self._sources else None
            goal.in_flight += 1
            self._started[target.name] = self._started.get(target.name, 0) + 1
            task = asyncio.create_task(self._probe(target, address, settings, source, goal))
            if target_slot:
                task.add_done_callback(_releaser(target_slot))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
            of_target = self._inflight_by_target.setdefault(target.name, set())
            of_target.add(task)
            task.add_done_callback(of_target.discard)
            if not interval:
                # Unpaced lanes take turns, so `--count` is spread over a target's addresses.
                await asyncio.sleep(0)

    async def _probe(
        self, target, address, settings: ProbeSettings, source, goal: _LaneGoal
    ) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        started_at = time.time()
        try:
            observation = await self.probers[settings.profile].probe(
                target, address, settings, source
            )
        except asyncio.CancelledError:
            # The run was stopped while this probe was in flight: it counts, as what `interrupt`
            # said (interrupted: neither the server's failure nor a success).
            outcome, detail = self._cut_off
            if outcome is Outcome.INTERRUPTED:
                self.result.probes_interrupted += 1
            self._record(
                Observation(
                    target=target.name, host=target.host, port=target.port,
                    protocol=target.protocol, address=address, started_at=started_at,
                    outcome=outcome, sni=settings.sni, profile=settings.profile,
                    source_address=source,
                    detail=detail or f"run stopped {time.time() - started_at:.1f}s into the probe",
                )
            )  # fmt: skip
            raise
        except Exception as error:  # noqa: BLE001 - a bug in one probe must not end the run
            observation = Observation(
                target=target.name, host=target.host, port=target.port, protocol=target.protocol,
                address=address, started_at=started_at, outcome=Outcome.LOCAL_ERROR,
                detail=f"internal error: {type(error).__name__}: {error}",
            )  # fmt: skip
        finally:
            self._slots.release()
            goal.in_flight -= 1
            self._spacer.finished(loop.time() - began)
        if observation.outcome is Outcome.OK:
            goal.ok += 1
        else:
            goal.failed += 1
        goal.changed.set()
        self._record(observation)

    def _record(self, observation: Observation) -> None:
        self.result.probes += 1
        self.store.add(self.run_id, observation)
        self.on_observation(observation)


def _releaser(slot: asyncio.Semaphore) -> Callable[[asyncio.Task], None]:
    """A done-callback that gives `slot` back."""
    return lambda _task: slot.release()
