"""Colour warnings (分色预警): one pure function of a case and the time, used everywhere.

Every open step runs against a limit stored on the case when the step began: `due_at`
(past it the case is red) and `warn_at` (from it the case is yellow; the last
`COLOUR_YELLOW_FRACTION` of the limit). Steps: reported/returned → the dispatch limit;
dispatched/in_progress → the handling deadline; awaiting_verification → the verification
limit. So "red" means "not acted on in time" at whatever step the case waits.

| colour | when |
|---|---|
| green  | closed (or merged into another case) |
| red    | open and now > due_at |
| yellow | open and warn_at <= now <= due_at |
| blue   | open and now < warn_at |
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

Colour = Literal["green", "blue", "yellow", "red"]
COLOURS: tuple[Colour, ...] = ("green", "blue", "yellow", "red")
_DONE = ("closed", "merged", "refused", "voided")  # refused/voided: ended unhandled (issue 22)


def colour_of(case: dict[str, Any], now: datetime) -> Colour:
    if case["state"] in _DONE:
        return "green"
    return _clock(case, now)


def _clock(running: Mapping[str, Any], now: datetime) -> Colour:
    """The colour of a running step (a case's or a joint case's part) by its own due/warn times."""
    due, warn = running.get("due_at"), running.get("warn_at")
    if due is not None and now > due:
        return "red"
    if warn is not None and now >= warn:
        return "yellow"
    return "blue"


def colour_query(colour: Colour, now: datetime) -> dict[str, Any]:
    """A MongoDB filter selecting exactly the cases `colour_of` paints `colour` at `now`."""
    if colour == "green":
        return {"state": {"$in": list(_DONE)}}
    open_ = {"state": {"$nin": list(_DONE)}}
    if colour == "red":
        return {**open_, "due_at": {"$lt": now}}
    if colour == "yellow":
        return {**open_, "due_at": {"$gte": now}, "warn_at": {"$lte": now}}
    return {**open_, "warn_at": {"$gt": now}}


# ---- joint cases (联勤联动, cases.joint): each unit on its own clock

OPEN_PART_STATES = ("dispatched", "in_progress")


def open_parts(case: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in case.get("parts") or [] if p.get("state") in OPEN_PART_STATES]


def _part_of(case: Mapping[str, Any], unit: str) -> Mapping[str, Any] | None:
    return next((p for p in case.get("parts") or [] if p.get("unit") == unit), None)


def unit_due(case: Mapping[str, Any], unit: str) -> datetime | None:
    """When the unit's own step of the case is late (None: it has no running step).

    An assisting unit of a joint case runs on its part's clock; the lead, once it has fed back,
    waits for the others on nobody's clock; every other unit (and any unit of a case without
    parts) on the case's."""
    part = _part_of(case, unit)
    if part is not None:
        return part.get("due_at") if part.get("state") in OPEN_PART_STATES else None
    if (case.get("assignee") or {}).get("unit") == unit and case.get("waiting_parts"):
        return None
    return case.get("due_at")


def part_colour(part: Mapping[str, Any], now: datetime) -> Colour:
    """A part's colour on its own clock (done or returned: green)."""
    if part.get("state") not in OPEN_PART_STATES:
        return "green"
    return _clock(part, now)


def unit_colour(case: Mapping[str, Any], unit: str, now: datetime) -> Colour:
    """The case's colour for one unit: its own part's for an assisting unit, else the case's."""
    part = _part_of(case, unit)
    if part is not None and case.get("state") not in _DONE:
        return part_colour(part, now)
    if case.get("waiting_parts") and (case.get("assignee") or {}).get("unit") == unit:
        return "blue"  # the lead has fed back: no clock of its own runs while it waits
    return colour_of(dict(case), now)
