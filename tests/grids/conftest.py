"""Grid fixtures: the demo district built once per session (it is deterministic), and a tiny
hand-made grid whose borders sit on exactly representable coordinates."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from grids.demo import demo_feature_collection
from grids.importer import ImportedGrid, parse_grid
from grids.placement import GridIndex


@pytest.fixture(scope="session")
def demo_fc_pristine() -> dict[str, Any]:
    return demo_feature_collection()


@pytest.fixture
def demo_fc(demo_fc_pristine: dict[str, Any]) -> dict[str, Any]:
    """A copy the test may change."""
    return copy.deepcopy(demo_fc_pristine)


@pytest.fixture(scope="session")
def demo_grid(demo_fc_pristine: dict[str, Any]) -> ImportedGrid:
    return parse_grid(copy.deepcopy(demo_fc_pristine), district_code="310101")


@pytest.fixture(scope="session")
def demo_index(demo_grid: ImportedGrid) -> GridIndex:
    return GridIndex(demo_grid.units, version=1)


def square(x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def feature(code: str, level: str, parent: str | None, geometry: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    return {"type": "Feature", "geometry": geometry,
            "properties": {"code": code, "level": level, "parent": parent, "name": f"单元{code}",
                           "name_en": f"Unit {code}", **extra}}


def tiny_fc() -> dict[str, Any]:
    """2×2 community blocks on 0.01° squares (two workstations, one street), and one street
    block covering only the western half: borders at x = 121.41, 121.42, 121.43; y = 31.20..31.22."""
    x, y = [121.41, 121.42, 121.43], [31.20, 31.21, 31.22]
    return {"type": "FeatureCollection", "features": [
        feature("310101", "district", None),
        feature("310101001", "street", "310101"),
        feature("310101001001", "workstation", "310101001", kind="residential"),
        feature("310101001002", "workstation", "310101001", kind="village"),
        # west column: 001 north, 002 south; east column under the second workstation
        feature("310101001001001", "community_block", "310101001001", square(x[0], y[1], x[1], y[2])),
        feature("310101001001002", "community_block", "310101001001", square(x[0], y[0], x[1], y[1])),
        feature("310101001002001", "community_block", "310101001002", square(x[1], y[1], x[2], y[2])),
        feature("310101001002002", "community_block", "310101001002", square(x[1], y[0], x[2], y[1])),
        feature("310101001P01", "patrol_zone", "310101001"),
        feature("310101001P01001", "street_block", "310101001P01", square(x[0], y[0], x[1], y[2])),
    ]}


@pytest.fixture
def tiny() -> dict[str, Any]:
    return tiny_fc()
