"""`watch --metrics-port`: the exporter's families with a `target` label, parsed back with
prometheus_client's own parser, even with hostile label values."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from certcensus.watch.alerts import AlertEvent
from certcensus.watch.metrics import MetricsServer, WatchMetrics

from .. import census_objects as made

HOSTILE = 'CN=a"b\\c\nd,O=<script>'


def round_census(trust=None):
    leaf = made.certificate("aa", "2030-01-01T00:00:00Z", subject=HOSTILE, issuer=HOSTILE)
    other = made.certificate("bb", "2029-01-01T00:00:00Z")
    return made.census(made.target("mx:25", [
        made.chain("c1", 7, 10, [leaf], trust=trust),
        made.chain("c2", 3, 10, [other]),
    ], probes=12, errors={"timeout": 2}))  # fmt: skip


def parsed(metrics: WatchMetrics) -> dict:
    text = generate_latest(metrics.registry).decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_fleet_families_parse_and_escape_label_values():
    metrics = WatchMetrics()
    alert = AlertEvent("new-chain", "mx:25", "c2", "2026-01-01T00:00:00Z")
    metrics.update(round_census({"corp": False, "mozilla": True}), 1.5, [alert])
    metrics.update(round_census({"corp": False, "mozilla": True}), 2.5)
    families = parsed(metrics)
    info = families["certcensus_chain_info"].samples
    assert {s.labels["chain_id"] for s in info} == {"c1", "c2"}
    assert {s.labels["target"] for s in info} == {"mx:25"}
    assert next(s for s in info if s.labels["chain_id"] == "c1").labels["leaf_issuer"] == HOSTILE
    leaf_info = families["probe_ssl_last_chain_info"].samples
    assert {s.labels["fingerprint_sha256"] for s in leaf_info} == {"aa", "bb"}
    assert families["probe_ssl_earliest_cert_expiry"].samples[0].value == 1861920000.0  # 2029
    trusted = {
        s.labels["store"]: (s.value, s.labels["reason"])
        for s in families["certcensus_chain_trusted"].samples
    }
    assert trusted == {"corp": (0.0, "missing-root"), "mozilla": (1.0, "trusted")}
    # Counters add up over rounds; gauges show the latest round.
    probes = families["certcensus_probes"]
    assert probes.type == "counter"
    assert {
        (s.labels["outcome"], s.value) for s in probes.samples if s.name.endswith("_total")
    } == {
        ("ok", 20.0),
        ("timeout", 4.0),
    }
    alerts = [s for s in families["certcensus_alerts"].samples if s.name.endswith("_total")]
    assert [(s.labels, s.value) for s in alerts] == [
        ({"target": "mx:25", "event": "new-chain"}, 1.0)
    ]
    assert families["certcensus_chains_distinct"].samples[0].value == 2.0
    assert families["probe_duration_seconds"].samples[0].value == 2.5
    assert families["probe_success"].samples[0].value == 1.0
    rounds = [s for s in families["certcensus_watch_rounds"].samples if s.name.endswith("_total")]
    assert rounds[0].value == 2.0


def test_a_chain_no_longer_served_leaves_no_series():
    metrics = WatchMetrics()
    metrics.update(round_census(), 1.0)
    gone = made.census(made.target("mx:25", [made.chain("c1", 5, 5, [])]))
    metrics.update(gone, 1.0)
    shares = parsed(metrics)["certcensus_chain_share"].samples
    assert [(s.labels["chain_id"], s.value) for s in shares] == [("c1", 1.0)]


def test_server_serves_metrics_and_nothing_else():
    metrics = WatchMetrics()
    server = MetricsServer(metrics, "127.0.0.1", 0)
    server.start()
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{server.port}/metrics", timeout=5
        ) as response:
            text = response.read().decode()
        assert "certcensus_watch_rounds_total 0.0" in text
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert error.value.code == 404
    finally:
        server.stop()


def test_a_census_from_vantages_has_probes_per_chain_and_vantage():
    from collections import Counter

    eu_only = made.chain("c1", 30, 60, [])
    eu_only.vantages = Counter({"eu": 30})
    us_only = made.chain("c2", 30, 60, [])
    us_only.vantages = Counter({"us": 30})
    metrics = WatchMetrics()
    metrics.update(made.census(made.target("shop:443", [eu_only, us_only])), 1.0)
    samples = parsed(metrics)["certcensus_chain_vantage_probes"].samples
    assert {(s.labels["chain_id"], s.labels["vantage"], s.value) for s in samples} == {
        ("c1", "eu", 30.0),
        ("c2", "us", 30.0),
    }
    # A census made from this host only has no such series at all.
    plain = WatchMetrics()
    plain.update(round_census(), 1.0)
    assert "certcensus_chain_vantage_probes" not in parsed(plain)
