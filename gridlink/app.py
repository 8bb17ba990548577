"""The one app factory: settings in, aiohttp Application out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from pymongo.errors import PyMongoError

from api import security
from api.errors import access_log_middleware, error_middleware
from api.grids import grid_index_ctx
from api.keys import CLOCK, DB, MONGO_CLIENT, MONGO_URI, SETTINGS
from api.limits import request_limits
from api.media import photo_workers_ctx
from api.ratelimit import intake_rate_limit
from api.routes import setup_routes
from api.telegram import ptb_ctx
from api.webhook_setup import webhook_ctx
from gridlink import appsecrets, background, metrics
from gridlink.clock import Clock, clock_for
from gridlink.db import make_client
from gridlink.schema import ensure_indexes
from gridlink.settings import Settings

log = logging.getLogger(__name__)


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    """Open the database client for the app's lifetime; make sure every index exists."""
    settings = app[SETTINGS]
    client = make_client(app[MONGO_URI], settings)
    app[MONGO_CLIENT] = client
    app[DB] = client[settings.mongodb_db]
    index_task: asyncio.Task[None] | None = None
    try:
        await ensure_indexes(app[DB])
    except PyMongoError as exc:
        # Start anyway (healthz says 503) and keep trying: the database may come up later.
        log.error("database unavailable at start; retrying", extra={"error": str(exc)})
        index_task = asyncio.create_task(_retry_indexes(app))
    yield
    if index_task is not None:
        await background.stop(index_task)
    await client.close()


async def _retry_indexes(app: web.Application) -> None:
    while True:
        await asyncio.sleep(2)
        try:
            await ensure_indexes(app[DB])
            return
        except PyMongoError:
            continue


async def secrets_ctx(app: web.Application) -> AsyncIterator[None]:
    """Make the service's own keys (the rating-code key) on first start."""
    try:
        await appsecrets.rating_code_key(app[DB], app[SETTINGS])
    except PyMongoError:
        pass  # the database is not up yet: made on first use instead
    yield


def wire_domains() -> None:
    """What a package derives from another's changes, registered here where both are known:
    the statistics from the case change log (cases never imports stats). Every process that
    changes cases calls this first (the app; the command line for the others)."""
    from cases.changelog import derive_with
    from ops import gauges
    from stats.rollups import event_fields

    derive_with(event_fields)
    gauges.register()  # /metrics: the outbox's, the schedule's and the statistics' gauges


def create_app(settings: Settings, *, mongo_uri: str, clock: Clock | None = None) -> web.Application:
    wire_domains()
    settings.check_production()  # a real bot token with a default secret or http URL: refuse
    # Each route class gets its own, smaller body limit from api.limits.request_limits.
    app = web.Application(middlewares=[access_log_middleware, error_middleware, intake_rate_limit,
                                       request_limits],
                          client_max_size=settings.photo_max_bytes + 1024 * 1024)
    app[SETTINGS] = settings
    app[MONGO_URI] = mongo_uri
    app[CLOCK] = clock or clock_for(settings.clock_offset_s)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(grid_index_ctx)
    app.cleanup_ctx.append(ptb_ctx)
    app.cleanup_ctx.append(photo_workers_ctx)
    app.cleanup_ctx.append(secrets_ctx)
    app.cleanup_ctx.append(webhook_ctx)
    # the outermost middleware, GET /metrics, the scrape-time state reader
    metrics.setup(app, settings=settings, db=lambda: app[DB], clock=app[CLOCK])
    security.setup(app)
    setup_routes(app)
    return app
