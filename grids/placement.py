"""Placement of a point in its community block and street block, with the chain of parents.

One `GridIndex` per grid version, built once per process: one Shapely 2 STRtree over the
prepared block polygons of both layers (a single query answers both). Points on a shared border or vertex belong to every
block they touch; the lowest code wins, so the answer is deterministic. A point outside every
community block but within `tolerance_m` goes to the nearest block (`snapped=True`, with the
distance); farther away it is `OutsideDistrict`. Inside the district the street-surface layer
answers by containment only (it may cover only streets and public spaces, so `street_block`
may be None); a snapped point is snapped in both layers.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape

from grids.errors import BadCoordinates, GridNotLoaded, OutsideDistrict
from grids.units import COMMUNITY_BLOCK, DISTRICT, STREET_BLOCK

DEFAULT_TOLERANCE_M = 30.0
M_PER_DEG_LAT = 110_574.0
_NONE = np.iinfo(np.int64).max
# A point as WKB (little-endian, type 1), for the single-point path.
_POINT_WKB = struct.Struct("<BIdd").pack


@dataclass(frozen=True, slots=True)
class Placement:
    community_block: str | None
    street_block: str | None
    workstation: str | None
    street: str | None
    patrol_zone: str | None
    district: str
    snapped: bool
    distance_m: float

    def to_dict(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class _Blocks:
    """Both layers' blocks in one STRtree (one query answers both layers): community blocks
    first, then street blocks, each sorted by code, so a lower index is a lower code."""

    def __init__(self, community: list[Mapping[str, Any]], street: list[Mapping[str, Any]],
                 units: Mapping[str, Mapping[str, Any]], kx: float) -> None:
        blocks = sorted(community, key=lambda u: u["code"]) + sorted(street, key=lambda u: u["code"])
        self.n_community = len(community)
        self.n_street = len(street)
        self.codes = np.array([b["code"] for b in blocks], dtype=object)
        self.parent = np.array([b["parent"] for b in blocks], dtype=object)
        self.grandparent = np.array([units[b["parent"]]["parent"] if b["parent"] in units else None
                                     for b in blocks], dtype=object)
        # Plain lists for the single-point path (faster to index than object arrays).
        self.code_list: list[str] = self.codes.tolist()
        self.parent_list: list[str | None] = self.parent.tolist()
        self.grandparent_list: list[str | None] = self.grandparent.tolist()
        self.geoms = np.array([shape(b["geometry"]) for b in blocks], dtype=object)
        shapely.prepare(self.geoms)
        self.tree = shapely.STRtree(self.geoms)
        self.bounds = tuple(shapely.total_bounds(self.geoms).tolist())
        self.scale = np.array([kx, M_PER_DEG_LAT])
        # Distances for snapping are taken in local metres (equirectangular at the district).
        self.metric = shapely.transform(self.geoms, lambda c: c * self.scale)

    def containing(self, lon: float, lat: float) -> tuple[int, int]:
        """(community index, street index) of the lowest-coded blocks touching the point, or -1."""
        c = s = -1
        n = self.n_community
        # The point as a one-element array built from WKB: `shapely.Point(x, y)` and the scalar
        # path of STRtree.query (np.expand_dims) each cost more than the query itself.
        wkb = np.empty(1, dtype=object)
        wkb[0] = _POINT_WKB(1, 1, lon, lat)
        for hit in self.tree.query(shapely.from_wkb(wkb), predicate="intersects")[1].tolist():
            if hit < n:
                if c < 0 or hit < c:
                    c = hit
            elif s < 0 or hit < s:
                s = hit
        return c, s

    def nearest(self, lon: float, lat: float, tolerance_m: float, *, street: bool) -> tuple[int, float]:
        """The nearest block of one layer within the tolerance (lowest code on a tie), or -1."""
        dlon, dlat = tolerance_m / self.scale[0], tolerance_m / self.scale[1]
        cands = self.tree.query(shapely.box(lon - dlon, lat - dlat, lon + dlon, lat + dlat))
        cands = cands[(cands >= self.n_community) == street]
        if len(cands) == 0:
            return -1, math.inf
        dist = shapely.distance(self.metric[cands], shapely.Point(lon * self.scale[0], lat * self.scale[1]))
        best = np.lexsort((cands, dist))[0]
        if dist[best] > tolerance_m:
            return -1, math.inf
        return int(cands[best]), float(dist[best])

    def containing_many(self, points: npt.NDArray[Any]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        c = np.full(len(points), _NONE, dtype=np.int64)
        s = np.full(len(points), _NONE, dtype=np.int64)
        # Envelope query, then the prepared polygons' point-in-polygon: faster in bulk than the
        # tree's own predicate (that one prepares each point, not the polygons).
        inp, hit = self.tree.query(points)
        touching = shapely.intersects(self.geoms[hit], points[inp])
        inp, hit = inp[touching], hit[touching]
        is_c = hit < self.n_community
        np.minimum.at(c, inp[is_c], hit[is_c])
        np.minimum.at(s, inp[~is_c], hit[~is_c])
        c[c == _NONE] = -1
        s[s == _NONE] = -1
        return c, s


@dataclass(frozen=True)
class BulkPlacement:
    """The placements of many points as arrays (codes are None where there is none)."""

    community_block: npt.NDArray[Any]
    street_block: npt.NDArray[Any]
    workstation: npt.NDArray[Any]
    street: npt.NDArray[Any]
    patrol_zone: npt.NDArray[Any]
    snapped: npt.NDArray[np.bool_]
    distance_m: npt.NDArray[np.float64]
    outside: npt.NDArray[np.bool_]  # farther than the tolerance from every block
    bad: npt.NDArray[np.bool_]  # NaN or out of range
    district: str

    def __len__(self) -> int:
        return len(self.community_block)

    def placement(self, i: int) -> Placement:
        """Point i as a `Placement`, raising what `GridIndex.place` would have raised."""
        if self.bad[i]:
            raise BadCoordinates("longitude must be in [-180, 180] and latitude in [-90, 90]")
        if self.outside[i]:
            raise OutsideDistrict("the point is outside the district")
        return Placement(self.community_block[i], self.street_block[i], self.workstation[i],
                         self.street[i], self.patrol_zone[i], self.district, bool(self.snapped[i]),
                         float(self.distance_m[i]))


def check_coordinates(lon: object, lat: object) -> tuple[float, float]:
    """Floats in range, or BadCoordinates naming what is wrong."""
    try:
        x = float(lon)  # type: ignore[arg-type]
        y = float(lat)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BadCoordinates(f"lon and lat must be numbers, got {lon!r}, {lat!r}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise BadCoordinates(f"lon and lat must be finite numbers, got {x}, {y}")
    if not (-180 <= x <= 180 and -90 <= y <= 90):
        raise BadCoordinates(f"lon must be in [-180, 180] and lat in [-90, 90], got {x}, {y}")
    return x, y


class GridIndex:
    """Placement over one grid version; immutable, safe to share inside a process."""

    def __init__(self, units: Iterable[Mapping[str, Any]], *, version: int | None = None,
                 tolerance_m: float = DEFAULT_TOLERANCE_M) -> None:
        by_code = {u["code"]: u for u in units}
        districts = [c for c, u in by_code.items() if u["level"] == DISTRICT]
        if len(districts) != 1:
            raise ValueError(f"a grid has one district, got {len(districts)}")
        self.district = districts[0]
        self.version = version
        self._names = {c: (u["name_zh"], u["name_en"]) for c, u in by_code.items()}
        self.tolerance_m = tolerance_m
        blocks = [u for u in by_code.values() if u["level"] == COMMUNITY_BLOCK]
        if not blocks:
            raise ValueError("a grid needs community blocks")
        lat0 = float(np.mean([shape(b["geometry"]).centroid.y for b in blocks[:: max(1, len(blocks) // 50)]]))
        kx = 111_320.0 * math.cos(math.radians(lat0))
        self.blocks = _Blocks(blocks, [u for u in by_code.values() if u["level"] == STREET_BLOCK],
                              by_code, kx)

    def unit_name(self, code: str) -> tuple[str, str] | None:
        """(name_zh, name_en) of a unit of this version."""
        return self._names.get(code)

    def place(self, lon: float, lat: float) -> Placement:
        x, y = check_coordinates(lon, lat)
        b = self.blocks
        c, s = b.containing(x, y)
        distance = 0.0
        snapped = c < 0
        if snapped:
            c, distance = b.nearest(x, y, self.tolerance_m, street=False)
            if c < 0:
                raise OutsideDistrict(
                    f"({x}, {y}) is more than {self.tolerance_m:g} m from every block of the district")
            s = b.nearest(x, y, self.tolerance_m, street=True)[0]
        return Placement(
            community_block=b.code_list[c], street_block=b.code_list[s] if s >= 0 else None,
            workstation=b.parent_list[c], street=b.grandparent_list[c],
            patrol_zone=b.parent_list[s] if s >= 0 else None, district=self.district,
            snapped=snapped, distance_m=distance)

    def place_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> BulkPlacement:
        """Place many points at once with the tree's bulk query; never raises for one bad point."""
        x = np.asarray(lons, dtype=np.float64)
        y = np.asarray(lats, dtype=np.float64)
        if x.shape != y.shape or x.ndim != 1:
            raise BadCoordinates("lons and lats must be one-dimensional and of equal length")
        with np.errstate(invalid="ignore"):
            bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180) & (np.abs(y) <= 90))
        if bad.any():
            x, y = np.where(bad, 0.0, x), np.where(bad, 0.0, y)
        b = self.blocks
        # Query in spatial order (128 × 128 cells, radix-sorted): neighbouring points then hit
        # the same tree nodes and polygons while they are in cache, ~1.5× faster in bulk.
        minx, miny, maxx, maxy = b.bounds
        cx = np.clip((x - minx) * (127.999 / max(maxx - minx, 1e-9)), 0, 127).astype(np.int16)
        cy = np.clip((y - miny) * (127.999 / max(maxy - miny, 1e-9)), 0, 127).astype(np.int16)
        order = np.argsort(cy * np.int16(128) + cx, kind="stable")
        c_sorted, s_sorted = b.containing_many(shapely.points(x[order], y[order]))
        c = np.empty_like(c_sorted)
        s = np.empty_like(s_sorted)
        c[order] = c_sorted
        s[order] = s_sorted
        distance = np.zeros(len(x))
        snapped = np.zeros(len(x), dtype=bool)
        outside = np.zeros(len(x), dtype=bool)
        for i in np.flatnonzero((c < 0) & ~bad).tolist():  # rare: GPS error at the district's edge
            ci, d = b.nearest(float(x[i]), float(y[i]), self.tolerance_m, street=False)
            if ci < 0:
                outside[i] = True
                continue
            c[i], distance[i], snapped[i] = ci, d, True
            s[i] = b.nearest(float(x[i]), float(y[i]), self.tolerance_m, street=True)[0]
        c[bad] = -1
        s[bad] = -1

        def pick(values: npt.NDArray[Any], idx: npt.NDArray[np.int64]) -> npt.NDArray[Any]:
            out = np.full(len(idx), None, dtype=object)
            ok = idx >= 0
            out[ok] = values[idx[ok]]
            return out

        return BulkPlacement(
            community_block=pick(b.codes, c), street_block=pick(b.codes, s),
            workstation=pick(b.parent, c), street=pick(b.grandparent, c),
            patrol_zone=pick(b.parent, s), snapped=snapped, distance_m=distance,
            outside=outside, bad=bad, district=self.district)


class EmptyGridIndex:
    """Stands in until a grid is loaded: every placement says so clearly."""

    version = None

    def unit_name(self, code: str) -> tuple[str, str] | None:
        return None

    def place(self, lon: float, lat: float) -> Placement:
        check_coordinates(lon, lat)
        raise GridNotLoaded("no grid is loaded yet: run `gridlink grids demo` or `gridlink grids import`")

    def place_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> BulkPlacement:
        raise GridNotLoaded("no grid is loaded yet: run `gridlink grids demo` or `gridlink grids import`")
