"""Early-warning alerts end to end: the real worker (its alerts loop, the outbox, the sender)
against the Bot API sandbox, stopped and started again while the rise lasts — the street
center, the district center and the block's station head each read the alert once, in their
language; another street's center reads nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from notify.worker import run_worker
from stats import early_warning as ew
from tests.sandbox.conftest import RunningSandbox
from tests.stats.test_early_warning import NOW, _history_with_rise, _roster

CHATS = {501: "zh", 502: "en", 503: "zh", 504: None}  # street, district, station head, other street


async def test_an_injected_rise_reaches_the_right_chats_once_across_a_worker_restart(
        db: Database, settings: Settings, mongo_uri: str, clock: FakeClock,
        sandbox: RunningSandbox) -> None:
    block, category = await _history_with_rise(db)
    await _roster(db)
    for chat in CHATS:
        sandbox.state.create_user(first_name=f"u{chat}", id=chat)
    conf = settings.model_copy(update={
        "telegram_api_url": sandbox.url, "notify_poll_s": 0.05, "notify_backoff_s": 0.05,
        "notify_chat_interval_s": 0.05, "notify_leader_ttl_s": 2.0})

    def alerts_in(chat: int) -> list[str]:
        found = sandbox.state.chats.get(chat)
        texts = [m.get("text") or "" for m in (found.messages.values() if found else [])]
        return [t for t in texts if "预警" in t or "Early warning" in t]

    def about_the_block(chat: int) -> list[str]:
        return [t for t in alerts_in(chat) if f"unit={block}" in t]

    async def run_until(done: Callable[[], object]) -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(conf, mongo_uri=mongo_uri, clock=clock, stop=stop))
        try:
            for _ in range(2400):  # bounded (2 min): the alerts loop scans at once on start
                if await done() if asyncio.iscoroutinefunction(done) else done():
                    break
                assert not worker.done(), worker.exception()
                await asyncio.sleep(0.05)
            assert await done() if asyncio.iscoroutinefunction(done) else done()
        finally:
            stop.set()
            await worker

    clock.set(NOW)
    await run_until(lambda: all(about_the_block(c) for c in (501, 502, 503)))
    # Restarted the next day, the rise still high: the round extends the episode and sends nothing.
    clock.set(NOW + timedelta(days=1))
    key = f"block|{block}|{category}"

    async def extended() -> bool:
        episode = await db[ew.ALERTS].find_one({"key": key, "open": True})
        return episode is not None and episode["last_day"] == (NOW + timedelta(days=1)).date().isoformat()

    await run_until(extended)
    await asyncio.sleep(0.3)
    for chat in (501, 502, 503):
        assert len(about_the_block(chat)) == 1, (chat, alerts_in(chat))
    assert "预警" in about_the_block(501)[0] and "Early warning" in about_the_block(502)[0]
    assert about_the_block(504) == []  # another street's center
    assert await db[ew.ALERTS].count_documents({"key": key}) == 1
