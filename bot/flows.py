"""The dialogues: a coordinator's report, a handler's answers to assignment buttons, a citizen's
appeal and rating. Each step reads and writes the chat's dialogue document in MongoDB."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from typing import Any

from telegram import Update
from telegram.error import TelegramError

from bot import domain
from bot.application import BotDeps
from bot.blocks import refused as blocked
from bot.common import append, begin, end, error_text, locale_of, patrols, save, say, who
from bot.keyboards import assignment_keyboard, choices, location_request, remove, stars_keyboard
from cases import joint
from cases.lifecycle import MAX_PHOTOS
from gridlink import ratelimit
from gridlink.buttons import FIXED_ANSWERS, parse_button, parse_part_decision
from gridlink.errors import InvalidInput, NotFound, PermissionDenied, RateLimited, Unavailable
from gridlink.i18n import LOCALES, has, t

log = logging.getLogger("gridlink.bot")

Conv = dict[str, Any]
APPEAL_KINDS = ("consultation", "complaint", "help", "suggestion")


# --- entry points --------------------------------------------------------------------------

async def begin_on_spot(update: Update, d: BotDeps) -> None:
    if await blocked(update, d):
        return
    actor = await who(update, d)
    if not patrols(actor):
        await say(update, d, "report.coordinators_only")
        return
    await begin(update, d, "report", "before", _new_report(update, on_spot=True))
    await say(update, d, "report.onspot_before", markup=remove())


async def begin_appeal(update: Update, d: BotDeps) -> None:
    if await blocked(update, d):
        return
    locale = locale_of(update, d)
    chat = update.effective_chat
    assert chat is not None
    try:
        # Counted when a report starts, so nobody types a whole report only to be refused.
        await ratelimit.hit(d.db, key=f"chat:{chat.id}", limit=d.settings.rate_limit_chat_reports,
                            window_s=d.settings.rate_limit_chat_window_s, now=d.clock.now())
    except RateLimited as exc:
        await say(update, d, "ratelimit.chat", minutes=max(1, math.ceil(exc.retry_after / 60)))
        return
    await begin(update, d, "appeal", "kind", {"update_id": update.update_id, "photos": []})
    await say(update, d, "citizen.choose_kind",
              markup=choices([(f"kind:{k}", t(f"kind.{k}", locale)) for k in APPEAL_KINDS], locale))


def _new_report(update: Update, *, on_spot: bool) -> dict[str, Any]:
    # The first update's id makes the intake idempotent: a redelivered confirm opens no second case.
    return {"update_id": update.update_id, "photos": [], "after": [], "on_spot": on_spot,
            "location": None, "placement": None, "category": None, "note": ""}


# --- photos --------------------------------------------------------------------------------

async def _download(update: Update) -> tuple[bytes, str | None, str | None]:
    message = update.effective_message
    assert message is not None
    if message.photo:
        file = await message.photo[-1].get_file()
        return bytes(await file.download_as_bytearray()), None, "image/jpeg"
    document = message.document
    assert document is not None
    file = await document.get_file()
    return bytes(await file.download_as_bytearray()), document.file_name, document.mime_type


async def _ingest(update: Update, d: BotDeps
                  ) -> tuple[str, tuple[float, float] | None, datetime | None] | None:
    """Store the message's photo; None (after telling the user) when it is refused."""
    data, name, mime = await _download(update)
    user = update.effective_user
    assert user is not None
    try:
        return await domain.ingest_photo(d.db, data=data, filename=name, content_type=mime,
                                         uploader=user.id, settings=d.settings, now=d.clock.now(),
                                         workers=d.photo_workers())
    except InvalidInput as exc:
        locale = locale_of(update, d)
        await say(update, d, "report.photo_rejected", reason=error_text(exc, locale)
                  if has(f"error.{exc.code}") else exc.message)
        return None


async def on_photo(update: Update, d: BotDeps, conv: Conv | None) -> None:
    new: tuple[str, str, dict[str, Any]] | None = None
    if conv is None:
        actor = await who(update, d)
        if not patrols(actor):
            await say(update, d, "report.coordinators_only")
            return
        if await blocked(update, d):
            return
        # Photos of one media group arrive as separate updates: the first to land starts it.
        new = ("report", "photos", _new_report(update, on_spot=False))
        conv = {"flow": new[0], "step": new[1], "data": new[2]}
    flow, step = conv["flow"], conv["step"]
    locale = locale_of(update, d)
    if flow == "action" and step in ("result_photo", "result_confirm"):
        await on_result_photo(update, d, conv)
        return
    if flow == "appeal" and step == "extras":
        if await _append_photo(update, d, conv, "photos") is not None:
            await say(update, d, "citizen.extra_added", markup=choices([], locale, confirm=True))
        return
    if flow != "report" or step not in ("photos", "location", "before", "after", "category", "note",
                                        "still"):
        await say(update, d, "fallback.hint")
        return
    field = "after" if step == "after" else "photos"
    if await _full(update, d, conv, field):
        return
    stored = await _ingest(update, d)
    if stored is None:
        return
    media_id, gps, taken_at = stored
    data = await append(update, d, field, media_id, new, seen=conv["data"])
    if data is None:
        return  # cancelled meanwhile
    if step == "before":
        await save(update, d, "report", "after", data)
        await say(update, d, "report.onspot_after")
        return
    if step == "still":
        return  # another photo of the same album: the question already asked covers it
    age = domain.photo_age(taken_at, d.settings, d.clock.now()) if field == "photos" else None
    if age is not None and step == "photos" and not data.get("age_checked"):
        # An old gallery photo with GPS would be filed silently: ask first, then go on.
        data["pending_gps"] = list(gps) if gps is not None else None
        await save(update, d, "report", "still", data)
        locale = locale_of(update, d)
        days, hours = age.days, int(age.total_seconds() // 3600)
        await say(update, d, "report.photo_old",
                  age=t("age.days", locale, n=days) if days >= 1 else t("age.hours", locale, n=hours),
                  markup=choices([("still:y", t("btn.still_there", locale)),
                                  ("still:n", t("btn.gone_now", locale))], locale))
        return
    await _after_photo(update, d, data, step, gps)


async def _after_photo(update: Update, d: BotDeps, data: dict[str, Any], step: str,
                       gps: tuple[float, float] | None) -> None:
    """A report photo is kept: place the report by its GPS, or ask for the location."""
    locale = locale_of(update, d)
    count = len(data["photos"]) + len(data["after"])
    if gps is not None and data["location"] is None:
        await _place(update, d, data, lon=gps[0], lat=gps[1])
        return
    if data["placement"] is not None:
        await say(update, d, "report.photo_added", count=count)
        return
    if step == "location":
        # Asked for already (the append above kept the dialogue alive): one message, with the
        # location button again, rather than the question repeated after every photo.
        await say(update, d, "report.photo_added", count=count, markup=location_request(locale))
        return
    await save(update, d, "report", "location", data)
    await say(update, d, "report.photo_added", count=count)
    await say(update, d, "report.ask_location", markup=location_request(locale))


async def _full(update: Update, d: BotDeps, conv: Conv, field: str) -> bool:
    """Whether the dialogue holds as many photos as a case may carry (the user is told so);
    checked before the download, so a 21st photo costs nothing and the report stays fileable."""
    if len(conv["data"].get(field) or []) < MAX_PHOTOS:
        return False
    await say(update, d, "report.too_many_photos", max=MAX_PHOTOS)
    return True


async def _append_photo(update: Update, d: BotDeps, conv: Conv, field: str) -> dict[str, Any] | None:
    if await _full(update, d, conv, field):
        return None
    stored = await _ingest(update, d)
    if stored is None:
        return None
    return await append(update, d, field, stored[0], seen=conv["data"])


# --- location ------------------------------------------------------------------------------

async def on_location(update: Update, d: BotDeps, conv: Conv | None) -> None:
    message = update.effective_message
    assert message is not None
    location = message.location or (message.venue.location if message.venue else None)
    if location is None:
        return
    if update.edited_message is not None:
        return  # live-location updates: the first position is the report's
    if conv is not None and conv["flow"] == "report" and conv["step"] in ("photos", "location"):
        await _place(update, d, conv["data"], lon=location.longitude, lat=location.latitude)
        return
    if conv is not None and conv["flow"] == "appeal" and conv["step"] == "extras":
        conv["data"]["location"] = {"lon": location.longitude, "lat": location.latitude}
        await save(update, d, "appeal", "extras", conv["data"])
        await say(update, d, "citizen.extra_added", markup=choices([], locale_of(update, d), confirm=True))
        return
    await say(update, d, "report.need_photo" if patrols(await who(update, d))
              else "fallback.hint")


async def _place(update: Update, d: BotDeps, data: dict[str, Any], *, lon: float, lat: float) -> None:
    """Place the report; outside the district keeps the report and asks again."""
    locale = locale_of(update, d)
    try:
        placement = domain.place(await d.grid_index(), lon=lon, lat=lat)
    except InvalidInput as exc:
        await save(update, d, "report", "location", data)
        key = "report.outside" if domain.is_outside(exc) else "report.bad_location"
        await say(update, d, key, markup=location_request(locale))
        return
    data["location"] = {"lon": lon, "lat": lat}
    data["placement"] = placement
    await save(update, d, "report", "category", data)
    names = await domain.placement_labels(d.db, placement=placement, locale=locale)
    await say(update, d, "report.placed", community=names["community"],
              street=names["street"] or t("report.no_street_block", locale), markup=remove())
    await _category_page(update, d, data, 0)


async def _category_page(update: Update, d: BotDeps, data: dict[str, Any], page: int) -> None:
    """One page of categories: the coordinator's recent ones and hazards first, "more…" for
    the rest (citizen topics come last)."""
    locale = locale_of(update, d)
    user = update.effective_user
    assert user is not None
    recent = await domain.recent_categories(d.db, user_id=user.id)
    options = await domain.hazard_categories(d.db, placement=data["placement"], locale=locale,
                                             recent=recent)
    size = domain.CATEGORY_PAGE
    shown = options[page * size:(page + 1) * size]
    if len(options) > (page + 1) * size:
        shown.append((f"catp:{page + 1}", t("btn.more", locale)))
    if page == 0:
        await say(update, d, "report.choose_category", markup=choices(shown, locale, per_row=2))
    else:
        await say(update, d, "report.more_categories", page=page + 1,
                  markup=choices(shown, locale, per_row=2))


# --- text answers --------------------------------------------------------------------------

async def on_text(update: Update, d: BotDeps, conv: Conv, text: str) -> None:
    locale = locale_of(update, d)
    if text.strip() == t("btn.cancel", locale):
        await end(update, d)
        await say(update, d, "cancel.done", markup=remove())
        return
    flow, step, data = conv["flow"], conv["step"], conv["data"]
    if flow == "report" and step == "note":
        data["note"] = text.strip()
        await _ask_confirm(update, d, data)
    elif flow == "appeal" and step == "text":
        data["text"] = text.strip()
        await save(update, d, "appeal", "extras", data)
        await say(update, d, "citizen.ask_extras", markup=choices([], locale, confirm=True))
    elif flow == "action" and step == "return_reason":
        await _act(update, d, data, "return", reason=text.strip())
    elif flow == "action" and step in ("ext_amount", "ext_hours"):
        amount, days = text.strip(), data.get("ext_unit") == "working_days"
        top = 60 if days else 720
        if not amount.isdigit() or not 1 <= int(amount) <= top:
            await say(update, d, "action.bad_days" if days else "action.bad_hours")
            return
        data["amount"] = int(amount)
        await save(update, d, "action", "ext_reason", data)
        await say(update, d, "action.ask_extension_reason")
    elif flow == "action" and step == "ext_reason":
        span: dict[str, Any] = ({"working_days": data["amount"]} if data.get("ext_unit") == "working_days"
                                else {"hours": data.get("amount") or data.get("hours")})
        await _act(update, d, data, "extend", reason=text.strip(), **span)
    elif flow == "action" and step == "refuse_reason":
        await _act(update, d, data, "decide", approve=False, reason=text.strip())
    elif flow == "action" and step == "part_refuse_reason":
        await _act(update, d, data, "part_decide", unit=data["unit"], approve=False, reason=text.strip())
    elif flow == "action" and step in ("result_photo", "result_note", "result_confirm"):
        data["note"] = text.strip()
        await _ask_result_confirm(update, d, data)
    elif flow == "fixed" and step == "comment":
        await _answer_fixed(update, d, data, text.strip())
    elif flow == "rating" and step == "comment":
        await _comment_rating(update, d, data, text.strip())
    elif flow == "report" and step in ("photos", "before", "after"):
        await say(update, d, "report.need_photo")
    elif flow == "report" and step == "location":
        await say(update, d, "report.ask_location", markup=location_request(locale))
    else:
        await say(update, d, "fallback.hint")


async def _ask_confirm(update: Update, d: BotDeps, data: dict[str, Any]) -> None:
    locale = locale_of(update, d)
    await save(update, d, "report", "confirm", data)
    names = await domain.placement_labels(d.db, placement=data["placement"], locale=locale)
    await say(update, d, "report.confirm",
              category=await domain.category_label(d.db, code=data["category"], locale=locale),
              place=" / ".join(n for n in (names["community"], names["street"]) if n),
              photos=len(data["photos"]) + len(data["after"]), note=data["note"] or "—",
              markup=choices([], locale, confirm=True))


# --- dialogue buttons ----------------------------------------------------------------------

async def on_choice(update: Update, d: BotDeps, conv: Conv | None, choice: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer()
    if choice == "cancel":
        await end(update, d)
        await say(update, d, "cancel.done" if conv else "cancel.nothing", markup=remove())
        return
    if conv is None:
        await say(update, d, "cancel.nothing")
        return
    flow, step, data = conv["flow"], conv["step"], conv["data"]
    if flow == "report" and step == "category" and choice.startswith("catp:") \
            and choice[5:].isdigit():
        await _category_page(update, d, data, int(choice[5:]))
    elif flow == "report" and step == "category" and choice.startswith("cat:"):
        data["category"] = choice[4:]
        if not await _offer_duplicates(update, d, data):
            await _ask_note(update, d, data)
    elif flow == "report" and step == "still" and choice in ("still:y", "still:n"):
        await _still_there(update, d, data, choice == "still:y")
    elif flow == "report" and step == "duplicate" and choice == "dup:new":
        await _ask_note(update, d, data)
    elif flow == "report" and step == "duplicate" and choice.startswith("dup:"):
        await _add_to(update, d, data, choice[4:])
    elif flow == "report" and step == "note" and choice == "skip":
        await _ask_confirm(update, d, data)
    elif flow in ("report", "appeal") and choice == "confirm" and await blocked(update, d):
        return  # blocked while composing: nothing is filed
    elif flow == "report" and step == "confirm" and choice == "confirm":
        if not data.get("dups_offered") and await _offer_duplicates(update, d, data):
            return  # one reported nearby meanwhile: shown before the report is filed
        actor = await who(update, d)
        case = await domain.report_hazard(d.db, actor=actor, data=data, settings=d.settings,
                                          now=d.clock.now())
        await end(update, d)
        await say(update, d, "report.onspot_closed" if data["on_spot"] else "report.created",
                  serial=case["serial"])
    elif flow == "action" and step == "result_confirm" and choice == "confirm":
        await _act(update, d, data, "feedback", note=data["note"], photos=data["photos"])
    elif flow == "fixed" and step == "comment" and choice == "skip":
        await _answer_fixed(update, d, data, None)
    elif flow == "rating" and step == "comment" and choice == "skip":
        await end(update, d)
        await say(update, d, "rating.comment_thanks")
    elif flow == "appeal" and step == "kind" and choice.startswith("kind:"):
        data["kind"] = choice[5:]
        await save(update, d, "appeal", "text", data)
        await say(update, d, "citizen.ask_text")
    elif flow == "appeal" and step == "extras" and choice == "confirm":
        actor = await who(update, d)
        case = await domain.report_appeal(d.db, actor=actor, data=data, settings=d.settings,
                                          grid_index=await _index_or_none(d), now=d.clock.now())
        await end(update, d)
        await say(update, d, "citizen.created", serial=case["serial"])
    else:
        await say(update, d, "fallback.hint")


async def _ask_note(update: Update, d: BotDeps, data: dict[str, Any]) -> None:
    await save(update, d, "report", "note", data)
    await say(update, d, "report.ask_note", markup=choices([], locale_of(update, d), skip=True))


async def _still_there(update: Update, d: BotDeps, data: dict[str, Any], there: bool) -> None:
    """The answer to "taken N days ago — still there?": yes goes on, gone files nothing."""
    if not there:
        await end(update, d)
        await say(update, d, "report.photo_gone", markup=remove())
        return
    data["age_checked"] = True
    gps = data.pop("pending_gps", None)
    await save(update, d, "report", "photos", data)
    await _after_photo(update, d, data, "photos", (gps[0], gps[1]) if gps else None)


async def _offer_duplicates(update: Update, d: BotDeps, data: dict[str, Any]) -> bool:
    """A likely duplicate nearby (intake's own search) is shown before the report is filed,
    with "add my photo to A" as one tap. Whether one was shown."""
    data["dups_offered"] = True
    found = await domain.likely_duplicates(d.db, actor=await who(update, d), data=data,
                                           now=d.clock.now())
    if not found:
        return False
    locale = locale_of(update, d)
    lines, options = [], []
    for dup in found[:3]:
        case = await domain.get_case(d.db, case_id=dup["case_id"])
        lines.append(t("report.duplicate_item", locale, serial=case["serial"],
                       distance=round(dup["distance_m"]), state=t(f"state.{case['state']}", locale)))
        options.append((f"dup:{case['_id']}", t("btn.add_to", locale, serial=case["serial"])))
    options.append(("dup:new", t("btn.report_new", locale)))
    await save(update, d, "report", "duplicate", data)
    await say(update, d, "report.duplicate_nearby", cases="\n".join(lines),
              markup=choices(options, locale, per_row=1))
    return True


async def _add_to(update: Update, d: BotDeps, data: dict[str, Any], case_id: str) -> None:
    if await blocked(update, d):
        return
    actor = await who(update, d)
    try:
        case = await domain.add_report(d.db, case_id=case_id, actor=actor, photos=data["photos"],
                                       now=d.clock.now())
    except (*domain.STALE_ERRORS, NotFound, InvalidInput):
        # Closed meanwhile (or gone): the report goes on as a new one.
        await _ask_note(update, d, data)
        return
    await end(update, d)
    await say(update, d, "report.added_to", serial=case["serial"], markup=remove())


async def _index_or_none(d: BotDeps) -> Any:
    """An appeal is filed even when no grid is loaded: it is then simply not placed."""
    try:
        return await d.grid_index()
    except Unavailable:
        return None


# --- assignment buttons --------------------------------------------------------------------

async def on_assignment_button(update: Update, d: BotDeps, payload: str) -> None:
    """`<button>:<case_id>:<version>` (gridlink.buttons). The workflow table decides on the case
    as it is now: an action it still allows goes ahead whatever version the message showed;
    one it no longer allows is answered with the current state and the buttons allowed now."""
    query = update.callback_query
    assert query is not None
    parsed = parse_button(payload)
    if parsed is None:
        await query.answer()
        return
    button, action, case_id, _version = parsed
    actor = await who(update, d)
    if not domain.is_handler(actor):
        await query.answer(t("action.not_yours", actor["locale"]), show_alert=True)
        return
    found = await _pressed_case(update, d, actor, case_id, action)
    if found is None:
        return
    case, refused = found
    if refused is not None and action == "feedback" and domain.may(actor, case, "accept"):
        # Done before Accept: accept on the handler's behalf, then take the result.
        accepted = await _accept_first(update, d, actor, case)
        if accepted is None:
            return
        case, refused = accepted, None
    if refused is not None:
        await _current(update, d, actor, case)
        return
    data = {"case_id": case_id, "version": case["version"], "serial": case["serial"], "photos": []}
    if action == "accept":
        await _act(update, d, data, "accept")
    elif action == "return":
        await begin(update, d, "action", "return_reason", data)
        await say(update, d, "action.ask_return_reason", serial=case["serial"])
    elif action == "extend":
        unit = domain.extension_unit(case)
        data["ext_unit"] = unit
        await begin(update, d, "action", "ext_amount", data)
        await say(update, d, "action.ask_extension_days" if unit == "working_days"
                  else "action.ask_extension_hours", serial=case["serial"])
    elif action == "decide" and button == "approve":
        await _act(update, d, data, "decide", approve=True)
    elif action == "decide":
        await begin(update, d, "action", "refuse_reason", data)
        await say(update, d, "action.ask_refuse_reason", serial=case["serial"])
    else:
        await begin(update, d, "action", "result_photo", data)
        await say(update, d, "action.ask_result_photo", serial=case["serial"])


async def _pressed_case(update: Update, d: BotDeps, actor: dict[str, Any], case_id: str,
                        action: str) -> tuple[dict[str, Any], str | None] | None:
    """The case a button names and why the workflow refuses `action` on it now (None: it
    allows it), the press answered; None when there is nothing to do (no such case, or not
    this member's: told)."""
    query = update.callback_query
    assert query is not None
    try:
        case = await domain.get_case(d.db, case_id=case_id)
    except NotFound:
        await query.answer()
        await say(update, d, "status.not_found", serial=case_id)
        return None
    refused = domain.refusal(actor, case, action)
    if refused == "not_yours":
        await query.answer(t("action.not_yours", actor["locale"]), show_alert=True)
        return None
    await query.answer()
    return case, refused


async def on_part_decision_button(update: Update, d: BotDeps, payload: str) -> None:
    """`<approve|refuse>:<unit>:<case_id>:<version>` (gridlink.buttons): the center answers an
    assisting unit's extension request for its part, as on the desk; a request already
    decided (on the desk, or by a colleague) is answered with the case as it is now."""
    query = update.callback_query
    assert query is not None
    parsed = parse_part_decision(payload)
    actor = await who(update, d)
    if parsed is None:
        await query.answer()
        return
    approve, unit, case_id, _version = parsed
    found = await _pressed_case(update, d, actor, case_id, "part_decide")
    if found is None:
        return
    case = found[0]
    if not joint.request_waiting(case, unit):
        await _current(update, d, actor, case)
        return
    data = {"case_id": case_id, "version": case["version"], "serial": case["serial"], "unit": unit}
    if approve:
        await _act(update, d, data, "part_decide", unit=unit, approve=True)
    else:
        await begin(update, d, "action", "part_refuse_reason", data)
        await say(update, d, "action.ask_refuse_reason", serial=case["serial"])


async def _accept_first(update: Update, d: BotDeps, actor: dict[str, Any],
                        case: dict[str, Any]) -> dict[str, Any] | None:
    try:
        case = await domain.act(d.db, action="accept", case_id=case["_id"], version=case["version"],
                                actor=actor, settings=d.settings, now=d.clock.now())
    except domain.STALE_ERRORS:
        await _current(update, d, actor, await domain.get_case(d.db, case_id=case["_id"]))
        return None
    await say(update, d, "action.accepted_first", serial=case["serial"])
    return case


def _buttons(actor: dict[str, Any], case: dict[str, Any], locale: str) -> Any:
    actions = domain.button_actions(actor, case)
    return assignment_keyboard(case["_id"], case["version"], locale, actions) if actions else None


async def _current(update: Update, d: BotDeps, actor: dict[str, Any], case: dict[str, Any]) -> None:
    """The case as it is now, with the buttons the workflow allows this member now."""
    locale = locale_of(update, d)
    await say(update, d, "action.stale", serial=case["serial"], state=t(f"state.{case['state']}", locale),
              markup=_buttons(actor, case, locale))


async def _stale(update: Update, d: BotDeps, case: dict[str, Any]) -> None:
    await _current(update, d, await who(update, d), case)


async def _act(update: Update, d: BotDeps, data: dict[str, Any], action: str, **payload: Any) -> None:
    """Make the transition as the roster member. When the case changed meanwhile but the table
    still allows the action, it is retried on the current version, so nothing typed is lost."""
    actor = await who(update, d)
    version = int(data["version"])
    for _ in range(3):
        try:
            case = await domain.act(d.db, action=action, case_id=data["case_id"], version=version,
                                    actor=actor, settings=d.settings, now=d.clock.now(), **payload)
            break
        except PermissionDenied:
            await end(update, d)
            await say(update, d, "action.not_yours")
            return
        except domain.STALE_ERRORS:
            current = await domain.get_case(d.db, case_id=data["case_id"])
            if action == "feedback" and not domain.may(actor, current, action) \
                    and domain.may(actor, current, "accept"):
                accepted = await _accept_first(update, d, actor, current)
                if accepted is None:
                    await end(update, d)
                    return
                current = accepted
            if not domain.may(actor, current, action):
                await end(update, d)
                await _current(update, d, actor, current)
                return
            version = int(current["version"])
    else:
        await end(update, d)
        await _stale(update, d, await domain.get_case(d.db, case_id=data["case_id"]))
        return
    await end(update, d)
    key = {"accept": "action.accepted", "return": "action.returned",
           "extend": "action.extension_requested", "feedback": "action.done",
           "decide": "action.extension_approved" if payload.get("approve") else "action.extension_refused",
           "part_decide": "action.extension_approved" if payload.get("approve") else "action.extension_refused",
           }[action]
    locale = locale_of(update, d)
    markup = _buttons(actor, case, locale)
    query = update.callback_query
    if query is not None and query.message is not None:
        # The pressed message's buttons now carry the new version and what the table allows next.
        try:
            await query.edit_message_reply_markup(markup)
        except TelegramError:
            log.debug("could not refresh the pressed message's buttons")
    await say(update, d, key, serial=case["serial"], markup=markup)


async def on_result_photo(update: Update, d: BotDeps, conv: Conv) -> None:
    """A result photo (one of several): counted, then the note, then confirm."""
    data = await _append_photo(update, d, conv, "photos")
    if data is None:
        return
    if conv["step"] == "result_confirm":
        await _ask_result_confirm(update, d, data)
        return
    await say(update, d, "action.result_photo_added", count=len(data["photos"]))


async def _ask_result_confirm(update: Update, d: BotDeps, data: dict[str, Any]) -> None:
    await save(update, d, "action", "result_confirm", data)
    await say(update, d, "action.result_confirm", serial=data["serial"], photos=len(data["photos"]),
              note=data["note"], markup=choices([], locale_of(update, d), confirm=True))


# --- the reporter's "is it fixed?" ---------------------------------------------------------

async def on_fixed_button(update: Update, d: BotDeps, payload: str) -> None:
    """`k:<case_id>:y|n`: the reporter answers; an optional comment follows."""
    query = update.callback_query
    assert query is not None
    await query.answer()
    case_id, _, answer = payload.rpartition(":")
    if answer not in FIXED_ANSWERS:
        return
    actor = await who(update, d)
    case = await _case_or_say(update, d, case_id)
    if case is None:
        return
    if not domain.may(actor, case, "answer"):
        await _send_case_state(update, d, actor, case)
        return
    await begin(update, d, "fixed", "comment", {"case_id": case_id, "fixed": answer == "y",
                                                "serial": case["serial"]})
    await say(update, d, "fixed.ask_comment" if answer == "y" else "fixed.ask_what",
              markup=choices([], locale_of(update, d), skip=True))


async def _answer_fixed(update: Update, d: BotDeps, data: dict[str, Any], comment: str | None) -> None:
    actor = await who(update, d)
    await end(update, d)
    try:
        await domain.answer_fixed(d.db, case_id=data["case_id"], actor=actor, fixed=data["fixed"],
                                  comment=comment, settings=d.settings, now=d.clock.now())
    except (*domain.STALE_ERRORS, PermissionDenied):
        await _send_case_state(update, d, actor, await domain.get_case(d.db, case_id=data["case_id"]))
        return
    await say(update, d, "fixed.thanks_yes" if data["fixed"] else "fixed.thanks_no",
              serial=data["serial"])


async def _send_case_state(update: Update, d: BotDeps, actor: dict[str, Any],
                           case: dict[str, Any]) -> None:
    """A reporter's stale button: where the case stands (and stars when it may be rated)."""
    locale = locale_of(update, d)
    markup = None
    if domain.may(actor, case, "rate"):
        markup = stars_keyboard(case["_id"], locale)
    await say(update, d, "reporter.current", serial=case["serial"],
              state=t(f"state.{case['state']}", locale), markup=markup)


# --- rating --------------------------------------------------------------------------------

# Words a reporter may rate with (DESIGN.md §4; the catalog's rating.words.N in every
# language), longest first so 较满意 is not read as 满意.
RATING_WORDS: tuple[tuple[str, int], ...] = tuple(sorted(
    {(word.lower(), n) for locale in LOCALES for n in (1, 2, 3, 4, 5)
     for word in [t(f"rating.{n}", locale), *t(f"rating.words.{n}", locale).split("|")]},
    key=lambda w: (-len(w[0]), w[0])))
STAR_CHARS = "⭐★"


def parse_rating(text: str) -> tuple[int, str | None] | None:
    """A reply's score (digit, stars or words) and the words after it as a comment."""
    value = text.strip()
    score: int | None = None
    rest = ""
    if value[:1] in "12345" and value[:1]:
        score, rest = int(value[0]), value[1:]
    elif value[:1] and value[:1] in STAR_CHARS:
        n = len(value) - len(value.lstrip(STAR_CHARS + "\ufe0f"))
        stars = sum(1 for c in value[:n] if c in STAR_CHARS)
        if 1 <= stars <= 5:
            score, rest = stars, value[n:]
    else:
        lowered = value.lower()
        for word, n in RATING_WORDS:
            if lowered.startswith(word):
                score, rest = n, value[len(word):]
                break
    if score is None:
        return None
    comment = rest.strip().lstrip("，,。.:：;；-—!！ ").strip()
    return score, comment or None


async def rate_by_reply(update: Update, d: BotDeps, case_id: str, text: str) -> None:
    parsed = parse_rating(text)
    if parsed is None:
        await say(update, d, "rating.hint")
        return
    await _rate(update, d, case_id, parsed[0], comment=parsed[1])


async def on_star_button(update: Update, d: BotDeps, payload: str) -> None:
    query = update.callback_query
    assert query is not None
    case_id, _, n = payload.rpartition(":")
    await query.answer()
    if n not in ("1", "2", "3", "4", "5"):
        return
    await _rate(update, d, case_id, int(n))


async def _case_or_say(update: Update, d: BotDeps, case_id: str) -> dict[str, Any] | None:
    """The case a button names, or None after telling the user it is gone."""
    try:
        return await domain.get_case(d.db, case_id=case_id)
    except NotFound:
        await say(update, d, "error.case_not_found")
        return None


async def _rate(update: Update, d: BotDeps, case_id: str, rating: int, *,
                comment: str | None = None) -> None:
    """Rating is the workflow's `rate` row: the reporter, once, on a closed case."""
    actor = await who(update, d)
    case = await _case_or_say(update, d, case_id)
    if case is None:
        return
    refused = domain.refusal(actor, case, "rate")
    if refused == "not_yours":
        await say(update, d, "action.not_yours")
        return
    if refused is not None:
        await _already(update, d, actor, case)
        return
    try:
        await domain.rate(d.db, case_id=case_id, rating=rating, actor=actor, settings=d.settings,
                          now=d.clock.now(), comment=comment)
    except domain.STALE_ERRORS:
        # Rated (or moved on) between the check and the write: answered as the case is now.
        await _already(update, d, actor, await domain.get_case(d.db, case_id=case_id))
        return
    locale = locale_of(update, d)
    await say(update, d, "rating.thanks", label=t(f"rating.{rating}", locale))
    if comment is None:
        await begin(update, d, "rating", "comment", {"case_id": case_id})
        await say(update, d, "rating.ask_comment", markup=choices([], locale, skip=True))


async def _already(update: Update, d: BotDeps, actor: dict[str, Any], case: dict[str, Any]) -> None:
    if case.get("rating") is not None:
        await say(update, d, "rating.already")
    else:
        await _send_case_state(update, d, actor, case)


async def _comment_rating(update: Update, d: BotDeps, data: dict[str, Any], text: str) -> None:
    actor = await who(update, d)
    await end(update, d)
    try:
        await domain.comment_rating(d.db, case_id=data["case_id"], actor=actor, now=d.clock.now(),
                                    comment=text)
    except (*domain.STALE_ERRORS, PermissionDenied, InvalidInput):
        await say(update, d, "rating.already")
        return
    await say(update, d, "rating.comment_thanks")
