"""The unit of work on a Dask worker: one batch of probes of one stratum (target x address x
profile x vantage), and the task that makes them.

A batch has an id that names its stratum and its place in it. Dask runs a task again when the
worker holding it dies, and the store keeps each batch id once, so a batch that a dead worker
had already written (straight into PostgreSQL) is not counted twice when it runs again.

The task is a coroutine: Dask runs it on the worker's event loop, where the prober's sockets
live, so one worker process holds many batches, most of them waiting on the network or their
pacing. Everything a worker builds once (TLS contexts, worker pools for profiles with their own
OpenSSL settings, store connections) is kept per process in `_WorkerState`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
import time
import weakref
from dataclasses import dataclass, field
from typing import Any

from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.probe.dialogs import DialogOptions
from certcensus.probe.prober import ProbeSettings
from certcensus.probe.probers import Prober, start_probers
from certcensus.probe.profiles import DEFAULT_ENGINE, PROFILES, client_context
from certcensus.probe.resolve import resolve_addresses
from certcensus.probe.targets import Target


@dataclass(frozen=True)
class BatchRequest:
    batch_id: str  # "<run>/<stratum>/<n>": the same on every retry of this batch
    run_id: int
    target: Target
    address: str
    profile: str
    count: int  # probes to make
    interval: float  # seconds between probe starts; 0: as fast as `parallel` allows
    parallel: int  # probes of this batch in flight at once
    timeout: float
    sni: str | None
    protocol_options: dict[str, str | None] = field(default_factory=dict)
    source_addresses: tuple[str, ...] = ()  # the plan's --source-address, used in turn
    vantage: str | None = None
    deadline: float | None = None  # Unix time after which no probe starts
    store_url: str | None = None  # write the batch straight into this store
    concurrency: int = 64  # probes in flight per worker process over all its batches
    http_head: bool = False  # ProbeSettings' own fields, as the plan set them
    identity_headers: tuple[str, ...] = ()
    engine: str = DEFAULT_ENGINE


@dataclass
class BatchResult:
    batch_id: str
    observations: list[Observation]  # empty when the worker wrote them into the store
    written: bool  # the worker stored the batch itself (store_url)
    probes: int
    ok: int
    chain_ids: list[str]  # the distinct chains the batch saw
    worker: str = ""


class _WorkerState:
    """What one worker process builds once and keeps for all the batches it runs."""

    def __init__(self) -> None:
        self.contexts: dict[str, Any] = {}
        self.probers: dict[str, Prober] = {}
        self.prober_lock = asyncio.Lock()
        self.slots: asyncio.Semaphore | None = None
        self.stores: dict[str, Any] = {}
        self.store_lock = threading.Lock()  # stores are used from a thread, one write at a time

    def context(self, profile: str):
        if profile not in self.contexts:
            self.contexts[profile] = client_context(profile)
        return self.contexts[profile]

    async def prober(self, profile: str, engine: str) -> Prober:
        async with self.prober_lock:
            if profile not in self.probers:
                workers = {profile: 1} if PROFILES[profile].needs_worker_with(engine) else {}
                self.probers.update(await start_probers(workers, [profile]))
            return self.probers[profile]

    def semaphore(self, concurrency: int) -> asyncio.Semaphore:
        if self.slots is None:
            self.slots = asyncio.Semaphore(max(1, concurrency))
        return self.slots

    def write(self, request: BatchRequest, observations: list[Observation]) -> None:
        """Into the store at request.store_url (opened once per process); in a thread."""
        from certcensus.store import open_store  # the fleet stage sits above the store

        assert request.store_url is not None
        with self.store_lock:
            store = self.stores.get(request.store_url)
            if store is None:
                store = self.stores[request.store_url] = open_store(request.store_url)
            store.add_batch(request.run_id, request.batch_id, observations)


# One state per event loop (a worker process has one; tests may run several in turn).
_STATES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _WorkerState] = (
    weakref.WeakKeyDictionary()
)
# What `certcensus worker --source-address` set for this process: every probe leaves from it.
WORKER_SOURCE_ADDRESS: str | None = None


def _state() -> _WorkerState:
    loop = asyncio.get_running_loop()
    if loop not in _STATES:
        _STATES[loop] = _WorkerState()
    return _STATES[loop]


async def run_batch(request: BatchRequest) -> BatchResult:
    """Make the batch's probes (paced, `parallel` at a time, under the worker's cap) and hand
    them back, or write them into the store. Never raises for what a server does."""
    state = _state()
    prober = await state.prober(request.profile, request.engine)
    settings = ProbeSettings(
        state.context(request.profile), request.timeout, request.sni,
        DialogOptions(host=request.target.host, values=dict(request.protocol_options)),
        request.profile, http_head=request.http_head,
        identity_headers=tuple(request.identity_headers), engine=request.engine,
    )  # fmt: skip
    slots = state.semaphore(request.concurrency)
    mine = asyncio.Semaphore(max(1, request.parallel))
    sources = itertools.cycle(request.source_addresses) if request.source_addresses else None
    loop = asyncio.get_running_loop()
    next_start = loop.time()
    tasks = []
    for _ in range(request.count):
        if request.deadline is not None and time.time() >= request.deadline:
            break
        if request.interval:
            delay = next_start - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            next_start = max(next_start + request.interval, loop.time())
        await mine.acquire()
        await slots.acquire()
        source = WORKER_SOURCE_ADDRESS or (next(sources) if sources else None)
        task = asyncio.create_task(_probe(prober, request, settings, source))
        task.add_done_callback(_releaser(slots, mine))
        tasks.append(task)
    observations = list(await asyncio.gather(*tasks))
    chains = list(dict.fromkeys(o.chain_id for o in observations if o.chain_id))
    ok = sum(1 for o in observations if o.outcome is Outcome.OK)
    written = request.store_url is not None
    if written:
        await asyncio.to_thread(state.write, request, observations)
    return BatchResult(
        request.batch_id, [] if written else observations, written, len(observations), ok,
        chains, worker=_worker_name(),
    )  # fmt: skip


def _releaser(*semaphores: asyncio.Semaphore):
    """A done-callback that gives back one slot of each of `semaphores`."""

    def release(_task: asyncio.Task) -> None:
        for semaphore in semaphores:
            semaphore.release()

    return release


async def _probe(prober: Prober, request: BatchRequest, settings, source) -> Observation:
    target = request.target
    try:
        observation = await prober.probe(target, request.address, settings, source)
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - a bug in one probe must not lose the batch
        observation = Observation(
            target=target.name, host=target.host, port=target.port, protocol=target.protocol,
            address=request.address, started_at=time.time(), outcome=Outcome.LOCAL_ERROR,
            detail=f"internal error: {type(error).__name__}: {error}",
        )  # fmt: skip
    return dataclasses.replace(observation, vantage=request.vantage)


async def resolve_at_vantage(target: Target, ip_mode: str) -> list[str] | str:
    """The target's addresses as this worker's resolver sees them (GeoDNS answers each region
    its own), or the one-line error."""
    from certcensus.model.errors import ResolutionError

    try:
        return await resolve_addresses(target, ip_mode)
    except ResolutionError as error:
        return str(error)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        worker = get_worker()
        return str(worker.name or worker.address)
    except ValueError:  # not on a Dask worker (tests call run_batch directly)
        return "local"
