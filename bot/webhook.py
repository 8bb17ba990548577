"""Exactly-once processing of one Telegram update, shared by the webhook and polling."""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from typing import Any, Literal

from pymongo.errors import PyMongoError
from telegram import Update
from telegram.ext import Application

from bot import repository as repo
from gridlink.clock import Clock
from gridlink.db import Database

log = logging.getLogger("gridlink.bot")

Outcome = Literal["processed", "duplicate", "busy"]


@dataclass
class _Run:
    """Filled in by the error handler while PTB processes one update."""

    db_error: PyMongoError | None = None


CURRENT_RUN: contextvars.ContextVar[_Run | None] = contextvars.ContextVar("bot_run", default=None)


def note_database_error(exc: PyMongoError) -> None:
    """Called by the bot's error handler: the update must not be acknowledged."""
    run = CURRENT_RUN.get()
    if run is not None:
        run.db_error = exc


async def process_once(application: Application[Any, Any, Any, Any, Any, Any], update: Update,
                       *, db: Database, clock: Clock) -> Outcome:
    """Process `update` unless it was already; raise PyMongoError when the database failed.

    The caller acknowledges (HTTP 200, getUpdates offset) only when this returns.
    """
    claim = await repo.claim_update(db, update_id=update.update_id, now=clock.now())
    if claim != "claimed":
        return "duplicate" if claim == "done" else "busy"
    run = _Run()
    token = CURRENT_RUN.set(run)
    try:
        await application.process_update(update)
    finally:
        CURRENT_RUN.reset(token)
    if run.db_error is not None:
        try:
            await repo.fail_update(db, update_id=update.update_id)
        except PyMongoError:
            pass  # the lease expires by itself
        raise run.db_error
    await repo.finish_update(db, update_id=update.update_id, now=clock.now())
    return "processed"
