"""The bot's only door to the domain: thin calls into cases/, grids/ and media/.

Handlers never touch collections or domain internals; when a domain package changes its
API, this file is the one place that follows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bot import repository as repo
from cases import joint, lifecycle, lists, visibility, workflow
from cases import repository as cases_repo
from cases.colour import unit_colour
from cases.errors import (
    CaseNotFound,
    CategoryNotFound,
    NotYourCase,
    StaleCase,
    TransitionNotAllowed,
)
from cases.intake import intake
from cases.model import HANDLER_ROLES, Actor, CasePolicy
from gridlink.buttons import BUTTON_FOR_ACTION, PART_ACTIONS
from gridlink.db import Database, Document
from gridlink.errors import InvalidInput
from gridlink.i18n import t
from gridlink.settings import Settings
from grids import repository as grids_repo
from grids.errors import OutsideDistrict, UnitNotFound
from media import service

# A transition refused because the case moved on: answered with its current state.
STALE_ERRORS = (StaleCase, TransitionNotAllowed)

# A citizen's appeal kind → the category it is filed under until a dispatcher re-files it.
APPEAL_CATEGORY = {
    "consultation": "policy_consultation",
    "complaint": "other",
    "help": "hardship_help",
    "suggestion": "other",
}


def _policy(settings: Settings) -> CasePolicy:
    return CasePolicy.from_settings(settings)


def _name(doc: dict[str, Any] | None, locale: str) -> str | None:
    if not doc:
        return None
    return str(doc.get("name_en" if locale == "en" else "name_zh") or doc.get("name_zh") or "") or None


# --- people --------------------------------------------------------------------------------

async def member(db: Database, *, user_id: int) -> Document | None:
    return await grids_repo.membership(db, user_id=user_id)


async def bind_member(db: Database, *, user_id: int, chat_id: int, role: str, unit: str,
                      name: str, locale: str, now: datetime, also_role: str | None = None,
                      also_unit: str | None = None) -> None:
    await grids_repo.bind(db, user_id=user_id, chat_id=chat_id, role=role, unit=unit,
                          name=name, locale=locale, now=now, also_role=also_role,
                          also_unit=also_unit)


async def unbind_member(db: Database, *, user_id: int) -> Document | None:
    """Remove the binding; the member as it was, or None when the user was not on the roster."""
    found = await grids_repo.membership(db, user_id=user_id)
    if found is not None:
        await grids_repo.unbind(db, user_id=user_id)
    return found


async def check_unit(db: Database, *, code: str, role: str) -> None:
    """Refuse an invite the binding would refuse later: unknown unit, or one of the wrong level."""
    levels = grids_repo.ROLES.get(role)
    if levels is None:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(grids_repo.ROLES)}")
    unit = await grids_repo.get_unit(db, code=code, geometry=False)
    if unit["level"] not in levels:
        raise InvalidInput(f"a {role} is bound to a {' or '.join(levels)}, but {code} is a {unit['level']}")


async def check_also(db: Database, *, role: str, also_role: str, also_unit: str) -> None:
    """Refuse a second role the binding would refuse: one not allowed beside `role`
    (grids.ALSO_ROLES), or a unit of the wrong level for it."""
    grids_repo.check_also(role, also_role)
    await check_unit(db, code=also_unit, role=also_role)


# --- places --------------------------------------------------------------------------------

def place(index: Any, *, lon: float, lat: float) -> dict[str, Any]:
    """Placement.to_dict() of a point; raises OutsideDistrict / BadCoordinates (InvalidInput)."""
    return dict(index.place(lon, lat).to_dict())


def is_outside(exc: InvalidInput) -> bool:
    return isinstance(exc, OutsideDistrict)


async def unit_label(db: Database, *, code: str, locale: str) -> str:
    try:
        return _name(await grids_repo.get_unit(db, code=code, geometry=False), locale) or code
    except UnitNotFound:
        return code


async def placement_labels(db: Database, *, placement: dict[str, Any], locale: str
                           ) -> dict[str, str | None]:
    community, street = placement.get("community_block"), placement.get("street_block")
    return {
        "community": await unit_label(db, code=community, locale=locale) if community else None,
        "street": await unit_label(db, code=street, locale=locale) if street else None,
    }


# --- categories ----------------------------------------------------------------------------

# Matters a citizen raises (consultations, people's circumstances) rather than a hazard a
# patrol sees: a coordinator finds them after "more…", never on the first page.
CITIZEN_TOPICS = frozenset({*APPEAL_CATEGORY.values(), "school_enrolment", "social_security",
                            "population", "neighbour_dispute"})
CATEGORY_PAGE = 8  # category buttons per message (two per row), then "more…"


async def hazard_categories(db: Database, *, placement: dict[str, Any], locale: str,
                            recent: list[str] | None = None) -> list[tuple[str, str]]:
    """(`cat:<code>`, name) of the active categories whose grid layer the placement has: the
    coordinator's `recent` ones first, then hazards (urgent first), citizen topics and "other"
    last."""
    layers = {"community"} | ({"street_surface"} if placement.get("street_block") else set())
    cats = [c for c in await cases_repo.list_categories(db, include_inactive=False)
            if c.get("layer") in layers]
    order = {code: i for i, code in enumerate(recent or [])}

    def rank(cat: dict[str, Any]) -> tuple[int, int, int, str]:
        code = str(cat["_id"])
        if code in order:
            return (0, order[code], 0, code)
        topic = 2 if code == "other" else 1 if code in CITIZEN_TOPICS else 0
        return (1, topic, 0 if cat.get("urgency") == "urgent" else 1, code)

    return [(f"cat:{c['_id']}", _name(c, locale) or str(c["_id"])) for c in sorted(cats, key=rank)]


async def recent_categories(db: Database, *, user_id: int, limit: int = 4) -> list[str]:
    return await repo.recent_categories(db, user_id=user_id, limit=limit)


async def category_label(db: Database, *, code: str | None, locale: str) -> str:
    if not code:
        return "—"
    try:
        return _name(await cases_repo.get_category(db, code=code), locale) or code
    except CategoryNotFound:
        return code


# --- photos --------------------------------------------------------------------------------

async def ingest_photo(db: Database, *, data: bytes, filename: str | None,
                       content_type: str | None, uploader: int, settings: Settings,
                       now: datetime, workers: Any = None
                       ) -> tuple[str, tuple[float, float] | None, datetime | None]:
    """Store a photo through media/; its id, the EXIF GPS (lon, lat) and capture time if any."""
    stored = await service.ingest(db, data=data, filename=filename, content_type=content_type,
                                  uploader=str(uploader), settings=settings, now=now, workers=workers)
    gps = stored.gps
    return stored.id, (gps.lon, gps.lat) if gps is not None else None, stored.taken_at


def photo_age(taken_at: datetime | None, settings: Settings, now: datetime) -> timedelta | None:
    """How old a photo is when older than PHOTO_MAX_AGE_H (None: recent or no capture time)."""
    if taken_at is None:
        return None
    age = now - taken_at
    return age if age > timedelta(hours=settings.photo_max_age_h) else None


async def likely_duplicates(db: Database, *, actor: dict[str, Any], data: dict[str, Any],
                            now: datetime) -> list[Document]:
    """What intake would suggest as duplicates of this report, before it is filed."""
    if not data.get("location") or data.get("on_spot"):
        return []
    return await lifecycle.likely_duplicates(db, category=data["category"], location=data["location"],
                                             photos=data["photos"], actor=actor, now=now)


async def add_report(db: Database, *, case_id: str, actor: dict[str, Any], photos: list[str],
                     now: datetime) -> Document:
    """"Add my photo to A": the photos join the open case and the reporter follows it."""
    return await lifecycle.add_report(db, case_ref=case_id, actor=actor, photos=photos, now=now)


# --- cases ---------------------------------------------------------------------------------

async def report_hazard(db: Database, *, actor: dict[str, Any], data: dict[str, Any],
                        settings: Settings, now: datetime) -> Document:
    """The coordinator's report (or a case handled on the spot, closed at intake)."""
    description = data.get("note") or await category_label(db, code=data["category"], locale="zh-CN")
    on_spot = {"after_photos": data["after"], "note": data.get("note") or None} if data["on_spot"] else None
    result = await intake(db, policy=_policy(settings), now=now, channel="patrol_bot", kind="hazard",
                          category=data["category"], description=description, actor=actor,
                          location=data["location"], placement=data["placement"],
                          photos=data["photos"], update_id=data["update_id"], on_the_spot=on_spot)
    if result.created:  # first among the categories offered on the coordinator's next report
        await repo.remember_category(db, user_id=int(actor["user_id"]), category=data["category"])
    return result.case


async def report_appeal(db: Database, *, actor: dict[str, Any], data: dict[str, Any],
                        settings: Settings, grid_index: Any, now: datetime) -> Document:
    """A citizen's appeal; intake places it when a location came with it (and a grid is loaded)."""
    result = await intake(db, policy=_policy(settings), now=now, channel="citizen_bot",
                          kind=data["kind"], category=APPEAL_CATEGORY[data["kind"]],
                          description=data["text"], actor=actor, location=data.get("location"),
                          grid=grid_index, photos=data["photos"], update_id=data["update_id"])
    return result.case


async def get_case(db: Database, *, case_id: str) -> Document:
    return await cases_repo.get_case(db, ref=case_id)


def is_handler(actor: dict[str, Any]) -> bool:
    """A role that may be assigned cases (the assignment buttons and /mine are for it)."""
    return actor["role"] in HANDLER_ROLES


def own_action(actor: dict[str, Any], case: Document, action: str) -> str:
    """The workflow action behind an assignment button for this member: an assisting unit of a
    joint case (cases.joint) accepts, returns and reports its own part."""
    who = Actor.of(actor)
    if action in PART_ACTIONS and workflow.is_assisting(who, case) and not workflow.is_assignee(who, case):
        return PART_ACTIONS[action]
    return action


def button_actions(actor: dict[str, Any], case: Document) -> list[str]:
    """The workflow actions this member may take on the case now that have a button."""
    return [a for a in workflow.allowed_actions(Actor.of(actor), case) if a in BUTTON_FOR_ACTION]


def refusal(actor: dict[str, Any], case: Document, action: str, *, version: int | None = None
            ) -> str | None:
    """Why the workflow refuses `action` here: "not_yours", "stale" (the case moved on since
    the message showed `version`), "wrong_state" (it cannot be done from this state) or None."""
    action = own_action(actor, case, action)
    try:
        workflow.check_role(Actor.of(actor), case, action)
    except NotYourCase:
        return "not_yours"
    if version is not None and case["version"] != version:
        return "stale"
    try:
        workflow.check_state(case, action, Actor.of(actor))
    except TransitionNotAllowed:
        return "wrong_state"
    return None


async def act(db: Database, *, action: str, case_id: str, version: int, actor: dict[str, Any],
              settings: Settings, now: datetime, **payload: Any) -> Document:
    """An assignment button's transition (a workflow action), guarded by the version the
    message showed."""
    policy = _policy(settings)
    common: dict[str, Any] = {"case_ref": case_id, "actor": actor, "now": now,
                              "expected_version": version}
    if action in PART_ACTIONS:
        action = own_action(actor, await cases_repo.get_case(db, ref=case_id), action)
    if action == "part_accept":
        return await joint.part_accept(db, **common)
    if action == "part_return":
        return await joint.part_return(db, policy=policy, reason=payload["reason"], **common)
    if action == "part_feedback":
        return await joint.part_feedback(db, policy=policy, text=payload["note"],
                                         photos=payload["photos"], **common)
    if action == "part_extend":
        more: dict[str, Any] = ({"working_days": int(payload["working_days"])}
                                if payload.get("working_days") else {"hours": float(payload["hours"])})
        return await joint.part_request_extension(db, policy=policy, reason=payload["reason"],
                                                  **more, **common)
    if action == "accept":
        return await lifecycle.accept(db, **common)
    if action == "return":
        return await lifecycle.return_case(db, policy=policy, reason=payload["reason"], **common)
    if action == "extend":
        amount: dict[str, Any] = ({"working_days": int(payload["working_days"])}
                                  if payload.get("working_days") else {"hours": float(payload["hours"])})
        return await lifecycle.request_extension(db, policy=policy, reason=payload["reason"],
                                                 **amount, **common)
    if action == "part_decide":
        return await joint.part_decide_extension(db, policy=policy, unit=payload["unit"],
                                                 approve=bool(payload["approve"]),
                                                 reason=payload.get("reason"), **common)
    if action == "decide":
        return await lifecycle.decide_extension(db, policy=policy, approve=bool(payload["approve"]),
                                                reason=payload.get("reason"), **common)
    if action == "feedback":
        return await lifecycle.feedback(db, policy=policy, text=payload["note"],
                                        photos=payload["photos"], **common)
    raise InvalidInput(f"unknown action {action!r}")


async def rate(db: Database, *, case_id: str, rating: int, actor: dict[str, Any],
               settings: Settings, now: datetime, comment: str | None = None) -> Document:
    return await lifecycle.rate(db, case_ref=case_id, actor=actor, now=now, score=rating,
                                comment=comment)


async def comment_rating(db: Database, *, case_id: str, actor: dict[str, Any], now: datetime,
                         comment: str) -> Document:
    return await lifecycle.comment_rating(db, case_ref=case_id, actor=actor, now=now, comment=comment)


async def answer_fixed(db: Database, *, case_id: str, actor: dict[str, Any], fixed: bool,
                       comment: str | None, settings: Settings, now: datetime) -> Document:
    """The reporter's "is it fixed?" answer (the workflow's `answer` row)."""
    return await lifecycle.answer_callback(db, case_ref=case_id, actor=actor, now=now,
                                           policy=_policy(settings), fixed=fixed, comment=comment)


def may(actor: dict[str, Any], case: Document, action: str) -> bool:
    return workflow.may(Actor.of(actor), case, own_action(actor, case, action))


def extension_unit(case: Document) -> str:
    """How the case's category counts time: "working_days" or "hours"."""
    return "working_days" if "working_days" in (case.get("limit") or {}) else "hours"


async def open_cases_for(db: Database, *, unit: str, now: datetime) -> list[tuple[Document, str]]:
    """The unit's open assignments (the 50 waiting longest), most urgent first, with their colour."""
    cases = await lists.assigned_open(db, unit=unit, limit=50)
    rank = {"red": 0, "yellow": 1, "blue": 2, "green": 3}
    # each on the unit's own clock (a joint case's assisting unit: its part's)
    rows: list[tuple[Document, str]] = [(c, unit_colour(c, unit, now)) for c in cases]
    rows.sort(key=lambda r: (rank[r[1]], r[0].get("due_at") or now))
    return rows


async def status_view(db: Database, *, serial: str, actor: dict[str, Any], locale: str,
                      settings: Settings) -> dict[str, Any] | None:
    """A case's state, handling unit and timeline by its serial; None when there is none this
    user may know of (cases.visibility: a not-public case exists only for its reporter and staff)."""
    try:
        case = await cases_repo.get_case_by_serial(db, serial=serial)
    except CaseNotFound:
        return None
    if visibility.audience(Actor.of(actor), case) is None:
        return None
    assignee = case.get("assignee") or {}
    unit = await unit_label(db, code=assignee["unit"], locale=locale) if assignee.get("unit") else None
    lines = [f"{local_time(h['at'], settings)} {t('state.' + h['to'], locale)}"
             for h in case.get("history", [])[-5:]]
    return {"serial": case["serial"], "state": case["state"], "unit": unit,
            "timeline": "\n".join(lines)}


def local_time(value: datetime, settings: Settings) -> str:
    return value.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
