"""Placement: agreement with brute-force containment, borders, vertices, near-outside points."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import shapely
from shapely.geometry import shape

from grids.errors import BadCoordinates, GridNotLoaded, OutsideDistrict
from grids.importer import ImportedGrid, metric, parse_grid
from grids.placement import EmptyGridIndex, GridIndex

M_PER_DEG_LAT = 110_574.0


def _blocks(grid: ImportedGrid, level: str) -> tuple[np.ndarray, np.ndarray]:
    blocks = sorted((u for u in grid.units if u["level"] == level), key=lambda u: u["code"])
    return (np.array([u["code"] for u in blocks]),
            np.array([shape(u["geometry"]) for u in blocks]))


def _random_points_in_district(grid: ImportedGrid, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    district = shape(next(u for u in grid.units if u["level"] == "district")["geometry"])
    minx, miny, maxx, maxy = district.bounds
    rng = np.random.default_rng(seed)
    xs: list[float] = []
    ys: list[float] = []
    while len(xs) < n:
        x = rng.uniform(minx, maxx, n)
        y = rng.uniform(miny, maxy, n)
        inside = shapely.contains_xy(district, x, y)
        xs.extend(x[inside].tolist())
        ys.extend(y[inside].tolist())
    return np.array(xs[:n]), np.array(ys[:n])


def _brute_force(codes: np.ndarray, geoms: np.ndarray, xs: np.ndarray, ys: np.ndarray
                 ) -> list[list[str]]:
    """For every point, the codes of all blocks touching it: each polygon tested against every
    point (unprepared polygons, no spatial index)."""
    hits: list[list[str]] = [[] for _ in range(len(xs))]
    for code, geom in zip(codes.tolist(), geoms, strict=True):
        for i in np.flatnonzero(shapely.intersects_xy(geom, xs, ys)).tolist():
            hits[i].append(code)
    return hits


def test_ten_thousand_points_agree_with_brute_force(demo_grid: ImportedGrid, demo_index: GridIndex) -> None:
    xs, ys = _random_points_in_district(demo_grid, 10_000, seed=42)
    units = {u["code"]: u for u in demo_grid.units}
    community = _brute_force(*_blocks(demo_grid, "community_block"), xs, ys)
    street = _brute_force(*_blocks(demo_grid, "street_block"), xs, ys)
    bulk = demo_index.place_many(xs, ys)
    for i, (x, y) in enumerate(zip(xs.tolist(), ys.tolist(), strict=True)):
        assert len(community[i]) == 1, (x, y, community[i])  # exactly one community block
        assert len(street[i]) == 1, (x, y, street[i])  # the demo's street layer covers all
        got = demo_index.place(x, y)
        assert got.community_block == community[i][0]
        assert got.street_block == street[i][0]
        assert got.workstation == units[got.community_block]["parent"]
        assert got.street == units[got.workstation]["parent"]
        assert got.patrol_zone == units[got.street_block]["parent"]
        assert units[got.patrol_zone]["parent"] == got.street  # both layers nest in one street
        assert got.district == "310101" and not got.snapped and got.distance_m == 0
        assert bulk.placement(i) == got


def _shared_vertices(geoms: np.ndarray, codes: np.ndarray) -> dict[tuple[float, float], list[str]]:
    owners: dict[tuple[float, float], set[str]] = {}
    for code, geom in zip(codes, geoms, strict=True):
        for xy in geom.exterior.coords:
            owners.setdefault(xy, set()).add(code)
    return {xy: sorted(c) for xy, c in owners.items() if len(c) >= 2}


def test_shared_vertices_resolve_to_the_lowest_code(demo_grid: ImportedGrid, demo_index: GridIndex) -> None:
    codes, geoms = _blocks(demo_grid, "community_block")
    shared = _shared_vertices(geoms, codes)
    corners = [xy for xy, owners in shared.items() if len(owners) >= 3]
    assert len(corners) > 100
    for x, y in corners[:300]:
        touching = sorted(codes[shapely.intersects_xy(geoms, x, y)])
        assert len(touching) >= 3
        placed = demo_index.place(x, y)
        assert placed.community_block == touching[0]
        assert demo_index.place(x, y) == placed  # and again: deterministic
    bulk = demo_index.place_many([c[0] for c in corners[:300]], [c[1] for c in corners[:300]])
    assert [bulk.placement(i) for i in range(300)] == [demo_index.place(*c) for c in corners[:300]]


def test_points_on_a_shared_edge_go_to_the_lower_code(tiny: dict[str, Any]) -> None:
    index = GridIndex(parse_grid(tiny).units)
    # x = 121.42 is the border between the west and east columns; y = 31.21 between rows.
    assert index.place(121.42, 31.215).community_block == "310101001001001"
    assert index.place(121.42, 31.205).community_block == "310101001001002"
    assert index.place(121.415, 31.21).community_block == "310101001001001"
    assert index.place(121.425, 31.21).community_block == "310101001002001"
    # the centre vertex touches all four; the lowest code wins
    assert index.place(121.42, 31.21).community_block == "310101001001001"
    # on the district's outer edge: inside, not snapped
    edge = index.place(121.41, 31.205)
    assert edge.community_block == "310101001001002" and not edge.snapped and edge.distance_m == 0


def test_street_layer_may_be_absent(tiny: dict[str, Any]) -> None:
    index = GridIndex(parse_grid(tiny).units)
    west = index.place(121.415, 31.205)
    assert (west.street_block, west.patrol_zone) == ("310101001P01001", "310101001P01")
    east = index.place(121.425, 31.205)
    assert east.community_block == "310101001002002"
    assert (east.street_block, east.patrol_zone) == (None, None)
    assert east.workstation == "310101001002" and east.street == "310101001"


def test_near_outside_points_snap_within_tolerance(tiny: dict[str, Any]) -> None:
    index = GridIndex(parse_grid(tiny).units, tolerance_m=30)
    kx = 111_320.0 * math.cos(math.radians(31.21))
    # 10 m west of the western edge, level with the south-west block
    p = index.place(121.41 - 10 / kx, 31.205)
    assert p.snapped and p.community_block == "310101001001002"
    assert p.distance_m == pytest.approx(10, abs=0.2)
    assert p.street_block == "310101001P01001"  # a snapped point is snapped in both layers
    # 20 m east of the eastern edge: community block, but no street block within 30 m
    q = index.place(121.43 + 20 / kx, 31.215)
    assert q.snapped and q.community_block == "310101001002001" and q.street_block is None
    # 25 m north of the north edge, exactly above the shared border: equal distance, lower code
    r = index.place(121.42, 31.22 + 25 / M_PER_DEG_LAT)
    assert r.snapped and r.community_block == "310101001001001"
    assert r.distance_m == pytest.approx(25, abs=0.2)
    # 40 m out: outside the district
    with pytest.raises(OutsideDistrict):
        index.place(121.41 - 40 / kx, 31.205)
    with pytest.raises(OutsideDistrict):
        index.place(116.4, 39.9)
    bulk = index.place_many([121.41 - 10 / kx, 121.41 - 40 / kx, 121.415], [31.205, 31.205, 31.215])
    assert bulk.community_block.tolist() == ["310101001001002", None, "310101001001001"]
    assert bulk.snapped.tolist() == [True, False, False]
    assert bulk.outside.tolist() == [False, True, False]
    with pytest.raises(OutsideDistrict):
        bulk.placement(1)


def test_demo_edge_points_snap_to_the_brute_force_nearest(demo_grid: ImportedGrid,
                                                          demo_index: GridIndex) -> None:
    codes, geoms = _blocks(demo_grid, "community_block")
    district = shape(next(u for u in demo_grid.units if u["level"] == "district")["geometry"])
    ring = district.exterior
    rng = np.random.default_rng(3)
    lat0 = district.centroid.y
    metric_geoms = np.array([metric(g, lat0) for g in geoms])
    kx = 111_320.0 * math.cos(math.radians(lat0))
    checked = 0
    for frac in rng.uniform(0, 1, 200):
        on = ring.interpolate(frac, normalized=True)
        # step outwards from the boundary point by 5–25 m, away from the district centre
        d = rng.uniform(5, 25)
        vx, vy = (on.x - district.centroid.x) * kx, (on.y - district.centroid.y) * M_PER_DEG_LAT
        norm = math.hypot(vx, vy)
        x, y = on.x + vx / norm * d / kx, on.y + vy / norm * d / M_PER_DEG_LAT
        if shapely.intersects_xy(district, x, y):
            continue
        mp = shapely.Point(x * kx, y * M_PER_DEG_LAT)
        dist = shapely.distance(metric_geoms, mp)
        if dist.min() > 30:
            continue
        placed = demo_index.place(x, y)
        assert placed.snapped
        assert placed.community_block == codes[np.lexsort((codes, dist))[0]]
        assert placed.distance_m == pytest.approx(dist.min(), abs=0.01)
        checked += 1
    assert checked > 100


@pytest.mark.parametrize("lon, lat", [
    (float("nan"), 31.2), (121.4, float("nan")), (float("inf"), 31.2), (181, 31.2), (-180.5, 0),
    (121.4, 90.1), (121.4, -91), ("abc", 31.2), (None, 31.2), ("", ""),
])
def test_bad_coordinates(demo_index: GridIndex, lon: Any, lat: Any) -> None:
    with pytest.raises(BadCoordinates):
        demo_index.place(lon, lat)


def test_bulk_flags_bad_points_without_failing_the_rest(demo_index: GridIndex) -> None:
    xs = np.array([121.45, float("nan"), 200.0, 121.45])
    ys = np.array([31.2, 31.2, 31.2, float("inf")])
    bulk = demo_index.place_many(xs, ys)
    assert bulk.bad.tolist() == [False, True, True, True]
    assert bulk.placement(0) == demo_index.place(121.45, 31.2)
    with pytest.raises(BadCoordinates):
        bulk.placement(1)
    assert bulk.community_block[1:].tolist() == [None, None, None]


def test_empty_index_says_no_grid_is_loaded() -> None:
    with pytest.raises(GridNotLoaded):
        EmptyGridIndex().place(121.45, 31.2)
    with pytest.raises(BadCoordinates):  # bad input is still named as such
        EmptyGridIndex().place(float("nan"), 31.2)


def test_multipolygon_blocks_place_in_either_part(tiny: dict[str, Any]) -> None:
    street_block = tiny["features"][-1]
    # two separate strips: the western column's north and south halves with a 0.002° street between
    street_block["geometry"] = {"type": "MultiPolygon", "coordinates": [
        [[[121.41, 31.211], [121.42, 31.211], [121.42, 31.22], [121.41, 31.22], [121.41, 31.211]]],
        [[[121.41, 31.20], [121.42, 31.20], [121.42, 31.209], [121.41, 31.209], [121.41, 31.20]]],
    ]}
    index = GridIndex(parse_grid(tiny).units)
    assert index.place(121.415, 31.215).street_block == "310101001P01001"
    assert index.place(121.415, 31.205).street_block == "310101001P01001"
    between = index.place(121.415, 31.210)
    assert between.street_block is None and between.community_block is not None
