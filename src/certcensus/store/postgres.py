"""The PostgreSQL store (psycopg 3): for fleets, many writers at once and long histories.

The same ideas as the SQLite store: each certificate and chain once, one narrow row per probe
(strings interned, see postgres_schema.py). Writes are queued and flushed at least once a
second; the probes of a flush go in with one COPY (one round trip whatever the batch size),
the rest with INSERT ... ON CONFLICT DO NOTHING, since other processes may be adding the same
certificate at the same moment.

Every write carries a batch id, stored in the same transaction. When the connection drops
during a commit we cannot know whether the commit happened, so the batch is sent again under
the same id and the server keeps it once. A lost server is retried for RETRY_SECONDS while
observations queue in memory; then the store fails with one line, and everything committed
before stays.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from certcensus.model.errors import StoreError
from certcensus.model.observation import Observation
from certcensus.model.outcomes import Outcome
from certcensus.model.sink import RejectedObservation
from certcensus.store.base import RunInfo, Store, StoredProbe
from certcensus.store.postgres_aggregates import PostgresAggregates
from certcensus.store.postgres_rows import PROBE_COLUMNS, Keys, RowWriter
from certcensus.store.postgres_schema import (
    ConnectError,
    check_version,
    connect,
    create_or_migrate,
    describe_url,
    one_line,
    stored_version,
)

log = logging.getLogger(__name__)

# As in SQLite: commit at least once a second ("lose at most the last second"), or sooner when
# this many observations are queued.
FLUSH_INTERVAL_SECONDS = 1.0
FLUSH_BATCH = 5000
# A lost server: keep observations and try again for this long (a restart or a fail-over takes
# seconds to a minute), then fail. CERTCENSUS_DB_RETRY_SECONDS changes it.
RETRY_SECONDS = 60.0
RETRY_ENVIRONMENT = "CERTCENSUS_DB_RETRY_SECONDS"
# Between two reconnection attempts; each waits at most this long for the server to answer.
RETRY_INTERVAL_SECONDS = 1.0
RECONNECT_TIMEOUT_SECONDS = 2.0
# Observations kept in memory while the server is away, about a minute at 1,500 probes/s; more
# would only defer the failure and risk the machine's memory.
MAX_BUFFERED = 100_000
# Probe rows read from the server per round trip when streaming a target's probes.
FETCH_ROWS = 10_000


def _row_errors() -> tuple[type[BaseException], ...]:
    import psycopg

    # What one row's values can cause (a lone surrogate from an undecodable file name, an
    # integer past the column's width): that row is refused, the batch is not. A foreign-key
    # violation is not one of them (keys vanished: a fail-over, handled by retrying).
    return (ValueError, OverflowError, TypeError, psycopg.DataError)


def _error_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


# A run that wrote this many probes ends with ANALYZE (a fraction of a second: it samples).
ANALYZE_AFTER_PROBES = 50_000


class _Lost(Exception):
    """The server went away (or never answered); the batch stays queued."""


@dataclass
class _Batch:
    run_id: int
    batch_id: str
    observations: list[Observation]
    stored: bool | None = None  # None until written; False: a batch with its id was there


class PostgresStore(PostgresAggregates, Store):
    def __init__(self, url: str, *, read_only: bool = False):
        self.url = url
        self.where = describe_url(url)
        self.read_only = read_only
        self.shared_url = None if read_only else url
        self.retry_seconds = float(os.environ.get(RETRY_ENVIRONMENT) or RETRY_SECONDS)
        self._writer: Any = None
        self._reader: Any = None
        if read_only:
            self._reader = connect(url, read_only=True)
            check_version(url, stored_version(self._reader), writable=False)
            self._reader.commit()
        else:
            self._writer = connect(url, read_only=False)
            create_or_migrate(self._writer, url)
        self._queue: list[tuple[int, Observation]] = []
        self._sealed: list[_Batch] = []
        self._last_flush = time.monotonic()
        self._lost_since: float | None = None
        self._lost_error = ""
        self._next_attempt = 0.0
        self._failed: StoreError | None = None
        self.rejected: list[RejectedObservation] = []  # see model.sink.ObservationSink
        self._unanalyzed = 0  # probes written since this store last ran ANALYZE
        self._rows = RowWriter()
        self._words_by_key: dict[int, str] = {}
        self._endpoints_by_key: dict[int, tuple[str, str, int, str]] = {}
        self._chains_by_key: dict[int, str] = {}
        self._streams = 0  # probe streams open on the reader (their transaction must stay)

    # -- writing -----------------------------------------------------------------------------

    def start_run(self, command: str, targets: Iterable[str]) -> int:
        from psycopg.types.json import Jsonb

        (run_id,) = self._write_now(
            "INSERT INTO runs (command, started_at, targets) VALUES (%s, %s, %s) RETURNING run_id",
            (command, time.time(), Jsonb(list(targets))),
        )
        return run_id

    def set_run_targets(self, run_id: int, targets: Iterable[str]) -> None:
        from psycopg.types.json import Jsonb

        self._write_now(
            "UPDATE runs SET targets = %s WHERE run_id = %s", (Jsonb(list(targets)), run_id)
        )

    def finish_run(self, run_id: int) -> None:
        self.flush()
        self._drain(wait=True)
        if self._unanalyzed >= ANALYZE_AFTER_PROBES:
            # The planner's row counts come from the last ANALYZE. Right after a large run,
            # before autovacuum gets to the table, it takes `probes` for nearly empty and picks
            # sort-based plans that spill to disk: 1 s per census query at a million probes.
            self._write_now("ANALYZE probes", ())
            self._unanalyzed = 0
        self._write_now("UPDATE runs SET finished_at = %s WHERE run_id = %s", (time.time(), run_id))

    def add(self, run_id: int, observation: Observation) -> None:
        self._queue.append((run_id, observation))
        if (
            len(self._queue) >= FLUSH_BATCH
            or time.monotonic() - self._last_flush >= FLUSH_INTERVAL_SECONDS
        ):
            try:
                self.flush()
            except StoreError:
                pass  # kept in self._failed: the next flush() (every second) raises it

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        if self._failed:
            raise self._failed
        queue, self._queue = self._queue, []
        by_run: dict[int, list[Observation]] = {}
        for run_id, observation in queue:
            by_run.setdefault(run_id, []).append(observation)
        for run_id, observations in by_run.items():
            for start in range(0, len(observations), FLUSH_BATCH):
                chunk = observations[start : start + FLUSH_BATCH]
                self._sealed.append(_Batch(run_id, f"flush-{uuid.uuid4().hex}", chunk))
        self._drain()

    def add_batch(self, run_id: int, batch_id: str, observations: Sequence[Observation]) -> bool:
        if self._failed:
            raise self._failed
        batch = _Batch(run_id, batch_id, list(observations))
        self._sealed.append(batch)
        self._drain()
        return batch.stored is not False  # still queued (server away) counts as accepted

    def close(self) -> None:
        try:
            if not self._failed and not self.read_only:
                self.flush()
                self._drain(wait=True)
        finally:
            for connection in (self._writer, self._reader):
                if connection is not None:
                    connection.close()

    @property
    def buffered(self) -> int:
        """Observations not yet committed."""
        return len(self._queue) + sum(len(b.observations) for b in self._sealed)

    def _drain(self, wait: bool = False) -> None:
        """Write the sealed batches in order. A lost server keeps them queued and is retried
        every RETRY_INTERVAL_SECONDS (waiting here if `wait`) until RETRY_SECONDS have passed
        since it went away; then the store fails."""
        while self._sealed:
            if self._failed:
                raise self._failed
            now = time.monotonic()
            if self._lost_since is not None and now < self._next_attempt:
                self._give_up_if_late(now)
                if not wait:
                    return
                time.sleep(self._next_attempt - now)
                continue
            batch = self._sealed[0]
            try:
                batch.stored = self._write_batch(batch)
            except _Lost as lost:
                if self._lost_since is None:
                    self._lost_since = now
                    log.warning(
                        "certcensus: warning: lost the database server %s (%s); keeping "
                        "observations and retrying for %.0f s",
                        self.where, lost, self.retry_seconds,
                    )  # fmt: skip
                self._lost_error = str(lost)
                self._next_attempt = time.monotonic() + RETRY_INTERVAL_SECONDS
                self._give_up_if_late(time.monotonic())
                continue
            self._sealed.pop(0)
            if self._lost_since is not None:
                log.warning("certcensus: warning: database server %s is back", self.where)
                self._lost_since = None

    def _give_up_if_late(self, now: float) -> None:
        assert self._lost_since is not None
        late = now - self._lost_since >= self.retry_seconds
        if not late and self.buffered <= MAX_BUFFERED:
            return
        why = (
            f"for {now - self._lost_since:.0f} s"
            if late
            else f"while {self.buffered} observations waited (more than {MAX_BUFFERED})"
        )
        self._failed = StoreError(
            f"lost the database server {self.where} {why} and could not reconnect "
            f"({self._lost_error}); {self.buffered} observations were not stored, "
            "everything before them was committed"
        )
        raise self._failed

    def _writing(self) -> Any:
        """The writer connection, reconnected if it broke; raises _Lost."""
        if self.read_only:
            raise StoreError(f"database {self.where} was opened read-only")
        connection = self._writer
        if connection is None or connection.closed or connection.broken:
            if connection is not None:
                connection.close()
            self._writer = None
            try:
                self._writer = connect(self.url, read_only=False, timeout=RECONNECT_TIMEOUT_SECONDS)
            except ConnectError as error:
                raise _Lost(error.reason) from None
        return self._writer

    def _write_now(self, sql: str, params: tuple) -> tuple:
        """One statement, committed now, for run bookkeeping; a lost server is an error here
        (there is nothing to keep), after one reconnection attempt."""
        import psycopg

        for attempt in (1, 2):
            try:
                connection = self._writing()
                with connection.cursor() as cursor:
                    cursor.execute(sql, params)
                    row = cursor.fetchone() if cursor.description else ()
                connection.commit()
                return row or ()
            except (_Lost, psycopg.OperationalError, psycopg.InterfaceError) as error:
                if attempt == 2:
                    raise StoreError(
                        f"lost the database server {self.where}: {one_line(error)}"
                    ) from None
        raise AssertionError("unreachable")

    def _write_batch(self, batch: _Batch) -> bool:
        """The batch in one transaction; False when its id was stored already. Raises _Lost."""
        import psycopg

        for attempt in (1, 2, 3):
            connection = self._writing()
            keys = Keys()
            refused: list[RejectedObservation] = []
            try:
                with connection.cursor() as cursor:
                    cursor.execute(
                        "INSERT INTO batches (run_id, batch_id) VALUES (%s, %s) "
                        "ON CONFLICT DO NOTHING",
                        (batch.run_id, batch.batch_id),
                    )
                    fresh = cursor.rowcount == 1
                    if fresh:
                        refused = self._insert_each_it_takes(connection, cursor, batch, keys)
                connection.commit()
            except psycopg.errors.ForeignKeyViolation:
                # A key we had interned is gone: a fail-over to a replica that had not yet
                # received it. Forget what we knew and intern again.
                connection.rollback()
                self._rows = RowWriter()
                if attempt < 3:
                    continue
                raise _Lost("interned keys vanished from the database") from None
            except (psycopg.OperationalError, psycopg.InterfaceError) as error:
                usable = not connection.closed and not connection.broken
                if usable:
                    connection.rollback()  # a deadlock or serialisation failure: try again
                if usable and attempt < 3:
                    continue
                raise _Lost(one_line(error)) from None
            except psycopg.Error as error:
                connection.rollback()
                self._failed = StoreError(
                    f"database {self.where} refused a write: {one_line(error)}"
                )
                raise self._failed from None
            self._rows.learnt(keys)
            self.rejected.extend(refused)
            if fresh:
                self._unanalyzed += len(batch.observations) - len(refused)
            return fresh
        raise AssertionError("unreachable")

    def _insert_each_it_takes(self, connection, cursor, batch: _Batch, keys: Keys) -> list:
        """The batch's rows, inside the caller's transaction. One observation the database
        cannot take (a value it cannot encode or hold) must not cost the others: then each
        goes in its own savepoint, and the refused ones are returned with their reasons. Keys
        interned inside a savepoint that rolled back are not kept."""
        row_errors = _row_errors()
        whole = Keys()
        try:
            with connection.transaction():  # a savepoint: the batch's id stays
                self._rows.insert(cursor, batch.run_id, batch.observations, whole)
            keys.update(whole)
            return []
        except row_errors:
            pass
        refused = []
        for observation in batch.observations:
            mine = Keys()
            try:
                with connection.transaction():
                    self._rows.insert(cursor, batch.run_id, [observation], mine)
            except row_errors as error:
                refused.append(RejectedObservation(observation, _error_line(error)))
                continue
            keys.update(mine)
        return refused

    # -- reading -----------------------------------------------------------------------------

    def _reading(self) -> Any:
        if self._reader is None or self._reader.closed or self._reader.broken:
            if self._reader is not None:
                self._reader.close()
            self._reader = connect(self.url, read_only=True)
        return self._reader

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        import psycopg

        connection = self._reading()
        try:
            with connection.cursor() as cursor:
                cursor.execute(sql, params)
                rows = cursor.fetchall()
            if not self._streams:
                connection.commit()  # end the transaction: no snapshot held while idle
        except psycopg.Error as error:
            self._reader_failed(connection)
            raise StoreError(f"reading database {self.where} failed: {one_line(error)}") from None
        return rows

    def _reader_failed(self, connection: Any) -> None:
        if not connection.closed and not connection.broken:
            connection.rollback()
        self._streams = 0

    def runs(self) -> list[RunInfo]:
        rows = self._query(
            "SELECT run_id, command, started_at, finished_at, targets FROM runs ORDER BY run_id"
        )
        return [
            RunInfo(run, command, at, end, tuple(targets))
            for run, command, at, end, targets in rows
        ]

    def targets(self, run_ids: Iterable[int] | None = None) -> list[str]:
        where, params = _run_filter(run_ids, "r")
        rows = self._query(
            "SELECT e.target FROM run_endpoints AS r JOIN endpoints AS e USING (endpoint_key) "
            f"{where} GROUP BY e.target ORDER BY MIN(r.first)",
            params,
        )
        return [target for (target,) in rows]

    def probes(self, target: str, run_ids: Iterable[int] | None = None) -> Iterator[StoredProbe]:
        import psycopg

        endpoints = {
            key: (host, port, protocol)
            for key, host, port, protocol in self._query(
                "SELECT endpoint_key, host, port, protocol FROM endpoints WHERE target = %s",
                (target,),
            )
        }
        if not endpoints:
            return
        where, params = _run_filter(run_ids, "probes")
        where = (where + " AND" if where else "WHERE") + " endpoint_key = ANY(%s)"
        connection = self._reading()
        self._streams += 1
        cursor = connection.cursor(name=f"probes_{uuid.uuid4().hex}")
        try:
            cursor.execute(
                f"SELECT probe_id, {', '.join(PROBE_COLUMNS)} FROM probes {where} "
                "ORDER BY started_at, probe_id",
                (*params, list(endpoints)),
            )
            words, chains = self._words_by_key, self._chains_by_key

            def word(key: int | None) -> str | None:
                return None if key is None else words[key]

            while rows := cursor.fetchmany(FETCH_ROWS):
                self._learn_keys(rows)
                for row in rows:
                    host, port, protocol = endpoints[row[6]]
                    yield StoredProbe(
                        probe_id=row[0], run_id=row[5], target=target, host=host, port=port,
                        protocol=protocol, address=words[row[7]], started_at=row[1],
                        outcome=Outcome(words[row[8]]), detail=row[22],
                        chain_id=None if row[9] is None else chains[row[9]], sni=word(row[10]),
                        profile=words[row[11]], source_address=word(row[12]),
                        source_port=row[13], tls_version=word(row[14]), cipher=word(row[15]),
                        connect_seconds=row[2], starttls_seconds=row[3],
                        handshake_seconds=row[4], source=words[row[16]], leaf_only=row[21],
                        vantage=word(row[17]), server_identity=word(row[18]),
                        server_identity_detail=word(row[19]) or "", server_hello=word(row[20]),
                    )  # fmt: skip
        except psycopg.Error as error:
            self._reader_failed(connection)
            raise StoreError(f"reading database {self.where} failed: {one_line(error)}") from None
        finally:
            self._streams = max(0, self._streams - 1)
            if not connection.closed and not connection.broken:
                cursor.close()
                if not self._streams:
                    connection.commit()

    def _learn_keys(self, rows: list[tuple]) -> None:
        """Names for the word and chain keys in `rows` not seen yet, one query each."""
        word_columns = (7, 8, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20)
        words = {row[i] for row in rows for i in word_columns} - {None}
        missing = [key for key in words if key not in self._words_by_key]
        if missing:
            self._words_by_key.update(
                self._query("SELECT word_key, word FROM words WHERE word_key = ANY(%s)", (missing,))
            )
        chains = {row[9] for row in rows} - {None}
        missing = [key for key in chains if key not in self._chains_by_key]
        if missing:
            self._chains_by_key.update(
                self._query(
                    "SELECT chain_key, chain_id FROM chains WHERE chain_key = ANY(%s)", (missing,)
                )
            )

    def chain_certificates(self, chain_id: str) -> list[bytes]:
        return self.chains_certificates([chain_id])[chain_id]

    def chains_certificates(self, chain_ids: Iterable[str]) -> dict[str, list[bytes]]:
        wanted = list(dict.fromkeys(chain_ids))
        result: dict[str, list[bytes]] = {chain_id: [] for chain_id in wanted}
        if not wanted:
            return result
        rows = self._query(
            "SELECT ch.chain_id, c.der FROM chains AS ch "
            "JOIN chain_certificates AS cc USING (chain_key) "
            "JOIN certificates AS c USING (cert_key) "
            "WHERE ch.chain_id = ANY(%s) ORDER BY ch.chain_id, cc.position",
            (wanted,),
        )
        for chain_id, der in rows:
            result[chain_id].append(bytes(der))
        return result

    def certificate(self, sha256: str) -> bytes | None:
        rows = self._query("SELECT der FROM certificates WHERE sha256 = %s", (sha256,))
        return bytes(rows[0][0]) if rows else None

    def find_chains(self, prefix: str) -> list[str]:
        pattern = prefix.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._query(
            "SELECT chain_id FROM chains WHERE chain_id LIKE %s ORDER BY chain_id",
            (pattern + "%",),
        )
        return [chain_id for (chain_id,) in rows]


def _run_filter(run_ids: Iterable[int] | None, table: str) -> tuple[str, tuple]:
    if run_ids is None:
        return "", ()
    return f"WHERE {table}.run_id = ANY(%s)", ([int(r) for r in run_ids],)
