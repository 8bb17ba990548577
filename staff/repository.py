"""Database access for staff accounts and desk sessions.

Collections: `staff` (accounts), `staff_signin_claims` (one numbered slot per sign-in attempt,
`_id` = "<username>|<round>|<n>": the unique `_id` lets exactly one attempt take each number,
so counting and the lock decision are one atomic insert; FerretDB v1 loses concurrent `$inc`s),
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
    await db.staff_signin_claims.create_index([("round", ASCENDING)])
    await db.staff_signin_claims.create_index([("at", ASCENDING)])
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


async def claim_attempt(db: Database, *, round_key: str, at: datetime, limit: int) -> int:
    """Take the lowest free attempt number of a round (its position among the round's
    attempts); numbers at or past `limit` are taken too, so overflow is counted."""
    n = await db.staff_signin_claims.count_documents({"round": round_key})
    while True:
        try:
            await db.staff_signin_claims.insert_one({"_id": f"{round_key}|{n}", "round": round_key, "at": at})
            return n
        except DuplicateKeyError:
            n += 1
            if n > limit * 4:  # a burst far past the limit: recount rather than step one by one
                n = max(n, await db.staff_signin_claims.count_documents({"round": round_key}))


async def count_attempts(db: Database, *, round_key: str) -> int:
    return await db.staff_signin_claims.count_documents({"round": round_key})


async def sweep_attempts(db: Database, *, before: datetime) -> None:
    await db.staff_signin_claims.delete_many({"at": {"$lt": before}})


async def lockout(db: Database, *, username: str) -> Document | None:
    return await db.staff_lockouts.find_one({"_id": username})


async def set_lockout(db: Database, *, username: str, until: datetime | None,
                      reset_at: datetime | None = None) -> None:
    fields: dict[str, Any] = {"until": until}
    if reset_at is not None:
        fields["reset_at"] = reset_at
    try:
        await db.staff_lockouts.update_one({"_id": username}, {"$set": fields}, upsert=True)
    except DuplicateKeyError:  # two first upserts of one username: the document exists now
        await db.staff_lockouts.update_one({"_id": username}, {"$set": fields})


async def insert_session(db: Database, *, doc: Document) -> None:
    await db.desk_sessions.insert_one(doc)


async def session_by_hash(db: Database, *, hashed: str) -> Document | None:
    return await db.desk_sessions.find_one({"_id": hashed})


async def delete_session(db: Database, *, hashed: str) -> None:
    await db.desk_sessions.delete_one({"_id": hashed})


async def sweep_sessions(db: Database, *, now: datetime) -> int:
    result = await db.desk_sessions.delete_many({"expires_at": {"$lte": now}})
    return result.deleted_count
