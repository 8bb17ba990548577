"""Import: every problem named, nothing written on failure, GCJ-02, atomic re-import."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.errors import Conflict
from gridlink.settings import Settings
from grids import crs, repository
from grids.demo import demo_feature_collection
from grids.errors import GridImportError
from grids.importer import ImportedGrid, parse_grid
from grids.live import LiveGridIndex
from tests.grids.conftest import feature, square

# Published test vectors of eviltransform (googollee/eviltransform, test.py): WGS-84 → GCJ-02.
REFERENCE = [
    # wgs lat, wgs lng, gcj lat, gcj lng
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]


def _metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    kx = 111_320.0 * np.cos(np.radians(lat1))
    return np.hypot((lon1 - lon2) * kx, (lat1 - lat2) * 110_574.0)


def test_gcj02_conversion_matches_published_points() -> None:
    wlat, wlng, glat, glng = (np.array(c) for c in zip(*REFERENCE, strict=True))
    lon, lat = crs.wgs84_to_gcj02(wlng, wlat)
    assert np.abs(lon - glng).max() < 1e-9 and np.abs(lat - glat).max() < 1e-9
    back_lon, back_lat = crs.gcj02_to_wgs84(glng, glat)
    # the iterative inverse is exact (the one-step inverse is off by metres)
    assert _metres(back_lon, back_lat, wlng, wlat).max() < 0.001
    one_step = (2 * glng - crs.wgs84_to_gcj02(glng, glat)[0], 2 * glat - crs.wgs84_to_gcj02(glng, glat)[1])
    assert _metres(one_step[0], one_step[1], wlng, wlat).max() > 0.1


def _broken_fc(tiny: dict[str, Any]) -> dict[str, Any]:
    fc = copy.deepcopy(tiny)
    by_code = {f["properties"]["code"]: f for f in fc["features"]}
    # a bow-tie: self-intersecting
    by_code["310101001001001"]["geometry"]["coordinates"] = [
        [[121.41, 31.21], [121.42, 31.22], [121.42, 31.21], [121.41, 31.22], [121.41, 31.21]]]
    # a hole in a block is a gap in the layer (0.002° square ≈ 41,000 m²)
    by_code["310101001002001"]["geometry"]["coordinates"].append(
        [[121.424, 31.214], [121.424, 31.216], [121.426, 31.216], [121.426, 31.214], [121.424, 31.214]])
    fc["features"] += [
        feature("310101001002002", "community_block", "310101001002", square(121.42, 31.20, 121.43, 31.21)),
        feature("310101001009001", "community_block", "310101001009", square(121.43, 31.20, 121.44, 31.21)),
        feature("310101001002003", "community_block", "310101001002", square(121.425, 31.195, 121.435, 31.205)),
        feature("310101001P01002", "street_block", "310101001P01",
                {"type": "Polygon", "coordinates": [[[31.20, 121.42], [31.20, 121.43], [31.21, 121.43],
                                                     [31.21, 121.42], [31.20, 121.42]]]}),
        feature("310101001P01003", "street_block", "310101001P01",
                square(350_000, 3_450_000, 350_500, 3_450_500)),
        feature("310101001001003", "community_block", "310101001001", None),
    ]
    return fc


def test_broken_file_names_every_problem(tiny: dict[str, Any]) -> None:
    with pytest.raises(GridImportError) as err:
        parse_grid(_broken_fc(tiny))
    problems = err.value.problems
    found = {(p["code"], p["problem"]) for p in problems}
    assert ("310101001001001", "invalid_polygon") in found
    assert ("310101001002002", "duplicate_code") in found
    assert ("310101001009001", "unknown_parent") in found
    assert ("310101001002003", "overlap") in found
    assert ("310101001002002", "overlap") in found  # both sides of an overlap are named
    assert ("310101001P01002", "not_lonlat") in found
    assert ("310101001P01003", "not_lonlat") in found
    assert ("310101001001003", "no_geometry") in found
    assert any(p["problem"] == "gap" for p in problems)
    # each with its evidence
    by = {(p["code"], p["problem"]): str(p["message"]) for p in problems}
    assert "Self-intersection" in by[("310101001001001", "invalid_polygon")]
    assert "latitude, longitude order" in by[("310101001P01002", "not_lonlat")]
    assert "m²" in by[("310101001002003", "overlap")]
    gap = next(str(p["message"]) for p in problems if p["problem"] == "gap")
    assert "310101001002001" in gap and "m²" in gap


def test_gap_limit_is_configurable(tiny: dict[str, Any]) -> None:
    by_code = {f["properties"]["code"]: f for f in tiny["features"]}
    # a 0.0001° hole ≈ 10 m × 11 m ≈ 105 m²
    by_code["310101001002001"]["geometry"]["coordinates"].append(
        [[121.425, 31.215], [121.425, 31.2151], [121.4251, 31.2151], [121.4251, 31.215], [121.425, 31.215]])
    with pytest.raises(GridImportError) as err:
        parse_grid(copy.deepcopy(tiny), max_gap_m2=50)
    assert [p["problem"] for p in err.value.problems] == ["gap"]
    assert len(parse_grid(tiny, max_gap_m2=200).units) > 0


def test_structure_problems(tiny: dict[str, Any]) -> None:
    with pytest.raises(GridImportError) as err:
        parse_grid({"type": "Feature"})
    assert err.value.problems[0]["problem"] == "not_feature_collection"
    fc = copy.deepcopy(tiny)
    fc["features"][0]["properties"]["code"] = "310102"  # district code ≠ setting, orphans everywhere
    fc["features"][4]["properties"]["level"] = "cell"
    fc["features"][5]["geometry"]["coordinates"][0].pop()  # ring not closed
    with pytest.raises(GridImportError) as err:
        parse_grid(fc, district_code="310101")
    found = {(p["code"], p["problem"]) for p in err.value.problems}
    assert ("310102", "district_code") in found
    assert ("310101001", "unknown_parent") in found
    assert ("310101001001001", "bad_level") in found
    assert ("310101001001002", "ring_not_closed") in found


def _run_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MONGODB_URI": settings.mongodb_uri or "", "MONGODB_DB": settings.mongodb_db,
           "DATA_DIR": str(settings.data_dir)}
    return subprocess.run([sys.executable, "-m", "gridlink.cli", "grids", *args], env=env,
                          capture_output=True, text=True, timeout=120)


async def test_cli_refuses_a_broken_file_and_writes_nothing(
        tmp_path: Path, tiny: dict[str, Any], settings: Settings, db: Database, clock: FakeClock) -> None:
    await repository.install_grid(db, grid=parse_grid(tiny), source="good", now=clock.now())
    units_before = await db.units.count_documents({})

    broken = tmp_path / "broken.geojson"
    broken.write_text(json.dumps(_broken_fc(tiny)))
    proc = await asyncio.to_thread(_run_cli, settings, "import", str(broken))
    assert proc.returncode == 1
    for code in ("310101001001001", "310101001002002", "310101001009001", "310101001002003",
                 "310101001P01002", "310101001P01003", "310101001001003"):
        assert code in proc.stderr
    assert "nothing was imported" in proc.stderr
    assert await repository.active_version(db) == 1
    assert await db.units.count_documents({}) == units_before
    assert await db.grid_versions.count_documents({}) == 1


async def test_gcj02_import_round_trips_within_a_metre(db: Database, clock: FakeClock,
                                                       demo_fc: dict[str, Any]) -> None:
    original = {f["properties"]["code"]: np.array(f["geometry"]["coordinates"][0])
                for f in demo_fc["features"] if f["geometry"]}
    for f in demo_fc["features"]:
        if f["geometry"]:
            ring = np.array(f["geometry"]["coordinates"][0])
            lon, lat = crs.wgs84_to_gcj02(ring[:, 0], ring[:, 1])
            assert _metres(lon, lat, ring[:, 0], ring[:, 1]).min() > 100  # really shifted
            f["geometry"]["coordinates"][0] = np.column_stack([lon, lat]).tolist()
    grid = parse_grid(demo_fc, source_crs="gcj02")
    await repository.install_grid(db, grid=grid, source="gcj", now=clock.now())
    _, units = await repository.load_units(db)
    worst = 0.0
    for unit in units:
        if unit["code"] in original:
            back = np.array(unit["geometry"]["coordinates"][0])
            ring = original[unit["code"]]
            worst = max(worst, float(_metres(back[:, 0], back[:, 1], ring[:, 0], ring[:, 1]).max()))
    assert worst < 1.0
    assert worst < 0.01  # in fact millimetres


async def test_reimport_is_atomic_and_cleans_up(db: Database, clock: FakeClock,
                                                demo_grid: ImportedGrid, tiny: dict[str, Any]) -> None:
    first = await repository.install_grid(db, grid=demo_grid, source="seed A", now=clock.now())
    other = parse_grid(demo_feature_collection(seed=7))
    names = {
        first: {u["code"]: u["name_zh"] for u in demo_grid.units},
        first + 1: {u["code"]: u["name_zh"] for u in other.units},
    }
    assert names[first] != names[first + 1]
    seen: list[int] = []
    done = asyncio.Event()

    async def reader() -> None:
        while not done.is_set():
            version, units = await repository.load_units(db, geometry=False)
            assert version is not None
            assert {u["version"] for u in units} == {version}
            assert {u["code"]: u["name_zh"] for u in units} == names[version]  # complete, unmixed
            seen.append(version)

    task = asyncio.create_task(reader())
    second = await repository.install_grid(db, grid=other, source="seed 7", now=clock.now())
    await asyncio.sleep(0)
    done.set()
    await task
    assert second == first + 1
    assert first in seen  # the reader ran while the new version was being written
    _, units = await repository.load_units(db, geometry=False)
    assert {u["code"]: u["name_zh"] for u in units} == names[second]
    third = await repository.install_grid(db, grid=parse_grid(tiny), source="tiny", now=clock.now())
    # the active version and the one before it stay; older ones are gone
    assert sorted(await db.units.distinct("version")) == [second, third]
    assert sorted(await db.grid_versions.distinct("_id")) == [second, third]
    assert await repository.active_version(db) == third


async def test_an_older_write_cannot_replace_a_newer_version(db: Database, clock: FakeClock,
                                                             tiny: dict[str, Any]) -> None:
    grid = parse_grid(tiny)
    await repository.install_grid(db, grid=grid, source="a", now=clock.now())
    await db.grid_meta.update_one({"_id": "active"}, {"$set": {"version": 99}})
    with pytest.raises(Conflict):
        await repository.install_grid(db, grid=grid, source="late", now=clock.now())
    assert await db.units.count_documents({"version": 2}) == 0  # its units were removed


async def test_live_index_follows_the_active_version(db: Database, clock: FakeClock,
                                                     tiny: dict[str, Any]) -> None:
    now = [0.0]
    live = LiveGridIndex(check_every_s=5, monotonic=lambda: now[0])
    assert await live.refresh(db) is False or live.version is None
    assert live.version is None
    grid = parse_grid(tiny)
    v1 = await repository.install_grid(db, grid=grid, source="a", now=clock.now())
    assert await live.refresh(db) is False  # checked less than 5 s ago
    now[0] = 6.0
    assert await live.refresh(db) is True
    assert live.version == v1
    assert live.place(121.415, 31.215).community_block == "310101001001001"
    fc = copy.deepcopy(tiny)
    fc["features"][4]["properties"]["code"] = "310101001001000"
    v2 = await repository.install_grid(db, grid=parse_grid(fc), source="b", now=clock.now())
    assert await live.refresh(db, force=True) is True
    assert live.version == v2
    assert live.place(121.415, 31.215).community_block == "310101001001000"


async def test_demo_step_loads_the_demo_once(settings: Settings, mongo_uri: str, db: Database) -> None:
    from grids.cli import load_demo

    await load_demo(settings, mongo_uri, only_if_empty=True)
    await load_demo(settings, mongo_uri, only_if_empty=True)  # a grid is active: nothing to do
    assert await repository.active_version(db) == 1
    counts = {level: await db.units.count_documents({"level": level})
              for level in ("street", "workstation", "community_block", "patrol_zone", "street_block")}
    assert counts == {"street": 13, "workstation": 516, "community_block": 1299,
                      "patrol_zone": 75, "street_block": 189}
