"""Turning a case and a recipient into an outbox message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

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
    description = str(case.get("description") or "")
    if len(description) > 500:
        description = description[:500] + "…"
    return {
        "serial": case.get("serial", case["_id"]),
        "category": category(case, locale),
        "place": await place(case, locale, directory),
        "description": description,
        "deadline": when(deadline or case.get("deadline"), cfg.tz, locale),
        "unit": unit_name(unit, locale, str(assignee.get("name") or assignee.get("unit") or "")),
    }


def message(*, source: str, recipient: Recipient, key: str, kw: dict[str, Any], kind: str,
            now: datetime, cfg: NotifyConfig, case_id: str | None,
            reply_markup: Document | None = None, on_sent: Document | None = None,
            photo: str | None = None) -> Document:
    """One outbox message; its id is deterministic in (source, recipient chat)."""
    locale = locale_for(recipient.locale, cfg.default_locale)
    return repo.new_message(
        msg_id=f"{source}:{recipient.chat_id}", chat_id=recipient.chat_id,
        text=t(key, locale, **kw), kind=kind, now=now, locale=locale, case_id=case_id,
        recipient=recipient.to_dict(), reply_markup=reply_markup, on_sent=on_sent, photo=photo)
