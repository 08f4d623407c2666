"""`watch --metrics-port`: the latest round of each target in the Prometheus text format.

Names follow blackbox_exporter's TLS metrics where they overlap (its
probe_ssl_last_chain_expiry_timestamp_seconds is our certcensus_cert_not_after_seconds, per
certificate rather than only the earliest). The exposition is written by hand: it is a dozen
lines of format (https://prometheus.io/docs/instrumenting/exposition_formats/), and
prometheus_client's registry would have to be rebuilt every round anyway because label sets
come and go with chains. The tests parse it with prometheus_client's own parser.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from certcensus.census.model import Census, TargetCensus

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

FAMILIES = {
    "certcensus_chain_info": ("gauge", "A chain served in the target's latest round (always 1)."),
    "certcensus_chain_share": (
        "gauge",
        "Share of the latest round's good probes given this chain.",
    ),
    "certcensus_chains_distinct": ("gauge", "Distinct chains served in the latest round."),
    "certcensus_chain_untrusted": (
        "gauge",
        "1 when the store does not accept the chain (lenient).",
    ),
    "certcensus_cert_not_after_seconds": ("gauge", "NotAfter of a served certificate, Unix time."),
    "certcensus_probe_errors_total": ("counter", "Failed probes by outcome since the watch began."),
    "certcensus_probes_total": ("counter", "Probes made since the watch began."),
    "certcensus_rounds_total": ("counter", "Watch rounds completed."),
}


def escape_label_value(value: str) -> str:
    """The text format's label value escaping: backslash, double quote and line feed."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items()) + "}"


def _value(number: float) -> str:
    return repr(float(number)) if not float(number).is_integer() else str(int(number))


def _timestamp(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


class MetricsState:
    """What /metrics shows: updated by the watch after each round, read by the HTTP thread."""

    def __init__(self):
        self._lock = threading.Lock()
        self._targets: dict[str, TargetCensus] = {}
        self._probes: Counter[str] = Counter()
        self._errors: Counter[tuple[str, str]] = Counter()
        self._rounds = 0

    def update(self, census: Census) -> None:
        """Add one round's census (judged, when trust stores were given)."""
        with self._lock:
            self._rounds += 1
            for target in census.targets:
                self._targets[target.target] = target
                self._probes[target.target] += target.probes
                for error_class, count in target.errors.items():
                    self._errors[(target.target, error_class)] += count

    def exposition(self) -> str:
        with self._lock:
            samples: dict[str, list[str]] = {family: [] for family in FAMILIES}
            for name, target in self._targets.items():
                self._target_samples(name, target, samples)
            for (name, error_class), count in sorted(self._errors.items()):
                samples["certcensus_probe_errors_total"].append(
                    f"certcensus_probe_errors_total{_labels(target=name, **{'class': error_class})} {count}"
                )
            for name, count in self._probes.items():
                samples["certcensus_probes_total"].append(
                    f"certcensus_probes_total{_labels(target=name)} {count}"
                )
            samples["certcensus_rounds_total"].append(f"certcensus_rounds_total {self._rounds}")
        lines = []
        for family, (kind, help_text) in FAMILIES.items():
            lines.append(f"# HELP {family} {escape_help(help_text)}")
            lines.append(f"# TYPE {family} {kind}")
            lines += samples[family]
        return "\n".join(lines) + "\n"

    def _target_samples(
        self, name: str, target: TargetCensus, samples: dict[str, list[str]]
    ) -> None:
        samples["certcensus_chains_distinct"].append(
            f"certcensus_chains_distinct{_labels(target=name)} {len(target.chains)}"
        )
        for chain in target.chains:
            chain_id, leaf = chain.chain_id, chain.leaf
            info = _labels(target=name, chain=chain_id, leaf_sha256=leaf.sha256 if leaf else "",
                           issuer=leaf.issuer if leaf else "")  # fmt: skip
            samples["certcensus_chain_info"].append(f"certcensus_chain_info{info} 1")
            samples["certcensus_chain_share"].append(
                f"certcensus_chain_share{_labels(target=name, chain=chain_id)} {_value(chain.share)}"
            )
            for store, verdict in sorted((chain.trust or {}).items()):
                labels = _labels(target=name, chain=chain_id, store=store)
                samples["certcensus_chain_untrusted"].append(
                    f"certcensus_chain_untrusted{labels} {0 if verdict.trusted else 1}"
                )
            for cert in chain.certificates:
                if not cert.not_after:
                    continue
                labels = _labels(target=name, chain=chain_id, sha256=cert.sha256,
                                 subject=cert.subject)  # fmt: skip
                samples["certcensus_cert_not_after_seconds"].append(
                    f"certcensus_cert_not_after_seconds{labels} {_value(_timestamp(cert.not_after))}"
                )


class MetricsServer:
    """Serves GET /metrics from `state` in a thread of its own (the watch loop never waits on a
    scraper, and a slow scraper never waits on a round)."""

    def __init__(self, state: MetricsState, address: str = "127.0.0.1", port: int = 0):
        self.state = state
        handler = type("Handler", (_MetricsHandler,), {"state": state})
        self._server = ThreadingHTTPServer((address, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="certcensus-metrics",
                                        daemon=True)  # fmt: skip

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


class _MetricsHandler(BaseHTTPRequestHandler):
    state: MetricsState

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path.split("?", 1)[0] != "/metrics":
            self.send_error(404, "only /metrics is here")
            return
        body = self.state.exposition().encode()
        self.send_response(200)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args) -> None:  # noqa: A002 - scrapes are not news
        pass
