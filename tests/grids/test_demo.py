"""The demo district: the seed's counts, stable codes, and layers that tile exactly."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from grids.demo import demo_feature_collection
from grids.importer import ImportedGrid, metric


def test_counts_are_the_seeds(demo_grid: ImportedGrid) -> None:
    counts = demo_grid.counts()
    assert counts["district"] == 1
    assert counts["street"] == 13
    assert counts["workstation"] == 516
    assert counts["community_block"] == 1_299
    assert counts["patrol_zone"] == 75
    assert counts["street_block"] == 189
    assert counts["department"] >= 20
    kinds = Counter(u["kind"] for u in demo_grid.units if u["level"] == "workstation")
    assert kinds["residential"] == 350
    assert kinds["village"] + kinds["enterprise"] == 166


def test_same_seed_same_grid_other_seed_other_grid(demo_fc_pristine: dict[str, Any]) -> None:
    assert demo_feature_collection() == demo_fc_pristine
    other = demo_feature_collection(seed=7)
    assert other != demo_fc_pristine
    assert Counter(f["properties"]["level"] for f in other["features"]) == \
        Counter(f["properties"]["level"] for f in demo_fc_pristine["features"])


def test_codes_follow_the_unit_code_practice(demo_grid: ImportedGrid) -> None:
    units = {u["code"]: u for u in demo_grid.units}
    patterns = {
        "district": r"^310101$", "street": r"^310101\d{3}$", "workstation": r"^310101\d{6}$",
        "community_block": r"^310101\d{9}$", "patrol_zone": r"^310101\d{3}P\d{2}$",
        "street_block": r"^310101\d{3}P\d{5}$", "department": r"^D\d{2}$",
    }
    for code, unit in units.items():
        assert re.match(patterns[unit["level"]], code), code
        assert unit["name_zh"] and unit["name_en"]
        if unit["parent"]:
            assert units[unit["parent"]]["level"] != unit["level"]
            if unit["level"] != "department":
                assert code.startswith(unit["parent"]), code
    # zh and en names are distinct languages, not copies
    assert all(u["name_zh"] != u["name_en"] for u in demo_grid.units)


def _layer(grid: ImportedGrid, level: str) -> np.ndarray:
    return np.array([shape(u["geometry"]) for u in grid.units if u["level"] == level])


def test_each_layer_tiles_the_district_without_overlap_or_gap(demo_grid: ImportedGrid) -> None:
    district = shape(next(u for u in demo_grid.units if u["level"] == "district")["geometry"])
    assert district.geom_type == "Polygon" and len(district.interiors) == 0
    for level in ("community_block", "street_block"):
        geoms = _layer(demo_grid, level)
        assert all(shapely.is_valid(geoms))
        tree = shapely.STRtree(geoms)
        left, right = tree.query(geoms, predicate="intersects")
        pairs = left < right
        overlaps = shapely.relate_pattern(geoms[left[pairs]], geoms[right[pairs]], "2********")
        assert not overlaps.any(), f"{level}: {overlaps.sum()} overlapping pairs"
        union = shapely.unary_union(geoms)
        # No gap: one polygon without holes, exactly the district, area = sum of the blocks.
        assert union.geom_type == "Polygon" and len(union.interiors) == 0, level
        assert metric(shapely.symmetric_difference(union, district), 31.2).area < 1e-3
        assert abs(union.area - shapely.area(geoms).sum()) < 1e-12


def test_parents_are_unions_of_their_children(demo_grid: ImportedGrid) -> None:
    units = {u["code"]: u for u in demo_grid.units}
    by_parent: dict[str, list[Any]] = {}
    for u in demo_grid.units:
        if u["level"] in ("community_block", "street_block"):
            by_parent.setdefault(u["parent"], []).append(shape(u["geometry"]))
    for code, geoms in list(by_parent.items())[:60]:
        parent = shape(units[code]["geometry"])
        assert metric(shapely.symmetric_difference(parent, shapely.unary_union(geoms)), 31.2).area < 1e-3
    # Street blocks lie in the street of their patrol zone.
    for u in demo_grid.units:
        if u["level"] == "street_block":
            street = units[units[u["parent"]]["parent"]]
            outside = shape(u["geometry"]).difference(shape(street["geometry"]))
            assert metric(outside, 31.2).area < 1e-3, u["code"]


def test_district_is_about_ten_km_across_near_shanghai(demo_grid: ImportedGrid) -> None:
    district = shape(next(u for u in demo_grid.units if u["level"] == "district")["geometry"])
    minx, miny, maxx, maxy = district.bounds
    assert 121.3 < minx < maxx < 121.6 and 31.1 < miny < maxy < 31.3
    area_km2 = metric(district, 31.2).area / 1e6
    assert 80 < area_km2 < 120
