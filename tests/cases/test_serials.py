"""Serial numbers from one process: callers that arrive while an increment is in flight share
the next one (one round trip for all), and a caller that gives up before its turn leaves no gap."""

from __future__ import annotations

import asyncio
from datetime import date

from pymongo import AsyncMongoClient, monitoring

from cases import repository as repo
from gridlink.db import Database
from gridlink.settings import Settings


class Increments(monitoring.CommandListener):
    def __init__(self) -> None:
        self.n = 0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name == "findAndModify" and event.command.get("findAndModify") == "counters":
            self.n += 1

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


async def test_waiting_callers_share_one_increment_and_leave_no_gap(
        db: Database, settings: Settings, mongo_uri: str) -> None:
    increments = Increments()
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        mongo_uri, event_listeners=[increments], tz_aware=True)
    counted = client[settings.mongodb_db]
    day = date(2026, 11, 27)
    try:
        calls = [asyncio.ensure_future(repo.next_serial_number(counted, prefix="A", day=day))
                 for _ in range(30)]
        calls[7].cancel()  # gives up while waiting: takes no number
        got = await asyncio.gather(*calls[:7], *calls[8:])
        assert sorted(got) == [f"A20261127-{n:05d}" for n in range(1, 30)]
        assert increments.n <= 2  # not one round trip per caller
        # Later callers continue the sequence.
        assert await repo.next_serial_number(counted, prefix="A", day=day) == "A20261127-00030"
        assert await repo.next_serial_number(db, prefix="A", day=date(2026, 11, 28)) == "A20261128-00001"
    finally:
        await client.close()
