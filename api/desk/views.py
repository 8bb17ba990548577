"""Desk pages: sign-in, intake, queues, the case page, the unit view, and their POST actions.

Handlers parse the form, call cases' domain functions exactly as api/cases.py does, and render
a template. Domain refusals become pages (403 for permissions, the case page with a banner for
a stale version or a state that no longer allows the action), never JSON.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
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
from cases import lifecycle, workflow
from cases import repository as cases_repo
from cases.colour import colour_of
from cases.duplicates import WINDOW, bounding_box, rank_duplicates
from cases.errors import NotYourCase, StaleCase
from cases.intake import intake as take_case
from cases.model import CHANNELS, FINAL_STATES, KINDS, OPEN_STATES, CasePolicy
from gridlink.errors import (
    Conflict,
    DomainError,
    InvalidInput,
    NotFound,
    PermissionDenied,
    WrongState,
)
from grids import repository as grids_repo
from grids.errors import BadCoordinates, GridNotLoaded, OutsideDistrict
from media import repository as media_repo
from media import service as media_service
from staff import service as staff_service
from staff.errors import AccountLocked, NotAuthenticated
from staff.model import Session, SignInPolicy

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QUEUES = ("new", "returned", "extensions", "verification", "red")
DESK_CHANNELS = ("hotline_12345", "hotline_962000", "transfer_110", "mayor_mailbox",
                 "party_mailbox", "web_portal")
CENTER = ("dispatcher",)
HANDLERS = ("department", "leader", "dispatcher")
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


def _scope(session: Session, district: str) -> dict[str, Any]:
    """The cases a user works on: all for the district center, a street center's own, a
    handling unit's assigned cases."""
    a = session.account
    if a.role == "admin" or (a.role == "dispatcher" and a.unit == district):
        return {}
    if a.role == "dispatcher":
        return {"$or": [{"placement.street": a.unit}, {"assignee.unit": a.unit}]}
    return {"assignee.unit": a.unit}


def _is_center(session: Session) -> bool:
    return session.account.role in ("dispatcher", "admin")


async def _nav(request: web.Request, session: Session | None) -> dict[str, int]:
    if session is None:
        return {}
    a = session.account
    now, db = _now(request), request.app[DB]
    center = _is_center(session)
    scope = _scope(session, request.app[SETTINGS].district_code) if center else {"assignee.unit": a.unit}
    brief = await desk_repo.open_cases_brief(db, scope=scope)
    counts: dict[str, int] = {}
    if center:
        for name in QUEUES:
            counts[name] = sum(1 for c in brief if desk_repo.in_queue(name, c, now))
    if a.role != "admin":
        counts["unit"] = sum(1 for c in brief if (c.get("assignee") or {}).get("unit") == a.unit)
    return counts


async def render(request: web.Request, template: str, context: dict[str, Any], *,
                 status: int = 200) -> web.Response:
    loc = locale(request)
    session = await current(request)
    settings = request.app[SETTINGS]
    tz = settings.tz

    def tr(key: str, **kw: Any) -> str:
        return t(key, loc, **kw)

    def when(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    def name_of(value: dict[str, Any] | None) -> str:
        if not value:
            return ""
        return str(value.get("en" if loc == "en" else "zh") or value.get("zh") or "")

    now = _now(request)
    base = {
        "t": tr, "locale": loc, "other_locale": "en" if loc == "zh-CN" else "zh-CN",
        "session": session, "account": session.account if session else None,
        "csrf": session.csrf if session else context.get("csrf", ""),
        "nav": await _nav(request, session), "queues": QUEUES, "now": now, "when": when,
        "left": lambda due: _duration(due - now, loc) if due else "",
        "overdue": lambda due: bool(due and now > due), "colour": lambda c: colour_of(c, now),
        "name_of": name_of, "local_field": lambda v: forms.to_local_field(v, tz),
        "path": request.path_qs, "is_center": bool(session and _is_center(session)),
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
        _MAPS.clear()  # one grid version at a time is all a process needs
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


async def _suggest(request: web.Request, *, lon: float, lat: float, category: str) -> list[dict[str, Any]]:
    """cases' duplicate suggestion for a report not saved yet (the same query intake runs)."""
    db = request.app[DB]
    candidates = await cases_repo.nearby_open_cases(
        db, category=category, box=bounding_box(lon, lat), since=_now(request) - WINDOW,
        exclude_states=FINAL_STATES)
    found = rank_duplicates(lon=lon, lat=lat, phashes=[], candidates=candidates)
    return await _describe(request, found)


async def _describe(request: web.Request, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    loc = locale(request)
    out = []
    for dup in found[:10]:
        try:
            case = await cases_repo.get_case(request.app[DB], ref=dup["case_id"])
        except NotFound:
            continue
        out.append({**dup, "description": (case.get("description") or "")[:120],
                    "state": t(f"state.{case['state']}", loc),
                    "merge_label": t("intake.merge_into", loc, serial=case["serial"])})
    return out


async def duplicates_json(request: web.Request) -> web.Response:
    await need(request, *CENTER)
    q = request.query
    try:
        lon, lat = float(q["lon"]), float(q["lat"])
    except (KeyError, ValueError):
        raise BadCoordinates("lon and lat must be numbers") from None
    category = forms.category_code(q.get("category"))
    if not category:
        return web.json_response({"duplicates": []})
    return web.json_response({"duplicates": await _suggest(request, lon=lon, lat=lat, category=category)})


# ---------------------------------------------------------------- intake


async def _intake_context(request: web.Request, values: dict[str, Any]) -> dict[str, Any]:
    categories = await cases_repo.list_categories(request.app[DB], include_inactive=False)
    return {"categories": categories, "channels": DESK_CHANNELS, "kinds": KINDS,
            "map": await district_map(request), "values": values,
            "intake_key": values.get("intake_key") or secrets.token_urlsafe(16)}


@page
async def intake_get(request: web.Request) -> web.StreamResponse:
    await need(request, *CENTER)
    return await render(request, "intake.html", await _intake_context(request, {}))


@page
async def intake_post(request: web.Request) -> web.StreamResponse:
    session = await need(request, *CENTER)
    form = await read_form(request, session)
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
    loc = locale(request)
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
        placement = None
        if location is not None:
            try:
                placement = request.app[GRID_INDEX].place(location["lon"], location["lat"]).to_dict()
            except GridNotLoaded:
                placement = None  # taken all the same: the district center places it
        reporter = {k: v for k, v in (("name", forms.text(form, "caller_name", limit=100)),
                                      ("phone", forms.text(form, "caller_phone", limit=40))) if v}
        result = await take_case(
            request.app[DB], policy=_policy(request), now=_now(request), channel=channel,
            kind=forms.text(form, "kind") or "complaint", category=category,
            description=description, actor=actor(session), reporter=reporter or None,
            location=location, placement=placement,
            idempotency_key=f"desk:{forms.text(form, 'intake_key', limit=100) or secrets.token_hex(8)}")
    except (InvalidInput, OutsideDistrict) as exc:
        ctx = await _intake_context(request, values)
        ctx["error"] = t("intake.outside", loc) if isinstance(exc, OutsideDistrict) else exc.message
        return await render(request, "intake.html", ctx, status=400)
    case, merged_into = result.case, None
    into = forms.text(form, "merge_into", limit=60)
    if into and case["state"] in OPEN_STATES:
        case, main = await lifecycle.merge(request.app[DB], duplicate_ref=case["_id"], into_ref=into,
                                           actor=actor(session), now=_now(request),
                                           expected_version=case["version"])
        merged_into = main
    elif case["state"] == "merged" and case.get("merged_into"):
        merged_into = await cases_repo.get_case(request.app[DB], ref=case["merged_into"])
    return await render(request, "saved.html", {
        "case": case, "merged_into": merged_into,
        "duplicates": [] if merged_into else await _describe(request, result.duplicates)})


# ---------------------------------------------------------------- cases


def can_view(session: Session, case: dict[str, Any]) -> bool:
    a = session.account
    if a.role == "admin":
        return True
    if a.role == "dispatcher":
        try:
            workflow.check_role(actor(session), case, "supervise")
            return True
        except NotYourCase:
            pass
    # a handling unit sees what is or was assigned to it (as GET /api/v1/cases/{ref})
    if (case.get("assignee") or {}).get("unit") == a.unit:
        return True
    return any(((e.get("data") or {}).get("assignee") or {}).get("unit") == a.unit
               for e in case.get("history") or [])


async def _load_case(request: web.Request, session: Session) -> dict[str, Any]:
    case = await cases_repo.get_case(request.app[DB], ref=request.match_info["ref"])
    if not can_view(session, case):
        raise DeskForbidden(f"case {case['serial']} is not your unit's")
    return case


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


async def _row(request: web.Request, session: Session, case: dict[str, Any]) -> dict[str, Any]:
    """What a queue row or the case page needs besides the case itself."""
    acts = workflow.allowed_actions(actor(session), case)
    extra: dict[str, Any] = {"case": case, "actions": acts}
    if "dispatch" in acts:
        extra["proposed_deadline"] = await _proposed_deadline(request, case)
    return extra


async def case_context(request: web.Request, session: Session, case: dict[str, Any]) -> dict[str, Any]:
    row = await _row(request, session, case)
    dmap = await district_map(request)
    placement = case.get("placement") or {}
    loc = case.get("location")
    map_svg = None
    if dmap is not None:
        map_svg = dmap.svg(block=placement.get("community_block"),
                           point=(loc["lon"], loc["lat"]) if loc else None,
                           svg_id="case-map", label=t("case.map", locale(request)))
    return {**row, "map_svg": map_svg, "place_names": _names(request, placement, locale(request)),
            "main": None, "show_reporter": _is_center(session)}


@page
async def case_page(request: web.Request) -> web.StreamResponse:
    session = await need(request)
    case = await _load_case(request, session)
    ctx = await case_context(request, session, case)
    done = request.query.get("done")
    if done in CATALOG_ACTIONS:
        ctx["notice"] = t("done", locale(request), action=t(f"a.{done}", locale(request)))
    return await render(request, "case.html", ctx)


CATALOG_ACTIONS = {k[2:] for k in CATALOG if k.startswith("a.")}


async def _feedback_photos(request: web.Request, session: Session, form: MultiDictProxy[Any],
                           case_id: str) -> list[str]:
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
            now=_now(request), workers=request.app[PHOTO_WORKERS], case_id=case_id)
        ids.append(result.id)
    return ids


async def _perform(request: web.Request, session: Session, action: str, case: dict[str, Any],
                   form: MultiDictProxy[Any]) -> None:
    db, now, policy, who = request.app[DB], _now(request), _policy(request), actor(session)
    ref, version, tz = case["_id"], forms.integer(form, "version"), request.app[SETTINGS].tz
    if action == "dispatch":
        deadline = forms.local_time(form, "deadline", tz)
        if forms.text(form, "deadline") == forms.text(form, "deadline_proposed"):
            deadline = None  # untouched: the domain computes it from the category's limit
        await lifecycle.dispatch(db, case_ref=ref, actor=who, now=now, policy=policy,
                                 unit=forms.text(form, "unit", limit=40), deadline=deadline,
                                 note=forms.text(form, "note", limit=1000), expected_version=version)
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
        if version is not None and version != case["version"]:
            raise StaleCase("changed", state=case["state"], version=case["version"])
        photos = await _feedback_photos(request, session, form, ref)
        updated = await lifecycle.feedback(db, case_ref=ref, actor=who, now=now, policy=policy,
                                           text=forms.text(form, "text", limit=2000), photos=photos,
                                           expected_version=version)
        for photo in photos:
            await media_repo.add_case(db, photo_id=photo, case_id=updated["_id"], now=now)
    elif action == "verify":
        await lifecycle.verify(db, case_ref=ref, actor=who, now=now, policy=policy,
                               ok=form.get("outcome") == "pass",
                               note=forms.text(form, "note", limit=1000),
                               callback=forms.text(form, "callback", limit=1000),
                               expected_version=version)
    elif action == "supervise":
        await lifecycle.supervise(db, case_ref=ref, actor=who, now=now,
                                  note=forms.text(form, "note", limit=1000), expected_version=version)
    elif action == "merge":
        await lifecycle.merge(db, duplicate_ref=ref, into_ref=forms.text(form, "into", limit=60) or "",
                              actor=who, now=now, reason=forms.text(form, "reason", limit=1000),
                              expected_version=version)
    elif action == "rate":
        await lifecycle.rate(db, case_ref=ref, actor=who, now=now,
                             score=forms.integer(form, "score") or 0,
                             comment=forms.text(form, "comment", limit=1000), expected_version=version)
    else:
        raise NotFound(f"no action {action!r}")


@page
async def case_action(request: web.Request) -> web.StreamResponse:
    session = await need(request)
    form = await read_form(request, session)
    action = request.match_info["action"]
    if action not in workflow.ACTIONS:
        raise NotFound(f"no action {action!r}")
    case = await _load_case(request, session)
    workflow.check_role(actor(session), case, action)
    try:
        await _perform(request, session, action, case, form)
    except PermissionDenied:
        raise
    except (StaleCase, WrongState, Conflict, InvalidInput) as exc:
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
    session = await need(request, *CENTER)
    name = request.match_info["name"]
    if name not in QUEUES:
        raise NotFound(f"no queue {name!r}")
    db, now = request.app[DB], _now(request)
    docs = await desk_repo.cases(db, query=desk_repo.queue_filter(name, now),
                                 scope=_scope(session, request.app[SETTINGS].district_code),
                                 limit=50, oldest_due_first=name == "red",
                                 with_history=name in ("returned",))
    rows = [await _row(request, session, doc) for doc in docs]
    if name == "returned":
        for row in rows:
            returns = [e for e in row["case"].get("history") or [] if e["action"] == "return"]
            row["reason"] = returns[-1].get("reason") if returns else ""
    ctx: dict[str, Any] = {"queue": name, "rows": rows}
    done = request.query.get("done")
    if done in CATALOG_ACTIONS:
        ctx["notice"] = t("done", locale(request), action=t(f"a.{done}", locale(request)))
    return await render(request, "queue.html", ctx)


@page
async def unit_page(request: web.Request) -> web.StreamResponse:
    session = await need(request, *HANDLERS)
    db = request.app[DB]
    docs = await desk_repo.cases(db, query={"assignee.unit": session.account.unit,
                                            "state": {"$in": list(OPEN_STATES)}}, scope={}, limit=200)
    now = _now(request)
    groups: dict[str, list[dict[str, Any]]] = {"red": [], "yellow": [], "blue": []}
    for doc in sorted(docs, key=lambda d: d.get("due_at") or now):
        groups.setdefault(colour_of(doc, now), []).append(await _row(request, session, doc))
    unit = await grids_repo.find_unit(db, code=session.account.unit)
    unit_name = session.account.unit
    if unit:
        unit_name = (unit.get("name_en") if locale(request) == "en" else None) or unit.get("name_zh") or unit_name
    ctx: dict[str, Any] = {"groups": groups, "unit_name": unit_name}
    done = request.query.get("done")
    if done in CATALOG_ACTIONS:
        ctx["notice"] = t("done", locale(request), action=t(f"a.{done}", locale(request)))
    return await render(request, "unit.html", ctx)


# ---------------------------------------------------------------- photos


@page
async def photo(request: web.Request) -> web.StreamResponse:
    """A case photo for a signed-in user who may open one of the photo's cases."""
    session = await need(request)
    db = request.app[DB]
    photo_id = request.match_info["photo_id"]
    size = media_service.parse_size(request.query.get("size") or "thumb")
    if size == "original":
        raise InvalidInput("the desk shows web and thumb sizes only")
    visible = False
    for case_id in await media_service.cases_of(db, photo_id=photo_id):
        try:
            if can_view(session, await cases_repo.get_case(db, ref=case_id)):
                visible = True
                break
        except NotFound:
            continue
    if not visible:
        raise DeskForbidden("this photo belongs to no case you may open")
    rendition = await media_service.rendition(db, photo_id=photo_id, size=size)
    return web.Response(body=await rendition.read(db), content_type=rendition.content_type,
                        headers={"Cache-Control": "private, max-age=3600", "ETag": rendition.etag,
                                 "X-Content-Type-Options": "nosniff"})


__all__ = ["CATALOG", "photo"]
