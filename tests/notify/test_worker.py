"""The worker's own loops."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from notify import notifier
from notify import repository as repo
from notify.config import NotifyConfig
from notify.worker import restore_events, run_worker
from tests.notify.conftest import LEADER, case_doc, hours
from tests.sandbox.conftest import RunningSandbox


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


async def test_a_returned_case_is_reminded_and_escalated_once_across_real_worker_restarts(
        district: Database, settings: Settings, mongo_uri: str, clock: FakeClock,
        sandbox: RunningSandbox) -> None:
    """The whole worker (notifier, schedule, sender) stopped and started between the steps:
    the center hears the re-dispatch reminder and the district the escalation, once each,
    in chat, and the case's history shows both."""
    from datetime import timedelta

    from cases.repository import get_case
    from tests.notify.conftest import (
        DISTRICT_DISPATCHER,
        STREET_DISPATCHER,
        emit,
    )

    db = district
    for chat in (STREET_DISPATCHER, DISTRICT_DISPATCHER, LEADER):
        sandbox.state.create_user(first_name=f"u{chat}", id=chat)
    conf = settings.model_copy(update={
        "telegram_api_url": sandbox.url, "notify_poll_s": 0.05, "notify_backoff_s": 0.05,
        "notify_chat_interval_s": 0.05, "notify_leader_ttl_s": 2.0})
    start = clock.now()
    case = case_doc("w00001", now=start, state="returned", deadline=None)
    case.update(assignee=None, due_at=start + timedelta(minutes=30), history=[
        {"seq": 1, "at": start, "action": "return", "from": "dispatched", "to": "returned",
         "actor": {"role": "leader", "unit": "310101001001001"}, "reason": "不归我们管"}])
    await db.cases.insert_one(case)
    await emit(db, case, 1, "case.returned", at=start, reason="不归我们管")

    def texts(chat: int) -> list[str]:
        found = sandbox.state.chats.get(chat)
        return [m.get("text") or "" for m in (found.messages.values() if found else [])]

    async def run_until(done: Callable[[], bool]) -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(conf, mongo_uri=mongo_uri, clock=clock, stop=stop))
        try:
            for _ in range(400):
                if done():
                    break
                assert not worker.done(), worker.exception()
                await asyncio.sleep(0.05)
            assert done()
        finally:
            stop.set()
            await worker

    # first run: the return is told to the street center, nothing else is due yet
    await run_until(lambda: any("退单" in t for t in texts(STREET_DISPATCHER)))
    clock.set(start + timedelta(minutes=23))  # 75 % of the 30 dispatch minutes
    await run_until(lambda: any("退单待重派即将超时" in t for t in texts(STREET_DISPATCHER)))
    clock.set(start + timedelta(minutes=31))
    await run_until(lambda: any("[Re-dispatch overdue]" in t for t in texts(DISTRICT_DISPATCHER)))
    clock.set(start + timedelta(days=3))
    await run_until(lambda: True)
    await asyncio.sleep(0.3)
    assert sum("退单待重派即将超时" in t for t in texts(STREET_DISPATCHER)) == 1
    assert sum("[Re-dispatch overdue]" in t for t in texts(DISTRICT_DISPATCHER)) == 1
    history = (await get_case(db, ref="w00001"))["history"]
    assert [(e["action"], e["data"]["step"]) for e in history if e["action"] != "return"] == [
        ("remind", "redispatch"), ("escalate", "redispatch")]
