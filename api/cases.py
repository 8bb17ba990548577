"""Staff case API under /api/v1 (intake, lists, one route per transition, categories,
the working-day calendar) and the public lookup by serial number.

Handlers only parse input, call `cases`, and format output; errors are the domain's.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from api.auth import actor_of, audit_change, require
from api.errors import parse, read_json
from api.keys import CLOCK, DB, GRID_INDEX, SETTINGS
from cases import autodispatch, joint, lifecycle, lists, refusals, visibility, workflow
from cases import intake as case_intake
from cases import repository as repo
from cases.categories import parse_category
from cases.colour import COLOURS, colour_query
from cases.model import CHANNELS, KINDS, REFUSAL_REASONS, STATES, Actor, CasePolicy
from cases.visibility import jsonable
from cases.workflow import allowed_actions
from gridlink.auth import Principal
from gridlink.db import Database, Document
from gridlink.errors import InvalidInput, NotFound

PREFIX = "/api/v1"


# ---------------------------------------------------------------- request bodies
# The handlers validate with these models and api/openapi.py documents them from their JSON
# schemas, examples included (tests/api/test_openapi_examples.py posts every example).


def _example(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Location(_Body):
    """WGS-84, as phones give it."""

    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class Reporter(_Body):
    """Who reported: kept for the callback (回访); `locale` is the language follow-ups use."""

    phone: str | None = Field(None, max_length=40)
    name: str | None = Field(None, max_length=100)
    email: str | None = Field(None, max_length=200)
    address: str | None = Field(None, max_length=300)
    locale: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


class IntakeBody(_Body):
    model_config = _example({
        "channel": "hotline_12345", "kind": "complaint", "category": "road_damage",
        "description": "Pothole outside No. 12 Fuxing Road, a cyclist fell",
        "location": {"lon": 121.4737, "lat": 31.2304},
        "reporter": {"phone": "13800138000", "name": "Zhang San", "locale": "en"}})
    channel: Literal[CHANNELS] = "hotline_12345"  # type: ignore[valid-type]
    kind: Literal[KINDS]  # type: ignore[valid-type]
    category: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1, max_length=4000)
    location: Location | None = None
    reporter: Reporter | None = None
    photos: list[str] = Field(default_factory=list, max_length=20,
                              description="ids from POST /api/v1/media")


class VersionedBody(_Body):
    model_config = _example({"version": 2})
    version: int | None = Field(None, ge=1, description="the case version you saw (optional)")


class DispatchBody(VersionedBody):
    model_config = _example({"unit": "D07", "note": "a cyclist fell: today please"})
    unit: str | None = Field(None, min_length=1, max_length=40,
                             description="default: the proposed assignee")
    deadline: datetime | None = Field(None, description="default: from the category's time limit")
    note: str | None = Field(None, max_length=1000)
    assisting: list[str] = Field(default_factory=list, max_length=10,
                                 description="assisting units of a joint case (联勤联动), "
                                             "each with its own part and deadline")


class ReasonBody(VersionedBody):
    model_config = _example({"reason": "a private courtyard: city management's"})
    reason: str = Field(min_length=1, max_length=1000)


class ExtensionBody(VersionedBody):
    """Exactly one of `until`, `working_days` or `hours`."""

    model_config = _example({"reason": "the owner is abroad until next week", "working_days": 3})
    reason: str = Field(min_length=1, max_length=1000)
    until: datetime | None = None
    working_days: int | None = Field(None, ge=1, le=60)
    hours: float | None = Field(None, gt=0, le=720)


class DecisionBody(VersionedBody):
    model_config = _example({"approve": True, "reason": "the owner's flight is booked"})
    approve: bool
    reason: str | None = Field(None, max_length=1000, description="required to refuse")


class FeedbackBody(VersionedBody):
    model_config = _example({"text": "Pothole filled and re-surfaced", "photos": []})
    text: str = Field(min_length=1, max_length=2000)
    photos: list[str] = Field(default_factory=list, max_length=20,
                              description="ids from POST /api/v1/media; they become public")


class VerifyBody(VersionedBody):
    model_config = _example({"ok": True, "callback": "caller satisfied"})
    ok: bool
    note: str | None = Field(None, max_length=1000, description="required when not ok")
    callback: str | None = Field(None, max_length=1000)
    deadline: datetime | None = None
    parts: list[str] | None = Field(None, max_length=10,
                                    description="a joint case reopened: the assisting units sent "
                                                "back with the lead (default: all that fed back)")


class RateBody(VersionedBody):
    model_config = _example({"score": 4, "comment": "took a while"})
    score: int = Field(ge=1, le=5, description="满意 5, 较满意 4, 一般 3, 较差 2, 差 1")
    comment: str | None = Field(None, max_length=1000)


class MergeBody(VersionedBody):
    model_config = _example({"into": "A20261127-00001", "reason": "the same pothole"})
    into: str = Field(min_length=1, max_length=60, description="id or serial of the main case")
    reason: str | None = Field(None, max_length=1000)


class NoteBody(VersionedBody):
    model_config = _example({"note": "the caller rang again"})
    note: str | None = Field(None, max_length=1000)


# ---- the center's toolset (issue 22)


class RefusalBody(VersionedBody):
    model_config = _example({"reason_code": "not_in_jurisdiction",
                             "note": "a Pudong address: told the caller to ring Pudong's 12345"})
    reason_code: str = Field(min_length=1, max_length=60, description=(
        "why: an active code of GET /api/v1/refusal-reasons (admins keep the list; seeded "
        "with " + ", ".join(REFUSAL_REASONS) + ")"))
    note: str | None = Field(None, max_length=1000, description="staff-only")


class VoidBody(RefusalBody):
    model_config = _example({"reason_code": "prank", "note": "the caller admitted a joke"})


class SuspendBody(VersionedBody):
    model_config = _example({"reason": "awaiting next year's repair budget",
                             "review_at": "2027-03-01T09:00:00+08:00"})
    reason: str = Field(min_length=1, max_length=1000)
    review_at: datetime = Field(description="when it comes back (with an offset)")


class DirectAnswerBody(VersionedBody):
    model_config = _example({"text": "School enrolment opens on 1 April at the district's portal"})
    text: str = Field(min_length=1, max_length=2000, description="the answer the reporter receives")


class RefileBody(VersionedBody):
    model_config = _example({"category": "municipal_facilities",
                             "reason": "a broken railing, not the road itself"})
    category: str = Field(min_length=1, max_length=60)
    reason: str = Field(min_length=1, max_length=1000)


class ReplaceBody(VersionedBody):
    model_config = _example({"location": {"lon": 121.4737, "lat": 31.2304},
                             "reason": "the caller's address, found on the map"})
    location: Location
    reason: str | None = Field(None, max_length=1000)


# ---- joint cases (联勤联动, cases.joint)


class AssistBody(VersionedBody):
    model_config = _example({"units": ["D02"], "note": "a stall blocks the repair: city management"})
    units: list[str] = Field(min_length=1, max_length=10,
                             description="assisting units to add (or a returned one to re-add)")
    deadline: datetime | None = Field(None, description="default: from the category's time limit; "
                                                        "for an open part: its new deadline")
    note: str | None = Field(None, max_length=1000)


class PartAcceptBody(VersionedBody):
    model_config = _example({})


class PartReturnBody(ReasonBody):
    model_config = _example({"reason": "no stall there: nothing for city management"})


class PartFeedbackBody(FeedbackBody):
    model_config = _example({"text": "Stall moved off the pavement", "photos": []})


class PartExtensionBody(ExtensionBody):
    """Your unit's part: exactly one of `until`, `working_days` or `hours`."""

    model_config = _example({"reason": "the stall holder's licence hearing is on Monday",
                             "hours": 48})


class PartDecisionBody(VersionedBody):
    model_config = _example({"unit": "D02", "approve": True})
    unit: str = Field(min_length=1, max_length=40, description="the assisting unit that asked")
    approve: bool
    reason: str | None = Field(None, max_length=1000, description="required to refuse")


class CalendarDay(_Body):
    date: date
    name: str = Field("", max_length=60)


class CalendarYearBody(_Body):
    model_config = _example({"holidays": [{"date": "2027-01-01", "name": "元旦"}],
                             "workdays": [{"date": "2027-01-09", "name": "调休"}]})
    holidays: list[CalendarDay] = Field(max_length=120)
    workdays: list[CalendarDay] = Field(default_factory=list, max_length=30)


# ---------------------------------------------------------------- helpers


def _policy(request: web.Request) -> CasePolicy:
    return CasePolicy.from_settings(request.app[SETTINGS])


def _now(request: web.Request) -> datetime:
    return request.app[CLOCK].now()


def _answer(actor: Actor, case: dict[str, Any], request: web.Request, status: int = 200,
            **extra: Any) -> web.Response:
    """The case as the caller may see it, and what the caller may do with it next."""
    body = {"case": visibility.view(actor, case, _now(request)),
            "allowed_actions": allowed_actions(actor, case), **jsonable(extra)}
    return web.json_response(body, status=status)


# ---------------------------------------------------------------- cases


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
    actor = actor_of(who)
    result = await case_intake.intake(
        request.app[DB], policy=_policy(request), now=_now(request), channel=body.channel,
        kind=body.kind, category=body.category, description=body.description, actor=actor,
        reporter=body.reporter.model_dump(exclude_none=True) if body.reporter else None,
        location=body.location.model_dump() if body.location else None,
        grid=request.app[GRID_INDEX], photos=body.photos,
        idempotency_key=_idempotency_key(request, who))
    status = 201 if result.created else 200
    if visibility.audience(actor, result.case) is None:
        # A street's dispatcher took a report the grid placed elsewhere: the case is that
        # area's, so the caller gets its receipt only (number and state), not a 403 that
        # would make a retrying client believe nothing was opened.
        case = result.case
        return web.json_response({"case": {"id": case["_id"], "serial": case["serial"],
                                           "state": case["state"]},
                                  "allowed_actions": [], "created": result.created}, status=status)
    return _answer(actor, result.case, request, status=status,
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
    actor = actor_of(who)
    now = _now(request)
    # The caller's scope first; the filters only narrow it.
    parts: list[dict[str, Any]] = [visibility.scope(actor, district=_policy(request).district)]
    if unit := request.query.get("unit"):
        parts.append({"assignee.unit": unit})
    if states := _list_param(request, "status", STATES):
        parts.append({"state": {"$in": states}})
    if colours := _list_param(request, "colour", COLOURS):
        parts.append({"$or": [colour_query(c, now) for c in colours]})  # type: ignore[arg-type]
        if "green" not in colours:  # implied; the page walks these states' buckets
            done = colour_query("green", now)["state"]["$in"]
            parts.append({"state": {"$in": [s for s in STATES if s not in done]}})
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
        # A whole serial number is that case (one indexed equality, not a scan of every text).
        parts.append({"serial": text.upper()} if repo.SERIAL_RE.match(text.upper()) else
                     repo.text_query(text))
    try:
        limit = int(request.query.get("limit", "50"))
    except ValueError:
        raise InvalidInput("limit must be a whole number") from None
    if not 1 <= limit <= 200:
        raise InvalidInput("limit must be between 1 and 200")
    cursor = request.query.get("cursor")
    before = _decode_cursor(cursor) if cursor else None
    # A page that stopped at its read budget goes on from the step it reached (`hour:<n>`).
    resume = None
    if before is not None and before.startswith(RESUME):
        try:
            resume, before = int(before[len(RESUME):]), None
        except ValueError:
            raise InvalidInput("cursor is not valid; use next_cursor from the previous page") from None
    parts = [p for p in parts if p]
    query: dict[str, Any] = {"$and": parts} if len(parts) > 1 else (parts[0] if parts else {})
    keyed = None
    if colours == ["red"]:  # red cases only: walk the red list's hours (cases.lists)
        await lists.sweep_red(request.app[DB], now=now)
        # an area's staff walk their area's red list, others the district's
        area = visibility.scope(actor, district=_policy(request).district).get("units")
        keyed = f"r:{area if isinstance(area, str) else _policy(request).district}"
    docs, stopped = await repo.find_cases_page(request.app[DB], query=query, limit=limit + 1,
                                               before_id=before, now=now, resume_step=resume,
                                               keyed=keyed)
    page, more = docs[:limit], len(docs) > limit
    next_cursor = (_encode_cursor(page[-1]["_id"]) if more else
                   _encode_cursor(f"{RESUME}{stopped}") if stopped is not None else None)
    return web.json_response({
        "cases": [visibility.list_item(d, now, seen_as=visibility.audience(actor, d) or "public")
                  for d in page],
        "next_cursor": next_cursor,
    })


RESUME = "hour:"


async def get_case(request: web.Request) -> web.Response:
    who = await require(request)
    case = await repo.get_case(request.app[DB], ref=request.match_info["ref"])
    return _answer(actor_of(who), case, request)


# A transition's call: (db, case ref, actor, now, policy, parsed body) -> the changed case, or
# (duplicate, main) for a merge.
Call = Callable[[Database, str, Actor, datetime, CasePolicy, Any],
                Awaitable[Document | tuple[Document, Document]]]


@dataclass(frozen=True)
class TransitionRoute:
    """POST /api/v1/cases/{ref}/<path>: its body model serves the handler and the document."""

    path: str
    summary: str
    model: type[BaseModel]
    call: Call
    # the call places a location: it gets (body, the process's grid index) for its body
    with_grid: bool = False

    async def handle(self, request: web.Request) -> web.Response:
        """Parse, act (the lifecycle checks role, area and state with cases.workflow), answer."""
        who = await require(request)
        actor, now = actor_of(who), _now(request)
        # a role that can never take the action is refused before the body or the case is read
        workflow.check_role_may(actor, ROUTE_ACTIONS.get(self.path, self.path))
        body: Any = await parse(request, self.model)
        if self.with_grid:
            body = (body, request.app[GRID_INDEX])
        done = await self.call(request.app[DB], request.match_info["ref"], actor, now,
                               _policy(request), body)
        if isinstance(done, tuple):  # a merge: the duplicate, and the case it joined
            dup, main = done
            return _answer(actor, dup, request, main=visibility.view(actor, main, now))
        return _answer(actor, done, request)


# The workflow's action of each route whose path is not the action's name.
ROUTE_ACTIONS = {"extension": "extend", "extension/decision": "decide",
                 "direct-answer": "direct_answer"}

TRANSITION_ROUTES: tuple[TransitionRoute, ...] = (
    TransitionRoute("dispatch", "Dispatch (or re-dispatch) with a deadline", DispatchBody,
                    lambda db, ref, a, now, pol, b: lifecycle.dispatch(
                        db, case_ref=ref, actor=a, now=now, policy=pol, unit=b.unit,
                        deadline=b.deadline, note=b.note, expected_version=b.version,
                        assisting=b.assisting)),
    TransitionRoute("accept", "Accept the assignment", VersionedBody,
                    lambda db, ref, a, now, pol, b: lifecycle.accept(
                        db, case_ref=ref, actor=a, now=now, expected_version=b.version)),
    TransitionRoute("return", "Return as not our jurisdiction (reason required)", ReasonBody,
                    lambda db, ref, a, now, pol, b: lifecycle.return_case(
                        db, case_ref=ref, actor=a, now=now, policy=pol, reason=b.reason,
                        expected_version=b.version)),
    TransitionRoute("extension", "Ask for an extension", ExtensionBody,
                    lambda db, ref, a, now, pol, b: lifecycle.request_extension(
                        db, case_ref=ref, actor=a, now=now, policy=pol, reason=b.reason,
                        until=b.until, working_days=b.working_days, hours=b.hours,
                        expected_version=b.version)),
    TransitionRoute("extension/decision", "Approve or refuse the pending extension", DecisionBody,
                    lambda db, ref, a, now, pol, b: lifecycle.decide_extension(
                        db, case_ref=ref, actor=a, now=now, policy=pol, approve=b.approve,
                        reason=b.reason, expected_version=b.version)),
    # The lifecycle checks the photos: uploaded, and not another case's the caller may not see.
    TransitionRoute("feedback", "Report the result (text and photos)", FeedbackBody,
                    lambda db, ref, a, now, pol, b: lifecycle.feedback(
                        db, case_ref=ref, actor=a, now=now, policy=pol, text=b.text,
                        photos=b.photos, expected_version=b.version)),
    TransitionRoute("verify", "Verify after the callback: close, or reopen under supervision",
                    VerifyBody, lambda db, ref, a, now, pol, b: lifecycle.verify(
                        db, case_ref=ref, actor=a, now=now, policy=pol, ok=b.ok, note=b.note,
                        callback=b.callback, deadline=b.deadline, parts=b.parts,
                        expected_version=b.version)),
    TransitionRoute("rate", "Rate a closed case (1–5: its reporter, or the center from the callback)",
                    RateBody, lambda db, ref, a, now, pol, b: lifecycle.rate(
                        db, case_ref=ref, actor=a, now=now, score=b.score, comment=b.comment,
                        expected_version=b.version)),
    # The lifecycle checks the caller's area for both cases, the duplicate and the target.
    TransitionRoute("merge", "Merge this duplicate into another open case", MergeBody,
                    lambda db, ref, a, now, pol, b: lifecycle.merge(
                        db, duplicate_ref=ref, into_ref=b.into, actor=a, now=now,
                        reason=b.reason, expected_version=b.version)),
    TransitionRoute("supervise", "Supervise (督办) an open case", NoteBody,
                    lambda db, ref, a, now, pol, b: lifecycle.supervise(
                        db, case_ref=ref, actor=a, now=now, note=b.note,
                        expected_version=b.version)),
    # ---- the center's toolset (issue 22)
    TransitionRoute("refuse", "Not accepted (不予立案): a reason from the list", RefusalBody,
                    lambda db, ref, a, now, pol, b: lifecycle.refuse(
                        db, case_ref=ref, actor=a, now=now, action="refuse",
                        reason_code=b.reason_code, note=b.note, expected_version=b.version)),
    TransitionRoute("void", "Void (作废) a dispatched or suspended case", VoidBody,
                    lambda db, ref, a, now, pol, b: lifecycle.refuse(
                        db, case_ref=ref, actor=a, now=now, action="void",
                        reason_code=b.reason_code, note=b.note, expected_version=b.version)),
    TransitionRoute("suspend", "Suspend (挂账) until a review date", SuspendBody,
                    lambda db, ref, a, now, pol, b: lifecycle.suspend(
                        db, case_ref=ref, actor=a, now=now, reason=b.reason,
                        review_at=b.review_at, expected_version=b.version)),
    TransitionRoute("resume", "Resume a suspended case now (before its review date)", NoteBody,
                    lambda db, ref, a, now, pol, b: lifecycle.resume(
                        db, case_ref=ref, actor=a, now=now, policy=pol, note=b.note,
                        expected_version=b.version)),
    TransitionRoute("direct-answer", "Answer a consultation directly (直接答复) and close it",
                    DirectAnswerBody, lambda db, ref, a, now, pol, b: lifecycle.direct_answer(
                        db, case_ref=ref, actor=a, now=now, text=b.text,
                        expected_version=b.version)),
    TransitionRoute("refile", "Re-file under another category (routing and limits follow)",
                    RefileBody, lambda db, ref, a, now, pol, b: lifecycle.refile(
                        db, case_ref=ref, actor=a, now=now, policy=pol, category=b.category,
                        reason=b.reason, expected_version=b.version)),
    TransitionRoute("replace", "Re-place: set or correct the location; placement and routing follow",
                    ReplaceBody, lambda db, ref, a, now, pol, bg: lifecycle.replace(
                        db, case_ref=ref, actor=a, now=now, policy=pol,
                        location=bg[0].location.model_dump(), grid=bg[1], reason=bg[0].reason,
                        expected_version=bg[0].version), with_grid=True),
)

# automatic dispatch (cases.autodispatch): the center takes an automatic assignment back


class TakeBackBody(NoteBody):
    model_config = _example({"note": "the street's cleaning team takes this one"})


ROUTE_ACTIONS["take-back"] = "take_back"
TRANSITION_ROUTES += (
    TransitionRoute("take-back", "Take an automatically dispatched case back to the dispatch queue",
                    TakeBackBody, lambda db, ref, a, now, pol, b: autodispatch.take_back(
                        db, case_ref=ref, actor=a, now=now, policy=pol, reason=b.note,
                        expected_version=b.version)),
)


# joint cases (cases.joint): the center adds assisting units; each acts on its own part
ROUTE_ACTIONS.update({"assist": "assist", "part-accept": "part_accept",
                      "part-return": "part_return", "part-feedback": "part_feedback",
                      "part-extension": "part_extend",
                      "part-extension/decision": "part_decide"})
TRANSITION_ROUTES += (
    TransitionRoute("assist", "Add assisting units to a running case (联勤联动), each with its "
                    "own part and deadline", AssistBody,
                    lambda db, ref, a, now, pol, b: joint.assist(
                        db, case_ref=ref, actor=a, now=now, policy=pol, units=b.units,
                        deadline=b.deadline, note=b.note, expected_version=b.version)),
    TransitionRoute("part-accept", "Accept your unit's part of a joint case", PartAcceptBody,
                    lambda db, ref, a, now, pol, b: joint.part_accept(
                        db, case_ref=ref, actor=a, now=now, expected_version=b.version)),
    TransitionRoute("part-return", "Return your unit's part as not yours (reason required)",
                    PartReturnBody, lambda db, ref, a, now, pol, b: joint.part_return(
                        db, case_ref=ref, actor=a, now=now, policy=pol, reason=b.reason,
                        expected_version=b.version)),
    TransitionRoute("part-feedback", "Report your unit's part's result (text and photos)",
                    PartFeedbackBody, lambda db, ref, a, now, pol, b: joint.part_feedback(
                        db, case_ref=ref, actor=a, now=now, policy=pol, text=b.text,
                        photos=b.photos, expected_version=b.version)),
    TransitionRoute("part-extension", "Ask for more time for your unit's part", PartExtensionBody,
                    lambda db, ref, a, now, pol, b: joint.part_request_extension(
                        db, case_ref=ref, actor=a, now=now, policy=pol, reason=b.reason,
                        until=b.until, working_days=b.working_days, hours=b.hours,
                        expected_version=b.version)),
    TransitionRoute("part-extension/decision", "Approve or refuse an assisting unit's extension",
                    PartDecisionBody, lambda db, ref, a, now, pol, b: joint.part_decide_extension(
                        db, case_ref=ref, actor=a, now=now, policy=pol, unit=b.unit,
                        approve=b.approve, reason=b.reason, expected_version=b.version)),
)


async def public_case(request: web.Request) -> web.Response:
    serial = request.match_info["serial"]
    if len(serial) > 40:
        raise InvalidInput("not a serial number")
    case = await repo.get_case_by_serial(request.app[DB], serial=serial)
    return web.json_response(visibility.view(None, case, _now(request)))


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
    await audit_change(request, who, "category.update", category.code)
    return web.json_response({"category": jsonable({**{k: v for k, v in doc.items() if k != "_id"},
                                                     "code": doc["_id"]})})


# ---------------------------------------------------------------- refusal reasons (issue 22)


class RefusalReasonBody(_Body):
    """A reason's words and whether it is offered; its code (from the path) never changes."""

    model_config = _example({"zh": "属于物业服务合同纠纷", "en": "it is a dispute under a "
                             "property-management contract", "active": True})
    zh: str = Field(min_length=1, max_length=60)
    en: str = Field(min_length=1, max_length=120)
    active: bool = True


def _reason_json(doc: Document) -> dict[str, Any]:
    return jsonable({"code": doc["_id"], "zh": doc.get("zh"), "en": doc.get("en"),
                     "active": doc.get("active", True)})


async def list_refusal_reasons(request: web.Request) -> web.Response:
    await require(request)
    docs = await refusals.list_reasons(request.app[DB])
    return web.json_response({"reasons": [_reason_json(d) for d in docs]})


async def put_refusal_reason(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    body = await parse(request, RefusalReasonBody)
    reason = refusals.parse_reason({**body.model_dump(), "code": request.match_info["code"]})
    before = {d["_id"]: d for d in await refusals.list_reasons(request.app[DB])}.get(reason.code)
    doc = await refusals.put_reason(request.app[DB], reason=reason, now=_now(request),
                                    by=who.name or who.token_id)
    await audit_change(request, who, "refusal_reason.update" if before else "refusal_reason.add",
                       reason.code, **refusals.changes(before, doc))
    return web.json_response({"reason": _reason_json(doc)})


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
    # Validated, stored, and the provisional deadlines recomputed (their assignees are told).
    changed = await lifecycle.enter_calendar_year(
        request.app[DB], year=year, holidays=holidays, workdays=workdays, now=_now(request),
        by=who.name or who.token_id, policy=_policy(request))
    await audit_change(request, who, "calendar.enter", str(year), holidays=len(holidays),
                       workdays=len(workdays))
    doc = await repo.calendar_year(request.app[DB], year=year)
    return web.json_response(jsonable({**(doc or {}), "recomputed": [c["serial"] for c in changed]}))


async def delete_calendar_year(request: web.Request) -> web.Response:
    who = await require(request, "admin")
    year = _year(request)
    if not await repo.delete_calendar_year(request.app[DB], year=year):
        raise NotFound(f"the working-day calendar does not cover {year}", year=year)
    await audit_change(request, who, "calendar.delete", str(year))
    return web.json_response({"deleted": year})


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_post(f"{PREFIX}/cases", create_case)
    r.add_get(f"{PREFIX}/cases", list_cases)
    r.add_get(f"{PREFIX}/cases/{{ref}}", get_case)
    for route in TRANSITION_ROUTES:
        r.add_post(f"{PREFIX}/cases/{{ref}}/{route.path}", route.handle)
    r.add_get(f"{PREFIX}/public/cases/{{serial}}", public_case)
    r.add_get(f"{PREFIX}/categories", list_categories)
    r.add_put(f"{PREFIX}/categories/{{code}}", put_category)
    r.add_get(f"{PREFIX}/refusal-reasons", list_refusal_reasons)
    r.add_put(f"{PREFIX}/refusal-reasons/{{code}}", put_refusal_reason)
    r.add_get(f"{PREFIX}/calendar", list_calendar)
    r.add_get(f"{PREFIX}/calendar/{{year}}", get_calendar_year)
    r.add_put(f"{PREFIX}/calendar/{{year}}", put_calendar_year)
    r.add_delete(f"{PREFIX}/calendar/{{year}}", delete_calendar_year)
