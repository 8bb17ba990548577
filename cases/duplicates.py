"""Likely-duplicate detection at intake (FixMyStreet practice: nearby reports within ~50 m).

Candidates come from a bounding-box query on stored lon/lat (no $geo operators: FerretDB v1
has none); the exact distance is the haversine here. When both reports carry photos, the
photos must also look alike: a 64-bit perceptual hash within `MAX_HAMMING` bits.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

RADIUS_M = 50.0
WINDOW = timedelta(hours=72)
MAX_HAMMING = 10
EARTH_RADIUS_M = 6_371_008.8


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
    """Candidates within `RADIUS_M` (and with a near-identical photo when both have photos),
    nearest first, as `{case_id, serial, distance_m, hamming?}`."""
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
    return found
