"""The desk's queues and the read-only queries behind them (every write goes through cases'
domain; who may list what comes from `cases.visibility.scope`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from cases import workflow
from cases.colour import colour_of, colour_query
from cases.model import OPEN_STATES
from gridlink.db import Database, Document

# List pages skip the heavy fields.
_LIST = {"history": 0, "phashes": 0}


@dataclass(frozen=True)
class Queue:
    """A center's work list: the cases waiting for one of the workflow's actions."""

    name: str
    actions: tuple[str, ...]  # the buttons its rows offer (when the workflow allows them)
    states: tuple[str, ...] = ()
    pending_extension: bool = False
    overdue: bool = False
    flag: str | None = None  # a stored flag the case must carry (one equality, indexed)


# "new" and "returned" split the dispatch's sources: a returned case needs its reason read.
QUEUES: dict[str, Queue] = {q.name: q for q in (
    Queue("new", ("dispatch", "merge"), states=("reported",)),
    Queue("returned", ("dispatch",), states=("returned",)),
    Queue("extensions", ("decide",), states=workflow.transition("decide").sources,
          pending_extension=True),
    Queue("verification", ("verify",), states=workflow.transition("verify").sources),
    Queue("red", ("supervise",), overdue=True),
    # rated 1–2 by the reporter (cases.lifecycle.rate sets the flag): the center calls back
    Queue("low_ratings", (), states=("closed",), flag="low_rating"),
)}


def queue_filter(queue: str, now: datetime) -> dict[str, Any]:
    q = QUEUES[queue]
    if q.overdue:
        return colour_query("red", now)
    out: dict[str, Any] = {"state": q.states[0] if len(q.states) == 1 else {"$in": list(q.states)}}
    if q.pending_extension:
        out["extension.status"] = "pending"
    if q.flag:
        out[q.flag] = True
    return out


def in_queue(queue: str, case: Document, now: datetime) -> bool:
    """Python twin of `queue_filter` (red through cases' own colour_of)."""
    q = QUEUES[queue]
    if q.overdue:
        return colour_of(case, now) == "red"
    if case["state"] not in q.states or (q.flag and case.get(q.flag) is not True):
        return False
    return not q.pending_extension or (case.get("extension") or {}).get("status") == "pending"


def _and(*parts: dict[str, Any]) -> dict[str, Any]:
    parts = tuple(p for p in parts if p)
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": list(parts)}


async def open_cases_brief(db: Database, *, scope: dict[str, Any], limit: int = 20_000) -> list[Document]:
    """The open cases in scope with only the fields the queue counts need: one scan for all
    the navigation's counts (FerretDB answers each count with a scan of its own)."""
    cursor = db.cases.find(_and({"state": {"$in": list(OPEN_STATES)}}, scope),
                           {"state": 1, "due_at": 1, "warn_at": 1, "extension.status": 1,
                            "assignee.unit": 1}).limit(limit)
    return [doc async for doc in cursor]


async def cases(db: Database, *, query: dict[str, Any], scope: dict[str, Any], limit: int = 100,
                oldest_due_first: bool = False, with_history: bool = False) -> list[Document]:
    order = [("due_at", ASCENDING)] if oldest_due_first else [("_id", DESCENDING)]
    cursor = db.cases.find(_and(query, scope), None if with_history else _LIST).sort(order).limit(limit)
    return [doc async for doc in cursor]
