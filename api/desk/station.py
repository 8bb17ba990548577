"""The station head's page (/desk/station, 工作站站长): their blocks by name, each with its open
cases by colour, its leader and coordinators bound (the roster) and the cases waiting longest,
beside the station's totals.

Read-only: the counts and the waiting cases come from the board's rollups (`stats.station`), the
cases named are read by `_id` and shown only as `cases.visibility` lets this user see them, and
their page offers a station head no center transition (`cases.workflow`: center rows need a
dispatcher). An admin may open any station's page with `?unit=`.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.desk.i18n import t
from api.desk.session import actor, locale, need
from api.desk.views import STAFF_AUDIENCES, page, render
from api.keys import CLOCK, DB, SETTINGS
from cases import repository as cases_repo
from cases import visibility
from cases.model import OPEN_STATES
from gridlink.db import Document
from gridlink.errors import InvalidInput
from stats.station import station_blocks


@page
async def station_page(request: web.Request) -> web.StreamResponse:
    session = await need(request, "station_head")
    db, now, settings = request.app[DB], request.app[CLOCK].now(), request.app[SETTINGS]
    loc, who = locale(request), actor(session)
    unit = session.account.unit
    if session.account.role == "admin":
        unit = request.query.get("unit", "").strip()[:40]
        if not unit:
            raise InvalidInput(t("station.need_unit", loc))
    found = await station_blocks(db, unit=unit, now=now, tz=settings.tz,
                                 district=settings.district_code)
    blocks = found["blocks"]
    ids = [w["case_id"] for b in blocks for w in b["waiting"]]
    docs: list[Document] = await cases_repo.find_cases(
        db, query={"_id": {"$in": ids}}, limit=len(ids), now=now) if ids else []
    # Only open cases this user may open (one may have moved or closed since the last fold).
    cases = {str(d["_id"]): visibility.list_item(d, now, seen_as=seen) for d in docs
             if d.get("state") in OPEN_STATES
             and (seen := visibility.audience(who, d)) in STAFF_AUDIENCES}
    for block in blocks:
        block["cases"] = [cases[w["case_id"]] for w in block["waiting"] if w["case_id"] in cases]
    name = found["name_en"] if loc == "en" else found["name"]
    ctx: dict[str, Any] = {"station": found, "station_name": name, "blocks": blocks,
                           "block_name": lambda b: b["name_en"] if loc == "en" else b["name"]}
    return await render(request, "station.html", ctx)


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/desk/station", station_page)
