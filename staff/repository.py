"""Database access for staff accounts and desk sessions.

Collections: `staff` (accounts), `staff_login_failures` (one insert per failed sign-in:
FerretDB v1 loses concurrent `$inc`s, so failures are counted, not incremented),
`staff_lockouts` (`_id` = username: `until`, `reset_at`; kept for unknown usernames too, so
a lockout does not reveal which accounts exist) and
`desk_sessions` (`_id` = SHA-256 of the cookie's random id; expiry checked on read, swept
at sign-in, since TTL indexes are not in the FerretDB subset).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from gridlink.db import Database, Document
from staff.errors import UsernameTaken


async def ensure_indexes(db: Database) -> None:
    await db.staff.create_index([("username", ASCENDING)], unique=True)
    await db.staff_login_failures.create_index([("username", ASCENDING), ("at", ASCENDING)])
    await db.desk_sessions.create_index([("expires_at", ASCENDING)])
    await db.desk_sessions.create_index([("staff_id", ASCENDING)])


async def insert_account(db: Database, *, doc: Document) -> None:
    try:
        await db.staff.insert_one(doc)
    except DuplicateKeyError:
        raise UsernameTaken(f"username {doc['username']!r} is taken", username=doc["username"]) from None


async def account_by_username(db: Database, *, username: str) -> Document | None:
    return await db.staff.find_one({"username": username})


async def account_by_id(db: Database, *, staff_id: str) -> Document | None:
    return await db.staff.find_one({"_id": staff_id})


async def list_accounts(db: Database) -> list[Document]:
    return [d async for d in db.staff.find({}, {"password_hash": 0}).sort("username", ASCENDING)]


async def set_account(db: Database, *, staff_id: str, fields: dict[str, Any]) -> None:
    await db.staff.update_one({"_id": staff_id}, {"$set": fields})


async def record_failure(db: Database, *, username: str, at: datetime) -> None:
    await db.staff_login_failures.insert_one({"username": username, "at": at})


async def count_failures(db: Database, *, username: str, since: datetime) -> int:
    return await db.staff_login_failures.count_documents({"username": username, "at": {"$gt": since}})


async def lockout(db: Database, *, username: str) -> Document | None:
    return await db.staff_lockouts.find_one({"_id": username})


async def set_lockout(db: Database, *, username: str, until: datetime | None,
                      reset_at: datetime) -> None:
    await db.staff_lockouts.update_one({"_id": username},
                                       {"$set": {"until": until, "reset_at": reset_at}}, upsert=True)


async def insert_session(db: Database, *, doc: Document) -> None:
    await db.desk_sessions.insert_one(doc)


async def session_by_hash(db: Database, *, hashed: str) -> Document | None:
    return await db.desk_sessions.find_one({"_id": hashed})


async def delete_session(db: Database, *, hashed: str) -> None:
    await db.desk_sessions.delete_one({"_id": hashed})


async def sweep_sessions(db: Database, *, now: datetime) -> int:
    result = await db.desk_sessions.delete_many({"expires_at": {"$lte": now}})
    return result.deleted_count
