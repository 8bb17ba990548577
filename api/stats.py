"""Boards, hotspot charts and headline statistics: JSON, PNG and the pages (public, read-only:
counts and serial numbers only, nothing personal)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from cachetools import LRUCache

from api import security
from api.auth import actor_of, require
from api.desk.i18n import CATALOG, t
from api.desk.views import render
from api.errors import read_json
from api.keys import CLOCK, DB, SETTINGS
from api.language import lang_of, request_locale
from cases import visibility
from cases.model import Actor
from gridlink import background
from gridlink.errors import InvalidInput
from staff import audit
from stats import assessment as assess
from stats import board as board_mod
from stats import early_warning as ew
from stats import geo
from stats import hotspots as hs
from stats import trends as tr
from stats.charts import DEFAULT_SIZE, HEIGHTS, WIDTHS, bar_chart_png, line_chart_png
from stats.rollups import View, fold_waiting, folding_in_background, fresh, upgrade
from stats.units import directory

STATIC = Path(__file__).parent / "static"
PNG_CACHE: LRUCache[tuple[object, ...], bytes] = LRUCache(maxsize=128)
FOLD_INTERVAL_S = 1.0
FOLD_SHARE = 0.1  # of the wall time, at most, that the background folder spends folding
FOLD_MAX_PAUSE_S = 10.0  # however long a round took (a catch-up after an outage)
log = logging.getLogger(__name__)
PREFIX = "/api/v1/stats"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _json(body: object) -> web.Response:
    return web.json_response(body, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))


def _tz(request: web.Request) -> ZoneInfo:
    return ZoneInfo(request.app[SETTINGS].timezone)


def _day(value: str | None, field: str, default: date) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field} must be a date YYYY-MM-DD", field=field) from None


def _int(value: str | None, field: str, default: int, lo: int, hi: int) -> int:
    if value is None or value == "":
        return default
    try:
        n = int(value)
    except ValueError:
        raise InvalidInput(f"{field} must be an integer", field=field) from None
    if not lo <= n <= hi:
        raise InvalidInput(f"{field} must be between {lo} and {hi}", field=field)
    return n


async def board(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    q = request.query
    body = await board_mod.board(request.app[DB], unit=q.get("unit") or None,
                                 now=request.app[CLOCK].now(), tz=_tz(request),
                                 district=settings.district_code,
                                 offset=_int(q.get("offset"), "offset", 0, 0, 1_000_000),
                                 limit=_int(q.get("limit"), "limit", 100, 1, 500))
    label = tr.labeller(await directory(request.app[DB], district=settings.district_code), _lang(request))
    return _json(named(body, label))


def named(body: dict[str, Any], label: Any) -> dict[str, Any]:
    """The board's units in the negotiated language, and its cases' category and block by name
    beside their codes (people read names; the codes stay for links and exports)."""
    body["name"] = label("unit", body["unit"])
    for rows in (body.get("sections") or {}).values():
        for row in rows:
            row["name"] = label("unit", row["unit"])
    for case in body.get("cases") or ():
        case["category_name"] = label("category", case.get("category") or "")
        if case.get("block"):
            case["block_name"] = label("unit", case["block"])
    return body


async def _hotspot_rows(request: web.Request) -> tuple[str, list[dict[str, Any]], date, date, View]:
    q = request.query
    today = request.app[CLOCK].now().astimezone(_tz(request)).date()
    end = _day(q.get("to"), "to", today)
    start = _day(q.get("from"), "from", end.replace(day=1))
    by = q.get("by", "street")
    view = await fresh(request.app[DB], now=request.app[CLOCK].now())
    rows = await hs.hotspots(request.app[DB], by=by, start=start, end=end, today=today,
                             category=q.get("category") or None, channel=q.get("channel") or None,
                             street=q.get("street") or None, measure=q.get("measure", "n"),
                             limit=_int(q.get("limit"), "limit", 30, 1, 200), view=view)
    d = await directory(request.app[DB], district=request.app[SETTINGS].district_code)
    label = tr.labeller(d, _lang(request))  # names in the negotiated language
    for row in rows:
        row["name"] = label(by, str(row["key"]))
    return by, rows, start, end, view


async def hotspots(request: web.Request) -> web.Response:
    by, rows, start, end, view = await _hotspot_rows(request)
    return _json({"by": by, "from": start.isoformat(), "to": end.isoformat(),
                  "measure": request.query.get("measure", "n"), "rows": rows, **view.stamp()})


def _size(value: str | None, field: str, default: int, allowed: tuple[int, ...]) -> int:
    if value is None or value == "":
        return default
    if not (value.isascii() and value.isdigit()) or int(value) not in allowed:
        raise InvalidInput(f"{field} must be one of {', '.join(map(str, allowed))}",
                           field=field, allowed=list(allowed))
    return int(value)


async def hotspots_png(request: web.Request) -> web.Response:
    width = _size(request.query.get("width"), "width", DEFAULT_SIZE[0], WIDTHS)
    height = _size(request.query.get("height"), "height", DEFAULT_SIZE[1], HEIGHTS)
    by, rows, start, end, view = await _hotspot_rows(request)
    locale = "en" if _lang(request) == "en" else "zh-CN"
    by_name = t(f"hotspots.png.by.{by}", locale) if f"hotspots.png.by.{by}" in CATALOG else by
    title = t("hotspots.png.title", locale, by=by_name, start=f"{start:%Y-%m-%d}", end=f"{end:%Y-%m-%d}")
    bars = tuple((str(r["name"]), int(r["value"])) for r in rows)
    # Rendering (~30 ms of matplotlib) dominates; the rows are read fresh every time and the
    # picture is reused while they are the same.
    key = (bars, title, width, height)
    png = PNG_CACHE.get(key)
    if png is None:
        png = await asyncio.to_thread(bar_chart_png, list(bars), title=title, width=width, height=height)
        PNG_CACHE[key] = png
    as_of = view.stamp()
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "public, max-age=60",
                                 "X-Stats-As-Of": str(as_of["as_of"]),
                                 "X-Stats-Pending": str(as_of["pending"])})


def _lang(request: web.Request) -> str:
    """`lang=zh|en` (checked), else the one negotiator's choice (api.language)."""
    asked = request.query.get("lang")
    if asked and asked not in ("zh", "en"):
        raise InvalidInput("lang must be zh or en", field="lang")
    return lang_of(request_locale(request))


DEFAULT_SPAN = {"day": 29, "week": 7 * 26 - 1, "month": 365}


def _codes(request: web.Request, field: str) -> frozenset[str]:
    # Repeated parameters and comma-separated lists alike (a multi-select sends either).
    return tr.codes(",".join(request.query.getall(field, [])), field)


def _trend_query(request: web.Request) -> tuple[tr.Query, list[str]]:
    q = request.query
    today = request.app[CLOCK].now().astimezone(_tz(request)).date()
    grain = q.get("grain", "day")
    if grain not in tr.GRAINS:
        raise InvalidInput(f"grain must be one of {', '.join(tr.GRAINS)}", field="grain")
    end = _day(q.get("to"), "to", today)
    start = _day(q.get("from"), "from", end - timedelta(days=DEFAULT_SPAN[grain]))
    filters = tr.Filters(streets=_codes(request, "street"), stations=_codes(request, "station"),
                         blocks=_codes(request, "block"), categories=_codes(request, "category"),
                         channels=_codes(request, "channel"), departments=_codes(request, "department"))
    compare = [c for c in (q.get("compare", ",".join(tr.COMPARE))).split(",") if c]
    bad = [c for c in compare if c not in tr.COMPARE]
    if bad:
        raise InvalidInput(f"compare must be among {', '.join(tr.COMPARE)}", field="compare")
    return tr.Query(start, end, grain, q.get("by", "total"), filters), compare


async def _trend_body(request: web.Request) -> tuple[dict[str, Any], View]:
    query, compare = _trend_query(request)
    db = request.app[DB]
    view = await fresh(db, now=request.app[CLOCK].now())
    d = await directory(db, district=request.app[SETTINGS].district_code)
    body = await tr.trends(db, query, directory=d, view=view, compare=compare, lang=_lang(request))
    return body, view


async def trends(request: web.Request) -> web.Response:
    body, view = await _trend_body(request)
    return _json({**body, **view.stamp()})


async def trends_png(request: web.Request) -> web.Response:
    width = _size(request.query.get("width"), "width", DEFAULT_SIZE[0], WIDTHS)
    height = _size(request.query.get("height"), "height", DEFAULT_SIZE[1], HEIGHTS)
    body, view = await _trend_body(request)
    png = await trend_png(body, width=width, height=height)
    as_of = view.stamp()
    return web.Response(body=png, content_type="image/png",
                        headers={"Cache-Control": "public, max-age=60",
                                 "X-Stats-As-Of": str(as_of["as_of"]),
                                 "X-Stats-Pending": str(as_of["pending"])})


async def trend_png(body: dict[str, Any], *, width: int = DEFAULT_SIZE[0],
                    height: int = DEFAULT_SIZE[1]) -> bytes:
    """The PNG of a trend answer (`stats.trends.trends`), in its language; cached by content."""
    title, lines, compare = tr.chart_parts(body)
    key = ("trend", title, tuple(body["buckets"]), tuple((n, tuple(d)) for n, d in lines),
           tuple((n, tuple(d)) for n, d in compare), width, height)
    png = PNG_CACHE.get(key)
    if png is None:
        png = await asyncio.to_thread(line_chart_png, list(body["buckets"]), lines, title=title,
                                      compare=compare, width=width, height=height)
        PNG_CACHE[key] = png
    return png


async def trend_options(request: web.Request) -> web.Response:
    street = request.query.get("street") or None
    if street is not None:
        tr.codes(street, "street")
    d = await directory(request.app[DB], district=request.app[SETTINGS].district_code)
    return _json(tr.options(d, lang=_lang(request), street=street))


def _alert_visible(actor: Actor, alert: dict[str, Any], d: Any, district: str) -> bool:
    """Staff see the alerts of their area (cases.visibility's roles): the district center all,
    a street center its street's, a station head its blocks', a block leader its block's, a
    department the alerts of the categories it handles."""
    if visibility.is_district_center(actor, district):
        return True
    unit = actor.unit or ""
    if actor.role == "department":
        from cases.categories import DEFAULT_CATEGORIES

        return any(c.code == alert["category"] and c.department == unit for c in DEFAULT_CATEGORIES)
    return unit in (alert["street"], alert["place"]) or d.parent.get(alert["place"]) == unit


async def alerts(request: web.Request) -> web.Response:
    """Early-warning episodes (staff, scoped to the caller's area): the newest first."""
    principal = await require(request)
    actor = actor_of(principal)
    settings = request.app[SETTINGS]
    today = request.app[CLOCK].now().astimezone(_tz(request)).date()
    since = _day(request.query.get("since"), "since", today - timedelta(days=30))
    d = await directory(request.app[DB], district=settings.district_code)
    found = await ew.alerts(request.app[DB], since=since, open_only=request.query.get("open") == "1",
                            limit=_int(request.query.get("limit"), "limit", 200, 1, 1000))
    lang = _lang(request)
    label = tr.labeller(d, lang)
    names = d.name_en if lang == "en" else d.name
    rows = [{"id": a["_id"], "level": a["level"], "street": a["street"], "place": a["place"],
             "place_name": names.get(a["place"], a["place"]), "category": a["category"],
             "category_name": label("category", a["category"]), "window_days": a["window"],
             "opened": a["opened_day"], "last": a["last_day"], "open": a["open"],
             "observed": a["observed"], "expected": a["expected"], "upper": a["upper"],
             "peak": a.get("peak", a["observed"]),
             "board": f"/board?unit={a['place']}"}
            for a in found if _alert_visible(actor, a, d, settings.district_code)]
    return _json({"since": since.isoformat(), "alerts": rows})


async def headline(request: web.Request) -> web.Response:
    today = request.app[CLOCK].now().astimezone(_tz(request)).date()
    end = _day(request.query.get("to"), "to", today)
    start = _day(request.query.get("from"), "from", end.replace(month=1, day=1))
    view = await fresh(request.app[DB], now=request.app[CLOCK].now())
    body = await hs.headline(request.app[DB], start=start, end=end, today=today, view=view)
    return _json({**body, **view.stamp()})


async def assessment(request: web.Request) -> web.Response:
    return _json(await _assessment(request))


def _export_name(result: dict[str, Any], ext: str) -> str:
    return f'attachment; filename="assessment-{result["period"]}-{result["unit"]}-{result["lang"]}.{ext}"'


async def assessment_csv(request: web.Request) -> web.Response:
    result = await _assessment(request)
    body = "\ufeff" + assess.to_csv(result, result["lang"])  # a BOM: spreadsheets read UTF-8
    return web.Response(text=body, content_type="text/csv", charset="utf-8", headers={
        "Content-Disposition": _export_name(result, "csv"), "Content-Language": _content_language(result)})


async def assessment_xlsx(request: web.Request) -> web.Response:
    result = await _assessment(request)
    body = await asyncio.to_thread(assess.to_xlsx, result, result["lang"])
    return web.Response(body=body, content_type=XLSX, headers={
        "Content-Disposition": _export_name(result, "xlsx"), "Content-Language": _content_language(result)})


def _content_language(result: dict[str, Any]) -> str:
    return "en" if result["lang"] == "en" else "zh-CN"


async def _assessment(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    now = request.app[CLOCK].now()
    q = request.query
    period = assess.period_for(period=q.get("period"), month=q.get("month"), quarter=q.get("quarter"),
                               year=q.get("year"), now=now, tz=_tz(request))
    return await assess.assessment(request.app[DB], period=period, unit=q.get("unit") or None,
                                   now=now, tz=_tz(request), district=settings.district_code,
                                   lang=_lang(request))


async def assessment_weights(request: web.Request) -> web.Response:
    """The weights per level in force, their defaults and who changed them last (public: the
    assessment page shows them beside the scores)."""
    return _json(await assess.weights_doc(request.app[DB]))


async def put_assessment_weights(request: web.Request) -> web.Response:
    """Admin: set the weights of some levels (`{"streets": {"handling_rate": 0.5, …}}`, each
    level's weights ≥ 0 and summing to 1; `null` restores a level's defaults)."""
    principal = await require(request, "admin")
    body = await read_json(request)
    given = body.get("weights", body)
    who, now = principal.name or principal.role, request.app[CLOCK].now()
    await assess.save_weights(request.app[DB], given, by=who, now=now)
    await audit.record(request.app[DB], by=who, action="assessment.weights", now=now, tz=_tz(request),
                       target=", ".join(sorted(given) if isinstance(given, dict) else []),
                       detail={"weights": given})
    return _json(await assess.weights_doc(request.app[DB]))


async def street_map(request: web.Request) -> web.Response:
    district = request.app[SETTINGS].district_code
    body = await geo.street_map(request.app[DB], street=request.query.get("street") or None,
                                now=request.app[CLOCK].now(), district=district)
    # Names in the negotiated language (the codes stay beside them).
    label = tr.labeller(await directory(request.app[DB], district=district), _lang(request))
    body["name"] = label("unit", body["street"])
    for street in body["streets"]:
        street["name"] = label("unit", street["code"])
    for feature in body["blocks"]["features"]:
        feature["properties"]["name"] = label("unit", feature["properties"]["code"])
    return _json(body)


async def cjk_font(request: web.Request) -> web.FileResponse:
    """The CJK font the PNG charts use (from `mplfonts`), so pages show Chinese on machines
    without CJK system fonts, offline."""
    from stats.charts import cjk_font_path

    return web.FileResponse(cjk_font_path(), headers={"Cache-Control": "public, max-age=604800",
                                                      "Content-Type": "font/otf"})


# Public pages: their prefix of the catalog (api/desk/i18n.py), given to their script with the
# prefix dropped; these shared groups go along whole.
PAGE_WORDS = ("page.", "colour.", "action.")
# The app's one policy for public pages (ECharts' tooltips need inline styles; scripts from
# here only).
PAGE_CSP = security.CSP


def page_words(page: str, locale: str) -> dict[str, str]:
    """The words a page's script shows, in `locale`, from the one web catalog."""
    words = {}
    for key in CATALOG:
        if key.startswith(page + "."):
            words[key.removeprefix(page + ".")] = t(key, locale)
        elif key.startswith(PAGE_WORDS):
            words[key] = t(key, locale)
    return words


async def page_response(request: web.Request, page: str) -> web.Response:
    """A public page in the negotiated language, with the desk's layout (header, navigation,
    language switch, stylesheet): the same choice as the desk's, Open311's and the bot's for
    this request's header; it states it (`<html lang>`, Content-Language) and its script reads it."""
    locale = request_locale(request)
    # The language switch returns here without this address's own choice (which would win).
    query = [(k, v) for k, v in request.query.items() if k not in ("lang", "locale")]
    path = request.path + ("?" + urlencode(query) if query else "")
    ctx: dict[str, Any] = {"page": page, "words": page_words(page, locale), "path": path}
    if page == "assessment":
        ctx["units"] = await assessed_units(request, locale)
    response = await render(request, f"pages/{page}.html", ctx)
    response.headers.update({"Content-Language": locale, "Vary": "Accept-Language, Cookie",
                             "Content-Security-Policy": PAGE_CSP})
    return response


async def assessed_units(request: web.Request, locale: str) -> dict[str, Any]:
    """The units the assessment ranks, by name in `locale` (codes stay the values): the
    district, its line departments, and each street with its workstations and patrol zones."""
    district = request.app[SETTINGS].district_code
    d = await directory(request.app[DB], district=district)
    names = d.name_en if locale == "en" else d.name
    streets = [(names.get(s, s), [(s, names.get(s, s)), *(
        (c, "· " + names.get(c, c)) for c in sorted(d.children.get(s, []), key=lambda c: names.get(c, c))
        if d.level.get(c) in ("workstation", "patrol_zone"))]) for s in d.of_level("street")]
    return {"district": (district, names.get(district, district)),
            "groups": [(t("assessment.table.departments", locale),
                        sorted(((c, names.get(c, c)) for c in d.of_level("department")), key=lambda x: x[1])),
                       *sorted(streets)]}


def _page(name: str) -> web.RouteDef:
    async def handler(request: web.Request) -> web.Response:
        return await page_response(request, name)

    return web.get("/" + name, handler)


async def folder_ctx(app: web.Application) -> AsyncIterator[None]:
    """Fold the statistics log in the background every 1–10 s (stats.rollups.fold; one folder
    at a time across processes). Meanwhile this process's pages read the last folded version
    and state it (`as_of`, `pending`) instead of folding on the request path."""

    async def loop() -> None:
        upgraded = False
        pause = FOLD_INTERVAL_S
        while True:
            await asyncio.sleep(pause)
            pause = FOLD_INTERVAL_S
            try:
                if not upgraded:
                    # Pages need the unit directory: loaded here, not by the first visitors.
                    await directory(app[DB], district=app[SETTINGS].district_code)
                    summary = await upgrade(app[DB], now=app[CLOCK].now(),
                                            tz=ZoneInfo(app[SETTINGS].timezone), progress=log.info)
                    upgraded = True
                    if summary is not None:
                        log.info("statistics rebuilt in the current layout", extra=summary)
                started = time.monotonic()
                await fold_waiting(app[DB], now=app[CLOCK].now())
                # A round's cost follows the size of the open lists it rewrites more than the
                # number of changes: where they are long (a hotspot), rounds come less often, so
                # folding takes at most FOLD_SHARE of the time; boards state how fresh they are.
                took = time.monotonic() - started
                pause = min(FOLD_MAX_PAUSE_S, max(FOLD_INTERVAL_S, took * (1 - FOLD_SHARE) / FOLD_SHARE))
            except Exception:  # the database may be away; the next round retries
                log.warning("stats fold failed", exc_info=True)

    with folding_in_background(app[DB]):
        task = asyncio.create_task(loop())
        yield
        await background.stop(task)


def setup_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(folder_ctx)
    app.router.add_get(f"{PREFIX}/board", board)
    app.router.add_get(f"{PREFIX}/hotspots", hotspots)
    app.router.add_get(f"{PREFIX}/hotspots.png", hotspots_png)
    app.router.add_get(f"{PREFIX}/trends", trends)
    app.router.add_get(f"{PREFIX}/trends.png", trends_png)
    app.router.add_get(f"{PREFIX}/trends/options", trend_options)
    app.router.add_get(f"{PREFIX}/alerts", alerts)
    app.router.add_get(f"{PREFIX}/headline", headline)
    app.router.add_get(f"{PREFIX}/assessment", assessment)
    app.router.add_get(f"{PREFIX}/assessment.csv", assessment_csv)
    app.router.add_get(f"{PREFIX}/assessment.xlsx", assessment_xlsx)
    app.router.add_get(f"{PREFIX}/assessment/weights", assessment_weights)
    app.router.add_put(f"{PREFIX}/assessment/weights", put_assessment_weights)
    app.router.add_get(f"{PREFIX}/map", street_map)
    app.add_routes([_page(p) for p in ("board", "hotspots", "map", "assessment", "trends")])
    app.router.add_get("/static/fonts/cjk.otf", cjk_font)
    app.router.add_static("/static/stats", STATIC / "stats")
    app.router.add_static("/static/echarts", STATIC / "echarts")
