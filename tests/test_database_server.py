"""The database server the project starts answers like MongoDB, and the patched FerretDB build
uses its indexes for the lookups the app relies on (gridlink/embedded.py, FERRETDB_PATCHES)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from bson import Int64, ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from gridlink.db import make_client
from gridlink.settings import Settings

Database = AsyncDatabase[dict[str, Any]]

OID = ObjectId()
DOCS: list[dict[str, Any]] = [
    {"_id": "a", "hash": "h<1>&", "state": "pending", "tags": ["x", "y"], "n": 1, "ref": OID,
     "user": 7, "big": Int64(-1001234567890), "on": True, "score": 0.0},
    {"_id": "b", "hash": "中文\"引号", "state": "done", "tags": "x", "n": 2, "user": 7.0,
     "score": -0.0, "on": False},
    {"_id": "c", "hash": "h3", "state": ["pending", "done"], "n": 3, "user": Int64(8),
     "score": 2.5, "on": 1},
    {"_id": "d", "hash": "h4", "state": None, "n": 4, "user": [9, 7], "big": -1001234567890.0,
     "score": 0},
]


@pytest.fixture
async def coll(db: Database) -> Any:
    await db.things.create_index("hash", unique=True)
    await db.things.create_index([("state", 1), ("n", 1)])
    await db.things.insert_many([dict(d) for d in DOCS])
    await db.things.insert_many([{"_id": f"z{i}", "hash": f"z{i}", "state": "old", "n": i}
                                 for i in range(200)])
    return db.things


@pytest.mark.parametrize(("query", "expected"), [
    ({"hash": "h<1>&"}, ["a"]),
    ({"hash": "中文\"引号"}, ["b"]),
    ({"state": "pending"}, ["a", "c"]),  # an array holding the value matches too
    ({"tags": "x"}, ["a", "b"]),
    ({"state": {"$in": ["pending", "nope"]}}, ["a", "c"]),
    ({"ref": OID}, ["a"]),
    ({"state": "pending", "n": {"$lte": 2}}, ["a"]),
    ({"_id": {"$in": ["a", "d", "nope"]}, "n": {"$gt": 1}}, ["d"]),
    ({"_id": "c", "state": "done"}, ["c"]),
    ({"state": None}, ["d"]),
    ({"hash": {"$in": ["h3", "h4"]}, "state": "done"}, ["c"]),
    # numbers compare across int32, int64 and double, zero matches -0.0, arrays hold elements
    ({"user": 7}, ["a", "b", "d"]),
    ({"user": 8.0}, ["c"]),
    ({"user": {"$in": [8, 9]}}, ["c", "d"]),
    ({"big": -1001234567890}, ["a", "d"]),
    ({"score": 0}, ["a", "b", "d"]),
    ({"score": 2.5}, ["c"]),
    ({"on": True}, ["a"]),  # a boolean is not the number 1
    ({"on": False}, ["b"]),
])
async def test_equality_filters_match_as_on_mongodb(coll: Any, query: dict[str, Any],
                                                     expected: list[str]) -> None:
    assert sorted([d["_id"] async for d in coll.find(query)]) == expected


async def test_updates_and_deletes_by_id_hit_only_their_document(coll: Any) -> None:
    await coll.update_one({"_id": "c", "hash": "h3"}, {"$set": {"seen": True}})
    await coll.delete_one({"_id": "d"})
    assert [d["_id"] async for d in coll.find({"seen": True})] == ["c"]
    assert await coll.count_documents({}) == len(DOCS) - 1 + 200


async def test_id_and_indexed_equality_are_index_lookups_on_ferretdb(coll: Any,
                                                                     db: Database) -> None:
    build = await db.client.admin.command("buildInfo")
    if "ferretdbVersion" not in build:
        pytest.skip("explain output is FerretDB's; MongoDB uses its indexes anyway")
    await db.things.create_index("user")
    for query in ({"_id": "a"}, {"_id": "a", "n": 1}, {"hash": "h4"},
                  {"state": "pending", "n": {"$lte": 2}}, {"user": 7}, {"user": {"$in": [8, 9]}}):
        plan = await db.command("explain", {"find": "things", "filter": query})
        details = " ".join(plan["queryPlanner"]["Plan"])
        assert "USING INDEX" in details and "SCAN" not in details, (query, details)


async def test_concurrent_writers_on_many_connections_all_land(coll: Any, db: Database, mongo_uri: str,
                                                                settings: Settings) -> None:
    """The write queue (gridlink/embedded.py, _WRITE_QUEUE) takes writers in turn: inserts,
    updates and deletes from 60 concurrent callers over two clients' pools all complete."""
    other = make_client(mongo_uri, settings)
    try:
        colls = [coll, other[db.name][coll.name]]

        async def writer(k: int) -> None:
            c = colls[k % 2]
            for i in range(5):
                await c.insert_many([{"_id": f"w{k}.{i}.{j}", "hash": f"w{k}.{i}.{j}", "n": k}
                                     for j in range(3)])
                await c.update_many({"_id": {"$in": [f"w{k}.{i}.0", f"w{k}.{i}.1"]}},
                                    {"$set": {"done": True}})
                await c.delete_one({"_id": f"w{k}.{i}.2"})

        await asyncio.gather(*(writer(k) for k in range(60)))
        assert await coll.count_documents({"n": {"$gte": 0}, "hash": {"$regex": "^w"}}) == 60 * 5 * 2
        assert await coll.count_documents({"done": True}) == 60 * 5 * 2
    finally:
        await other.close()


async def test_more_concurrent_updates_than_pooled_connections_do_not_deadlock(
        db: Database, mongo_uri: str, settings: Settings) -> None:
    """An update reads its match through a pooled SQLite connection (100 a database); under
    the write queue, 100+ updates at once each held one while the writer at the queue's head
    waited for one, and every write stopped for good (gridlink/embedded.py, _READ_THEN_WRITE).
    300 concurrent upserts, updates, findAndModify and removes over three clients finish."""
    clients = [make_client(mongo_uri, settings) for _ in range(3)]
    try:
        colls = [c[db.name].counters for c in clients]
        await colls[0].insert_many([{"_id": f"k{i}", "n": 0} for i in range(300)])

        async def one(k: int) -> None:
            c = colls[k % 3]
            await c.update_one({"_id": f"k{k}"}, {"$inc": {"n": 1}}, upsert=True)
            await c.update_one({"_id": f"new{k}"}, {"$inc": {"n": 1}}, upsert=True)
            await c.find_one_and_update({"_id": f"k{k}"}, {"$inc": {"n": 1}})
            await c.find_one_and_delete({"_id": f"new{k}"})

        await asyncio.wait_for(asyncio.gather(*(one(k) for k in range(300))), timeout=120)
        assert [d["n"] async for d in colls[0].find({"_id": {"$in": [f"k{i}" for i in range(300)]}})] == [2] * 300
        left = [d async for d in colls[0].find({"_id": {"$regex": "^new"}})]
        assert left == [], left
    finally:
        for c in clients:
            await c.close()
