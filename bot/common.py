"""Helpers every handler uses: the user's locale, replies from the catalog, the actor, dialogue state."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from telegram import Message, Update

from bot import domain
from bot import repository as repo
from bot.application import BotDeps
from bot.keyboards import remove
from gridlink.errors import DomainError
from gridlink.i18n import has, negotiate, t

# The language the user chose with /language, loaded once per update (bot.handlers.load_language).
CHOSEN_LOCALE: ContextVar[str | None] = ContextVar("chosen_locale", default=None)


def locale_of(update: Update, d: BotDeps) -> str:
    # The one negotiator: the /language choice first, then Telegram's language_code (a tag).
    user = update.effective_user
    return negotiate(chosen=CHOSEN_LOCALE.get(), accept=user.language_code if user else None,
                     default=d.settings.default_locale)


async def say(update: Update, d: BotDeps, key: str, *, markup: Any = None, **kw: Any) -> Message:
    """Send a catalog text to the update's chat."""
    chat = update.effective_chat
    assert chat is not None
    return await chat.send_message(t(key, locale_of(update, d), **kw), reply_markup=markup)


async def who(update: Update, d: BotDeps) -> dict[str, Any]:
    """The actor for the domain: the roster member, or a citizen."""
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    member = await domain.member(d.db, user_id=user.id)
    actor: dict[str, Any] = {"role": "citizen", "user_id": user.id, "chat_id": chat.id,
                             "name": user.full_name, "locale": locale_of(update, d)}
    if member is not None:
        actor.update(role=member["role"], unit=member["unit"], name=member.get("name") or user.full_name)
    # Every role the user holds: the main one, and a second one where allowed (grids.ALSO_ROLES).
    actor["roles"] = [actor["role"], *([member["also_role"]] if member and member.get("also_role") else [])]
    return actor


def patrols(actor: dict[str, Any]) -> bool:
    """Whether the user may report as the patrol (a coordinator, or a head who also is one)."""
    return "coordinator" in actor.get("roles", [actor["role"]])


async def dialogue(update: Update, d: BotDeps) -> dict[str, Any] | None:
    """The chat's open dialogue; tells the user when an abandoned one just expired."""
    chat = update.effective_chat
    assert chat is not None
    conv, expired = await repo.load_conversation(d.db, chat_id=chat.id, now=d.clock.now())
    if expired:
        await say(update, d, "conv.expired", markup=remove())
    return conv


async def begin(update: Update, d: BotDeps, flow: str, step: str, data: dict[str, Any]) -> None:
    """Start a new dialogue in this chat (dropping any other)."""
    chat = update.effective_chat
    assert chat is not None
    await repo.start_conversation(d.db, chat_id=chat.id, flow=flow, step=step, data=data,
                                  now=d.clock.now(), ttl=d.conversation_ttl)


async def save(update: Update, d: BotDeps, flow: str, step: str, data: dict[str, Any]) -> None:
    """Move the chat's dialogue to `step` with `data` (photo lists are only appended to)."""
    chat = update.effective_chat
    assert chat is not None
    await repo.save_conversation(d.db, chat_id=chat.id, flow=flow, step=step, data=data,
                                 now=d.clock.now(), ttl=d.conversation_ttl)


async def append(update: Update, d: BotDeps, field: str, value: str,
                 new: tuple[str, str, dict[str, Any]] | None = None,
                 seen: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """Append a photo to the dialogue atomically; its data afterwards (None: it is gone).

    `seen`: the dialogue's data as read for this update. Photos of a media group arrive as
    parallel updates, so for them the lists are read back; a lone photo adds to `seen`."""
    chat, message = update.effective_chat, update.effective_message
    assert chat is not None
    lone = message is not None and message.media_group_id is None
    known = seen if lone else None  # the repository copies the lists it extends
    conv = await repo.append_to_conversation(d.db, chat_id=chat.id, field=field, value=value,
                                             new=new, now=d.clock.now(), ttl=d.conversation_ttl,
                                             known=known)
    return None if conv is None else dict(conv["data"])


async def end(update: Update, d: BotDeps) -> None:
    chat = update.effective_chat
    assert chat is not None
    await repo.clear_conversation(d.db, chat_id=chat.id)


def error_text(exc: DomainError, locale: str) -> str:
    """A domain refusal in the user's words: its catalog text, or the domain's own message."""
    key = f"error.{exc.code}"
    return t(key, locale) if has(key) else t("error.input", locale, reason=exc.message)
