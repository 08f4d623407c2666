"""`certcensus exporter` against the lab pool: blackbox_exporter's names with its semantics,
certcensus's own families, bad input, failures and the time bound, read back with
prometheus_client's parser; then as a real Prometheus scrapes it with the README's config."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import pytest

from certcensus.lab.pool import running_pool

from ..servers import free_port, require, running
from .exporter_helpers import exporter_running, get, one, samples, values

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "contrib" / "grafana" / "certcensus-dashboard.json"


def corp_config(tmp_path, two_chains, extra: str = "") -> str:
    """Module `corp` trusts only the old chain's root; `lenient` does not verify."""
    root = tmp_path / "old-root.pem"
    root.write_bytes(two_chains.roots[0].pem)
    return (f'[modules.corp]\ntrust_stores = ["corp={root}"]\nsni = "pool.test"\ncount = 20\n'
            f'[modules.lenient]\ntrust_stores = ["corp={root}"]\nverify = false\n{extra}')  # fmt: skip


def expiry(cert) -> float:
    return cert.certificate.not_valid_after_utc.timestamp()


def test_probe_in_blackbox_names_and_certcensus_families(two_chains, tmp_path):
    old, new = two_chains.old, two_chains.new
    with (
        running_pool(two_chains.backends, protocol="tls", choice="round-robin") as pool,
        exporter_running(corp_config(tmp_path, two_chains)) as url,
    ):
        target = f"127.0.0.1:{pool.port}"
        status, kind, text = get(f"{url}/probe?target={target}&module=corp")
        lenient = get(f"{url}/probe?target={target}&module=lenient&count=10")[2]
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    # The new chain's root is not in store corp: verification fails, as blackbox would say.
    assert one(text, "probe_success") == 0.0
    assert one(lenient, "probe_success") == 1.0
    assert 0 < one(text, "probe_duration_seconds") < 30
    served = [old.leaf, *old.chain, new.leaf, *new.chain]
    assert one(text, "probe_ssl_earliest_cert_expiry") == min(map(expiry, served))
    # blackbox's last-chain expiry: only the verified path (old leaf, CA and the store's root).
    verified = [old.leaf, *old.chain, two_chains.roots[0]]
    assert one(text, "probe_ssl_last_chain_expiry_timestamp_seconds") == min(map(expiry, verified))
    leaves = {
        dict(k)["fingerprint_sha256"]: dict(k) for k in values(text, "probe_ssl_last_chain_info")
    }
    assert set(leaves) == {old.leaf.sha256, new.leaf.sha256}
    labels = leaves[old.leaf.sha256]
    assert labels["subject"] == old.leaf.certificate.subject.rfc4514_string()
    assert labels["issuer"] == old.leaf.certificate.issuer.rfc4514_string()
    assert labels["subjectalternative"] == "pool.test"  # DNS names only, as blackbox lists them
    serial = old.leaf.certificate.serial_number
    assert int(labels["serialnumber"], 16) == serial and len(labels["serialnumber"]) % 2 == 0
    assert [dict(k) for k in values(text, "probe_tls_version_info")] == [{"version": "TLS 1.3"}]
    assert len(values(text, "probe_tls_cipher_info")) == 1
    shares = {dict(k)["chain_id"]: v for k, v in values(text, "certcensus_chain_share").items()}
    assert sorted(shares.values()) == [0.5, 0.5]
    probes = {dict(k)["chain_id"]: v for k, v in values(text, "certcensus_chain_probes").items()}
    assert sorted(probes.values()) == [10.0, 10.0]
    info = {
        dict(k)["leaf_fingerprint_sha256"]: dict(k) for k in values(text, "certcensus_chain_info")
    }
    old_id = info[old.leaf.sha256]["chain_id"]
    assert info[old.leaf.sha256]["certificates"] == "2"
    trusted = {(dict(k)["chain_id"], dict(k)["reason"]): v
               for k, v in values(text, "certcensus_chain_trusted").items()}  # fmt: skip
    new_id = info[new.leaf.sha256]["chain_id"]
    assert trusted == {(old_id, "trusted"): 1.0, (new_id, "missing-root"): 0.0}
    assert one(text, "certcensus_chains_distinct") == 2.0
    # Round robin is not a random choice: the census makes no coverage statement, so no series.
    assert "certcensus_coverage_max_missed_share" not in text
    assert values(text, "certcensus_census_probes") == {frozenset({("outcome", "ok")}): 20.0}
    earliest = values(text, "certcensus_chain_earliest_expiry_timestamp_seconds")
    assert earliest[frozenset({("chain_id", old_id)})] == min(
        expiry(c) for c in (old.leaf, *old.chain)
    )


@pytest.mark.parametrize(
    "query, reason",
    [
        ("", "missing target parameter"),
        ("target=a:b:c:d:e", "bad target 'a:b:c:d:e'"),
        ("target=x.test:443&module=nope", "unknown module 'nope' (known: default)"),
        ("target=x.test:443&count=0", "count must be a whole number from 1 to 1000, not '0'"),
        ("target=x.test:443&count=twenty", "not 'twenty'"),
        ("target=x.test:443&count=1001", "from 1 to 1000"),
        ("target=x.test:443&target=y.test:443", "parameter 'target' given 2 times"),
    ],
)
def test_bad_input_is_a_400_with_one_line(query, reason):
    with exporter_running() as url:
        status, kind, body = get(f"{url}/probe?{query}")
        metrics = get(f"{url}/metrics")[2]
    assert status == 400 and kind.startswith("text/plain")
    assert body.count("\n") == 1 and reason in body, body
    assert sum(values(metrics, "certcensus_exporter_requests_total").values()) == 1.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_failed_probe_is_probe_success_0_and_counted_by_outcome():
    with exporter_running("[modules.default]\ncount = 3\ntrust_stores = []\n") as url:
        status, _, text = get(f"{url}/probe?target=127.0.0.1:{closed_port()}")
        status_index, _, index = get(f"{url}/")
        metrics = get(f"{url}/metrics")[2]
    assert status == 200
    assert one(text, "probe_success") == 0.0
    assert values(text, "certcensus_census_probes") == {frozenset({("outcome", "refused")}): 3.0}
    assert "certcensus_chain_share" not in text  # no chain, no series
    requests = {tuple(sorted(dict(k).items())): v
                for k, v in values(metrics, "certcensus_exporter_requests_total").items()}  # fmt: skip
    assert requests == {(("module", "default"), ("result", "refused")): 1.0}
    probes = values(metrics, "certcensus_exporter_probes_total")
    assert probes == {frozenset({("module", "default"), ("outcome", "refused")}): 3.0}
    assert "process_cpu_seconds_total" in metrics and "certcensus_exporter_build_info" in metrics
    assert status_index == 200 and "default: starttls auto, 3 probes" in index


def test_a_request_ends_before_the_scrapers_timeout():
    """A server that accepts connections and never answers: the scrape still gets an answer
    within X-Prometheus-Scrape-Timeout-Seconds, with what the probes found (timeouts)."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # the kernel completes the TCP handshake; nobody reads the hello
        port = silent.getsockname()[1]
        with exporter_running("[modules.default]\ncount = 5\ntrust_stores = []\n") as url:
            # urlopen's own timeout is the scraper's: no answer by then fails the test.
            status, _, text = get(f"{url}/probe?target=127.0.0.1:{port}",
                                  {"X-Prometheus-Scrape-Timeout-Seconds": "2.5"}, timeout=2.5)  # fmt: skip
    assert status == 200
    assert one(text, "probe_success") == 0.0
    outcomes = {dict(k)["outcome"]: v for k, v in values(text, "certcensus_census_probes").items()}
    assert set(outcomes) == {"timeout"}


def test_every_metric_the_grafana_dashboard_queries_exists(two_chains, tmp_path):
    """The dashboard's queries name only metrics that the exporter (/probe and /metrics) and
    `watch --metrics-port` really serve."""
    from certcensus.store import open_store
    from certcensus.watch.config import WatchTarget
    from certcensus.watch.metrics import MetricsServer, WatchMetrics
    from certcensus.watch.runner import Watcher, WatchSettings, build_plans

    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    expressions += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    queried = {
        name for e in expressions for name in re.findall(r"\b(?:probe|certcensus)_[a-z0-9_]+", e)
    }
    assert len(queried) >= 15, queried

    with running_pool(two_chains.backends, protocol="tls", seed=7) as pool:  # random choice
        target = f"127.0.0.1:{pool.port}"
        with exporter_running(corp_config(tmp_path, two_chains)) as url:
            texts = [get(f"{url}/probe?target={target}&module=corp")[2], get(f"{url}/metrics")[2]]
        metrics = WatchMetrics()
        server = MetricsServer(metrics, "127.0.0.1", 0)
        server.start()
        plans = build_plans([WatchTarget(target, sni="pool.test")], WatchSettings(10, 5, 0))
        with open_store(tmp_path / "w.sqlite") as store:
            from certcensus.cli.watch import load_watch_judge

            judge = load_watch_judge([f"corp={tmp_path / 'old-root.pem'}"])
            # warn_days: every certificate "expires soon", so the alert counter has samples.
            watcher = Watcher(plans, store, every=0.1, rounds=2, metrics=metrics, judge=judge,
                              baseline=None, warn_days=36500)  # fmt: skip
            import asyncio

            asyncio.run(watcher.run())
        texts.append(get(f"http://127.0.0.1:{server.port}/metrics")[2])
        server.stop()
    served = {s.name for text in texts for s in samples(text)}
    assert queried <= served, sorted(queried - served)


@pytest.mark.server
def test_prometheus_scrapes_the_exporter_with_the_readme_config(two_chains, tmp_path):
    """The scrape_config the README shows, run by a real Prometheus; promtool lints the output."""
    prometheus = require("prometheus")
    promtool = require("promtool")
    readme = (REPO / "README.md").read_text()
    scrape_config = readme.split("<!-- scrape_config:start -->")[1].split(
        "<!-- scrape_config:end -->"
    )[0]
    scrape_config = scrape_config.strip().removeprefix("```yaml").removesuffix("```")
    exporter_port, web_port = free_port(), free_port()
    config = tmp_path / "exporter.toml"
    config.write_text(corp_config(tmp_path, two_chains).replace("[modules.corp]", "[modules.smtp]"))
    with running_pool(two_chains.backends, protocol="tls", choice="round-robin") as pool:
        target = f"127.0.0.1:{pool.port}"
        prometheus_yml = tmp_path / "prometheus.yml"
        prometheus_yml.write_text(
            "global:\n  scrape_interval: 3s\n  scrape_timeout: 3s\n"
            + scrape_config.replace("mail.example.com:25", target).replace(
                "127.0.0.1:9795", f"127.0.0.1:{exporter_port}"
            )
        )
        command = [sys.executable, "-m", "certcensus", "exporter", "--listen",
                   f"127.0.0.1:{exporter_port}", "--config", str(config)]  # fmt: skip
        with running(command, exporter_port):
            text = get(f"http://127.0.0.1:{exporter_port}/probe?target={target}&module=smtp")[2]
            lint = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                                  capture_output=True, timeout=60)  # fmt: skip
            assert lint.returncode == 0, lint.stdout + lint.stderr
            with running([prometheus, f"--config.file={prometheus_yml}",
                          f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{web_port}"], web_port):  # fmt: skip
                result = _query_until(web_port, "certcensus_chain_share", lambda r: len(r) == 2)
                up = _query_until(web_port, "up", lambda r: bool(r))
    assert {r["metric"]["instance"] for r in result} == {target}
    assert {r["metric"]["job"] for r in result} == {"certcensus"}
    assert sorted(float(r["value"][1]) for r in result) == [0.5, 0.5]
    assert up[0]["value"][1] == "1"


def _query_until(port: int, query: str, done, deadline: float = 60.0) -> list:
    """Poll Prometheus's query API until `done(result)`: a scrape is a second away at most."""
    url = f"http://127.0.0.1:{port}/api/v1/query?query={urllib.parse.quote(query)}"
    end = time.monotonic() + deadline
    result: list = []
    while time.monotonic() < end:
        status, _, body = get(url, timeout=10)
        if status == 200:
            result = json.loads(body)["data"]["result"]
            if done(result):
                return result
        time.sleep(0.5)  # polling an API for a condition with a deadline, not synchronising
    raise AssertionError(f"Prometheus never answered {query!r} as expected: {result}")


@pytest.mark.server
def test_a_real_alertmanager_takes_the_alertmanager_payload(tmp_path):
    """The webhook's alertmanager format, POSTed to Alertmanager's own API, is an alert there."""
    import asyncio

    from certcensus.watch.alerts import AlertEvent
    from certcensus.watch.sinks import WebhookSink

    binary = require("prometheus-alertmanager")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text("route:\n  receiver: nobody\nreceivers:\n  - name: nobody\n")
    event = AlertEvent("new-chain", "mx.example.com:25", "ab" * 32,
                       time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       {"summary": "new chain mx.example.com seen on 3 of 50 probes"})  # fmt: skip
    command = [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
               f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="]  # fmt: skip
    with running(command, port):
        sink = WebhookSink(f"http://127.0.0.1:{port}/api/v2/alerts", format="alertmanager")

        async def deliver() -> bool:
            return await sink.send(event)

        assert asyncio.run(deliver()) is True
        status, _, body = get(f"http://127.0.0.1:{port}/api/v2/alerts")
    assert status == 200
    (alert,) = json.loads(body)
    assert alert["labels"] == {"alertname": "certcensus_new_chain", "target": "mx.example.com:25",
                               "severity": "warning", "chain_id": "ab" * 32}  # fmt: skip
    assert alert["annotations"]["summary"].startswith("new chain mx.example.com")
    assert alert["status"]["state"] == "active"


def test_probe_counts_the_backends_that_named_themselves(two_chains):
    """Each lab backend greets with its own name (as Exchange Online's do): the exporter says
    how many were seen, how many there likely are, and how many served each chain."""
    with (
        running_pool(
            two_chains.backends, protocol="smtp", choice="round-robin", smtp_backend_names=True
        ) as pool,  # fmt: skip
        exporter_running() as url,
    ):
        text = get(f"{url}/probe?target=smtp://127.0.0.1:{pool.port}&count=20")[2]
    assert one(text, "certcensus_backends_seen") == 2.0
    assert one(text, "certcensus_backends_estimated") == 2.0  # each seen 10 times: no unseen one
    per_chain = values(text, "certcensus_chain_backends")
    assert sorted(per_chain.values()) == [1.0, 1.0]  # one backend per chain


def test_no_backend_series_when_no_server_named_itself(two_chains):
    with (
        running_pool(two_chains.backends, protocol="tls") as pool,
        exporter_running() as url,
    ):
        text = get(f"{url}/probe?target=127.0.0.1:{pool.port}&count=5")[2]
    assert "certcensus_backends_seen" not in text and "certcensus_chain_backends" not in text
