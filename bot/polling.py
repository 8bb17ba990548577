"""`gridlink bot --poll`: long polling for development, with the webhook's exactly-once rules.

The getUpdates offset moves past an update only once it is processed (or was already), so a
database outage leaves it to be fetched again — as a non-2xx webhook answer would.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from pymongo.errors import PyMongoError
from telegram.error import NetworkError, TimedOut

from bot.application import BotDeps, build_application
from bot.webhook import process_once
from gridlink.clock import Clock, SystemClock
from gridlink.db import make_client
from gridlink.schema import ensure_indexes
from gridlink.settings import Settings
from grids.live import LiveGridIndex

log = logging.getLogger("gridlink.bot")


async def run_polling(settings: Settings, *, mongo_uri: str, clock: Clock | None = None,
                      stop: asyncio.Event | None = None, poll_timeout: int = 25) -> None:
    clock = clock or SystemClock()
    stop = stop or asyncio.Event()
    client = make_client(mongo_uri, settings)
    db = client[settings.mongodb_db]
    live = LiveGridIndex()

    async def grid_index() -> Any:
        await live.refresh(db)
        return live

    application = build_application(settings, BotDeps(db=db, clock=clock, settings=settings,
                                                      grid_index=grid_index))
    try:
        await ensure_indexes(db)
        await application.initialize()
        # getUpdates and a webhook exclude each other.
        await application.bot.delete_webhook()
        log.info("bot polling", extra={"username": application.bot.username})
        offset: int | None = None
        while not stop.is_set():
            try:
                updates = await application.bot.get_updates(offset=offset, timeout=poll_timeout)
            except (NetworkError, TimedOut) as exc:
                log.warning("getUpdates failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(1)
                continue
            for update in updates:
                try:
                    await process_once(application, update, db=db, clock=clock)
                except PyMongoError as exc:
                    log.warning("database unavailable; update kept", extra={
                        "update_id": update.update_id, "error": type(exc).__name__})
                    await asyncio.sleep(2)
                    break
                offset = update.update_id + 1
    finally:
        await application.shutdown()
        await client.close()
