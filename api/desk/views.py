"""Desk pages: sign-in, intake, queues, the case page, the unit view, and their POST actions.

Handlers parse the form, call cases' domain functions exactly as api/cases.py does, and render
a template. Domain refusals become pages (403 for permissions, the case page with a banner for
a stale version or a state that no longer allows the action), never JSON.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from functools import wraps
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from pymongo.errors import PyMongoError

from api.desk import forms
from api.desk import repository as desk_repo
from api.desk.i18n import CATALOG, LOCALE_COOKIE, LOCALES, t
from api.desk.mapsvg import DistrictMap, build_map
from api.desk.session import (
    PRESESSION_COOKIE,
    SESSION_COOKIE,
    DeskForbidden,
    actor,
    current,
    locale,
    need,
    presession_token,
    read_form,
    safe_next,
    set_cookie,
)
from api.errors import status_for
from api.keys import CLOCK, DB, DESK_JINJA, GRID_INDEX, PHOTO_WORKERS, SETTINGS
from api.ratelimit import signin_throttle
from cases import autodispatch, joint, lifecycle, refusals, visibility, workflow
from cases import repository as cases_repo
from cases.colour import colour_of, part_colour, unit_colour
from cases.duplicates import WINDOW, bounding_box, rank_duplicates
from cases.errors import NotYourCase, StaleCase
from cases.intake import intake as take_case
from cases.model import (
    CENTER_ROLES,
    CHANNELS,
    FINAL_STATES,
    HANDLER_ROLES,
    KINDS,
    Actor,
    CasePolicy,
)
from gridlink.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    RateLimited,
    WrongState,
)
from grids import repository as grids_repo
from grids.errors import BadCoordinates, OutsideDistrict
from media import service as media_service
from staff import service as staff_service
from staff.errors import AccountLocked, NotAuthenticated
from staff.model import Session, SignInPolicy

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QUEUES = tuple(desk_repo.QUEUES)
# The channels a call taker types in (the others are the bots' and Open311's own doors).
DESK_CHANNELS = ("hotline_12345", "hotline_962000", "transfer_110", "mayor_mailbox",
                 "party_mailbox", "web_portal")
# The audiences the desk serves a case page to: staff who work it (a public case's public
# view is the portal's, not the desk's).
STAFF_AUDIENCES = ("admin", "center", "assignee")
_MAPS: dict[tuple[str, int | None], DistrictMap] = {}
_DEADLINES = web.RequestKey("desk_deadlines", dict)


# ---------------------------------------------------------------- rendering


def _policy(request: web.Request) -> CasePolicy:
    return CasePolicy.from_settings(request.app[SETTINGS])


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK].now()


def _duration(delta: timedelta, loc: str) -> str:
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(t("time.days", loc, n=days))
    if hours:
        parts.append(t("time.hours", loc, n=hours))
    if not days and (mins or not parts):
        parts.append(t("time.minutes", loc, n=mins))
    return " ".join(parts)


def _district(request: web.Request) -> str:
    return request.app[SETTINGS].district_code


def _is_center(session: Session) -> bool:
    return session.account.role in CENTER_ROLES


def _scope(request: web.Request, session: Session) -> dict[str, Any]:
    return visibility.scope(actor(session), district=_district(request))


async def _nav(request: web.Request, session: Session | None) -> dict[str, int]:
    if session is None:
        return {}
    a = session.account
    return await desk_repo.nav_counts(
        request.app[DB], unit=desk_repo.scope_unit(_scope(request, session), _district(request)),
        now=_now(request), center=_is_center(session), own_unit=a.unit if a.role != "admin" else None)


# From this day of the year on, a next year nobody entered is announced on the admin pages.
CALENDAR_WARN_FROM = (10, 1)


async def missing_next_year(db: Any, *, today: date) -> int | None:
    """Next year, when it is time to enter it (from 1 October) and nobody has."""
    if (today.month, today.day) < CALENDAR_WARN_FROM:
        return None
    year = today.year + 1
    return None if await db.calendar_years.find_one({"_id": year}, {"_id": 1}) else year


def _dt(value: datetime | str | None) -> datetime | None:
    """A time from a stored case (datetime) or from a case view (ISO 8601 text)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)


async def render(request: web.Request, template: str, context: dict[str, Any], *,
                 status: int = 200) -> web.Response:
    loc = locale(request)
    session = await current(request)
    settings = request.app[SETTINGS]
    tz = settings.tz
    now = _now(request)

    def tr(key: str, **kw: Any) -> str:
        return t(key, loc, **kw)

    def when(value: datetime | str | None) -> str:
        at = _dt(value)
        return at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if at else ""

    def left(due: datetime | str | None) -> str:
        at = _dt(due)
        return _duration(at - now, loc) if at else ""

    def overdue(due: datetime | str | None) -> bool:
        at = _dt(due)
        return bool(at and now > at)

    def colour(case: dict[str, Any]) -> str:
        return str(case["colour"]) if "colour" in case else colour_of(case, now)

    def name_of(value: dict[str, Any] | None) -> str:
        if not value:
            return ""
        return str(value.get("en" if loc == "en" else "zh") or value.get("zh") or "")

    reasons = await refusals.list_reasons(request.app[DB]) if session else []
    stored_reasons = {d["_id"]: d for d in reasons}
    base = {
        "t": tr, "locale": loc, "other_locale": "en" if loc == "zh-CN" else "zh-CN",
        "locales": LOCALES,
        "session": session, "account": session.account if session else None,
        "csrf": session.csrf if session else context.get("csrf", ""),
        "nav": await _nav(request, session), "queues": QUEUES, "now": now, "when": when,
        "count": desk_repo.count_label, "unit_label": lambda code: unit_label(request, code, loc),
        "left": left, "overdue": overdue, "colour": colour,
        "name_of": name_of, "local_field": lambda v: forms.to_local_field(_dt(v), tz),
        "path": request.path_qs, "is_center": bool(session and _is_center(session)),
        # the reasons offered now, in the desk's language; any stored one (retired too) by code
        "refusal_reasons": [(d["_id"], name_of(d)) for d in reasons if d.get("active", True)],
        "refusal_words": lambda refusal, code=None: name_of(stored_reasons[code]) if (
            not refusal and code in stored_reasons) else refusals.words_of(
                refusal, code, "en" if loc == "en" else "zh"),
        "calendar_missing": await missing_next_year(request.app[DB], today=now.astimezone(tz).date())
        if session and session.account.role == "admin" else None,
    }
    response = aiohttp_jinja2.render_template(template, request, {**base, **context},
                                              app_key=DESK_JINJA, status=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; form-action 'self'")
    return response


def page(handler: Handler) -> Handler:
    """Domain errors become an HTML page with the matching status (403, 404, 409, 400...)."""
    @wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except DomainError as exc:
            status = status_for(exc)
            key = {403: "error.403", 404: "error.404"}.get(status)
            if exc.code == "csrf_failed":
                key = "error.csrf"
            if status == 401:
                raise web.HTTPSeeOther(location="/desk/signin") from None
            return await render(request, "error.html", {
                "message": t(key, locale(request)) if key else exc.message,
                "detail": exc.message, "status": status}, status=status)
    return wrapped


# ---------------------------------------------------------------- sign-in


@page
async def home(request: web.Request) -> web.StreamResponse:
    session = await need(request)
    if _is_center(session):
        raise web.HTTPSeeOther(location="/desk/queues/new")
    if session.account.role == "station_head":
        raise web.HTTPSeeOther(location="/desk/station")
    raise web.HTTPSeeOther(location="/desk/unit")


async def signin_page(request: web.Request, *, message: str = "", status: int = 200,
                      username: str = "") -> web.Response:
    token = presession_token(request)
    response = await render(request, "signin.html", {
        "csrf": token, "message": message, "username": username,
        "next": safe_next(request.query.get("next"), "/desk/")}, status=status)
    set_cookie(request, response, PRESESSION_COOKIE, token)
    return response


async def signin_get(request: web.Request) -> web.StreamResponse:
    msg = t("signin.signed_out", locale(request)) if "out" in request.query else ""
    return await signin_page(request, message=msg)


@page
async def signin_post(request: web.Request) -> web.StreamResponse:
    # Counted here, once per attempt (not in the rate-limit middleware), so past the budget
    # the person at the desk gets the sign-in page with a message, not a JSON error.
    try:
        await signin_throttle(request)
    except RateLimited as exc:
        wait = max(1, int(exc.retry_after + 0.999))
        response = await signin_page(request, status=429, message=t(
            "signin.throttled", locale(request), minutes=-(-wait // 60)))
        response.headers["Retry-After"] = str(wait)
        return response
    form = await read_form(request, None)
    username = forms.text(form, "username", limit=80) or ""
    password = form.get("password")
    password = password if isinstance(password, str) else ""
    loc = locale(request)
    try:
        session = await staff_service.sign_in(
            request.app[DB], username=username, password=password, now=_now(request),
            policy=SignInPolicy.from_settings(request.app[SETTINGS]))
    except AccountLocked as exc:
        until = datetime.fromisoformat(str(exc.details["until"])).astimezone(request.app[SETTINGS].tz)
        return await signin_page(request, message=t("signin.locked", loc, until=f"{until:%H:%M}"),
                                 status=403, username=username)
    except NotAuthenticated:
        return await signin_page(request, message=t("signin.bad", loc), status=401,
                                 username=username)
    response = web.HTTPSeeOther(location=safe_next(forms.text(form, "next"), "/desk/"))
    set_cookie(request, response, SESSION_COOKIE, session.raw_id,
               max_age=int(request.app[SETTINGS].desk_session_hours * 3600))
    response.del_cookie(PRESESSION_COOKIE, path="/desk")
    raise response


@page
async def signout(request: web.Request) -> web.StreamResponse:
    session = await need(request)
    await read_form(request, session)
    await staff_service.sign_out(request.app[DB], raw_id=session.raw_id)
    response = web.HTTPSeeOther(location="/desk/signin?out=1")
    response.del_cookie(SESSION_COOKIE, path="/desk")
    raise response


async def set_locale(request: web.Request) -> web.StreamResponse:
    chosen = request.query.get("to")
    response = web.HTTPSeeOther(location=safe_next(request.query.get("next"), "/desk/"))
    if chosen in LOCALES:
        set_cookie(request, response, LOCALE_COOKIE, chosen, max_age=365 * 86400)
    raise response


# ---------------------------------------------------------------- map and placement


async def district_map(request: web.Request) -> DistrictMap | None:
    live = request.app[GRID_INDEX]
    db = request.app[DB]
    try:
        await live.refresh(db)
    except PyMongoError:
        pass
    if live.version is None:
        return None
    key: tuple[str, int | None] = (db.name, live.version)
    if key not in _MAPS:
        version, units = await grids_repo.load_units(db, geometry=True)
        # one grid version a database (a process serving two, as bench/scale.py does, kept
        # rebuilding each one's map: ~0.3 s a case page)
        for stale in [k for k in _MAPS if k[0] == db.name]:
            del _MAPS[stale]
        _MAPS[(db.name, version)] = build_map(units, version=version)
        key = (db.name, version)
    return _MAPS[key]


def _names(request: web.Request, placement: dict[str, Any], loc: str) -> list[str]:
    live = request.app[GRID_INDEX]
    out = []
    for field in ("street", "workstation", "community_block", "street_block"):
        code = placement.get(field)
        found = live.index.unit_name(code) if code else None
        if code and found:
            out.append(found[1] if loc == "en" and found[1] else found[0])
    return out


def unit_label(request: web.Request, code: str, loc: str) -> str:
    """A unit's name in `loc` (its code where the grid has none): headers show names, not codes."""
    found = request.app[GRID_INDEX].index.unit_name(code)
    return (found[1] if loc == "en" and found[1] else found[0]) if found else code


async def place_json(request: web.Request) -> web.Response:
    """Live placement of a clicked point (the intake map), JSON for the page's script."""
    await need(request)
    q = request.query
    if "lon" not in q or "lat" not in q:
        raise BadCoordinates("lon and lat are both required")
    try:
        lon, lat = float(q["lon"]), float(q["lat"])
    except ValueError:
        raise BadCoordinates("lon and lat must be numbers") from None
    live = request.app[GRID_INDEX]
    try:
        await live.refresh(request.app[DB])
    except PyMongoError:
        pass
    placement = live.place(lon, lat).to_dict()
    loc = locale(request)
    names = _names(request, placement, loc)
    return web.json_response({"placement": placement, "names": names,
                              "label": t("intake.placed", loc, names=" / ".join(names))})


async def _suggest(request: web.Request, session: Session, *, lon: float, lat: float,
                   category: str) -> list[dict[str, Any]]:
    """cases' duplicate suggestion for a report not saved yet (the same query intake runs)."""
    db = request.app[DB]
    candidates = await cases_repo.nearby_open_cases(
        db, category=category, box=bounding_box(lon, lat), since=_now(request) - WINDOW,
        exclude_states=FINAL_STATES)
    found = rank_duplicates(lon=lon, lat=lat, phashes=[], candidates=candidates)
    return await _describe(request, session, found)


async def _describe(request: web.Request, session: Session,
                    found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The suggested duplicates this user may open (a street center sees its own street's)."""
    loc, who = locale(request), actor(session)
    out = []
    for dup in found:
        try:
            case = await cases_repo.get_case(request.app[DB], ref=dup["case_id"])
        except NotFound:
            continue
        if visibility.audience(who, case) not in STAFF_AUDIENCES:
            continue
        out.append({**dup, "description": (case.get("description") or "")[:120],
                    "state": t(f"state.{case['state']}", loc),
                    "merge_label": t("intake.merge_into", loc, serial=case["serial"])})
        if len(out) == 10:
            break
    return out


async def duplicates_json(request: web.Request) -> web.Response:
    session = await need(request, *CENTER_ROLES)
    q = request.query
    try:
        lon, lat = float(q["lon"]), float(q["lat"])
    except (KeyError, ValueError):
        raise BadCoordinates("lon and lat must be numbers") from None
    category = forms.category_code(q.get("category"))
    if not category:
        return web.json_response({"duplicates": []})
    return web.json_response({"duplicates": await _suggest(request, session, lon=lon, lat=lat,
                                                           category=category)})


# ---------------------------------------------------------------- intake


async def _intake_context(request: web.Request, values: dict[str, Any]) -> dict[str, Any]:
    categories = await cases_repo.list_categories(request.app[DB], include_inactive=False)
    return {"categories": categories, "channels": DESK_CHANNELS, "kinds": KINDS,
            "reporter_locale": request.app[SETTINGS].default_locale,
            "map": await district_map(request), "values": values,
            "intake_key": values.get("intake_key") or secrets.token_urlsafe(16)}


@page
async def intake_get(request: web.Request) -> web.StreamResponse:
    await need(request, *CENTER_ROLES)
    return await render(request, "intake.html", await _intake_context(request, {}))


def _reporter(form: MultiDictProxy[Any]) -> dict[str, str]:
    """The caller as the form gives them, with the language the center answers them in."""
    chosen = forms.text(form, "reporter_locale", limit=10)
    if chosen is not None and chosen not in LOCALES:
        raise InvalidInput(f"reporter_locale must be one of {', '.join(LOCALES)}",
                           field="reporter_locale")
    fields = (("name", forms.text(form, "caller_name", limit=100)),
              ("phone", forms.text(form, "caller_phone", limit=40)), ("locale", chosen))
    return {k: v for k, v in fields if v}


@page
async def intake_post(request: web.Request) -> web.StreamResponse:
    session = await need(request, *CENTER_ROLES)
    form = await read_form(request, session)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    loc, who, db, now = locale(request), actor(session), request.app[DB], _now(request)
    try:
        channel = forms.text(form, "channel") or "hotline_12345"
        if channel not in CHANNELS:
            raise InvalidInput(f"unknown channel {channel!r}", field="channel")
        category = forms.category_code(forms.text(form, "category", limit=200))
        if not category:
            raise InvalidInput("choose a category", field="category")
        description = forms.text(form, "description") or ""
        address = forms.text(form, "address", limit=300)
        if address:
            description = f"{description}\n[{t('intake.address', loc)}] {address}".strip()
        lon, lat = forms.number(form, "lon"), forms.number(form, "lat")
        location = {"lon": lon, "lat": lat} if lon is not None and lat is not None else None
        reporter = _reporter(form)
        photos = await _uploads(request, session, form)
        result = await take_case(
            db, policy=_policy(request), now=now, channel=channel,
            kind=forms.text(form, "kind") or "complaint", category=category,
            description=description, actor=who, reporter=reporter or None, location=location,
            photos=photos, grid=request.app[GRID_INDEX],
            idempotency_key=f"desk:{forms.text(form, 'intake_key', limit=100) or secrets.token_hex(8)}")
    except (InvalidInput, OutsideDistrict) as exc:
        ctx = await _intake_context(request, values)
        ctx["error"] = t("intake.outside", loc) if isinstance(exc, OutsideDistrict) else exc.message
        return await render(request, "intake.html", ctx, status=400)
    case, merged_into = result.case, None
    into = forms.text(form, "merge_into", limit=60)
    if into and workflow.may(who, case, "merge"):
        case, merged_into = await lifecycle.merge(db, duplicate_ref=case["_id"], into_ref=into,
                                                  actor=who, now=now, expected_version=case["version"])
    elif case["state"] == "merged" and case.get("merged_into"):
        merged_into = await cases_repo.get_case(db, ref=case["merged_into"])
    # Only the serial and what the merge buttons need: the case may lie outside a street
    # center's area (it is the district's then), and the caller must hear its serial all the same.
    return await render(request, "saved.html", {
        "case": {"id": case["_id"], "serial": case["serial"], "version": case["version"]},
        "merged_serial": merged_into["serial"] if merged_into else None,
        "may_merge": workflow.may(who, case, "merge"),
        "duplicates": [] if merged_into else await _describe(request, session, result.duplicates)})


# ---------------------------------------------------------------- cases


async def _load_case(request: web.Request, session: Session) -> tuple[dict[str, Any], str]:
    """The case and how this user sees it (`cases.visibility`); 403 when the desk has
    nothing to show them."""
    case = await cases_repo.get_case(request.app[DB], ref=request.match_info["ref"])
    seen = visibility.require(actor(session), case)
    if seen not in STAFF_AUDIENCES:
        raise NotYourCase(f"case {case['serial']} is not your unit's", unit=session.account.unit)
    return case, seen


async def _proposed_deadline(request: web.Request, case: dict[str, Any]) -> datetime | None:
    """The deadline a dispatch now would get (the same for every case with the same limit,
    so a queue page computes each limit once)."""
    cache = request.setdefault(_DEADLINES, {})
    key = repr(sorted(case["limit"].items()))
    if key not in cache:
        try:
            cache[key] = await lifecycle.compute_deadline(request.app[DB], limit=case["limit"],
                                                          start=_now(request), policy=_policy(request))
        except DomainError:
            cache[key] = None  # e.g. the calendar does not cover the year: the dispatcher types one
    return cache[key]


async def _row(request: web.Request, who: Actor, case: dict[str, Any]) -> dict[str, Any] | None:
    """A queue row or the case page: the case as this user may see it, and the workflow's
    actions for them (None: not theirs to see)."""
    seen = visibility.audience(who, case)
    if seen not in STAFF_AUDIENCES:
        return None
    acts = workflow.allowed_actions(who, case)
    if workflow.state_allows(case, "answer"):
        acts.append("answer")  # shown as "the reporter was asked", never a form
    row: dict[str, Any] = {"case": visibility.staff_view(case, _now(request), seen_as=seen),
                           "actions": acts}
    if "dispatch" in acts:
        row["proposed_deadline"] = await _proposed_deadline(request, case)
    return row


async def case_context(request: web.Request, session: Session, case: dict[str, Any]) -> dict[str, Any]:
    row = await _row(request, actor(session), case)
    if row is None:
        raise NotYourCase(f"case {case['serial']} is not your unit's", unit=session.account.unit)
    dmap = await district_map(request)
    placement = case.get("placement") or {}
    loc = case.get("location")
    map_svg = None
    if dmap is not None:
        map_svg = dmap.svg(block=placement.get("community_block"),
                           point=(loc["lon"], loc["lat"]) if loc else None,
                           svg_id="case-map", label=t("case.map", locale(request)))
    ctx = {**row, "map_svg": map_svg, "place_names": _names(request, placement, locale(request))}
    if "refile" in row["actions"]:  # the re-file form's category list
        ctx["categories"] = await cases_repo.list_categories(request.app[DB], include_inactive=False)
    if case.get("parts"):  # a joint case: each unit with its own state, deadline and colour
        ctx["joint"] = _joint_rows(case, _now(request))
    return ctx


def _joint_rows(case: dict[str, Any], now: datetime) -> list[dict[str, Any]]:
    lead = case.get("assignee") or {}
    rows = [{"unit": lead.get("unit"), "name": lead.get("name"), "lead": True,
             "state": "done" if case.get("waiting_parts") or case["state"] in (
                 "awaiting_verification", "closed") else case["state"],
             "due_at": None if case.get("waiting_parts") else case.get("deadline"),
             "colour": unit_colour(case, lead.get("unit") or "", now),
             "feedback": case.get("result")}] if lead else []
    for p in case.get("parts") or []:
        rows.append({"unit": p["unit"], "name": p.get("name"), "lead": False, "state": p["state"],
                     "due_at": p.get("due_at"), "colour": part_colour(p, now),
                     "feedback": p.get("feedback"), "returned": p.get("returned")})
    return rows


def _units(raw: str | None) -> list[str]:
    """A form's unit codes, separated by commas, spaces or 、 (as dispatchers type them)."""
    return [u for u in (raw or "").replace("、", ",").replace(" ", ",").split(",") if u]


def _notice(request: web.Request, ctx: dict[str, Any]) -> dict[str, Any]:
    done = request.query.get("done")
    if done in workflow.ACTIONS:
        # "a.refuse" is the extension decision's button; the case's refusal has its own words
        label = "a.refuse_case" if done == "refuse" else f"a.{done}"
        ctx["notice"] = t("done", locale(request), action=t(label, locale(request)))
    return ctx


@page
async def case_page(request: web.Request) -> web.StreamResponse:
    session = await need(request)
    case, _ = await _load_case(request, session)
    return await render(request, "case.html", _notice(request, await case_context(request, session, case)))


async def _uploads(request: web.Request, session: Session, form: MultiDictProxy[Any]) -> list[str]:
    """Store the form's photos (media checks and keeps them); the case takes them by id
    through intake or feedback, which check them and carry them."""
    ids = []
    for item in form.getall("photo", []):
        if isinstance(item, str) or not getattr(item, "filename", None):
            continue
        data = item.file.read()
        if not data:
            continue
        result = await media_service.ingest(
            request.app[DB], data=data, content_type=item.content_type, filename=item.filename,
            uploader=f"desk:{session.account.id}", settings=request.app[SETTINGS],
            now=_now(request), workers=request.app[PHOTO_WORKERS])
        ids.append(result.id)
    return ids


async def _perform(request: web.Request, session: Session, action: str, case: dict[str, Any],
                   form: MultiDictProxy[Any]) -> None:
    """The form's fields → the lifecycle's call for the action (which checks the workflow)."""
    db, now, policy, who = request.app[DB], _now(request), _policy(request), actor(session)
    ref, version, tz = case["_id"], forms.integer(form, "version"), request.app[SETTINGS].tz
    if action == "dispatch":
        deadline = forms.local_time(form, "deadline", tz)
        if forms.text(form, "deadline") == forms.text(form, "deadline_proposed"):
            deadline = None  # untouched: the domain computes it from the category's limit
        await lifecycle.dispatch(db, case_ref=ref, actor=who, now=now, policy=policy,
                                 unit=forms.text(form, "unit", limit=40), deadline=deadline,
                                 note=forms.text(form, "note", limit=1000), expected_version=version,
                                 assisting=_units(forms.text(form, "assisting", limit=400)))
    elif action == "accept":
        await lifecycle.accept(db, case_ref=ref, actor=who, now=now, expected_version=version)
    elif action == "return":
        await lifecycle.return_case(db, case_ref=ref, actor=who, now=now, policy=policy,
                                    reason=forms.text(form, "reason", limit=1000),
                                    expected_version=version)
    elif action == "extend":
        until = forms.local_time(form, "until", tz)
        await lifecycle.request_extension(
            db, case_ref=ref, actor=who, now=now, policy=policy,
            reason=forms.text(form, "reason", limit=1000), until=until,
            working_days=None if until else (forms.integer(form, "working_days") or 1),
            expected_version=version)
    elif action == "decide":
        await lifecycle.decide_extension(db, case_ref=ref, actor=who, now=now, policy=policy,
                                         approve=form.get("decision") == "approve",
                                         reason=forms.text(form, "reason", limit=1000),
                                         expected_version=version)
    elif action == "feedback":
        workflow.check_state(case, action)  # before storing photos for a form that cannot succeed
        await lifecycle.feedback(db, case_ref=ref, actor=who, now=now, policy=policy,
                                 text=forms.text(form, "text", limit=2000),
                                 photos=await _uploads(request, session, form),
                                 expected_version=version)
    elif action == "verify":
        await lifecycle.verify(db, case_ref=ref, actor=who, now=now, policy=policy,
                               ok=form.get("outcome") == "pass",
                               note=forms.text(form, "note", limit=1000),
                               callback=forms.text(form, "callback", limit=1000),
                               # the parts ticked (all are, until the dispatcher unticks some)
                               parts=form.getall("parts", []) if case.get("parts") else None,
                               expected_version=version)
    elif action == "supervise":
        await lifecycle.supervise(db, case_ref=ref, actor=who, now=now,
                                  note=forms.text(form, "note", limit=1000), expected_version=version)
    elif action == "merge":
        await lifecycle.merge(db, duplicate_ref=ref, into_ref=forms.text(form, "into", limit=60) or "",
                              actor=who, now=now, reason=forms.text(form, "reason", limit=1000),
                              expected_version=version)
    elif action == "take_back":
        await autodispatch.take_back(db, case_ref=ref, actor=who, now=now, policy=policy,
                                     reason=forms.text(form, "note", limit=1000),
                                     expected_version=version)
    elif action == "rate":
        await lifecycle.rate(db, case_ref=ref, actor=who, now=now,
                             score=forms.integer(form, "score") or 0,
                             comment=forms.text(form, "comment", limit=1000), expected_version=version)
    elif action in ("refuse", "void"):
        await lifecycle.refuse(db, case_ref=ref, actor=who, now=now, action=action,
                               reason_code=forms.text(form, "reason_code", limit=60) or "",
                               note=forms.text(form, "note", limit=1000), expected_version=version)
    elif action == "suspend":
        await lifecycle.suspend(db, case_ref=ref, actor=who, now=now,
                                reason=forms.text(form, "reason", limit=1000),
                                review_at=forms.local_time(form, "review_at", tz),
                                expected_version=version)
    elif action == "resume":
        await lifecycle.resume(db, case_ref=ref, actor=who, now=now, policy=policy,
                               note=forms.text(form, "note", limit=1000), expected_version=version)
    elif action == "direct_answer":
        await lifecycle.direct_answer(db, case_ref=ref, actor=who, now=now,
                                      text=forms.text(form, "text", limit=2000),
                                      expected_version=version)
    elif action == "refile":
        await lifecycle.refile(db, case_ref=ref, actor=who, now=now, policy=policy,
                               category=forms.category_code(forms.text(form, "category", limit=200)) or "",
                               reason=forms.text(form, "reason", limit=1000), expected_version=version)
    elif action == "replace":
        lon, lat = forms.number(form, "lon"), forms.number(form, "lat")
        if lon is None or lat is None:
            raise InvalidInput("click the map or give lon and lat", field="lon")
        await lifecycle.replace(db, case_ref=ref, actor=who, now=now, policy=policy,
                                location={"lon": lon, "lat": lat}, grid=request.app[GRID_INDEX],
                                reason=forms.text(form, "reason", limit=1000),
                                expected_version=version)
    elif action == "assist":
        await joint.assist(db, case_ref=ref, actor=who, now=now, policy=policy,
                           units=_units(forms.text(form, "units", limit=400)),
                           deadline=forms.local_time(form, "deadline", tz),
                           note=forms.text(form, "note", limit=1000), expected_version=version)
    elif action == "part_accept":
        await joint.part_accept(db, case_ref=ref, actor=who, now=now, expected_version=version)
    elif action == "part_return":
        await joint.part_return(db, case_ref=ref, actor=who, now=now, policy=policy,
                                reason=forms.text(form, "reason", limit=1000),
                                expected_version=version)
    elif action == "part_extend":
        until = forms.local_time(form, "until", tz)
        await joint.part_request_extension(
            db, case_ref=ref, actor=who, now=now, policy=policy,
            reason=forms.text(form, "reason", limit=1000), until=until,
            working_days=None if until else (forms.integer(form, "working_days") or 1),
            expected_version=version)
    elif action == "part_decide":
        await joint.part_decide_extension(db, case_ref=ref, actor=who, now=now, policy=policy,
                                          unit=forms.text(form, "unit", limit=40),
                                          approve=form.get("decision") == "approve",
                                          reason=forms.text(form, "reason", limit=1000),
                                          expected_version=version)
    elif action == "part_feedback":
        workflow.check_state(case, action, who)  # before storing photos for a form that cannot succeed
        await joint.part_feedback(db, case_ref=ref, actor=who, now=now, policy=policy,
                                  text=forms.text(form, "text", limit=2000),
                                  photos=await _uploads(request, session, form),
                                  expected_version=version)
    else:
        raise NotFound(f"the desk has no form for {action!r}")


@page
async def case_action(request: web.Request) -> web.StreamResponse:
    session = await need(request)
    form = await read_form(request, session)
    action = request.match_info["action"]
    if action not in workflow.ACTIONS:
        raise NotFound(f"no action {action!r}")
    case, _ = await _load_case(request, session)
    workflow.check_role(actor(session), case, action)  # 403 before anything is read or stored
    try:
        version = forms.integer(form, "version")
        if version is not None and version != case["version"]:
            raise StaleCase("changed", state=case["state"], version=case["version"])
        await _perform(request, session, action, case, form)
    except PermissionDenied:
        raise
    except (StaleCase, WrongState, Conflict, InvalidInput, OutsideDistrict) as exc:
        current_case = await cases_repo.get_case(request.app[DB], ref=case["_id"])
        ctx = await case_context(request, session, current_case)
        loc = locale(request)
        if isinstance(exc, StaleCase):
            ctx["stale"] = t("stale", loc, state=t(f"state.{current_case['state']}", loc),
                             version=current_case["version"])
        else:
            ctx["problem"] = exc.message
        return await render(request, "case.html", ctx, status=status_for(exc))
    target = safe_next(forms.text(form, "next", limit=300), f"/desk/cases/{case['_id']}")
    sep = "&" if "?" in target else "?"
    raise web.HTTPSeeOther(location=f"{target}{sep}done={action}")


# ---------------------------------------------------------------- queues and unit view


@page
async def queue_page(request: web.Request) -> web.StreamResponse:
    session = await need(request, *CENTER_ROLES)
    name = request.match_info["name"]
    if name not in desk_repo.QUEUES:
        raise NotFound(f"no queue {name!r}")
    db, now, who = request.app[DB], _now(request), actor(session)
    docs = await desk_repo.queue_cases(
        db, queue=name, unit=desk_repo.scope_unit(_scope(request, session), _district(request)),
        now=now, limit=50)
    rows = []
    for doc in docs:
        row = await _row(request, who, doc)
        if row is None:
            continue
        if name == "returned":
            returns = [e for e in doc.get("history") or [] if e["action"] == "return"]
            row["reason"] = returns[-1].get("reason") if returns else ""
        rows.append(row)
    ctx = {"queue": name, "rows": rows, "only": list(desk_repo.QUEUES[name].actions)}
    return await render(request, "queue.html", _notice(request, ctx))


@page
async def unit_page(request: web.Request) -> web.StreamResponse:
    session = await need(request, *HANDLER_ROLES)
    db, now, who = request.app[DB], _now(request), actor(session)
    docs = await desk_repo.unit_cases(db, unit=str(session.account.unit),
                                      scope=_scope(request, session))
    groups: dict[str, list[dict[str, Any]]] = {"red": [], "yellow": [], "blue": []}
    for doc in sorted(docs, key=lambda d: d.get("due_at") or now):
        row = await _row(request, who, doc)
        if row is not None:
            # the unit's own colour: a joint case's assisting unit runs on its part's clock
            row["case"]["colour"] = unit_colour(doc, str(session.account.unit), now)
            groups.setdefault(row["case"]["colour"], []).append(row)
    unit = await grids_repo.find_unit(db, code=session.account.unit)
    unit_name = session.account.unit
    if unit:
        unit_name = (unit.get("name_en") if locale(request) == "en" else None) or unit.get("name_zh") or unit_name
    ctx = {"groups": groups, "unit_name": unit_name,
           "only": [*workflow.HANDLER_ACTIONS, *workflow.PART_ACTIONS]}
    return await render(request, "unit.html", _notice(request, ctx))


# ---------------------------------------------------------------- photos


@page
async def photo(request: web.Request) -> web.StreamResponse:
    """A case photo for a signed-in user whom `cases.visibility` lets see it on one of the
    cases that carry it (whichever door brought it in)."""
    session = await need(request)
    db = request.app[DB]
    photo_id = request.match_info["photo_id"]
    size = media_service.parse_size(request.query.get("size") or "thumb")
    if size == "original":
        raise InvalidInput("the desk shows web and thumb sizes only")
    carriers = await cases_repo.cases_with_photos(db, photo_ids=[photo_id])
    if not visibility.photo_visible(actor(session), carriers, photo_id):
        raise DeskForbidden("this photo belongs to no case you may open")
    rendition = await media_service.rendition(db, photo_id=photo_id, size=size)
    return web.Response(body=await rendition.read(db), content_type=rendition.content_type,
                        headers={"Cache-Control": "private, max-age=3600", "ETag": rendition.etag,
                                 "X-Content-Type-Options": "nosniff"})


__all__ = ["CATALOG", "photo"]
