"""GET /healthz: 200 with the database round-trip time, 503 with a reason when it is away."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web
from pymongo.errors import PyMongoError

from api.errors import error_response
from api.keys import DB, SETTINGS


async def healthz(request: web.Request) -> web.Response:
    db = request.app[DB]
    timeout = request.app[SETTINGS].mongodb_timeout_ms / 1000
    started = time.perf_counter()
    try:
        await asyncio.wait_for(db.command("ping"), timeout=timeout + 1)
    except (PyMongoError, TimeoutError) as exc:
        return error_response(503, "database_unavailable",
                              f"database ping failed: {type(exc).__name__}", health="unhealthy")
    rtt = (time.perf_counter() - started) * 1000
    return web.json_response({"status": "ok", "db": {"rtt_ms": round(rtt, 2), "name": db.name}})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/healthz", healthz)
