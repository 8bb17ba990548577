"""Joint cases (联勤联动): a lead unit and assisting units, each with its own part of the case.

The lead is the case's `assignee` and works it as any case (accept, extend, feedback). Each
assisting unit gets a part in `case.parts` — `{unit, kind, name, state, deadline, due_at,
warn_at, dispatched_at, accepted_at, feedback, returned}` — with its own deadline (the
category's time limit from when it was added) and its own steps, the workflow's "assisting"
rows: `part_accept` (dispatched → in_progress), `part_return` (→ returned: not ours, the case
no longer waits for it) and `part_feedback` (→ done). The center adds parts at dispatch or
later (`assist`, which also re-adds a returned unit or moves an open part's deadline).

The case waits for all: the lead's feedback leaves it in_progress (`waiting_parts`) on the
earliest open part's clock until the last part has fed back (or returned), then it goes to
awaiting_verification. A failed verification sends the lead and the parts it names back.
Each unit is red on its own clock only (`cases.colour.unit_due`, read by the lists and boards).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from cases import lifecycle
from cases import photos as case_photos
from cases import repository as repo
from cases.calendar import warn_time
from cases.colour import OPEN_PART_STATES, open_parts
from cases.errors import BadCaseInput
from cases.model import Actor, CasePolicy
from cases.routing import kind_of_unit
from cases.workflow import check, part_of
from gridlink.db import Database, Document

ActorLike = lifecycle.ActorLike
MAX_PARTS = 10  # assisting units of one case

lifecycle.EVENT_TYPES.update({"assist": "case.assisting", "part_accept": "case.part_accepted",
                              "part_return": "case.part_returned",
                              "part_feedback": "case.part_feedback"})


# ---------------------------------------------------------------- reading parts


def parts_clock(parts: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The case's clock while it waits for these parts: the earliest of theirs."""
    dues = [p["due_at"] for p in parts if p.get("due_at")]
    warns = [p["warn_at"] for p in parts if p.get("warn_at")]
    return {"due_at": min(dues) if dues else None, "warn_at": min(warns) if warns else None}


def parts_on_time(case: Mapping[str, Any]) -> bool:
    return all((p.get("feedback") or {}).get("on_time", True) for p in case.get("parts") or []
               if p.get("state") == "done")


def part_on_time(part: Mapping[str, Any]) -> bool | None:
    """How a unit's part ended for the assessment: on time, late, or not (yet) fed back."""
    if part.get("state") != "done":
        return None
    return bool((part.get("feedback") or {}).get("on_time", True))


# ---------------------------------------------------------------- building parts


def _units(value: object, *, lead: str | None) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(u, str) and u.strip() for u in value):
        raise BadCaseInput("units must be a list of unit codes", field="units")
    units = list(dict.fromkeys(u.strip() for u in value))
    if lead in units:
        raise BadCaseInput(f"{lead} is the lead unit; an assisting unit must be another",
                           field="units")
    if len(units) > MAX_PARTS:
        raise BadCaseInput(f"at most {MAX_PARTS} assisting units", field="units")
    return units


async def new_parts(db: Database, case: Mapping[str, Any], *, units: object, lead: str | None,
                    now: datetime, policy: CasePolicy,
                    deadline: datetime | None = None) -> list[Document]:
    """Fresh parts for these units: the category's time limit from now (or `deadline`)."""
    if lead and any(p.get("unit") == lead and p.get("state") in OPEN_PART_STATES
                    for p in case.get("parts") or []):
        raise BadCaseInput(f"{lead} assists this case already; it cannot also lead it",
                           field="unit")
    codes = _units(units, lead=lead)
    if not codes:
        return []
    if deadline is not None:
        due = deadline
    else:
        due = await lifecycle.compute_deadline(db, limit=case["limit"], start=now, policy=policy)
    out = []
    for code in codes:
        kind = kind_of_unit(code, district=case["district"], placement=case.get("placement"))
        out.append({"unit": code, "kind": kind, "name": await repo.unit_name(db, unit=code) or code,
                    "state": "dispatched", "deadline": due, "due_at": due,
                    "warn_at": warn_time(now, due, policy.yellow_fraction), "dispatched_at": now,
                    "accepted_at": None, "feedback": None, "returned": None})
    return out


def merge_parts(old: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> list[Document]:
    """The case's parts with `new` replacing a unit's earlier part (a returned unit re-added)."""
    fresh = {p["unit"]: dict(p) for p in new}
    kept = [dict(p) for p in old if p.get("unit") not in fresh]
    return [*kept, *fresh.values()]


def reopen_parts(case: Mapping[str, Any], *, units: list[str] | None, due: datetime,
                 now: datetime, policy: CasePolicy) -> dict[str, Any] | None:
    """The `$set` sending back, with the lead, the parts `units` names (every part with
    feedback when None) after a failed verification; None for a case without parts."""
    parts = case.get("parts") or []
    if not parts:
        if units:
            raise BadCaseInput("the case has no assisting units to send back", field="parts")
        return None
    known = {p["unit"] for p in parts}
    if units is not None:
        if not isinstance(units, list) or not all(isinstance(u, str) for u in units):
            raise BadCaseInput("parts must be a list of unit codes", field="parts")
        unknown = [u for u in units if u not in known]
        if unknown:
            raise BadCaseInput(f"not an assisting unit of the case: {', '.join(unknown)}",
                               field="parts")
    chosen = set(units) if units is not None else {p["unit"] for p in parts if p.get("state") == "done"}
    out = []
    for p in parts:
        p = dict(p)
        if p["unit"] in chosen and p.get("state") != "returned":
            p.update(state="in_progress", deadline=due, due_at=due, reopened_at=now,
                     warn_at=warn_time(now, due, policy.yellow_fraction))
        out.append(p)
    return {"parts": out, "waiting_parts": False}


# ---------------------------------------------------------------- transitions


async def assist(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                 policy: CasePolicy, units: object, deadline: datetime | None = None,
                 note: str | None = None, expected_version: int | None = None) -> Document:
    """The center adds assisting units to a running case (or re-adds one that returned its part,
    or gives an open part a new deadline): each new part runs on its own clock from now."""
    who = Actor.of(actor)
    case = await lifecycle._load(db, case_ref, expected_version)
    check(who, case, "assist")
    why = lifecycle.clean_text(note, "note", required=False, limit=1000)
    if deadline is not None:
        deadline = lifecycle._aware(deadline, "deadline")
        if deadline <= now:
            raise BadCaseInput("the deadline must be in the future", field="deadline")
    codes = _units(units, lead=(case.get("assignee") or {}).get("unit"))
    if not codes:
        raise BadCaseInput("units is required: the assisting units' codes", field="units")
    parts = await new_parts(db, case, units=codes, lead=None, now=now, policy=policy,
                            deadline=deadline)
    # an open part keeps its progress; only its deadline moves (the center's extension)
    for p in parts:
        old = part_of(case, p["unit"])
        if old is not None and old.get("state") in OPEN_PART_STATES:
            p.update({k: old.get(k) for k in ("state", "accepted_at", "dispatched_at", "kind", "name")})
    merged = merge_parts(case.get("parts") or [], parts)
    set_: dict[str, Any] = {"parts": merged}
    to = case["state"]
    if case.get("waiting_parts"):
        set_.update(parts_clock(open_parts({"parts": merged})))
    entry = lifecycle.history_entry(case, actor=who, action="assist", to=to, now=now, reason=why,
                                    data={"units": codes, "deadline": parts[0]["deadline"],
                                          "assignee": case.get("assignee")})
    return await lifecycle._commit(db, case, entry, set_=set_)


def _with_part(case: Mapping[str, Any], unit: str, **changes: Any) -> list[Document]:
    return [{**p, **changes} if p.get("unit") == unit else dict(p) for p in case.get("parts") or []]


def _after_part(case: Mapping[str, Any], parts: list[Document], *, now: datetime,
                policy: CasePolicy) -> tuple[str, dict[str, Any]]:
    """The case's state and clock once a part ended: awaiting_verification when the lead
    waits and no part is open any more; else the state it is in."""
    if not case.get("waiting_parts"):
        return case["state"], {"parts": parts}
    still = open_parts({"parts": parts})
    if still:
        return case["state"], {"parts": parts, **parts_clock(still)}
    due = now + timedelta(hours=float(case["verify_hours"]))
    return "awaiting_verification", {"parts": parts, "waiting_parts": False,
                                     **lifecycle._due_fields(now, due, policy)}


async def part_accept(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                      expected_version: int | None = None) -> Document:
    who = Actor.of(actor)
    case = await lifecycle._load(db, case_ref, expected_version)
    check(who, case, "part_accept")
    assert who.unit is not None
    entry = lifecycle.history_entry(case, actor=who, action="part_accept", to=case["state"],
                                    now=now, data={"unit": who.unit})
    return await lifecycle._commit(db, case, entry, set_={
        "parts": _with_part(case, who.unit, state="in_progress", accepted_at=now)})


async def part_return(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                      policy: CasePolicy, reason: str | None,
                      expected_version: int | None = None) -> Document:
    """An assisting unit says the part is not theirs: the case no longer waits for it (the
    center may add it again or another unit with `assist`)."""
    who = Actor.of(actor)
    case = await lifecycle._load(db, case_ref, expected_version)
    check(who, case, "part_return")
    assert who.unit is not None
    why = lifecycle.clean_text(reason, "reason", required=True, limit=1000)
    parts = _with_part(case, who.unit, state="returned",
                       returned={"at": now, "by": who.to_dict(), "reason": why})
    to, set_ = _after_part(case, parts, now=now, policy=policy)
    entry = lifecycle.history_entry(case, actor=who, action="part_return", to=to, now=now,
                                    reason=why, data={"unit": who.unit})
    return await lifecycle._commit(db, case, entry, set_=set_)


async def part_feedback(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                        policy: CasePolicy, text: str | None, photos: list[str] | None = None,
                        expected_version: int | None = None) -> Document:
    """An assisting unit reports its part's result (text + photos), on time or not by its own
    deadline; the last one of a case whose lead has fed back sends it to verification."""
    who = Actor.of(actor)
    case = await lifecycle._load(db, case_ref, expected_version)
    check(who, case, "part_feedback")
    assert who.unit is not None
    body = lifecycle.clean_text(text, "text", required=True)
    pics = lifecycle.photo_ids(photos)
    await case_photos.take(db, photos=pics, actor=who, case_id=case["_id"])
    mine = part_of(case, who.unit) or {}
    on_time = mine.get("due_at") is None or now <= mine["due_at"]
    feedback = {"text": body, "photos": pics, "at": now, "by": who.to_dict(), "on_time": on_time}
    parts = _with_part(case, who.unit, state="done", feedback=feedback)
    to, set_ = _after_part(case, parts, now=now, policy=policy)
    entry = lifecycle.history_entry(case, actor=who, action="part_feedback", to=to, now=now,
                                    data={"unit": who.unit, "text": body, "photos": pics,
                                          "on_time": on_time})
    return await lifecycle._commit(db, case, entry, set_=set_,
                                   push={"result_photos": {"$each": pics},
                                         "public_photos": {"$each": pics},
                                         "photo_ids": {"$each": pics}})


lifecycle.EVENT_TYPES.update({"part_request_extension": "case.part_extension_requested",
                              "part_decide_extension": "case.part_extension_decided"})


async def part_request_extension(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                                 policy: CasePolicy, reason: str | None,
                                 until: datetime | None = None, working_days: int | None = None,
                                 hours: float | None = None,
                                 expected_version: int | None = None) -> Document:
    """An assisting unit asks the center for more time for its own part."""
    who = Actor.of(actor)
    case = await lifecycle._load(db, case_ref, expected_version)
    check(who, case, "part_extend")
    assert who.unit is not None
    why = lifecycle.clean_text(reason, "reason", required=True, limit=1000)
    mine = part_of(case, who.unit) or {}
    request = await lifecycle.extension_request(
        db, current=mine["due_at"], now=now, who=who, why=why, policy=policy, until=until,
        working_days=working_days, hours=hours)
    entry = lifecycle.history_entry(case, actor=who, action="part_request_extension",
                                    to=case["state"], now=now, reason=why,
                                    data={"unit": who.unit, "until": request["until"],
                                          "previous": request["previous"]})
    return await lifecycle._commit(db, case, entry,
                                   set_={"parts": _with_part(case, who.unit, extension=request)})


def request_waiting(case: Mapping[str, Any], unit: str | None) -> bool:
    """Whether the assisting unit's extension request for its part waits for the center."""
    return ((part_of(case, unit) or {}).get("extension") or {}).get("status") == "pending"


async def part_decide_extension(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                                policy: CasePolicy, unit: str | None, approve: bool,
                                reason: str | None = None,
                                expected_version: int | None = None) -> Document:
    """The center approves (the part's new deadline) or refuses (a reason) a part's request."""
    who = Actor.of(actor)
    case = await lifecycle._load(db, case_ref, expected_version)
    check(who, case, "part_decide")
    part = part_of(case, unit)
    request = (part or {}).get("extension") or {}
    if part is None or not request_waiting(case, unit):
        waiting = [p["unit"] for p in case.get("parts") or []
                   if (p.get("extension") or {}).get("status") == "pending"]
        raise BadCaseInput(f"unit must be an assisting unit with a request waiting: "
                           f"{', '.join(waiting)}", field="unit")
    assert unit is not None
    why = lifecycle.clean_text(reason, "reason", required=not approve, limit=1000)
    decided = {**request, "status": "approved" if approve else "refused", "decided_at": now,
               "decided_by": who.to_dict(), "decision_reason": why}
    changes: dict[str, Any] = {"extension": decided}
    if approve:
        new = request["until"]
        begun = part.get("reopened_at") or part.get("dispatched_at") or now
        changes.update(deadline=new, due_at=new, warn_at=warn_time(begun, new, policy.yellow_fraction))
    parts = _with_part(case, unit, **changes)
    set_: dict[str, Any] = {"parts": parts}
    if case.get("waiting_parts"):
        set_.update(parts_clock(open_parts({"parts": parts})))
    entry = lifecycle.history_entry(case, actor=who, action="part_decide_extension",
                                    to=case["state"], now=now, reason=why,
                                    data={"unit": unit, "approved": approve,
                                          "deadline": changes.get("due_at", part.get("due_at")),
                                          "previous": part.get("due_at")})
    return await lifecycle._commit(db, case, entry, set_=set_)
