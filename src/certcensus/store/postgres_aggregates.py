"""The PostgreSQL store's aggregate reads: Store.probe_groups and Store.probe_columns.

`probe_groups` is one GROUP BY over the integer keys of `probes` (postgres_schema.py), run by
the server; only the groups come back, and their keys are turned into strings a column at a
time (`words`, `chains`, `endpoints`, cached). The detail of each group's earliest probe, when
asked for, is one more query (DISTINCT ON).

`probe_columns` reads numeric columns as bytes the server joins: every value selected as a
non-null 8-byte number in its binary form, each probe's values one fixed-width row, the rows of
up to ROWS_PER_READ probes one bytea (string_agg), so NumPy reads them as one array of records:
a million probes are one statement, ~8 MB per column on the wire and no Python object each. (A
binary COPY gives the same bytes, but psycopg hands them over one row, one Python call, at a
time: 5 s of a million-probe census.)
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from certcensus.model.errors import StoreError
from certcensus.store.base import (
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    MISSING_INTEGER,
    ProbeGroup,
    _checked_dimensions,
    _checked_where,
    _matches,
)
from certcensus.store.postgres_rows import text
from certcensus.store.postgres_schema import one_line

# Per-probe strings kept in `words`: dimension -> column of `probes`.
WORD_COLUMNS = {
    "address": "address_key", "outcome": "outcome_key", "sni": "sni_key",
    "profile": "profile_key", "source_address": "source_address_key",
    "tls_version": "tls_version_key", "cipher": "cipher_key", "source": "source_key",
    "server_identity": "server_identity_key", "server_hello": "server_hello_key",
    "vantage": "vantage_key",
}  # fmt: skip
ENDPOINT_FIELDS = ("target", "host", "port", "protocol")
# Dimensions read straight from a column of `probes`, with the type of an array of its values.
PLAIN_COLUMNS = {
    "run_id": ("run_id", "int4"), "chain_key": ("chain_key", "int4"),
    "source_port": ("source_port", "int4"), "leaf_only": ("leaf_only", "bool"),
    "started_at": ("started_at", "float8"),
}  # fmt: skip
# Probes read per statement by probe_columns: one bytea of at most 2M x 8 bytes per column
# asked for, far under PostgreSQL's 1 GB limit on one value.
ROWS_PER_READ = 2_000_000


class PostgresAggregates:
    """Mixed into PostgresStore, which provides `_query`, `_reading` and the key caches."""

    _words_by_key: dict[int, str]
    _chains_by_key: dict[int, str]
    _endpoints_by_key: dict[int, tuple[str, str, int, str]]
    where: str

    _streams: int

    if TYPE_CHECKING:  # PostgresStore's

        def _query(self, sql: str, params: tuple = ()) -> list[tuple]: ...

        def _reading(self) -> Any: ...

        def _reader_failed(self, connection: Any) -> None: ...

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
        """Store.probe_groups: one GROUP BY on the server."""
        dimensions = _checked_dimensions(by, time_bins)
        conditions = _checked_where(where, time_bins)
        filters, params = self._filters(targets, run_ids, conditions, time_bins)
        if filters is None:
            return []
        selected, select_params = [], []
        for index, dimension in enumerate(dimensions):
            expression, expression_params = _key_expression(dimension, time_bins)
            selected.append(f"{expression} AS g{index}")
            select_params += expression_params
        names = ", ".join(f"g{i}" for i in range(len(dimensions)))
        inner = (
            f"SELECT {', '.join([*selected, 'probe_id', 'started_at', 'detail'])} "
            f"FROM probes {filters}"
        )
        all_params = (*select_params, *params)
        if dimensions:
            rows = self._query(
                f"SELECT {names}, COUNT(*), MIN(started_at), MAX(started_at) "
                f"FROM ({inner}) AS p GROUP BY {names}",
                all_params,
            )
        else:
            rows = [
                (None, *row)
                for row in self._query(
                    f"SELECT COUNT(*), MIN(started_at), MAX(started_at) FROM ({inner}) AS p",
                    all_params,
                )
                if row[0]
            ]
        width = len(dimensions) or 1
        details: dict[tuple, str] = {}
        if first_detail and rows:
            if dimensions:
                found = self._query(
                    f"SELECT DISTINCT ON ({names}) {names}, detail FROM ({inner}) AS p "
                    f"ORDER BY {names}, started_at, probe_id",
                    all_params,
                )
            else:
                found = [
                    (None, *row)
                    for row in self._query(
                        f"SELECT detail FROM ({inner}) AS p ORDER BY started_at, probe_id LIMIT 1",
                        all_params,
                    )
                ]
            details = {tuple(row[:width]): row[width] for row in found}
        rows = [(*row, details.get(tuple(row[:width]), "")) for row in rows]
        return self._resolved_groups(dimensions, rows)

    def probe_columns(
        self,
        columns: Sequence[str],
        *,
        target: str,
        run_ids: Iterable[int] | None = None,
        where: Mapping[str, object] | None = None,
    ) -> dict[str, array.array]:
        """Store.probe_columns: fixed-width rows joined on the server, read by NumPy."""
        import numpy as np

        for column in columns:
            if column not in INTEGER_COLUMNS + FLOAT_COLUMNS:
                raise ValueError(f"probe_columns cannot read {column!r}")
        conditions = _checked_where(where, None)
        result = {c: array.array("q" if c in INTEGER_COLUMNS else "d") for c in columns}
        filters, params = self._filters([target], run_ids, conditions, None)
        if filters is None or not columns:
            return result
        # Each probe's values as one row of 8-byte big-endian numbers (int8send, float8send:
        # PostgreSQL's binary forms), joined on the server into one bytea per ROWS_PER_READ
        # probes: a million probes are a few statements and ~8 MB per column on the wire, and
        # no Python object each (psycopg's COPY gives one message, one Python call, per row).
        row = " || ".join(
            f"int8send(COALESCE({c}::int8, {MISSING_INTEGER}))"
            if c in INTEGER_COLUMNS
            else f"float8send(COALESCE({c}, 'NaN'::float8))"
            for c in columns
        )
        data = self._rows_as_bytes(row, filters, tuple(params))
        layout = np.dtype(
            [(f"v{i}", ">i8" if c in INTEGER_COLUMNS else ">f8") for i, c in enumerate(columns)]
        )
        if len(data) % layout.itemsize:
            raise StoreError("the database server sent probe columns of an unexpected length")
        records = np.frombuffer(data, dtype=layout)
        for index, column in enumerate(columns):
            values = records[f"v{index}"]
            native = values.astype("<i8" if column in INTEGER_COLUMNS else "<f8")
            result[column].frombytes(np.ascontiguousarray(native).tobytes())
        return result

    def _rows_as_bytes(self, row: str, filters: str, params: tuple) -> bytes:
        """The bytea expression `row` of every probe matching `filters`, in time order, joined.
        Several statements for a long target, in one transaction (one snapshot: the reader's
        transactions are repeatable read)."""
        import psycopg

        connection = self._reading()
        chunks: list[bytes] = []
        try:
            with connection.cursor(binary=True) as cursor:
                cursor.execute(f"SELECT COUNT(*) FROM probes {filters}", params)
                (total,) = cursor.fetchone()
                if total <= ROWS_PER_READ:  # the usual case: one statement, one sort
                    reads = [
                        (
                            f"SELECT string_agg({row}, ''::bytea ORDER BY started_at, probe_id) "
                            f"FROM probes {filters}",
                            params,
                        )
                    ]
                else:
                    piece = (
                        f"SELECT string_agg(r, ''::bytea ORDER BY s, i) FROM ("
                        f"SELECT {row} AS r, started_at AS s, probe_id AS i FROM probes "
                        f"{filters} ORDER BY started_at, probe_id LIMIT %s OFFSET %s) AS q"
                    )
                    reads = [
                        (piece, (*params, ROWS_PER_READ, offset))
                        for offset in range(0, total, ROWS_PER_READ)
                    ]
                for sql, values in reads:
                    cursor.execute(sql, values)
                    (data,) = cursor.fetchone()
                    chunks.append(bytes(data or b""))
            if not self._streams:
                connection.commit()  # end the transaction: no snapshot held while idle
        except psycopg.Error as error:
            self._reader_failed(connection)
            raise StoreError(f"reading database {self.where} failed: {one_line(error)}") from None
        return b"".join(chunks)

    # -- the WHERE clause ----------------------------------------------------------------------

    def _filters(self, targets, run_ids, conditions, time_bins) -> tuple[str | None, list]:
        """The WHERE clause for a selection (psycopg placeholders, and their values), or None
        when nothing can match."""
        clauses: list[str] = []
        params: list = []
        if targets is not None or any(d in ENDPOINT_FIELDS for d in conditions):
            names = list(dict.fromkeys(targets)) if targets is not None else None
            keys = [
                key
                for key, fields in self._endpoints(names).items()
                if all(
                    _matches(fields[ENDPOINT_FIELDS.index(d)], wanted)
                    for d, wanted in conditions.items()
                    if d in ENDPOINT_FIELDS
                )
            ]
            if not keys:
                return None, []
            clauses.append("endpoint_key = ANY(%s::int4[])")
            params.append(keys)
        if run_ids is not None:
            ids = [int(r) for r in run_ids]
            if not ids:
                return None, []
            clauses.append("run_id = ANY(%s::int4[])")
            params.append(ids)
        for dimension, wanted in conditions.items():
            if dimension in ENDPOINT_FIELDS:
                continue
            values = list(wanted) if isinstance(wanted, tuple) else [wanted]
            if dimension in WORD_COLUMNS:
                column, kind = WORD_COLUMNS[dimension], "int4"
                values = self._word_keys(values)
            elif dimension == "chain":
                column, kind = "chain_key", "int4"
                values = self._chain_keys(values)
            elif dimension == "time_bin":
                assert time_bins is not None
                expression, expression_params = _key_expression("time_bin", time_bins)
                column, kind = expression, "int8"
                params += expression_params
            else:
                column, kind = PLAIN_COLUMNS[dimension]
                if dimension == "leaf_only":
                    values = [v if v is None else bool(v) for v in values]
            known = [v for v in values if v is not None]
            parts = [f"{column} IS NULL"] if None in values else []
            if known:
                parts.append(f"{column} = ANY(%s::{kind}[])")
                params.append(known)
            if not parts:
                return None, []
            clauses.append("(" + " OR ".join(parts) + ")")
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), params

    def _word_keys(self, values: list) -> list:
        """Keys of the strings in `values` (None stays None; strings never stored go)."""
        known = [text(str(v)) for v in values if v is not None]
        found = [key for (key,) in self._query(
            "SELECT word_key FROM words WHERE word = ANY(%s::text[])", (known,)
        )] if known else []  # fmt: skip
        return found + ([None] if None in values else [])

    def _chain_keys(self, values: list) -> list:
        known = [str(v) for v in values if v is not None]
        found = [key for (key,) in self._query(
            "SELECT chain_key FROM chains WHERE chain_id = ANY(%s::text[])", (known,)
        )] if known else []  # fmt: skip
        return found + ([None] if None in values else [])

    def _endpoints(self, names: list[str] | None) -> dict[int, tuple[str, str, int, str]]:
        """endpoint key -> (target, host, port, protocol), of the targets `names` (None: all)."""
        if names is None:
            rows = self._query("SELECT endpoint_key, target, host, port, protocol FROM endpoints")
        else:
            rows = self._query(
                "SELECT endpoint_key, target, host, port, protocol FROM endpoints "
                "WHERE target = ANY(%s::text[])",
                (names,),
            )
        found = {key: (target, host, port, protocol) for key, target, host, port, protocol in rows}
        self._endpoints_by_key.update(found)
        return found

    # -- keys to strings -----------------------------------------------------------------------

    def _resolved_groups(self, dimensions: list[str], rows: list) -> list[ProbeGroup]:
        """Groups with strings for keys, from rows (keys..., probes, first, last, detail);
        groups whose keys name the same values are merged (two endpoints share a target name
        when one target was probed with two protocols)."""
        width = len(dimensions) or 1
        resolved: list[list] = []
        for index, dimension in enumerate(dimensions):
            raw = [row[index] for row in rows]
            if dimension in WORD_COLUMNS:
                words = self._words_of(raw)
                resolved.append([None if k is None else words[k] for k in raw])
            elif dimension in ENDPOINT_FIELDS:
                field = ENDPOINT_FIELDS.index(dimension)
                endpoints = self._endpoints_of(raw)
                resolved.append([endpoints[k][field] for k in raw])
            elif dimension == "chain":
                chains = self._chains_of(raw)
                resolved.append([None if k is None else chains[k] for k in raw])
            elif dimension == "time_bin":
                resolved.append([int(k) for k in raw])
            else:
                resolved.append(raw)
        keys = list(zip(*resolved)) if dimensions else [()] * len(rows)
        merged: dict[tuple, ProbeGroup] = {}
        for key, row in zip(keys, rows):
            count, first, last, detail = row[width:]
            group = ProbeGroup(key, count, first, last, detail)
            earlier = merged.get(key)
            if earlier is not None:
                group = ProbeGroup(
                    key, earlier.probes + count, min(earlier.first_at, first),
                    max(earlier.last_at, last),
                    earlier.first_detail if earlier.first_at <= first else detail,
                )  # fmt: skip
            merged[key] = group
        return list(merged.values())

    def _words_of(self, keys: Iterable) -> dict[int, str]:
        missing = list({k for k in keys if k is not None} - self._words_by_key.keys())
        if missing:
            self._words_by_key.update(
                self._query(
                    "SELECT word_key, word FROM words WHERE word_key = ANY(%s::int4[])", (missing,)
                )
            )
        return self._words_by_key

    def _chains_of(self, keys: Iterable) -> dict[int, str]:
        missing = list({k for k in keys if k is not None} - self._chains_by_key.keys())
        if missing:
            self._chains_by_key.update(
                self._query(
                    "SELECT chain_key, chain_id FROM chains WHERE chain_key = ANY(%s::int4[])",
                    (missing,),
                )
            )
        return self._chains_by_key

    def _endpoints_of(self, keys: Iterable) -> dict[int, tuple[str, str, int, str]]:
        missing = list({k for k in keys if k is not None} - self._endpoints_by_key.keys())
        if missing:
            for key, *fields in self._query(
                "SELECT endpoint_key, target, host, port, protocol FROM endpoints "
                "WHERE endpoint_key = ANY(%s::int4[])",
                (missing,),
            ):
                self._endpoints_by_key[key] = (fields[0], fields[1], fields[2], fields[3])
        return self._endpoints_by_key


def _key_expression(dimension: str, time_bins: tuple[float, float] | None) -> tuple[str, list]:
    """The SQL for a dimension's value (a key where it is a string), and its parameters."""
    if dimension in WORD_COLUMNS:
        return WORD_COLUMNS[dimension], []
    if dimension in ENDPOINT_FIELDS:
        return "endpoint_key", []
    if dimension == "chain":
        return "chain_key", []
    if dimension == "time_bin":
        assert time_bins is not None
        return "floor((started_at - %s::float8) / %s::float8)::int8", list(time_bins)
    return PLAIN_COLUMNS[dimension][0], []
