"""Fixtures for Open311: the real app over a database holding the demo district's grid."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import shapely
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from shapely.geometry import shape

from api.keys import GRID_INDEX
from gridlink import auth
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from grids.demo import demo_feature_collection
from grids.importer import ImportedGrid, parse_grid
from grids.live import LiveGridIndex
from grids.placement import GridIndex
from open311 import repository as open311_repo


class PreloadedGrid(LiveGridIndex):
    """The live index with a grid already built (the real GridIndex), not read from the database."""

    def __init__(self, index: GridIndex) -> None:
        super().__init__()
        self._index = index

    async def refresh(self, db: Database, *, force: bool = False) -> bool:
        return False


@pytest.fixture(scope="session")
def demo_grid() -> ImportedGrid:
    return parse_grid(demo_feature_collection(district="310101"), district_code="310101")


@pytest.fixture(scope="session")
def grid(demo_grid: ImportedGrid) -> GridIndex:
    """The same placement the app does, to compute expected blocks."""
    return GridIndex(demo_grid.units, version=1)


@pytest.fixture(scope="session")
def inside_point(demo_grid: ImportedGrid) -> tuple[float, float]:
    """(lon, lat) at the centre of the first community block of the demo district."""
    block = next(u for u in demo_grid.units if u["level"] == "community_block")
    c = shapely.centroid(shape(block["geometry"]))
    return c.x, c.y


@pytest.fixture
async def o311(settings: Settings, mongo_uri: str, clock: FakeClock, db: Database,
               grid: GridIndex) -> AsyncIterator[TestClient[Any, Any]]:
    """A client of the real app placing with the demo district's real GridIndex.

    The index is built once per session and handed to the app: writing the 2,093 demo units
    into every test's fresh database would cost seconds per test (grids' own tests cover
    installing and loading versions).
    """
    app = create_app(settings, mongo_uri=mongo_uri, clock=clock)

    async def preloaded(app_: web.Application) -> AsyncIterator[None]:
        app_[GRID_INDEX] = PreloadedGrid(grid)  # after grids' loader: this grid wins
        yield
    app.cleanup_ctx.append(preloaded)
    async with TestClient(TestServer(app)) as client:
        yield client


@pytest.fixture
async def api_key(db: Database, clock: FakeClock) -> str:
    return await open311_repo.create_key(db, name="city app", now=clock.now())


@pytest.fixture
async def admin_token(db: Database, settings: Settings, clock: FakeClock) -> str:
    return await auth.create_token(db, role="admin", unit=settings.district_code,
                                   district=settings.district_code, name="admin", now=clock.now())
