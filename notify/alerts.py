"""Early-warning alerts into chat: the statistics open an episode per rising place × category
(`stats.early_warning`); this job queues each new episode's alert for the street center's and
the district center's dispatchers, block-level ones also for the station head, in their
language, and only then marks it delivered (ids per episode and chat: a re-run queues nothing
twice)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from gridlink.clock import Clock
from gridlink.db import Database, Document
from notify import repository as repo
from notify.config import NotifyConfig
from stats import chat
from stats.units import directory

log = logging.getLogger(__name__)
INTERVAL = timedelta(minutes=30)


async def deliver(db: Database, cfg: NotifyConfig, *, now: datetime, base_url: str) -> int:
    """Queue the alerts of every episode not yet delivered; returns messages newly queued."""
    d = await directory(db, district=cfg.district)
    queued = 0
    for alert in await chat.undelivered(db):
        messages: list[Document] = []
        seen: set[int] = set()
        for unit, roles in chat.recipient_units(alert, d, cfg.district):
            for member in await repo.reachable_members(db, unit=unit, roles=roles):
                chat_id = int(member["chat_id"])
                if chat_id in seen:
                    continue
                seen.add(chat_id)
                locale = member.get("locale") or cfg.default_locale
                messages.append(repo.new_message(
                    msg_id=chat.message_id(alert, chat_id), chat_id=chat_id, kind="early_warning",
                    now=now, locale=locale,
                    text=chat.alert_text(alert, d, locale=locale, base_url=base_url),
                    recipient={"chat_id": chat_id, "user_id": member.get("user_id"),
                               "unit": member.get("unit"), "role": member.get("role"),
                               "name": member.get("name") or ""}))
        queued += await repo.enqueue(db, messages=messages)
        await chat.mark_delivered(db, alert_id=alert["_id"])
    return queued


async def round_(db: Database, cfg: NotifyConfig, *, now: datetime, base_url: str) -> dict[str, int]:
    """One early-warning round: scan the folded statistics, queue the new episodes' alerts."""
    opened = await chat.scan_round(db, now=now, tz=cfg.tz, district=cfg.district)
    return {"opened": len(opened), "queued": await deliver(db, cfg, now=now, base_url=base_url)}


async def run(db: Database, cfg: NotifyConfig, *, clock: Clock, base_url: str,
              stop: asyncio.Event) -> None:
    """Every INTERVAL until stopped (a failed round is retried at the next)."""
    while not stop.is_set():
        try:
            found = await round_(db, cfg, now=clock.now(), base_url=base_url)
            if found["opened"]:
                log.info("early warnings", extra=found)
        except Exception:  # the database may be away; the next round retries
            log.warning("early warning round failed", exc_info=True)
        try:
            await asyncio.wait_for(stop.wait(), timeout=INTERVAL.total_seconds())
        except TimeoutError:
            pass
