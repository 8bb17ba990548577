"""The worker's own loops."""

from __future__ import annotations

import asyncio

from gridlink.clock import FakeClock
from gridlink.db import Database
from notify import notifier
from notify import repository as repo
from notify.config import NotifyConfig
from notify.worker import restore_events
from tests.notify.conftest import LEADER, case_doc, hours


async def test_an_event_a_crash_left_out_is_restored_and_notified(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    """A case was dispatched, and the process died before the event was written (no client
    retried): the worker restores the event from the case's history, and the leader hears."""
    db = district
    now = clock.now()
    case = case_doc("c30001", now=now, deadline=now + hours(8))
    case["history"] = [{"seq": 2, "at": now, "actor": {"role": "dispatcher", "unit": "310101001"},
                        "action": "dispatch", "from": "reported", "to": "dispatched"}]
    await db.cases.insert_one(case)
    assert await notifier.process_batch(db, cfg, now=now, worker="w") == 0  # nothing to tell
    stop = asyncio.Event()
    loop = asyncio.create_task(restore_events(db, clock, stop, every_s=0.05))
    for _ in range(200):  # bounded: the first round runs at once
        if await db.events.find_one({"_id": "c30001:2"}):
            break
        await asyncio.sleep(0.05)
    stop.set()
    await loop
    event = await db.events.find_one({"_id": "c30001:2"})
    assert event is not None and event["type"] == "case.assigned"
    assert await notifier.process_batch(db, cfg, now=now, worker="w") == 1
    assert await repo.count_messages(db, query={"chat_id": LEADER}) == 1
