"""The grid routes on the real app: units, unit geometry, placement and its 400s."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from api.keys import GRID_INDEX
from gridlink.clock import FakeClock
from gridlink.db import Database
from grids import repository
from grids.importer import ImportedGrid, parse_grid
from grids.units import DEPARTMENTS


async def _load(client: TestClient[Any, Any], db: Database, clock: FakeClock, grid: ImportedGrid) -> int:
    version = await repository.install_grid(db, grid=grid, source="test", now=clock.now())
    await client.app[GRID_INDEX].refresh(db, force=True)
    return version


async def test_place_before_any_grid_is_a_clear_503(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/grids/place", params={"lon": "121.45", "lat": "31.2"})
    assert resp.status == 503
    body = await resp.json()
    assert body["error"]["code"] == "grid_not_loaded"
    resp = await client.get("/api/v1/grids/units")
    assert resp.status == 200
    assert (await resp.json())["items"] == []


async def test_place_on_the_demo_district(client: TestClient[Any, Any], db: Database,
                                          clock: FakeClock, demo_grid: ImportedGrid) -> None:
    version = await _load(client, db, clock, demo_grid)
    resp = await client.get("/api/v1/grids/place", params={"lon": "121.45", "lat": "31.2"})
    assert resp.status == 200
    body = await resp.json()
    assert body["version"] == version
    expected = client.app[GRID_INDEX].place(121.45, 31.2)
    assert body["placement"] == expected.to_dict()
    placed = body["placement"]
    assert placed["community_block"].startswith(placed["workstation"])
    assert placed["workstation"].startswith(placed["street"])
    assert body["names"][placed["street"]]["name_zh"].endswith(("街道", "镇"))
    # the units it names are served with their geometry
    resp = await client.get(f"/api/v1/grids/units/{placed['community_block']}")
    assert resp.status == 200
    unit = await resp.json()
    assert unit["level"] == "community_block" and unit["parent"] == placed["workstation"]
    assert unit["geometry"]["type"] == "Polygon" and len(unit["geometry"]["coordinates"][0]) >= 4
    resp = await client.get("/api/v1/grids/units", params={"level": "street"})
    streets = (await resp.json())["items"]
    assert len(streets) == 13 and all("geometry" not in s for s in streets)


BAD_POINTS: list[tuple[dict[str, str], str]] = [
    ({}, "bad_coordinates"),
    ({"lon": "121.45"}, "bad_coordinates"),
    ({"lon": "nan", "lat": "31.2"}, "bad_coordinates"),
    ({"lon": "121.45", "lat": "inf"}, "bad_coordinates"),
    ({"lon": "east", "lat": "31.2"}, "bad_coordinates"),
    ({"lon": "", "lat": ""}, "bad_coordinates"),
    ({"lon": "181", "lat": "31.2"}, "bad_coordinates"),
    ({"lon": "121.45", "lat": "-90.5"}, "bad_coordinates"),
    ({"lon": "116.4", "lat": "39.9"}, "outside_district"),
]


async def test_place_rejects_bad_points_with_400(client: TestClient[Any, Any], db: Database,
                                                 clock: FakeClock, tiny: dict[str, Any]) -> None:
    await _load(client, db, clock, parse_grid(tiny))
    for params, code in BAD_POINTS:
        resp = await client.get("/api/v1/grids/place", params=params)
        assert resp.status == 400, params
        body = await resp.json()
        assert body["error"]["code"] == code and body["error"]["message"], params
    ok = await client.get("/api/v1/grids/place", params={"lon": "121.415", "lat": "31.215"})
    assert ok.status == 200


async def test_units_are_paginated_and_filtered(client: TestClient[Any, Any], db: Database,
                                                clock: FakeClock, tiny: dict[str, Any]) -> None:
    await _load(client, db, clock, parse_grid(tiny))
    seen: list[str] = []
    after = None
    while True:
        params = {"limit": "4", **({"after": after} if after else {})}
        body = await (await client.get("/api/v1/grids/units", params=params)).json()
        seen += [u["code"] for u in body["items"]]
        after = body["next"]
        if after is None:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen)) == 10 + len(DEPARTMENTS)  # units + departments
    body = await (await client.get("/api/v1/grids/units",
                                   params={"parent": "310101001002"})).json()
    assert [u["code"] for u in body["items"]] == ["310101001002001", "310101001002002"]
    body = await (await client.get("/api/v1/grids/units", params={"level": "department"})).json()
    assert body["items"][0]["code"] == "D01" and body["items"][0]["name_zh"] == "公安分局"
    for bad in ({"level": "planet"}, {"limit": "0"}, {"limit": "x"}, {"limit": "100000"}):
        resp = await client.get("/api/v1/grids/units", params=bad)
        assert resp.status == 400, bad
    resp = await client.get("/api/v1/grids/units/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "unit_not_found"


async def test_the_app_picks_up_a_reimported_grid(client: TestClient[Any, Any], db: Database,
                                                  clock: FakeClock, tiny: dict[str, Any]) -> None:
    first = await _load(client, db, clock, parse_grid(tiny))
    tiny["features"][4]["properties"]["code"] = "310101001001000"
    await repository.install_grid(db, grid=parse_grid(tiny), source="fix", now=clock.now())
    await client.app[GRID_INDEX].refresh(db, force=True)
    body = await (await client.get("/api/v1/grids/place", params={"lon": "121.415", "lat": "31.215"})).json()
    assert body["version"] == first + 1
    assert body["placement"]["community_block"] == "310101001001000"
