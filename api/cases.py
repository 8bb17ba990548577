"""Staff case API under /api/v1 (intake, lists, one route per transition, categories,
the working-day calendar) and the public lookup by serial number.

Handlers only parse input, call `cases`, and format output; errors are the domain's.
"""

from __future__ import annotations

import asyncio
import base64
from datetime import date, datetime
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api import keys
from api.auth import require
from api.errors import read_json
from api.keys import CLOCK, DB, SETTINGS
from cases import intake as case_intake
from cases import lifecycle
from cases import repository as repo
from cases.categories import parse_category
from cases.colour import COLOURS, colour_query
from cases.model import CHANNELS, KINDS, STATES, Actor, CasePolicy
from cases.views import jsonable, list_item, public_view, staff_view
from gridlink.auth import Principal
from gridlink.errors import InvalidInput, NotFound
from grids.errors import GridNotLoaded
from media import repository as media_repo

PREFIX = "/api/v1"
M = TypeVar("M", bound=BaseModel)


# ---------------------------------------------------------------- request bodies


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(_Body):
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class Reporter(_Body):
    phone: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=300)
    locale: str | None = Field(None, max_length=10)


class IntakeBody(_Body):
    channel: Literal[CHANNELS] = "hotline_12345"  # type: ignore[valid-type]
    kind: Literal[KINDS]  # type: ignore[valid-type]
    category: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1, max_length=4000)
    location: Location | None = None
    reporter: Reporter | None = None
    photos: list[str] = Field(default_factory=list, max_length=20)


class VersionedBody(_Body):
    version: int | None = Field(None, ge=1, description="the case version you saw (optional)")


class DispatchBody(VersionedBody):
    unit: str | None = Field(None, min_length=1, max_length=40)
    deadline: datetime | None = None
    note: str | None = Field(None, max_length=1000)


class ReasonBody(VersionedBody):
    reason: str | None = Field(None, max_length=1000)


class ExtensionBody(VersionedBody):
    reason: str | None = Field(None, max_length=1000)
    until: datetime | None = None
    working_days: int | None = Field(None, ge=1, le=60)
    hours: float | None = Field(None, gt=0, le=720)


class DecisionBody(VersionedBody):
    approve: bool
    reason: str | None = Field(None, max_length=1000)


class FeedbackBody(VersionedBody):
    text: str | None = Field(None, max_length=2000)
    photos: list[str] = Field(default_factory=list, max_length=20)


class VerifyBody(VersionedBody):
    ok: bool
    note: str | None = Field(None, max_length=1000)
    callback: str | None = Field(None, max_length=1000)
    deadline: datetime | None = None


class RateBody(VersionedBody):
    score: int
    comment: str | None = Field(None, max_length=1000)


class MergeBody(VersionedBody):
    into: str = Field(min_length=1, max_length=60)
    reason: str | None = Field(None, max_length=1000)


class NoteBody(VersionedBody):
    note: str | None = Field(None, max_length=1000)


class CalendarDay(_Body):
    date: date
    name: str = Field("", max_length=60)


class CalendarYearBody(_Body):
    holidays: list[CalendarDay] = Field(max_length=120)
    workdays: list[CalendarDay] = Field(default_factory=list, max_length=30)


async def parse(request: web.Request, model: type[M]) -> M:
    data = await read_json(request) if request.can_read_body else {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errs = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = errs[0]
        raise InvalidInput(f"{first['field'] or 'body'}: {first['message']}", errors=errs) from None


# ---------------------------------------------------------------- helpers


def _policy(request: web.Request) -> CasePolicy:
    return CasePolicy.from_settings(request.app[SETTINGS])


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK].now()


def _actor(p: Principal) -> Actor:
    return Actor(role=p.role, unit=p.unit, name=p.name)


def _ok(case: dict[str, Any], request: web.Request, status: int = 200,
        **extra: Any) -> web.Response:
    body = {"case": staff_view(case, _now(request)), **jsonable(extra)}
    return web.json_response(body, status=status)


def _place(request: web.Request, location: Location | None) -> dict[str, Any] | None:
    """Place the location with grids' index when it is loaded (None: no placement yet)."""
    key = getattr(keys, "GRID_INDEX", None)
    if location is None or key is None or key not in request.app:
        return None
    try:
        placement = request.app[key].place(location.lon, location.lat)
    except GridNotLoaded:
        # A hotline call is taken even before any grid is imported: it routes to the district.
        return None
    result: dict[str, Any] = placement.to_dict()
    return result


# ---------------------------------------------------------------- cases


async def _photo_hashes(request: web.Request, photos: list[str]) -> list[str]:
    """Perceptual hashes of uploaded photos (media); an unknown id is bad input."""
    if not photos:
        return []
    found = await media_repo.phashes(request.app[DB], photo_ids=photos)
    if missing := [p for p in photos if p not in found]:
        raise InvalidInput(f"no uploaded photo {missing[0]!r}; upload photos first", photo_id=missing[0])
    return [found[p] for p in photos if found[p]]


async def _link_photos(request: web.Request, case_id: str, photos: list[str]) -> None:
    # Independent insert-only links: one round trip of waiting for all of them.
    await asyncio.gather(*(media_repo.add_case(request.app[DB], photo_id=photo, case_id=case_id,
                                               now=_now(request)) for photo in photos))


def _idempotency_key(request: web.Request, who: Principal) -> str | None:
    """The client's key, scoped to its token: another client's key never returns our case."""
    key = request.headers.get("Idempotency-Key", "").strip()
    if not key:
        return None
    if len(key) > 100:
        raise InvalidInput("Idempotency-Key is longer than 100 characters")
    return f"{who.token_id}:{key}"


async def create_case(request: web.Request) -> web.Response:
    who = await require(request, "dispatcher")
    body = await parse(request, IntakeBody)
    hashes = await _photo_hashes(request, body.photos)
    result = await case_intake.intake(
        request.app[DB], policy=_policy(request), now=_now(request), channel=body.channel,
        kind=body.kind, category=body.category, description=body.description, actor=_actor(who),
        reporter=body.reporter.model_dump(exclude_none=True) if body.reporter else None,
        location=body.location.model_dump() if body.location else None,
        placement=_place(request, body.location), photos=body.photos, phashes=hashes,
        idempotency_key=_idempotency_key(request, who))
    if result.created:
        await _link_photos(request, result.case["_id"], body.photos)
    return _ok(result.case, request, status=201 if result.created else 200,
               created=result.created, duplicates=result.duplicates)


def _encode_cursor(case_id: str) -> str:
    return base64.urlsafe_b64encode(case_id.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error, or a non-ASCII cursor
        raise InvalidInput("cursor is not valid; use next_cursor from the previous page") from None


def _time_param(request: web.Request, name: str) -> datetime | None:
    raw = request.query.get(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be an ISO 8601 time with an offset") from None
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a time zone offset (e.g. +08:00)")
    return value


def _list_param(request: web.Request, name: str, allowed: tuple[str, ...] | None) -> list[str]:
    raw = request.query.get(name, "")
    values = [v.strip() for v in raw.split(",") if v.strip()]
    if allowed is not None:
        bad = [v for v in values if v not in allowed]
        if bad:
            raise InvalidInput(f"{name}: unknown value {bad[0]!r}; one of {', '.join(allowed)}")
    return values


async def list_cases(request: web.Request) -> web.Response:
    who = await require(request)
    now = _now(request)
    parts: list[dict[str, Any]] = []
    unit = request.query.get("unit")
    if who.role == "department":
        # A line department sees the tickets assigned to it, nothing else.
        if unit and unit != who.unit:
            raise InvalidInput("a department may list only its own unit's cases")
        unit = who.unit
    if unit:
        parts.append({"assignee.unit": unit})
    if states := _list_param(request, "status", STATES):
        parts.append({"state": {"$in": states}})
    if colours := _list_param(request, "colour", COLOURS):
        parts.append({"$or": [colour_query(c, now) for c in colours]})  # type: ignore[arg-type]
    if categories := _list_param(request, "category", None):
        parts.append({"category": {"$in": categories}})
    if channels := _list_param(request, "channel", CHANNELS):
        parts.append({"channel": {"$in": channels}})
    if kinds := _list_param(request, "kind", KINDS):
        parts.append({"kind": {"$in": kinds}})
    since, until = _time_param(request, "from"), _time_param(request, "to")
    if since or until:
        rng: dict[str, datetime] = {}
        if since:
            rng["$gte"] = since
        if until:
            rng["$lt"] = until
        parts.append({"created_at": rng})
    if text := request.query.get("q", "").strip():
        if len(text) > 100:
            raise InvalidInput("q is longer than 100 characters")
        parts.append(repo.text_query(text))
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise InvalidInput("limit must be a whole number") from None
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200")
    cursor = request.query.get("cursor")
    before = _decode_cursor(cursor) if cursor else None
    query: dict[str, Any] = {"$and": parts} if parts else {}
    docs = await repo.find_cases(request.app[DB], query=query, limit=limit + 1, before_id=before)
    page, more = docs[:limit], len(docs) > limit
    return web.json_response({
        "cases": [list_item(d, now) for d in page],
        "next_cursor": _encode_cursor(page[-1]["_id"]) if more else None,
    })


async def get_case(request: web.Request) -> web.Response:
    who = await require(request)
    case = await repo.get_case(request.app[DB], ref=request.match_info["ref"])
    if who.role == "department" and (case.get("assignee") or {}).get("unit") != who.unit and not any(
            (e.get("data") or {}).get("assignee", {}).get("unit") == who.unit for e in case["history"]):
        raise NotFound(f"no case {request.match_info['ref']!r}")
    return _ok(case, request)


async def _transition(request: web.Request, model: type[M], call: Any,
                      roles: tuple[str, ...] = ()) -> web.Response:
    who = await require(request, *roles)  # type: ignore[arg-type]
    body = await parse(request, model)
    case = await call(request.app[DB], request.match_info["ref"], _actor(who), _now(request),
                      _policy(request), body)
    return _ok(case, request)


async def dispatch(request: web.Request) -> web.Response:
    return await _transition(request, DispatchBody, lambda db, ref, a, now, pol, b: lifecycle.dispatch(
        db, case_ref=ref, actor=a, now=now, policy=pol, unit=b.unit, deadline=b.deadline,
        note=b.note, expected_version=b.version), ("dispatcher",))


async def accept(request: web.Request) -> web.Response:
    return await _transition(request, VersionedBody, lambda db, ref, a, now, pol, b: lifecycle.accept(
        db, case_ref=ref, actor=a, now=now, expected_version=b.version))


async def return_case(request: web.Request) -> web.Response:
    return await _transition(request, ReasonBody, lambda db, ref, a, now, pol, b: lifecycle.return_case(
        db, case_ref=ref, actor=a, now=now, policy=pol, reason=b.reason, expected_version=b.version))


async def request_extension(request: web.Request) -> web.Response:
    return await _transition(request, ExtensionBody, lambda db, ref, a, now, pol, b: lifecycle.request_extension(
        db, case_ref=ref, actor=a, now=now, policy=pol, reason=b.reason, until=b.until,
        working_days=b.working_days, hours=b.hours, expected_version=b.version))


async def decide_extension(request: web.Request) -> web.Response:
    return await _transition(request, DecisionBody, lambda db, ref, a, now, pol, b: lifecycle.decide_extension(
        db, case_ref=ref, actor=a, now=now, policy=pol, approve=b.approve, reason=b.reason,
        expected_version=b.version), ("dispatcher",))


async def feedback(request: web.Request) -> web.Response:
    async def call(db: Any, ref: str, a: Actor, now: datetime, pol: CasePolicy,
                   b: FeedbackBody) -> dict[str, Any]:
        await _photo_hashes(request, b.photos)
        case = await lifecycle.feedback(db, case_ref=ref, actor=a, now=now, policy=pol, text=b.text,
                                        photos=b.photos, expected_version=b.version)
        await _link_photos(request, case["_id"], b.photos)
        return case
    return await _transition(request, FeedbackBody, call)


async def verify(request: web.Request) -> web.Response:
    return await _transition(request, VerifyBody, lambda db, ref, a, now, pol, b: lifecycle.verify(
        db, case_ref=ref, actor=a, now=now, policy=pol, ok=b.ok, note=b.note, callback=b.callback,
        deadline=b.deadline, expected_version=b.version), ("dispatcher",))


async def rate(request: web.Request) -> web.Response:
    return await _transition(request, RateBody, lambda db, ref, a, now, pol, b: lifecycle.rate(
        db, case_ref=ref, actor=a, now=now, score=b.score, comment=b.comment,
        expected_version=b.version))


async def supervise(request: web.Request) -> web.Response:
    return await _transition(request, NoteBody, lambda db, ref, a, now, pol, b: lifecycle.supervise(
        db, case_ref=ref, actor=a, now=now, note=b.note, expected_version=b.version), ("dispatcher",))


async def merge(request: web.Request) -> web.Response:
    who = await require(request, "dispatcher")
    body = await parse(request, MergeBody)
    dup, main = await lifecycle.merge(
        request.app[DB], duplicate_ref=request.match_info["ref"], into_ref=body.into,
        actor=_actor(who), now=_now(request), reason=body.reason, expected_version=body.version)
    return _ok(dup, request, main=staff_view(main, _now(request)))


async def public_case(request: web.Request) -> web.Response:
    serial = request.match_info["serial"]
    if len(serial) > 40:
        raise InvalidInput("not a serial number")
    case = await repo.get_case_by_serial(request.app[DB], serial=serial)
    if not case.get("public", True):
        raise NotFound(f"no case with serial {serial!r}")
    return web.json_response(public_view(case, _now(request)))


# ---------------------------------------------------------------- categories


async def list_categories(request: web.Request) -> web.Response:
    await require(request)
    docs = await repo.list_categories(request.app[DB])
    return web.json_response({"categories": [jsonable({**{k: v for k, v in d.items() if k != "_id"},
                                                         "code": d["_id"]}) for d in docs]})


async def put_category(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    data = await read_json(request)
    data["code"] = request.match_info["code"]
    category = parse_category(data)
    doc = await repo.put_category(request.app[DB], category=category, now=_now(request), by=who.name or who.token_id)
    return web.json_response({"category": jsonable({**{k: v for k, v in doc.items() if k != "_id"},
                                                     "code": doc["_id"]})})


# ---------------------------------------------------------------- calendar


def _year(request: web.Request) -> int:
    raw = request.match_info["year"]
    if not raw.isdigit() or not 2000 <= int(raw) <= 2100:
        raise InvalidInput("year must be between 2000 and 2100")
    return int(raw)


async def list_calendar(request: web.Request) -> web.Response:
    await require(request)
    years = await repo.list_calendar_years(request.app[DB])
    return web.json_response({"years": [jsonable({"year": y["_id"], **{k: v for k, v in y.items() if k != "_id"}})
                                        for y in years]})


async def get_calendar_year(request: web.Request) -> web.Response:
    await require(request)
    year = _year(request)
    doc = await repo.calendar_year(request.app[DB], year=year)
    if doc is None:
        raise NotFound(f"the working-day calendar does not cover {year}", year=year)
    return web.json_response(jsonable(doc))


async def put_calendar_year(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    year = _year(request)
    body = await parse(request, CalendarYearBody)
    for day in [*body.holidays, *body.workdays]:
        if day.date.year != year:
            raise InvalidInput(f"{day.date} is not in {year}")
    holidays = {d.date: d.name for d in body.holidays}
    workdays = {d.date: d.name for d in body.workdays}
    if both := sorted(set(holidays) & set(workdays)):
        raise InvalidInput(f"{both[0]} cannot be both a holiday and a workday")
    if weekdays := [d for d in workdays if d.weekday() < 5]:
        raise InvalidInput(f"{weekdays[0]} is a weekday already; adjusted workdays are weekend days")
    await repo.replace_calendar_year(request.app[DB], year=year, holidays=holidays, workdays=workdays,
                                     now=_now(request), by=who.name or who.token_id)
    doc = await repo.calendar_year(request.app[DB], year=year)
    return web.json_response(jsonable(doc))


async def delete_calendar_year(request: web.Request) -> web.Response:
    await require(request, "admin")
    year = _year(request)
    if not await repo.delete_calendar_year(request.app[DB], year=year):
        raise NotFound(f"the working-day calendar does not cover {year}", year=year)
    return web.json_response({"deleted": year})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{PREFIX}/cases", create_case)
    r.add_get(f"{PREFIX}/cases", list_cases)
    r.add_get(f"{PREFIX}/cases/{{ref}}", get_case)
    for path, handler in (("dispatch", dispatch), ("accept", accept), ("return", return_case),
                          ("extension", request_extension), ("extension/decision", decide_extension),
                          ("feedback", feedback), ("verify", verify), ("rate", rate),
                          ("merge", merge), ("supervise", supervise)):
        r.add_post(f"{PREFIX}/cases/{{ref}}/{path}", handler)
    r.add_get(f"{PREFIX}/public/cases/{{serial}}", public_case)
    r.add_get(f"{PREFIX}/categories", list_categories)
    r.add_put(f"{PREFIX}/categories/{{code}}", put_category)
    r.add_get(f"{PREFIX}/calendar", list_calendar)
    r.add_get(f"{PREFIX}/calendar/{{year}}", get_calendar_year)
    r.add_put(f"{PREFIX}/calendar/{{year}}", put_calendar_year)
    r.add_delete(f"{PREFIX}/calendar/{{year}}", delete_calendar_year)
