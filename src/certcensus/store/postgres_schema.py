"""The PostgreSQL store's schema, its versions and migrations, and opening a connection.

Everything lives in the PostgreSQL schema `certcensus` of the database the URL names, so a
database shared with other applications is safe. A database without it gets it when opened for
writing (scan, ingest, watch); a reading command (report, trust, export, diff) says so instead.
"""

from __future__ import annotations

from typing import Any

from certcensus.model.errors import StoreError
from certcensus.store.base import refuse_other_schema

NAMESPACE = "certcensus"

# The schema this code writes. 1: the first release of the PostgreSQL store. As in SQLite
# (store/sqlite.py), an older schema is migrated, in one transaction, when opened for writing,
# and a newer one is refused, since this code would misread it.
SCHEMA_VERSION = 1
# version -> the statements that take a database from it to version + 1.
MIGRATIONS: dict[int, tuple[str, ...]] = {}

# Why the layout is what it is:
# - A probe row holds integers, not strings: the target, address, SNI, profile, outcome, TLS
#   version, cipher, source, vantage and what the server said about itself (backend identity,
#   ServerHello fingerprint) repeat on nearly every probe, so they are interned
#   (`endpoints`, `words`) and a row is ~100 bytes instead of ~350.
# - 8-byte columns come first, then 4-byte ones, then the rest: PostgreSQL aligns each column,
#   and this order wastes no padding.
# - `run_endpoints` lists each run's targets as they were first probed, so `targets()` reads a
#   few rows per target instead of scanning every probe.
# - `chains.chain_id` uses the C collation so that `LIKE 'prefix%'` (short ids typed by users)
#   can use its index.
SCHEMA = f"""
CREATE TABLE {NAMESPACE}.certificates (
    cert_key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256 text NOT NULL UNIQUE,
    der bytea NOT NULL
);
CREATE TABLE {NAMESPACE}.chains (
    chain_key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chain_id text COLLATE "C" NOT NULL UNIQUE,
    length integer NOT NULL
);
CREATE TABLE {NAMESPACE}.chain_certificates (
    chain_key integer NOT NULL REFERENCES {NAMESPACE}.chains,
    position integer NOT NULL,
    cert_key integer NOT NULL REFERENCES {NAMESPACE}.certificates,
    PRIMARY KEY (chain_key, position)
);
CREATE TABLE {NAMESPACE}.runs (
    run_id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    command text NOT NULL,
    started_at double precision NOT NULL,
    finished_at double precision,
    targets jsonb NOT NULL
);
CREATE TABLE {NAMESPACE}.endpoints (
    endpoint_key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target text NOT NULL,
    host text NOT NULL,
    port integer NOT NULL,
    protocol text NOT NULL,
    UNIQUE (target, host, port, protocol)
);
CREATE TABLE {NAMESPACE}.words (
    word_key integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    word text NOT NULL UNIQUE
);
CREATE TABLE {NAMESPACE}.run_endpoints (
    run_id integer NOT NULL REFERENCES {NAMESPACE}.runs,
    endpoint_key integer NOT NULL REFERENCES {NAMESPACE}.endpoints,
    first bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (run_id, endpoint_key)
);
CREATE TABLE {NAMESPACE}.batches (
    run_id integer NOT NULL,
    batch_id text NOT NULL,
    PRIMARY KEY (run_id, batch_id)
);
CREATE TABLE {NAMESPACE}.probes (
    probe_id bigint GENERATED ALWAYS AS IDENTITY,
    started_at double precision NOT NULL,
    connect_seconds double precision,
    starttls_seconds double precision,
    handshake_seconds double precision,
    run_id integer NOT NULL,
    endpoint_key integer NOT NULL,
    address_key integer NOT NULL,
    outcome_key integer NOT NULL,
    chain_key integer,
    sni_key integer,
    profile_key integer NOT NULL,
    source_address_key integer,
    source_port integer,
    tls_version_key integer,
    cipher_key integer,
    source_key integer NOT NULL,
    vantage_key integer,
    server_identity_key integer,
    server_identity_detail_key integer,
    server_hello_key integer,
    leaf_only boolean NOT NULL,
    detail text NOT NULL
);
CREATE INDEX probes_by_endpoint ON {NAMESPACE}.probes (endpoint_key, run_id, started_at);
CREATE TABLE {NAMESPACE}.schema_version (version integer NOT NULL);
"""

# Serialises schema creation and migration between processes that open one database at once
# (every Dask worker of a run): pg_advisory_xact_lock takes any 64-bit key; this one is ours.
SCHEMA_LOCK = 0x63657274_63656E73  # "certcens"

# How long to wait for the server to answer a connection attempt.
CONNECT_TIMEOUT_SECONDS = 10


def describe_url(url: str) -> str:
    """The URL as a message may show it: no password."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except psycopg.Error:
        return "postgresql://(unparsable URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = parts.get("host") or "localhost"
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


def one_line(error: BaseException) -> str:
    """libpq's message (several lines, with a hint) as one line."""
    text = " ".join(str(error).split())
    return text.removeprefix("connection failed: ")


class ConnectError(StoreError):
    """The server could not be reached or refused us; `reason` is libpq's word, on one line."""

    def __init__(self, url: str, reason: str):
        super().__init__(f"cannot open database {describe_url(url)}: {reason}")
        self.reason = reason


def connect(url: str, *, read_only: bool, timeout: float = CONNECT_TIMEOUT_SECONDS) -> Any:
    """A connection to `url` with the certcensus schema first on its search path.

    Raises StoreError with one line for what libpq says (refused, wrong password, no such
    database), and when psycopg itself cannot load.
    """
    try:
        import psycopg
    except ImportError as error:
        raise StoreError(f"cannot open PostgreSQL databases: {error}") from None
    try:
        connection = psycopg.connect(url, connect_timeout=max(1, round(timeout)), autocommit=False)
    except psycopg.Error as error:
        raise ConnectError(url, one_line(error)) from None
    try:
        with connection.cursor() as cursor:
            cursor.execute(f"SET search_path TO {NAMESPACE}")
            if read_only:
                cursor.execute("SET default_transaction_read_only TO on")
                # One snapshot per read transaction: a read made of several statements (a
                # long target's probe columns, a stream of probes) sees one state of the
                # store while scans write to it. Read-only transactions never fail for it.
                cursor.execute("SET default_transaction_isolation TO 'repeatable read'")
                # The census's reads are a few GROUP BYs and sorts over every probe of a
                # selection: with the default 4 MB they spill to disk at a million probes
                # (128 MB holds a million probes' sort keys and columns in memory), and
                # JIT compiling each (~80 ms) costs more than it saves on queries this short.
                cursor.execute("SET work_mem TO '128MB'")
                cursor.execute("SET jit TO off")
        connection.commit()
    except psycopg.Error as error:
        connection.close()
        raise ConnectError(url, one_line(error)) from None
    return connection


def stored_version(connection: Any) -> int | None:
    """The schema version in the database; None when it has no certcensus schema."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", (f"{NAMESPACE}.schema_version",))
        (table,) = cursor.fetchone()
        if table is None:
            return None
        cursor.execute("SELECT MAX(version) FROM schema_version")
        (version,) = cursor.fetchone()
    return version


def check_version(url: str, version: int | None, *, writable: bool) -> None:
    where = describe_url(url)
    if version is None and not writable:
        raise StoreError(
            f"database {where} has no certcensus schema: a scan, ingest or watch with this --db "
            "creates it"
        )
    refuse_other_schema(where, version, SCHEMA_VERSION, writable=writable)


def create_or_migrate(connection: Any, url: str) -> None:
    """Bring the database to SCHEMA_VERSION, in one transaction, one process at a time."""
    import psycopg

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            version = stored_version(connection)  # again, now that we hold the lock
            check_version(url, version, writable=True)
            if version == SCHEMA_VERSION:
                connection.commit()
                return
            if version is None:
                cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {NAMESPACE}")
                cursor.execute(SCHEMA)
            else:
                for step in range(version, SCHEMA_VERSION):
                    for statement in MIGRATIONS[step]:
                        cursor.execute(statement)
            cursor.execute("DELETE FROM schema_version")
            cursor.execute("INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,))
        connection.commit()
    except psycopg.Error as error:
        connection.rollback()
        raise StoreError(
            f"cannot create the certcensus schema in {describe_url(url)}: {one_line(error)}"
        ) from None
