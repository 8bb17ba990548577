"""Likely-duplicate detection at intake (FixMyStreet practice: nearby reports within ~50 m).

Candidates come from an indexed equality lookup (no $geo operators: FerretDB v1 has none, and
it answers ranges by scanning the whole collection): each located case stores a `dup_key`,
"<category>|<cell row>|<cell column>|<UTC day>", and a search asks for the keys of every cell
its bounding box touches on every day of the window — a handful of strings for one `$in`. The
box and the exact distance (haversine) are then checked as before. When both reports carry
photos, the photos must also look alike: a 64-bit perceptual hash within `MAX_HAMMING` bits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

RADIUS_M = 50.0
WINDOW = timedelta(hours=72)
MAX_HAMMING = 10
# The best few are kept and shown (the desk lists ten): a case stores its candidates, and a
# hotspot reported hundreds of times would otherwise store hundreds in every new case, which
# the next search then reads again.
MAX_CANDIDATES = 10
EARTH_RADIUS_M = 6_371_008.8
# Cells are CELL_DEG of latitude high (~111 m) and about as wide in metres: a row's longitude
# step grows towards the poles (it depends on the row alone, so a point's cell is the same
# whoever computes it). A 50 m box touches at most 2 × 2 or 3 cells.
CELL_DEG = 0.001
DAY_S = 86_400


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lon: float, lat: float, radius_m: float = RADIUS_M) -> dict[str, float]:
    """A lon/lat box that contains every point within `radius_m` (a little larger is fine)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M) * 1.01
    dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return {"min_lon": lon - dlon, "max_lon": lon + dlon, "min_lat": lat - dlat, "max_lat": lat + dlat}


def _lon_step(row: int) -> float:
    """The longitude width of the cells in `row` (~CELL_DEG × 111 km wide at its poleward edge)."""
    edge = min(90.0, max(abs(row * CELL_DEG), abs((row + 1) * CELL_DEG)))
    cos = math.cos(math.radians(edge))
    return 360.0 if cos * 360.0 <= CELL_DEG else CELL_DEG / cos


def _day(at: datetime) -> int:
    return math.floor(at.astimezone(UTC).timestamp() / DAY_S)


def dup_key(category: str, lon: float, lat: float, at: datetime) -> str:
    """The key a case reported at (lon, lat) at `at` is found by."""
    row = math.floor(lat / CELL_DEG)
    return f"{category}|{row}|{math.floor(lon / _lon_step(row))}|{_day(at)}"


def search_keys(category: str, box: Mapping[str, float], since: datetime,
                until: datetime) -> list[str]:
    """Every key a case in `box` created between `since` and `until` can have.

    One day past `until` too: a clock that stepped back may have stored a case "ahead" of now.
    """
    cells = []
    for row in range(math.floor(box["min_lat"] / CELL_DEG), math.floor(box["max_lat"] / CELL_DEG) + 1):
        step = _lon_step(row)
        cells += [f"{row}|{col}" for col in range(math.floor(box["min_lon"] / step),
                                                  math.floor(box["max_lon"] / step) + 1)]
    days = range(_day(since), max(_day(since), _day(until)) + 2)
    return [f"{category}|{cell}|{day}" for cell in cells for day in days]


def hamming(a: str, b: str) -> int:
    """Differing bits between two hex perceptual hashes (imagehash's `str(hash)`)."""
    return bin(int(a, 16) ^ int(b, 16)).count("1")


def closest_hash(ours: Iterable[str], theirs: Iterable[str]) -> int | None:
    best: int | None = None
    theirs = list(theirs)
    for a in ours:
        for b in theirs:
            try:
                d = hamming(a, b)
            except ValueError:
                continue
            best = d if best is None else min(best, d)
    return best


def rank_duplicates(*, lon: float, lat: float, phashes: list[str],
                    candidates: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The best `MAX_CANDIDATES` within `RADIUS_M` (and with a near-identical photo when both
    have photos): most alike photo first, then nearest, as `{case_id, serial, distance_m, hamming?}`."""
    found = []
    for case in candidates:
        loc = case.get("location") or {}
        if "lon" not in loc or "lat" not in loc:
            continue
        dist = haversine_m(lon, lat, loc["lon"], loc["lat"])
        if dist > RADIUS_M:
            continue
        entry: dict[str, Any] = {"case_id": case["_id"], "serial": case["serial"],
                                 "distance_m": round(dist, 1)}
        theirs = case.get("phashes") or []
        if phashes and theirs:
            best = closest_hash(phashes, theirs)
            if best is None or best > MAX_HAMMING:
                continue
            entry["hamming"] = best
        found.append(entry)
    found.sort(key=lambda e: (e.get("hamming", MAX_HAMMING + 1), e["distance_m"]))
    return found[:MAX_CANDIDATES]
