"""Validation of a grid file (GeoJSON FeatureCollection) into units: pure, nothing is written.

Every problem is collected, not just the first, each with the feature's code (or its index
when it has no usable code) and a line of evidence. Checks: structure, codes, levels,
parents, lon/lat ranges, ring closure, polygon validity (self-intersections with their
location), overlaps between blocks of one layer, gaps in the community layer larger than
`max_gap_m2`, street-surface blocks reaching outside the district. The community layer must
cover the district; the street-surface layer may cover only part of it.

Surveyed files are rarely noded: a block's vertex may sit on a neighbour's edge (a T-junction)
and shared borders may differ by millimetres. Overlaps and gaps thinner than `SLIVER_M` are
survey noise and accepted (block polygons are stored as given, so placement is what the file
says); unions fall back from the fast coverage union to a full overlay when the layer is not a
clean coverage. Whatever the file, the answer is a grid or a GridImportError, never a crash.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import shapely
from shapely.errors import GEOSException
from shapely.geometry.base import BaseGeometry

from grids import crs
from grids.errors import GridImportError
from grids.units import (
    BLOCK_LEVELS,
    COMMUNITY_BLOCK,
    DEPARTMENT,
    DISTRICT,
    LAYER,
    LEVELS,
    PARENT_LEVEL,
    PATROL_ZONE,
    STREET,
    STREET_BLOCK,
    WORKSTATION,
    WORKSTATION_KINDS,
    Unit,
    department_units,
)

Crs = Literal["wgs84", "gcj02"]
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
DEFAULT_MAX_GAP_M2 = 1.0
M_PER_DEG_LAT = 110_574.0
# Overlaps and gaps narrower than this (metres) are survey noise, not a border dispute.
SLIVER_M = 0.01


@dataclass(frozen=True)
class ImportedGrid:
    units: list[Unit]
    district: str

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for unit in self.units:
            out[unit["level"]] += 1
        return dict(out)


class _Problems:
    def __init__(self) -> None:
        self.items: list[dict[str, object]] = []

    def add(self, code: str | None, index: int | None, problem: str, message: str) -> None:
        self.items.append({"code": code, "feature": index, "problem": problem, "message": message})


def _pt(x: float, y: float) -> str:
    return f"({x:.7f}, {y:.7f})"


def metric(geom: BaseGeometry, lat0: float) -> BaseGeometry:
    """The geometry in local metres (equirectangular at lat0): enough for areas and 30 m."""
    kx = 111_320.0 * math.cos(math.radians(lat0))
    return shapely.transform(geom, lambda c: c * np.array([kx, M_PER_DEG_LAT]))


def _finite(v: float) -> bool:
    try:
        return math.isfinite(v)
    except OverflowError:  # an integer too large for a float
        return False


def _rings_ok(geom: dict[str, Any], label: str, index: int, problems: _Problems,
              source_crs: Crs) -> list[Any] | None:
    """Polygon coordinates as lists of rings of (lon, lat), or None after reporting why not."""
    gtype = geom.get("type")
    coords = geom.get("coordinates")
    if gtype == "Polygon":
        polygons = [coords]
    elif gtype == "MultiPolygon" and isinstance(coords, list):
        polygons = coords
    else:
        problems.add(label, index, "geometry_type", f"a block needs a Polygon or MultiPolygon, got {gtype!r}")
        return None
    out = []
    bad = False
    for polygon in polygons:
        if not isinstance(polygon, list) or not polygon:
            problems.add(label, index, "geometry_coordinates", "a polygon has no rings")
            return None
        rings = []
        for ring in polygon:
            if not isinstance(ring, list) or len(ring) < 4:
                problems.add(label, index, "geometry_coordinates",
                             f"a ring needs at least 4 positions, got {len(ring) if isinstance(ring, list) else ring!r}")
                return None
            pts = []
            for pos in ring:
                if (not isinstance(pos, list | tuple) or len(pos) < 2
                        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in pos[:2])
                        or not all(_finite(v) for v in pos[:2])):
                    problems.add(label, index, "geometry_coordinates", f"position {pos!r} is not a pair of numbers")
                    return None
                pts.append((float(pos[0]), float(pos[1])))
            for x, y in pts:
                if not (-180 <= x <= 180 and -90 <= y <= 90):
                    hint = " (latitude, longitude order?)" if -90 <= x <= 90 and -180 <= y <= 180 else ""
                    problems.add(label, index, "not_lonlat",
                                 f"position {_pt(x, y)} is not longitude/latitude{hint}; "
                                 "projected coordinates must be converted to WGS-84 first")
                    bad = True
                    break
                if source_crs == "gcj02" and not crs.in_china(x, y):
                    problems.add(label, index, "not_gcj02",
                                 f"position {_pt(x, y)} is outside China, where GCJ-02 is undefined")
                    bad = True
                    break
            if bad:
                return None
            if pts[0] != pts[-1]:
                problems.add(label, index, "ring_not_closed",
                             f"ring starts at {_pt(*pts[0])} but ends at {_pt(*pts[-1])}")
                return None
            if source_crs == "gcj02":
                lon, lat = crs.gcj02_to_wgs84([p[0] for p in pts], [p[1] for p in pts])
                pts = list(zip(lon.tolist(), lat.tolist(), strict=True))
            rings.append([list(p) for p in pts])
        out.append(rings)
    return out


def parse_grid(data: object, *, source_crs: Crs = "wgs84", max_gap_m2: float = DEFAULT_MAX_GAP_M2,
               district_code: str | None = None) -> ImportedGrid:
    """Validate a FeatureCollection and build the units; raise GridImportError listing every problem."""
    problems = _Problems()
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection" \
            or not isinstance(data.get("features"), list):
        problems.add(None, None, "not_feature_collection", "the file must be a GeoJSON FeatureCollection")
        raise GridImportError(problems.items)

    units: dict[str, Unit] = {}
    index_of: dict[str, int] = {}
    shapes: dict[str, BaseGeometry] = {}
    for i, feature in enumerate(data["features"]):
        props = feature.get("properties") if isinstance(feature, dict) else None
        if not isinstance(props, dict):
            problems.add(None, i, "no_properties", "feature has no properties object")
            continue
        code = props.get("code")
        label = code if isinstance(code, str) else f"#{i}"
        if not isinstance(code, str) or not CODE_RE.match(code):
            problems.add(label if isinstance(code, str) else None, i, "bad_code",
                         f"code must be 1–32 letters, digits, '-' or '_', got {code!r}")
            continue
        if code in units:
            problems.add(code, i, "duplicate_code", f"code {code} is used again (first by feature #{index_of[code]})")
            continue
        level = props.get("level")
        if level not in LEVELS:
            problems.add(code, i, "bad_level", f"level must be one of {', '.join(LEVELS)}, got {level!r}")
            continue
        name = props.get("name") or props.get("name_zh")
        if not isinstance(name, str) or not name.strip():
            problems.add(code, i, "no_name", "name is missing")
            name = code
        name_en = props.get("name_en")
        parent = props.get("parent")
        unit: Unit = {"code": code, "level": level, "layer": LAYER[level], "name_zh": name.strip(),
                      "name_en": name_en.strip() if isinstance(name_en, str) and name_en.strip() else name.strip(),
                      "parent": parent if isinstance(parent, str) and parent else None}
        kind = props.get("kind")
        if level == WORKSTATION:
            if kind is not None and kind not in WORKSTATION_KINDS:
                problems.add(code, i, "bad_kind", f"kind must be one of {', '.join(WORKSTATION_KINDS)}, got {kind!r}")
            unit["kind"] = kind or "residential"
        units[code] = unit
        index_of[code] = i
        if level in BLOCK_LEVELS:
            geom = feature.get("geometry")
            if not isinstance(geom, dict):
                problems.add(code, i, "no_geometry", "a block needs a polygon geometry")
                continue
            polys = _rings_ok(geom, code, i, problems, source_crs)
            if polys is None:
                continue
            shape = shapely.MultiPolygon([shapely.Polygon(p[0], p[1:]) for p in polys]) \
                if geom["type"] == "MultiPolygon" else shapely.Polygon(polys[0][0], polys[0][1:])
            reason = shapely.is_valid_reason(shape)
            if reason != "Valid Geometry":
                problems.add(code, i, "invalid_polygon", f"invalid polygon: {reason}")
                continue
            if shape.is_empty or shape.area <= 0:
                problems.add(code, i, "empty_polygon", "the polygon has no area")
                continue
            unit["geometry"] = {"type": geom["type"],
                                "coordinates": polys if geom["type"] == "MultiPolygon" else polys[0]}
            shapes[code] = shape

    # The hierarchy.
    districts = [u for u in units.values() if u["level"] == DISTRICT]
    if len(districts) != 1:
        problems.add(None, None, "district_count",
                     f"exactly one unit of level district is needed, found {len(districts)}"
                     + (f" ({', '.join(u['code'] for u in districts)})" if districts else ""))
    district = districts[0]["code"] if districts else ""
    if district and district_code and district != district_code:
        problems.add(district, index_of[district], "district_code",
                     f"district code {district} differs from the DISTRICT_CODE setting {district_code}")
    children: dict[str, list[str]] = defaultdict(list)
    for code, unit in units.items():
        want = PARENT_LEVEL[unit["level"]]
        parent = unit["parent"]
        if want is None:
            if parent is not None:
                problems.add(code, index_of[code], "bad_parent", f"the district has no parent, got {parent!r}")
            continue
        if parent is None:
            problems.add(code, index_of[code], "no_parent", f"a {unit['level']} needs a parent {want}")
        elif parent not in units:
            problems.add(code, index_of[code], "unknown_parent", f"parent {parent} is not in the file")
        elif units[parent]["level"] != want:
            problems.add(code, index_of[code], "bad_parent",
                         f"parent {parent} is a {units[parent]['level']}, a {unit['level']} needs a {want}")
        else:
            children[parent].append(code)
    for code, unit in units.items():
        if unit["level"] in (STREET, WORKSTATION, PATROL_ZONE) and not children.get(code):
            problems.add(code, index_of[code], "no_children", f"{unit['level']} {code} has no units under it")

    # Geometry across features, per layer.
    lat0 = float(np.mean([g.centroid.y for g in shapes.values()])) if shapes else 0.0
    unions: dict[str, BaseGeometry] = {}
    for level in BLOCK_LEVELS:
        codes = sorted(c for c in shapes if units[c]["level"] == level)
        if not codes:
            if level == COMMUNITY_BLOCK and not problems.items:
                problems.add(None, None, "no_blocks", "the file has no community blocks")
            continue
        geoms = np.array([shapes[c] for c in codes])
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        keep = left < right
        left, right = left[keep], right[keep]
        overlap = shapely.relate_pattern(geoms[left], geoms[right], "2********")
        for a, b in zip(left[overlap], right[overlap], strict=True):
            try:
                inter = shapely.intersection(geoms[a], geoms[b])
            except GEOSException:
                inter = shapely.intersection(geoms[a], geoms[b], grid_size=1e-9)
            if _is_sliver(metric(inter, lat0)):
                continue
            where = inter.representative_point()
            area = metric(inter, lat0).area
            for x, y in ((a, b), (b, a)):
                problems.add(codes[x], index_of[codes[x]], "overlap",
                             f"overlaps {codes[y]} by {area:.1f} m² around {_pt(where.x, where.y)}")
        union = _union(list(geoms))
        if union is None:
            problems.add(codes[0], index_of[codes[0]], "geometry_error",
                         f"the {level} layer ({', '.join(codes[:6])}{' …' if len(codes) > 6 else ''}) "
                         "cannot be merged into one area; check its borders")
            continue
        unions[level] = union
        if level == COMMUNITY_BLOCK:
            for hole in _holes(union):
                hole_m = metric(hole, lat0)
                area = hole_m.area
                if area > max_gap_m2 and not _is_sliver(hole_m):
                    near = sorted(codes[j] for j in tree.query(hole, predicate="intersects"))
                    where = hole.representative_point()
                    first: str | None = near[0] if near else codes[0]
                    problems.add(first, index_of.get(first) if first else None, "gap",
                                 f"gap of {area:.1f} m² around {_pt(where.x, where.y)} between "
                                 f"{', '.join(near[:6])}{' …' if len(near) > 6 else ''} (allowed {max_gap_m2:g} m²)")
    if STREET_BLOCK in unions and COMMUNITY_BLOCK in unions:
        street_codes = sorted(c for c in shapes if units[c]["level"] == STREET_BLOCK)
        outside = shapely.difference(np.array([shapes[c] for c in street_codes]), unions[COMMUNITY_BLOCK])
        for code, rest in zip(street_codes, outside, strict=True):
            if not rest.is_empty:
                rest_m = metric(rest, lat0)
                area = rest_m.area
                if area > max_gap_m2 and not _is_sliver(rest_m):
                    where = rest.representative_point()
                    problems.add(code, index_of[code], "outside_district",
                                 f"{area:.1f} m² of the street block lie outside the community grid, "
                                 f"around {_pt(where.x, where.y)}")

    if problems.items:
        raise GridImportError(problems.items)

    # Parents' geometries: unions of their blocks.
    # A street's area is that of its community blocks (its street-surface blocks may cover less).
    members: dict[str, list[BaseGeometry]] = defaultdict(list)
    for code, shape in shapes.items():
        parent = units[code]["parent"]
        while parent is not None and units[parent]["level"] != DISTRICT:
            if units[code]["level"] == COMMUNITY_BLOCK or units[parent]["level"] != STREET:
                members[parent].append(shape)
            parent = units[parent]["parent"]
    for code, geoms_of in members.items():
        merged = _union(geoms_of)
        if merged is not None:
            units[code]["geometry"] = _geojson(_fill_tolerated(merged, lat0, max_gap_m2))
    units[district]["geometry"] = _geojson(_fill_tolerated(unions[COMMUNITY_BLOCK], lat0, max_gap_m2))

    out = list(units.values())
    if not any(u["level"] == DEPARTMENT for u in out):
        out.extend(department_units(district))
    return ImportedGrid(units=out, district=district)


def _is_sliver(geom_m: BaseGeometry) -> bool:
    """True for an area (in metres) nowhere wider than SLIVER_M: it vanishes when shrunk by half."""
    return bool(geom_m.is_empty or shapely.buffer(geom_m, -SLIVER_M / 2).is_empty)


def _union(geoms: Sequence[BaseGeometry]) -> BaseGeometry | None:
    """The union of a layer's blocks: the coverage union when they form a clean coverage (fast),
    else a full overlay (T-junctions, slivers); None if even a snapped overlay fails."""
    try:
        if shapely.coverage_is_valid(np.array(geoms)):
            return shapely.coverage_union_all(geoms)
    except GEOSException:
        pass
    for grid_size in (None, 1e-9, 1e-7):
        try:
            return shapely.unary_union(geoms, grid_size=grid_size)
        except GEOSException:
            continue
    return None


def _fill_tolerated(union: BaseGeometry, lat0: float, max_gap_m2: float) -> BaseGeometry:
    """The union without the holes the import accepted (slivers and gaps up to max_gap_m2)."""
    def keep(ring: BaseGeometry) -> bool:
        hole_m = metric(shapely.Polygon(ring), lat0)
        return hole_m.area > max_gap_m2 and not _is_sliver(hole_m)

    parts = union.geoms if hasattr(union, "geoms") else [union]
    polys = [shapely.Polygon(p.exterior, [r for r in p.interiors if keep(r)])
             for p in parts if isinstance(p, shapely.Polygon) and not p.is_empty]
    if not polys:
        return union
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _geojson(geom: BaseGeometry) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(shapely.to_geojson(geom))
    return out


def _holes(union: BaseGeometry) -> Sequence[BaseGeometry]:
    parts = union.geoms if hasattr(union, "geoms") else [union]
    return [shapely.Polygon(ring) for part in parts for ring in getattr(part, "interiors", [])]
