"""The worker process: the notifier, the schedule, the sender and the outbox log line, until stopped."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from datetime import timedelta

from pymongo.errors import PyMongoError

from cases import lifecycle
from gridlink.clock import Clock, clock_for
from gridlink.db import Database, make_client
from gridlink.metrics import serve_worker_metrics
from gridlink.schema import ensure_indexes
from gridlink.settings import Settings
from notify import alerts, digest, notifier, schedule
from notify.config import NotifyConfig
from notify.repository import outbox_stats
from notify.sender import Sender
from stats import chat

log = logging.getLogger(__name__)


async def run_worker(settings: Settings, *, mongo_uri: str, clock: Clock | None = None,
                     stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set or SIGINT/SIGTERM arrives."""
    clock = clock or clock_for(settings.clock_offset_s)
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
        cfg = NotifyConfig.from_settings(settings)
        # The digest carries its unit's week as a chart (stats; Telegram fetches the public URL).
        digest.CHART_HOOK = chat.digest_chart_hook(district=cfg.district, tz=cfg.tz,
                                                   base_url=settings.public_base_url)
        sender = Sender(db, settings, clock=clock, worker=worker_id)
        loops = [
            alerts.run(db, cfg, clock=clock, base_url=settings.public_base_url, stop=stop),
            # what the notifier queued is planned by this process's sender at once: with the
            # dispatch step's rule (cases.autodispatch), a report reaches a leader in seconds
            notifier.run(db, cfg, clock=clock, worker=worker_id, stop=stop, wake=sender.wake),
            schedule.run(db, cfg, clock=clock, worker=worker_id, stop=stop),
            sender.run(stop),
            _log_stats(db, settings, clock, stop),
            _heartbeat(db, clock, worker_id, stop),
            restore_events(db, clock, stop),
            serve_worker_metrics(db, clock, settings, stop),
        ]
        tasks = [asyncio.create_task(loop) for loop in loops]
        try:
            await stop.wait()
        finally:
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await client.close()
        log.info("worker stopped", extra={"worker": worker_id})


async def _heartbeat(db: Database, clock: Clock, worker_id: str, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await db.workers.update_one({"_id": worker_id},
                                        {"$set": {"seen_at": clock.now()}}, upsert=True)
        except PyMongoError as exc:
            log.warning("database unavailable", extra={"error": type(exc).__name__})
        await _wait(stop, 1)


async def _log_stats(db: Database, settings: Settings, clock: Clock, stop: asyncio.Event) -> None:
    """One JSON log line with the outbox counts (the same as GET /api/v1/ops/outbox)."""
    while not stop.is_set():
        await _wait(stop, settings.notify_stats_interval_s)
        try:
            stats = await outbox_stats(db, now=clock.now())
        except PyMongoError as exc:
            log.warning("database unavailable", extra={"error": type(exc).__name__})
            continue
        log.info("outbox", extra={"outbox": stats})


RESTORE_EVERY_S = 300.0
RESTORE_FIRST_LOOK = timedelta(days=1)
RESTORE_OVERLAP = timedelta(minutes=10)


async def restore_events(db: Database, clock: Clock, stop: asyncio.Event, *,
                         every_s: float = RESTORE_EVERY_S) -> None:
    """Re-insert the events a crash left out between a case change and its event
    (cases.lifecycle.reemit_missing_events), so the notifier hears of the change even when the
    client never retried. Each round looks at the cases changed since the previous one (a day
    back at start); on MongoDB that is an index range, on the embedded FerretDB a scan of
    `cases` every few minutes. Several workers may do it at once: events have fixed ids."""
    since = clock.now() - RESTORE_FIRST_LOOK
    while not stop.is_set():
        started = clock.now()
        try:
            restored = await lifecycle.reemit_missing_events(db, since=since)
        except PyMongoError as exc:
            log.warning("database unavailable", extra={"error": type(exc).__name__})
        else:
            since = started - RESTORE_OVERLAP
            if restored:
                log.warning("events restored after a crash", extra={"restored": restored})
        await _wait(stop, every_s)


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
