"""Who may see what of a case: one policy for every door (DESIGN.md §4, "Who sees what").

Each principal gets an audience for a case, and the audience decides the view:

| audience | who                                                      | sees                                  |
|----------|----------------------------------------------------------|---------------------------------------|
| admin    | admin                                                    | everything, chat ids included         |
| center   | district dispatcher; street dispatcher / station head of the area | everything but chat and user ids |
| assignee | a unit the case is or was assigned to                    | what it needs to act; the reporter's contact only for appeals (callback) |
| reporter | the citizen who reported or follows it                   | the public view, their own words and photos, the result |
| public   | anyone, for cases marked public                          | a whitelist: nothing personal          |

Lists use `scope` (one equality on a stored multikey field, so an index serves it);
single cases use `view`. Stored fields `units` (the area's units and every unit it was
assigned to) and `assigned_units` are kept by intake and the lifecycle (`access_fields`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Literal

from cases.colour import colour_of
from cases.errors import CaseNotFound, NotYourCase
from cases.model import Actor

Audience = Literal["admin", "center", "assignee", "reporter", "public"]
Case = Mapping[str, Any]
AREA_FIELDS = ("street", "workstation", "community_block", "street_block", "patrol_zone")
# Roles whose area is a unit of the grid: they see every case placed or assigned there.
AREA_ROLES = ("dispatcher", "station_head")
# Roles that see the cases assigned to their unit.
ASSIGNEE_ROLES = ("leader", "department", "department_head", "station_head", "dispatcher")
# Keys that identify a chat account: admin-only, wherever they appear in a case.
CHAT_KEYS = frozenset({"chat_id", "user_id"})
# Kinds a citizen raised and the center calls back (回访): their assignee sees name and phone.
CALLBACK_KINDS = ("consultation", "complaint", "help", "suggestion")
# Channels and layers whose place is published with the case (patrol reports, street matters,
# Open311); a citizen's own location never is.
PUBLISHED_CHANNELS = ("patrol_bot", "open311")
# The system's reminders, escalations and recomputed deadlines: the center's business, not a
# step of the case the public or the reporter follows.
NOTICE_ACTIONS = frozenset({"remind", "escalate", "recompute_deadline"})
# Moderation (cases.moderation) is the center's business too: not a step the public follows.
MODERATION_ACTIONS = frozenset({"hide", "unhide", "redact"})
_INTERNAL = ("intake_key", "phashes", "units", "assigned_units", "spot")
_LIST_HIDDEN = ("reporter", "followers", "history", "update_id", "duplicate_candidates",
                "reporter_callback")


# ---------------------------------------------------------------- stored access fields


def area_units(case: Case) -> list[str]:
    placement = case.get("placement") or {}
    units = [case.get("district"), *(placement.get(f) for f in AREA_FIELDS)]
    return list(dict.fromkeys(u for u in units if u))


def assigned_units(case: Case) -> list[str]:
    """Every unit the case is or was assigned to (stored, or read off the history)."""
    stored = case.get("assigned_units")
    units = list(stored) if stored is not None else [
        ((e.get("data") or {}).get("assignee") or {}).get("unit") for e in case.get("history") or []]
    units.append((case.get("assignee") or {}).get("unit"))
    units += [p.get("unit") for p in case.get("parts") or []]  # a joint case's assisting units
    return list(dict.fromkeys(u for u in units if u))


def access_fields(case: Case) -> dict[str, list[str]]:
    """The stored fields the list scopes query: to be written with every change of place or assignee."""
    assigned = assigned_units(case)
    return {"units": list(dict.fromkeys([*area_units(case), *assigned])), "assigned_units": assigned}


def _units(case: Case) -> list[str]:
    stored = case.get("units")
    return list(stored) if stored is not None else access_fields(case)["units"]


# ---------------------------------------------------------------- who is who


def is_district_center(actor: Actor, district: str | None) -> bool:
    return actor.role == "admin" or (actor.role == "dispatcher" and actor.unit == district)


def in_area(actor: Actor | None, case: Case) -> bool:
    """A center (or station head) whose area the case lies in or whose unit it was assigned to."""
    if actor is None:
        return False
    if is_district_center(actor, case.get("district")):
        return True
    return actor.role in AREA_ROLES and actor.unit is not None and actor.unit in _units(case)


def is_reporter(actor: Actor | None, case: Case) -> bool:
    if actor is None or actor.user_id is None:
        return False
    people = [case.get("reporter") or {}, *(case.get("followers") or [])]
    return any(p.get("user_id") == actor.user_id for p in people)


def audience(actor: Actor | None, case: Case) -> Audience | None:
    """What this principal may see of the case; None: nothing (not even that it exists)."""
    if actor is not None and actor.role == "admin":
        return "admin"
    if in_area(actor, case):
        return "center"
    if (actor is not None and actor.role in ASSIGNEE_ROLES and actor.unit
            and actor.unit in assigned_units(case)):
        return "assignee"
    if is_reporter(actor, case):
        return "reporter"
    if case.get("public") and not case.get("hidden"):
        return "public"
    return None


def scope(actor: Actor | None, *, district: str) -> dict[str, Any]:
    """The query filter of the cases this principal may list (staff lists, public lists)."""
    if actor is None or actor.role in ("citizen", "coordinator", "system", "anonymous"):
        return {"public": True}
    if is_district_center(actor, district):
        return {}
    if actor.role in AREA_ROLES:
        return {"units": actor.unit}
    if actor.role in ASSIGNEE_ROLES:
        return {"assigned_units": actor.unit}
    return {"public": True}


def require(actor: Actor | None, case: Case) -> Audience:
    """The audience, or the refusal: 404 for those who may not know the case exists, 403 for staff."""
    seen = audience(actor, case)
    if seen is not None:
        return seen
    if actor is None or actor.role in ("citizen", "coordinator", "anonymous"):
        raise CaseNotFound(f"no case {case.get('serial')!r}")
    raise NotYourCase(f"case {case.get('serial')} is outside your area", unit=actor.unit)


# ---------------------------------------------------------------- views


def jsonable(value: Any) -> Any:
    """Datetimes as ISO 8601 strings, recursively."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def _without(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list | tuple):
        return [_without(v, keys) for v in value]
    return value


def public_photos(case: Case) -> list[str]:
    """Photos the public may see (`public_photos`, kept by intake and feedback)."""
    return list(dict.fromkeys(case.get("public_photos") or []))


def redacted_copies(case: Case) -> dict[str, str]:
    """Photo id → its redacted copy (cases.moderation): the copy stands in for it publicly."""
    return {r["photo"]: r["redacted"] for r in case.get("redactions") or []
            if r.get("photo") and r.get("redacted")}


def place_is_published(case: Case) -> bool:
    return case.get("channel") in PUBLISHED_CHANNELS or case.get("layer") == "street_surface"


def public_view(case: Case, now: datetime) -> dict[str, Any]:
    """Anyone's view of a public case: a whitelist, never the reporter, contact or internal ids."""
    assignee = case.get("assignee") or {}
    rating = case.get("rating") or {}
    history = case.get("history") or []
    placement = case.get("placement") or {}
    out: dict[str, Any] = {
        "serial": case["serial"],
        "status": case["state"],
        "colour": colour_of(dict(case), now),
        "kind": case["kind"],
        "category": case.get("category"),
        "category_name": case.get("category_name"),
        "handling_unit": {"name": assignee.get("name"), "kind": assignee.get("kind")} if assignee else None,
        "street": placement.get("street"),
        "created_at": case["created_at"],
        "deadline": case.get("deadline"),
        "closed_at": case.get("closed_at"),
        "supervised": bool(case.get("supervised")),
        "rated": bool(rating),
        "merged_into_serial": next((e.get("data", {}).get("into_serial") for e in history
                                    if e["action"] == "merge"), None),
        "timeline": [{"at": e["at"], "action": e["action"], "status": e["to"]} for e in history
                     if e["action"] not in NOTICE_ACTIONS and e["action"] not in MODERATION_ACTIONS],
        "photos": public_photos(case),
        "location": case.get("location") if place_is_published(case) else None,
    }
    if case["state"] == "closed" and case.get("result"):
        copies = redacted_copies(case)
        out["result"] = {"text": (case.get("result") or {}).get("text"),
                         "photos": [copies.get(p, p) for p in (case.get("result") or {}).get("photos") or []
                                    if copies.get(p, p) in out["photos"]]}
    return jsonable(out)


def reporter_view(case: Case, now: datetime) -> dict[str, Any]:
    """The reporter's own case: the public view plus their words, their photos and the result."""
    out = public_view(case, now)
    result = case.get("result") or {}
    out.update(description=case.get("description"), location=jsonable(case.get("location")),
               own_photos=list(case.get("photos") or []),
               result={"text": result.get("text"), "photos": list(result.get("photos") or [])}
               if result else None)
    return out


def staff_view(case: Case, now: datetime, *, seen_as: Audience = "admin") -> dict[str, Any]:
    out = {k: v for k, v in case.items() if k not in _INTERNAL}
    out["id"] = out.pop("_id")
    out["colour"] = colour_of(dict(case), now)
    if seen_as != "admin":
        out = _without(out, CHAT_KEYS)
    if seen_as == "assignee":
        out.pop("followers", None)
        out.pop("duplicate_candidates", None)
        if case.get("kind") not in CALLBACK_KINDS:
            reporter = out.get("reporter") or {}
            out["reporter"] = {k: v for k, v in reporter.items() if k == "role"}
    return jsonable(out)


def list_item(case: Case, now: datetime, *, seen_as: Audience = "center") -> dict[str, Any]:
    if seen_as in ("public", "reporter"):
        return public_view(case, now)
    out = {k: v for k, v in case.items() if k not in _INTERNAL and k not in _LIST_HIDDEN}
    out["id"] = out.pop("_id")
    out["colour"] = colour_of(dict(case), now)
    return jsonable(_without(out, CHAT_KEYS))


def view(actor: Actor | None, case: Case, now: datetime) -> dict[str, Any]:
    """One case as this principal may see it (CaseNotFound / NotYourCase when not at all)."""
    seen = require(actor, case)
    if seen == "public":
        return public_view(case, now)
    if seen == "reporter":
        return reporter_view(case, now)
    return staff_view(case, now, seen_as=seen)


# ---------------------------------------------------------------- photos


def case_photos(case: Case) -> list[str]:
    """Every photo a case carries: intake, after (on the spot) and result photos."""
    return list(dict.fromkeys([*(case.get("photos") or []), *(case.get("after_photos") or []),
                               *(case.get("result_photos") or [])]))


def photo_visible(actor: Actor | None, cases: Iterable[Case], photo_id: str) -> bool:
    """Whether this principal may see the photo, given the cases that carry it."""
    for case in cases:
        seen = audience(actor, case)
        if seen in ("admin", "center", "assignee") and (
                photo_id in case_photos(case) or photo_id in redacted_copies(case).values()):
            return True
        if seen == "reporter" and photo_id in case_photos(case):
            return True
        if seen is not None and case.get("public") and not case.get("hidden") \
                and photo_id in public_photos(case):
            return True
    return False


def photo_is_public(cases: Iterable[Case], photo_id: str) -> bool:
    return photo_visible(None, cases, photo_id)
