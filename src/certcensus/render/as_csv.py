"""The census as CSV for spreadsheets: one row per probe, or one row per chain per target.

`observations_csv` reads the store (every stored field of every probe); `chains_csv` reads the
census object like every other rendering, with the trust verdicts when they are there.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Iterable
from typing import TextIO

from certcensus.census.backends import ranked
from certcensus.census.model import Census
from certcensus.render.as_json import iso_time
from certcensus.store.base import Store, StoredProbe

PROBE_FIELDS = [field.name for field in dataclasses.fields(StoredProbe)]
OBSERVATION_COLUMNS = ["time", *PROBE_FIELDS]
CHAIN_COLUMNS = [
    "target", "rank", "chain", "count", "share", "first_seen", "last_seen", "ips", "length",
    "subjects", "issuers", "sha256s", "not_after", "untrusted_by", "backends",
]  # fmt: skip
# Spreadsheets run a cell that starts with one of these as a formula, and certificate subjects
# and server error details are chosen by whoever runs the server (OWASP "CSV Injection"): such
# text cells get a leading apostrophe, which spreadsheets show as plain text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def write_observations_csv(
    file: TextIO, store: Store, targets: Iterable[str] | None, run_ids: Iterable[int] | None
) -> int:
    """Write one row per probe (every StoredProbe field, plus its time in ISO 8601) to `file`;
    `targets`/`run_ids` None mean all. Returns the number of rows."""
    run_list = list(run_ids) if run_ids is not None else None
    names = list(targets) if targets is not None else store.targets(run_list)
    writer = csv.writer(file, lineterminator="\n")
    writer.writerow(OBSERVATION_COLUMNS)
    rows = 0
    for name in names:
        for probe in store.probes(name, run_list):
            values = [getattr(probe, field) for field in PROBE_FIELDS]
            values = [str(v) if field == "outcome" else v for field, v in zip(PROBE_FIELDS, values)]
            writer.writerow([iso_time(probe.started_at), *map(safe_cell, values)])
            rows += 1
    return rows


def observations_csv(
    store: Store, targets: Iterable[str] | None = None, run_ids: Iterable[int] | None = None
) -> str:
    """The probes as CSV text (see write_observations_csv)."""
    buffer = io.StringIO()
    write_observations_csv(buffer, store, targets, run_ids)
    return buffer.getvalue()


def chains_csv(census: Census) -> str:
    """One row per chain per target: counts, times, and the certificates joined with " | "."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CHAIN_COLUMNS)
    for target in census.targets:
        for rank, chain in enumerate(target.chains, 1):
            certificates = chain.certificates
            untrusted = [
                f"{store}:{judged.lenient.reason}"
                for store, judged in (chain.trust or {}).items()
                if not judged.lenient.trusted
            ]
            row = [
                target.target, rank, chain.chain_id, chain.count, round(chain.share, 6),
                iso_time(chain.first_seen), iso_time(chain.last_seen),
                " ".join(f"{ip}={n}" for ip, n in chain.ips.most_common()),
                len(certificates),
                " | ".join(c.subject or c.parse_error or "" for c in certificates),
                " | ".join(c.issuer for c in certificates),
                " ".join(c.sha256 for c in certificates),
                " | ".join(c.not_after for c in certificates),
                " ".join(untrusted),
                # identity=probes, " | " between backends (identities may hold spaces)
                " | ".join(
                    f"{'null' if identity is None else identity}={n}"
                    for identity, n in ranked(chain.backends)
                ),
            ]  # fmt: skip
            writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue()
