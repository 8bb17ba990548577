"""Read-only queries the desk's queues need (every write goes through cases' domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from cases.colour import colour_of, colour_query
from cases.model import OPEN_STATES
from gridlink.db import Database, Document

# List pages skip the heavy fields.
_LIST = {"history": 0, "phashes": 0}


def queue_filter(queue: str, now: datetime) -> dict[str, Any]:
    if queue == "new":
        return {"state": "reported"}
    if queue == "returned":
        return {"state": "returned"}
    if queue == "extensions":
        return {"state": {"$in": ["dispatched", "in_progress"]}, "extension.status": "pending"}
    if queue == "verification":
        return {"state": "awaiting_verification"}
    if queue == "red":
        return colour_query("red", now)
    raise KeyError(queue)


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


def in_queue(queue: str, case: Document, now: datetime) -> bool:
    """Python twin of `queue_filter` (red through cases' own colour_of)."""
    state = case["state"]
    if queue == "new":
        return state == "reported"
    if queue == "returned":
        return state == "returned"
    if queue == "extensions":
        return state in ("dispatched", "in_progress") and (case.get("extension") or {}).get("status") == "pending"
    if queue == "verification":
        return state == "awaiting_verification"
    if queue == "red":
        return colour_of(case, now) == "red"
    raise KeyError(queue)


async def cases(db: Database, *, query: dict[str, Any], scope: dict[str, Any], limit: int = 100,
                oldest_due_first: bool = False, with_history: bool = False) -> list[Document]:
    order = [("due_at", ASCENDING)] if oldest_due_first else [("_id", DESCENDING)]
    cursor = db.cases.find(_and(query, scope), None if with_history else _LIST).sort(order).limit(limit)
    return [doc async for doc in cursor]
