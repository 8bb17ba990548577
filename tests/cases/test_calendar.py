"""Working days: weekends, Chinese holidays with adjusted workdays, uncovered years."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from cases import lifecycle
from cases import repository as repo
from cases.calendar import WorkCalendar, deadline_for
from cases.errors import BadCaseInput
from cases.lifecycle import compute_deadline
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import CENTER, POLICY, NewCase, local


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


async def test_an_entered_year_is_used(db: Database) -> None:
    from datetime import date

    await repo.replace_calendar_year(
        db, year=2027, holidays={date(2027, 1, 1): "New Year"}, workdays={}, now=local(2026, 12, 1),
        by="admin")
    # Thu 24 Dec 2026 + 6 working days: 25, 28, 29, 30, 31 Dec, (1 Jan holiday), Mon 4 Jan.
    due = await compute_deadline(db, limit={"working_days": 6}, start=local(2026, 12, 24, 10),
                                 policy=POLICY)
    assert due == local(2027, 1, 4, 23, 59, 59)


async def test_next_year_is_provisional_not_refused(db: Database) -> None:
    """2027 is not published: its statutory holidays come from the law's rules, no adjusted
    workday is guessed, and the deadline says it is provisional."""
    fields = await lifecycle._deadline(db, limit={"working_days": 5}, start=local(2026, 12, 30, 10),
                                       policy=POLICY)
    # 31 Dec, (1 Jan New Year, weekend), 4, 5, 6, 7 Jan
    assert fields["deadline"] == local(2027, 1, 7, 23, 59, 59)
    assert fields["deadline_provisional"] is True
    assert fields["deadline_basis"] == {"start": local(2026, 12, 30, 10), "limit": {"working_days": 5}}
    # within 2026 nothing is provisional
    inside = await lifecycle._deadline(db, limit={"working_days": 2}, start=local(2026, 12, 1, 10),
                                       policy=POLICY)
    assert inside["deadline_provisional"] is False


async def test_provisional_spring_festival_2027(db: Database) -> None:
    # Fri 29 Jan 2027 + 10 working days: 1–4 Feb, (5–10 Feb Spring Festival by the lunar calendar,
    # 5, 8, 9, 10 being weekdays), 11, 12, 15, 16, 17, 18 Feb.
    due = await compute_deadline(db, limit={"working_days": 10}, start=local(2027, 1, 29, 10),
                                 policy=POLICY)
    assert due == local(2027, 2, 18, 23, 59, 59)


def test_package_agrees_with_chinesecalendar_on_published_years() -> None:
    """One source for working days: `holidays` gives the same working days as `chinesecalendar`
    on every published year, adjusted workdays included."""
    from datetime import date

    import chinese_calendar
    import holidays

    china = holidays.China(years=range(2020, 2027))
    day = date(2020, 1, 1)
    while day.year < 2027:
        assert china.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


async def test_entering_the_year_recomputes_provisional_deadlines(db: Database, clock: FakeClock,
                                                                  new_case: NewCase) -> None:
    from datetime import date

    clock.set(local(2026, 12, 30, 10))
    case = await new_case()
    case = await db.cases.find_one_and_update(
        {"_id": case["_id"]}, {"$set": {"limit": {"working_days": 5}}}, return_document=True)
    case = await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(), policy=POLICY)
    assert case["deadline"] == local(2027, 1, 7, 23, 59, 59) and case["deadline_provisional"] is True
    assert case["history"][-1]["data"]["provisional"] is True
    with pytest.raises(BadCaseInput, match="2027-01-02 is both"):
        await lifecycle.enter_calendar_year(db, year=2027, holidays={date(2027, 1, 2): "x"},
                                            workdays={date(2027, 1, 2): "y"}, now=clock.now(),
                                            by="admin", policy=POLICY)
    with pytest.raises(BadCaseInput, match="2026-12-31 is not in 2027"):
        await lifecycle.enter_calendar_year(db, year=2027, holidays={date(2026, 12, 31): "x"},
                                            workdays={}, now=clock.now(), by="admin", policy=POLICY)
    # The State Council publishes: 1 Jan off, and (say) Sunday 3 Jan an adjusted workday.
    changed = await lifecycle.enter_calendar_year(
        db, year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={date(2027, 1, 3): "调休上班"},
        now=clock.now(), by="admin", policy=POLICY)
    assert [c["_id"] for c in changed] == [case["_id"]]
    case = await repo.get_case(db, ref=case["_id"])
    assert case["deadline"] == local(2027, 1, 6, 23, 59, 59) and case["deadline_provisional"] is False
    assert case["history"][-1]["action"] == "recompute_deadline"
    event = await db.events.find_one({"_id": f"{case['_id']}:{case['history'][-1]['seq']}"})
    assert event is not None and event["type"] == "case.deadline_changed"
    assert event["data"]["assignee"]["unit"] == case["assignee"]["unit"]
    # entered: nothing left to recompute
    assert await lifecycle.recompute_provisional_deadlines(db, now=clock.now(), policy=POLICY) == []
