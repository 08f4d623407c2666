"""The default store: one SQLite file in WAL mode.

Certificates are stored once by the SHA-256 of their DER, chains once by their chain id (and an
integer `chain_key`), probes one row each of small integer keys (see TABLES). Writes are queued
and committed in batches at least once a second, so a killed run loses at most the last second
of observations. The census reads aggregates (`probe_groups`: one GROUP BY) and compact numeric
columns (`probe_columns`), never an object per probe.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import RejectedObservation
from certcensus.store.base import RunInfo, Store, StoredProbe, refuse_other_schema
from certcensus.store.columnar import encode_chunk
from certcensus.store.sqlite_aggregates import _TEXT_COLUMNS, SQLiteAggregates

# Commit at least this often while observations arrive; the issue's promise is "lose at most the
# last second", and one commit per second costs nothing next to the probes themselves.
FLUSH_INTERVAL_SECONDS = 1.0
# ... or once this many observations are queued, to bound memory on very fast runs.
FLUSH_BATCH = 2000

# Schema 4 keys every repeated value of a probe by an integer: chains by `chain_key`, targets
# (name, host, port, protocol) by `target_key`, and every repeated string (address, outcome,
# detail, SNI, profile, source address, TLS version, cipher, source, backend identity and its
# detail, ServerHello fingerprint, vantage) by a key into `texts`, one table for all of them. A
# probe row is then a handful of small integers, a start time and three durations: ~75 bytes
# with its index entry instead of 353 (bench/RESULTS.md, "census"). A new per-probe string is
# one more `*_key` column into `texts`, a MIGRATIONS step, and one entry in _TEXT_COLUMNS
# (census/build.py's docstring has the whole recipe; schema 5's vantage_key followed it).
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
    leaf_only INTEGER NOT NULL DEFAULT 0,
    server_identity_key INTEGER,
    server_identity_detail_key INTEGER,
    server_hello_key INTEGER,
    vantage_key INTEGER
);
CREATE TABLE IF NOT EXISTS probe_chunks (
    chunk_id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    first_probe_id INTEGER NOT NULL,
    probes INTEGER NOT NULL,
    columns TEXT NOT NULL,
    data BLOB NOT NULL
);
"""
SCHEMA = (
    TABLES
    + """
CREATE INDEX IF NOT EXISTS probes_by_target ON probes(target_key, run_id, started_at);
CREATE INDEX IF NOT EXISTS probe_chunks_by_run ON probe_chunks(run_id);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
-- Batches already stored, by the id their sender gave (fleet/batches.py): a retried batch is
-- stored once.
CREATE TABLE IF NOT EXISTS batches (
    run_id INTEGER NOT NULL,
    batch_id TEXT NOT NULL,
    PRIMARY KEY (run_id, batch_id)
) WITHOUT ROWID;
"""
)
# Columns schema 5 added to `probes`: the tables as schema 4 made them are TABLES without them
# (migration 3 builds schema 4's tables, and migration 4 then adds these).
_ADDED_IN_5 = ",\n    vantage_key INTEGER"
assert _ADDED_IN_5 in TABLES
_V4_TABLES = TABLES.replace(_ADDED_IN_5, "")

# The schema this code writes. 1: the first release (leaf-only captures marked in `detail`);
# 2: `leaf_only` is a column; 3: backend identity and ServerHello fingerprint (interned in
# probe_strings); 4: integer keys for chains, targets and every repeated string (one `texts`
# table, probe_strings folded into it); 5: each probe's vantage (a key into texts) and the ids
# of stored batches (issue 17). Older databases are migrated when opened for writing; a newer
# one is refused, since this code would misread it. SCHEMA then creates the tables no
# migration does (`batches`).
SCHEMA_VERSION = 5
_V2_TEXT_COLUMNS = ("address", "outcome", "detail", "sni", "profile", "source_address",
                    "tls_version", "cipher", "source")  # fmt: skip
# Schema 3's columns into probe_strings (`<name>_id`), each becoming a `<name>_key` into texts.
_V3_STRING_COLUMNS = ("server_identity", "server_identity_detail", "server_hello")
MIGRATIONS = {
    1: (
        "ALTER TABLE probes ADD COLUMN leaf_only INTEGER NOT NULL DEFAULT 0",
        "UPDATE probes SET leaf_only = 1, detail = '' WHERE detail = 'leaf-only'",
    ),
    # Probes stored before backend attribution named no backend: NULL, counted under null.
    2: (
        "ALTER TABLE probes ADD COLUMN server_identity_id INTEGER",
        "ALTER TABLE probes ADD COLUMN server_identity_detail_id INTEGER",
        "ALTER TABLE probes ADD COLUMN server_hello_id INTEGER",
    ),
    3: (
        "CREATE TABLE IF NOT EXISTS probe_strings "
        "(string_id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE)",
        "DROP INDEX IF EXISTS probes_by_target",
        "DROP INDEX IF EXISTS probes_by_chain",
        "ALTER TABLE probes RENAME TO probes_v2",
        "ALTER TABLE chains RENAME TO chains_v2",
        "ALTER TABLE chain_certificates RENAME TO chain_certificates_v2",
        *_V4_TABLES.split(";")[:-1],
        "INSERT INTO chains (chain_id, length) SELECT chain_id, length FROM chains_v2 ORDER BY rowid",
        "INSERT INTO chain_certificates (chain_key, position, sha256) "
        "SELECT c.chain_key, v.position, v.sha256 FROM chain_certificates_v2 AS v "
        "JOIN chains AS c USING (chain_id)",
        "INSERT OR IGNORE INTO texts (value) "
        + " UNION ".join(
            f"SELECT {c} FROM probes_v2 WHERE {c} IS NOT NULL" for c in _V2_TEXT_COLUMNS
        )
        + " UNION SELECT text FROM probe_strings",
        "INSERT OR IGNORE INTO targets (target, host, port, protocol) "
        "SELECT target, host, port, protocol FROM probes_v2 GROUP BY target, host, port, protocol "
        "ORDER BY MIN(probe_id)",
        "INSERT INTO probes (probe_id, run_id, target_key, started_at, chain_key, source_port, "
        "connect_seconds, starttls_seconds, handshake_seconds, leaf_only, "
        + ", ".join(f"{c}_key" for c in (*_V2_TEXT_COLUMNS, *_V3_STRING_COLUMNS))
        + ") SELECT p.probe_id, p.run_id, t.target_key, p.started_at, c.chain_key, "
        "p.source_port, p.connect_seconds, p.starttls_seconds, p.handshake_seconds, p.leaf_only, "
        + ", ".join(f"(SELECT text_key FROM texts WHERE value = p.{c})" for c in _V2_TEXT_COLUMNS)
        + ", "
        + ", ".join(
            "(SELECT x.text_key FROM texts AS x JOIN probe_strings AS s ON s.text = x.value "
            f"WHERE s.string_id = p.{c}_id)"
            for c in _V3_STRING_COLUMNS
        )
        + " FROM probes_v2 AS p JOIN targets AS t USING (target, host, port, protocol) "
        "LEFT JOIN chains AS c ON c.chain_id = p.chain_id ORDER BY p.probe_id",
        "DROP TABLE probes_v2",
        "DROP TABLE chains_v2",
        "DROP TABLE chain_certificates_v2",
        "DROP TABLE probe_strings",
    ),
    # Probes stored before vantages were made here (NULL: this host). Their columnar chunks
    # lack vantage_key, which reads as unset (store/columnar.py), so nothing is rewritten.
    4: ("ALTER TABLE probes ADD COLUMN vantage_key INTEGER",),
}

# Where each column of the columnar copy is in a PROBE_COLUMNS row.
_CHUNK_FIELDS = {
    "target_key": 1, "address_key": 2, "started_at": 3, "outcome_key": 4, "detail_key": 5,
    "chain_key": 6, "sni_key": 7, "profile_key": 8, "source_address_key": 9, "source_port": 10,
    "tls_version_key": 11, "cipher_key": 12, "leaf_only": 17, "server_identity_key": 18,
    "server_hello_key": 20, "vantage_key": 21,
}  # fmt: skip
PROBE_COLUMNS = (
    "run_id, target_key, address_key, started_at, outcome_key, detail_key, chain_key, sni_key, "
    "profile_key, source_address_key, source_port, tls_version_key, cipher_key, "
    "connect_seconds, starttls_seconds, handshake_seconds, source_key, leaf_only, "
    "server_identity_key, server_identity_detail_key, server_hello_key, vantage_key"
)
# Keep at most this many interned strings in memory for writing; past it the cache starts over
# (a server whose error texts are all different must not grow the writer without bound).
TEXT_CACHE_LIMIT = 100_000


class SQLiteStore(SQLiteAggregates, Store):
    def __init__(self, path: Path, *, read_only: bool = False):
        self.path = path
        self.read_only = read_only
        self._snapshot: Path | None = None  # a private copy read instead of `path` (see below)
        try:
            if read_only and not path.exists():
                # Nothing stored yet: read as an empty database, and create no file.
                self._db = sqlite3.connect(
                    ":memory:", isolation_level=None, check_same_thread=False
                )
                self._create_or_migrate()
            elif read_only:
                self._db, self._snapshot = _connect_read_only(path)
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
        self.rejected: list[RejectedObservation] = []
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
        refuse_other_schema(str(self.path), version, SCHEMA_VERSION, writable=writable)

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
            if version is not None and version < 4:
                self._rebuild_chunks()  # the one step that is code, not SQL
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
        try:
            self._write(queue)
        except _DATA_ERRORS:
            # One observation the database cannot take (a value it cannot encode or hold) must
            # not cost the others: write them one by one and keep each refused one, with its
            # reason, for the command to report.
            for item in queue:
                try:
                    self._write([item])
                except _DATA_ERRORS as error:
                    self.rejected.append(RejectedObservation(item[1], _one_line(error)))
        except sqlite3.Error as error:
            # The database itself failed (full disk, lost lock, read-only file): keep the
            # queue for the next attempt and say so in one line.
            self._queue[:0] = queue
            raise StoreError(f"cannot write to database {self.path}: {_one_line(error)}") from None

    def _write(self, queue: list[tuple[int, Observation]]) -> None:
        """Insert `queue` in one transaction: all of it or (on an exception) none of it."""
        self._arrays_cache = None
        by_run: dict[int, list[Observation]] = {}
        for run_id, obs in queue:
            by_run.setdefault(run_id, []).append(obs)
        with self._transaction():
            for run_id, observations in by_run.items():
                rows = [self._row(run_id, obs) for obs in observations]
                self._insert_rows(run_id, rows)

    def add_batch(self, run_id: int, batch_id: str, observations: Sequence[Observation]) -> bool:
        self.flush()  # what was queued before the batch is stored before it
        try:
            try:
                with self._transaction():  # the batch's id and its probes: both or neither
                    if not self._claim_batch(run_id, batch_id):
                        return False
                    if observations:
                        self._arrays_cache = None
                        self._insert_rows(run_id, [self._row(run_id, obs) for obs in observations])
                return True
            except _DATA_ERRORS:
                # As in flush: one observation the database cannot take must not cost the
                # batch. Still one transaction (the id and what is kept: both or neither), each
                # probe in its own savepoint; a refused one is kept, with its reason, to report.
                with self._transaction():
                    if not self._claim_batch(run_id, batch_id):
                        return False
                    self._arrays_cache = None
                    for obs in observations:
                        self._db.execute("SAVEPOINT one_probe")
                        try:
                            self._insert_rows(run_id, [self._row(run_id, obs)])
                        except _DATA_ERRORS as error:
                            self._db.execute("ROLLBACK TO one_probe")
                            self._forget_keys()  # keys interned since the savepoint are gone
                            self.rejected.append(RejectedObservation(obs, _one_line(error)))
                        self._db.execute("RELEASE one_probe")
                return True
        except sqlite3.Error as error:
            raise StoreError(f"cannot write to database {self.path}: {_one_line(error)}") from None

    def _claim_batch(self, run_id: int, batch_id: str) -> bool:
        """Record the batch's id; False if it was there (a retried task: store nothing)."""
        return bool(
            self._db.execute(
                "INSERT OR IGNORE INTO batches (run_id, batch_id) VALUES (?, ?)", (run_id, batch_id)
            ).rowcount
        )

    def _forget_keys(self) -> None:
        """Forget every interned key (a rollback may have undone some); they are looked up again."""
        self._texts.clear()
        self._targets.clear()
        self._chains.clear()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        """One write transaction. Keys interned inside it are remembered (below); if it rolls
        back they never existed, so they are forgotten too."""
        try:
            with self._db:
                self._db.execute("BEGIN")
                yield
        except BaseException:
            self._forget_keys()
            raise

    def _insert_rows(self, run_id: int, rows: list[tuple]) -> None:
        """One run's probe rows, and their columnar copy (consecutive probe ids)."""
        placeholders = ", ".join("?" * len(rows[0]))
        self._db.executemany(f"INSERT INTO probes ({PROBE_COLUMNS}) VALUES ({placeholders})", rows)
        (last,) = self._db.execute("SELECT last_insert_rowid()").fetchone()
        self._insert_chunk(run_id, last - len(rows) + 1, rows)

    def _insert_chunk(self, run_id: int, first_probe_id: int, rows: Sequence[tuple]) -> None:
        """The columnar copy of `rows` (in PROBE_COLUMNS order, probe ids from first_probe_id)."""
        columns = {name: [row[index] for row in rows] for name, index in _CHUNK_FIELDS.items()}
        names, data = encode_chunk(columns)
        self._db.execute(
            "INSERT INTO probe_chunks (run_id, first_probe_id, probes, columns, data) "
            "VALUES (?, ?, ?, ?, ?)",
            (run_id, first_probe_id, len(rows), names, data),
        )

    def _rebuild_chunks(self) -> None:
        """The columnar copy of every stored probe (migrating from schema 2): chunks of
        FLUSH_BATCH consecutive probe ids of one run."""
        self._db.execute("DELETE FROM probe_chunks")
        rows = self._db.execute(f"SELECT probe_id, {PROBE_COLUMNS} FROM probes ORDER BY probe_id")
        batch: list[tuple] = []
        first = 0
        for probe_id, *values in rows:
            if batch and (
                values[0] != batch[-1][0] or probe_id != first + len(batch)
                or len(batch) >= FLUSH_BATCH
            ):  # fmt: skip
                self._insert_chunk(batch[0][0], first, batch)
                batch = []
            if not batch:
                first = probe_id
            batch.append(tuple(values))
        if batch:
            self._insert_chunk(batch[0][0], first, batch)

    def _row(self, run_id: int, obs: Observation) -> tuple:
        text = self._text_key
        return (
            run_id, self._target_key(obs), text(obs.address), obs.started_at,
            text(str(obs.outcome)), text(obs.detail), self._chain_key(obs.chain),
            text(obs.sni), text(obs.profile), text(obs.source_address), obs.source_port,
            text(obs.tls_version), text(obs.cipher), obs.connect_seconds, obs.starttls_seconds,
            obs.handshake_seconds, text(obs.source), int(obs.leaf_only),
            text(obs.server_identity), text(obs.server_identity_detail or None),
            text(obs.server_hello), text(obs.vantage),
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
            if self._snapshot is not None:
                shutil.rmtree(self._snapshot.parent, ignore_errors=True)

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
            "x_source.value, p.leaf_only, x_server_identity.value, "
            "x_server_identity_detail.value, x_server_hello.value, x_vantage.value "
            "FROM probes AS p JOIN targets AS t USING (target_key) "
            f"LEFT JOIN chains AS c ON c.chain_key = p.chain_key {texts} {where} "
            "ORDER BY p.started_at, p.probe_id",
            (*params, target),
        )
        for row in rows:
            values = list(row)
            values[8] = Outcome(values[8])
            values[21] = bool(values[21])
            values[23] = values[23] or ""
            yield StoredProbe(*values)  # ..., leaf_only, identity, detail, hello, vantage

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
        # A typed prefix is text, not a pattern: "%" and "_" match only themselves.
        pattern = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._db.execute(
            "SELECT chain_id FROM chains WHERE chain_id LIKE ? ESCAPE '\\' ORDER BY chain_id",
            (pattern + "%",),
        )
        return [chain_id for (chain_id,) in rows]


def _run_filter(run_ids: Iterable[int] | None, column: str = "run_id") -> tuple[str, tuple]:
    if run_ids is None:
        return "", ()
    ids = tuple(int(r) for r in run_ids)
    if not ids:
        return "WHERE 0", ()
    return f"WHERE {column} IN ({', '.join('?' * len(ids))})", ids


# Errors that one observation's values cause (text SQLite cannot encode, such as a lone surrogate
# from an undecodable file name; an integer past 64 bits; a constraint): that row is refused, the
# batch is not. Anything else is the database failing, for every row alike.
_DATA_ERRORS = (
    ValueError,  # includes UnicodeEncodeError
    OverflowError,
    TypeError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    sqlite3.IntegrityError,
    sqlite3.DataError,
)
# sqlite3 primary result codes (error.sqlite_errorcode & 0xff) meaning "cannot open for reading
# here": SQLITE_READONLY, SQLITE_CANTOPEN.
_CANNOT_OPEN_READ_ONLY = {8, 14}


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def _connect_read_only(path: Path) -> tuple[sqlite3.Connection, Path | None]:
    """A connection that writes nothing: not the database, not its -wal or -shm files.

    SQLite reads a WAL database read-only only through its -shm file: one a running writer
    keeps, or one SQLite creates next to the database. A user who may read the database but not
    write its directory has neither once the last writer closed (a clean close checkpoints the
    WAL into the database and removes both files); the database is then complete as it is, and
    `immutable=1` reads it without a -shm. A -wal left without its -shm (a writer killed, and a
    clean-up that removed only the -shm) still holds committed transactions: then a private copy
    of both files is read, which SQLite recovers as it would the original.

    Returns the connection and the copy's path (None when the database itself is read).
    """
    uri = path.resolve().as_uri()

    def connect(target: str, **uri_options: str) -> sqlite3.Connection:
        query = "&".join(f"{name}={value}" for name, value in uri_options.items())
        db = sqlite3.connect(
            f"{target}?{query}" if query else target,
            uri=True,
            isolation_level=None,
            check_same_thread=False,
        )
        db.execute("PRAGMA busy_timeout=10000")
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens -wal/-shm, or fails
        return db

    try:
        return connect(uri, mode="ro"), None
    except sqlite3.OperationalError as error:
        if (getattr(error, "sqlite_errorcode", 0) & 0xFF) not in _CANNOT_OPEN_READ_ONLY:
            raise
    journal = path.with_name(path.name + "-journal")
    if journal.exists() and journal.stat().st_size > 0:
        raise StoreError(
            f"database {path} has an unfinished transaction ({journal.name}); it can be read "
            "only by a user who may write its directory"
        )
    wal = path.with_name(path.name + "-wal")
    if not (wal.exists() and wal.stat().st_size > 0):
        return connect(uri, mode="ro", immutable="1"), None
    copy = Path(tempfile.mkdtemp(prefix="certcensus-read-")) / path.name
    try:
        shutil.copyfile(path, copy)
        shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        return connect(copy.as_uri()), copy
    except BaseException:
        shutil.rmtree(copy.parent, ignore_errors=True)
        raise
