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

from datetime import datetime
from typing import Any, Literal

Colour = Literal["green", "blue", "yellow", "red"]
COLOURS: tuple[Colour, ...] = ("green", "blue", "yellow", "red")
_DONE = ("closed", "merged", "refused", "voided")  # refused/voided: ended unhandled (issue 22)


def colour_of(case: dict[str, Any], now: datetime) -> Colour:
    if case["state"] in _DONE:
        return "green"
    due, warn = case.get("due_at"), case.get("warn_at")
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
