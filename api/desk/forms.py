"""Form fields → typed values for the domain calls (a bad value is an InvalidInput → 400 page)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from multidict import MultiDictProxy

from gridlink.errors import InvalidInput

LOCAL_FORMAT = "%Y-%m-%dT%H:%M"


def text(form: MultiDictProxy[Any], name: str, *, limit: int = 4000) -> str | None:
    value = form.get(name)
    if value is None or not isinstance(value, str) or not value.strip():
        return None
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters", field=name)
    return value.strip()


def integer(form: MultiDictProxy[Any], name: str) -> int | None:
    raw = text(form, name, limit=20)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a whole number", field=name) from None


def number(form: MultiDictProxy[Any], name: str) -> float | None:
    raw = text(form, name, limit=40)
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a number", field=name) from None


def local_time(form: MultiDictProxy[Any], name: str, tz: ZoneInfo) -> datetime | None:
    """A `datetime-local` field, read in the district's time zone."""
    raw = text(form, name, limit=40)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name} must be a date and time", field=name) from None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def to_local_field(value: datetime | None, tz: ZoneInfo) -> str:
    return value.astimezone(tz).strftime(LOCAL_FORMAT) if value else ""


def category_code(raw: str | None) -> str | None:
    """The code from the searchable field, which may read `road_damage — 道路破损`."""
    if raw is None:
        return None
    return raw.split(" ", 1)[0].strip() or None
