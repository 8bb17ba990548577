"""Turning a case and a recipient into an outbox message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cases import workflow
from gridlink.buttons import BUTTON_FOR_ACTION, assignment_markup
from gridlink.db import Document
from gridlink.i18n import locale_for, t
from notify import repository as repo
from notify.config import NotifyConfig
from notify.recipients import Directory, Recipient
from notify.texts import unit_name, when


def category(case: Document, locale: str) -> str:
    names = case.get("category_name") or {}
    key = "en" if locale == "en" else "zh"
    return str(names.get(key) or names.get("zh") or case.get("category") or "")


async def place(case: Document, locale: str, directory: Directory) -> str:
    placement = case.get("placement") or {}
    parts = []
    for level in ("community_block", "street_block"):
        unit = await directory.unit(placement.get(level))
        if unit:
            parts.append(unit_name(unit, locale))
    if parts:
        return " / ".join(parts)
    loc = case.get("location") or {}
    if loc.get("lat") is not None:
        return f"{loc['lat']:.5f}, {loc['lon']:.5f}"
    return t("notify.none", locale)


async def fields(case: Document, locale: str, cfg: NotifyConfig, directory: Directory,
                 *, deadline: datetime | None = None) -> dict[str, Any]:
    """The placeholders every case message may use."""
    assignee = case.get("assignee") or {}
    unit = await directory.unit(assignee.get("unit"))
    due = deadline or case.get("deadline")
    shown = when(due, cfg.tz, locale)
    if due is not None and due == case.get("deadline") and case.get("deadline_provisional"):
        # a deadline on a year nobody entered yet says so (issue 18)
        shown += t("notify.provisional", locale, year=due.astimezone(cfg.tz).year)
    description = str(case.get("description") or "")
    if len(description) > 500:
        description = description[:500] + "…"
    return {
        "serial": case.get("serial", case["_id"]),
        "category": category(case, locale),
        "place": await place(case, locale, directory),
        "description": description,
        "deadline": shown,
        "unit": unit_name(unit, locale, str(assignee.get("name") or assignee.get("unit") or "")),
    }


def message(*, source: str, recipient: Recipient, key: str, kw: dict[str, Any], kind: str,
            now: datetime, cfg: NotifyConfig, case_id: str | None,
            reply_markup: Document | None = None, on_sent: Document | None = None,
            photo: str | None = None, album: list[str] | None = None,
            venue: Document | None = None) -> Document:
    """One outbox message; its id is deterministic in (source, recipient chat).

    `album`: media photo ids sent before the text (one photo, or an album of up to 10);
    `venue`: `{lat, lon, title, address}` sent as a map pin before the text. The text comes
    last so it is the newest message and carries the buttons."""
    locale = locale_for(recipient.locale, cfg.default_locale)
    doc = repo.new_message(
        msg_id=f"{source}:{recipient.chat_id}", chat_id=recipient.chat_id,
        text=t(key, locale, **kw), kind=kind, now=now, locale=locale, case_id=case_id,
        recipient=recipient.to_dict(), reply_markup=reply_markup, on_sent=on_sent, photo=photo)
    if album:
        doc["album"] = list(album[:ALBUM_MAX])
    if venue:
        doc["venue"] = dict(venue)
    return doc


ALBUM_MAX = 10  # Telegram's album limit


def case_buttons(case: Document, recipient: Recipient, locale: str) -> Document | None:
    """The buttons the workflow table offers this recipient on the case as it is now, with its
    current version (none for someone who only hears of it). Every message about a case its
    reader can act on carries them: assignment, reminder, red alert, supervision, rework,
    extension request and decision."""
    actions = [a for a in workflow.allowed_actions(recipient.actor(), case) if a in BUTTON_FOR_ACTION]
    if not actions:
        return None
    return assignment_markup(case["_id"], int(case.get("version") or 0), locale, actions)


async def venue(case: Document, locale: str, directory: Directory) -> Document | None:
    """The case's place as a map pin named after its block (None without a location)."""
    loc = case.get("location") or {}
    if loc.get("lat") is None:
        return None
    placement = case.get("placement") or {}
    block = await directory.unit(placement.get("community_block") or placement.get("street_block"))
    title = unit_name(block, locale) if block else category(case, locale)
    return {"lat": float(loc["lat"]), "lon": float(loc["lon"]), "title": title or "—",
            "address": await place(case, locale, directory)}
