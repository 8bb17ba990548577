"""Every bot handler, registered in one place. Handlers parse the update, call the domain
(through bot.domain) and reply from the catalog; dialogue state lives in MongoDB."""

from __future__ import annotations

import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from pymongo.errors import PyMongoError
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import domain, flows
from bot import repository as repo
from bot.application import BotDeps, deps
from bot.common import CHOSEN_LOCALE, dialogue, error_text, locale_of, say, who
from bot.errors import InviteExpired, InviteUnknown, InviteUsed
from bot.keyboards import assignment_keyboard, remove
from bot.webhook import note_database_error
from gridlink.errors import DomainError
from gridlink.i18n import LOCALES, t
from stats import chat as stats_chat
from stats import station as stats_station

log = logging.getLogger("gridlink.bot")

Ctx = ContextTypes.DEFAULT_TYPE
MINE_MAX = 10  # /mine: messages per command (the rest are named by count)
SERIAL_RE = re.compile(r"^\s*([A-Z]{1,3}\d{8}-\d{3,})\s*$", re.IGNORECASE)


# --- commands ------------------------------------------------------------------------------

async def start_chat(update: Update, context: Ctx) -> None:
    """/start [invite]: greet, or bind the user to a role with a single-use invite."""
    d = deps(context)
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    if not context.args:
        await say(update, d, "start.citizen")
        return
    locale = locale_of(update, d)
    try:
        invite = await repo.redeem_invite(d.db, token=context.args[0], user_id=user.id,
                                          now=d.clock.now())
    except InviteUnknown:
        await say(update, d, "invite.unknown")
        return
    except InviteExpired:
        await say(update, d, "invite.expired")
        return
    except InviteUsed:
        await say(update, d, "invite.used")
        return
    await domain.bind_member(d.db, user_id=user.id, chat_id=chat.id, role=invite["role"],
                             unit=invite["unit"], name=invite.get("name") or user.full_name,
                             locale=locale, now=d.clock.now(), also_role=invite.get("also_role"),
                             also_unit=invite.get("also_unit"))
    unit = await domain.unit_label(d.db, code=invite["unit"], locale=locale)
    await say(update, d, "start.bound", role=t(f"role.{invite['role']}", locale), unit=unit)


async def show_help(update: Update, context: Ctx) -> None:
    """/help: what this user can do, in plain words."""
    d = deps(context)
    actor = await who(update, d)
    key = {"coordinator": "help.coordinator", "citizen": "help.citizen",
           "station_head": "help.station_head"}.get(actor["role"], "help.handler")
    await say(update, d, key)


async def cancel_dialogue(update: Update, context: Ctx) -> None:
    """/cancel (or the cancel button): drop whatever is being filled in."""
    d = deps(context)
    if update.callback_query:
        await update.callback_query.answer()
    chat = update.effective_chat
    assert chat is not None
    had = await repo.clear_conversation(d.db, chat_id=chat.id)
    await say(update, d, "cancel.done" if had else "cancel.nothing", markup=remove())


async def list_mine(update: Update, context: Ctx) -> None:
    """/mine: the open cases assigned to the user's unit, with their colour."""
    d = deps(context)
    actor = await who(update, d)
    locale = actor["locale"]
    if not domain.is_handler(actor):
        await say(update, d, "action.not_yours")
        return
    rows = await domain.open_cases_for(d.db, unit=actor["unit"], now=d.clock.now())
    if not rows:
        await say(update, d, "mine.none")
        return
    # One message per case (the most urgent first), each with the buttons allowed on it now.
    chat = update.effective_chat
    assert chat is not None
    await chat.send_message(t("mine.header_count", locale, count=len(rows), shown=min(len(rows), MINE_MAX)))
    for case, colour in rows[:MINE_MAX]:
        deadline = case.get("deadline")
        text = t("mine.item", locale, dot=t(f"colour.{colour}", locale), serial=case["serial"],
                 category=await domain.category_label(d.db, code=case.get("category"), locale=locale),
                 state=t(f"state.{case['state']}", locale),
                 deadline=t("mine.deadline", locale, deadline=domain.local_time(deadline, d.settings))
                 if deadline else "")
        actions = domain.button_actions(actor, case)
        await chat.send_message(text, reply_markup=assignment_keyboard(
            case["_id"], case["version"], locale, actions) if actions else None)


TREND_ROLES = ("leader", "station_head", "dispatcher", "department", "admin")


async def send_trends(update: Update, context: Ctx) -> None:
    """/trends: the PNG of the user's unit's week by category, the week before dashed."""
    d = deps(context)
    actor = await who(update, d)
    if actor["role"] not in TREND_ROLES:
        await say(update, d, "trends.staff_only")
        return
    png = await stats_chat.unit_trend_png(d.db, unit=actor.get("unit"), now=d.clock.now(),
                                          tz=ZoneInfo(d.settings.timezone),
                                          district=d.settings.district_code, locale=actor["locale"])
    chat = update.effective_chat
    assert chat is not None
    url = f"{d.settings.public_base_url}/trends"
    await chat.send_photo(png, caption=t("trends.caption", actor["locale"], url=url))


async def list_blocks(update: Update, context: Ctx) -> None:
    """/blocks: a station head's blocks — open cases by colour, who leads and patrols each
    (stats.station: the board's rollups and the roster)."""
    d = deps(context)
    actor = await who(update, d)
    locale = actor["locale"]
    if actor["role"] != "station_head":
        await say(update, d, "blocks.station_head_only")
        return
    found = await stats_station.station_blocks(
        d.db, unit=actor["unit"], now=d.clock.now(), tz=ZoneInfo(d.settings.timezone),
        district=d.settings.district_code, waiting=0)
    en = locale == "en"
    nobody = t("blocks.nobody", locale)
    lines = [t("blocks.header", locale, station=found["name_en"] if en else found["name"],
               **{k: found["totals"][k] for k in ("open", "red", "yellow", "blue")})]
    lines += [t("blocks.item", locale, block=b["name_en"] if en else b["name"], red=b["red"],
                yellow=b["yellow"], blue=b["blue"], leader="、".join(b["leaders"]) or nobody,
                coordinators="、".join(b["coordinators"]) or nobody) for b in found["blocks"]]
    chat = update.effective_chat
    assert chat is not None
    await chat.send_message("\n".join(lines) if found["blocks"] else t("blocks.none", locale))


async def choose_language(update: Update, context: Ctx) -> None:
    """/language: pick the language follow-ups about your cases are sent in."""
    d = deps(context)
    await say(update, d, "language.choose", markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton(t("language.name", loc), callback_data=f"l:{loc}") for loc in LOCALES]]))


async def set_language(update: Update, d: BotDeps, locale: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    if locale not in LOCALES:
        return
    user, chat = update.effective_user, update.effective_chat
    assert user is not None and chat is not None
    await repo.set_language(d.db, user_id=user.id, locale=locale, now=d.clock.now())
    CHOSEN_LOCALE.set(locale)
    await chat.send_message(t("language.set", locale))


async def load_language(update: Update, context: Ctx) -> None:
    """Before any handler: the language this user chose with /language (else Telegram's)."""
    user = update.effective_user
    CHOSEN_LOCALE.set(await repo.chosen_language(deps(context).db, user_id=user.id) if user else None)


async def show_status(update: Update, context: Ctx) -> None:
    """/status SERIAL: where a case stands, if this user may know of it."""
    d = deps(context)
    if not context.args:
        await say(update, d, "status.not_found", serial="")
        return
    await _send_status(update, d, context.args[0])


async def _send_status(update: Update, d: BotDeps, serial: str) -> None:
    actor = await who(update, d)
    locale = actor["locale"]
    view = await domain.status_view(d.db, serial=serial.upper(), actor=actor, locale=locale,
                                    settings=d.settings)
    if view is None:
        await say(update, d, "status.not_found", serial=serial)
        return
    await say(update, d, "status.view", serial=view["serial"], state=t(f"state.{view['state']}", locale),
              unit=view["unit"] or t("status.unit_none", locale), timeline=view["timeline"])


# --- messages ------------------------------------------------------------------------------

async def route_text(update: Update, context: Ctx) -> None:
    """Plain text: the next answer of an open dialogue, a serial number, a rating or a hint."""
    d = deps(context)
    message = update.effective_message
    assert message is not None and message.text is not None
    conv = await dialogue(update, d)
    match = SERIAL_RE.match(message.text)
    if conv is not None and not (match and conv["flow"] in ("rating", "fixed")):
        await flows.on_text(update, d, conv, message.text)
        return
    if match:
        # A serial while an optional comment is awaited is a lookup (the dialogue stays open).
        await _send_status(update, d, match.group(1))
        return
    replied = message.reply_to_message
    if replied is not None:
        case_id = await repo.rating_prompt(d.db, chat_id=message.chat_id, message_id=replied.message_id)
        if case_id is not None:
            await flows.rate_by_reply(update, d, case_id, message.text)
            return
    await say(update, d, "fallback.hint")


async def route_photo(update: Update, context: Ctx) -> None:
    """A photo (compressed or sent as an image file): part of a report or of a result."""
    d = deps(context)
    conv = await dialogue(update, d)
    await flows.on_photo(update, d, conv)


async def route_location(update: Update, context: Ctx) -> None:
    """A location (shared, live or a venue): the place of the report being composed."""
    d = deps(context)
    conv = await dialogue(update, d)
    await flows.on_location(update, d, conv)


async def route_button(update: Update, context: Ctx) -> None:
    """An inline button: assignment actions `c:`, a joint part's extension decision `u:`, rating
    stars `r:`, dialogue choices `f:`."""
    d = deps(context)
    query = update.callback_query
    assert query is not None and query.data is not None
    kind, _, rest = query.data.partition(":")
    if kind == "c":
        await flows.on_assignment_button(update, d, rest)
    elif kind == "u":
        await flows.on_part_decision_button(update, d, rest)
    elif kind == "r":
        await flows.on_star_button(update, d, rest)
    elif kind == "k":
        await flows.on_fixed_button(update, d, rest)
    elif kind == "l":
        await set_language(update, d, rest)
    elif kind == "f":
        conv = await dialogue(update, d)
        await flows.on_choice(update, d, conv, rest)
    else:
        await query.answer()


async def show_hint(update: Update, context: Ctx) -> None:
    """Anything else (stickers, voice, unknown commands, other files): point to /help."""
    d = deps(context)
    await dialogue(update, d)  # still tells the user when a dialogue just expired
    await say(update, d, "fallback.hint")


async def start_report(update: Update, context: Ctx) -> None:
    """/report: a citizen starts an appeal."""
    await flows.begin_appeal(update, deps(context))


async def start_on_spot(update: Update, context: Ctx) -> None:
    """/onspot: a coordinator records a case handled on the spot (before and after photo)."""
    await flows.begin_on_spot(update, deps(context))


# --- errors --------------------------------------------------------------------------------

async def report_error(update: object, context: Ctx) -> None:
    """Reply plainly and log; database outages make the webhook answer 503 for redelivery."""
    error = context.error
    if isinstance(error, PyMongoError):
        note_database_error(error)
        return
    if not isinstance(update, Update) or update.effective_chat is None:
        log.error("bot error outside an update", exc_info=error)
        return
    d = deps(context)
    if isinstance(error, DomainError):
        chat = update.effective_chat
        await chat.send_message(error_text(error, locale_of(update, d)))
        return
    log.error("bot handler failed", exc_info=error, extra={"update_id": update.update_id})
    await say(update, d, "error.generic")


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Wire every handler; private chats only (the bot is one-to-one)."""
    private = filters.ChatType.PRIVATE
    application.add_handler(TypeHandler(Update, load_language), group=-1)
    application.add_handler(CommandHandler("start", start_chat, filters=private))
    application.add_handler(CommandHandler("help", show_help, filters=private))
    application.add_handler(CommandHandler("cancel", cancel_dialogue, filters=private))
    application.add_handler(CommandHandler("mine", list_mine, filters=private))
    application.add_handler(CommandHandler("trends", send_trends, filters=private))
    application.add_handler(CommandHandler("blocks", list_blocks, filters=private))
    application.add_handler(CommandHandler("status", show_status, filters=private))
    application.add_handler(CommandHandler("language", choose_language, filters=private))
    application.add_handler(CommandHandler("report", start_report, filters=private))
    application.add_handler(CommandHandler("onspot", start_on_spot, filters=private))
    application.add_handler(MessageHandler(
        private & (filters.PHOTO | filters.Document.IMAGE), route_photo))
    application.add_handler(MessageHandler(
        private & (filters.LOCATION | filters.VENUE), route_location))
    application.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, route_text))
    application.add_handler(CallbackQueryHandler(route_button))
    # Last: only reached when nothing above matched (one handler per update in a group).
    application.add_handler(MessageHandler(private & filters.UpdateType.MESSAGE, show_hint))
    application.add_error_handler(report_error)

