"""Moderation: hide a case from the public, redact a photo, block a chat user from reporting.

Hide, unhide and redact are rows of the workflow table (`cases.workflow`, guard "center") and go
through the lifecycle's guarded commit, so each is in the case's history with its moderator.
Hiding sets `public` False (every public door — portal, Open311, public API, boards, lists —
already reads that flag; `cases.schema.derived` keeps it False on every later change while the
case is hidden, e.g. a re-file) and unhide sets it as the policy does (`cases.intake.is_public`);
`hidden` itself is what `cases.visibility` checks for one case. A redaction stores a blurred copy
(`media.redaction`) that replaces the photo in `public_photos`; the original stays on the case,
staff-only.

A block stops a chat user from filing reports until its end date (the bot asks
`active_block` when a report starts and when it is confirmed). One document per user in
`chat_blocks` (`user_id` unique); every moderation action, blocks included, is also written to
`moderation_log` with the moderator.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from cases import repository as repo
from cases.errors import BadCaseInput, NotYourCase
from cases.intake import is_public
from cases.lifecycle import EVENT_TYPES, _commit, _load, clean_text, history_entry
from cases.model import CENTER_ROLES, Actor
from cases.visibility import case_photos, in_area, redacted_copies
from cases.workflow import check
from gridlink.db import Database, Document
from gridlink.errors import Conflict, NotFound
from media import redaction
from media.service import Workers

ActorLike = Actor | Mapping[str, Any]
BLOCKS = "chat_blocks"
LOG = "moderation_log"
LONGEST_BLOCK = timedelta(days=366)
LOG_DAYS = 14  # the desk's moderation log shows this many days

EVENT_TYPES.update({"hide": "case.hidden", "unhide": "case.unhidden",
                    "redact": "case.photo_redacted"})


async def ensure_indexes(db: Database) -> None:
    await db[BLOCKS].create_index([("user_id", ASCENDING)], unique=True)
    await db[BLOCKS].create_index([("active", ASCENDING)])
    await db[LOG].create_index([("day", ASCENDING)])
    await db[LOG].create_index([("case_id", ASCENDING)])
    await db[LOG].create_index([("block_id", ASCENDING)])


# ---------------------------------------------------------------- the audit log


async def log_action(db: Database, *, action: str, actor: Actor, now: datetime,
                     reason: str | None = None, case: Mapping[str, Any] | None = None,
                     block_id: str | None = None, data: Mapping[str, Any] | None = None) -> Document:
    """One moderation action with its moderator; `day` (UTC date) lets the desk read recent days
    by equality."""
    doc: Document = {"_id": secrets.token_hex(12), "at": now, "day": now.date().isoformat(),
                     "action": action, "moderator": actor.to_dict(), "reason": reason,
                     "case_id": case.get("_id") if case else None,
                     "serial": case.get("serial") if case else None,
                     "block_id": block_id, "data": dict(data or {})}
    await db[LOG].insert_one(doc)
    return doc


async def recent_log(db: Database, *, now: datetime, days: int = LOG_DAYS,
                     limit: int = 200) -> list[Document]:
    """The last `days` days of moderation actions, newest first."""
    wanted = [(now - timedelta(days=n)).date().isoformat() for n in range(days)]
    docs = [d async for d in db[LOG].find({"day": {"$in": wanted}})]
    return sorted(docs, key=lambda d: d["at"], reverse=True)[:limit]


# ---------------------------------------------------------------- hide and unhide


async def hide(db: Database, *, case_ref: str, actor: ActorLike, now: datetime, reason: str | None,
               expected_version: int | None = None) -> Document:
    """Take the case out of every public view (reason required); staff and its reporter keep it."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "hide")
    why = clean_text(reason, "reason", required=True, limit=1000)
    was_public = bool(case.get("public"))
    entry = history_entry(case, actor=who, action="hide", to=case["state"], now=now, reason=why,
                          data={"public": was_public})
    new = await _commit(db, case, entry, set_={"hidden": True, "hidden_public": was_public,
                                               "public": False})
    await log_action(db, action="hide", actor=who, now=now, reason=why, case=new)
    return new


async def unhide(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                 reason: str | None = None, expected_version: int | None = None) -> Document:
    """Show the case again: public if the policy makes its channel and category public (as
    intake and a re-file set the flag; a re-file while hidden may have changed it)."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "unhide")
    why = clean_text(reason, "reason", required=False, limit=1000)
    public = is_public(case.get("channel") or "", case.get("category") or "")
    entry = history_entry(case, actor=who, action="unhide", to=case["state"], now=now, reason=why,
                          data={"public": public})
    new = await _commit(db, case, entry, set_={"hidden": False, "hidden_public": None,
                                               "public": public})
    await log_action(db, action="unhide", actor=who, now=now, reason=why, case=new)
    return new


# ---------------------------------------------------------------- redaction


async def redact(db: Database, *, case_ref: str, actor: ActorLike, now: datetime, photo: str,
                 boxes: Sequence[Sequence[float]], reason: str | None = None,
                 workers: Workers | None = None, expected_version: int | None = None) -> Document:
    """Blur rectangles of one of the case's photos: the blurred copy replaces it wherever the
    public saw it (a new redaction of the same photo starts again from the original)."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "redact")
    copies = redacted_copies(case)
    original = next((o for o, r in copies.items() if r == photo), photo)  # redo from the original
    if original not in case_photos(case):
        raise BadCaseInput(f"photo {photo!r} is not one of case {case['serial']}'s photos",
                           field="photo", photo_id=photo)
    why = clean_text(reason, "reason", required=False, limit=1000)
    clean = redaction.check_boxes(boxes)
    copy = await redaction.redact(db, photo_id=original, boxes=clean, now=now, workers=workers,
                                  uploader=f"redaction:{case['_id']}")
    previous = copies.get(original)
    public = [copy.id if p in (original, previous) else p for p in case.get("public_photos") or []]
    # the boxes as objects, not arrays: FerretDB stores no arrays inside arrays
    record = {"photo": original, "redacted": copy.id,
              "boxes": [dict(zip("xywh", b, strict=True)) for b in clean],
              "at": now, "by": who.to_dict()}
    redactions = [r for r in case.get("redactions") or [] if r.get("photo") != original] + [record]
    photo_ids = [p for p in case.get("photo_ids") or [] if p != previous or p == copy.id]
    entry = history_entry(case, actor=who, action="redact", to=case["state"], now=now, reason=why,
                          data={"photo": original, "redacted": copy.id, "boxes": len(clean),
                                "public": original in (case.get("public_photos") or [])
                                or previous in (case.get("public_photos") or [])})
    await repo.mark_carriers(db, photo_ids=[copy.id], case_id=case["_id"])  # before it carries it
    new = await _commit(db, case, entry, set_={
        "public_photos": list(dict.fromkeys(public)), "redactions": redactions,
        "photo_ids": list(dict.fromkeys([*photo_ids, copy.id]))})
    await log_action(db, action="redact", actor=who, now=now, reason=why, case=new,
                     data={"photo": original, "redacted": copy.id})
    return new


# ---------------------------------------------------------------- blocking a chat user


def _block_area(block: Mapping[str, Any]) -> dict[str, Any]:
    """The block as `in_area` reads a case: the district and the units of the case it came from."""
    return {"district": block.get("district"), "units": list(block.get("units") or [])}


def may_manage(actor: Actor, block: Mapping[str, Any]) -> bool:
    """The admin; a center whose area holds the case the block was made from."""
    if actor.role == "admin":
        return True
    return actor.role in CENTER_ROLES and in_area(actor, _block_area(block))


def _until(until: datetime, now: datetime) -> datetime:
    if until.tzinfo is None:
        raise BadCaseInput("until needs a time zone (e.g. 2026-12-31T00:00:00+08:00)", field="until")
    if until <= now:
        raise BadCaseInput("the block must end in the future", field="until")
    if until - now > LONGEST_BLOCK:
        raise BadCaseInput("a block lasts at most a year", field="until")
    return until


async def block_reporter(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                         reason: str | None, until: datetime) -> Document:
    """Block the chat reporter of a case in the moderator's area from reporting until `until`.
    The moderator never learns the chat ids (the block names the case)."""
    who = Actor.of(actor)
    case = await repo.get_case(db, ref=case_ref)
    if who.role != "admin" and (who.role not in CENTER_ROLES or not in_area(who, case)):
        raise NotYourCase(f"only the center of case {case['serial']}'s area may block its reporter",
                          role=who.role)
    reporter = case.get("reporter") or {}
    if reporter.get("user_id") is None:
        raise BadCaseInput(f"case {case['serial']} was not reported in chat: nobody to block",
                           field="case")
    return await _block(db, who=who, now=now, reason=reason, until=until,
                        user_id=int(reporter["user_id"]), chat_id=reporter.get("chat_id"),
                        locale=reporter.get("locale"), case=case)


async def block_user(db: Database, *, user_id: int, actor: ActorLike, now: datetime,
                     reason: str | None, until: datetime, district: str) -> Document:
    """The admin blocks a chat user by id (e.g. abuse that filed no case)."""
    who = Actor.of(actor)
    if who.role != "admin":
        raise NotYourCase("only an admin may block a chat user by id; block a case's reporter",
                          role=who.role)
    return await _block(db, who=who, now=now, reason=reason, until=until, user_id=int(user_id),
                        chat_id=None, locale=None, case={"district": district})


async def _block(db: Database, *, who: Actor, now: datetime, reason: str | None, until: datetime,
                 user_id: int, chat_id: int | None, locale: str | None,
                 case: Mapping[str, Any]) -> Document:
    why = clean_text(reason, "reason", required=True, limit=500)
    end = _until(until, now)
    units = list(case.get("units") or [])
    block_id = secrets.token_hex(8)
    fields = {"user_id": user_id, "active": True, "reason": why, "until": end, "at": now,
              "by": who.to_dict(), "case_id": case.get("_id"), "serial": case.get("serial"),
              "district": case.get("district"), "units": units, "told_at": None,
              "ended_at": None, "ended_by": None}
    if chat_id is not None:
        fields["chat_id"] = chat_id
    if locale:
        fields["locale"] = locale
    doc: Document | None = None
    for _ in range(3):  # two first blocks of one user at once: the unique index lets one insert
        try:
            doc = await db[BLOCKS].find_one_and_update(
                {"user_id": user_id}, {"$set": fields, "$setOnInsert": {"_id": block_id}},
                upsert=True, return_document=ReturnDocument.AFTER)
            break
        except DuplicateKeyError:
            continue
    if doc is None:
        raise Conflict("the block could not be stored; try again", user_id=user_id)
    await log_action(db, action="block", actor=who, now=now, reason=why, case=case if case.get("_id") else None,
                     block_id=doc["_id"], data={"until": end})
    return doc


async def get_block(db: Database, *, block_id: str) -> Document:
    doc = await db[BLOCKS].find_one({"_id": block_id})
    if doc is None:
        raise NotFound(f"no block {block_id!r}", block_id=block_id)
    return doc


async def unblock(db: Database, *, block_id: str, actor: ActorLike, now: datetime,
                  reason: str | None = None) -> Document:
    """End a block now (the user may report again at once)."""
    who = Actor.of(actor)
    block = await get_block(db, block_id=block_id)
    if not may_manage(who, block):
        raise NotYourCase("this block was made outside your center's area", role=who.role)
    why = clean_text(reason, "reason", required=False, limit=500)
    doc = await db[BLOCKS].find_one_and_update(
        {"_id": block_id}, {"$set": {"active": False, "ended_at": now, "ended_by": who.to_dict()}},
        return_document=ReturnDocument.AFTER)
    await log_action(db, action="unblock", actor=who, now=now, reason=why, block_id=block_id,
                     case={"_id": block.get("case_id"), "serial": block.get("serial")}
                     if block.get("case_id") else None)
    return doc or block


def in_force(block: Mapping[str, Any] | None, now: datetime) -> bool:
    """Whether the block stops reports now: active and not yet past its end date."""
    return block is not None and bool(block.get("active")) and block["until"] > now


async def active_block(db: Database, *, user_id: int, now: datetime) -> Document | None:
    """The user's block in force now (None: they may report)."""
    doc = await db[BLOCKS].find_one({"user_id": user_id})
    return doc if in_force(doc, now) else None


async def mark_told(db: Database, *, block: Mapping[str, Any], now: datetime) -> bool:
    """Whether this is the first time the user hears of the block (then it is recorded)."""
    done = await db[BLOCKS].find_one_and_update(
        {"_id": block["_id"], "at": block["at"], "told_at": None}, {"$set": {"told_at": now}})
    return done is not None


async def active_blocks(db: Database, *, actor: ActorLike, now: datetime) -> list[Document]:
    """The blocks in force that this moderator may see and end, soonest end first."""
    who = Actor.of(actor)
    docs = [d async for d in db[BLOCKS].find({"active": True})]
    return sorted((d for d in docs if in_force(d, now) and may_manage(who, d)),
                  key=lambda d: d["until"])


def block_view(block: Mapping[str, Any], actor: ActorLike) -> dict[str, Any]:
    """A block as a moderator sees it: the chat ids for the admin only (`cases.visibility`)."""
    who = Actor.of(actor)
    keep = ("_id", "active", "reason", "until", "at", "case_id", "serial", "told_at", "ended_at")
    out = {k: block.get(k) for k in keep}
    out["id"] = out.pop("_id")
    out["by"] = {k: v for k, v in (block.get("by") or {}).items() if k in ("role", "unit", "name")}
    if who.role == "admin":
        out["user_id"] = block.get("user_id")
        out["chat_id"] = block.get("chat_id")
    return out
