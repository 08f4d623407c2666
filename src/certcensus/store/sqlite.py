"""The default store: one SQLite file in WAL mode.

Certificates are stored once by the SHA-256 of their DER, chains once by their chain id (and an
integer `chain_key`), probes one row each of small integer keys (see TABLES). Writes are queued
and committed in batches at least once a second, so a killed run loses at most the last second
of observations. The census reads aggregates (`probe_groups`: one GROUP BY) and compact numeric
columns (`probe_columns`), never an object per probe.
"""

from __future__ import annotations

import array
import json
import math
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.store.base import (
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    MISSING_INTEGER,
    ProbeGroup,
    RunInfo,
    Store,
    StoredProbe,
    _checked_dimensions,
    _checked_where,
    _matches,
)

# Commit at least this often while observations arrive; the issue's promise is "lose at most the
# last second", and one commit per second costs nothing next to the probes themselves.
FLUSH_INTERVAL_SECONDS = 1.0
# ... or once this many observations are queued, to bound memory on very fast runs.
FLUSH_BATCH = 2000

# Schema 3 keys every repeated value of a probe by an integer: chains by `chain_key`, targets
# (name, host, port, protocol) by `target_key`, and every repeated string (address, outcome,
# detail, SNI, profile, source address, TLS version, cipher, source) by a key into `texts`, one
# table for all of them. A probe row is then a handful of small integers, a start time and three
# durations: ~60 bytes with its index entry instead of 353 (bench/RESULTS.md, "store"). A new
# per-probe string (issue 13's backend identity, issue 17's vantage) is one more `*_key` column
# into `texts`, a MIGRATIONS step, and one entry in _TEXT_COLUMNS.
TABLES = """
CREATE TABLE IF NOT EXISTS certificates (
    sha256 TEXT PRIMARY KEY,
    der BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS chains (
    chain_key INTEGER PRIMARY KEY,
    chain_id TEXT NOT NULL UNIQUE,
    length INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_certificates (
    chain_key INTEGER NOT NULL,
    position INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (chain_key, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    targets TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS targets (
    target_key INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    UNIQUE (target, host, port, protocol)
);
CREATE TABLE IF NOT EXISTS texts (
    text_key INTEGER PRIMARY KEY,
    value TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS probes (
    probe_id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    target_key INTEGER NOT NULL,
    address_key INTEGER NOT NULL,
    started_at REAL NOT NULL,
    outcome_key INTEGER NOT NULL,
    detail_key INTEGER NOT NULL,
    chain_key INTEGER,
    sni_key INTEGER,
    profile_key INTEGER NOT NULL,
    source_address_key INTEGER,
    source_port INTEGER,
    tls_version_key INTEGER,
    cipher_key INTEGER,
    connect_seconds REAL,
    starttls_seconds REAL,
    handshake_seconds REAL,
    source_key INTEGER NOT NULL,
    leaf_only INTEGER NOT NULL DEFAULT 0
);
"""
SCHEMA = (
    TABLES
    + """
CREATE INDEX IF NOT EXISTS probes_by_target ON probes(target_key, run_id, started_at);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
"""
)

# The schema this code writes. 1: the first release (leaf-only captures marked in `detail`);
# 2: `leaf_only` is a column; 3: integer keys for chains, targets and repeated strings. Older
# databases are migrated when opened for writing; a newer one is refused, since this code would
# misread it.
SCHEMA_VERSION = 3
_V2_TEXT_COLUMNS = ("address", "outcome", "detail", "sni", "profile", "source_address",
                    "tls_version", "cipher", "source")  # fmt: skip
MIGRATIONS = {
    1: (
        "ALTER TABLE probes ADD COLUMN leaf_only INTEGER NOT NULL DEFAULT 0",
        "UPDATE probes SET leaf_only = 1, detail = '' WHERE detail = 'leaf-only'",
    ),
    2: (
        "DROP INDEX IF EXISTS probes_by_target",
        "DROP INDEX IF EXISTS probes_by_chain",
        "ALTER TABLE probes RENAME TO probes_v2",
        "ALTER TABLE chains RENAME TO chains_v2",
        "ALTER TABLE chain_certificates RENAME TO chain_certificates_v2",
        *TABLES.split(";")[:-1],
        "INSERT INTO chains (chain_id, length) SELECT chain_id, length FROM chains_v2 ORDER BY rowid",
        "INSERT INTO chain_certificates (chain_key, position, sha256) "
        "SELECT c.chain_key, v.position, v.sha256 FROM chain_certificates_v2 AS v "
        "JOIN chains AS c USING (chain_id)",
        "INSERT OR IGNORE INTO texts (value) "
        + " UNION ".join(
            f"SELECT {c} FROM probes_v2 WHERE {c} IS NOT NULL" for c in _V2_TEXT_COLUMNS
        ),
        "INSERT OR IGNORE INTO targets (target, host, port, protocol) "
        "SELECT target, host, port, protocol FROM probes_v2 GROUP BY target, host, port, protocol "
        "ORDER BY MIN(probe_id)",
        "INSERT INTO probes (probe_id, run_id, target_key, started_at, chain_key, source_port, "
        "connect_seconds, starttls_seconds, handshake_seconds, leaf_only, "
        + ", ".join(f"{c}_key" for c in _V2_TEXT_COLUMNS)
        + ") SELECT p.probe_id, p.run_id, t.target_key, p.started_at, c.chain_key, "
        "p.source_port, p.connect_seconds, p.starttls_seconds, p.handshake_seconds, p.leaf_only, "
        + ", ".join(f"(SELECT text_key FROM texts WHERE value = p.{c})" for c in _V2_TEXT_COLUMNS)
        + " FROM probes_v2 AS p JOIN targets AS t USING (target, host, port, protocol) "
        "LEFT JOIN chains AS c ON c.chain_id = p.chain_id ORDER BY p.probe_id",
        "DROP TABLE probes_v2",
        "DROP TABLE chains_v2",
        "DROP TABLE chain_certificates_v2",
    ),
}

# Per-probe strings kept in `texts`: dimension -> column of `probes`.
_TEXT_COLUMNS = {
    "address": "address_key", "outcome": "outcome_key", "detail": "detail_key",
    "sni": "sni_key", "profile": "profile_key", "source_address": "source_address_key",
    "tls_version": "tls_version_key", "cipher": "cipher_key", "source": "source_key",
}  # fmt: skip
_TARGET_FIELDS = ("target", "host", "port", "protocol")
# Dimensions read straight from a column of `probes`.
_PLAIN_COLUMNS = {
    "run_id": "run_id", "chain_key": "chain_key", "source_port": "source_port",
    "leaf_only": "leaf_only", "started_at": "started_at",
}  # fmt: skip
PROBE_COLUMNS = (
    "run_id, target_key, address_key, started_at, outcome_key, detail_key, chain_key, sni_key, "
    "profile_key, source_address_key, source_port, tls_version_key, cipher_key, "
    "connect_seconds, starttls_seconds, handshake_seconds, source_key, leaf_only"
)
# Rows fetched from SQLite at a time when reading in bulk: large enough that the per-call cost
# vanishes, small enough that the rows in flight stay a few megabytes.
FETCH_ROWS = 65536
# Keep at most this many interned strings in memory for writing; past it the cache starts over
# (a server whose error texts are all different must not grow the writer without bound).
TEXT_CACHE_LIMIT = 100_000


class SQLiteStore(Store):
    def __init__(self, path: Path, *, read_only: bool = False):
        self.path = path
        self.read_only = read_only
        try:
            if read_only and not path.exists():
                # Nothing stored yet: read as an empty database, and create no file.
                self._db = sqlite3.connect(
                    ":memory:", isolation_level=None, check_same_thread=False
                )
                self._create_or_migrate()
            elif read_only:
                uri = path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(
                    uri, uri=True, isolation_level=None, check_same_thread=False
                )
                self._db.execute("PRAGMA busy_timeout=10000")
                self._check_version(self._version(), writable=False)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
                self._db.execute("PRAGMA busy_timeout=10000")
                self._create_or_migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open database {path}: {error}") from None
        except OSError as error:
            raise StoreError(f"cannot open database {path}: {error.strerror or error}") from None
        self._queue: list[tuple[int, Observation]] = []
        self._last_flush = time.monotonic()
        self._texts: dict[str, int] = {}
        self._targets: dict[tuple, int] = {}
        self._chains: dict[str, int] = {}

    # -- schema ------------------------------------------------------------------------------

    def _version(self) -> int | None:
        """The schema version, 1 for a first-release database, None for an empty file."""
        tables = {
            row[0] for row in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "schema_version" in tables:
            row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            return row[0] if row and row[0] is not None else 1
        if "probes" in tables:
            return 1
        if tables:
            raise StoreError(f"{self.path} is an SQLite database, but not a certcensus one")
        return None

    def _check_version(self, version: int | None, *, writable: bool) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {version}, newer than this "
                f"certcensus understands ({SCHEMA_VERSION}); upgrade certcensus"
            )
        if not writable and version is not None and version < SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {version}; open it once for writing "
                "(any scan or ingest) to migrate it"
            )

    def _create_or_migrate(self) -> None:
        version = self._version()
        self._check_version(version, writable=True)
        if version == SCHEMA_VERSION:
            return
        with self._db:  # one transaction: a migration is all or nothing
            self._db.execute("BEGIN IMMEDIATE")
            if version is not None:
                for step in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        self._db.execute(statement)
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            self._db.execute("DELETE FROM schema_version")
            self._db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    # -- writing -----------------------------------------------------------------------------

    def start_run(self, command: str, targets: Iterable[str]) -> int:
        cursor = self._db.execute(
            "INSERT INTO runs (command, started_at, targets) VALUES (?, ?, ?)",
            (command, time.time(), json.dumps(list(targets))),
        )
        assert cursor.lastrowid is not None  # an INSERT into a rowid table always sets it
        return cursor.lastrowid

    def set_run_targets(self, run_id: int, targets: Iterable[str]) -> None:
        self._db.execute(
            "UPDATE runs SET targets = ? WHERE run_id = ?", (json.dumps(list(targets)), run_id)
        )

    def finish_run(self, run_id: int) -> None:
        self.flush()
        self._db.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", (time.time(), run_id))

    def add(self, run_id: int, observation: Observation) -> None:
        self._queue.append((run_id, observation))
        if (
            len(self._queue) >= FLUSH_BATCH
            or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if not self._queue:
            return
        queue, self._queue = self._queue, []
        with self._db:  # one transaction
            self._db.execute("BEGIN")
            rows = [self._row(run_id, obs) for run_id, obs in queue]
            placeholders = ", ".join("?" * len(rows[0]))
            self._db.executemany(
                f"INSERT INTO probes ({PROBE_COLUMNS}) VALUES ({placeholders})", rows
            )

    def _row(self, run_id: int, obs: Observation) -> tuple:
        text = self._text_key
        return (
            run_id, self._target_key(obs), text(obs.address), obs.started_at,
            text(str(obs.outcome)), text(obs.detail), self._chain_key(obs.chain),
            text(obs.sni), text(obs.profile), text(obs.source_address), obs.source_port,
            text(obs.tls_version), text(obs.cipher), obs.connect_seconds, obs.starttls_seconds,
            obs.handshake_seconds, text(obs.source), int(obs.leaf_only),
        )  # fmt: skip

    # Interning, inside flush's transaction: each key is looked up (or made) once per value and
    # remembered, so a flush of 2,000 probes of one target costs a dozen queries, not 20,000.

    def _text_key(self, value: str | None) -> int | None:
        if value is None:
            return None
        key = self._texts.get(value)
        if key is None:
            if len(self._texts) >= TEXT_CACHE_LIMIT:
                self._texts.clear()
            self._db.execute("INSERT OR IGNORE INTO texts (value) VALUES (?)", (value,))
            (key,) = self._db.execute(
                "SELECT text_key FROM texts WHERE value = ?", (value,)
            ).fetchone()
            self._texts[value] = key
        return key

    def _target_key(self, obs: Observation) -> int:
        identity = (obs.target, obs.host, obs.port, obs.protocol)
        key = self._targets.get(identity)
        if key is None:
            self._db.execute(
                "INSERT OR IGNORE INTO targets (target, host, port, protocol) VALUES (?, ?, ?, ?)",
                identity,
            )
            (key,) = self._db.execute(
                "SELECT target_key FROM targets WHERE target = ? AND host = ? AND port = ? "
                "AND protocol = ?",
                identity,
            ).fetchone()
            self._targets[identity] = key
        return key

    def _chain_key(self, chain: tuple[bytes, ...]) -> int | None:
        if not chain:
            return None
        chain_id = chain_fingerprint(chain)
        key = self._chains.get(chain_id)
        if key is None:
            self._db.execute(
                "INSERT OR IGNORE INTO chains (chain_id, length) VALUES (?, ?)",
                (chain_id, len(chain)),
            )
            (key,) = self._db.execute(
                "SELECT chain_key FROM chains WHERE chain_id = ?", (chain_id,)
            ).fetchone()
            certificates = [(certificate_fingerprint(der), der) for der in chain]
            self._db.executemany(
                "INSERT OR IGNORE INTO certificates (sha256, der) VALUES (?, ?)", certificates
            )
            self._db.executemany(
                "INSERT OR IGNORE INTO chain_certificates (chain_key, position, sha256) "
                "VALUES (?, ?, ?)",
                [(key, position, sha) for position, (sha, _) in enumerate(certificates)],
            )
            self._chains[chain_id] = key
        return key

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()

    # -- reading -----------------------------------------------------------------------------

    def runs(self) -> list[RunInfo]:
        rows = self._db.execute(
            "SELECT run_id, command, started_at, finished_at, targets FROM runs ORDER BY run_id"
        )
        return [
            RunInfo(run_id, command, started, finished, tuple(json.loads(targets)))
            for run_id, command, started, finished, targets in rows
        ]

    def targets(self, run_ids: Iterable[int] | None = None) -> list[str]:
        where, params = _run_filter(run_ids)
        rows = self._db.execute(
            f"SELECT t.target, MIN(p.first) AS first FROM (SELECT target_key, MIN(probe_id) AS "
            f"first FROM probes {where} GROUP BY target_key) AS p JOIN targets AS t "
            "USING (target_key) GROUP BY t.target ORDER BY first",
            params,
        )
        return [target for target, _ in rows]

    def probes(self, target: str, run_ids: Iterable[int] | None = None) -> Iterator[StoredProbe]:
        where, params = _run_filter(run_ids, "p.run_id")
        where = (where + " AND" if where else "WHERE") + " t.target = ?"
        texts = " ".join(
            f"LEFT JOIN texts AS x_{name} ON x_{name}.text_key = p.{column}"
            for name, column in _TEXT_COLUMNS.items()
        )
        rows = self._db.execute(
            "SELECT p.probe_id, p.run_id, t.target, t.host, t.port, t.protocol, x_address.value, "
            "p.started_at, x_outcome.value, x_detail.value, c.chain_id, x_sni.value, "
            "x_profile.value, x_source_address.value, p.source_port, x_tls_version.value, "
            "x_cipher.value, p.connect_seconds, p.starttls_seconds, p.handshake_seconds, "
            f"x_source.value, p.leaf_only FROM probes AS p JOIN targets AS t USING (target_key) "
            f"LEFT JOIN chains AS c ON c.chain_key = p.chain_key {texts} {where} "
            "ORDER BY p.started_at, p.probe_id",
            (*params, target),
        )
        for row in rows:
            values = list(row)
            values[8] = Outcome(values[8])
            values[21] = bool(values[21])
            yield StoredProbe(*values)

    # -- aggregates --------------------------------------------------------------------------

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
        """Store.probe_groups in SQL: one GROUP BY over the integer keys, the strings looked up
        for the groups only (a million probes of one target make a few dozen groups)."""
        dimensions = _checked_dimensions(by, time_bins)
        filters, params = self._filters(targets, run_ids, where, time_bins)
        if filters is None:
            return []
        selected = [self._key_expression(d) for d in dimensions]
        bins = list(time_bins) if time_bins is not None and "time_bin" in dimensions else []
        bin_params = bins * 3 * dimensions.count("time_bin")
        group = ", ".join(selected) if selected else "NULL"
        sql = (
            f"SELECT {group}, COUNT(*), MIN(started_at), MAX(started_at) FROM probes "
            f"{filters} GROUP BY {group}"
        )
        found = self._db.execute(sql, (*bin_params, *params, *bin_params)).fetchall()
        details: dict[tuple, str] = {}
        if first_detail:
            # SQLite returns a bare column from the row where the only MIN() is reached.
            sql = (
                f"SELECT {group}, detail_key, MIN(started_at) FROM probes {filters} "
                f"GROUP BY {group}"
            )
            rows = self._db.execute(sql, (*bin_params, *params, *bin_params)).fetchall()
            width = len(dimensions) or 1
            text = self._texts_of({row[width] for row in rows})
            details = {tuple(row[:width]): text.get(row[width], "") for row in rows}
        return self._resolved_groups(dimensions, found, details)

    def probe_columns(
        self,
        columns: Sequence[str],
        *,
        target: str,
        run_ids: Iterable[int] | None = None,
        where: Mapping[str, object] | None = None,
    ) -> dict[str, array.array]:
        """Store.probe_columns: one indexed query, read FETCH_ROWS rows at a time."""
        for column in columns:
            if column not in INTEGER_COLUMNS + FLOAT_COLUMNS:
                raise ValueError(f"probe_columns cannot read {column!r}")
        result = {c: array.array("q" if c in INTEGER_COLUMNS else "d") for c in columns}
        filters, params = self._filters([target], run_ids, where, None)
        if filters is None or not columns:
            return result
        expressions = ", ".join(
            f"COALESCE({c}, {MISSING_INTEGER})" if c in INTEGER_COLUMNS else c for c in columns
        )
        cursor = self._db.execute(
            f"SELECT {expressions} FROM probes {filters} ORDER BY started_at, probe_id", params
        )
        arrays: list[array.array] = [result[c] for c in columns]
        floats = [c in FLOAT_COLUMNS for c in columns]
        while rows := cursor.fetchmany(FETCH_ROWS):
            for values, out, is_float in zip(zip(*rows), arrays, floats):
                if is_float:
                    out.extend([math.nan if v is None else v for v in values])
                else:
                    out.extend(values)
        return result

    def _key_expression(self, dimension: str) -> str:
        if dimension in _TEXT_COLUMNS:
            return _TEXT_COLUMNS[dimension]
        if dimension in _TARGET_FIELDS:
            return "target_key"
        if dimension == "chain":
            return "chain_key"
        if dimension == "time_bin":
            # floor() for any sign: CAST truncates toward zero.
            return (
                "(CAST((started_at - ?) / ? AS INTEGER) - "
                "((started_at - ?) / ? < CAST((started_at - ?) / ? AS INTEGER)))"
            )
        return _PLAIN_COLUMNS[dimension]

    def _filters(self, targets, run_ids, where, time_bins) -> tuple[str | None, list]:
        """The WHERE clause for a selection, or None when nothing can match."""
        clauses: list[str] = []
        params: list = []
        conditions = _checked_where(where, time_bins)
        target_rows = None
        if targets is not None or any(d in _TARGET_FIELDS for d in conditions):
            names = set(targets) if targets is not None else None
            target_rows = [
                key
                for key, *fields in self._db.execute(
                    "SELECT target_key, target, host, port, protocol FROM targets"
                )
                if (names is None or fields[0] in names)
                and all(
                    _matches(fields[_TARGET_FIELDS.index(d)], wanted)
                    for d, wanted in conditions.items()
                    if d in _TARGET_FIELDS
                )
            ]
            if not target_rows:
                return None, []
            clauses.append(f"target_key IN ({', '.join(map(str, target_rows))})")
        if run_ids is not None:
            ids = [int(r) for r in run_ids]
            if not ids:
                return None, []
            clauses.append(f"run_id IN ({', '.join(map(str, ids))})")
        for dimension, wanted in conditions.items():
            if dimension in _TARGET_FIELDS:
                continue
            values = list(wanted) if isinstance(wanted, tuple) else [wanted]
            if dimension in _TEXT_COLUMNS or dimension == "chain":
                values = self._keys_of(dimension, values)
            elif dimension == "leaf_only":
                values = [None if v is None else int(bool(v)) for v in values]
            column = self._key_expression(dimension)
            if dimension == "time_bin":
                params += list(time_bins) * 3
            known = [v for v in values if v is not None]
            parts = [f"{column} IS NULL"] if None in values else []
            if known:
                parts.append(f"{column} IN ({', '.join('?' * len(known))})")
                params += known
            if not parts:
                return None, []
            clauses.append("(" + " OR ".join(parts) + ")")
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _keys_of(self, dimension: str, values: list) -> list:
        """Integer keys of the string values in `values` (None stays None; unknown ones go)."""
        known = [v for v in values if v is not None]
        if dimension == "chain":
            table, key, column = "chains", "chain_key", "chain_id"
        else:
            table, key, column = "texts", "text_key", "value"
        found = []
        for start in range(0, len(known), 900):
            batch = known[start : start + 900]
            found += [
                k
                for (k,) in self._db.execute(
                    f"SELECT {key} FROM {table} WHERE {column} IN ({', '.join('?' * len(batch))})",
                    batch,
                )
            ]
        return found + ([None] if None in values else [])

    def _texts_of(self, keys: Iterable) -> dict[int, str]:
        wanted = [k for k in keys if k is not None]
        found: dict[int, str] = {}
        for start in range(0, len(wanted), 900):
            batch = wanted[start : start + 900]
            found.update(
                self._db.execute(
                    f"SELECT text_key, value FROM texts WHERE text_key IN ({', '.join('?' * len(batch))})",
                    batch,
                ).fetchall()
            )
        return found

    def _resolved_groups(
        self, dimensions: list[str], rows: list, details: dict[tuple, str]
    ) -> list[ProbeGroup]:
        """Groups with strings for keys; groups whose keys name the same values are merged
        (two target keys share a name when one target was probed with two protocols)."""
        width = len(dimensions) or 1
        lookups: list = []
        for index, dimension in enumerate(dimensions):
            keys = {row[index] for row in rows}
            if dimension in _TEXT_COLUMNS:
                text = self._texts_of(keys)
                lookups.append(lambda k, text=text: None if k is None else text[k])
            elif dimension in _TARGET_FIELDS:
                field = _TARGET_FIELDS.index(dimension)
                fields = self._target_fields(keys)
                lookups.append(lambda k, f=fields, i=field: f[k][i])
            elif dimension == "chain":
                chains = self._chain_ids_of(keys)
                lookups.append(lambda k, chains=chains: None if k is None else chains[k])
            elif dimension == "leaf_only":
                lookups.append(bool)
            else:
                lookups.append(None)
        merged: dict[tuple, ProbeGroup] = {}
        for row in rows:
            raw = tuple(row[:width])
            key = tuple(
                value if lookup is None else lookup(value) for value, lookup in zip(raw, lookups)
            )
            count, first, last = row[width:]
            group = ProbeGroup(key, count, first, last, details.get(raw, ""))
            earlier = merged.get(key)
            if earlier is not None:
                group = ProbeGroup(
                    key, earlier.probes + count, min(earlier.first_at, first),
                    max(earlier.last_at, last),
                    earlier.first_detail if earlier.first_at <= first else group.first_detail,
                )  # fmt: skip
            merged[key] = group
        return list(merged.values())

    def _target_fields(self, keys: Iterable) -> dict[int, tuple]:
        wanted = [k for k in keys if k is not None]
        found: dict[int, tuple] = {}
        for start in range(0, len(wanted), 900):
            batch = wanted[start : start + 900]
            for key, *fields in self._db.execute(
                "SELECT target_key, target, host, port, protocol FROM targets "
                f"WHERE target_key IN ({', '.join('?' * len(batch))})",
                batch,
            ):
                found[key] = tuple(fields)
        return found

    def _chain_ids_of(self, keys: Iterable) -> dict[int, str]:
        wanted = [k for k in keys if k is not None]
        found: dict[int, str] = {}
        for start in range(0, len(wanted), 900):
            batch = wanted[start : start + 900]
            found.update(
                self._db.execute(
                    f"SELECT chain_key, chain_id FROM chains WHERE chain_key IN ({', '.join('?' * len(batch))})",
                    batch,
                ).fetchall()
            )
        return found

    def chain_certificates(self, chain_id: str) -> list[bytes]:
        rows = self._db.execute(
            "SELECT c.der FROM chains AS k JOIN chain_certificates AS cc USING (chain_key) "
            "JOIN certificates AS c USING (sha256) WHERE k.chain_id = ? ORDER BY cc.position",
            (chain_id,),
        )
        return [der for (der,) in rows]

    def chains_certificates(self, chain_ids: Iterable[str]) -> dict[str, list[bytes]]:
        wanted = list(dict.fromkeys(chain_ids))
        result: dict[str, list[bytes]] = {chain_id: [] for chain_id in wanted}
        # SQLite allows 32766 host parameters (SQLITE_MAX_VARIABLE_NUMBER); stay well below.
        for start in range(0, len(wanted), 900):
            batch = wanted[start : start + 900]
            rows = self._db.execute(
                "SELECT k.chain_id, c.der FROM chains AS k "
                "JOIN chain_certificates AS cc USING (chain_key) "
                "JOIN certificates AS c USING (sha256) "
                f"WHERE k.chain_id IN ({', '.join('?' * len(batch))}) "
                "ORDER BY k.chain_id, cc.position",
                batch,
            )
            for chain_id, der in rows:
                result[chain_id].append(der)
        return result

    def certificate(self, sha256: str) -> bytes | None:
        row = self._db.execute(
            "SELECT der FROM certificates WHERE sha256 = ?", (sha256,)
        ).fetchone()
        return row[0] if row else None

    def find_chains(self, prefix: str) -> list[str]:
        rows = self._db.execute(
            "SELECT chain_id FROM chains WHERE chain_id LIKE ? ORDER BY chain_id",
            (prefix.lower() + "%",),
        )
        return [chain_id for (chain_id,) in rows]


def _run_filter(run_ids: Iterable[int] | None, column: str = "run_id") -> tuple[str, tuple]:
    if run_ids is None:
        return "", ()
    ids = tuple(int(r) for r in run_ids)
    if not ids:
        return "WHERE 0", ()
    return f"WHERE {column} IN ({', '.join('?' * len(ids))})", ids
