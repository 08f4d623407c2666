"""The SQLite store's second copy of each probe: its keys as compact columns, for analysis.

Every probe is a row of `probes` (all its fields, for export and per-probe reads) and also one
entry in a `probe_chunks` row: per flush and run, one BLOB holding the flush's probes column by
column, each column in the smallest integer type its values fit (a target's chunk of 2,000 probes
of one address is ~18 bytes a probe, 8 of them the start time). Grouping a million probes is
then a read of ~500 BLOBs and a NumPy sort, instead of SQLite sorting a million rows for GROUP
BY (5 s at a million here) or Python reading them (1 s per column).

Chunk layout: `columns` names the stored columns and their array typecodes ("target_key:B ..."),
`data` is the arrays one after another, little-endian, `probes` entries each. Key 0 stands for
"unset" (text and chain keys start at 1; no source port is 0). Probe ids of a chunk are
consecutive from `first_probe_id` (a flush inserts a run's probes in one go).
"""

from __future__ import annotations

import array
import math
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Stored per probe, in this order. `started_at` is a double; the rest are non-negative keys.
CHUNK_COLUMNS = (
    "target_key", "address_key", "started_at", "outcome_key", "detail_key", "chain_key",
    "sni_key", "profile_key", "source_address_key", "source_port", "tls_version_key",
    "cipher_key", "leaf_only", "server_identity_key", "server_hello_key", "vantage_key",
)  # fmt: skip
# Columns added after chunks were first written (schema 5: vantage_key). A chunk written before
# lacks them, and they read as unset there (0): those probes had no vantage. So a migration
# that adds a column of this kind rewrites no chunk.
LATER_COLUMNS = ("vantage_key",)
_INTEGER_TYPES = ("B", "H", "I", "Q")  # the first that holds a column's largest value


def encode_chunk(columns: Mapping[str, Sequence]) -> tuple[str, bytes]:
    """(columns, data) for one chunk: `columns` maps each of CHUNK_COLUMNS to its values
    (None for unset)."""
    names, parts = [], []
    for column in CHUNK_COLUMNS:
        values = columns[column]
        if column == "started_at":
            packed = array.array("d", values)
        else:
            numbers = [0 if v is None else int(v) for v in values]
            largest = max(numbers, default=0)
            code = next(c for c in _INTEGER_TYPES if largest < 1 << (8 * array.array(c).itemsize))
            packed = array.array(code, numbers)
        if sys.byteorder == "big":
            packed.byteswap()
        names.append(f"{column}:{packed.typecode}")
        parts.append(packed.tobytes())
    return " ".join(names), b"".join(parts)


class ProbeArrays:
    """The chunk columns of a selection of probes, concatenated (NumPy arrays), plus `probe_id`
    and `run_id`; in time order (started_at, then probe_id) once `sorted_in_time` is called."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns["probe_id"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def where(self, mask: np.ndarray) -> ProbeArrays:
        return ProbeArrays({name: values[mask] for name, values in self.columns.items()})

    def sorted_in_time(self) -> ProbeArrays:
        import numpy as np

        order = np.lexsort((self.columns["probe_id"], self.columns["started_at"]))
        if len(order) and (np.diff(order) == 1).all():
            return self
        return ProbeArrays({name: values[order] for name, values in self.columns.items()})


def decode_chunks(chunks: Iterable[tuple[int, int, int, str, bytes]]) -> ProbeArrays:
    """ProbeArrays from (run_id, first_probe_id, probes, columns, data) rows."""
    import numpy as np

    pieces: dict[str, list[np.ndarray]] = {c: [] for c in (*CHUNK_COLUMNS, "probe_id", "run_id")}
    for run_id, first_probe_id, probes, names, data in chunks:
        offset = 0
        stored = names.split()
        for name in LATER_COLUMNS:
            if not any(item.startswith(name + ":") for item in stored):
                pieces[name].append(np.zeros(probes, dtype=np.uint8))
        for name_and_code in stored:
            name, code = name_and_code.split(":")
            dtype = np.dtype("<f8" if code == "d" else f"<u{array.array(code).itemsize}")
            size = dtype.itemsize * probes
            values = np.frombuffer(data, dtype=dtype, count=probes, offset=offset)
            pieces[name].append(values)
            offset += size
        pieces["probe_id"].append(
            np.arange(first_probe_id, first_probe_id + probes, dtype=np.int64)
        )
        pieces["run_id"].append(np.full(probes, run_id, dtype=np.uint32))
    columns = {}
    for name, parts in pieces.items():
        if len(parts) != len(pieces["probe_id"]):  # only LATER_COLUMNS may be missing
            raise ValueError(f"probe chunks without {name}: rebuild the columnar copy")
        if not parts:
            columns[name] = np.zeros(0, np.float64 if name == "started_at" else np.int64)
            continue
        values = np.concatenate(parts)
        if name == "probe_id" and values.max() < 1 << 32:
            values = values.astype(np.uint32)  # 4 bytes a probe instead of 8
        columns[name] = values
    return ProbeArrays(columns)


def grouped(arrays: ProbeArrays, columns: Sequence[np.ndarray]) -> list[tuple]:
    """Rows (key values..., probes, first started_at, last started_at, detail_key of the first)
    for each distinct combination of `columns` (aligned with `arrays`, which must be in time
    order): the GROUP BY, in NumPy. Float columns (started_at) come back as floats."""
    import numpy as np

    n = len(arrays)
    if n == 0:
        return []
    given = [np.asarray(c) for c in columns] or [np.zeros(n, dtype=np.int64)]
    floats = [c.dtype.kind == "f" for c in given]
    # Floats (start times) are grouped by their bits; each column is cast to int64 only while
    # it is folded in, so a million probes of a dozen columns never hold a dozen int64 copies.
    integers = [c.astype(np.float64).view(np.int64) if f else c for c, f in zip(given, floats)]
    lows = [int(c.min()) for c in integers]
    radices = [int(c.max()) - low + 1 for c, low in zip(integers, lows)]
    if math.prod(radices) < 1 << 62:
        # One integer per probe (mixed radix), so the sort is of a single int64 column.
        combined = integers[0].astype(np.int64) - lows[0]
        for values, low, radix in zip(integers[1:], lows[1:], radices[1:]):
            combined *= radix
            combined += values
            if low:
                combined -= low
        unique, first_index, inverse, counts = np.unique(
            combined, return_index=True, return_inverse=True, return_counts=True
        )
        del combined
        digits = []
        for radix in reversed(radices[1:]):
            unique, digit = np.divmod(unique, radix)
            digits.append(digit)
        digits.append(unique)
        key_columns = [d + low for d, low in zip(reversed(digits), lows)]
    else:
        stacked = np.stack([c.astype(np.int64) for c in integers], axis=1)
        keys, first_index, inverse, counts = np.unique(
            stacked, axis=0, return_index=True, return_inverse=True, return_counts=True
        )
        key_columns = [keys[:, i] for i in range(keys.shape[1])]
    key_columns = [k.view(np.float64) if f else k for k, f in zip(key_columns, floats)]
    inverse = inverse.reshape(-1)
    # The last probe of each group: the first index of the reversed sequence.
    _, last_reversed = np.unique(inverse[::-1], return_index=True)
    last_index = n - 1 - last_reversed
    started = arrays["started_at"]
    details = arrays["detail_key"]
    keys_of_groups = zip(*[k.tolist() for k in key_columns]) if columns else ([()] * len(counts))
    return [
        (*key, count, first, last, detail)
        for key, count, first, last, detail in zip(
            keys_of_groups,
            counts.tolist(),
            started[first_index].tolist(),
            started[last_index].tolist(),
            details[first_index].tolist(),
        )
    ]
