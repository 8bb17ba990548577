"""The audit log of administration: who changed what, when (`audit_log`).

Each entry is written by the door that made the change, after the change succeeded. Entries are
read a day at a time by their local `day` (an indexed equality, never a sort over the log).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ASCENDING

from gridlink.db import Database, Document

# Actions, each a catalog key `audit.<action>` on the desk.
ACTIONS = ("roster.import", "roster.unbind", "roster.remove", "roster.reissue",
           "staff.add", "staff.disable", "staff.enable",
           "open311_key.create", "open311_key.revoke", "token.create", "token.revoke",
           "category.update", "grid.install", "assessment.weights",
           "calendar.enter", "calendar.delete", "invite.create", "refusal_reason.add", "refusal_reason.update")


async def ensure_indexes(db: Database) -> None:
    await db.audit_log.create_index([("day", ASCENDING)])


async def record(db: Database, *, by: str, action: str, target: str, now: datetime,
                 tz: ZoneInfo, detail: dict[str, Any] | None = None) -> None:
    assert action in ACTIONS, action
    await db.audit_log.insert_one({"at": now, "day": now.astimezone(tz).date().isoformat(),
                                   "by": by, "action": action, "target": target,
                                   "detail": detail or {}})


async def entries_of(db: Database, *, day: date) -> list[Document]:
    """One local day's entries, latest first."""
    docs = await db.audit_log.find({"day": day.isoformat()}).to_list(None)
    return sorted(docs, key=lambda d: (d["at"], str(d["_id"])), reverse=True)
