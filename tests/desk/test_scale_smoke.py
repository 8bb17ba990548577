"""The desk at 20,000 historical cases (issue 19): the red queue and the navigation's counts
read a bounded number of documents (counted by a PyMongo command listener), and agree with
the cases themselves."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from api.desk import repository as desk_repo
from cases import lists
from cases.model import OPEN_STATES
from cases.repository import OLDEST_HOUR
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from stats.history import generate

N = 20_000


class Reads(monitoring.CommandListener):
    """Documents each collection returned (first batches and getMores)."""

    def __init__(self) -> None:
        self.docs: Counter[str] = Counter()
        self.collection: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "getMore", "count", "aggregate"):
            coll = event.command.get("collection") if event.command_name == "getMore" \
                else event.command[event.command_name]
            self.collection[event.request_id] = str(coll)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        coll = self.collection.pop(event.request_id, None)
        cursor: dict[str, Any] = event.reply.get("cursor") or {}
        batch = cursor.get("firstBatch") or cursor.get("nextBatch") or []
        if coll:
            self.docs[coll] += len(batch)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.collection.pop(event.request_id, None)


@pytest.fixture
async def watched(settings: Settings, mongo_uri: str, db: Database) -> AsyncIterator[tuple[Database, Reads]]:
    reads = Reads()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, event_listeners=[reads],
                                                                tz_aware=True)
    yield client[settings.mongodb_db], reads
    await client.close()


async def test_red_queue_and_counts_read_a_bounded_number_of_documents(
        db: Database, watched: tuple[Database, Reads], clock: FakeClock) -> None:
    now = clock.now()
    docs = list(generate(N, now=now, years=1.0))
    for i in range(0, N, 5000):
        await db.cases.insert_many(docs[i:i + 5000], ordered=False)
        await lists.add_keys(db, docs[i:i + 5000], now)
    await db.counters.insert_one({"_id": OLDEST_HOUR, "hour": docs[0]["created_hour"]})
    clock.advance(hours=3)  # deadlines pass: the sweep must find them by their hour
    now = clock.now()
    red = [d for d in docs if d["state"] in OPEN_STATES and d["due_at"] and d["due_at"] < now]
    new = [d for d in docs if d["state"] == "reported"]
    assert len(red) > 50

    wdb, reads = watched
    counts = await desk_repo.nav_counts(wdb, unit="310101", now=now, center=True, own_unit=None)
    page = await desk_repo.queue_cases(wdb, queue="red", unit="310101", now=now, limit=50)
    assert counts["red"] == min(len(red), lists.COUNT_CAP)
    # shown as "99+" from the cap on: counting further would read more with more cases
    assert desk_repo.count_label(counts["red"]) == (
        "99+" if len(red) >= lists.COUNT_CAP else str(len(red)))
    assert desk_repo.count_label(lists.COUNT_CAP - 1) == "99"
    assert counts["new"] == len(new)
    assert len(page) == 50 and all(c["due_at"] < now for c in page)
    # The open cases are ~2% of N; the cases read are one page and the sweep's few hours,
    # the keys read at most one capped count per queue.
    assert reads.docs["cases"] <= 50 + 200, reads.docs
    assert reads.docs["case_keys"] <= len(desk_repo.QUEUES) * lists.COUNT_CAP + 50, reads.docs
    assert reads.docs["cases"] + reads.docs["case_keys"] < N // 4
