"""A list's walk over creation hours reads about the cases its page shows (issue 19): each case
read costs the server ~1 ms to decode, an empty round ~1-2 ms, so a page after empty hours must
not size its rounds by a density that counts those empty hours."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pymongo import AsyncMongoClient, monitoring

from cases import repository as repo
from cases.schema import complete, hour_of
from gridlink.db import Database
from gridlink.settings import Settings

NOW = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)
HOURS = 30  # with cases: from 3 hours before NOW back (the newest hours have none)
PER_HOUR = 5  # in_progress cases an hour, and as many closed ones


class CasesRead(monitoring.CommandListener):
    """The documents `find` and `getMore` on `cases` return."""

    def __init__(self) -> None:
        self.n = 0
        self._ids: set[int] = set()

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if event.command.get(name) == "cases" or (name == "getMore" and event.command.get("collection") == "cases"):
            self._ids.add(event.request_id)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if event.request_id in self._ids:
            cursor = event.reply.get("cursor") or {}
            self.n += len(cursor.get("firstBatch", cursor.get("nextBatch", [])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def _load(db: Database) -> list[tuple[datetime, str]]:
    docs = []
    for h in range(HOURS):
        start = NOW.replace(minute=0) - timedelta(hours=3 + h)
        for i in range(2 * PER_HOUR):
            docs.append(complete({
                "_id": f"c{h:02d}{i:02d}", "serial": f"A{h:02d}{i:02d}", "intake_key": f"k{h:02d}{i:02d}",
                "district": "310101",
                "channel": "web_portal", "kind": "complaint", "category": "other",
                "state": "in_progress" if i % 2 else "closed",
                "created_at": start + timedelta(minutes=5 * i)}))
    await db.cases.insert_many(docs)
    oldest = min(hour_of(d["created_at"]) or 0 for d in docs)
    await db.counters.insert_one({"_id": repo.OLDEST_HOUR, "hour": oldest})
    return sorted(((d["created_at"], d["_id"]) for d in docs if d["state"] == "in_progress"), reverse=True)


async def test_a_page_after_empty_hours_reads_about_its_rows_in_order(
        db: Database, settings: Settings, mongo_uri: str) -> None:
    expected = await _load(db)
    read = CasesRead()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongo_uri, event_listeners=[read], tz_aware=True)
    counted = client[settings.mongodb_db]
    query = {"state": {"$in": ["in_progress"]}}
    try:
        page = await repo.find_cases(counted, query=query, limit=20, now=NOW)
        assert [(d["created_at"], d["_id"]) for d in page] == expected[:20]
        # The page's 20 rows and at most one hour's worth more (before: 45, a round of 8 hours
        # sized by a density that counted the 4 empty hours above the newest case).
        assert read.n <= 20 + PER_HOUR
        # The cursor goes on where the page stopped, in the same order, to the last case.
        seen = [(d["created_at"], d["_id"]) for d in page]
        while True:
            more = await repo.find_cases(counted, query=query, limit=20, before_id=seen[-1][1], now=NOW)
            if not more:
                break
            seen += [(d["created_at"], d["_id"]) for d in more]
        assert seen == expected
    finally:
        await client.close()


async def test_an_unfiltered_page_reads_ten_minutes_not_the_hour(
        db: Database, settings: Settings, mongo_uri: str) -> None:
    """A district's year creates ~100 cases an hour: an unfiltered page of 20 reads the newest
    ten-minute slots (`created_slot`), not the whole hour (120 cases here); its cursor and a
    `created_at` bound go on in order."""
    start = NOW.replace(minute=0) - timedelta(hours=1)
    docs = [complete({"_id": f"d{i:03d}", "serial": f"B{i:03d}", "intake_key": f"j{i:03d}",
                      "district": "310101", "channel": "web_portal", "kind": "complaint",
                      "category": "other", "state": "reported",
                      "created_at": start + timedelta(seconds=30 * i)}) for i in range(120)]
    await db.cases.insert_many(docs)
    await db.counters.insert_one({"_id": repo.OLDEST_HOUR, "hour": hour_of(start)})
    expected = sorted(((d["created_at"], d["_id"]) for d in docs), reverse=True)
    read = CasesRead()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongo_uri, event_listeners=[read], tz_aware=True)
    counted = client[settings.mongodb_db]
    try:
        page = await repo.find_cases(counted, query={}, limit=20, now=NOW)
        assert [(d["created_at"], d["_id"]) for d in page] == expected[:20]
        assert read.n <= 20 + 20  # the page and at most one slot more (an hour: 120)
        seen = [(d["created_at"], d["_id"]) for d in page]
        while more := await repo.find_cases(counted, query={}, limit=20, before_id=seen[-1][1], now=NOW):
            seen += [(d["created_at"], d["_id"]) for d in more]
        assert seen == expected
        # created before 12:10 and from 11:40 on (the hour's bounds cut inside it)
        lo, hi = start + timedelta(minutes=40), start + timedelta(minutes=70)
        bounded = await repo.find_cases(counted, query={"$and": [{"created_at": {"$gte": lo}},
                                                                 {"created_at": {"$lt": hi}}]},
                                        limit=200, now=NOW)
        assert [(d["created_at"], d["_id"]) for d in bounded] == [e for e in expected if lo <= e[0] < hi]
    finally:
        await client.close()


async def test_until_the_migration_to_slots_has_run_an_unfiltered_page_walks_hours(db: Database) -> None:
    """A deployment upgraded in place migrates its cases to schema 4 (`created_slot`) while it
    serves: meanwhile an unfiltered page still shows the cases not migrated yet."""
    from cases import migrations

    old = complete({"_id": "old1", "serial": "C001", "intake_key": "o1", "district": "310101",
                    "channel": "web_portal", "kind": "complaint", "category": "other",
                    "state": "reported", "created_at": NOW - timedelta(minutes=30)})
    old.pop("created_slot")
    old["schema_version"] = 3
    await db.cases.insert_one(old)
    await db.counters.update_one({"_id": migrations.STATE}, {"$set": {"version": 3}}, upsert=True)
    await db.counters.insert_one({"_id": repo.OLDEST_HOUR, "hour": hour_of(old["created_at"])})
    assert [d["_id"] for d in await repo.find_cases(db, query={}, limit=20, now=NOW)] == ["old1"]
    assert await migrations.migrate(db, now=NOW) == 1
    assert [d["_id"] for d in await repo.find_cases(db, query={}, limit=20, now=NOW)] == ["old1"]
    stored = await db.cases.find_one({"_id": "old1"})
    assert stored is not None and stored["created_slot"] is not None
