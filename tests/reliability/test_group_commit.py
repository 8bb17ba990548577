"""Group commit (gridlink.db.insert_grouped): concurrent inserts into one collection go out as
one unordered insert_many, and every caller still gets its own documents' outcome back. And
its plain sibling insert_new: an unordered insert_many where a duplicate key is no error."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring
from pymongo.errors import BulkWriteError, DuplicateKeyError, InvalidOperation

from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.clock import FakeClock
from gridlink.db import Database, Document, insert_grouped, insert_new, insert_one_grouped
from gridlink.settings import Settings

POLICY = CasePolicy(district="310101", serial_prefix="A", timezone="Asia/Shanghai",
                    yellow_fraction=0.25)


class Inserts(monitoring.CommandListener):
    """Counts insert commands (and their documents) per collection."""

    def __init__(self) -> None:
        self.commands: dict[str, int] = {}
        self.docs: dict[str, int] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "insert":
            coll = str(event.command["insert"])
            self.commands[coll] = self.commands.get(coll, 0) + 1
            self.docs[coll] = self.docs.get(coll, 0) + len(event.command.get("documents", []))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def counted_db(mongo_uri: str, settings: Settings, inserts: Inserts
                     ) -> tuple[AsyncMongoClient[dict[str, Any]], Database]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        mongo_uri, event_listeners=[inserts], tz_aware=True)
    return client, client[settings.mongodb_db]


async def test_each_caller_gets_its_own_outcome_from_one_command(
        db: Database, settings: Settings, mongo_uri: str) -> None:
    await db.grouped.insert_one({"_id": "taken"})
    inserts = Inserts()
    client, counted = await counted_db(mongo_uri, settings, inserts)
    try:
        ids = [f"d{i}" for i in range(20)]
        ids[5] = "taken"  # stored before
        ids[11] = "d3"  # two callers want the same id: the first in the batch wins
        results = await asyncio.gather(
            *(insert_one_grouped(counted.grouped, {"_id": i, "n": n}) for n, i in enumerate(ids)),
            return_exceptions=True)
        # One caller's several documents stay together; one duplicate among them fails alone.
        mixed = await insert_grouped(counted.grouped, [{"_id": "m1"}, {"_id": "d0"}, {"_id": "m2"}])
    finally:
        await client.close()
    assert [type(r).__name__ for r in results] == [
        "DuplicateKeyError" if n in (5, 11) else "NoneType" for n in range(20)]
    assert isinstance(results[5], DuplicateKeyError) and results[5].code == 11000
    assert [e is None for e in mixed] == [True, False, True]
    assert mixed[1] is not None and mixed[1]["code"] == 11000
    stored = {d["_id"]: d.get("n") async for d in db.grouped.find({})}
    assert stored["d3"] == 3 and "taken" in stored and stored["taken"] is None
    assert set(stored) == {*ids, "m1", "m2"}
    # 20 concurrent callers: the first batch leaves at once, the rest wait for at most one more.
    assert inserts.commands["grouped"] <= 3 and inserts.docs["grouped"] == 23


async def test_a_failed_command_fails_every_caller_in_it(settings: Settings, mongo_uri: str) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    await client.close()  # every command on it fails now
    coll = client[settings.mongodb_db].grouped
    results = await asyncio.gather(*(insert_one_grouped(coll, {"_id": i}) for i in range(5)),
                                   return_exceptions=True)
    assert all(isinstance(r, InvalidOperation) for r in results)


async def test_concurrent_intakes_share_inserts_and_keep_every_guarantee(
        db: Database, settings: Settings, mongo_uri: str, clock: FakeClock) -> None:
    inserts = Inserts()
    client, counted = await counted_db(mongo_uri, settings, inserts)
    center = Actor(role="dispatcher", unit="310101")

    async def report(i: int) -> Any:
        return await intake(counted, policy=POLICY, now=clock.now(), channel="hotline_12345",
                            kind="complaint", category="road_damage", description=f"pothole {i}",
                            actor=center, location={"lon": 121.455, "lat": 31.205},
                            idempotency_key=f"k{i}")

    try:
        first = await asyncio.gather(*(report(i) for i in range(12)))
        # Retries of four of them beside four new reports: the retries open nothing.
        second = await asyncio.gather(*(report(i) for i in (0, 12, 1, 13, 2, 14, 3, 15)))
    finally:
        await client.close()
    assert all(r.created for r in first)
    assert [r.created for r in second] == [False, True] * 4
    assert [r.case["_id"] for r in second[::2]] == [r.case["_id"] for r in first[:4]]
    created = [r.case for r in [*first, *second] if r.created]
    serials = sorted(int(c["serial"].rsplit("-", 1)[1]) for c in created)
    assert serials == list(range(1, 17))  # consecutive, no gaps
    ids = [c["_id"] async for c in db.cases.find({}, {"_id": 1})]
    assert sorted(ids) == sorted(c["_id"] for c in created)
    events = {e["_id"] async for e in db.events.find({}, {"_id": 1})}
    assert events == {f"{i}:1" for i in ids}  # every case has its event, once
    # Cases and events each went out in fewer commands than there were intakes; nothing else
    # was inserted (the serial counter is one increment, spots and statistics are in the events).
    for coll in ("cases", "events"):
        assert inserts.commands[coll] < inserts.docs[coll] == 16, coll
    assert set(inserts.docs) == {"cases", "events"}, inserts.docs


async def test_insert_new_reports_duplicates_by_index_and_stores_the_rest(db: Database) -> None:
    await db.fresh.insert_one({"_id": "taken", "n": -1})
    docs = [{"_id": "a", "n": 0}, {"_id": "taken", "n": 1}, {"_id": "b", "n": 2},
            {"_id": "a", "n": 3}, {"_id": "c", "n": 4}]
    assert await insert_new(db.fresh, docs) == {1, 3}  # stored before; earlier in the batch
    stored = {d["_id"]: d["n"] async for d in db.fresh.find({})}
    assert stored == {"taken": -1, "a": 0, "b": 2, "c": 4}  # the first of each _id stays
    assert await insert_new(db.fresh, docs) == {0, 1, 2, 3, 4}
    assert await insert_new(db.fresh, []) == set()


async def test_insert_new_raises_any_other_write_error(db: Database) -> None:
    await db.fresh.insert_one({"_id": "taken"})
    # An array _id is refused by MongoDB and FerretDB alike (code 53), beside a duplicate.
    docs: list[Document] = [{"_id": "taken"}, {"_id": [1, 2]}, {"_id": "d"}]
    with pytest.raises(BulkWriteError) as raised:
        await insert_new(db.fresh, docs)
    codes = {e["index"]: e["code"] for e in raised.value.details["writeErrors"]}
    assert codes[0] == 11000 and codes[1] != 11000
    # Unordered as before: the valid document is stored even though the call raised.
    assert {d["_id"] async for d in db.fresh.find({})} == {"taken", "d"}
