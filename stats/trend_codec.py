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
    import numpy as np

    values = sorted(cells)
    parts = [v.split(TREND_SEP) for v in values]
    dims = [sorted({p[i] for p in parts}) for i in range(DIMS)]
    index = [{v: j for j, v in enumerate(d)} for d in dims]
    codes = np.array([[index[i][p[i]] for p in parts] for i in range(DIMS)], dtype=np.int64).reshape(DIMS, -1)
    counts = np.zeros((len(values), COLUMNS), dtype=np.int64)
    for row, value in enumerate(values):
        for dd, n in cells[value].items():
            counts[row, int(dd)] = n
    code_t = _dtype(codes)
    count_t = _dtype(counts)
    head = json.dumps({"d": dims, "c": code_t, "n": count_t, "rows": len(values)},
                      ensure_ascii=False, separators=(",", ":")).encode()
    blob = zlib.compress(_HEAD.pack(len(head)) + head + codes.astype(code_t).tobytes()
                         + counts.astype(count_t).tobytes(), 6)
    return {"z": blob, "r": hashlib.blake2b(blob, digest_size=8).hexdigest()}


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
    """`{value: {dd: n}}` of a stored trend document (zero counts left out), for the folder."""
    t = table(doc)
    out: dict[str, dict[str, int]] = {}
    codes = t.codes.T.tolist()
    for code, counts in zip(codes, t.counts.tolist(), strict=True):
        by_day = {f"{dd:02d}": n for dd, n in enumerate(counts) if n}
        if by_day:
            out[TREND_SEP.join(t.dims[i][c] for i, c in enumerate(code))] = by_day
    return out
