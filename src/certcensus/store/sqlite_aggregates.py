"""The SQLite store's aggregate reads: Store.probe_groups and Store.probe_columns.

Most questions are answered from the columnar copy of each probe (store/columnar.py): the
selected chunks are read and decoded once (cached until the next write), filtered and grouped in
NumPy. Dimensions that copy does not hold (TLS version, cipher, source, the durations) fall back
to SQL over the `probes` rows.
"""

from __future__ import annotations

import array
import math
import sqlite3
from collections.abc import Iterable, Mapping, Sequence

from certcensus.store.base import (
    FLOAT_COLUMNS,
    INTEGER_COLUMNS,
    MISSING_INTEGER,
    ProbeGroup,
    _checked_dimensions,
    _checked_where,
    _matches,
)
from certcensus.store.columnar import ProbeArrays, decode_chunks, grouped

# Per-probe strings kept in `texts`: dimension -> column of `probes`.
_TEXT_COLUMNS = {
    "address": "address_key", "outcome": "outcome_key", "detail": "detail_key",
    "sni": "sni_key", "profile": "profile_key", "source_address": "source_address_key",
    "tls_version": "tls_version_key", "cipher": "cipher_key", "source": "source_key",
    "server_identity": "server_identity_key",
    "server_identity_detail": "server_identity_detail_key", "server_hello": "server_hello_key",
    "vantage": "vantage_key",
}  # fmt: skip
_TARGET_FIELDS = ("target", "host", "port", "protocol")
# Dimensions read straight from a column of `probes`.
_PLAIN_COLUMNS = {
    "run_id": "run_id", "chain_key": "chain_key", "source_port": "source_port",
    "leaf_only": "leaf_only", "started_at": "started_at",
}  # fmt: skip
# Dimensions (and probe_columns columns) the columnar copy answers: dimension -> its column.
_ARRAY_COLUMNS = {
    "run_id": "run_id", "target": "target_key", "host": "target_key", "port": "target_key",
    "protocol": "target_key", "address": "address_key", "outcome": "outcome_key",
    "chain": "chain_key", "chain_key": "chain_key", "sni": "sni_key", "profile": "profile_key",
    "source_address": "source_address_key", "source_port": "source_port",
    "leaf_only": "leaf_only", "started_at": "started_at", "time_bin": "started_at",
    "probe_id": "probe_id", "tls_version": "tls_version_key", "cipher": "cipher_key",
    "server_identity": "server_identity_key", "server_hello": "server_hello_key",
    "vantage": "vantage_key",
}  # fmt: skip
# In the columnar copy 0 means unset for these (keys start at 1; no source port is 0).
_ZERO_IS_UNSET = {
    "chain_key", "sni_key", "source_address_key", "source_port", "tls_version_key", "cipher_key",
    "server_identity_key", "server_hello_key", "vantage_key",
}  # fmt: skip
# Rows fetched from SQLite at a time when reading in bulk: large enough that the per-call cost
# vanishes, small enough that the rows in flight stay a few megabytes.
FETCH_ROWS = 65536


class SQLiteAggregates:
    """Mixed into SQLiteStore, which provides `_db`."""

    _db: sqlite3.Connection
    _arrays_cache: tuple[tuple, ProbeArrays] | None = None

    # -- the columnar copy ---------------------------------------------------------------------

    def _selected_arrays(self, targets, run_ids, conditions, time_bins) -> ProbeArrays | None:
        """The probes of the selection, in time order, or None when nothing can match."""
        import numpy as np

        run_list = None if run_ids is None else tuple(sorted(int(r) for r in run_ids))
        if run_list == ():
            return None
        arrays = self._run_arrays(run_list)
        mask = np.ones(len(arrays), dtype=bool)
        target_dimensions = {d: w for d, w in conditions.items() if d in _TARGET_FIELDS}
        if targets is not None or target_dimensions:
            keys = self._target_keys(targets, target_dimensions)
            if not keys:
                return None
            mask &= np.isin(arrays["target_key"], keys)
        for dimension, wanted in conditions.items():
            if dimension in _TARGET_FIELDS:
                continue
            values = list(wanted) if isinstance(wanted, tuple) else [wanted]
            column = arrays[_ARRAY_COLUMNS[dimension]]
            if dimension == "time_bin":
                assert time_bins is not None
                column = np.floor((column - time_bins[0]) / time_bins[1])
            elif dimension in _TEXT_COLUMNS or dimension == "chain":
                values = self._keys_of(dimension, values)
            elif dimension == "leaf_only":
                values = [int(bool(v)) for v in values if v is not None]
            values = [0 if v is None else v for v in values]
            if not values:
                return None
            mask &= np.isin(column, values)
        return arrays if mask.all() else arrays.where(mask)

    def _run_arrays(self, run_list: tuple[int, ...] | None) -> ProbeArrays:
        """Every probe of the runs (None: all), decoded once and kept until the next write."""
        if self._arrays_cache is not None and self._arrays_cache[0] == (run_list,):
            return self._arrays_cache[1]
        sql = "SELECT run_id, first_probe_id, probes, columns, data FROM probe_chunks"
        params: tuple = ()
        if run_list is not None:
            sql += f" WHERE run_id IN ({', '.join('?' * len(run_list))})"
            params = run_list
        arrays = decode_chunks(self._db.execute(sql + " ORDER BY chunk_id", params))
        arrays = arrays.sorted_in_time()
        self._arrays_cache = ((run_list,), arrays)
        return arrays

    def _target_keys(self, names, conditions) -> list[int]:
        wanted = set(names) if names is not None else None
        return [
            key
            for key, *fields in self._db.execute(
                "SELECT target_key, target, host, port, protocol FROM targets"
            )
            if (wanted is None or fields[0] in wanted)
            and all(_matches(fields[_TARGET_FIELDS.index(d)], w) for d, w in conditions.items())
        ]

    def _array_groups(self, dimensions, targets, run_ids, conditions, time_bins, first_detail):
        import numpy as np

        arrays = self._selected_arrays(targets, run_ids, conditions, time_bins)
        if arrays is None or len(arrays) == 0:
            return []
        columns = []
        for dimension in dimensions:
            values = arrays[_ARRAY_COLUMNS[dimension]]
            if dimension == "time_bin":
                assert time_bins is not None
                values = np.floor((values - time_bins[0]) / time_bins[1]).astype(np.int64)
            columns.append(values)
        rows = []
        for row in grouped(arrays, columns):
            keys = [
                None if value == 0 and _ARRAY_COLUMNS[d] in _ZERO_IS_UNSET
                else int(value) if d == "time_bin" else value
                for d, value in zip(dimensions, row[: len(dimensions)])
            ]  # fmt: skip
            rows.append((*(keys or [None]), *row[len(dimensions) :]))
        return self._resolved_groups(list(dimensions), rows, first_detail)

    def _array_columns(self, columns, target, run_ids, conditions) -> dict[str, array.array]:
        result = {c: array.array("q" if c in INTEGER_COLUMNS else "d") for c in columns}
        arrays = self._selected_arrays([target], run_ids, conditions, None)
        if arrays is None:
            return result
        for column in columns:
            values = arrays[_ARRAY_COLUMNS[column]]
            if column in INTEGER_COLUMNS:
                values = values.astype("int64")
                if _ARRAY_COLUMNS[column] in _ZERO_IS_UNSET:
                    values[values == 0] = MISSING_INTEGER
            result[column].frombytes(
                values.astype("<i8" if column in INTEGER_COLUMNS else "<f8").tobytes()
            )
        return result

    # -- SQL over the rows ---------------------------------------------------------------------

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
        """Store.probe_groups: from the columnar copy (NumPy) for the dimensions it holds, else
        one SQL GROUP BY over the integer keys; strings are looked up for the groups only."""
        dimensions = _checked_dimensions(by, time_bins)
        conditions = _checked_where(where, time_bins)
        if set(dimensions) | set(conditions) <= set(_ARRAY_COLUMNS):
            return self._array_groups(
                dimensions, targets, run_ids, conditions, time_bins, first_detail
            )
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
            details = {tuple(row[:width]): row[width] for row in rows}
        found = [(*row, details.get(tuple(row[: len(dimensions) or 1]))) for row in found]
        return self._resolved_groups(dimensions, found, first_detail)

    def probe_columns(
        self,
        columns: Sequence[str],
        *,
        target: str,
        run_ids: Iterable[int] | None = None,
        where: Mapping[str, object] | None = None,
    ) -> dict[str, array.array]:
        """Store.probe_columns: from the columnar copy when it holds the columns, else one
        indexed query read FETCH_ROWS rows at a time."""
        for column in columns:
            if column not in INTEGER_COLUMNS + FLOAT_COLUMNS:
                raise ValueError(f"probe_columns cannot read {column!r}")
        conditions = _checked_where(where, None)
        if set(columns) | set(conditions) <= set(_ARRAY_COLUMNS):
            return self._array_columns(columns, target, run_ids, conditions)
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
        self, dimensions: list[str], rows: list, first_detail: bool
    ) -> list[ProbeGroup]:
        """Groups with strings for keys from rows (keys..., probes, first, last, detail key);
        groups whose keys name the same values are merged (two target keys share a name when
        one target was probed with two protocols)."""
        width = len(dimensions) or 1
        details = self._texts_of({row[-1] for row in rows}) if first_detail else {}
        # Each dimension's values resolved a column at a time (a fleet has 100,000s of groups).
        resolved: list[list] = []
        for index, dimension in enumerate(dimensions):
            raw = [row[index] for row in rows]
            if dimension in _TEXT_COLUMNS:
                text: dict = {**self._texts_of(set(raw)), None: None}
                resolved.append([text[k] for k in raw])
            elif dimension in _TARGET_FIELDS:
                field = _TARGET_FIELDS.index(dimension)
                fields = self._target_fields(set(raw))
                resolved.append([fields[k][field] for k in raw])
            elif dimension == "chain":
                chains: dict = {**self._chain_ids_of(set(raw)), None: None}
                resolved.append([chains[k] for k in raw])
            elif dimension == "leaf_only":
                resolved.append([bool(k) for k in raw])
            else:
                resolved.append(raw)
        keys = list(zip(*resolved)) if dimensions else [()] * len(rows)
        merged: dict[tuple, ProbeGroup] = {}
        for key, row in zip(keys, rows):
            count, first, last, detail_key = row[width:]
            group = ProbeGroup(key, count, first, last, details.get(detail_key, ""))
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
