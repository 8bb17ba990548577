"""`gridlink invite`: create an invite and print its deep link."""

from __future__ import annotations

from datetime import timedelta

from telegram import Bot
from telegram.error import TelegramError

from bot import domain
from bot import repository as repo
from gridlink.clock import SystemClock
from gridlink.db import make_client
from gridlink.schema import ensure_indexes
from gridlink.settings import Settings


async def bot_username(settings: Settings) -> str | None:
    """The bot's @username from getMe, or None when the Bot API cannot be reached."""
    api = settings.bot_api_url
    bot = Bot(settings.bot_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot")
    try:
        async with bot:
            return bot.username
    except TelegramError:
        return None


async def create_invite_link(settings: Settings, mongo_uri: str, *, role: str, unit: str,
                             name: str, hours: float, also_role: str | None = None,
                             also_unit: str | None = None) -> str:
    client = make_client(mongo_uri, settings)
    try:
        db = client[settings.mongodb_db]
        await ensure_indexes(db)
        await domain.check_unit(db, code=unit, role=role)
        if also_role is not None:
            await domain.check_also(db, role=role, also_role=also_role, also_unit=also_unit or "")
        token = await repo.create_invite(db, role=role, unit=unit, name=name,
                                         now=SystemClock().now(), ttl=timedelta(hours=hours),
                                         also_role=also_role, also_unit=also_unit)
    finally:
        await client.close()
    username = await bot_username(settings) or "<bot_username>"
    return f"https://t.me/{username}?start={token}"
