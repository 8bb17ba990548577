"""The worker process: runs the notification loops against the database until stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket

from pymongo.errors import PyMongoError

from gridlink.clock import Clock, SystemClock
from gridlink.db import ensure_indexes, make_client
from gridlink.settings import Settings

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, mongo_uri: str, clock: Clock | None = None,
                     stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives."""
    clock = clock or SystemClock()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):
            pass
    client = make_client(mongo_uri, settings)
    db = client[settings.mongodb_db]
    worker_id = f"{socket.gethostname()}:{os.getpid()}"
    log.info("worker started", extra={"worker": worker_id})
    try:
        while not stop.is_set():
            try:
                await ensure_indexes(db)
                break
            except PyMongoError as exc:
                log.warning("database unavailable; retrying", extra={"error": type(exc).__name__})
                await _wait(stop, 2)
        while not stop.is_set():
            try:
                await db.workers.update_one({"_id": worker_id},
                                            {"$set": {"seen_at": clock.now()}}, upsert=True)
            except PyMongoError as exc:
                log.warning("database unavailable", extra={"error": type(exc).__name__})
            await _wait(stop, 1)
    finally:
        await client.close()
        log.info("worker stopped", extra={"worker": worker_id})


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
