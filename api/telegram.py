"""The Telegram webhook, the bot's lifetime in the web process, and the admin invite routes."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator
from pymongo.errors import PyMongoError
from telegram import Update
from telegram.error import TelegramError

from api import keys
from api.auth import audit_change, require
from api.errors import error_response, parse, read_json
from bot import domain
from bot import repository as bot_repo
from bot.application import BotDeps, build_application
from bot.webhook import process_once
from gridlink import background, metrics
from gridlink.errors import InvalidInput
from grids.repository import ROLES as MEMBER_ROLES

log = logging.getLogger("gridlink.bot")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
WEBHOOK_PATH = "/telegram/webhook"


def webhook_url(app: web.Application) -> str:
    return app[keys.SETTINGS].public_base_url + WEBHOOK_PATH


async def ptb_ctx(app: web.Application) -> AsyncIterator[None]:
    """Build and initialize the bot for the app's lifetime; keep trying while the Bot API is away."""
    settings = app[keys.SETTINGS]

    async def grid_index() -> Any:
        live = app[keys.GRID_INDEX]
        await live.refresh(app[keys.DB])  # cheap: re-reads the version pointer every few seconds
        return live

    application = build_application(settings, BotDeps(db=app[keys.DB], clock=app[keys.CLOCK],
                                                       settings=settings, grid_index=grid_index,
                                                       photo_workers=lambda: app.get(keys.PHOTO_WORKERS)))
    app[keys.PTB_APP] = application
    task = asyncio.create_task(_start_bot(app))
    yield
    await background.stop(task)
    # Closes PTB's HTTP pool; a no-op when the Bot API never answered.
    await application.shutdown()


async def _start_bot(app: web.Application) -> None:
    """getMe (PTB's initialize) and, against the sandbox, point its webhook at this process."""
    application = app[keys.PTB_APP]
    settings = app[keys.SETTINGS]
    delay = 0.5
    while True:
        try:
            await application.initialize()
            if settings.sandbox:
                await application.bot.set_webhook(webhook_url(app), secret_token=settings.webhook_secret)
            log.info("bot ready", extra={"username": application.bot.username,
                                         "api": settings.bot_api_url})
            return
        except TelegramError as exc:
            log.warning("Bot API unavailable; retrying", extra={"error": str(exc)})
        await asyncio.sleep(delay)
        delay = min(delay * 2, 10.0)


async def telegram_webhook(request: web.Request) -> web.Response:
    """POST /telegram/webhook: one update from Telegram, processed exactly once."""
    app = request.app
    settings = app[keys.SETTINGS]
    given = request.headers.get(SECRET_HEADER, "")
    if not hmac.compare_digest(given.encode(), settings.webhook_secret.encode()):
        return error_response(403, "forbidden", "wrong or missing webhook secret")
    application = app[keys.PTB_APP]
    if not application._initialized:
        return error_response(503, "bot_starting", "the bot is not connected to the Bot API yet")
    body = await read_json(request)
    if not isinstance(body.get("update_id"), int):
        raise InvalidInput("an update needs an integer update_id")
    try:
        update = Update.de_json(body, application.bot)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # AttributeError: PTB calls dict methods on whatever a field holds ("message": "text")
        raise InvalidInput(f"not a Telegram update: {exc}") from None
    try:
        outcome = await process_once(application, update, db=app[keys.DB], clock=app[keys.CLOCK])
    except PyMongoError as exc:
        log.warning("update not processed: database unavailable",
                    extra={"update_id": update.update_id, "error": type(exc).__name__})
        return error_response(503, "database_unavailable", "the database cannot be reached; retry")
    if outcome == "busy":
        resp = error_response(503, "update_in_progress", "this update is being processed")
        resp.headers["Retry-After"] = "5"
        return resp
    return web.json_response({"ok": True, "outcome": outcome})


class InviteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"role": "leader", "unit": "310101001001001", "name": "张伟", "hours": 72}]})
    role: Literal[tuple(MEMBER_ROLES)]  # type: ignore[valid-type]
    unit: str = Field(min_length=1, max_length=40)
    name: str = Field("", max_length=100)
    hours: float = Field(72, gt=0, le=24 * 30)
    # A second role where the standards allow one (a station head who is also a coordinator).
    also_role: Literal["coordinator"] | None = None
    also_unit: str | None = Field(None, min_length=1, max_length=40)

    @model_validator(mode="after")
    def _both_or_neither(self) -> InviteBody:
        if (self.also_role is None) != (self.also_unit is None):
            raise ValueError("give also_role and also_unit together")
        return self


async def create_invite(request: web.Request) -> web.Response:
    """POST /api/v1/admin/invites {role, unit, hours?, name?}: a single-use deep link."""
    who = await require(request, "admin")
    body = await parse(request, InviteBody)
    role, unit, name, hours = body.role, body.unit, body.name, body.hours
    now = request.app[keys.CLOCK].now()
    await domain.check_unit(request.app[keys.DB], code=unit, role=role)
    if body.also_role is not None and body.also_unit is not None:
        await domain.check_also(request.app[keys.DB], role=role, also_role=body.also_role,
                                also_unit=body.also_unit)
    token = await bot_repo.create_invite(request.app[keys.DB], role=role, unit=unit, name=name,
                                         now=now, ttl=timedelta(hours=hours),
                                         also_role=body.also_role, also_unit=body.also_unit)
    await audit_change(request, who, "invite.create", unit, role=role, name=name)
    return web.json_response({
        "token": token, "role": role, "unit": unit,
        "expires_at": (now + timedelta(hours=hours)).isoformat(),
        "link": invite_link(request.app[keys.PTB_APP], token),
    }, status=201)


def invite_link(application: Any, token: str) -> str | None:
    """`https://t.me/<bot>?start=<token>`, or None before the bot knows its username."""
    try:
        username = application.bot.username
    except RuntimeError:
        return None
    return f"https://t.me/{username}?start={token}"


async def unbind_member(request: web.Request) -> web.Response:
    """DELETE /api/v1/admin/roster/{user_id}: the chat user is a citizen again.

    Assignments belong to units, not people: the unit's open cases stay with it (its other
    members see them in /mine); the user's half-finished dialogue is dropped.
    """
    who = await require(request, "admin")
    raw = request.match_info["user_id"]
    if not raw.lstrip("-").isdigit():
        raise InvalidInput("user_id must be a Telegram user id (an integer)")
    db = request.app[keys.DB]
    member = await domain.unbind_member(db, user_id=int(raw))
    if member is None:
        return error_response(404, "not_found", f"user {raw} is not on the roster")
    await bot_repo.clear_conversation(db, chat_id=member["chat_id"])
    now = request.app[keys.CLOCK].now()
    open_cases = await domain.open_cases_for(db, unit=member["unit"], now=now)
    await audit_change(request, who, "roster.unbind", str(member["user_id"]), role=member["role"],
                       unit=member["unit"])
    return web.json_response({"user_id": member["user_id"], "role": member["role"],
                              "unit": member["unit"], "unit_open_cases": len(open_cases)})


def setup_routes(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, metrics.count_webhook(telegram_webhook))  # outcomes
    app.router.add_post("/api/v1/admin/invites", create_invite)
    app.router.add_delete("/api/v1/admin/roster/{user_id}", unbind_member)
