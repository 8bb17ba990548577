"""The daily digest: each leader and center gets their unit's open cases by colour, once a day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gridlink.clock import FakeClock
from gridlink.db import Database
from notify import repository as repo
from notify import schedule
from notify.config import NotifyConfig
from tests.notify.conftest import (
    DEPT_HANDLER,
    DISTRICT_DISPATCHER,
    HEAD,
    LEADER,
    STREET_DISPATCHER,
    case_doc,
)

# 08:30 in Shanghai on 28 November
DIGEST_AT = datetime(2026, 11, 28, 0, 30, tzinfo=UTC)


async def test_digest_counts_colours_per_unit_at_the_configured_local_time(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    t = DIGEST_AT
    shapes = {  # case → (warn_at, due_at) at digest time
        "d1": (t - timedelta(hours=6), t - timedelta(hours=2)),    # red, turned red today
        "d2": (t - timedelta(days=4), t - timedelta(days=3)),      # red for days
        "d3": (t - timedelta(hours=1), t + timedelta(hours=1)),    # yellow
        "d4": (t + timedelta(hours=5), t + timedelta(hours=10)),   # blue
    }
    for case_id, (warn, due) in shapes.items():
        doc = case_doc(case_id, now=t - timedelta(days=5), deadline=due)
        doc["warn_at"] = warn
        await db.cases.insert_one(doc)
    closed = case_doc("d5", now=t - timedelta(days=5), state="closed", deadline=t)
    await db.cases.insert_one(closed)

    # 09:00 local on the 27th: today's digest time has passed, tomorrow's is planned.
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    job = await db.schedule.find_one({"kind": "digest"})
    assert job is not None and job["_id"] == "digest:2026-11-28" and job["due_at"] == t
    clock.set(t - timedelta(seconds=1))
    assert (await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")).digests == 0
    clock.set(t)
    stats = await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    assert stats.digests == 1

    digests = {m["chat_id"]: m for m in await repo.find_messages(db, query={"kind": "digest"})}
    assert set(digests) == {LEADER, HEAD, STREET_DISPATCHER, DISTRICT_DISPATCHER, DEPT_HANDLER}
    leader = digests[LEADER]["text"]
    assert "未办结 4 件：红 2，黄 1，蓝 1" in leader and "新超时 1 件" in leader
    head = digests[HEAD]["text"]  # English, the workstation over the block
    assert "Open: 4 — red 2, yellow 1, blue 1" in head and "yesterday: 1" in head
    assert "Open: 4" in digests[DISTRICT_DISPATCHER]["text"]
    assert "未办结 0 件" in digests[DEPT_HANDLER]["text"]  # nothing assigned to the department

    # Once a day: firing again queues nothing new, and the next day's job is planned.
    clock.advance(minutes=5)
    assert (await schedule.fire_due(db, cfg, now=clock.now(), worker="w2")).digests == 0
    assert await repo.count_messages(db, query={"kind": "digest"}) == 5
    assert await db.schedule.find_one({"_id": "digest:2026-11-29"}) is not None


async def test_the_district_digest_warns_from_1_october_while_next_year_is_not_entered(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    """2027 is not entered (the package has no adjusted workdays for it): on 30 September
    nobody is warned; from 1 October the district center's digest says so, the street's does
    not; once an admin enters 2027 the warning stops."""
    from datetime import date

    from cases.repository import replace_calendar_year

    db = district
    assert await db.calendar_years.find_one({"_id": 2027}) is None
    sep30 = datetime(2026, 9, 30, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai
    clock.set(sep30 - timedelta(hours=12))
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    for day in (sep30, sep30 + timedelta(days=1)):
        clock.set(day)
        assert (await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")).digests == 1

    def texts(chat: int) -> list[str]:
        return [m["text"] for m in sorted(digests, key=lambda m: m["_id"]) if m["chat_id"] == chat]

    digests = await repo.find_messages(db, query={"kind": "digest"})
    sep, oct1 = texts(DISTRICT_DISPATCHER)
    assert "2026-09-30" in sep and "2027" not in sep
    assert "2026-10-01" in oct1 and "The 2027 holidays and adjusted workdays are not entered" in oct1
    assert all("2027" not in text for text in texts(STREET_DISPATCHER) + texts(LEADER))

    await replace_calendar_year(db, year=2027, holidays={date(2027, 1, 1): "元旦"}, workdays={},
                                now=clock.now(), by="admin")
    clock.set(sep30 + timedelta(days=2))
    assert (await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")).digests == 1
    digests = await repo.find_messages(db, query={"kind": "digest"})
    assert "2027" not in texts(DISTRICT_DISPATCHER)[-1]
