"""The daily digest for leaders and centers at `NOTIFY_DIGEST_TIME` local time.

Each leader, station head, department handler and center dispatcher gets their unit's open
cases by colour (cases.colour, the same colours as everywhere), how many turned red in
the last 24 hours and how many were rated 1–2 since the previous digest. The digest is a
`schedule` job per local date (`digest:YYYY-MM-DD`), so exactly one worker sends it; message ids are per (date, unit, chat), so a re-run after a
crash queues nothing twice. Cases and roster are read a page at a time: memory grows with
the number of units, not of cases.

Chart hook: `CHART_HOOK`, an async `(db, unit_code, now) -> str | None` returning a photo (URL
or Telegram file_id): the worker sets it to the unit's week trend chart
(`stats.chat.digest_chart_hook`), and the digest goes out as that photo with the text as its
caption. Early warnings opened since yesterday in the unit's area are listed under the counts.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from cases.colour import colour_of
from gridlink.db import Database, Document
from gridlink.i18n import locale_for, t
from notify import render
from notify import repository as repo
from notify.config import NotifyConfig
from notify.recipients import Directory, Recipient
from notify.texts import unit_name
from stats import chat

log = logging.getLogger(__name__)

ChartHook = Callable[[Database, str, datetime], Awaitable[str | None]]
CHART_HOOK: ChartHook | None = None

DIGEST_ROLES = ("leader", "station_head", "department", "dispatcher")
PAGE = 1000
# A digest found more than this late (the workers were all down) is skipped, not sent at noon.
STALE_AFTER = timedelta(hours=6)
DISTRICT_KEY = "*district*"

_ensured: set[tuple[str, str]] = set()
# From this day of the year on, a next year nobody entered is announced in the district
# center's digest (its deadlines are provisional until it is).
CALENDAR_WARN_FROM = (10, 1)


async def missing_next_year(db: Database, *, today: date) -> int | None:
    """Next year, when it is time to enter it (from 1 October) and nobody has."""
    if (today.month, today.day) < CALENDAR_WARN_FROM:
        return None
    year = today.year + 1
    return None if await db.calendar_years.find_one({"_id": year}, {"_id": 1}) else year


def _job_id(day: str) -> str:
    return f"digest:{day}"


async def ensure_jobs(db: Database, cfg: NotifyConfig, *, now: datetime) -> None:
    """Make sure the coming digest jobs (today's if still ahead, tomorrow's) exist.

    Tomorrow's is created a day early so a worker outage across the digest time still finds
    it due; a job is never created for a time already past (a fresh start at noon sends none).
    """
    local = now.astimezone(cfg.tz).date()
    for day in (local, local + timedelta(days=1)):
        job_id = _job_id(day.isoformat())
        due = datetime.combine(day, cfg.digest_time, tzinfo=cfg.tz)
        if (db.name, job_id) in _ensured or due <= now:
            continue
        await repo.ensure_digest_job(db, job_id=job_id, due_at=due, now=now)
        _ensured.add((db.name, job_id))


def _scope_keys(case: Document) -> set[str]:
    """Every unit whose digest counts the case."""
    placement = case.get("placement") or {}
    keys = {(case.get("assignee") or {}).get("unit"), placement.get("workstation"),
            placement.get("patrol_zone"), placement.get("street"), DISTRICT_KEY}
    return {k for k in keys if k}


async def tally(db: Database, *, now: datetime) -> dict[str, Counter[str]]:
    """Open cases per unit by colour, plus `turned_red` (went red in the last 24 h)."""
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    after = None
    while True:
        page = await repo.open_cases_page(db, after=after, limit=PAGE)
        if not page:
            break
        for case in page:
            colour = colour_of(case, now)
            due = case.get("due_at")
            fresh_red = colour == "red" and due is not None and due >= now - timedelta(days=1)
            for key in _scope_keys(case):
                counts[key][colour] += 1
                counts[key]["open"] += 1
                if fresh_red:
                    counts[key]["turned_red"] += 1
        after = page[-1]["_id"]
    return counts


async def send_digest(db: Database, cfg: NotifyConfig, *, job: Document, now: datetime) -> int:
    """Queue the digest of `job`'s date to every leader and center; returns messages queued."""
    if now - job["due_at"] > STALE_AFTER:
        log.warning("digest skipped: too late", extra={"job": job["_id"]})
        return 0
    day = job["_id"].split(":", 1)[1]
    counts = await tally(db, now=now)
    # Low ratings (1–2) given since the previous digest, per unit: the center calls back.
    for case in await repo.low_rated_since(db, since=job["due_at"] - timedelta(days=1)):
        for key in _scope_keys(case):
            counts[key]["low_rated"] += 1
    directory = Directory(db, district=cfg.district)
    missing = await missing_next_year(db, today=date.fromisoformat(day))
    queued, after = 0, None
    while True:
        members = await repo.roster_members(db, roles=DIGEST_ROLES, after=after, limit=PAGE)
        if not members:
            break
        after = members[-1]["_id"]
        messages = []
        for member in members:
            code = str(member.get("unit") or "")
            unit = await directory.unit(code)
            key = DISTRICT_KEY if (unit or {}).get("level") == "district" or code == cfg.district \
                else code
            c = counts.get(key, Counter())
            locale = locale_for(member.get("locale"), cfg.default_locale)
            photo = await CHART_HOOK(db, code, now) if CHART_HOOK is not None else None
            recipient = Recipient(chat_id=int(member["chat_id"]), locale=locale, unit=code,
                                  role=str(member.get("role")), name=str(member.get("name") or ""),
                                  user_id=member.get("user_id"))
            messages.append(render.message(
                source=f"digest:{day}:{code}", recipient=recipient, key="notify.digest",
                kw={"unit": unit_name(unit, locale, code), "date": day, "open": c["open"],
                    "red": c["red"], "yellow": c["yellow"], "blue": c["blue"],
                    "turned_red": c["turned_red"]},
                kind="digest", now=now, cfg=cfg, case_id=None, photo=photo))
            if c["low_rated"]:
                messages[-1]["text"] += "\n" + t("notify.digest_low_ratings", locale, n=c["low_rated"])
            # Early warnings opened since yesterday in the unit's area (the district: all).
            for line in await chat.digest_lines(db, unit=code, day=date.fromisoformat(day),
                                                district=cfg.district, locale=locale, base_url=""):
                messages[-1]["text"] += "\n" + line
            if missing and key == DISTRICT_KEY:
                messages[-1]["text"] += "\n" + t("notify.calendar_missing", locale, year=missing)
        queued += await repo.enqueue(db, messages=messages)
    log.info("digest queued", extra={"day": day, "messages": queued})
    return queued
