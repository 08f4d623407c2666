"""FleetScan: a scan plan run on a Dask cluster, one stratum at a time per stratum.

The same plan as a local scan (probe/plan.py), the same strata (target x address x profile,
x vantage when probing from vantage points), the same stop-when-sure goal per stratum and the
same budget: `--count N` is N probes per target, or per target *and vantage*, spread over its
strata. Each stratum is driven here as a sequence of batches; each batch is one Dask task
(fleet/batches.py), pinned to its vantage through Dask resources. A batch comes back with its
observations, which go into the store under the batch's id; with a PostgreSQL store the worker
writes them itself and sends back only counts.

When a worker dies, Dask runs its batches again elsewhere; the store keeps each batch id once,
so nothing is counted twice, and the batch that was running is made again rather than lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from certcensus.fleet.batches import BatchRequest, BatchResult, resolve_at_vantage, run_batch
from certcensus.fleet.cluster import VANTAGE_PREFIX, Cluster, ClusterError
from certcensus.model.coverage_bound import probes_needed
from certcensus.model.errors import CertcensusError, ResolutionError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import BatchSink
from certcensus.probe.plan import ScanPlan
from certcensus.probe.resolve import resolve_addresses
from certcensus.probe.scheduler import GIVE_UP_AFTER_FAILURES, ScanResult
from certcensus.probe.targets import Target

log = logging.getLogger(__name__)

# Probes per batch: a batch costs one round trip through the scheduler (a few ms), so tens of
# probes make that cost vanish, while a stopped or dead batch loses little.
BATCH_PROBES = 50
# ... and at most this long at the stratum's pace, so that --duration and interrupts bite.
BATCH_SECONDS = 10.0
# Dask runs a task again this often when *it* fails (an exception), on top of rescheduling the
# work of dead workers, which it always does.
BATCH_RETRIES = 2
# Work pinned to a vantage nobody advertises any more would wait forever: while a batch is
# out, look this often whether a worker can still run it, and give up after this long without.
WORKER_CHECK_SECONDS = 5.0
# Batches out at once, over the whole cluster: enough to keep every worker's slots full, few
# enough that thousands of strata do not open thousands of connections to collect results.
BATCHES_IN_FLIGHT = 512
WORKERLESS_GRACE_SECONDS = 30.0


class _NoWorker(Exception):
    """No worker that could run a batch is left."""


@dataclass
class Stratum:
    index: int
    target: Target
    address: str
    profile: str
    vantage: str | None
    cap: int | None  # probes at most (its share of --count); None: no cap
    needed: int | None  # stop-when-sure goal in successful probes; None: not stopping when sure
    made: int = 0
    ok: int = 0
    failed: int = 0
    batches: int = 0


@dataclass
class FleetProgress:
    """What the console shows while a fleet scan runs."""

    probes: int = 0
    total: int | None = None
    chains: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    by_vantage: dict[str, int] = field(default_factory=dict)
    lost_batches: int = 0


class FleetScan:
    def __init__(
        self,
        plan: ScanPlan,
        store: BatchSink,
        run_id: int,
        cluster: Cluster,
        vantages: list[str] | None = None,
        on_batch: Callable[[FleetProgress], None] | None = None,
        shared_url: str | None = None,
    ):
        self.plan = plan
        self.store = store
        self.run_id = run_id
        self.cluster = cluster
        self.vantages: list[str | None] = list(vantages) if vantages else [None]
        self.on_batch = on_batch or (lambda progress: None)
        self.shared_url = shared_url  # workers write straight into this store
        self.stop = asyncio.Event()
        self.result = ScanResult(run_id, {}, {})
        self.progress = FleetProgress(total=self._total())
        self.failure: CertcensusError | None = None
        # Batch ids (and Dask keys) start with a token of this run: two censuses into two
        # databases may share a scheduler, and both have a run 1.
        self._token = uuid.uuid4().hex[:12]
        self._futures: set = set()
        self._in_flight = asyncio.Semaphore(BATCHES_IN_FLIGHT)
        self.worker_check = WORKER_CHECK_SECONDS
        self.workerless_grace = WORKERLESS_GRACE_SECONDS
        self._gone: set[str | None] = set()  # vantages (None: any worker) given up on
        self._missing_since: dict[str | None, float] = {}

    def _total(self) -> int | None:
        if self.plan.count and not self.plan.stop_when_sure:
            return self.plan.count * len(self.plan.targets) * len(self.vantages)
        return None

    def interrupt(self) -> None:
        self.stop.set()

    async def run(self) -> ScanResult:
        if not await self.cluster.workers():
            raise ClusterError(f"the Dask scheduler {self.cluster.spec.describe()} has no workers")
        deadline = time.time() + self.plan.duration if self.plan.duration else None
        addresses = await self._resolve_all()
        strata = self._strata(addresses)
        drivers = [asyncio.create_task(self._drive(s, deadline)) for s in strata]
        stopper = asyncio.create_task(self.stop.wait())
        try:
            if drivers:
                everything: asyncio.Future = asyncio.gather(*drivers)
                done, _ = await asyncio.wait(
                    {stopper, everything}, return_when=asyncio.FIRST_COMPLETED
                )
                if stopper in done and not everything.done():
                    self.result.interrupted = self.failure is None
                    await self._cancel(drivers)
                else:
                    everything.result()  # a bug in a driver surfaces here
        except ClusterError as error:  # the scheduler went away: stop with what was stored
            self.failure = error
        finally:
            stopper.cancel()
            await self._cancel(drivers)
        if self.failure is not None:
            raise self.failure
        return self.result

    async def _cancel(self, drivers: list[asyncio.Task]) -> None:
        if self._futures and self._connected():
            await self.cluster.client.cancel(list(self._futures), force=True)
        self._futures.clear()
        for driver in drivers:
            driver.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)

    # -- addresses and strata ----------------------------------------------------------------

    async def _resolve_all(self) -> dict[tuple[str, str | None], list[str]]:
        """(target name, vantage) -> addresses. Names resolve where the probes start (GeoDNS
        answers each region its own); literal addresses and --ip ADDR need no resolver."""
        jobs = {
            (target.name, vantage): self._resolve(target, vantage)
            for target in self.plan.targets
            for vantage in self.vantages
        }
        answers = dict(zip(jobs, await asyncio.gather(*jobs.values())))
        found: dict[tuple[str, str | None], list[str]] = {}
        for target in self.plan.targets:
            errors = []
            for vantage in self.vantages:
                answer = answers[(target.name, vantage)]
                if isinstance(answer, str):
                    errors.append(answer)
                    self._record_dns_failure(target, vantage, answer)
                    continue
                found[(target.name, vantage)] = answer
                known = self.result.addresses.setdefault(target.name, [])
                known.extend(a for a in answer if a not in known)
            if len(errors) == len(self.vantages):
                self.result.resolution_errors[target.name] = errors[0]
        return found

    async def _resolve(self, target: Target, vantage: str | None) -> list[str] | str:
        local = vantage is None or target.is_address or self.plan.ip_mode not in ("all", "first")
        if local:
            try:
                return await resolve_addresses(target, self.plan.ip_mode)
            except ResolutionError as error:
                return str(error)
        future = self.cluster.client.submit(
            resolve_at_vantage, target, self.plan.ip_mode, pure=False,
            resources={VANTAGE_PREFIX + str(vantage): 1},
        )  # fmt: skip
        return await future

    def _record_dns_failure(self, target: Target, vantage: str | None, error: str) -> None:
        observation = Observation(
            target=target.name, host=target.host, port=target.port, protocol=target.protocol,
            address="", started_at=time.time(), outcome=Outcome.DNS, detail=error, vantage=vantage,
        )  # fmt: skip
        self._store(f"{self._token}/dns/{target.name}/{vantage}", [observation])
        self.result.probes += 1

    def _strata(self, addresses: dict[tuple[str, str | None], list[str]]) -> list[Stratum]:
        plan = self.plan
        sources = max(1, len(plan.source_addresses))
        strata: list[Stratum] = []
        for target in plan.targets:
            per_target = [
                (vantage, address, profile)
                for vantage in self.vantages
                for address in addresses.get((target.name, vantage), [])
                for profile in plan.profiles
            ]
            needed = None
            if plan.stop_when_sure:
                min_share, confidence = plan.stop_when_sure
                count = len(per_target) * sources
                per_stratum = probes_needed(min_share, 1.0 - (1.0 - confidence) / max(1, count))
                needed = per_stratum * sources  # a stratum cycles through the source addresses
            for vantage in self.vantages:
                mine = [(a, p) for v, a, p in per_target if v == vantage]
                for i, (address, profile) in enumerate(mine):
                    cap = None
                    if plan.count is not None:  # N per target (per vantage), spread evenly
                        cap = plan.count // len(mine) + (1 if i < plan.count % len(mine) else 0)
                        if cap == 0:
                            continue
                    strata.append(
                        Stratum(len(strata), target, address, profile, vantage, cap, needed)
                    )
        return strata

    # -- driving a stratum -------------------------------------------------------------------

    def _interval(self, stratum: Stratum) -> float:
        if self.plan.spread:
            return self.plan.spread / (stratum.needed or stratum.cap or 1)
        # --rate is per address: the address's profiles share it.
        return 1.0 / self.plan.rate * len(self.plan.profiles) if self.plan.rate > 0 else 0.0

    def _next_size(self, stratum: Stratum, deadline: float | None, interval: float) -> int:
        if deadline is not None and time.time() >= deadline:
            return 0
        left = None if stratum.cap is None else stratum.cap - stratum.made
        if stratum.needed is not None:
            if stratum.ok >= stratum.needed or stratum.failed >= 2 * stratum.needed:
                return 0
            if stratum.ok == 0 and stratum.failed >= GIVE_UP_AFTER_FAILURES:
                return 0
            size = stratum.needed - stratum.ok
        elif left is not None:
            size = left
        else:
            size = BATCH_PROBES  # --duration alone: until the deadline
        if left is not None:
            size = min(size, left)
        limit = (
            BATCH_PROBES
            if not interval
            else max(1, min(BATCH_PROBES, int(BATCH_SECONDS / interval)))
        )
        return max(0, min(size, limit))

    async def _drive(self, stratum: Stratum, deadline: float | None) -> None:
        plan = self.plan
        interval = self._interval(stratum)
        settings = plan.settings_for(stratum.target, stratum.profile)
        options = settings.dialog_options
        while not self.stop.is_set():
            size = self._next_size(stratum, deadline, interval)
            if size <= 0 or stratum.vantage in self._gone:
                return
            request = BatchRequest(
                batch_id=f"{self._token}/{stratum.index}/{stratum.batches}",
                run_id=self.run_id, target=stratum.target, address=stratum.address,
                profile=stratum.profile, count=size, interval=interval,
                parallel=plan.target_concurrency.get(stratum.target.name) or plan.concurrency,
                timeout=settings.timeout, sni=settings.sni,
                protocol_options=dict(options.values) if options else {},
                source_addresses=tuple(plan.source_addresses), vantage=stratum.vantage,
                deadline=deadline, store_url=self.shared_url, concurrency=plan.concurrency,
                http_head=settings.http_head, identity_headers=settings.identity_headers,
                engine=settings.engine,
            )  # fmt: skip
            stratum.batches += 1
            async with self._in_flight:
                result = await self._run_batch(request)
            if result is None:
                stratum.failed += size  # lost for good: count it against the goal
                continue
            stratum.made += result.probes
            stratum.ok += result.ok
            stratum.failed += result.probes - result.ok
            if result.probes == 0:  # the deadline passed on the worker
                return

    def _connected(self) -> bool:
        return self.cluster.client.status == "running"

    def _lost_scheduler(self) -> ClusterError:
        return ClusterError(
            f"lost the Dask scheduler {self.cluster.spec.describe()}; the census holds the "
            "batches stored before"
        )

    async def _run_batch(self, request: BatchRequest) -> BatchResult | None:
        if not self._connected():
            raise self._lost_scheduler()
        resources = {VANTAGE_PREFIX + request.vantage: 1} if request.vantage else None
        future = self.cluster.client.submit(
            run_batch, request, key=request.batch_id, resources=resources, pure=False,
            retries=BATCH_RETRIES,
        )  # fmt: skip
        self._futures.add(future)
        try:
            result: BatchResult = await self._outcome(future, request.vantage)
        except _NoWorker:
            if self._connected():
                await self.cluster.client.cancel([future], force=True)
            self.progress.lost_batches += 1
            return None
        except asyncio.CancelledError:
            raise
        except Exception as error:  # noqa: BLE001 - KilledWorker and what a task raised: go on
            if not self._connected():
                raise self._lost_scheduler() from None
            log.warning(
                "certcensus: warning: batch %s of %s lost: %s: %s",
                request.batch_id, request.target.name, type(error).__name__, error,
            )  # fmt: skip
            self.progress.lost_batches += 1
            return None
        finally:
            self._futures.discard(future)
        if not result.written:
            self._store(request.batch_id, result.observations)
        self.result.probes += result.probes
        self.progress.probes += result.probes
        self.progress.chains.update(result.chain_ids)
        self.progress.workers.add(result.worker)
        if request.vantage:
            by_vantage = self.progress.by_vantage
            by_vantage[request.vantage] = by_vantage.get(request.vantage, 0) + result.probes
        self.on_batch(self.progress)
        return result

    async def _outcome(self, future, vantage: str | None) -> BatchResult:
        """The batch's result, once a worker ran it; _NoWorker when no worker that could run it
        has been seen for WORKERLESS_GRACE_SECONDS."""

        async def result() -> BatchResult:
            return await future

        waiter = asyncio.ensure_future(result())
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=self.worker_check)
                if done:
                    return waiter.result()
                if vantage in self._gone or not await self._has_worker(vantage):
                    raise _NoWorker
        finally:
            waiter.cancel()

    async def _has_worker(self, vantage: str | None) -> bool:
        """False once no worker for `vantage` was seen for the grace period (said once)."""
        if vantage is None:
            present = bool(await self.cluster.workers())
        else:
            present = vantage in await self.cluster.vantages()
        if present:
            self._missing_since.pop(vantage, None)
            return True
        since = self._missing_since.setdefault(vantage, time.monotonic())
        if time.monotonic() - since < self.workerless_grace:
            return True
        if vantage not in self._gone:
            self._gone.add(vantage)
            what = f"advertises vantage {vantage}" if vantage else "is left"
            log.warning(
                "certcensus: warning: no worker %s for %.0f s: its batches are left out",
                what, self.workerless_grace,
            )  # fmt: skip
        return False

    def _store(self, batch_id: str, observations: list[Observation]) -> None:
        try:
            self.store.add_batch(self.run_id, batch_id, observations)
        except CertcensusError as error:  # the store gave up (a database lost for good)
            self.failure = error
            self.stop.set()
