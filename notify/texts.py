"""How notifications read: the texts themselves live in the chat catalog (`gridlink/i18n.py`,
keys under `notify.`), shared with the bot's flows; here only what formats values for them."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from gridlink.i18n import t


def when(value: datetime | None, tz: ZoneInfo, locale: str) -> str:
    """A deadline in local time, as people read it."""
    if value is None:
        return t("notify.none", locale)
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M")


def unit_name(unit: dict[str, object] | None, locale: str, fallback: str = "") -> str:
    if not unit:
        return fallback
    key = "name_en" if locale == "en" else "name_zh"
    return str(unit.get(key) or unit.get("name_zh") or unit.get("name") or unit.get("_id") or fallback)
