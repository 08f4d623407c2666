"""The hand-written exposition parses with prometheus_client, even with hostile label values."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from certcensus.watch.metrics import MetricsServer, MetricsState

from .. import census_objects as made

HOSTILE = 'CN=a"b\\c\nd,O=<script>'


def round_census(trust=None):
    leaf = made.certificate("aa", "2030-01-01T00:00:00Z", subject=HOSTILE, issuer=HOSTILE)
    return made.census(made.target("mx:25", [
        made.chain("c1", 7, 10, [leaf], trust=trust),
        made.chain("c2", 3, 10, []),
    ], probes=12, errors={"timeout": 2}))  # fmt: skip


def test_exposition_parses_and_escapes_label_values():
    state = MetricsState()
    state.update(round_census({"corp": False, "mozilla": True}))
    state.update(round_census({"corp": False, "mozilla": True}))
    families = {f.name: f for f in text_string_to_metric_families(state.exposition())}
    info = families["certcensus_chain_info"].samples
    assert {s.labels["chain"] for s in info} == {"c1", "c2"}
    assert next(s for s in info if s.labels["chain"] == "c1").labels["issuer"] == HOSTILE
    expiry = families["certcensus_cert_not_after_seconds"].samples[0]
    assert expiry.labels["subject"] == HOSTILE and expiry.value == 1893456000.0
    untrusted = {s.labels["store"]: s.value for s in families["certcensus_chain_untrusted"].samples}
    assert untrusted == {"corp": 1.0, "mozilla": 0.0}
    # Counters add up over rounds; gauges show the latest round.
    errors = families["certcensus_probe_errors"]
    assert errors.type == "counter"
    assert [(s.labels, s.value) for s in errors.samples] == [
        ({"target": "mx:25", "class": "timeout"}, 4.0)
    ]
    assert families["certcensus_probes"].samples[0].value == 24.0
    assert families["certcensus_chains_distinct"].samples[0].value == 2.0


def test_server_serves_metrics_and_nothing_else():
    state = MetricsState()
    server = MetricsServer(state, "127.0.0.1", 0)
    server.start()
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{server.port}/metrics", timeout=5
        ) as response:
            text = response.read().decode()
        assert "certcensus_rounds_total 0" in text
        with pytest.raises(urllib.error.HTTPError) as error:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}/", timeout=5)
        assert error.value.code == 404
    finally:
        server.stop()
