"""`watch` against a real pool whose chain changes between rounds: alerts reach every sink once,
and /metrics parses with the official Prometheus parser."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from certcensus.lab.pool import running_pool
from certcensus.model.coverage_bound import probes_needed
from certcensus.store import open_store
from certcensus.watch.config import WatchTarget
from certcensus.watch.metrics import MetricsServer, WatchMetrics
from certcensus.watch.runner import Watcher, WatchSettings, build_plans
from certcensus.watch.sinks import ExecSink, StdoutSink, WebhookSink

from .helpers import APPEND_STDIN, WebhookReceiver


def scrape(port: int) -> dict:
    """{(metric name, frozenset(labels)): value} from GET /metrics, via prometheus_client."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def values_of(samples: dict, name: str) -> dict:
    return {labels: value for (metric, labels), value in samples.items() if metric == name}


def test_chain_switch_between_rounds_alerts_each_sink_once(two_chains, tmp_path, capsys):
    old, new = two_chains.old, two_chains.new
    exec_log = tmp_path / "exec-events.jsonl"
    scrapes = []
    with contextlib.ExitStack() as pools, WebhookReceiver(fail_first=1) as receiver:
        pool = pools.enter_context(running_pool([old], protocol="smtp"))
        port = pool.port
        plans = build_plans(
            [WatchTarget(f"127.0.0.1:{port}", "smtp")],
            WatchSettings(default_count=20, rate=0, timeout=5),
        )
        state = WatchMetrics()
        server = MetricsServer(state, "127.0.0.1", 0)
        server.start()

        def between_rounds(report) -> None:
            if report.number == 1:
                # The deployment: the same port now serves only the new chain.
                pools.close()
                pools.enter_context(running_pool([new], protocol="smtp", port=port))
            else:
                scrapes.append(scrape(server.port))

        sinks = [
            StdoutSink(),
            ExecSink(f"{sys.executable} -c '{APPEND_STDIN}' {exec_log}"),
            WebhookSink(receiver.url, first_delay=0.05),
        ]
        with open_store(tmp_path / "watch.sqlite") as store:
            watcher = Watcher(
                plans,
                store,
                every=0.2,
                rounds=3,
                sinks=sinks,
                metrics=state,
                on_round_end=between_rounds,
                warn_days=30,
                baseline=(0.2, 0.99),
            )
            rounds = asyncio.run(watcher.run())
            runs = [run for run in store.runs() if run.command == "watch"]
        server.stop()
        webhook_events = receiver.wait_for(2)

    assert rounds == 3 and len(runs) == 3  # one run per round
    out_lines = [line for line in capsys.readouterr().out.splitlines() if " ALERT " in line]
    new_chain_lines = [line for line in out_lines if " new-chain " in line]
    assert len(new_chain_lines) == 1
    exec_events = [json.loads(line) for line in exec_log.read_text().splitlines()]
    for events in (exec_events, webhook_events):
        kinds = [event["event"] for event in events]
        assert kinds.count("new-chain") == 1, kinds
        assert kinds.count("chain-gone") == 1, kinds
        created = next(event for event in events if event["event"] == "new-chain")
        assert created["target"] == f"127.0.0.1:{port}"
        assert created["details"]["certificates"][0] == new.leaf.sha256
        assert created["details"]["count"] == 20
    assert receiver.requests == len(webhook_events) + 1  # the 503 was retried, not lost
    assert new_chain_lines[0].split(" chain ")[1].startswith(created["chain"][:12])

    samples = scrapes[-1]  # after round 3: only the new chain is served
    shares = values_of(samples, "certcensus_chain_share")
    assert list(shares.values()) == [1.0]
    (labels,) = shares
    assert dict(labels)["chain_id"] == created["chain"]
    assert dict(labels)["target"] == f"127.0.0.1:{port}"
    assert list(values_of(samples, "certcensus_chains_distinct").values()) == [1.0]
    info = values_of(samples, "certcensus_chain_info")
    assert [dict(k)["leaf_fingerprint_sha256"] for k in info] == [new.leaf.sha256]
    leaf_info = values_of(samples, "probe_ssl_last_chain_info")
    assert [dict(k)["fingerprint_sha256"] for k in leaf_info] == [new.leaf.sha256]
    expiry = values_of(samples, "certcensus_chain_earliest_expiry_timestamp_seconds")
    expected = min(c.certificate.not_valid_after_utc.timestamp() for c in (new.leaf, *new.chain))
    assert list(expiry.values()) == [expected]
    assert list(values_of(samples, "probe_ssl_earliest_cert_expiry").values()) == [expected]
    # The baseline stopped when sure (one address, one profile: one stratum), then 20 a round.
    baseline = probes_needed(0.2, 0.99)
    assert list(values_of(samples, "certcensus_probes_total").values()) == [baseline + 40.0]
    # The new chain was first seen after the baseline and round 2's first probe... or later.
    assert created["details"]["baseline_probes"] == baseline
    assert created["details"]["probes_before"] == baseline
    assert created["details"]["first_seen_after_probes"] == baseline
    assert created["details"]["new_beyond_chance"] is True
