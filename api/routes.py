"""Every HTTP route, registered in one place."""

from __future__ import annotations

from aiohttp import web

from api import (
    cases,
    desk,
    grids,
    health,
    media,
    moderation,
    open311,
    openapi,
    ops,
    portal,
    stats,
    telegram,
)


def setup_routes(app: web.Application) -> None:
    health.setup_routes(app)
    grids.setup_routes(app)
    media.setup_routes(app)
    telegram.setup_routes(app)
    cases.setup_routes(app)
    moderation.setup_routes(app)
    open311.setup_routes(app)
    openapi.setup_routes(app)
    stats.setup_routes(app)
    portal.setup_routes(app)
    ops.setup_routes(app)
    desk.setup_routes(app)
