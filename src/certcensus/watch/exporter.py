"""`certcensus exporter`: a census per scrape, in blackbox_exporter's multi-target shape.

    GET /probe?target=<target>[&module=<name>][&count=N]   one census, as metric families
    GET /metrics                                           the exporter's own metrics
    GET /                                                  what is here, and the modules

Each /probe builds its plan with the module's options (probe/plan.py, the rules `scan` uses),
runs it on the exporter's one event loop (its own thread: HTTP threads hand it work and wait),
builds the census from the store and judges it with the module's trust stores (loaded once, at
start). The answer is a fresh prometheus_client registry, so a chain's series exist exactly
while it is served. A request is bounded in time: the scraper's timeout
(X-Prometheus-Scrape-Timeout-Seconds, less half a second, as blackbox_exporter does) or 10 s;
when it runs out, the probes made so far are the census.

The store: `--db` (any URL open_store takes) keeps every scrape's probes as runs of command
`exporter`; without it each scrape gets a private in-memory SQLite store, so a long-running
exporter holds nothing between scrapes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import threading
import time
from dataclasses import dataclass

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
)

from certcensus import __version__
from certcensus.census.build import build_census
from certcensus.census.judged import judge_census
from certcensus.census.model import TargetCensus
from certcensus.model.errors import TargetError
from certcensus.probe.plan import ProbeOptions, build_plan
from certcensus.probe.probers import Prober, close_probers, start_probers
from certcensus.probe.scheduler import Scan
from certcensus.probe.targets import Target, parse_target
from certcensus.store import Store, open_store
from certcensus.trust.judge import TrustJudge, TrustRequest
from certcensus.watch.families import (
    CensusSample,
    FamiliesCollector,
    FamilySet,
    not_after_in_pool,
    outcome_counts,
)
from certcensus.watch.http import BadRequest, Request, Response, RoutedServer, exposition, text
from certcensus.watch.modules import DEFAULT_REQUEST_SECONDS, ExporterConfig, Module

# blackbox_exporter's scrape-timeout offset: answer before Prometheus gives up on the scrape.
TIMEOUT_OFFSET_SECONDS = 0.5
# The shortest budget a request gets, whatever the scraper says: one handshake's worth.
MIN_REQUEST_SECONDS = 0.5
# An interrupted scan gives its probes in flight this long to finish (scheduler.py's grace).
DRAIN_GRACE_SECONDS = 1.0
# Room for the census, judging and the exposition after the probes stop.
CENSUS_SECONDS = 0.3


@dataclass
class ProbeAnswer:
    census: TargetCensus
    duration_seconds: float
    success: bool
    result: str  # "success", or why not: an outcome class or "unverified"


class Exporter:
    """The exporter's state: modules, their judges, the event loop, its own metrics."""

    def __init__(self, config: ExporterConfig):
        self.config = config
        # A bad trust store fails here, before the exporter listens.
        self.judges: dict[str, TrustJudge | None] = {
            name: TrustJudge.load(TrustRequest(module.trust_stores, fetch_aia=False))
            for name, module in config.modules.items()
        }
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
            self.registry.register(collector)
        Info("certcensus_exporter_build", "The certcensus version serving.",
             registry=self.registry).info({"version": __version__})  # fmt: skip
        self.requests = Counter(
            "certcensus_exporter_requests", "/probe requests by module and result: success, "
            "bad-request, unverified, or the outcome class of a census with no chain (refused, "
            "timeout, dns, ...).", ["module", "result"], registry=self.registry)  # fmt: skip
        self.probes = Counter(
            "certcensus_exporter_probes", "TLS probes made by module and outcome class.",
            ["module", "outcome"], registry=self.registry)  # fmt: skip
        self.durations = Histogram(
            "certcensus_exporter_request_duration_seconds", "Seconds each /probe took.",
            ["module"], registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))  # fmt: skip
        self.in_flight = Gauge("certcensus_exporter_requests_in_flight",
                               "/probe requests being answered.", registry=self.registry)  # fmt: skip
        self._contexts: dict = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="certcensus-probes",
                                        daemon=True)  # fmt: skip
        self._probers: dict[str, Prober] = {}
        self._store: Store | None = None

    # -- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        profiles = list(dict.fromkeys(m.profile for m in self.config.modules.values()))
        self._submit(self._start(profiles)).result()

    async def _start(self, profiles: list[str]) -> None:
        from certcensus.probe.profiles import PROFILES

        needs = {p: 1 for p in profiles if PROFILES[p].needs_worker}
        self._probers = await start_probers(needs, profiles)
        if self.config.db:
            self._store = open_store(self.config.db)

    def close(self) -> None:
        if self._thread.is_alive():
            self._submit(self._close()).result()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        self._loop.close()

    async def _close(self) -> None:
        await close_probers(self._probers, abort=True)
        if self._store is not None:
            self._store.close()

    def _submit(self, coroutine) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    # -- routes -----------------------------------------------------------------------------

    def routes(self) -> dict:
        return {"/probe": self.probe_route, "/metrics": self.metrics_route, "/": self.index_route}

    def metrics_route(self, request: Request) -> Response:
        return exposition(self.registry, request)

    def index_route(self, request: Request) -> Response:
        lines = [f"certcensus {__version__} exporter", "",
                 "GET /probe?target=HOST:PORT[&module=NAME][&count=N]  a census, as metrics",
                 "GET /metrics                                       this exporter's own metrics",
                 "", "modules:"]  # fmt: skip
        for module in self.config.modules.values():
            stores = ", ".join(module.trust_stores) or "none"
            lines.append(f"  {module.name}: starttls {module.starttls}, {module.count} probes, "
                         f"profile {module.profile}, trust stores {stores}"
                         + (", verifying" if module.verify else ""))  # fmt: skip
        return text(200, "\n".join(lines))

    def probe_route(self, request: Request) -> Response:
        started = time.monotonic()
        module_name = request.one("module") or "default"
        module = self.config.modules.get(module_name)
        try:
            if module is None:
                known = ", ".join(sorted(self.config.modules))
                raise BadRequest(f"unknown module {module_name!r} (known: {known})")
            target, count = self._checked(request, module)
        except BadRequest:
            self.requests.labels(module_name if module else "", "bad-request").inc()
            raise
        budget = self._budget(request)
        self.in_flight.inc()
        try:
            future = self._submit(self.answer(target, module, count, budget))
            try:
                answer = future.result(timeout=budget + DRAIN_GRACE_SECONDS + CENSUS_SECONDS)
            except concurrent.futures.TimeoutError:
                future.cancel()
                self.requests.labels(module.name, "timed-out").inc()
                return text(503, f"the census of {target.name} did not finish in {budget:.1f} s")
        finally:
            self.in_flight.dec()
        self.requests.labels(module.name, answer.result).inc()
        for outcome, number in outcome_counts(answer.census).items():
            self.probes.labels(module.name, outcome).inc(number)
        self.durations.labels(module.name).observe(time.monotonic() - started)
        judge = self.judges.get(module.name)
        sample = CensusSample(answer.census, answer.duration_seconds, module.verify)
        if judge is not None:
            sample.not_after_of = not_after_in_pool(judge)
        families = FamilySet()
        families.add_sample(sample)
        registry = CollectorRegistry(auto_describe=False)
        registry.register(FamiliesCollector(families.collect))
        return exposition(registry, request)

    def _checked(self, request: Request, module: Module) -> tuple[Target, int]:
        given = request.one("target")
        if not given:
            raise BadRequest("missing target parameter (/probe?target=HOST:PORT)")
        try:
            target = parse_target(given, module.starttls)
        except TargetError as error:
            raise BadRequest(f"bad target {given!r}: {error}") from None
        count_text = request.one("count")
        if count_text is None:
            return target, module.count
        if not count_text.isdigit() or not 1 <= int(count_text) <= self.config.max_count:
            raise BadRequest(
                f"count must be a whole number from 1 to {self.config.max_count}, not {count_text!r}"
            )
        return target, int(count_text)

    @staticmethod
    def _budget(request: Request) -> float:
        header = request.headers.get("X-Prometheus-Scrape-Timeout-Seconds")
        try:
            said = float(header) if header else None
        except ValueError:
            said = None
        if said is None or said <= 0:
            return DEFAULT_REQUEST_SECONDS
        return max(MIN_REQUEST_SECONDS, said - TIMEOUT_OFFSET_SECONDS)

    # -- the census -------------------------------------------------------------------------

    async def answer(
        self, target: Target, module: Module, count: int, budget: float
    ) -> ProbeAnswer:
        """One census of `target` with `module`, within `budget` seconds (on the loop thread)."""
        started = time.monotonic()
        # The probes must stop early enough for the in-flight ones to drain and the census to
        # be built; each phase's timeout is at most what is left.
        probing = max(0.1, budget - DRAIN_GRACE_SECONDS - CENSUS_SECONDS)
        plan = build_plan(
            [target],
            ProbeOptions(min(module.timeout, probing), module.sni, False, module.protocol_options),
            profiles=[module.profile], count=count, rate=module.rate,
            concurrency=module.concurrency, stop_when_sure=module.stop_when_sure,
            contexts=self._contexts,
        )  # fmt: skip
        # ":memory:" is SQLite's own name for a private database that lives as long as the
        # connection: nothing is kept between scrapes unless --db says where.
        store = self._store or open_store(":memory:")
        try:
            run_id = store.start_run("exporter", [target.name])
            scan = Scan(plan, store, run_id, probers=self._probers)
            stopper = asyncio.get_running_loop().call_later(probing, scan.interrupt)
            try:
                await scan.run()
            finally:
                stopper.cancel()
                store.finish_run(run_id)
            census = build_census(store, [target.name], [run_id]).targets[0]
        finally:
            if store is not self._store:
                store.close()
        judge = self.judges.get(module.name)
        if judge is not None:
            from certcensus.census.model import Census

            judge_census(Census([census]), judge, dt.datetime.now(dt.UTC))
        sample = CensusSample(census, 0.0, module.verify)
        success = sample.success
        if success:
            result = "success"
        elif not census.chains:
            result = census.errors.most_common(1)[0][0] if census.errors else "no-probe"
        else:
            result = "unverified"
        return ProbeAnswer(census, time.monotonic() - started, success, result)


class ExporterServer(RoutedServer):
    def __init__(self, exporter: Exporter, address: str, port: int):
        super().__init__(exporter.routes(), address, port)


def parse_listen(text: str) -> tuple[str, int]:
    """HOST:PORT (or [v6]:PORT, or :PORT for every address) -> (host, port)."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--listen {text!r} is not HOST:PORT")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port)
