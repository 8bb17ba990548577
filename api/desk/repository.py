"""Read-only queries the desk's queues need (every write goes through cases' domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from cases.colour import colour_query
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


async def count(db: Database, *, query: dict[str, Any], scope: dict[str, Any]) -> int:
    return await db.cases.count_documents(_and(query, scope))


async def cases(db: Database, *, query: dict[str, Any], scope: dict[str, Any], limit: int = 100,
                oldest_due_first: bool = False, with_history: bool = False) -> list[Document]:
    order = [("due_at", ASCENDING)] if oldest_due_first else [("_id", DESCENDING)]
    cursor = db.cases.find(_and(query, scope), None if with_history else _LIST).sort(order).limit(limit)
    return [doc async for doc in cursor]
