"""`watch --metrics-port`: the fleet's latest round in the exporter's families, with `target`.

The same families as `certcensus exporter`'s /probe (watch/families.py), one `target` label more,
plus counters that only a long-running watch has: probes by outcome, rounds and alerts since it
began. Built with prometheus_client at scrape time from the latest census of each target, so a
chain that is no longer served leaves no stale series behind.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import CollectorRegistry

from certcensus.census.model import Census
from certcensus.watch.families import (
    CensusSample,
    FamiliesCollector,
    FamilySet,
    counter_family,
    outcome_counts,
)
from certcensus.watch.http import RoutedServer, exposition


class WatchMetrics:
    """What /metrics shows: updated by the watch after each round, read by the HTTP thread."""

    def __init__(self, verify: bool = False):
        self._lock = threading.Lock()
        self._latest: dict[str, CensusSample] = {}  # by target, in the order first seen
        self._probes: Counter[tuple[str, str]] = Counter()  # (target, outcome)
        self._alerts: Counter[tuple[str, str]] = Counter()  # (target, event)
        self._rounds = 0
        self._last_round: float | None = None
        self.verify = verify
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(FamiliesCollector(self.families))

    def update(self, census: Census, duration_seconds: float, alerts=(), not_after_of=None) -> None:
        """Add one round's census (judged, when trust stores were given) and its alerts."""
        with self._lock:
            self._rounds += 1
            self._last_round = time.time()
            for target in census.targets:
                sample = CensusSample(target, duration_seconds, self.verify)
                if not_after_of is not None:
                    sample.not_after_of = not_after_of
                self._latest[target.target] = sample
                for outcome, count in outcome_counts(target).items():
                    self._probes[(target.target, outcome)] += count
            for event in alerts:
                self._alerts[(event.target, event.event)] += 1

    def families(self) -> list[Metric]:
        with self._lock:
            families = FamilySet(("target",))
            for name, sample in self._latest.items():
                families.add_sample(sample, (name,))
            found = families.collect()
            found.append(
                counter_family(
                    "certcensus_probes",
                    "Probes since the watch began, by outcome class.",
                    ("target", "outcome"),
                    {k: float(v) for k, v in self._probes.items()},
                )
            )
            found.append(
                counter_family(
                    "certcensus_alerts",
                    "Alerts raised since the watch began, by event.",
                    ("target", "event"),
                    {k: float(v) for k, v in self._alerts.items()},
                )
            )
            found.append(
                counter_family(
                    "certcensus_watch_rounds",
                    "Watch rounds completed.",
                    (),
                    {(): float(self._rounds)},
                )
            )
            if self._last_round is not None:
                found.append(
                    GaugeMetricFamily(
                        "certcensus_watch_last_round_timestamp_seconds",
                        "When the latest round ended (Unix time).",
                        value=self._last_round,
                    )
                )
            return found  # fmt: skip


class MetricsServer(RoutedServer):
    """Serves GET /metrics from `metrics` in a thread of its own (the watch loop never waits on a
    scraper, and a slow scraper never waits on a round)."""

    def __init__(self, metrics: WatchMetrics, address: str = "127.0.0.1", port: int = 0):
        super().__init__({"/metrics": lambda request: exposition(metrics.registry, request)},
                         address, port)  # fmt: skip
