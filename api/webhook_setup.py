"""Register the Telegram webhook at start when a real bot token is set.

URL from PUBLIC_BASE_URL, the secret from WEBHOOK_SECRET, the update types the bot handles.
Several web processes start together: the first to insert the claim for this configuration
(`webhook_registrations`, `_id` = a digest of token id, URL, secret and update types) calls
setWebhook and records Telegram's answer; the others see the claim and only log the state.
A claim left by a process that died mid-call is taken over after LEASE. If Telegram's
getWebhookInfo no longer shows our URL (someone changed it), the next start registers again.
The sandbox path (no token) stays in api/telegram.py.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from aiohttp import web
from pymongo.errors import DuplicateKeyError, PyMongoError
from telegram import Bot, WebhookInfo
from telegram.error import TelegramError

from api.keys import CLOCK, DB, SETTINGS
from gridlink import background
from gridlink.db import Database
from gridlink.settings import Settings

log = logging.getLogger("gridlink.bot")

WEBHOOK_PATH = "/telegram/webhook"
# The update types bot/handlers.py handles (messages, commands, inline buttons).
ALLOWED_UPDATES = ("message", "callback_query")
LEASE = timedelta(seconds=60)


def webhook_url(settings: Settings) -> str:
    return settings.public_base_url + WEBHOOK_PATH


def fingerprint(settings: Settings) -> str:
    """What a registration is for; the token's secret half and the secret itself stay hashed."""
    bot_id = settings.bot_token.split(":", 1)[0]
    raw = "|".join((bot_id, webhook_url(settings), settings.webhook_secret, ",".join(ALLOWED_UPDATES)))
    return f"{bot_id}:{hashlib.sha256(raw.encode()).hexdigest()[:32]}"


def make_bot(settings: Settings) -> Bot:
    api = settings.bot_api_url
    return Bot(settings.bot_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")


def info_dict(info: WebhookInfo) -> dict[str, Any]:
    return {"url": info.url, "pending_update_count": info.pending_update_count,
            "allowed_updates": list(info.allowed_updates or ()),
            "last_error_message": info.last_error_message,
            "last_error_date": info.last_error_date.isoformat() if info.last_error_date else None,
            "max_connections": info.max_connections}


def _matches(info: WebhookInfo, settings: Settings) -> bool:
    return info.url == webhook_url(settings) and set(info.allowed_updates or ()) == set(ALLOWED_UPDATES)


async def register_webhook(db: Database, settings: Settings, bot: Bot, *, owner: str,
                           now: datetime) -> str:
    """Make sure Telegram posts to this service; returns what this process did:
    "registered", "already" (done before, Telegram agrees) or "busy" (another process is at it)."""
    key = fingerprint(settings)
    info = await bot.get_webhook_info()
    done = await db.webhook_registrations.find_one({"_id": key, "state": "done"})
    if done is not None and _matches(info, settings):
        log.info("webhook already registered", extra={"url": info.url, "by": done.get("owner"),
                                                      "pending": info.pending_update_count})
        return "already"
    if done is not None:  # Telegram forgot or was pointed elsewhere: register afresh
        await db.webhook_registrations.delete_one({"_id": key, "state": "done"})
    try:
        await db.webhook_registrations.insert_one({"_id": key, "state": "claimed", "owner": owner,
                                                   "claimed_at": now})
    except DuplicateKeyError:
        found = await db.webhook_registrations.find_one({"_id": key})
        if found is None or found["state"] == "done" or found["claimed_at"] > now - LEASE:
            return "busy" if found is None or found["state"] != "done" else "already"
        # The claimant died mid-call: take its claim over (only one of us deletes it).
        gone = await db.webhook_registrations.delete_one({"_id": key, "claimed_at": found["claimed_at"]})
        if not gone.deleted_count:
            return "busy"
        return await register_webhook(db, settings, bot, owner=owner, now=now)
    try:
        ok = await bot.set_webhook(webhook_url(settings), secret_token=settings.webhook_secret,
                                   allowed_updates=list(ALLOWED_UPDATES))
        info = await bot.get_webhook_info()
    except BaseException:
        await db.webhook_registrations.delete_one({"_id": key, "owner": owner})
        raise
    answer = info_dict(info)
    await db.webhook_registrations.update_one(
        {"_id": key}, {"$set": {"state": "done", "answer": ok, "info": answer, "done_at": now}})
    log.info("webhook registered", extra={"ok": ok, **answer})
    return "registered"


async def _keep_trying(app: web.Application, owner: str) -> None:
    settings = app[SETTINGS]
    delay = 0.5
    async with make_bot(settings) as bot:
        while True:
            try:
                outcome = await register_webhook(app[DB], settings, bot, owner=owner,
                                                 now=app[CLOCK].now())
                if outcome != "busy":
                    return
            except (TelegramError, PyMongoError) as exc:
                log.warning("webhook registration failed; retrying", extra={"error": str(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def webhook_ctx(app: web.Application) -> AsyncIterator[None]:
    """With a real token, register the webhook in the background (the app serves meanwhile)."""
    settings = app[SETTINGS]
    task = None
    if not settings.sandbox:
        task = asyncio.create_task(_keep_trying(app, owner=f"{socket.gethostname()}:{os.getpid()}:{id(app)}"))
    yield
    if task is not None:
        await background.stop(task)


async def webhook_info(settings: Settings) -> dict[str, Any]:
    """What Telegram says about our webhook (for `gridlink bot --webhook-info`)."""
    async with make_bot(settings) as bot:
        info = info_dict(await bot.get_webhook_info())
    return {"expected_url": webhook_url(settings), "expected_updates": list(ALLOWED_UPDATES),
            "matches": info["url"] == webhook_url(settings), **info}
