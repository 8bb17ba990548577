"""Grid routes: units (paginated, with geometry one at a time) and placement of a point."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from pymongo.errors import PyMongoError

from api.keys import DB, GRID_INDEX, SETTINGS
from gridlink import background
from gridlink.errors import InvalidInput
from grids import repository
from grids.errors import BadCoordinates
from grids.live import LiveGridIndex
from grids.units import LEVELS

log = logging.getLogger(__name__)
MAX_PAGE = 1000


async def grid_index_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the active grid once at start (an empty database is fine: placement then answers
    503 grid_not_loaded) and look for newly imported versions in the background."""
    settings = app[SETTINGS]
    live = LiveGridIndex(tolerance_m=settings.grid_snap_tolerance_m,
                         check_every_s=settings.grid_refresh_s)
    app[GRID_INDEX] = live
    try:
        await live.refresh(app[DB], force=True)
    except PyMongoError as exc:
        log.warning("grid not loaded at start; will retry", extra={"error": str(exc)})
    task = asyncio.create_task(_watch(app))
    yield
    await background.stop(task)


async def _watch(app: web.Application) -> None:
    live = app[GRID_INDEX]
    while True:
        await asyncio.sleep(live.check_every_s)
        try:
            if await live.refresh(app[DB]):
                log.info("grid version loaded", extra={"version": live.version})
        except PyMongoError:
            continue
        except Exception:  # a broken version must not stop the watcher; the old index stays
            log.exception("grid refresh failed")


async def list_units(request: web.Request) -> web.Response:
    q = request.query
    level = q.get("level") or None
    if level is not None and level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", level=level)
    try:
        limit = int(q.get("limit", "100"))
    except ValueError:
        raise InvalidInput("limit must be an integer") from None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    version, units = await repository.list_units(request.app[DB], level=level,
                                                 parent=q.get("parent") or None,
                                                 after=q.get("after") or None, limit=limit)
    return web.json_response({
        "version": version,
        "items": units,
        "next": units[-1]["code"] if len(units) == limit else None,
    })


async def get_unit(request: web.Request) -> web.Response:
    unit = await repository.get_unit(request.app[DB], code=request.match_info["code"])
    return web.json_response(unit)


async def place(request: web.Request) -> web.Response:
    q = request.query
    if "lon" not in q or "lat" not in q:
        raise BadCoordinates("lon and lat are both required, e.g. ?lon=121.45&lat=31.20")
    live = request.app[GRID_INDEX]
    try:
        await live.refresh(request.app[DB])
    except PyMongoError:
        pass  # the database is away: the index already loaded still answers
    placement = live.place(q["lon"], q["lat"])  # type: ignore[arg-type]  # strings are parsed
    names = {}
    for code in (placement.community_block, placement.workstation, placement.street,
                 placement.street_block, placement.patrol_zone, placement.district):
        found = live.index.unit_name(code) if code else None
        if code and found:
            names[code] = {"name_zh": found[0], "name_en": found[1]}
    return web.json_response({"version": live.version, "placement": placement.to_dict(),
                              "names": names})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/grids/units", list_units)
    app.router.add_get("/api/v1/grids/units/{code}", get_unit)
    app.router.add_get("/api/v1/grids/place", place)

