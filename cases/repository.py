"""Database access for `cases`: keyword-only async functions raising domain errors.

Collections: `cases`, `events` (written here, consumed by notify), `counters` (serial
sequences), `categories`, `calendar_days` + `calendar_years` (the working-day calendar).
"""

from __future__ import annotations

import asyncio
import copy
import re
import secrets
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cachetools import TTLCache
from pymongo import ASCENDING, ReturnDocument, UpdateOne
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from cases import lists, migrations, refusals
from cases.calendar import (
    WorkCalendar,
    package_days,
    package_years,
    provisional_holidays,
)
from cases.categories import DEFAULT_CATEGORIES, Category
from cases.changelog import GONE, spot_fields
from cases.duplicates import MAX_CANDIDATES, WINDOW, search_keys
from cases.errors import CaseNotFound, CategoryNotFound
from cases.model import FINAL_STATES, OPEN_STATES
from cases.schema import (
    BUCKETS,
    HOUR_S,
    LIST_OMIT,
    SLOT_S,
    bucket,
    complete,
    hour_of,
    read_case,
    slot_of,
)
from cases.visibility import access_fields, case_photos
from gridlink import leases
from gridlink.db import (
    DUPLICATE_KEY,
    Database,
    Document,
    insert_grouped,
    insert_new,
    insert_one_grouped,
)

SERIAL_RE = re.compile(r"^[A-Z]{1,3}\d{8}-\d{5,}$")
# Package years older than this are of no use for new deadlines; skip them to keep seeding cheap.
CALENDAR_SEED_FROM = 2020


async def ensure_indexes(db: Database) -> None:
    """Create this package's indexes (idempotent) and seed default data where missing."""
    await db.cases.create_index([("serial", ASCENDING)], unique=True)
    # Always set (idempotency key, Telegram update or the case id), so no sparse index is needed.
    await db.cases.create_index([("intake_key", ASCENDING)], unique=True)
    await db.cases.create_index([("state", ASCENDING), ("due_at", ASCENDING)])
    await db.cases.create_index([("assignee.unit", ASCENDING), ("state", ASCENDING)])
    # The duplicate search reads the change log's spots by their equality key
    # (cases.changelog.spot_fields); a (category, location.lat) index on cases served it
    # before, by a scan of every case, then a `case_spots` collection, one more write an intake.
    await db.events.create_index([("k", ASCENDING)])
    for old in ("category_1_location.lat_1", "dup_key_1", "photo_ids_1"):
        await _drop_index(db, old)
    await _backfill_spots(db)
    await db.cases.create_index([("updated_at", ASCENDING)])
    # The visibility scopes (cases.visibility) and the photo → case lookup.
    await db.cases.create_index([("units", ASCENDING)])
    await db.cases.create_index([("assigned_units", ASCENDING)])
    await db.cases.create_index([("deadline_provisional", ASCENDING)])
    await db.cases.create_index([("low_rating", ASCENDING)])  # the desk's low-ratings queue
    await _backfill_access(db)
    await lists.ensure_indexes(db)
    await migrations.migrate(db)
    await db.photo_carriers.create_index([("photo", ASCENDING)])
    await _backfill_carriers(db)
    await db.events.create_index([("case_id", ASCENDING)])
    await db.calendar_days.create_index([("year", ASCENDING)])
    await seed_categories(db)
    await refusals.seed_reasons(db)
    await seed_calendar(db)


async def _drop_index(db: Database, name: str) -> None:
    if name in await db.cases.index_information():
        try:
            await db.cases.drop_index(name)
        except OperationFailure:
            pass  # another process dropped it first


SPOTS_MIGRATION = "migration:event_spots"


async def _backfill_spots(db: Database) -> None:
    """Give the report events of open cases stored before the change log carried spots their
    spot (once per database); `case_spots`, which held them before, goes."""
    if await db.counters.find_one({"_id": SPOTS_MIGRATION}, {"_id": 1}):
        return
    writes = []
    async for case in db.cases.find({"state": {"$in": list(OPEN_STATES)}}, _SPOT_FIELDS):
        spot = spot_of(case)
        if spot is not None:
            writes.append(UpdateOne({"_id": f"{case['_id']}:1"}, {"$set": spot}))
        if len(writes) >= 500:
            await db.events.bulk_write(writes, ordered=False)
            writes = []
    if writes:
        await db.events.bulk_write(writes, ordered=False)
    await db.drop_collection("case_spots")
    try:
        await db.counters.insert_one({"_id": SPOTS_MIGRATION})
    except DuplicateKeyError:
        pass  # another process finished the same backfill


ACCESS_MIGRATION = "migration:case_access"
_ACCESS_READ = {"district": 1, "placement": 1, "assignee": 1, "history": 1,
                "photos": 1, "after_photos": 1, "result_photos": 1}


async def _backfill_access(db: Database) -> None:
    """Give cases stored before the visibility fields existed their `units`, `assigned_units`
    and `photo_ids` (once per database)."""
    if await db.counters.find_one({"_id": ACCESS_MIGRATION}, {"_id": 1}):
        return
    writes = []
    async for case in db.cases.find({"units": None}, _ACCESS_READ):
        writes.append(UpdateOne({"_id": case["_id"]}, {"$set": {
            **access_fields(case), "photo_ids": case_photos(case)}}))
        if len(writes) >= 500:
            await db.cases.bulk_write(writes, ordered=False)
            writes = []
    if writes:
        await db.cases.bulk_write(writes, ordered=False)
    try:
        await db.counters.insert_one({"_id": ACCESS_MIGRATION})
    except DuplicateKeyError:
        pass  # another process finished the same backfill


async def provisional_deadline_cases(db: Database, *, states: Iterable[str]) -> list[Document]:
    """Cases whose running deadline rests on a year nobody entered yet."""
    wanted = set(states)
    cursor = db.cases.find({"deadline_provisional": True})
    return [doc async for doc in cursor if doc["state"] in wanted]


# Which cases carry a photo: `photo_carriers`, one document per (photo, case), found by the
# photo as an indexed string. A case's `photo_ids` is an array, which FerretDB cannot look up
# by index (its pushdown keeps every array row): `{photo_ids: {$in: …}}` read every case, so a
# chat report's confirm grew to seconds with 10,000 cases (bench/autodispatch.py, issue 22).
# A mark is written before the case takes the photo (`mark_carriers`), so no case carries a
# photo without one; a mark whose case never took it (a refused intake) is ignored on reading.
CARRIERS_MIGRATION = "migration:photo_carriers"


def _carrier_docs(photo_ids: Iterable[str], case_id: str) -> list[Document]:
    return [{"_id": f"{p}|{case_id}", "photo": p, "case_id": case_id}
            for p in dict.fromkeys(photo_ids)]


async def mark_carriers(db: Database, *, photo_ids: Iterable[str], case_id: str) -> None:
    """Record that `case_id` carries (or is about to carry) these photos (idempotent)."""
    results = await insert_grouped(db.photo_carriers, _carrier_docs(photo_ids, case_id))
    for error in results:
        if error is not None and error.get("code") != DUPLICATE_KEY:  # a duplicate: marked before
            raise WriteError(error.get("errmsg", "write error"), error.get("code"), error)


async def cases_with_photos(db: Database, *, photo_ids: Iterable[str]) -> list[Document]:
    """The cases that carry any of these photos (intake, on-the-spot or result photos)."""
    ids = list(dict.fromkeys(photo_ids))
    if not ids:
        return []
    marks = db.photo_carriers.find({"photo": {"$in": ids}}, {"case_id": 1})
    case_ids = list(dict.fromkeys([str(m["case_id"]) async for m in marks]))
    if not case_ids:
        return []  # the usual answer at intake: a photo just uploaded, on no case yet
    wanted = set(ids)
    cursor = db.cases.find({"_id": {"$in": case_ids}}, {"history": 0})
    return [doc async for doc in cursor if wanted & set(doc.get("photo_ids") or [])]


async def _backfill_carriers(db: Database) -> None:
    """Mark the photos of cases stored before `photo_carriers` existed (once per database)."""
    if await db.counters.find_one({"_id": CARRIERS_MIGRATION}, {"_id": 1}):
        return
    docs: list[Document] = []
    async for case in db.cases.find({}, {"photo_ids": 1}):
        docs += _carrier_docs(case.get("photo_ids") or [], str(case["_id"]))
        if len(docs) >= 1000:
            await insert_new(db.photo_carriers, docs)
            docs = []
    await insert_new(db.photo_carriers, docs)
    try:
        await db.counters.insert_one({"_id": CARRIERS_MIGRATION})
    except DuplicateKeyError:
        pass  # another process finished the same backfill


# ---------------------------------------------------------------- serials


async def next_serial_number(db: Database, *, prefix: str, day: date) -> str:
    """`A20261127-00042`: prefix, local date, per-day sequence from a counter."""
    key = f"serial:{prefix}:{day:%Y%m%d}"
    loop = asyncio.get_running_loop()
    batches = _batches.setdefault(loop, {})
    slot = (id(db.client), db.name, key)
    batch = batches.setdefault(slot, _SerialBatch())
    wanted: asyncio.Future[int] = loop.create_future()
    batch.waiting.append(wanted)
    if batch.task is None:
        batch.task = loop.create_task(_allocate(db, key, batch, batches, slot))
    return f"{prefix}{day:%Y%m%d}-{await wanted:05d}"


# One increment in flight per counter from this process: FerretDB loses concurrent increments
# (see above), and a lost increment costs the loser a failed insert and another round. Callers
# that come while one is in flight wait for the next, which takes as many numbers as there are
# callers (`$inc` by n): one round trip for all of them instead of a queue of round trips, which
# under load cost more than the increment itself (bench/load.py, issue 10). Correctness does not
# rest on this (the unique serial index decides); several processes still collide now and then
# and retry. A caller that stops after its number was taken leaves a gap, as a crash does.
class _SerialBatch:
    def __init__(self) -> None:
        self.waiting: list[asyncio.Future[int]] = []
        self.task: asyncio.Task[None] | None = None


_batches: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                    dict[tuple[int, str, str], _SerialBatch]] = weakref.WeakKeyDictionary()


async def _allocate(db: Database, key: str, batch: _SerialBatch,
                    batches: dict[tuple[int, str, str], _SerialBatch],
                    slot: tuple[int, str, str]) -> None:
    try:
        while waiters := [w for w in batch.waiting if not w.done()]:
            batch.waiting = []
            try:
                last = await _increment(db, key, len(waiters))
            except Exception as exc:
                for w in waiters:
                    if not w.done():
                        w.set_exception(exc)
                continue
            except BaseException:
                for w in waiters:
                    w.cancel()
                raise
            for i, w in enumerate(waiters, start=last - len(waiters) + 1):
                if not w.done():
                    w.set_result(i)
    finally:
        for w in batch.waiting:
            w.cancel()
        if batches.get(slot) is batch:
            del batches[slot]


async def _increment(db: Database, key: str, n: int) -> int:
    """Add `n` to the counter; the new value (the numbers taken are the `n` up to it)."""
    for _ in range(5):
        try:
            doc = await db.counters.find_one_and_update(
                {"_id": key}, {"$inc": {"seq": n}}, upsert=True,
                return_document=ReturnDocument.AFTER)
            break
        except DuplicateKeyError:
            # Two first-of-the-day upserts raced; the loser retries as a plain $inc.
            continue
    else:  # pragma: no cover - five lost races in a row
        raise RuntimeError("serial counter contention")
    assert doc is not None
    return int(doc["seq"])


# ---------------------------------------------------------------- cases


class SerialTaken(Exception):
    """The serial number is already used (the counter handed it out twice: take another)."""


async def insert_case(db: Database, *, case: Document) -> Document | None:
    """Insert a new case; None when its intake key already opened one (the caller looks it up).

    Raises `SerialTaken` when the serial is in use. (FerretDB's duplicate-key message does not
    name the index, so the intake key is checked by looking.)
    """
    case.update(complete(case))  # the schema's shape, or BadCaseInput before anything is stored
    try:
        # With concurrent intakes' cases in one command (gridlink.db, group commit).
        await insert_one_grouped(db.cases, case)
    except DuplicateKeyError:
        if await db.cases.find_one({"intake_key": case["intake_key"]}, {"_id": 1}):
            return None
        raise SerialTaken(case["serial"]) from None
    await lists.add_keys(db, [case], case["created_at"])
    return case


# Where the lists' walk back stops: set by history imports (older than any intake); without
# it, the first case stored (the collection's natural order) is the oldest.
OLDEST_HOUR = "cases:oldest_hour"


async def case_by_intake_key(db: Database, *, intake_key: str) -> Document | None:
    return await db.cases.find_one({"intake_key": intake_key})


async def get_case(db: Database, *, ref: str) -> Document:
    """A case by its id or its serial number."""
    # One plain equality, not an $or: FerretDB v1 pushes only simple filters down to SQLite.
    flt = {"serial": ref.upper()} if SERIAL_RE.match(ref.upper()) else {"_id": ref}
    doc = await db.cases.find_one(flt)
    if doc is None:
        raise CaseNotFound(f"no case {ref!r}", ref=ref)
    return read_case(doc)


async def get_case_by_serial(db: Database, *, serial: str) -> Document:
    doc = await db.cases.find_one({"serial": serial.strip().upper()})
    if doc is None:
        raise CaseNotFound(f"no case with serial {serial!r}", serial=serial)
    return read_case(doc)


# FerretDB v1 (SQLite) runs findAndModify/update as read-then-write without isolation: two
# concurrent conditional updates on one document both "match" and both report success, and
# $inc loses increments (measured: 100 concurrent $inc → 22 distinct values). Unique indexes
# *are* enforced atomically, so every single-winner decision goes through an insert:
# - a transition claims `case_claims/<case_id>:<new version>` before its guarded update;
# - a serial number is claimed by the unique `serial` index of the case insert itself.
CLAIM_LEASE = timedelta(seconds=60)


async def claim_version(db: Database, *, case_id: str, version: int, now: datetime) -> bool:
    """Claim the right to move `case_id` to `version`; False when another writer holds it.

    A claim left by a writer that died before its update (older than `CLAIM_LEASE`, the case
    still below `version`) is taken over (gridlink.leases), so a crash never wedges a case.
    """
    async def still_below(_: Document) -> bool:
        case = await db.cases.find_one({"_id": case_id}, {"version": 1})
        return case is not None and case["version"] < version

    # Unique per attempt: two writers at the same instant must not pass for one holder renewing.
    return await leases.take(db.case_claims, f"{case_id}:{version}", holder=secrets.token_hex(8),
                             now=now, ttl=CLAIM_LEASE, fields={"case_id": case_id},
                             may_take_over=still_below)


async def apply_update(db: Database, *, case_id: str, version: int, update: Mapping[str, Any],
                       extra_filter: Mapping[str, Any] | None = None) -> Document | None:
    """Apply `update` only if the case is still at `version`; the new document, or None."""
    flt: dict[str, Any] = {"_id": case_id, "version": version, **(extra_filter or {})}
    return await db.cases.find_one_and_update(flt, dict(update),
                                              return_document=ReturnDocument.AFTER)


async def find_cases(db: Database, *, query: Mapping[str, Any], limit: int,
                     before_id: str | None = None, now: datetime | None = None) -> list[Document]:
    """Newest first (by creation); `before_id` is the cursor of the next page."""
    # No cursor to go on from: a longer budget (a page stops early only past it).
    docs, _ = await find_cases_page(db, query=query, limit=limit, before_id=before_id, now=now,
                                    budget_s=WALK_BUDGET_S * 8)
    return docs


# The fields a list may be looked up by directly: each holds few cases per value.
DIRECT_KEYS = ("_id", "serial", "intake_key", "open_unit", "queue", "merged_into")
_LIST_READ = dict.fromkeys(LIST_OMIT, 0)
WALK_FIRST_STEPS = 1
WALK_MAX_STEPS = 400  # the server pushes `$in` lists of up to 500 values down
WALK_BUDGET_S = 0.15  # past this, a page returns what it found and a cursor to go on from


_slotted: set[str] = set()  # databases whose cases all have `created_slot` (schema 4 on)


async def _slots_stored(db: Database) -> bool:
    """Whether every stored case has its creation slot: until the migration to schema 4 has
    finished, an unfiltered walk goes by creation hours (a field every version has)."""
    if db.name not in _slotted:
        if (await migrations.stored_version(db) or 0) < 4:
            return False
        _slotted.add(db.name)
    return True


def _direct(flt: Mapping[str, Any]) -> dict[str, Any] | None:
    """The filter as one indexed lookup, when it names a selective key (the bot's open
    assignments `{assignee.unit, state: open}` become `open_unit`)."""
    unit, states = flt.get("assignee.unit"), flt.get("state")
    open_only = isinstance(states, Mapping) and set(states.get("$in") or ["x"]) <= set(OPEN_STATES)
    if isinstance(unit, str) and (open_only or states in OPEN_STATES):
        return {"open_unit": unit, "$and": [dict(flt)]}
    for key in DIRECT_KEYS:
        value = flt.get(key)
        if isinstance(value, str) or (isinstance(value, Mapping) and set(value) == {"$in"}):
            rest = {k: v for k, v in flt.items() if k != key}
            return {key: value, "$and": [rest]} if rest else {key: value}
    return None


def _order(doc: Mapping[str, Any]) -> tuple[datetime, str]:
    return doc["created_at"], str(doc["_id"])


def _created_bounds(flt: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The hours a `created_at` range in the filter (top level or in `$and`) allows."""
    parts = [flt, *(flt.get("$and") or [])]
    lo = hi = None
    for part in parts:
        rng = part.get("created_at") if isinstance(part, Mapping) else None
        if isinstance(rng, Mapping):
            if isinstance(rng.get("$gte"), datetime):
                lo = hour_of(rng["$gte"])
            for op in ("$lt", "$lte"):
                if isinstance(rng.get(op), datetime):
                    hi = hour_of(rng[op])
    return lo, hi


# The bucketed filters (cases.schema.BUCKETS) in the order a walk prefers them: the one with
# the fewest cases per value first (an open state holds few cases of any past hour).
_BUCKET_ORDER = ("assignee.unit", "channel", "kind", "open state", "category", "state")


def _equalities(flt: Mapping[str, Any]) -> dict[str, list[str]]:
    """The values an equality or `$in` on a bucketed field allows (top level or in `$and`,
    several conditions on one field intersected)."""
    out: dict[str, list[str]] = {}
    parts: list[Any] = [flt]
    while parts:
        part = parts.pop()
        if not isinstance(part, Mapping):
            continue
        for key, value in part.items():
            if key == "$and" and isinstance(value, list):
                parts.extend(value)
                continue
            if key not in BUCKETS:
                continue
            if isinstance(value, str):
                values = [value]
            elif isinstance(value, Mapping) and set(value) == {"$in"}:
                values = [str(v) for v in value["$in"]]
            else:
                continue
            have = out.get(key)
            out[key] = sorted(set(values) if have is None else set(values) & set(have))
    return out


def _walk_field(flt: Mapping[str, Any]) -> tuple[str, list[str | None]]:
    """The field a page walks back by and the values it looks up in each hour: a filter's
    bucket (its matches only), else `created_slot` (every case of ten minutes)."""
    found = _equalities(flt)
    if "state" in found and set(found["state"]) <= set(OPEN_STATES):
        found["open state"] = found.pop("state")
    for key in _BUCKET_ORDER:
        if key in found:
            return BUCKETS["state" if key == "open state" else key], list(found[key])
    return "created_slot", [None]


async def find_cases_page(db: Database, *, query: Mapping[str, Any], limit: int,
                          before_id: str | None = None, now: datetime | None = None,
                          resume_step: int | None = None, budget_s: float = WALK_BUDGET_S,
                          keyed: str | None = None) -> tuple[list[Document], int | None]:
    """A page of cases newest first, read by index only, and the step to resume from when
    the page stopped at its time budget before it was full (None: the page is complete).

    A selective key is looked up directly; any other filter walks back over the creation
    hours, more hours each round: by a filter's bucket (`by_state: "<state>|<hour>" $in
    [...]`, cases.schema.derived) when it has one, so a page reads about its matches only,
    else by `created_slot $in [...]` (ten minutes a step: an hour of a district's year holds
    twice a page); never the collection. `keyed` (a list key whose entries hold creation-hour
    buckets, `r:<unit>`: cases.lists) walks that list's entries instead, then reads those
    cases by `_id`."""
    import time

    flt = dict(query)
    after: tuple[datetime, str] | None = None
    if before_id is not None:
        mark = await db.cases.find_one({"_id": before_id}, {"created_at": 1})
        if mark is None:
            return [], None
        after = (mark["created_at"], str(before_id))
    direct = _direct(flt)
    if direct is not None:
        found = [d async for d in db.cases.find(direct, _LIST_READ)]
        found = [d for d in found if after is None or _order(d) < after]
        found.sort(key=_order, reverse=True)
        return [read_case(d, omit=LIST_OMIT) for d in found[:limit]], None
    field, values = ("b", [keyed]) if keyed is not None else _walk_field(flt)
    if not values:
        return [], None  # two conditions on one field that no value meets
    if field == "created_slot" and not await _slots_stored(db):
        field = "created_hour"  # cases stored before schema 4 are being migrated meanwhile
    step_of, per = (slot_of, HOUR_S // SLOT_S) if field == "created_slot" else (hour_of, 1)
    lo, hi = _created_bounds(flt)
    top = int(step_of(now or datetime.now(UTC)) or 0) + 1 if resume_step is None else resume_step
    if after is not None:
        top = min(top, int(step_of(after[0]) or top))
    if hi is not None:
        top = min(top, (hi + 1) * per - 1)
    oldest = await db.counters.find_one({"_id": OLDEST_HOUR})
    if oldest is None:
        oldest = {"hour": (await db.cases.find_one({}, {"created_hour": 1}) or {}).get("created_hour")}
    bottom = max(int(oldest["hour"]) * per if oldest.get("hour") is not None else top, (lo or 0) * per)
    most = max(1, WALK_MAX_STEPS // len(values))  # steps × values in one `$in`
    started = time.perf_counter()

    def keys_of(steps: list[int]) -> list[Any]:
        return steps if values == [None] else [bucket(v, h) for h in steps for v in values]

    async def any_in(steps: list[int]) -> bool:
        """Whether the steps hold a match (one document read, however many they hold)."""
        if keyed is not None:
            return bool(await db.case_keys.find({"b": {"$in": keys_of(steps)}}, {"_id": 1}).limit(1).to_list(None))
        return bool(await db.cases.find({field: {"$in": keys_of(steps)}, "$and": [flt]}, {"_id": 1}
                                        ).limit(1).to_list(None))

    out: list[Document] = []
    span, step = WALK_FIRST_STEPS, top
    newest = 0  # the newest creation step with a match on the page
    while step >= bottom and len(out) < limit:
        if step != top and time.perf_counter() - started > budget_s:
            return [read_case(d, omit=LIST_OMIT) for d in sorted(out, key=_order, reverse=True)], step
        if not out and span > 1:
            # Nothing yet: each case read costs the server ~1 ms to decode, a probe a round
            # trip (~1-2 ms), so find the newest step with a match by probes (growing while
            # empty, then halving) before reading any: a page starts where its cases start.
            steps = list(range(step, max(step - span, bottom - 1), -1))
            if not await any_in(steps):
                step -= len(steps)
                span = min(span * 4, most)
                continue
            while len(steps) > 1:
                half = len(steps) // 2
                steps = steps[:half] if await any_in(steps[:half]) else steps[half:]
            step, span = steps[0], 1
        steps = list(range(step, max(step - span, bottom - 1), -1))
        keys = keys_of(steps)
        if keyed is not None:
            ids = [d["c"] async for d in db.case_keys.find({"b": {"$in": keys}}, {"c": 1})]
            found = [d async for d in db.cases.find({"_id": {"$in": ids}, "$and": [flt]}, _LIST_READ)] if ids else []
        else:
            found = [d async for d in db.cases.find({field: {"$in": keys}, "$and": [flt]}, _LIST_READ)]
        kept = [d for d in found if after is None or _order(d) < after]
        out += kept
        newest = max([newest, *(int(step_of(d["created_at"]) or 0) for d in kept)])
        step -= len(steps)
        if not out:
            span = min(span * 4, most)
            continue
        # The next round reads the steps the rest of the page needs at the density seen since
        # the newest step with a match, at most twice the last span (bench/RESULTS.md, issue
        # 19's third run).
        need = -(-(limit - len(out)) * (newest - step) // len(out))
        span = max(1, min(span * 2, need, most))
    out.sort(key=_order, reverse=True)
    return [read_case(d, omit=LIST_OMIT) for d in out[:limit]], None


# ---------------------------------------------------------------- duplicate search
#
# The spots are in the change log: a located case's report event carries what the search
# needs, `{k: dup_key, location, phashes}`, and the event that closes or merges it
# `k: "gone|<case id>"` (cases.changelog.spot_fields) — no write of their own. The search
# could read `cases` by the same key, but FerretDB decodes every field of each document it
# returns (20 cases ~13 ms, 20 events ~5 ms, bench/RESULTS.md), and at a hotspot every new
# report reads the same crowd of neighbours.

_SPOT_FIELDS = {"category": 1, "location": 1, "created_at": 1, "serial": 1, "phashes": 1,
                "state": 1, "handled_on_the_spot": 1}
# Bounded: with more open reports nearby than this, the photo check sees only these (the
# oldest first, in index order); twice the candidates kept leaves room for it to drop some.
CANDIDATE_LIMIT = 2 * MAX_CANDIDATES
SEARCH_ROUNDS = 3  # reads past spots whose cases have closed, at most this many times
_SPOT_READ = {"case_id": 1, "serial": 1, "location": 1, "phashes": 1, "at": 1}


def spot_of(case: Mapping[str, Any]) -> Document | None:
    """The spot fields of an open located case's report event, or None."""
    if case.get("state") in FINAL_STATES:
        return None
    spot = spot_fields(case, {"action": "report", "from": None, "to": "reported"})
    return spot or None


async def nearby_open_cases(db: Database, *, category: str, box: Mapping[str, float],
                            since: datetime, exclude_states: Iterable[str] = FINAL_STATES,
                            until: datetime | None = None) -> list[Document]:
    """Open cases of `category` in `box` created since `since` (up to `until`, default the
    duplicate window after it) as `{_id, serial, location, phashes}`: an indexed `$in` over the
    change log's report spots, and one over the "gone" marks of those found. Only open cases
    are found, so `exclude_states` may name final states only."""
    if not set(exclude_states) <= set(FINAL_STATES):
        raise ValueError("the duplicate search knows open cases only; exclude final states")
    keys = search_keys(category, box, since, until or since + WINDOW)
    found: list[Document] = []
    seen: list[str] = []
    for _ in range(SEARCH_ROUNDS):
        flt: dict[str, Any] = {
            "k": {"$in": keys}, "at": {"$gte": since},
            "location.lat": {"$gte": box["min_lat"], "$lte": box["max_lat"]},
            "location.lon": {"$gte": box["min_lon"], "$lte": box["max_lon"]}}
        if seen:
            flt["_id"] = {"$nin": seen}
        want = CANDIDATE_LIMIT - len(found)
        spots = await db.events.find(flt, _SPOT_READ).limit(want).batch_size(want).to_list(None)
        if not spots:
            break
        seen += [s["_id"] for s in spots]
        gone_keys = [GONE + str(s["case_id"]) for s in spots]
        gone = {str(g["k"])[len(GONE):] async for g in db.events.find({"k": {"$in": gone_keys}}, {"k": 1})}
        found += [{"_id": s["case_id"], "serial": s["serial"], "location": s["location"],
                   "phashes": s.get("phashes") or [], "created_at": s["at"]}
                  for s in spots if str(s["case_id"]) not in gone]
        if len(spots) < want or len(found) >= CANDIDATE_LIMIT:
            break
    return found


def text_query(text: str) -> dict[str, Any]:
    pattern = re.escape(text.strip())
    return {"$or": [{"description": {"$regex": pattern, "$options": "i"}},
                    {"serial": {"$regex": pattern, "$options": "i"}}]}


# A grid version's units never change (an import writes a new version), so each process keeps
# the names it has read: on FerretDB one `units` lookup scans the collection with its geometry
# (140 ms of a 440 ms intake in bench/load.py's profile).
_UNIT_NAMES: dict[tuple[str, int, str], str | None] = {}


# The active grid version is read at most every GRID_VERSION_TTL_S per process, as grids'
# LiveGridIndex does for placement (an import is seen by both within the same few seconds);
# "no grid yet" is not kept, so the first import is seen at once.
GRID_VERSION_TTL_S = 5.0
_GRID_VERSIONS: TTLCache[str, int] = TTLCache(maxsize=64, ttl=GRID_VERSION_TTL_S)


async def unit_name(db: Database, *, unit: str) -> str | None:
    """The unit's Chinese name in the active grid (None when no grid holds it)."""
    from grids import repository as grids_repo

    version = _GRID_VERSIONS.get(db.name)
    if version is None:
        version = await grids_repo.active_version(db)
        if version is None:
            return None
        _GRID_VERSIONS[db.name] = version
    key = (db.name, version, unit)
    if key not in _UNIT_NAMES:
        found = await grids_repo.find_unit(db, code=unit)
        if found is not None and found.get("version") not in (None, version):
            return str(found["name_zh"]) if found.get("name_zh") else None  # a flip meanwhile
        if len(_UNIT_NAMES) > 50_000:
            _UNIT_NAMES.clear()
        _UNIT_NAMES[key] = str(found["name_zh"]) if found and found.get("name_zh") else None
    return _UNIT_NAMES[key]


# ---------------------------------------------------------------- events


async def insert_events(db: Database, *, events: list[Document]) -> int:
    """Insert events whose `_id` is not there yet; returns how many were new."""
    errors = await insert_grouped(db.events, events)  # with concurrent callers' events
    return sum(error is None for error in errors)


async def existing_event_ids(db: Database, *, ids: list[str]) -> set[str]:
    cursor = db.events.find({"_id": {"$in": ids}}, {"_id": 1})
    return {doc["_id"] async for doc in cursor}


async def cases_updated_since(db: Database, *, since: datetime | None) -> list[Document]:
    flt: dict[str, Any] = {} if since is None else {"updated_at": {"$gte": since}}
    return [doc async for doc in db.cases.find(flt, {"serial": 1, "history": 1, "category": 1,
                                                     "kind": 1, "channel": 1})]


# ---------------------------------------------------------------- categories


async def seed_categories(db: Database) -> int:
    if await db.categories.count_documents({}, limit=1):
        return 0
    # Another process may be seeding at the same moment: its categories are not ours to count.
    docs = [c.to_doc() for c in DEFAULT_CATEGORIES]
    return len(docs) - len(await insert_new(db.categories, docs))


async def list_categories(db: Database, *, include_inactive: bool = True) -> list[Document]:
    cached = _CATEGORY_LISTS.get((db.name, include_inactive))
    if cached is None:  # kept like get_category's (every Open311 list names its services)
        flt: dict[str, Any] = {} if include_inactive else {"active": True}
        cached = [doc async for doc in db.categories.find(flt).sort("_id", ASCENDING)]
        _CATEGORY_LISTS[(db.name, include_inactive)] = cached
    return copy.deepcopy(cached)


# Categories change only by an admin's edit; each process keeps what it read for a few
# seconds (an edit made through this process is seen at once, one made through another
# process within CONFIG_TTL_S), saving a round trip on every intake.
CONFIG_TTL_S = 10.0
_CATEGORIES: TTLCache[tuple[str, str], Document] = TTLCache(maxsize=1024, ttl=CONFIG_TTL_S)
_CATEGORY_LISTS: TTLCache[tuple[str, bool], list[Document]] = TTLCache(maxsize=64, ttl=CONFIG_TTL_S)


async def get_category(db: Database, *, code: str) -> Document:
    cached = _CATEGORIES.get((db.name, code))
    if cached is None:
        doc = await db.categories.find_one({"_id": code})
        if doc is None:
            raise CategoryNotFound(f"unknown category {code!r}", category=code)
        _CATEGORIES[(db.name, code)] = cached = doc
    return copy.deepcopy(cached)  # callers may keep parts of it in documents they change


async def put_category(db: Database, *, category: Category, now: datetime,
                       by: str) -> Document:
    doc = category.to_doc()
    doc.update(updated_at=now, updated_by=by)
    await db.categories.replace_one({"_id": doc["_id"]}, doc, upsert=True)
    _CATEGORIES.pop((db.name, doc["_id"]), None)
    for every in (True, False):
        _CATEGORY_LISTS.pop((db.name, every), None)
    return doc


# ---------------------------------------------------------------- calendar


async def seed_calendar(db: Database) -> int:
    """Enter every published year of the `holidays` package that the table does not hold yet."""
    have = {doc["_id"] async for doc in db.calendar_years.find({}, {"_id": 1})}
    years = [y for y in package_years(CALENDAR_SEED_FROM) if y not in have]
    if not years:
        return 0
    days = [d for y in years for d in package_days(y)]
    await insert_new(db.calendar_days, days)  # a concurrent start may seed the same days
    # Years last: a year counts as covered only once its days are in.
    covered = [{"_id": y, "source": "holidays"} for y in years]
    return len(covered) - len(await insert_new(db.calendar_years, covered))


async def load_calendar(db: Database, *, years: Iterable[int]) -> WorkCalendar:
    wanted = sorted(set(years))
    covered = {doc["_id"] async for doc in db.calendar_years.find({"_id": {"$in": wanted}})}
    holidays: set[date] = set()
    workdays: set[date] = set()
    async for doc in db.calendar_days.find({"year": {"$in": sorted(covered)}}):
        day = date.fromisoformat(doc["_id"])
        (holidays if doc["kind"] == "holiday" else workdays).add(day)
    provisional = {y for y in wanted if y not in covered}
    for year in provisional:
        holidays |= provisional_holidays(year)
    return WorkCalendar(covered_years=frozenset(covered), holidays=frozenset(holidays),
                        workdays=frozenset(workdays), provisional_years=frozenset(provisional))


async def calendar_year(db: Database, *, year: int) -> Document | None:
    meta = await db.calendar_years.find_one({"_id": year})
    if meta is None:
        return None
    days = [doc async for doc in db.calendar_days.find({"year": year}).sort("_id", ASCENDING)]
    return {"year": year, "source": meta.get("source"), "updated_at": meta.get("updated_at"),
            "updated_by": meta.get("updated_by"),
            "holidays": [{"date": d["_id"], "name": d.get("name", "")} for d in days if d["kind"] == "holiday"],
            "workdays": [{"date": d["_id"], "name": d.get("name", "")} for d in days if d["kind"] == "workday"]}


async def list_calendar_years(db: Database) -> list[Document]:
    return [doc async for doc in db.calendar_years.find({}).sort("_id", ASCENDING)]


async def replace_calendar_year(db: Database, *, year: int, holidays: Mapping[date, str],
                                workdays: Mapping[date, str], now: datetime, by: str) -> None:
    """Replace one year's holidays and adjusted workdays and mark the year covered."""
    docs = [{"_id": d.isoformat(), "year": year, "kind": "holiday", "name": n, "source": "admin"}
            for d, n in holidays.items()]
    docs += [{"_id": d.isoformat(), "year": year, "kind": "workday", "name": n, "source": "admin"}
             for d, n in workdays.items()]
    await db.calendar_days.delete_many({"year": year})
    if docs:
        await db.calendar_days.insert_many(docs)
    await db.calendar_years.replace_one(
        {"_id": year}, {"_id": year, "source": "admin", "updated_at": now, "updated_by": by},
        upsert=True)


async def delete_calendar_year(db: Database, *, year: int) -> bool:
    await db.calendar_days.delete_many({"year": year})
    result = await db.calendar_years.delete_one({"_id": year})
    return result.deleted_count > 0
