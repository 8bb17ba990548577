"""The desk's routes, all under /desk/ (HTML pages and two small JSON helpers for the map)."""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from api.desk import admin, calendar, moderation, station, views
from api.keys import DESK_JINJA

HERE = Path(__file__).resolve().parent


def setup_routes(app: web.Application) -> None:
    aiohttp_jinja2.setup(app, app_key=DESK_JINJA, autoescape=True,
                         loader=jinja2.FileSystemLoader(HERE / "templates"),
                         undefined=jinja2.StrictUndefined)
    r = app.router
    moderation.setup_routes(app)  # before the generic /desk/cases/{ref}/{action}
    r.add_get("/desk", _to_home)
    r.add_get("/desk/", views.home)
    r.add_get("/desk/signin", views.signin_get)
    r.add_post("/desk/signin", views.signin_post)
    r.add_post("/desk/signout", views.signout)
    r.add_get("/desk/locale", views.set_locale)
    r.add_get("/desk/intake", views.intake_get)
    r.add_post("/desk/intake", views.intake_post)
    r.add_get("/desk/place.json", views.place_json)
    r.add_get("/desk/duplicates.json", views.duplicates_json)
    r.add_get("/desk/queues/{name}", views.queue_page)
    r.add_get("/desk/unit", views.unit_page)
    r.add_get("/desk/cases/{ref}", views.case_page)
    r.add_post("/desk/cases/{ref}/{action}", views.case_action)
    r.add_get("/desk/media/{photo_id}", views.photo)
    r.add_get("/desk/admin/calendar", calendar.years_page)
    r.add_get("/desk/admin/calendar/{year}", calendar.year_page)
    r.add_post("/desk/admin/calendar/{year}", calendar.year_post)
    admin.setup_routes(app)
    station.setup_routes(app)
    r.add_static("/desk/static", HERE / "static", append_version=True)


async def _to_home(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther(location="/desk/")
