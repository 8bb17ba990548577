"""Every HTTP route, registered in one place."""

from __future__ import annotations

from aiohttp import web

from api import health, telegram


def setup_routes(app: web.Application) -> None:
    health.setup_routes(app)
    telegram.setup_routes(app)
