"""A chat user blocked from reporting (cases.moderation): every door where a report starts or is
filed asks `refused` first. The first refusal says why and until when, in the user's language;
later ones say it briefly. A dialogue being composed is dropped, so nothing is stored."""

from __future__ import annotations

from telegram import Update

from bot.application import BotDeps
from bot.common import end, say
from bot.domain import local_time
from bot.keyboards import remove
from cases import moderation


async def refused(update: Update, d: BotDeps) -> bool:
    """Whether this user may not report now (they have been told so)."""
    user = update.effective_user
    if user is None:
        return False
    now = d.clock.now()
    block = await moderation.active_block(d.db, user_id=user.id, now=now)
    if block is None:
        return False
    await end(update, d)
    until = local_time(block["until"], d.settings)
    if await moderation.mark_told(d.db, block=block, now=now):
        await say(update, d, "block.told", reason=block.get("reason") or "—", until=until,
                  markup=remove())
    else:
        await say(update, d, "block.refused", until=until, markup=remove())
    return True
