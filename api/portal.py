"""The public portal (大联动公开): look a case up by serial, rate it with the bot's code, and the
performance table of departments and streets. Nothing personal is ever returned."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.errors import parse
from api.keys import CLOCK, DB, SETTINGS
from api.language import lang_of, request_locale
from api.stats import _day, page_response
from cases import lifecycle, visibility
from cases import repository as cases_repo
from cases.model import RATINGS
from gridlink import appsecrets
from gridlink.errors import InvalidInput, PermissionDenied, WrongState
from stats import portal as portal_mod
from stats.units import directory

PREFIX = "/api/v1/portal"


def _json(body: object, status: int = 200) -> web.Response:
    return web.json_response(body, status=status,
                             dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


def _view(case: dict, request: web.Request) -> dict:
    # The portal is anonymous: the public view, or "not found" for a case that is not public.
    view = visibility.view(None, case, request.app[CLOCK].now())
    rating = case.get("rating") or {}
    # The score and its label are the public part of a rating; who gave it and any comment are not.
    view["rating"] = ({"score": rating.get("score"), "label": RATINGS[rating["score"]][0]}
                      if rating.get("score") in RATINGS else None)
    return view


async def _public_case(request: web.Request) -> dict:
    serial = request.match_info["serial"].strip().upper()
    if not 5 <= len(serial) <= 32:
        raise InvalidInput("not a serial number", field="serial")
    case = await cases_repo.get_case_by_serial(request.app[DB], serial=serial)
    visibility.require(None, case)  # CaseNotFound (404) unless anyone may see it
    return case


async def _named(view: dict, case: dict, request: web.Request) -> dict:
    """The handling unit by its name in the negotiated language (the case stores one name, in
    Chinese, or none), the stored name where the directory has none (a team)."""
    code = (case.get("assignee") or {}).get("unit")
    if view.get("handling_unit") and code:
        d = await directory(request.app[DB], district=request.app[SETTINGS].district_code)
        names = d.name_en if lang_of(request_locale(request)) == "en" else d.name
        view["handling_unit"]["name"] = names.get(code) or view["handling_unit"]["name"] or code
    return view


async def lookup(request: web.Request) -> web.Response:
    case = await _public_case(request)
    return _json(await _named(_view(case, request), case, request))


class RatingBody(BaseModel):
    """A rating on the portal, with the code the bot sent the reporter (no example: a code is
    made for one case)."""

    model_config = ConfigDict(extra="forbid")
    code: str = Field(min_length=4, max_length=32)
    score: int = Field(ge=1, le=5, description="1 差 … 5 满意")
    comment: str | None = Field(None, max_length=1000)


async def rate(request: web.Request) -> web.Response:
    case = await _public_case(request)
    body = await parse(request, RatingBody)
    code, score, comment = body.code, body.score, body.comment
    key = await appsecrets.rating_code_key(request.app[DB], request.app[SETTINGS])
    if not portal_mod.check_code(case["_id"], key, code):
        raise PermissionDenied("the rating code does not match this case; use the code the bot sent you")
    reporter = case.get("reporter") or {}
    if reporter.get("user_id") is None:
        raise WrongState("this case is rated on the callback phone call, not on the portal")
    actor = {"role": "citizen", "user_id": reporter["user_id"], "chat_id": reporter.get("chat_id"),
             "name": "portal"}
    new = await lifecycle.rate(request.app[DB], case_ref=case["_id"], actor=actor,
                               now=request.app[CLOCK].now(), score=score,
                               comment=comment)
    return _json(await _named(_view(new, request), new, request))


async def performance(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    today = request.app[CLOCK].now().astimezone(ZoneInfo(settings.timezone)).date()
    end = _day(request.query.get("to"), "to", today)
    start = _day(request.query.get("from"), "from", date(end.year, 1, 1))
    tables = await portal_mod.performance(request.app[DB], start=start, end=end, today=today,
                                          district=settings.district_code,
                                          now=request.app[CLOCK].now())
    d = await directory(request.app[DB], district=settings.district_code)
    names = d.name_en if lang_of(request_locale(request)) == "en" else d.name
    for rows in tables.values():
        for row in rows:
            row["name"] = names.get(row["unit"]) or row["name"]
    return _json({"from": start.isoformat(), "to": end.isoformat(), **tables})


async def page(request: web.Request) -> web.Response:
    return await page_response(request, "portal")  # in the negotiated language, like every page


def setup_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/cases/{{serial}}", lookup)
    app.router.add_post(f"{PREFIX}/cases/{{serial}}/rating", rate)
    app.router.add_get(f"{PREFIX}/performance", performance)
    app.router.add_get("/portal", page)
