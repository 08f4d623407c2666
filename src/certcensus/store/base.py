"""The store interface. The census and every later analysis read through it and never look
behind it, so a PostgreSQL backend can be added without touching them (httpx's transports)."""

from __future__ import annotations

import abc
import array
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import RejectedObservation


@dataclass(frozen=True, slots=True)
class StoredProbe:
    """One probe as read back: the observation minus the certificate bytes, plus ids."""

    probe_id: int
    run_id: int
    target: str
    host: str
    port: int
    protocol: str
    address: str
    started_at: float
    outcome: Outcome
    detail: str
    chain_id: str | None
    sni: str | None
    profile: str
    source_address: str | None
    source_port: int | None
    tls_version: str | None
    cipher: str | None
    connect_seconds: float | None
    starttls_seconds: float | None
    handshake_seconds: float | None
    source: str
    leaf_only: bool = False
    server_identity: str | None = None  # what the server said about itself (Observation)
    server_identity_detail: str = ""
    server_hello: str | None = None  # ServerHello fingerprint
    vantage: str | None = None  # the `certcensus worker --vantage` that made it; None: local


class BackendProbeCount(NamedTuple):
    """Probes of one target that share backend identity, ServerHello, chain, SNI and profile:
    the aggregate the backends analysis (census/backends.py) is built from."""

    identity: str | None  # None: the probe learned no identity (counted, never dropped)
    server_hello: str | None
    chain_id: str | None  # None: the probe got no chain (failed)
    sni: str | None
    profile: str
    probes: int


# What `Store.probe_groups` can group by and `where` can filter on: StoredProbe's fields that
# describe how a probe was made and what came back, plus `chain_key` (below) and `time_bin`.
# A backend maps each to a column; adding a dimension (issue 13's backend identity, issue 17's
# vantage) means one entry here, one column in each backend, and one line in the contract tests.
GROUP_DIMENSIONS = (
    "run_id", "target", "host", "port", "protocol", "address", "outcome", "chain", "chain_key",
    "sni", "profile", "source_address", "source_port", "tls_version", "cipher", "source",
    "leaf_only", "started_at", "time_bin", "server_identity", "server_hello", "vantage",
)  # fmt: skip
# What `Store.probe_columns` can read in bulk: numeric per-probe values. Missing values read as
# MISSING_INTEGER (integer columns) or NaN (seconds).
INTEGER_COLUMNS = ("probe_id", "run_id", "chain_key", "source_port")
FLOAT_COLUMNS = ("started_at", "connect_seconds", "starttls_seconds", "handshake_seconds")
MISSING_INTEGER = -1


@dataclass(frozen=True, slots=True)
class ProbeGroup:
    """Probes that share one value of each grouping dimension (`Store.probe_groups`)."""

    key: tuple  # one value per dimension asked for, in the order asked (None where unset)
    probes: int
    first_at: float  # the earliest started_at in the group
    last_at: float  # the latest
    first_detail: str = ""  # the detail of the earliest probe, when asked for


@dataclass(frozen=True, slots=True)
class RunInfo:
    run_id: int
    command: str
    started_at: float
    finished_at: float | None
    targets: tuple[str, ...]


class Store(abc.ABC):
    """Observations in, probes and certificates out. Writes are buffered: call `flush`.

    Implements model.sink.ObservationSink, which the prober and ingest write to. Every backend
    passes the same contract tests (tests/store/test_store_contract.py).
    """

    read_only: bool = False
    # A URL that processes on other machines (Dask workers) can open to write into this same
    # store; None when only this process can write to it (an SQLite file).
    shared_url: str | None = None
    rejected: list[RejectedObservation]  # see model.sink.ObservationSink

    @abc.abstractmethod
    def start_run(self, command: str, targets: Iterable[str]) -> int:
        """Open a run (one scan, one ingest, one watch round) and return its id."""

    @abc.abstractmethod
    def set_run_targets(self, run_id: int, targets: Iterable[str]) -> None:
        """Replace a run's target list (ingest learns targets from the files it reads)."""

    @abc.abstractmethod
    def finish_run(self, run_id: int) -> None: ...

    @abc.abstractmethod
    def add(self, run_id: int, observation: Observation) -> None:
        """Queue one observation; it is durable after the next `flush` (at most ~1 s later)."""

    @abc.abstractmethod
    def add_batch(self, run_id: int, batch_id: str, observations: Sequence[Observation]) -> bool:
        """Store a batch of observations at once, and durably, unless a batch with this id was
        already stored for the run: then store nothing and return False. A task that Dask ran
        twice (its worker died after it wrote) must not count its probes twice."""

    @abc.abstractmethod
    def flush(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    @abc.abstractmethod
    def runs(self) -> list[RunInfo]: ...

    @abc.abstractmethod
    def targets(self, run_ids: Iterable[int] | None = None) -> list[str]:
        """Targets with probes, in the order they were first probed."""

    @abc.abstractmethod
    def probes(self, target: str, run_ids: Iterable[int] | None = None) -> Iterator[StoredProbe]:
        """A target's probes in time order; `run_ids=None` means every run."""

    def probe_groups(
        self,
        by: Sequence[str],
        *,
        targets: Iterable[str] | None = None,
        run_ids: Iterable[int] | None = None,
        where: Mapping[str, object] | None = None,
        time_bins: tuple[float, float] | None = None,
        first_detail: bool = False,
    ) -> list[ProbeGroup]:
        """Count probes per distinct value of the dimensions `by` (names in GROUP_DIMENSIONS):
        the census's aggregates (SQL GROUP BY), so no analysis needs every probe in memory.

        `targets`/`run_ids` None mean all. `where` keeps probes whose dimension equals a value
        (None: unset), or is one of a tuple of values. `chain` is the chain id, `chain_key` a
        value standing for it that is cheap to read in bulk (see `probe_columns`); grouping by
        both gives the mapping. `time_bin` needs `time_bins` = (origin, width in seconds): it is
        floor((started_at - origin) / width). With `first_detail` each group also carries the
        detail of its earliest probe (for failures: one example line per class). Groups come in
        no particular order; `first_at` orders them by first appearance.

        This version reads every probe through `probes()`: correct for any backend, and what
        the contract tests compare a backend's own query against. Backends answer in SQL.
        """
        dimensions = _checked_dimensions(by, time_bins)
        conditions = _checked_where(where, time_bins)
        names = list(targets) if targets is not None else self.targets(run_ids)
        run_list = list(run_ids) if run_ids is not None else None
        found: dict[tuple, list] = {}
        for name in names:
            for probe in self.probes(name, run_list):
                values = _probe_values(probe, time_bins)
                if not all(_matches(values[d], wanted) for d, wanted in conditions.items()):
                    continue
                key = tuple(values[d] for d in dimensions)
                group = found.get(key)
                if group is None:
                    found[key] = [1, probe.started_at, probe.started_at, probe.detail]
                else:
                    group[0] += 1
                    group[2] = probe.started_at  # probes() is in time order
        return [
            ProbeGroup(key, count, first, last, detail if first_detail else "")
            for key, (count, first, last, detail) in found.items()
        ]

    def probe_columns(
        self,
        columns: Sequence[str],
        *,
        target: str,
        run_ids: Iterable[int] | None = None,
        where: Mapping[str, object] | None = None,
    ) -> dict[str, array.array]:
        """Numeric values (INTEGER_COLUMNS, FLOAT_COLUMNS) of one target's probes that match
        `where` (as in `probe_groups`), in time order (started_at, then probe_id), one compact
        array per column: 8 bytes a value, no object per probe. For the sequence tests of the
        randomness checks (round robin, runs) and anything else that needs probe order."""
        for column in columns:
            if column not in INTEGER_COLUMNS + FLOAT_COLUMNS:
                raise ValueError(f"probe_columns cannot read {column!r}")
        conditions = _checked_where(where, None)
        result = {c: array.array("q" if c in INTEGER_COLUMNS else "d") for c in columns}
        for probe in self.probes(target, run_ids):
            values = _probe_values(probe, None)
            if all(_matches(values[d], wanted) for d, wanted in conditions.items()):
                for column in columns:
                    value = probe.probe_id if column == "probe_id" else values[column]
                    if value is None:
                        value = MISSING_INTEGER if column in INTEGER_COLUMNS else math.nan
                    result[column].append(value)  # type: ignore[arg-type]
        return result

    def backend_counts(
        self, target: str, run_ids: Iterable[int] | None = None
    ) -> list[BackendProbeCount]:
        """A target's probes counted by (identity, ServerHello, chain, SNI, profile); ingested
        leaf-only captures left out, a failed probe's chain None. Backends with a query
        language answer with one GROUP BY; this default counts `probes`."""
        return backend_counts_of(
            self.probe_groups(BACKEND_DIMENSIONS, targets=[target], run_ids=run_ids)
        )

    def chains_by_target(
        self, run_ids: Iterable[int] | None = None, targets: Iterable[str] | None = None
    ) -> dict[str, Counter]:
        """Successful probes per chain for each target (leaf-only captures apart): what a fleet
        overview compares from run to run. One probe_groups, so one GROUP BY in a backend."""
        run_list = list(run_ids) if run_ids is not None else None
        names = list(targets) if targets is not None else self.targets(run_list)
        counts: dict[str, Counter] = {name: Counter() for name in names}
        groups = self.probe_groups(
            ("target", "chain"), targets=names, run_ids=run_list,
            where={"outcome": str(Outcome.OK), "leaf_only": False},
        )  # fmt: skip
        for group in sorted(groups, key=lambda g: g.first_at):  # Counter order: first seen first
            target, chain = group.key
            if chain is not None:
                counts[target][chain] += group.probes
        return counts

    @abc.abstractmethod
    def chain_certificates(self, chain_id: str) -> list[bytes]:
        """The DER certificates of a chain, in wire order."""

    def chains_certificates(self, chain_ids: Iterable[str]) -> dict[str, list[bytes]]:
        """Many chains' certificates at once (backends answer with one query, not N)."""
        return {
            chain_id: self.chain_certificates(chain_id) for chain_id in dict.fromkeys(chain_ids)
        }

    @abc.abstractmethod
    def certificate(self, sha256: str) -> bytes | None: ...

    @abc.abstractmethod
    def find_chains(self, prefix: str) -> list[str]:
        """Chain ids starting with `prefix` (users type short ids)."""

    def latest_run_ids(self, targets: Iterable[str] | None = None) -> list[int]:
        """For each target (all if None), the newest run that probed it."""
        wanted = set(targets) if targets is not None else None
        latest: dict[str, int] = {}
        for run in self.runs():
            for target in run.targets:
                if wanted is None or target in wanted:
                    latest[target] = max(latest.get(target, 0), run.run_id)
        return sorted(set(latest.values()))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# What backend_counts groups by (census/build.py adds "target" to do every target at once).
BACKEND_DIMENSIONS = ("server_identity", "server_hello", "chain", "outcome", "sni", "profile",
                      "leaf_only")  # fmt: skip


def refuse_other_schema(where: str, version: int | None, current: int, *, writable: bool) -> None:
    """The one-line refusal of a database whose schema this code cannot use as it is: newer than
    `current` (any backend), or older and opened read-only (a migration needs a writer)."""
    if version is not None and version > current:
        raise StoreError(
            f"database {where} has schema version {version}, newer than this certcensus "
            f"understands ({current}); upgrade certcensus"
        )
    if not writable and version is not None and version < current:
        raise StoreError(
            f"database {where} has schema version {version}; open it once for writing (any scan "
            "or ingest) to migrate it"
        )


def backend_counts_of(groups: Iterable[ProbeGroup]) -> list[BackendProbeCount]:
    """BackendProbeCounts from groups whose keys end with BACKEND_DIMENSIONS: leaf-only
    captures left out, a failed probe's chain None."""
    counts: Counter = Counter()
    for group in groups:
        identity, hello, chain, outcome, sni, profile, leaf_only = group.key[-7:]
        if not leaf_only:
            chain = chain if outcome == str(Outcome.OK) else None
            counts[(identity, hello, chain, sni, profile)] += group.probes
    return [
        BackendProbeCount(identity, hello, chain, sni, profile, probes)
        for (identity, hello, chain, sni, profile), probes in counts.items()
    ]


def _checked_dimensions(by: Sequence[str], time_bins: tuple[float, float] | None) -> list[str]:
    unknown = [d for d in by if d not in GROUP_DIMENSIONS]
    if unknown:
        raise ValueError(f"cannot group probes by {', '.join(unknown)}")
    if "time_bin" in by and time_bins is None:
        raise ValueError("grouping by time_bin needs time_bins=(origin, width)")
    if time_bins is not None and not time_bins[1] > 0:
        raise ValueError("time bins need a positive width")
    return list(by)


def _checked_where(
    where: Mapping[str, object] | None, time_bins: tuple[float, float] | None
) -> dict[str, object]:
    conditions = dict(where or {})
    _checked_dimensions(list(conditions), time_bins)
    return conditions


def _matches(value: object, wanted: object) -> bool:
    return value in wanted if isinstance(wanted, tuple) else value == wanted


def _chain_key(chain_id: str | None) -> int | None:
    """The generic chain key: the first 60 bits of the chain id (a backend has its own)."""
    return int(chain_id[:15], 16) if chain_id else None


def _probe_values(probe: StoredProbe, time_bins: tuple[float, float] | None) -> dict[str, object]:
    values = {
        "run_id": probe.run_id, "target": probe.target, "host": probe.host, "port": probe.port,
        "protocol": probe.protocol, "address": probe.address, "outcome": str(probe.outcome),
        "chain": probe.chain_id, "chain_key": _chain_key(probe.chain_id), "sni": probe.sni,
        "profile": probe.profile, "source_address": probe.source_address,
        "source_port": probe.source_port, "tls_version": probe.tls_version,
        "cipher": probe.cipher, "source": probe.source, "leaf_only": probe.leaf_only,
        "started_at": probe.started_at, "connect_seconds": probe.connect_seconds,
        "starttls_seconds": probe.starttls_seconds, "handshake_seconds": probe.handshake_seconds,
        "server_identity": probe.server_identity, "server_hello": probe.server_hello,
        "vantage": probe.vantage,
    }  # fmt: skip
    if time_bins is not None:
        values["time_bin"] = math.floor((probe.started_at - time_bins[0]) / time_bins[1])
    return values
