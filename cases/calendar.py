"""The working-day calendar and deadline arithmetic (DESIGN.md §8).

China moves workdays around its holidays (调休): a Saturday can be a working day and a
Wednesday a holiday. The calendar lives in the database (`calendar_days`: one document per
holiday or adjusted workday, `calendar_years`: which years are entered), seeded from the
`holidays` package's published years and editable by admins. A year nobody entered yet is
provisional: its statutory holidays come from `holidays` (computed by the law's rules, the
lunar festivals included), its adjusted workdays are not guessed, and deadlines that touch
it are marked provisional until the year is entered (then they are recomputed).

Deadline rule (documented in the README):
- `{"hours": h}`: clock hours, round the clock (urgent matters do not wait for Monday):
  start + h.
- `{"working_days": n}`: the end (23:59:59 local time) of the n-th working day after the day
  of the start; the day of the start itself never counts, whatever the time of day, as in
  "办结时限 n 个工作日" practice. A start on a weekend or holiday counts from the next
  working day as well.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cases.errors import BadCaseInput, CalendarNotCovered

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
    # Years nobody entered, holidays computed by the law's rules and no adjusted workdays.
    provisional_years: frozenset[int] = field(default_factory=frozenset)

    def is_working_day(self, day: date) -> bool:
        if day.year not in self.covered_years and day.year not in self.provisional_years:
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


    def is_provisional(self, first: date, last: date) -> bool:
        """Whether a span of days touches a year nobody entered yet."""
        return any(y in self.provisional_years for y in range(first.year, last.year + 1))


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


# Published years are looked for up to here; a later one is provisional whatever happens.
PACKAGE_LAST_YEAR = 2060


@functools.cache
def _china(year: int) -> Any:
    import holidays

    return holidays.China(years=year, language="zh_CN")


def package_years(first: int) -> list[int]:
    """The years from `first` that `holidays` has the State Council's adjusted workdays for
    (the published years)."""
    return [y for y in range(first, PACKAGE_LAST_YEAR + 1)
            if any(d.year == y for d in _china(y).weekend_workdays)]


def package_days(year: int) -> list[dict[str, Any]]:
    """`calendar_days` documents for one published year, from `holidays`."""
    table = _china(year)
    docs: list[dict[str, Any]] = [
        {"_id": day.isoformat(), "year": year, "kind": "holiday", "name": str(name), "source": "holidays"}
        for day, name in sorted(table.items()) if day.year == year]
    docs += [{"_id": day.isoformat(), "year": year, "kind": "workday", "name": "调休上班",
              "source": "holidays"} for day in sorted(table.weekend_workdays) if day.year == year]
    return docs


def provisional_holidays(year: int) -> frozenset[date]:
    """A year's statutory holidays by the law's rules; its adjusted workdays are never guessed."""
    return frozenset(day for day in _china(year) if day.year == year)


def check_year(year: int, holidays: Mapping[date, str], workdays: Mapping[date, str]) -> None:
    """Refuse a year's table that cannot be right, naming the date."""
    for day in [*holidays, *workdays]:
        if day.year != year:
            raise BadCaseInput(f"{day.isoformat()} is not in {year}", field="date", date=day.isoformat())
    for day in holidays:
        if day in workdays:
            raise BadCaseInput(f"{day.isoformat()} is both a holiday and an adjusted workday",
                               field="date", date=day.isoformat())
    for day in workdays:
        if day.weekday() < 5:
            raise BadCaseInput(f"{day.isoformat()} is a weekday; adjusted workdays are weekend days",
                               field="date", date=day.isoformat())
