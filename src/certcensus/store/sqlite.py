"""The default store: one SQLite file in WAL mode.

Certificates are stored once by the SHA-256 of their DER, chains once by their chain id, probes
one row each. Writes are queued and committed in batches at least once a second, so a killed
run loses at most the last second of observations.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from certcensus.model.chain import certificate_fingerprint, chain_fingerprint
from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import RejectedObservation
from certcensus.store.base import BackendProbeCount, RunInfo, Store, StoredProbe

# Commit at least this often while observations arrive; the issue's promise is "lose at most the
# last second", and one commit per second costs nothing next to the probes themselves.
FLUSH_INTERVAL_SECONDS = 1.0
# ... or once this many observations are queued, to bound memory on very fast runs.
FLUSH_BATCH = 2000
# probe_strings ids remembered in memory: a pool has tens of backends and a few fingerprints,
# but details such as an XMPP stream id are new on every probe; past this many the memo starts
# over (ids are looked up again), so a week-long watch cannot grow it without bound.
STRING_MEMO_LIMIT = 50_000

SCHEMA = """
CREATE TABLE IF NOT EXISTS certificates (
    sha256 TEXT PRIMARY KEY,
    der BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS chains (
    chain_id TEXT PRIMARY KEY,
    length INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS chain_certificates (
    chain_id TEXT NOT NULL REFERENCES chains(chain_id),
    position INTEGER NOT NULL,
    sha256 TEXT NOT NULL REFERENCES certificates(sha256),
    PRIMARY KEY (chain_id, position)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    command TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    targets TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS probes (
    probe_id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER NOT NULL REFERENCES runs(run_id),
    target TEXT NOT NULL,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    protocol TEXT NOT NULL,
    address TEXT NOT NULL,
    started_at REAL NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL,
    chain_id TEXT REFERENCES chains(chain_id),
    sni TEXT,
    profile TEXT NOT NULL,
    source_address TEXT,
    source_port INTEGER,
    tls_version TEXT,
    cipher TEXT,
    connect_seconds REAL,
    starttls_seconds REAL,
    handshake_seconds REAL,
    source TEXT NOT NULL,
    leaf_only INTEGER NOT NULL DEFAULT 0,
    server_identity_id INTEGER REFERENCES probe_strings(string_id),
    server_identity_detail_id INTEGER REFERENCES probe_strings(string_id),
    server_hello_id INTEGER REFERENCES probe_strings(string_id)
);
-- What servers say about themselves repeats across probes (a pool has tens of backends, a few
-- ServerHello fingerprints): each distinct text is stored once and probes refer to it.
CREATE TABLE IF NOT EXISTS probe_strings (
    string_id INTEGER PRIMARY KEY,
    text TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS probes_by_target ON probes(target, run_id, started_at);
CREATE INDEX IF NOT EXISTS probes_by_chain ON probes(chain_id);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
"""

# The schema this code writes. 1: the first release (leaf-only captures marked in `detail`);
# 2: `leaf_only` is a column; 3: backend identity and ServerHello fingerprint (interned in
# probe_strings). Older databases are migrated when opened for writing; a newer
# one is refused, since this code would misread it.
SCHEMA_VERSION = 3
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
}

PROBE_COLUMNS = (
    "run_id, target, host, port, protocol, address, started_at, outcome, detail, chain_id, sni, "
    "profile, source_address, source_port, tls_version, cipher, connect_seconds, "
    "starttls_seconds, handshake_seconds, source, leaf_only, server_identity_id, "
    "server_identity_detail_id, server_hello_id"
)
# The same, as read back: interned texts joined in (the three aliases below).
READ_COLUMNS = PROBE_COLUMNS.replace(
    "server_identity_id, server_identity_detail_id, server_hello_id",
    "identity.text, identity_detail.text, hello.text",
)
READ_JOINS = (
    "LEFT JOIN probe_strings AS identity ON identity.string_id = probes.server_identity_id "
    "LEFT JOIN probe_strings AS identity_detail "
    "ON identity_detail.string_id = probes.server_identity_detail_id "
    "LEFT JOIN probe_strings AS hello ON hello.string_id = probes.server_hello_id"
)


class SQLiteStore(Store):
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
        self._known_chains: set[str] = set()
        self._string_ids: dict[str, int] = {}  # probe_strings, as far as this process has seen

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
        certificates: dict[str, bytes] = {}
        chains: dict[str, tuple[bytes, ...]] = {}
        rows = []
        for run_id, obs in queue:
            chain_id = None
            if obs.chain:
                chain_id = chain_fingerprint(obs.chain)
                if chain_id not in self._known_chains:
                    chains[chain_id] = obs.chain
            rows.append(
                (
                    run_id, obs.target, obs.host, obs.port, obs.protocol, obs.address,
                    obs.started_at, str(obs.outcome), obs.detail, chain_id, obs.sni, obs.profile,
                    obs.source_address, obs.source_port, obs.tls_version, obs.cipher,
                    obs.connect_seconds, obs.starttls_seconds, obs.handshake_seconds, obs.source,
                    int(obs.leaf_only), obs.server_identity, obs.server_identity_detail or None,
                    obs.server_hello,
                )
            )  # fmt: skip
        chain_rows = []
        for chain_id, ders in chains.items():
            for position, der in enumerate(ders):
                sha = certificate_fingerprint(der)
                certificates[sha] = der
                chain_rows.append((chain_id, position, sha))
        try:
            with self._db:  # one transaction
                self._db.execute("BEGIN")
                rows = self._interned(rows, first=-3)
                self._db.executemany(
                    "INSERT OR IGNORE INTO certificates (sha256, der) VALUES (?, ?)",
                    certificates.items(),
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO chains (chain_id, length) VALUES (?, ?)",
                    [(chain_id, len(ders)) for chain_id, ders in chains.items()],
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO chain_certificates (chain_id, position, sha256) "
                    "VALUES (?, ?, ?)",
                    chain_rows,
                )
                placeholders = ", ".join("?" * 24)
                self._db.executemany(
                    f"INSERT INTO probes ({PROBE_COLUMNS}) VALUES ({placeholders})", rows
                )
        except BaseException:
            # The transaction rolled back: string ids read inside it may name no row.
            self._string_ids.clear()
            raise
        self._known_chains.update(chains)

    def _interned(self, rows: list[tuple], first: int) -> list[tuple]:
        """`rows` with the texts from column `first` on replaced by their probe_strings ids
        (inside the caller's transaction)."""
        if len(self._string_ids) > STRING_MEMO_LIMIT:
            self._string_ids.clear()
        new = {
            text for row in rows for text in row[first:] if text and text not in self._string_ids
        }
        if new:
            self._db.executemany(
                "INSERT OR IGNORE INTO probe_strings (text) VALUES (?)", [(t,) for t in new]
            )
            for start in range(0, len(new), 900):  # below SQLite's host-parameter limit
                batch = list(new)[start : start + 900]
                found = self._db.execute(
                    "SELECT text, string_id FROM probe_strings "
                    f"WHERE text IN ({', '.join('?' * len(batch))})",
                    batch,
                )
                self._string_ids.update(found)
        ids = self._string_ids
        return [
            (*row[:first], *(ids[text] if text else None for text in row[first:])) for row in rows
        ]

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
            f"SELECT target, MIN(probe_id) AS first FROM probes {where} GROUP BY target "
            "ORDER BY first",
            params,
        )
        return [target for target, _ in rows]

    def probes(self, target: str, run_ids: Iterable[int] | None = None) -> Iterator[StoredProbe]:
        where, params = _run_filter(run_ids)
        where = (where + " AND" if where else "WHERE") + " target = ?"
        rows = self._db.execute(
            f"SELECT probe_id, {READ_COLUMNS} FROM probes {READ_JOINS} {where} "
            "ORDER BY started_at, probe_id",
            (*params, target),
        )
        for row in rows:
            values = list(row)
            values[8] = Outcome(values[8])
            values[21] = bool(values[21])
            values[23] = values[23] or ""
            yield StoredProbe(*values)

    def backend_counts(
        self, target: str, run_ids: Iterable[int] | None = None
    ) -> list[BackendProbeCount]:
        where, params = _run_filter(run_ids)
        where = (where + " AND" if where else "WHERE") + " target = ? AND leaf_only = 0"
        rows = self._db.execute(
            "SELECT identity.text, hello.text, grouped.chain, grouped.sni, grouped.profile, "
            "grouped.probes FROM ("
            "  SELECT server_identity_id, server_hello_id, sni, profile, COUNT(*) AS probes, "
            "  CASE WHEN outcome = 'ok' THEN chain_id END AS chain "
            f"  FROM probes {where} "
            "  GROUP BY server_identity_id, server_hello_id, chain, sni, profile"
            ") AS grouped "
            "LEFT JOIN probe_strings AS identity ON identity.string_id = grouped.server_identity_id "
            "LEFT JOIN probe_strings AS hello ON hello.string_id = grouped.server_hello_id",
            (*params, target),
        )
        return [BackendProbeCount(*row) for row in rows]

    def chain_certificates(self, chain_id: str) -> list[bytes]:
        rows = self._db.execute(
            "SELECT c.der FROM chain_certificates AS cc JOIN certificates AS c USING (sha256) "
            "WHERE cc.chain_id = ? ORDER BY cc.position",
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
                "SELECT cc.chain_id, c.der FROM chain_certificates AS cc "
                "JOIN certificates AS c USING (sha256) "
                f"WHERE cc.chain_id IN ({', '.join('?' * len(batch))}) "
                "ORDER BY cc.chain_id, cc.position",
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


def _run_filter(run_ids: Iterable[int] | None) -> tuple[str, tuple]:
    if run_ids is None:
        return "", ()
    ids = tuple(int(r) for r in run_ids)
    if not ids:
        return "WHERE 0", ()
    return f"WHERE run_id IN ({', '.join('?' * len(ids))})", ids


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
