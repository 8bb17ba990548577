"""Joint cases in the statistics (联勤联动, issue 22): the board and the assessment credit each
department with its own part — a late assisting department is red and overdue for itself only,
the lead on its own clock — and the folded statistics equal the recomputed ones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from cases import joint, lifecycle
from cases.intake import intake
from cases.model import CasePolicy
from gridlink.clock import FakeClock
from gridlink.db import Database
from stats import repository as repo
from stats.facts import part_entries
from stats.rollups import normalise, recompute
from tests.stats.conftest import folded

POLICY = CasePolicy()
CENTER = {"role": "dispatcher", "unit": "310101", "name": "center"}
ROADS = {"role": "department", "unit": "D03", "name": "一中队"}
HELPER = {"role": "department", "unit": "D08", "name": "协办组"}
PLACEMENT = {"district": "310101", "street": "310101001", "workstation": "310101001001",
             "community_block": "310101001001001", "street_block": None, "patrol_zone": None,
             "snapped": False, "distance_m": 0.0}


async def _joint(db: Database, clock: FakeClock) -> dict[str, Any]:
    """A case led by D03 (given 20 more days) with D08 assisting on the category's limit."""
    made = await intake(db, policy=POLICY, now=clock.now(), channel="hotline_12345",
                        kind="complaint", category="road_damage", description="pothole and stall",
                        actor=CENTER, reporter={"phone": "13800138000"}, placement=PLACEMENT)
    ref = made.case["_id"]
    await lifecycle.dispatch(db, case_ref=ref, actor=CENTER, now=clock.now(), policy=POLICY,
                             unit="D03", unit_kind="department", assisting=["D08"])
    await lifecycle.accept(db, case_ref=ref, actor=ROADS, now=clock.now())
    await joint.part_accept(db, case_ref=ref, actor=HELPER, now=clock.now())
    await lifecycle.request_extension(db, case_ref=ref, actor=ROADS, now=clock.now(),
                                      policy=POLICY, reason="asphalt", hours=24 * 20)
    return await lifecycle.decide_extension(db, case_ref=ref, actor=CENTER, now=clock.now(),
                                            policy=POLICY, approve=True)


async def test_each_department_is_credited_with_its_own_part(
        client: TestClient[Any, Any], db: Database, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 10, 1, 0, tzinfo=UTC))
    # 1: both report in time and the case closes
    done = await _joint(db, clock)
    assert joint.part_of(done, "D08")["kind"] == "department"
    await joint.part_feedback(db, case_ref=done["_id"], actor=HELPER, now=clock.now(),
                              policy=POLICY, text="stall moved")
    await lifecycle.feedback(db, case_ref=done["_id"], actor=ROADS, now=clock.now(),
                             policy=POLICY, text="patched")
    await lifecycle.verify(db, case_ref=done["_id"], actor=CENTER, now=clock.now(),
                           policy=POLICY, ok=True)
    # 2: still open; D08's part runs past its deadline, the lead's does not
    late = await _joint(db, clock)
    part_due = joint.part_of(late, "D08")["due_at"]
    clock.set(part_due + timedelta(hours=2))
    now = clock.now()
    await folded(db, now=now)

    # the folded statistics are the recomputed ones (lists and rollups)
    cases = await db.cases.find({}).to_list(None)
    rollups, opens = recompute(cases)
    assert normalise(await repo.all_rollups(db)) == normalise(rollups)
    stored = {k: v for k, v in (await repo.all_open(db)).items() if v}
    assert stored == {k: v for k, v in opens.items() if v}
    assert set(stored["dp:D08"]) == {late["_id"]} and set(stored["dp:D03"]) == {late["_id"]}
    assert part_entries(await db.cases.find_one({"_id": done["_id"]})) == {}

    # the board: red for D08 only
    board = await (await client.get("/api/v1/stats/board")).json()
    depts = {r["unit"]: r for r in board["sections"]["departments"]}
    assert depts["D08"]["red"] == 1 and depts["D08"]["open"] == 1
    assert depts["D03"]["red"] == 0 and depts["D03"]["open"] == 1

    # the assessment: each its own part
    body = await (await client.get("/api/v1/stats/assessment?month=2026-11")).json()
    rows = {r["unit"]: r for r in body["tables"]["departments"]}
    assert (rows["D08"]["received"], rows["D08"]["handled"], rows["D08"]["overdue_open"]) == (2, 1, 1)
    assert (rows["D03"]["received"], rows["D03"]["handled"], rows["D03"]["overdue_open"]) == (2, 1, 0)
    assert rows["D08"]["closed"] == 1 and rows["D03"]["closed"] == 1
    # a department's teams: the assisting team is counted in its own department
    teams = await (await client.get("/api/v1/stats/assessment?month=2026-11&unit=D08")).json()
    assert "协办组" in {r["team"] for r in teams["tables"]["teams"]}

    # the lead reports first: the case waits on D08's (late) clock, which stays D08's alone
    waiting = await lifecycle.feedback(db, case_ref=late["_id"], actor=ROADS, now=now,
                                       policy=POLICY, text="patched")
    assert waiting["waiting_parts"] and waiting["due_at"] == part_due
    await folded(db, now=now)
    board = await (await client.get("/api/v1/stats/board")).json()
    depts = {r["unit"]: r for r in board["sections"]["departments"]}
    assert depts["D08"]["red"] == 1 and (depts["D03"]["red"], depts["D03"]["open"]) == (0, 1)
    rollups, opens = recompute(await db.cases.find({}).to_list(None))
    assert normalise(await repo.all_rollups(db)) == normalise(rollups)
    assert {k: v for k, v in (await repo.all_open(db)).items() if v} == {
        k: v for k, v in opens.items() if v}
    body = await (await client.get("/api/v1/stats/assessment?month=2026-11")).json()
    rows = {r["unit"]: r for r in body["tables"]["departments"]}
    assert rows["D08"]["overdue_open"] == 1 and rows["D03"]["overdue_open"] == 0
