"""What the statistics say in chat: early-warning alerts for the responsible centers, and the
trend chart of a unit (the bot's `/trends`, the digest's chart hook).

Alerts go to the street center's dispatchers and the district center's, block-level ones also
to the block's station head; each episode once (`stats.early_warning.record` opens it once;
notify's job queues its messages under ids per episode and chat and only then marks it
delivered, so a worker restarted in between queues the same ids again — never twice). notify
imports stats, so the roster and the outbox are notify's side (`notify.alerts`).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from gridlink.db import Database, Document
from stats import early_warning as ew
from stats import trends as tr
from stats.rollups import fresh
from stats.units import Directory, directory

ALERT_TEXT = {
    "zh": ("⚠ 预警：{place}（{street}）“{category}”{window}{observed} 件，"
           "预期约 {expected} 件（上限 {upper} 件）。\n看板：{board}\n趋势：{trend}"),
    "en": ("⚠ Early warning: {category} in {place} ({street}): {observed} cases {window}, "
           "expected about {expected} (at most {upper}).\nBoard: {board}\nTrend: {trend}"),
}
WINDOW_WORDS = {"zh": {1: "今日", 7: "近7天"}, "en": {1: "today", 7: "in the last 7 days"}}
# A street alert's blocks driving the rise (stats.early_warning.localise)
BLOCKS_TEXT = {"zh": ("主要在：", "{place} {observed} 件（预期约 {expected}）", "、"),
               "en": ("Mostly in: ", "{place} {observed} (expected about {expected})", "; ")}
CENTER_ROLES = ("dispatcher",)


def _lang(locale: str | None) -> str:
    return "en" if (locale or "").lower().startswith("en") else "zh"


def alert_text(alert: Document, d: Directory, *, locale: str | None, base_url: str) -> str:
    """The alert in the recipient's language: place, category, the count against its expected
    range, and links to the board and to the trend of that place × category."""
    lang = _lang(locale)
    names = d.name_en if lang == "en" else d.name
    label = tr.labeller(d, lang)
    place_param = "block" if alert["level"] == "block" else "street"
    trend_q = urlencode({place_param: alert["place"], "category": alert["category"], "grain": "day",
                         "lang": lang})
    text = ALERT_TEXT[lang].format(
        place=names.get(alert["place"], alert["place"]), street=names.get(alert["street"], alert["street"]),
        category=label("category", alert["category"]), window=WINDOW_WORDS[lang][int(alert["window"])],
        observed=alert["observed"], expected=alert["expected"], upper=alert["upper"],
        board=f"{base_url}/board?{urlencode({'unit': alert['place']})}",
        trend=f"{base_url}/trends?{trend_q}")
    if alert.get("blocks"):
        head, each, sep = BLOCKS_TEXT[lang]
        where = sep.join(each.format(place=names.get(b["block"], b["block"]), observed=b["observed"],
                                     expected=b["expected"]) for b in alert["blocks"])
        first, rest = text.split("\n", 1)
        text = f"{first}\n{head}{where}\n{rest}"
    return text


def recipient_units(alert: Document, d: Directory, district: str) -> list[tuple[str, tuple[str, ...]]]:
    """(unit, roles) who hear of the alert: the street center and the district center; for a
    block (or the blocks a street alert names), also its station head (workstation or patrol zone)."""
    out: list[tuple[str, tuple[str, ...]]] = [(alert["street"], CENTER_ROLES), (district, CENTER_ROLES)]
    blocks = [alert["place"]] if alert["level"] == "block" else [b["block"] for b in alert.get("blocks") or []]
    for station in dict.fromkeys(d.parent.get(b) for b in blocks):  # a street alert's named blocks too
        if station:
            out.append((station, ("station_head",)))
    return out


async def undelivered(db: Database) -> list[Document]:
    """Episodes whose alerts are not queued yet (notify's early-warning job sends them)."""
    return await db[ew.ALERTS].find({"delivered": {"$ne": True}}).sort("_id", 1).to_list(None)


async def mark_delivered(db: Database, *, alert_id: str) -> None:
    """After the alert's messages are queued (ids per episode and chat: a re-run queues none twice)."""
    await db[ew.ALERTS].update_one({"_id": alert_id}, {"$set": {"delivered": True}})


def message_id(alert: Document, chat_id: int) -> str:
    return f"ew:{alert['_id']}:{chat_id}"


async def scan_round(db: Database, *, now: datetime, tz: ZoneInfo, district: str,
                     cfg: ew.Config | None = None) -> list[Document]:
    """The early-warning scan over the folded statistics: the episodes opened now."""
    d = await directory(db, district=district)
    view = await fresh(db, now=now)
    return await ew.scan(db, now=now, tz=tz, directory=d, cfg=cfg, version=view.version)


async def digest_lines(db: Database, *, unit: str, day: date, district: str, locale: str | None,
                       base_url: str) -> list[str]:
    """The early warnings opened in the last day within `unit` (the district: all), one line
    each, for the daily digest."""
    d = await directory(db, district=district)
    streets = None if unit == district else [s for s in [d.street_of(unit)] if s]
    found = await ew.alerts(db, since=day - timedelta(days=1), streets=streets)
    if unit != district and d.level.get(unit) != "street":
        found = [a for a in found if a["place"] == unit or d.parent.get(a["place"]) == unit]
    return [alert_text(a, d, locale=locale, base_url=base_url).split("\n")[0] for a in found]


def unit_query(unit: str | None, d: Directory, *, today: date, district: str, days: int = 7) -> tr.Query:
    """A unit's week: by category, filtered to the unit (the district: everything)."""
    level = d.level.get(unit or "")
    f = tr.Filters()
    if level == "street":
        f = tr.Filters(streets=frozenset({unit or ""}))
    elif level in ("workstation", "patrol_zone"):
        f = tr.Filters(stations=frozenset({unit or ""}))
    elif level in ("community_block", "street_block"):
        f = tr.Filters(blocks=frozenset({unit or ""}))
    elif level == "department":
        f = tr.Filters(departments=frozenset({unit or ""}))
    return tr.Query(today - timedelta(days=days - 1), today, "day", "category", f)


async def unit_trend(db: Database, *, unit: str | None, now: datetime, tz: ZoneInfo, district: str,
                     locale: str | None) -> dict[str, Any]:
    """The trend answer of a unit's week (for `unit_trend_png`)."""
    d = await directory(db, district=district)
    view = await fresh(db, now=now)
    q = unit_query(unit, d, today=now.astimezone(tz).date(), district=district)
    return await tr.trends(db, q, directory=d, view=view, compare=("previous",), lang=_lang(locale))


async def unit_trend_png(db: Database, *, unit: str | None, now: datetime, tz: ZoneInfo,
                         district: str, locale: str | None) -> bytes:
    """The PNG of a unit's week by category with the previous week dashed (the bot's `/trends`)."""
    import asyncio

    from stats.charts import line_chart_png

    body = await unit_trend(db, unit=unit, now=now, tz=tz, district=district, locale=locale)
    title, lines, compare = tr.chart_parts(body)
    return await asyncio.to_thread(line_chart_png, list(body["buckets"]), lines, title=title,
                                   compare=compare)


def chart_url(unit: str | None, d: Directory, *, today: date, district: str, base_url: str,
              locale: str | None) -> str:
    """The public URL of a unit's week chart (the digest's photo: Telegram fetches it)."""
    q = unit_query(unit, d, today=today, district=district)
    params: list[tuple[str, str]] = [("grain", q.grain), ("by", q.by), ("from", q.start.isoformat()),
                                     ("to", q.end.isoformat()), ("compare", "previous"),
                                     ("lang", _lang(locale))]
    for name, chosen in (("street", q.filters.streets), ("station", q.filters.stations),
                         ("block", q.filters.blocks), ("department", q.filters.departments)):
        if chosen:
            params.append((name, ",".join(sorted(chosen))))
    return f"{base_url}/api/v1/stats/trends.png?{urlencode(params)}"


def digest_chart_hook(*, district: str, tz: ZoneInfo, base_url: str) -> Any:
    """An async `(db, unit, now) -> photo URL` for `notify.digest.CHART_HOOK`; None (a text
    digest) unless the site is public over HTTPS, where Telegram can fetch the picture."""

    async def hook(db: Database, unit: str, now: datetime) -> str | None:
        if not base_url.startswith("https://"):
            return None
        d = await directory(db, district=district)
        return chart_url(unit if unit != district else None, d, today=now.astimezone(tz).date(),
                         district=district, base_url=base_url, locale=None)

    return hook
