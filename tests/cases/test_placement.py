"""Intake over HTTP with the demo district's real GridIndex: placement drives routing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.keys import GRID_INDEX
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from grids.placement import GridIndex
from tests.cases.conftest import Tokens, bearer
from tests.open311.conftest import PreloadedGrid


@pytest.fixture
async def placed(settings: Settings, mongo_uri: str, clock: FakeClock, db: Database,
                 grid: GridIndex) -> AsyncIterator[TestClient[Any, Any]]:
    app = create_app(settings, mongo_uri=mongo_uri, clock=clock)

    async def preloaded(app_: web.Application) -> AsyncIterator[None]:
        app_[GRID_INDEX] = PreloadedGrid(grid)
        yield
    app.cleanup_ctx.append(preloaded)
    async with TestClient(TestServer(app)) as client:
        yield client


async def test_block_category_goes_to_the_placed_block(placed: TestClient[Any, Any], tokens: Tokens,
                                                       grid: GridIndex,
                                                       inside_point: tuple[float, float]) -> None:
    lon, lat = inside_point
    expected = grid.place(lon, lat)
    body = {"channel": "hotline_962000", "kind": "complaint", "category": "group_renting",
            "description": "twelve beds in one flat", "location": {"lon": lon, "lat": lat}}
    resp = await placed.post("/api/v1/cases", json=body, headers=bearer(tokens["center"]))
    assert resp.status == 201, await resp.text()
    case = (await resp.json())["case"]
    assert case["placement"]["community_block"] == expected.community_block
    assert case["proposed_assignee"]["unit"] == expected.community_block
    assert case["proposed_assignee"]["kind"] == "block"
    line = await placed.post("/api/v1/cases", headers=bearer(tokens["center"]),
                             json={**body, "category": "six_small_venues"})
    assert (await line.json())["case"]["proposed_assignee"] == {"unit": "D03", "kind": "department",
                                                                "name": "D03"}
    street = await placed.post("/api/v1/cases", headers=bearer(tokens["center"]),
                               json={**body, "category": "street_vending"})
    assert (await street.json())["case"]["proposed_assignee"]["unit"] == expected.street
    # an appeal placed outside the district is taken unplaced (the center re-places it); a
    # hazard there is refused, since nobody of the district can go and look
    far = await placed.post("/api/v1/cases", headers=bearer(tokens["center"]),
                            json={**body, "location": {"lon": 116.39, "lat": 39.9}})  # Beijing
    assert far.status == 201 and (await far.json())["case"]["placement"] is None
    hazard = await placed.post("/api/v1/cases", headers=bearer(tokens["center"]),
                               json={**body, "kind": "hazard", "location": {"lon": 116.39, "lat": 39.9}})
    assert hazard.status == 400
    assert (await hazard.json())["error"]["code"] == "outside_district"
