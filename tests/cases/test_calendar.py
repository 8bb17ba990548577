"""Working days: weekends, Chinese holidays with adjusted workdays, uncovered years."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from cases import repository as repo
from cases.calendar import WorkCalendar, deadline_for
from cases.errors import CalendarNotCovered
from cases.lifecycle import compute_deadline
from gridlink.db import Database
from tests.cases.conftest import POLICY, local


async def test_seeded_calendar_has_published_years(db: Database) -> None:
    years = [y["_id"] for y in await repo.list_calendar_years(db)]
    assert 2026 in years and 2025 in years
    assert 2027 not in years


async def test_working_days_skip_the_weekend(db: Database) -> None:
    # Friday 27 Nov 2026, 09:00: 3 working days = Mon, Tue, Wed → end of Wed 2 Dec.
    due = await compute_deadline(db, limit={"working_days": 3}, start=local(2026, 11, 27, 9),
                                 policy=POLICY)
    assert due == local(2026, 12, 2, 23, 59, 59)
    # A start late on Friday evening changes nothing: the start day never counts.
    assert await compute_deadline(db, limit={"working_days": 1}, start=local(2026, 11, 27, 23, 30),
                                  policy=POLICY) == local(2026, 11, 30, 23, 59, 59)


async def test_national_day_2026_with_its_adjusted_saturday(db: Database) -> None:
    # Wed 30 Sep 2026: 1–7 Oct are holidays; Thu 8, Fri 9 and the adjusted Saturday 10 Oct work.
    due = await compute_deadline(db, limit={"working_days": 3}, start=local(2026, 9, 30, 10),
                                 policy=POLICY)
    assert due == local(2026, 10, 10, 23, 59, 59)
    # Without the adjusted workday it would be Monday 12 Oct: prove the table is what decides.
    plain = WorkCalendar(covered_years=frozenset({2026}),
                         holidays=frozenset(local(2026, 10, d).date() for d in range(1, 8)))
    assert deadline_for({"working_days": 3}, local(2026, 9, 30, 10), tz=POLICY.tz,
                        calendar=plain) == local(2026, 10, 12, 23, 59, 59)


async def test_spring_festival_2026(db: Database) -> None:
    # Fri 13 Feb 2026: Sat 14 Feb is an adjusted workday, 15–23 Feb the holiday, Tue 24 back.
    due = await compute_deadline(db, limit={"working_days": 2}, start=local(2026, 2, 13, 16),
                                 policy=POLICY)
    assert due == local(2026, 2, 24, 23, 59, 59)


async def test_hours_run_round_the_clock(db: Database) -> None:
    start = local(2026, 10, 1, 22)  # a holiday night: urgent work does not wait
    due = await compute_deadline(db, limit={"hours": 6}, start=start, policy=POLICY)
    assert due == start.astimezone(UTC) + timedelta(hours=6)


async def test_uncovered_year_raises_a_clear_error(db: Database) -> None:
    with pytest.raises(CalendarNotCovered) as err:
        await compute_deadline(db, limit={"working_days": 13}, start=local(2026, 12, 24, 10),
                               policy=POLICY)
    assert "does not cover 2027" in err.value.message
    assert "PUT /api/v1/calendar/2027" in err.value.message
    assert err.value.details["year"] == 2027


async def test_an_entered_year_is_used(db: Database) -> None:
    from datetime import date

    await repo.replace_calendar_year(
        db, year=2027, holidays={date(2027, 1, 1): "New Year"}, workdays={}, now=local(2026, 12, 1),
        by="admin")
    # Thu 24 Dec 2026 + 6 working days: 25, 28, 29, 30, 31 Dec, (1 Jan holiday), Mon 4 Jan.
    due = await compute_deadline(db, limit={"working_days": 6}, start=local(2026, 12, 24, 10),
                                 policy=POLICY)
    assert due == local(2027, 1, 4, 23, 59, 59)
