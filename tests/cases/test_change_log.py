"""The change log is the one record besides the case: an intake writes the case, its event and
the serial counter (3 documents), a transition the case, its version claim and its event; the
statistics and the duplicate search are derived from the events."""

from __future__ import annotations

from typing import Any

from cases import lifecycle
from cases.intake import intake
from gridlink.app import wire_domains
from gridlink.clock import FakeClock
from gridlink.db import Database
from stats import repository as stats_repo
from stats.rollups import fold
from tests.cases.conftest import CENTER, CITIZEN, POLICY

LOCATION = {"lon": 121.4737, "lat": 31.2304}
# Written once per database whatever the traffic (indexes' seeding and migration markers).
SEEDED = ("categories", "calendar_days", "calendar_years")
# The desk lists' index entries (cases.lists, issue 19): a transition moves a case between
# lists; an intake writes none (the "new" queue is read by the case's own field). The lists'
# counts are one `counters` document per unit, created by the first key of that unit.
INDEX_ENTRIES = ("case_keys", "counters")


def records(new: dict[str, int]) -> dict[str, int]:
    return {n: k for n, k in new.items() if n not in INDEX_ENTRIES}


async def counts(db: Database) -> dict[str, int]:
    names = [n for n in await db.list_collection_names() if n not in SEEDED]
    return {n: await db[n].count_documents({}) for n in names}


def added(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {n: k - before.get(n, 0) for n, k in after.items() if k != before.get(n, 0)}


async def report(db: Database, clock: FakeClock, **kw: Any) -> dict[str, Any]:
    res = await intake(db, policy=POLICY, now=clock.now(), channel="citizen_bot", kind="complaint",
                       category="road_damage", description="pothole", actor=CITIZEN,
                       location=LOCATION, **kw)
    return res.case


async def test_an_intake_writes_three_documents_and_a_transition_two(db: Database, clock: FakeClock) -> None:
    wire_domains()  # as every process does: the statistics derive their change at the event
    await report(db, clock)  # the day's serial counter exists from now on
    before = await counts(db)
    case = await report(db, clock)
    new = added(before, await counts(db))
    assert new == {"cases": 1, "events": 1}, new  # and the counter, incremented in place
    event = await db.events.find_one({"_id": f"{case['_id']}:1"})
    assert event is not None and {"k", "location", "stats", "sb"} <= set(event)  # spot, statistics

    before = await counts(db)
    await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(), policy=POLICY)
    assert records(added(before, await counts(db))) == {"events": 1, "case_claims": 1}


async def test_a_first_intake_over_a_fresh_database_writes_at_most_three(db: Database, clock: FakeClock) -> None:
    before = await counts(db)
    await report(db, clock)
    new = added(before, await counts(db))
    assert sum(new.values()) <= 3 and set(new) <= {"cases", "events", "counters"}, new


async def test_the_boards_count_changes_from_the_change_log(db: Database, clock: FakeClock) -> None:
    wire_domains()
    await report(db, clock)
    assert await stats_repo.pending(db)
    assert await fold(db, now=clock.now()) == 1
    assert not await stats_repo.pending(db)
    assert await fold(db, now=clock.now()) == 0  # counted once
    rollups = await stats_repo.all_rollups(db)
    assert any(cell.get("n") == 1 for doc in rollups.values() for cell in doc.values())
