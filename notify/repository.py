"""Database access for `notify`: keyword-only async functions raising domain errors.

Collections owned here:
- `outbox_00` … `outbox_15`: the outbox, one chat message per (source, recipient), `_id`
  deterministic so re-processing an event or a schedule job never queues a message twice.
  Sharded by chat id because FerretDB v1 finds even an `_id` by scanning its table (its `_id`
  index expression does not match its query expression): 16 short tables keep each of the
  sender's two writes per message cheap. On MongoDB the split costs nothing.
- `schedule`: durable due jobs (reminder, red alert, escalation steps, daily digest).
- `notify_leases`: the sender's leader lease per bot, one document per term.
- `notify_claims`: one unique key per claim (event, job generation), see "claims" below.
Fields owned here on others' collections: `events.notify_*` (the claim of an event; cases'
fields are never touched) and `roster.unreachable*` (set when Telegram refuses a chat).
Written here, read by the bot: `rating_prompts` (which sent message asked to rate which case;
the bot's repository owns its index).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from gridlink import leases
from gridlink.db import Database, Document, insert_new
from grids import repository as grids_repo

OUTBOX_STATES = ("queued", "sending", "sent", "retry", "dead")
# Cases under the handler's clock: the reminder/red/escalation schedule exists only for these.
ACTIVE_STATES = ("dispatched", "in_progress")


async def ensure_indexes(db: Database) -> None:
    """Create this package's indexes (idempotent)."""
    for shard in outbox_shards(db):
        # One index per shard: the sender's due query (the oldest-queued statistic makes do).
        await shard.create_index([("state", ASCENDING), ("next_at", ASCENDING)])
    await db.schedule.create_index([("state", ASCENDING), ("due_at", ASCENDING)])
    await db.schedule.create_index([("pending_slot", ASCENDING)])
    await db.schedule.create_index([("case_id", ASCENDING)])
    await db.events.create_index([("notify_state", ASCENDING), ("at", ASCENDING)])
    await _mark_legacy_events_new(db)
    await db.roster.create_index([("chat_id", ASCENDING)])
    await db.notify_claims.create_index([("at", ASCENDING)])
    await db.notify_leases.create_index([("name", ASCENDING), ("term", ASCENDING)])


async def _mark_legacy_events_new(db: Database) -> None:
    """Events written before `notify_state: "new"` was part of an event have no state: give
    them one, once per database (a marker records it; the update reads the whole collection)."""
    marker = "events.notify_state.new"
    if await db.migrations.find_one({"_id": marker}) is not None:
        return
    await db.events.update_many({"notify_state": None}, {"$set": {"notify_state": "new"}})
    with contextlib.suppress(DuplicateKeyError):
        await db.migrations.insert_one({"_id": marker})


# ---------------------------------------------------------------------------------------------
# claims: won by inserting a unique key
#
# A conditional update (`find_one_and_update` with the "still free" filter) is atomic in
# MongoDB but not in FerretDB v1, where two concurrent callers can both match the same
# document (measured: 89 double wins in 40 rounds of 8 callers). An insert under a unique
# `_id` is atomic in both, so every claim is an insert into `notify_claims` of
# `<what>:<id>:<generation>`: one winner per generation. A lease that expires is taken over
# by claiming the next generation, again with one winner.


async def _claim(db: Database, *, prefix: str, gens: dict[str, int], worker: str,
                 now: datetime, lease: timedelta) -> dict[str, int]:
    return await leases.take_generations(db.notify_claims, prefix=prefix, gens=gens, holder=worker,
                                         now=now, ttl=lease)


CLAIM_ROUNDS = 3


async def _claim_some(coll: Any, *, query: dict[str, Any], gen_field: str,
                      sort: list[tuple[str, int]] | None, prefix: str, worker: str,
                      now: datetime, lease: timedelta, limit: int
                      ) -> tuple[dict[str, int], dict[str, int]]:
    """Find up to `limit` candidates in `coll` and claim them. Candidates another worker holds
    are looked past (up to CLAIM_ROUNDS finds), so two workers share a backlog instead of both
    racing for its head. Returns the won ids and every candidate's generation."""
    gens: dict[str, int] = {}
    won: dict[str, int] = {}
    for _ in range(CLAIM_ROUNDS):
        find = dict(query)
        if gens:
            find["_id"] = {"$nin": list(gens)}
        cursor = coll.find(find, {gen_field: 1})
        if sort:
            cursor = cursor.sort(sort)
        found = {c["_id"]: int(c.get(gen_field) or 0)
                 for c in await cursor.limit(limit - len(won)).to_list(None)}
        if not found:
            break
        gens.update(found)
        got = await _claim(coll.database, prefix=prefix, gens=found, worker=worker, now=now,
                           lease=lease)
        won.update(got)
        if len(got) == len(found) or len(won) >= limit:
            break  # nothing held by others in the way: the rest is not there yet
    return won, gens


async def prune_claims(db: Database, *, before: datetime) -> int:
    """Forget old claims; whatever they guarded finished (or was retaken) long ago."""
    res = await db.notify_claims.delete_many({"at": {"$lt": before}})
    return res.deleted_count


# ---------------------------------------------------------------------------------------------
# events (written by cases/; we only add notify_* fields)


async def claim_events(db: Database, *, now: datetime, lease: timedelta, worker: str,
                       limit: int, case_ids: Sequence[str] | None = None) -> list[Document]:
    """Claim up to `limit` events not yet processed (of `case_ids` only, when given); the
    claim's lease lets another worker take over the events of a worker that died. Only a
    takeover writes to the event itself."""
    query: dict[str, Any] = {"notify_state": "new"}
    if case_ids is not None:
        query["case_id"] = {"$in": list(case_ids)}
    won, gens = await _claim_some(db.events, query=query, gen_field="notify_gen",
                                  sort=[("at", ASCENDING), ("_id", ASCENDING)], prefix="ev",
                                  worker=worker, now=now, lease=lease, limit=limit)
    if not won:
        return []
    # Re-read: an event finished between our query and our claim is not ours to redo.
    docs = [d for d in await db.events.find({"_id": {"$in": list(won)}}).sort(
        [("at", ASCENDING), ("_id", ASCENDING)]).to_list(None) if d.get("notify_state") != "done"]
    for d in docs:
        if won[d["_id"]] != gens[d["_id"]]:
            await db.events.update_one({"_id": d["_id"]}, {"$set": {"notify_gen": won[d["_id"]]}})
    return docs


async def finish_events(db: Database, *, events: Sequence[Document], now: datetime) -> int:
    if not events:
        return 0
    res = await db.events.update_many(
        {"_id": {"$in": [e["_id"] for e in events]}},
        {"$set": {"notify_state": "done", "notify_done_at": now}})
    return res.modified_count


# ---------------------------------------------------------------------------------------------
# cases, units and roster (read-only here, except the roster's `unreachable` flag)


async def cases_by_id(db: Database, *, ids: Iterable[str]) -> dict[str, Document]:
    return {c["_id"]: c async for c in db.cases.find({"_id": {"$in": list(set(ids))}})}


async def get_case(db: Database, *, case_id: str) -> Document | None:
    return await db.cases.find_one({"_id": case_id})


async def get_unit(db: Database, *, code: str) -> Document | None:
    """A unit of the active grid version (grids owns the versioned storage)."""
    return await grids_repo.find_unit(db, code=code)


async def reachable_members(db: Database, *, unit: str, roles: Sequence[str]) -> list[Document]:
    """Roster members of `unit` in `roles` whose chat Telegram has not refused."""
    return await db.roster.find(
        {"unit": unit, "role": {"$in": list(roles)}, "unreachable": {"$ne": True}},
        {"chat_id": 1, "user_id": 1, "role": 1, "unit": 1, "name": 1, "locale": 1},
    ).sort("_id", ASCENDING).to_list(None)


async def member_locale(db: Database, *, user_id: int) -> str | None:
    """The language a roster member was bound with, if the user is on the roster."""
    doc = await db.roster.find_one({"user_id": user_id}, {"locale": 1})
    return None if doc is None else doc.get("locale")


async def chosen_language(db: Database, *, user_id: int) -> str | None:
    """The language a chat user picked with the bot's /language (bot.repository writes it)."""
    doc = await db.chat_languages.find_one({"_id": str(user_id)}, {"locale": 1})
    return None if doc is None else doc.get("locale")


async def low_rated_since(db: Database, *, since: datetime) -> list[Document]:
    """Cases rated 1–2 (cases.lifecycle flags them `low_rating`) since `since`, with the
    fields a digest needs to count them per unit."""
    return await db.cases.find({"low_rating": True, "rating.at": {"$gte": since}},
                               {"assignee": 1, "placement": 1}).to_list(None)


async def roster_members(db: Database, *, roles: Sequence[str], after: Any, limit: int
                         ) -> list[Document]:
    """A page of reachable roster members in `roles`, by `_id` after `after` (None = first)."""
    query: dict[str, Any] = {"role": {"$in": list(roles)}, "unreachable": {"$ne": True}}
    if after is not None:
        query["_id"] = {"$gt": after}
    return await db.roster.find(query).sort("_id", ASCENDING).limit(limit).to_list(None)


async def mark_unreachable(db: Database, *, chat_id: int, reason: str, now: datetime) -> list[Document]:
    """Flag every roster binding of `chat_id` unreachable; returns the members it concerned."""
    members = await db.roster.find({"chat_id": chat_id}).to_list(None)
    if members:
        await db.roster.update_many({"chat_id": chat_id}, {"$set": {
            "unreachable": True, "unreachable_reason": reason, "unreachable_at": now}})
    return members


async def open_cases_page(db: Database, *, after: Any, limit: int) -> list[Document]:
    """A page of cases not yet closed or merged, by `_id`, with the fields digests need."""
    query: dict[str, Any] = {"state": {"$nin": ["closed", "merged"]}}
    if after is not None:
        query["_id"] = {"$gt": after}
    return await db.cases.find(query, {
        "state": 1, "assignee": 1, "placement": 1, "deadline": 1, "dispatched_at": 1,
        "due_at": 1, "warn_at": 1,
    }).sort("_id", ASCENDING).limit(limit).to_list(None)


# ---------------------------------------------------------------------------------------------
# outbox


OUTBOX_SHARDS = 16


def outbox_shards(db: Database) -> list[Any]:
    return [db[f"outbox_{k:02d}"] for k in range(OUTBOX_SHARDS)]


def outbox_of(db: Database, chat_id: int) -> Any:
    """The outbox shard of a chat (a message's id contains its chat, so the shard is fixed)."""
    return db[f"outbox_{int(chat_id) % OUTBOX_SHARDS:02d}"]


async def enqueue(db: Database, *, messages: Sequence[Document]) -> int:
    """Insert messages; the ones already queued (same `_id`) are left alone. Returns new count."""
    shards: dict[int, list[Document]] = {}
    for msg in messages:
        shards.setdefault(int(msg["chat_id"]) % OUTBOX_SHARDS, []).append(msg)
    inserted = 0
    for key, docs in shards.items():
        inserted += len(docs) - len(await insert_new(db[f"outbox_{key:02d}"], docs))
    return inserted


async def find_messages(db: Database, *, query: dict[str, Any], limit: int = 0,
                        sort: Sequence[tuple[str, int]] = (("created_at", 1), ("_id", 1)),
                        projection: dict[str, Any] | None = None) -> list[Document]:
    """Messages matching `query` across the shards, in `sort` order (ascending keys)."""
    out: list[Document] = []
    for shard in outbox_shards(db):
        cursor = shard.find(query, projection).sort(list(sort))
        if limit:
            cursor = cursor.limit(limit)
        out.extend(await cursor.to_list(None))
    out.sort(key=lambda d: tuple(d.get(k) for k, _ in sort))
    return out[:limit] if limit else out


async def count_messages(db: Database, *, query: dict[str, Any]) -> int:
    return sum([await shard.count_documents(query) for shard in outbox_shards(db)])


async def get_message(db: Database, *, msg_id: str, chat_id: int) -> Document | None:
    return await outbox_of(db, chat_id).find_one({"_id": msg_id})


def new_message(*, msg_id: str, chat_id: int, text: str, kind: str, now: datetime,
                locale: str, case_id: str | None = None, recipient: Document | None = None,
                reply_markup: Document | None = None, photo: str | None = None,
                on_sent: Document | None = None) -> Document:
    # reply_markup is kept as JSON text: FerretDB stores no nested arrays (inline_keyboard is one).
    return {
        "_id": msg_id, "chat_id": int(chat_id), "text": text, "kind": kind, "locale": locale,
        "case_id": case_id, "recipient": recipient or {},
        "reply_markup": json.dumps(reply_markup, ensure_ascii=False) if reply_markup else None,
        "photo": photo, "on_sent": on_sent, "state": "queued", "attempts": 0,
        "created_at": now, "next_at": now, "updated_at": now,
    }


async def due_messages(db: Database, *, now: datetime, limit: int) -> list[Document]:
    """The oldest messages ready to send (queued, retry due, or a sending lease expired).

    The top-level `state` equality lets the server read only unsent rows through the
    (state, next_at) index, never the sent messages kept for the record; the `$or` then
    picks the due ones among them."""
    query = {"state": {"$in": ["queued", "retry", "sending"]},
             "$or": [{"state": {"$in": ["queued", "retry"]}, "next_at": {"$lte": now}},
                     {"state": "sending", "lease_until": {"$lt": now}}]}
    return await find_messages(db, query=query, limit=limit, sort=(("next_at", 1), ("_id", 1)))


# Outbox state changes are made only by the sender that holds the leader lease (one writer),
# so they filter on `_id` alone: the one filter FerretDB v1 pushes down to SQLite instead of
# decoding every document of the table in Go.


async def claim_message(db: Database, *, msg: Document, now: datetime, lease: timedelta,
                        worker: str) -> Document | None:
    """Mark one message `sending` with a lease before the Bot API call (crash safety).

    Returns the message as it was, or None when it is no longer due (sent meanwhile)."""
    shard = outbox_of(db, msg["chat_id"])
    before = await shard.find_one_and_update(
        {"_id": msg["_id"]},
        {"$set": {"state": "sending", "lease_until": now + lease, "claimed_by": worker,
                  "updated_at": now}},
        return_document=ReturnDocument.BEFORE)
    if before is None:
        return None
    due = before["state"] in ("queued", "retry") or (
        before["state"] == "sending" and before.get("lease_until") is not None
        and before["lease_until"] < now)
    if not due:
        # Not ours to send: put back what we overwrote.
        await shard.update_one({"_id": msg["_id"]}, {"$set": {
            k: before.get(k) for k in ("state", "lease_until", "claimed_by", "updated_at")}})
        return None
    return before


async def mark_sent(db: Database, *, msg: Document, now: datetime, message_id: int) -> bool:
    res = await outbox_of(db, msg["chat_id"]).update_one(
        {"_id": msg["_id"]},
        {"$set": {"state": "sent", "sent_at": now, "message_id": message_id, "updated_at": now,
                  "lease_until": None}})
    return res.modified_count == 1


async def mark_preamble_sent(db: Database, *, msg: Document) -> None:
    """A case message's photos and pin went out (the sender sends them before its text)."""
    await outbox_of(db, msg["chat_id"]).update_one({"_id": msg["_id"]},
                                                   {"$set": {"preamble_sent": True}})


async def mark_retry(db: Database, *, msg: Document, now: datetime, next_at: datetime,
                     error: str, count_attempt: bool) -> None:
    field = "attempts" if count_attempt else "throttled"
    await outbox_of(db, msg["chat_id"]).update_one({"_id": msg["_id"]}, {
        "$set": {"state": "retry", "next_at": next_at, "error": error, "updated_at": now,
                 "lease_until": None},
        "$inc": {field: 1}})


async def mark_dead(db: Database, *, msg: Document, now: datetime, error: str,
                    count_attempt: bool = True) -> None:
    update: dict[str, Any] = {"$set": {"state": "dead", "error": error, "dead_at": now,
                                       "updated_at": now, "lease_until": None}}
    if count_attempt:
        update["$inc"] = {"attempts": 1}
    await outbox_of(db, msg["chat_id"]).update_one({"_id": msg["_id"]}, update)


async def outbox_stats(db: Database, *, now: datetime) -> dict[str, Any]:
    counts = {state: 0 for state in OUTBOX_STATES}
    oldest: datetime | None = None
    for shard in outbox_shards(db):
        async for row in await shard.aggregate(
                [{"$group": {"_id": "$state", "n": {"$sum": 1}}}]):
            if row["_id"] in counts:
                counts[row["_id"]] += int(row["n"])
        first = await shard.find_one({"state": {"$in": ["queued", "retry"]}},
                                     sort=[("created_at", ASCENDING)])
        if first is not None and (oldest is None or first["created_at"] < oldest):
            oldest = first["created_at"]
    age = (now - oldest).total_seconds() if oldest else 0.0
    return {**counts, "oldest_queued_age_s": round(max(age, 0.0), 3)}


async def prune_sent(db: Database, *, before: datetime) -> int:
    """Delete messages sent before `before`; undelivered and dead ones stay for the API."""
    deleted = 0
    for shard in outbox_shards(db):
        deleted += (await shard.delete_many({"state": "sent", "sent_at": {"$lt": before}})).deleted_count
    return deleted


async def record_rating_prompt(db: Database, *, chat_id: int, message_id: int, case_id: str,
                               now: datetime) -> None:
    """Remember that this sent message asked its reader to rate `case_id` (a reply rates it)."""
    await db.rating_prompts.replace_one(
        {"_id": f"{chat_id}:{message_id}"},
        {"chat_id": chat_id, "message_id": message_id, "case_id": case_id, "created_at": now},
        upsert=True)


async def dead_letters(db: Database, *, limit: int, after: str | None) -> list[Document]:
    query: dict[str, Any] = {"state": "dead"}
    if after:
        query["_id"] = {"$gt": after}
    return await find_messages(db, query=query, limit=limit, sort=(("_id", 1),), projection={
        "chat_id": 1, "kind": 1, "case_id": 1, "error": 1, "attempts": 1, "dead_at": 1,
        "created_at": 1, "recipient": 1,
    })


# ---------------------------------------------------------------------------------------------
# schedule


async def jobs_by_case(db: Database, *, case_ids: Iterable[str]) -> dict[str, list[Document]]:
    """The jobs of several cases in one query (a notifier batch's cases), by case id."""
    ids = sorted(set(case_ids))
    out: dict[str, list[Document]] = {i: [] for i in ids}
    async for job in db.schedule.find({"case_id": {"$in": ids}}):
        out.setdefault(job["case_id"], []).append(job)
    return out


# A pending job also carries its due time's 10-minute slot in `pending_slot` (null once done or
# cancelled): the worker's frequent poll asks for the last hour's slots, one string equality
# FerretDB answers from that field's index, rather than reading every pending job of every open
# case to compare `due_at`; a complete `due_at` query runs as a catch-up every few minutes.
SLOT = timedelta(minutes=10)
RECENT = timedelta(hours=1)


def due_slot(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{at:%Y%m%d%H}{at.minute // 10}"


def recent_slots(now: datetime) -> list[str]:
    """The slots from an hour before `now` to the one `now` is in."""
    return sorted({due_slot(now - RECENT + SLOT * i) for i in range(int(RECENT / SLOT) + 1)}
                  | {due_slot(now)})


def new_job(*, job_id: str, case_id: str, kind: str, step: int, due_at: datetime,
            deadline_version: datetime, case_version: int, target: str | None,
            now: datetime) -> Document:
    return {"_id": job_id, "case_id": case_id, "kind": kind, "step": step, "due_at": due_at,
            "pending_slot": due_slot(due_at),
            "deadline_version": deadline_version, "case_version": case_version,
            "target": target, "state": "pending", "gen": 1, "updated_at": now}


async def insert_jobs(db: Database, *, jobs: Sequence[Document]) -> int:
    """Insert new jobs; one that another worker inserted meanwhile is left as it is."""
    return len(jobs) - len(await insert_new(db.schedule, jobs))


async def sync_job(db: Database, *, job_id: str, case_id: str, kind: str, step: int,
                   due_at: datetime, deadline_version: datetime, case_version: int,
                   target: str | None, now: datetime) -> bool:
    """Re-plan a job for a new deadline (pending again, a new claim generation).

    The filter skips a job a newer case version already shaped; returns whether it changed.
    """
    try:
        res = await db.schedule.update_one(
            {"_id": job_id, "case_version": {"$lt": case_version}},
            {"$set": {"case_id": case_id, "kind": kind, "step": step, "due_at": due_at,
                      "pending_slot": due_slot(due_at),
                      "deadline_version": deadline_version, "case_version": case_version,
                      "target": target, "state": "pending", "updated_at": now},
             "$inc": {"gen": 1}},  # a new generation: the old one's claim cannot block it
            upsert=True)
    except DuplicateKeyError:
        return False  # a newer case version already shaped this job
    return bool(res.modified_count or res.upserted_id)


async def cancel_jobs(db: Database, *, ids: Sequence[str], case_version: int, now: datetime
                      ) -> int:
    """Cancel pending jobs the case no longer wants (closed, merged, handed back, …)."""
    if not ids:
        return 0
    res = await db.schedule.update_many(
        {"_id": {"$in": list(ids)}, "state": "pending",
         "case_version": {"$lt": case_version}},
        {"$set": {"state": "cancelled", "pending_slot": None, "case_version": case_version,
                  "updated_at": now}})
    return res.modified_count


async def claim_jobs(db: Database, *, now: datetime, lease: timedelta, worker: str,
                     limit: int, recent_only: bool = False) -> list[Document]:
    """Claim up to `limit` due jobs. The job document is not written: the claim is the claim
    document, so firing a job costs one write (done) — it matters on FerretDB, whose writes
    scan the collection."""
    query: dict[str, Any] = {"state": "pending", "due_at": {"$lte": now}}
    if recent_only:  # the slot alone picks the rows: a second equality would not narrow them
        query = {"pending_slot": {"$in": recent_slots(now)}, "due_at": {"$lte": now}}
    won, gens = await _claim_some(db.schedule, query=query, gen_field="gen", sort=None,
                                  prefix="job", worker=worker, now=now, lease=lease, limit=limit)
    if not won:
        return []
    docs = [d for d in await db.schedule.find({"_id": {"$in": list(won)}}).to_list(None)
            if d.get("state") == "pending" and d["due_at"] <= now
            and int(d.get("gen") or 0) <= won[d["_id"]]]
    for d in docs:
        if won[d["_id"]] != gens[d["_id"]]:
            await db.schedule.update_one({"_id": d["_id"]}, {"$set": {"gen": won[d["_id"]]}})
        d["gen"] = won[d["_id"]]
    return sorted(docs, key=lambda d: (d["due_at"], d["_id"]))


async def finish_jobs(db: Database, *, jobs: Sequence[Document], state: str, now: datetime
                      ) -> int:
    """Mark claimed jobs `done` or `cancelled`, unless re-planned meanwhile (a new generation)."""
    if not jobs:
        return 0
    done = 0
    for gen in {int(j["gen"]) for j in jobs}:
        res = await db.schedule.update_many(
            {"_id": {"$in": [j["_id"] for j in jobs if int(j["gen"]) == gen]},
             "state": "pending", "gen": {"$lte": gen}},
            {"$set": {"state": state, "pending_slot": None, "finished_at": now}})
        done += res.modified_count
    return done


async def ensure_digest_job(db: Database, *, job_id: str, due_at: datetime, now: datetime) -> None:
    await db.schedule.update_one(
        {"_id": job_id},
        {"$setOnInsert": {"kind": "digest", "case_id": None, "step": 0, "due_at": due_at,
                          "pending_slot": due_slot(due_at),
                          "state": "pending", "deadline_version": due_at, "case_version": 0,
                          "gen": 0, "updated_at": now}},
        upsert=True)


# ---------------------------------------------------------------------------------------------
# leader lease


async def acquire_lease(db: Database, *, name: str, holder: str, now: datetime,
                        ttl: timedelta) -> datetime | None:
    """Take or renew the sender's leader lease `name`; its expiry while `holder` holds it."""
    return await leases.take_term(db.notify_leases, name, holder=holder, now=now, ttl=ttl)


async def release_lease(db: Database, *, name: str, holder: str) -> None:
    """Give up the lead at once (a clean stop), so another worker need not wait out the TTL."""
    await leases.release_term(db.notify_leases, name, holder=holder)
