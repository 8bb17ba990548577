"""Versioned migrations of stored cases: step n brings every case of `schema_version` n to n+1.

Run at start (`cases.repository.ensure_indexes`). The database's version is kept in
`counters` (`schema:cases`); one process migrates under a lease (gridlink.leases) while the
others start without waiting (they read old cases through `cases.schema.read_case`, which
fills what is missing). Each step rewrites cases in bulk batches, guarded by the case's
`version`, so a transition made meanwhile is never overwritten (that case is read again).
A step is idempotent: a crash mid-way leaves cases of both versions, and the next start
runs the step again over those still below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import UpdateOne

from cases import lists
from cases.schema import SCHEMA_VERSION, complete
from cases.visibility import access_fields, case_photos
from gridlink import leases
from gridlink.db import Database, Document

log = logging.getLogger(__name__)
STATE = "schema:cases"
LEASE = "lease:schema:cases"
LEASE_TTL = timedelta(minutes=2)
BATCH = 500

Step = Callable[[Database, Document, datetime], Document]


def _to_2(db: Database, case: Document, now: datetime) -> Document:
    """1 → 2: every field with its default, the access fields, and the list fields."""
    doc = dict(case)
    if doc.get("units") is None:
        doc.update(access_fields(doc), photo_ids=case_photos(doc))
    if doc.get("result") is None and doc.get("state") in ("awaiting_verification", "closed") \
            and not doc.get("merged_into"):  # feedback stored before results were kept
        doc["result"] = {"text": "", "photos": [], "at": doc.get("closed_at")}
    if not doc.get("proposed_assignee"):  # the desk's dispatch form starts from it
        doc["proposed_assignee"] = doc.get("assignee") or {
            "unit": doc["district"], "kind": "district", "name": doc["district"]}
    return complete(doc)


def _to_3(db: Database, case: Document, now: datetime) -> Document:
    """2 → 3: the lists' filter buckets (`by_state`, `by_channel` … cases.schema.derived)."""
    return complete(case)


def _to_4(db: Database, case: Document, now: datetime) -> Document:
    """3 → 4: the ten-minute creation slot an unfiltered list walks by (`created_slot`)."""
    return complete(case)


# STEPS[n] brings a case from version n to n+1; a case without `schema_version` is version 1.
STEPS: dict[int, Step] = {1: _to_2, 2: _to_3, 3: _to_4}
assert max(STEPS) + 1 == SCHEMA_VERSION, "a schema version without its migration step"


async def stored_version(db: Database) -> int | None:
    doc = await db.counters.find_one({"_id": STATE})
    return None if doc is None else int(doc["version"])


async def migrate(db: Database, *, now: datetime | None = None, holder: str | None = None,
                  progress: Callable[[str], Any] | None = None) -> int:
    """Bring every stored case to SCHEMA_VERSION; how many cases were rewritten (0 when another
    process holds the migration or there is nothing to do)."""
    now = now or datetime.now(UTC)
    have = await stored_version(db)
    if have == SCHEMA_VERSION:
        return 0
    holder = holder or f"migrate:{id(db)}:{now.isoformat()}"
    if not await leases.take(db.counters, LEASE, holder=holder, now=now, ttl=LEASE_TTL):
        return 0  # another process is migrating
    try:
        if have is None and not await db.cases.find_one({}, {"_id": 1}):
            await _mark(db, SCHEMA_VERSION)  # a new database: nothing stored to migrate
            return 0
        done = 0
        for version in range(have or 1, SCHEMA_VERSION):
            done += await _run(db, version, STEPS[version], now, holder, progress)
            await _mark(db, version + 1)
        await lists.sweep_red(db, now=now)  # start the red sweep's clock at the migration
        return done
    finally:
        await leases.release(db.counters, LEASE, holder=holder)


async def _mark(db: Database, version: int) -> None:
    await lists.set_counter(db, STATE, {"version": version})


def _below(version: int) -> dict[str, Any]:
    # A full read, once per version: the server cannot look up "missing or n" by index.
    return {"schema_version": None} if version == 1 else {"schema_version": version}


async def _run(db: Database, version: int, step: Step, now: datetime, holder: str,
               progress: Callable[[str], Any] | None) -> int:
    done = 0
    batch: list[Document] = []

    async def flush() -> None:
        nonlocal done, batch
        writes = []
        for old in batch:
            new = step(db, old, now)
            new.pop("_id")
            writes.append(UpdateOne({"_id": old["_id"], "version": old.get("version")}, {"$set": new}))
        result = await db.cases.bulk_write(writes, ordered=False)
        if result.matched_count < len(writes):
            log.info("cases changed during the migration; the next start migrates them")
        await lists.add_keys(db, [{**o, **step(db, o, now)} for o in batch], now)
        done += len(batch)
        batch = []
        await leases.take(db.counters, LEASE, holder=holder, now=datetime.now(UTC), ttl=LEASE_TTL)
        if progress:
            progress(f"schema {version} → {version + 1}: {done:,} cases")

    async for case in db.cases.find(_below(version)):
        batch.append(case)
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return done
