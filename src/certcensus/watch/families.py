"""The census as Prometheus metric families, for `exporter`'s /probe and `watch --metrics-port`.

blackbox_exporter's TLS names and labels where they overlap, so its dashboards and alert rules
keep working (semantics from its prober/tls.go, for one connection; a census has many, so each
is said below for a whole census), then certcensus's own under `certcensus_`, with the unit in
the name. Built with prometheus_client's metric families; a fresh set per scrape, so label sets
come and go with the chains a census saw.

A census of one connection reads like blackbox's probe of it:

  probe_ssl_earliest_cert_expiry   earliest notAfter of every certificate of every served chain
  probe_ssl_last_chain_expiry_timestamp_seconds
                                   for each served chain, blackbox's value (each verified path's
                                   earliest notAfter, the latest over the paths); the earliest
                                   over the served chains, since any client may be served any.
                                   Absent when no chain verified (blackbox then sends year 1).
  probe_ssl_last_chain_info        one series per distinct leaf served
  probe_tls_version_info           one series per version negotiated ("TLS 1.3", blackbox's words)
  probe_tls_cipher_info            one series per cipher suite (OpenSSL's names)
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from cryptography import x509
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from certcensus.census.model import ChainCount, TargetCensus
from certcensus.certs.info import CertificateInfo, short_name
from certcensus.trust.judge import TrustJudge
from certcensus.trust.verdict import StoreVerdict

# Python's ssl says "TLSv1.3"; blackbox_exporter (Go) says "TLS 1.3". Dashboards match blackbox.
TLS_VERSION_NAMES = {
    "SSLv3": "SSL 3.0",
    "TLSv1": "TLS 1.0",
    "TLSv1.1": "TLS 1.1",
    "TLSv1.2": "TLS 1.2",
    "TLSv1.3": "TLS 1.3",
}

# name -> (type, help, label names after the extra ones such as `target`)
FAMILIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "probe_success": (
        "gauge",
        "1 when the census succeeded (a chain was served and, when the "
        "module verifies, every chain verified), else 0.",
        (),
    ),
    "probe_duration_seconds": ("gauge", "Seconds the census took.", ()),
    "probe_ssl_earliest_cert_expiry": (
        "gauge",
        "Earliest notAfter (Unix time) of every certificate of every chain served.",
        (),
    ),
    "probe_ssl_last_chain_expiry_timestamp_seconds": (
        "gauge",
        "Per served chain the latest-expiring verified path's earliest notAfter (Unix "
        "time); the earliest over the served chains. Absent when no chain verified.",
        (),
    ),
    "probe_ssl_last_chain_info": (
        "gauge",
        "One series per distinct leaf certificate served (always 1).",
        ("fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber"),
    ),
    "probe_tls_version_info": (
        "gauge",
        "One series per TLS version negotiated (always 1).",
        ("version",),
    ),
    "probe_tls_cipher_info": (
        "gauge",
        "One series per cipher suite negotiated (always 1).",
        ("cipher",),
    ),
    "certcensus_chain_info": (
        "gauge",
        "One series per distinct chain served (always 1).",
        (
            "chain_id",
            "leaf_fingerprint_sha256",
            "leaf_subject",
            "leaf_issuer",
            "path",
            "certificates",
        ),
    ),
    "certcensus_chain_share": (
        "gauge",
        "Share (0-1) of the census's successful probes that got this chain.",
        ("chain_id",),
    ),
    "certcensus_chain_probes": ("gauge", "Successful probes that got this chain.", ("chain_id",)),
    "certcensus_chain_vantage_probes": (
        "gauge",
        "Successful probes from this vantage point (`certcensus worker --vantage`) that got "
        "this chain; a chain seen from some vantages only has no series for the others.",
        ("chain_id", "vantage"),
    ),
    "certcensus_chain_trusted": (
        "gauge",
        "1 when the store accepts the chain (lenient: a path to one of its roots, every "
        "certificate valid), else 0; `reason` says what to fix first.",
        ("chain_id", "store", "reason"),
    ),
    "certcensus_chain_verified": (
        "gauge",
        "1 when the store's web PKI verification (path, validity, host name) accepts "
        "the chain, else 0.",
        ("chain_id", "store"),
    ),
    "certcensus_chain_earliest_expiry_timestamp_seconds": (
        "gauge",
        "Earliest notAfter (Unix time) of the chain's certificates as served.",
        ("chain_id",),
    ),
    "certcensus_chains_distinct": ("gauge", "Distinct chains the census saw.", ()),
    "certcensus_coverage_max_missed_share": (
        "gauge",
        "With certcensus_coverage_confidence, no chain served on this share (0-1) of "
        "connections or more was missed. Absent when no statement applies.",
        (),
    ),
    "certcensus_coverage_confidence": ("gauge", "The confidence of the coverage statement.", ()),
    "certcensus_census_probes": (
        "gauge",
        "The census's probes by outcome class (ok, timeout, refused, ...).",
        ("outcome",),
    ),
    "certcensus_backends_seen": (
        "gauge",
        "Distinct backends that named themselves (greeting, banner, HTTP header) in the census.",
        (),
    ),
    "certcensus_backends_estimated": (
        "gauge",
        "Chao1 estimate of how many backends there are in all, from how often each was seen.",
        (),
    ),
    "certcensus_chain_backends": (
        "gauge",
        "Distinct named backends that served this chain.",
        ("chain_id",),
    ),
}


@dataclass
class CensusSample:
    """One target's latest census and what came with it: what the families are made of."""

    census: TargetCensus
    duration_seconds: float
    verify: bool = False  # probe_success also needs every chain verified by every store
    # sha256 -> notAfter, for path certificates the server did not send (store roots).
    not_after_of: Callable[[str], dt.datetime | None] = field(default=lambda sha256: None)

    @property
    def success(self) -> bool:
        target = self.census
        if not target.chains:
            return False
        if not self.verify:
            return True
        return all(
            chain.trust and all(v.strict.trusted for v in chain.trust.values())
            for chain in target.chains
        )


def _timestamp(iso: str) -> float:
    return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _expiries(certificates: Iterable[CertificateInfo]) -> list[float]:
    return [_timestamp(c.not_after) for c in certificates if c.not_after]


@lru_cache(maxsize=1024)
def dns_names(der: bytes) -> str:
    """The leaf's SAN dNSNames joined by commas, as blackbox's `subjectalternative` label."""
    try:
        certificate = x509.load_der_x509_certificate(der)
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return ",".join(san.get_values_for_type(x509.DNSName))
    except Exception:  # noqa: BLE001 - no SAN, or a certificate that does not parse: no names
        return ""


def serial_as_blackbox(serial_hex: str) -> str:
    """blackbox formats the serial's bytes as lower-case hex: an even number of digits."""
    return serial_hex if len(serial_hex) % 2 == 0 else "0" + serial_hex


def verified_path_expiry(
    chain: ChainCount, not_after_of: Callable[[str], dt.datetime | None]
) -> float | None:
    """blackbox's last-chain expiry for one served chain: over the stores whose web PKI
    verification accepts it, the latest of each path's earliest notAfter; None if none does."""
    served = {info.sha256: info for info in chain.certificates}
    best: float | None = None
    for verdict in (chain.trust or {}).values():
        if not verdict.strict.trusted:
            continue
        ends = []
        for sha256 in verdict.strict.path or verdict.lenient.path:
            info = served.get(sha256)
            if info is not None and info.not_after:
                ends.append(_timestamp(info.not_after))
            elif (moment := not_after_of(sha256)) is not None:
                ends.append(moment.timestamp())
        if ends:
            best = min(ends) if best is None else max(best, min(ends))
    return best


def not_after_in_pool(judge: TrustJudge) -> Callable[[str], dt.datetime | None]:
    """sha256 -> notAfter of a CA the judge knows (store roots, which servers need not send)."""

    def not_after_of(sha256: str) -> dt.datetime | None:
        cert = judge.pool.get(sha256)
        return cert.not_after if cert is not None else None

    return not_after_of


class FamilySet:
    """Metric families being filled, one per name, with the same extra labels on every sample
    (`target` for a fleet; none for /probe)."""

    def __init__(self, extra_labels: tuple[str, ...] = ()):
        self.extra = extra_labels
        self.families: dict[str, GaugeMetricFamily] = {
            name: GaugeMetricFamily(name, help_text, labels=[*extra_labels, *labels])
            for name, (_, help_text, labels) in FAMILIES.items()
        }

    def add(self, name: str, extra: tuple[str, ...], labels: tuple[str, ...], value: float):
        self.families[name].add_metric([*extra, *labels], value)

    def add_sample(self, sample: CensusSample, extra: tuple[str, ...] = ()) -> None:
        target = sample.census
        add = self.add
        add("probe_success", extra, (), 1.0 if sample.success else 0.0)
        add("probe_duration_seconds", extra, (), sample.duration_seconds)
        chains = target.chains
        everything = _expiries(c for chain in chains for c in chain.certificates)
        if everything:
            add("probe_ssl_earliest_cert_expiry", extra, (), min(everything))
        verified = [verified_path_expiry(chain, sample.not_after_of) for chain in chains]
        if any(v is not None for v in verified):
            add("probe_ssl_last_chain_expiry_timestamp_seconds", extra, (),
                min(v for v in verified if v is not None))  # fmt: skip
        leaves: dict[str, tuple[str, ...]] = {}
        for chain in chains:
            leaf = chain.leaf
            if leaf is not None and leaf.sha256 not in leaves:
                leaves[leaf.sha256] = (leaf.sha256, leaf.subject, leaf.issuer,
                                       dns_names(chain.ders[0]) if chain.ders else "",
                                       serial_as_blackbox(leaf.serial))  # fmt: skip
        for labels in leaves.values():
            add("probe_ssl_last_chain_info", extra, labels, 1.0)
        for version in sorted(target.tls_versions):
            add("probe_tls_version_info", extra, (TLS_VERSION_NAMES.get(version, version),), 1.0)
        for cipher in sorted(target.ciphers):
            add("probe_tls_cipher_info", extra, (cipher,), 1.0)
        for chain in chains:
            self._add_chain(chain, extra)
        add("certcensus_chains_distinct", extra, (), float(len(chains)))
        coverage = target.coverage
        if coverage is not None and coverage.applicable and coverage.probes:
            add("certcensus_coverage_max_missed_share", extra, (), coverage.max_missed_share)
            add("certcensus_coverage_confidence", extra, (), coverage.confidence)
        for outcome, count in sorted(outcome_counts(target).items()):
            add("certcensus_census_probes", extra, (outcome,), float(count))
        self._add_backends(target, extra)

    def _add_backends(self, target: TargetCensus, extra: tuple[str, ...]) -> None:
        """Absent when no probe named a backend: an unknown is not a zero."""
        backends = target.backends
        if backends is None or backends.estimate is None:
            return
        self.add("certcensus_backends_seen", extra, (), float(backends.estimate.seen))
        self.add("certcensus_backends_estimated", extra, (), backends.estimate.estimated)
        for chain in target.chains:
            named = [i for i in backends.backends_of(chain.chain_id) if i is not None]
            self.add("certcensus_chain_backends", extra, (chain.chain_id,), float(len(named)))

    def _add_chain(self, chain: ChainCount, extra: tuple[str, ...]) -> None:
        chain_id, leaf = chain.chain_id, chain.leaf
        path = " <- ".join(short_name(info) for info in chain.certificates)
        self.add("certcensus_chain_info", extra, (
            chain_id, leaf.sha256 if leaf else "", leaf.subject if leaf else "",
            leaf.issuer if leaf else "", path, str(len(chain.ders)),
        ), 1.0)  # fmt: skip
        self.add("certcensus_chain_share", extra, (chain_id,), chain.share)
        self.add("certcensus_chain_probes", extra, (chain_id,), float(chain.count))
        for vantage, count in sorted(chain.vantages.items()):
            self.add("certcensus_chain_vantage_probes", extra, (chain_id, vantage), float(count))
        for store, verdict in sorted((chain.trust or {}).items()):
            self._add_verdict(chain_id, store, verdict, extra)
        ends = _expiries(chain.certificates)
        if ends:
            self.add("certcensus_chain_earliest_expiry_timestamp_seconds", extra, (chain_id,),
                     min(ends))  # fmt: skip

    def _add_verdict(self, chain_id: str, store: str, verdict: StoreVerdict, extra) -> None:
        lenient = verdict.lenient
        self.add("certcensus_chain_trusted", extra, (chain_id, store, str(lenient.reason)),
                 1.0 if lenient.trusted else 0.0)  # fmt: skip
        self.add("certcensus_chain_verified", extra, (chain_id, store),
                 1.0 if verdict.strict.trusted else 0.0)  # fmt: skip

    def collect(self) -> list[Metric]:
        """The families that have samples (an empty family is noise on a dashboard)."""
        return [family for family in self.families.values() if family.samples]


def outcome_counts(target: TargetCensus) -> Counter[str]:
    """A census's probes by outcome class, `ok` included (leaf-only captures are not probes)."""
    counts: Counter[str] = Counter(target.errors)
    if target.ok:
        counts["ok"] = target.ok
    return counts


def counter_family(
    name: str, help_text: str, labels: tuple[str, ...], values: Mapping[tuple[str, ...], float]
) -> CounterMetricFamily:
    """A counter family from {label values: count}; `name` without `_total`."""
    family = CounterMetricFamily(name, help_text, labels=list(labels))
    for label_values, value in sorted(values.items()):
        family.add_metric(list(label_values), value)
    return family


class FamiliesCollector(Collector):
    """A prometheus_client collector that answers with families built at scrape time."""

    def __init__(self, build: Callable[[], list]):
        self._build = build

    def collect(self):
        return iter(self._build())


__all__ = ["FAMILIES", "CensusSample", "FamiliesCollector", "FamilySet"]
