"""How a trend document (`stats.facts.trend_cells`: one month, values `place~category~channel~
department`, counts by day of month) is stored: one zlib-compressed binary field `z` holding
each dimension's distinct values once, every row's four dimensions as small integer codes and
the counts as a (rows × 32) integer matrix (column = day of month), plus the digest `r`.

Why not JSON: at a million cases a district month held ~1,700 rows, 172 kB of JSON whose
fetching and parsing made a year's trend read after a process start take 0.3–0.5 s; packed it
is a few kB and loads with `numpy.frombuffer` (bench/RESULTS.md, "Trend JSON cost").
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from stats.facts import TREND_SEP

DIMS = 4  # place, category, channel, department
COLUMNS = 32  # day of month 1..31; column 0 stays empty
_HEAD = struct.Struct("<I")  # length of the JSON header


@dataclass
class Table:
    """A trend document as arrays."""

    dims: list[list[str]]  # per dimension, its distinct values (codes index these)
    codes: Any  # int32 (DIMS × rows)
    counts: Any  # int32 (rows × COLUMNS)


def pack(cells: Mapping[str, Mapping[str, int]]) -> dict[str, Any]:
    """The stored fields of a trend document from `{value: {dd: n}}`."""
    return pack_table(merge_into(None, cells))


def merge_into(t: Table | None, cells: Mapping[str, Mapping[str, int]]) -> Table:
    """`t` (None: empty) plus `{value: {dd: ±n}}`, as arrays: the folder adds a round's few
    changed cells to a stored month without turning its thousands of rows into dicts."""
    import numpy as np

    dims = [list(d) for d in t.dims] if t is not None else [[] for _ in range(DIMS)]
    index = [{v: j for j, v in enumerate(d)} for d in dims]
    codes = t.codes.T.tolist() if t is not None else []
    row_of = {tuple(c): r for r, c in enumerate(codes)}
    extra: list[list[int]] = []
    rows: list[int] = []
    days: list[str] = []
    ns: list[int] = []
    for value, by_day in cells.items():
        key = []
        for i, part in enumerate(value.split(TREND_SEP)):
            j = index[i].get(part)
            if j is None:
                j = index[i][part] = len(dims[i])
                dims[i].append(part)
            key.append(j)
        row = row_of.get(tuple(key))
        if row is None:
            row = row_of[tuple(key)] = len(codes) + len(extra)
            extra.append(key)
        rows += [row] * len(by_day)
        days += by_day.keys()
        ns += by_day.values()
    n_rows = len(codes) + len(extra)
    counts = np.zeros((n_rows, COLUMNS), dtype=np.int64)
    if t is not None and len(codes):
        counts[:len(codes)] = t.counts
    if rows:
        np.add.at(counts, (np.asarray(rows), np.asarray(days).astype(np.int64)), np.asarray(ns))
    all_codes = np.asarray(codes + extra, dtype=np.int64).reshape(-1, DIMS).T
    return Table(dims, all_codes, counts)


def pack_table(t: Table) -> dict[str, Any]:
    """The stored fields of a table: rows without a count dropped, each dimension's values
    kept only while a row uses them (sorted, so equal contents pack to equal bytes)."""
    import numpy as np

    keep = t.counts.any(axis=1)
    codes, counts = t.codes[:, keep], t.counts[keep]
    dims: list[list[str]] = []
    new_codes = np.zeros(codes.shape, dtype=np.int64)
    for i in range(DIMS):
        used = sorted({t.dims[i][c] for c in set(codes[i].tolist())})
        at = {v: j for j, v in enumerate(used)}
        lut = np.asarray([at.get(v, -1) for v in t.dims[i]] or [0], dtype=np.int64)
        new_codes[i] = lut[codes[i]] if codes.shape[1] else codes[i]
        dims.append(used)
    # Rows in a canonical order (by codes), so a recomputed month equals a folded one.
    order = np.lexsort(new_codes[::-1]) if new_codes.shape[1] else np.arange(0)
    new_codes, counts = new_codes[:, order], counts[order]
    code_t = _dtype(new_codes)
    count_t = _dtype(counts)
    head = json.dumps({"d": dims, "c": code_t, "n": count_t, "rows": int(counts.shape[0])},
                      ensure_ascii=False, separators=(",", ":")).encode()
    blob = zlib.compress(_HEAD.pack(len(head)) + head + new_codes.astype(code_t).tobytes()
                         + counts.astype(count_t).tobytes(), 1)
    return {"z": blob, "r": hashlib.blake2b(blob, digest_size=8).hexdigest()}


def merged(doc: Mapping[str, Any] | None, cells: Mapping[str, Mapping[str, int]]) -> dict[str, Any] | None:
    """A stored trend document (None: none yet) plus a fold's changes: the fields to store, or
    None when no count is left (the document goes)."""
    t = merge_into(table(doc) if doc is not None else None, cells)
    if not t.counts.any():
        return None
    return pack_table(t)


def _dtype(a: Any) -> str:
    """The smallest little-endian signed integer type holding every value of `a`."""
    lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
    for t, bound in (("<i1", 127), ("<i2", 32_767)):
        if -bound - 1 <= lo and hi <= bound:
            return t
    return "<i4"


def table(doc: Mapping[str, Any]) -> Table:
    import numpy as np

    raw = zlib.decompress(bytes(doc["z"]))
    (n_head,) = _HEAD.unpack_from(raw)
    head = json.loads(raw[_HEAD.size:_HEAD.size + n_head])
    rows = int(head["rows"])
    at = _HEAD.size + n_head
    code_t, count_t = np.dtype(head["c"]), np.dtype(head["n"])
    codes = np.frombuffer(raw, dtype=code_t, count=DIMS * rows, offset=at).reshape(DIMS, rows)
    at += DIMS * rows * code_t.itemsize
    counts = np.frombuffer(raw, dtype=count_t, count=rows * COLUMNS, offset=at).reshape(rows, COLUMNS)
    return Table(head["d"], codes.astype(np.int32), counts.astype(np.int32))


def cells_of(doc: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """`{value: {dd: n}}` of a stored trend document (zero counts left out)."""
    import numpy as np

    t = table(doc)
    values = [TREND_SEP.join(parts) for parts in zip(*(
        [t.dims[i][c] for c in t.codes[i].tolist()] for i in range(DIMS)), strict=True)]
    out: dict[str, dict[str, int]] = {}
    rows, days = np.nonzero(t.counts)
    for r, dd, n in zip(rows.tolist(), days.tolist(), t.counts[rows, days].tolist(), strict=True):
        out.setdefault(values[r], {})[f"{dd:02d}"] = n
    return out
