"""Building the python-telegram-bot Application (webhook mode: no Updater) and its dependencies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot.transport import AiohttpRequest
from gridlink.clock import Clock
from gridlink.db import Database
from gridlink.settings import Settings


@dataclass
class BotDeps:
    """What handlers need from the process: database, clock, settings and the grid index."""

    db: Database
    clock: Clock
    settings: Settings
    # The current placement index (grids may reload it); raises GridNotLoaded without a grid.
    grid_index: Callable[[], Awaitable[Any]]
    # The process's bounded photo-decoding pool (media.service.Workers), or None for media's default.
    photo_workers: Callable[[], Any] = lambda: None

    @property
    def conversation_ttl(self) -> timedelta:
        return timedelta(minutes=self.settings.conversation_ttl_minutes)


def deps(context: ContextTypes.DEFAULT_TYPE) -> BotDeps:
    value = context.application.bot_data["deps"]
    assert isinstance(value, BotDeps)
    return value


class _Application(Application[Any, Any, Any, Any, Any, Any]):
    async def shutdown(self) -> None:
        await super().shutdown()
        # PTB skips the bot's shutdown when initialize() never finished (the Bot API was away
        # at start), which would leave the transport's aiohttp session open.
        await self.bot.shutdown()


def build_application(settings: Settings, bot_deps: BotDeps) -> Application[Any, Any, Any, Any, Any, Any]:
    """The PTB Application pointed at Telegram or the local sandbox, with every handler."""
    from bot.handlers import register

    api = settings.bot_api_url
    application = (
        ApplicationBuilder()
        .token(settings.bot_token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .updater(None)
        .request(AiohttpRequest())
        .application_class(_Application)
        .build()
    )
    application.bot_data["deps"] = bot_deps
    register(application)
    return application
