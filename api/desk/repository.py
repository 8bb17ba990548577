"""The desk's queues and the read-only queries behind them (every write goes through cases'
domain; who may list what comes from `cases.visibility.scope`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from cases import lists, workflow
from cases.colour import colour_of, colour_query
from cases.schema import pending_extension, read_case
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
    Queue("extensions", ("decide", "part_decide"), states=workflow.transition("decide").sources,
          pending_extension=True),
    Queue("verification", ("verify",), states=workflow.transition("verify").sources),
    Queue("red", ("supervise",), overdue=True),
    # rated 1–2 by the reporter (cases.lifecycle.rate sets the flag): the center calls back
    Queue("low_ratings", (), states=("closed",), flag="low_rating"),
    # 挂账 (issue 22): off the clocks until their review date; the center may resume one early
    Queue("suspended", ("resume",), states=("suspended",)),
    # dispatched by a category's rule (cases.autodispatch): the center may take any back
    Queue("auto", ("take_back",), states=lists.AUTO_STATES, flag="auto_dispatched"),
)}


def queue_filter(queue: str, now: datetime) -> dict[str, Any]:
    q = QUEUES[queue]
    if q.overdue:
        return colour_query("red", now)
    out: dict[str, Any] = {"state": q.states[0] if len(q.states) == 1 else {"$in": list(q.states)}}
    if q.pending_extension:  # the case's request or a part's (cases.schema.pending_extension)
        out["queue"] = "extensions"
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
    # the case's request, or a joint case's part's (cases.joint)
    return not q.pending_extension or pending_extension(case)


def _and(*parts: dict[str, Any]) -> dict[str, Any]:
    parts = tuple(p for p in parts if p)
    if not parts:
        return {}
    return parts[0] if len(parts) == 1 else {"$and": list(parts)}


def scope_unit(scope: dict[str, Any], district: str) -> str:
    """The unit whose lists a center's scope is: its area's unit, or the district's."""
    return str(scope.get("units") or scope.get("assigned_units") or district)


def count_label(n: int) -> str:
    """A navigation count as shown: "99+" from the cap on (counting further grows with the cases)."""
    return f"{lists.COUNT_CAP - 1}+" if n >= lists.COUNT_CAP else str(n)


async def nav_counts(db: Database, *, unit: str, now: datetime, center: bool,
                     own_unit: str | None) -> dict[str, int]:
    """The navigation's counts: the unit's counters document (`cases.lists.counts`, kept by
    the keys' writes) and the few cases waiting in an unkeyed queue, whatever the number of
    cases, read together (one round trip's wait)."""
    reads: dict[str, Awaitable[Any]] = {}
    if center:
        await lists.sweep_red(db, now=now)  # red keys up to now, counted as they are stored
        reads["counts"] = lists.counts(db, unit=unit)
        for name in lists.UNKEYED_QUEUES:
            reads[name] = lists.waiting_count(db, queue=name, unit=unit)
    if own_unit:
        reads["unit"] = lists.count(db, key=f"a:{own_unit}")
    got = dict(zip(reads, await asyncio.gather(*reads.values()), strict=True))
    have = got.pop("counts", None)
    if have is not None:
        for name in QUEUES:
            if name not in lists.UNKEYED_QUEUES:
                got[name] = min(lists.COUNT_CAP, have.get("r" if name == "red" else f"q_{name}", 0))
    return got


async def queue_cases(db: Database, *, queue: str, unit: str, now: datetime,
                      limit: int = 50) -> list[Document]:
    """A queue's page: a page of its keys, then those cases by `_id` (re-checked: a key may
    lag a change by a moment); the red queue oldest deadline first."""
    if queue == "red":
        await lists.sweep_red(db, now=now)
        ids = await lists.page(db, key=f"r:{unit}", limit=limit)
    elif queue not in lists.UNKEYED_QUEUES:
        ids = await lists.page(db, key=f"q:{queue}:{unit}", limit=limit)
    if queue in lists.UNKEYED_QUEUES:
        found = await lists.waiting(db, queue=queue, unit=unit)
    else:
        # a row shows no history (the returned queue: its last return's reason)
        found = await db.cases.find({"_id": {"$in": ids}}, None if queue == "returned" else _LIST
                                    ).to_list(None) if ids else []
    docs = [read_case(d) for d in found]
    docs = [d for d in docs if in_queue(queue, d, now)]
    if queue == "red":
        docs.sort(key=lambda d: d["due_at"])
    else:
        docs.sort(key=lambda d: (d["created_at"], str(d["_id"])), reverse=True)
    return docs[:limit]


async def unit_cases(db: Database, *, unit: str, scope: dict[str, Any],
                     limit: int = 50) -> list[Document]:
    """The open cases assigned to the unit, those waiting longest first (`cases.lists`)."""
    return await lists.assigned_open(db, unit=unit, limit=limit, scope=scope)


async def cases(db: Database, *, query: dict[str, Any], scope: dict[str, Any], limit: int = 100,
                oldest_due_first: bool = False, with_history: bool = False) -> list[Document]:
    order = [("due_at", ASCENDING)] if oldest_due_first else [("_id", DESCENDING)]
    cursor = db.cases.find(_and(query, scope), None if with_history else _LIST).sort(order).limit(limit)
    return [doc async for doc in cursor]
