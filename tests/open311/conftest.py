"""Fixtures for Open311: the real app over a database holding the demo district's grid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import shapely
from aiohttp.test_utils import TestClient, TestServer
from shapely.geometry import shape

from gridlink import auth
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import ImportedGrid, parse_grid
from grids.placement import GridIndex
from open311 import repository as open311_repo


@pytest.fixture(scope="session")
def demo_grid() -> ImportedGrid:
    return parse_grid(demo_feature_collection(district="310101"), district_code="310101")


@pytest.fixture(scope="session")
def grid(demo_grid: ImportedGrid) -> GridIndex:
    """The same placement the app does, to compute expected blocks."""
    return GridIndex(demo_grid.units)


@pytest.fixture(scope="session")
def inside_point(demo_grid: ImportedGrid) -> tuple[float, float]:
    """(lon, lat) at the centre of the first community block of the demo district."""
    block = next(u for u in demo_grid.units if u["level"] == "community_block")
    c = shapely.centroid(shape(block["geometry"]))
    return c.x, c.y


@pytest.fixture
async def o311(settings: Settings, mongo_uri: str, clock: FakeClock, db: Database,
               demo_grid: ImportedGrid) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the real app; the demo grid is installed first, so the app loads it."""
    await grids_repo.install_grid(db, grid=demo_grid, source="open311 tests", now=clock.now())
    app = create_app(settings, mongo_uri=mongo_uri, clock=clock)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def api_key(db: Database, clock: FakeClock) -> str:
    return await open311_repo.create_key(db, name="city app", now=clock.now())


@pytest.fixture
async def admin_token(db: Database, settings: Settings, clock: FakeClock) -> str:
    return await auth.create_token(db, role="admin", unit=settings.district_code,
                                   district=settings.district_code, name="admin", now=clock.now())
