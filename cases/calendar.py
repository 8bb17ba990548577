"""The working-day calendar and deadline arithmetic (DESIGN.md §8).

China moves workdays around its holidays (调休): a Saturday can be a working day and a
Wednesday a holiday. `chinesecalendar` knows only the years the State Council has published
and raises for later ones, so the calendar lives in the database (`calendar_days`: one document
per holiday or adjusted workday, `calendar_years`: which years are complete), seeded from the
package and editable by admins. A deadline that needs a year nobody entered raises
`CalendarNotCovered` with a message that says what to do, instead of guessing.

Deadline rule (documented in the README):
- `{"hours": h}`: clock hours, round the clock (urgent matters do not wait for Monday):
  start + h.
- `{"working_days": n}`: the end (23:59:59 local time) of the n-th working day after the day
  of the start; the day of the start itself never counts, whatever the time of day, as in
  "办结时限 n 个工作日" practice. A start on a weekend or holiday counts from the next
  working day as well.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cases.errors import CalendarNotCovered

END_OF_DAY = time(23, 59, 59)


def coverage_hint(year: int) -> str:
    return (f"working-day calendar does not cover {year}; add its holidays and adjusted workdays "
            f"via PUT /api/v1/calendar/{year} (admin) once the State Council publishes them")


@dataclass(frozen=True)
class WorkCalendar:
    """Holidays and adjusted workdays of the covered years; other days follow Mon–Fri."""

    covered_years: frozenset[int]
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day.year not in self.covered_years:
            raise CalendarNotCovered(coverage_hint(day.year), year=day.year)
        if day in self.holidays:
            return False
        if day in self.workdays:
            return True
        return day.weekday() < 5

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (start itself not counted)."""
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return day


def deadline_for(limit: dict[str, Any], start: datetime, *, tz: ZoneInfo,
                 calendar: WorkCalendar) -> datetime:
    """When a step started at `start` (aware) with time limit `limit` is due, in UTC."""
    if limit.get("hours") is not None:
        return (start + timedelta(hours=float(limit["hours"]))).astimezone(UTC)
    days = int(limit["working_days"])
    local_day = start.astimezone(tz).date()
    due_day = calendar.add_working_days(local_day, days)
    return datetime.combine(due_day, END_OF_DAY, tzinfo=tz).astimezone(UTC)


def warn_time(start: datetime, due: datetime, fraction: float) -> datetime:
    """When the step turns yellow: the last `fraction` of its limit."""
    return due - (due - start) * fraction


def years_needed(limit: dict[str, Any], start: datetime, tz: ZoneInfo) -> range:
    """Years a deadline computation may touch (working days never span more than the next year)."""
    year = start.astimezone(tz).year
    if limit.get("hours") is not None:
        return range(year, year)
    return range(year, year + 2)


def package_years() -> range:
    """The years `chinesecalendar` has published data for."""
    import chinese_calendar

    years = {d.year for d in chinese_calendar.holidays}
    return range(min(years), max(years) + 1)


def package_days(year: int) -> list[dict[str, Any]]:
    """`calendar_days` documents for one year, from `chinesecalendar`."""
    import chinese_calendar

    docs: list[dict[str, Any]] = []
    for kind, table in (("holiday", chinese_calendar.holidays), ("workday", chinese_calendar.workdays)):
        for day, name in table.items():
            if day.year == year:
                docs.append({"_id": day.isoformat(), "year": year, "kind": kind,
                             "name": str(name), "source": "chinesecalendar"})
    return docs
