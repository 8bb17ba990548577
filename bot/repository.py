"""Database access for `bot`: keyword-only async functions raising domain errors.

Collections: `updates` (exactly-once webhook processing), `conversations` (dialogue state
keyed by chat), `invites` (single-use role bindings, stored hashed), `rating_prompts`
(which chat message asked which reporter to rate which case; written by notify).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any, Literal

from bson import ObjectId
from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from bot.errors import InviteExpired, InviteUnknown, InviteUsed
from gridlink.db import Database, Document, insert_one_grouped
from gridlink.errors import InvalidInput
from grids.repository import ROLES as MEMBER_ROLES

Claim = Literal["claimed", "done", "busy"]
ROLES = tuple(MEMBER_ROLES)  # the roster's roles, defined once in grids
# A claimed update whose processing neither finished nor failed cleanly (crash) may be
# taken again after this long.
UPDATE_LEASE = timedelta(seconds=60)


async def ensure_indexes(db: Database) -> None:
    """Create this package's indexes (idempotent)."""
    await db.invites.create_index([("hash", ASCENDING)], unique=True)
    await db.rating_prompts.create_index([("case_id", ASCENDING)])
    await db.updates.create_index([("received_at", ASCENDING)])
    # Looked up by the chat as a string: FerretDB uses an index for string equality only.
    await db.conversation_items.create_index([("chat", ASCENDING)])
    if "chat_id_1" in await db.conversation_items.index_information():
        try:
            await db.conversation_items.drop_index("chat_id_1")  # replaced by "chat"
        except OperationFailure:
            pass  # another process dropped it first


# Keys are strings: FerretDB v1 turns string equality on `_id` (or an indexed field) into an
# index lookup, but scans the whole collection for a number, so a numeric update or chat id as
# the key would cost a scan of every stored update or dialogue on each webhook. (Records
# written with numeric keys by an earlier version are ephemeral: they expire or are swept.)


def _update_key(update_id: int) -> str:
    return str(update_id)


def _chat_key(chat_id: int) -> str:
    return str(chat_id)


# --- updates: each Telegram update_id processed once -------------------------------------

async def claim_update(db: Database, *, update_id: int, now: datetime) -> Claim:
    """Claim an update for processing: "claimed", or "done" / "busy" (being processed elsewhere).

    Every single-winner decision goes through a unique insert: FerretDB v1 lets two concurrent
    conditional updates of one document both succeed, but enforces unique keys atomically.
    """
    key = _update_key(update_id)
    try:
        # With concurrent webhooks' claims in one command (gridlink.db, group commit).
        await insert_one_grouped(db.updates, {"_id": key, "update_id": update_id,
                                              "state": "processing", "attempt": 1,
                                              "received_at": now, "lease_until": now + UPDATE_LEASE})
        return "claimed"
    except DuplicateKeyError:
        pass
    # Recorded before: take it again only if a previous attempt failed or was abandoned.
    doc = await db.updates.find_one({"_id": key})
    if doc is None or doc["state"] == "done":
        return "done"
    if doc["state"] == "processing" and doc["lease_until"] > now:
        return "busy"
    attempt = int(doc.get("attempt", 1)) + 1
    try:
        await db.update_attempts.insert_one({"_id": f"{update_id}:{attempt}", "at": now})
    except DuplicateKeyError:
        return "busy"
    await db.updates.update_one({"_id": key}, {"$set": {
        "state": "processing", "attempt": attempt, "lease_until": now + UPDATE_LEASE}})
    return "claimed"


async def update_state(db: Database, *, update_id: int) -> str | None:
    doc = await db.updates.find_one({"_id": _update_key(update_id)}, {"state": 1})
    return None if doc is None else str(doc["state"])


async def finish_update(db: Database, *, update_id: int, now: datetime) -> None:
    await db.updates.update_one({"_id": _update_key(update_id)},
                                {"$set": {"state": "done", "done_at": now},
                                 "$unset": {"lease_until": ""}})


async def fail_update(db: Database, *, update_id: int) -> None:
    """Release the claim so the redelivered update is processed again."""
    await db.updates.update_one({"_id": _update_key(update_id), "state": "processing"},
                                {"$set": {"state": "failed"}})


# --- conversations: one dialogue per chat ------------------------------------------------
#
# `conversations` holds the dialogue's step and fields; the photos it collects are separate
# insert-only documents in `conversation_items`, because a media group arrives as one update
# per photo, possibly on parallel webhook connections, and concurrent $push on one document is
# not safe on FerretDB v1 (it loses updates). Reads put them back into `data[field]`.

APPENDED = ("photos", "after")


async def _items(db: Database, key: str) -> dict[str, list[Any]]:
    lists: dict[str, list[Any]] = {field: [] for field in APPENDED}
    async for item in db.conversation_items.find({"chat": key}).sort("_id", ASCENDING):
        lists.setdefault(item["field"], []).append(item["value"])
    return lists


def _with_items(doc: Document, lists: dict[str, list[Any]]) -> Document:
    doc["data"] = {**doc["data"], **lists}
    return doc


async def load_conversation(db: Database, *, chat_id: int, now: datetime
                            ) -> tuple[Document | None, bool]:
    """The chat's dialogue and whether an expired one was just dropped."""
    key = _chat_key(chat_id)
    # The items are read beside the dialogue (one round trip of waiting, not two).
    doc, lists = await asyncio.gather(db.conversations.find_one({"_id": key}), _items(db, key))
    if doc is None:
        return None, False
    if doc["expires_at"] <= now:
        await clear_conversation(db, chat_id=chat_id)
        return None, True
    return _with_items(doc, lists), False


async def start_conversation(db: Database, *, chat_id: int, flow: str, step: str,
                             data: dict[str, Any], now: datetime, ttl: timedelta) -> Document:
    """Begin a new dialogue, replacing whatever the chat had open."""
    key = _chat_key(chat_id)
    await db.conversation_items.delete_many({"chat": key})
    doc = {"_id": key, "chat_id": chat_id, "flow": flow, "step": step,
           "data": {k: v for k, v in data.items() if k not in APPENDED},
           "expires_at": now + ttl, "updated_at": now}
    await db.conversations.replace_one({"_id": key}, doc, upsert=True)
    items = [{"chat": key, "chat_id": chat_id, "field": field, "value": value}
             for field in APPENDED for value in data.get(field) or []]
    if items:
        await db.conversation_items.insert_many(items)  # ordered: their _ids keep the order
    return doc


async def save_conversation(db: Database, *, chat_id: int, flow: str, step: str,
                            data: dict[str, Any], now: datetime, ttl: timedelta) -> None:
    """Move the dialogue to `step`, writing its fields one by one (collected photos stay)."""
    fields = {f"data.{k}": v for k, v in data.items() if k not in APPENDED}
    changes = {"flow": flow, "step": step, "expires_at": now + ttl, "updated_at": now, **fields}
    result = await db.conversations.update_one({"_id": _chat_key(chat_id)}, {"$set": changes})
    if result.matched_count == 0:
        await start_conversation(db, chat_id=chat_id, flow=flow, step=step, data=data,
                                 now=now, ttl=ttl)


async def append_to_conversation(db: Database, *, chat_id: int, field: str, value: object,
                                 new: tuple[str, str, dict[str, Any]] | None, now: datetime,
                                 ttl: timedelta, known: dict[str, list[Any]] | None = None
                                 ) -> Document | None:
    """Add a photo to the dialogue; with `new` = (flow, step, data), start the dialogue if the
    chat has none. Returns the dialogue afterwards (None: it was cancelled meanwhile).

    `known`: the dialogue's photo lists as the caller read them just before, when no other
    photo can be on its way concurrently (not part of a media group); the lists are then that
    plus this photo instead of being read back (one query fewer per photo update)."""
    assert field in APPENDED
    key = _chat_key(chat_id)
    if new is not None:
        flow, step, data = new
        try:
            await db.conversations.insert_one({
                "_id": key, "chat_id": chat_id, "flow": flow, "step": step,
                "data": {k: v for k, v in data.items() if k not in APPENDED},
                "expires_at": now + ttl, "updated_at": now})
        except DuplicateKeyError:
            pass  # another photo of the same group started it first
    await insert_one_grouped(db.conversation_items, {"chat": key, "chat_id": chat_id,
                                                     "field": field, "value": value})
    touch = db.conversations.find_one_and_update(
        {"_id": key}, {"$set": {"expires_at": now + ttl, "updated_at": now}},
        return_document=ReturnDocument.AFTER)
    if known is not None:
        doc = await touch
        lists = {f: list(known.get(f) or []) for f in APPENDED}
        lists[field].append(value)
    else:
        doc, lists = await asyncio.gather(touch, _items(db, key))
    if doc is None:
        await db.conversation_items.delete_many({"chat": key})
        return None
    return _with_items(doc, lists)


async def clear_conversation(db: Database, *, chat_id: int) -> bool:
    key = _chat_key(chat_id)
    result = await db.conversations.delete_many({"_id": key})
    await db.conversation_items.delete_many({"chat": key})
    return result.deleted_count > 0


async def sweep_conversations(db: Database, *, now: datetime) -> list[int]:
    """Drop expired dialogues; returns their chat ids (so a worker may tell the users)."""
    found = [d async for d in db.conversations.find({"expires_at": {"$lte": now}}, {"chat_id": 1})]
    if not found:
        return []
    keys = [d["_id"] for d in found]
    await db.conversations.delete_many({"_id": {"$in": keys}, "expires_at": {"$lte": now}})
    await db.conversation_items.delete_many({"chat": {"$in": [str(k) for k in keys]}})
    return [int(d["chat_id"] if "chat_id" in d else d["_id"]) for d in found]


# --- invites -------------------------------------------------------------------------------

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_invite(db: Database, *, role: str, unit: str, name: str, now: datetime,
                        ttl: timedelta, created_by: str = "admin", also_role: str | None = None,
                        also_unit: str | None = None) -> str:
    """A single-use invite token, returned in clear once; only its hash is stored."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    if not unit:
        raise InvalidInput("unit is required")
    if ttl <= timedelta(0):
        raise InvalidInput("an invite must live for a positive time")
    # Telegram's /start payload allows 64 characters of [A-Za-z0-9_-].
    token = secrets.token_urlsafe(24)
    await db.invites.insert_one({
        "_id": secrets.token_hex(8), "hash": _hash(token), "role": role, "unit": unit,
        "name": name, "created_at": now, "expires_at": now + ttl, "created_by": created_by,
        "used_at": None, "used_by": None, "also_role": also_role, "also_unit": also_unit,
    })
    return token


async def redeem_invite(db: Database, *, token: str, user_id: int, now: datetime) -> Document:
    """Use the invite for `user_id` and return it; refuse unknown, expired or used ones.

    Single use is decided by a unique insert into `invite_redemptions` (see claim_update).
    """
    invite = await db.invites.find_one({"hash": _hash(token)})
    if invite is None:
        raise InviteUnknown("unknown invite")
    if invite.get("used_at") is not None:
        raise InviteUsed("invite already used")
    if invite["expires_at"] <= now:
        raise InviteExpired("invite expired")
    try:
        await db.invite_redemptions.insert_one({"_id": invite["_id"], "user_id": user_id, "at": now})
    except DuplicateKeyError:
        raise InviteUsed("invite already used") from None
    await db.invites.update_one({"_id": invite["_id"]}, {"$set": {"used_at": now, "used_by": user_id}})
    invite.update(used_at=now, used_by=user_id)
    return invite


# --- rating prompts ------------------------------------------------------------------------

async def rating_prompt(db: Database, *, chat_id: int, message_id: int) -> str | None:
    doc = await db.rating_prompts.find_one({"_id": f"{chat_id}:{message_id}"})
    return None if doc is None else str(doc["case_id"])



# `chat_languages` {_id: str(user_id), user_id, locale, updated_at}: /language's choice; notify
# reads it too (a reporter's follow-ups follow it over the language stored with the report).
async def set_language(db: Database, *, user_id: int, locale: str, now: datetime) -> None:
    await db.chat_languages.update_one({"_id": str(user_id)},
                                       {"$set": {"user_id": user_id, "locale": locale, "updated_at": now}},
                                       upsert=True)


async def chosen_language(db: Database, *, user_id: int) -> str | None:
    doc = await db.chat_languages.find_one({"_id": str(user_id)})
    return None if doc is None else str(doc["locale"])


# A reporter's latest categories, one small document per user (`recent_categories`, keyed by
# the user as a string): looking them up among the cases by `reporter.user_id` and sorting read
# every case on FerretDB (no index there, and sorts are never pushed down), at every location
# a coordinator sent (bench/autodispatch.py, issue 22). Each category used holds an ObjectId
# made when it was used (its time and a per-process counter order them): one write, no read.


async def recent_categories(db: Database, *, user_id: int, limit: int) -> list[str]:
    """The categories of this user's latest reports, most recent first (distinct)."""
    doc = await db.recent_categories.find_one({"_id": _chat_key(user_id)})
    used: dict[str, Any] = (doc or {}).get("used") or {}
    return sorted(used, key=lambda c: used[c], reverse=True)[:limit]


async def remember_category(db: Database, *, user_id: int, category: str) -> None:
    """Put `category` first among the user's recent ones."""
    key, change = _chat_key(user_id), {"$set": {f"used.{category}": ObjectId()}}
    try:
        await db.recent_categories.update_one({"_id": key}, change, upsert=True)
    except DuplicateKeyError:  # two first upserts race on FerretDB: the other one created it
        await db.recent_categories.update_one({"_id": key}, change)
