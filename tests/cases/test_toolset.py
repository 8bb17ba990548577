"""The center's toolset (issue 22) at the domain level: not accepted / void, suspend and resume,
direct answer, re-file, re-place — each allowed and refused by role and state, in the history."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cases import lifecycle, workflow
from cases.errors import BadCaseInput, NotYourCase, TransitionNotAllowed
from cases.model import FINAL_STATES, OPEN_STATES, SYSTEM, Actor
from cases.schema import derived
from gridlink.clock import FakeClock
from gridlink.db import Database
from grids.errors import OutsideDistrict
from grids.placement import GridIndex
from tests.cases.conftest import CENTER, CITIZEN, POLICY, ROADS, NewCase

OTHER_STREET = Actor(role="dispatcher", unit="310101009", name="Other street")
TOOLSET = ("refuse", "void", "suspend", "resume", "direct_answer", "refile", "replace")
LIFE = ("dispatch", "accept", "return", "extend", "decide", "feedback", "verify", "supervise",
        "merge", "rate", "answer", *TOOLSET)


def acts(actor: Actor, case: dict[str, Any]) -> list[str]:
    """The workflow's actions for the actor (moderation's rows, open in any state, left out)."""
    return [a for a in workflow.allowed_actions(actor, case) if a in LIFE]


async def _events(db: Database, case_id: str) -> list[str]:
    docs = [d async for d in db.events.find({"case_id": case_id})]
    docs.sort(key=lambda d: int(d["_id"].rsplit(":", 1)[1]))
    return [d["type"] for d in docs]


def test_the_table_has_the_new_rows() -> None:
    for action in ("refuse", "void", "suspend", "resume", "direct_answer", "refile", "replace"):
        row = workflow.transition(action)
        assert row.guard == "center"
    assert set(("refused", "voided")) <= set(FINAL_STATES)
    assert "suspended" not in OPEN_STATES and "suspended" not in FINAL_STATES


# ---------------------------------------------------------------- not accepted / void


async def test_refuse_a_report_with_a_listed_reason(db: Database, clock: FakeClock,
                                                    new_case: NewCase) -> None:
    case = await new_case()
    with pytest.raises(NotYourCase):
        await lifecycle.refuse(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                               action="refuse", reason_code="prank")
    with pytest.raises(NotYourCase):  # another street's center: not its area
        await lifecycle.refuse(db, case_ref=case["_id"], actor=OTHER_STREET, now=clock.now(),
                               action="refuse", reason_code="prank")
    with pytest.raises(BadCaseInput, match="reason_code"):
        await lifecycle.refuse(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               action="refuse", reason_code="bored")
    done = await lifecycle.refuse(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  action="refuse", reason_code="not_in_jurisdiction",
                                  note="Pudong's")
    assert done["state"] == "refused" and done["due_at"] is None
    assert done["refusal"]["code"] == "not_in_jurisdiction" and done["refusal"]["note"] == "Pudong's"
    last = done["history"][-1]
    assert (last["action"], last["from"], last["to"], last["actor"]["name"]) == (
        "refuse", "reported", "refused", "Center Li")
    assert (await _events(db, case["_id"]))[-1] == "case.refused"
    assert derived(done)["queue"] is None and derived(done)["open_unit"] is None
    # final: nothing more, not even a void
    assert acts(CENTER, done) == []
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.refuse(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               action="void", reason_code="prank")


async def test_void_only_after_dispatch(db: Database, clock: FakeClock, new_case: NewCase) -> None:
    case = await new_case()
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.refuse(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               action="void", reason_code="prank")
    case = await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    policy=POLICY)
    with pytest.raises(TransitionNotAllowed):  # refusing is for reports not dispatched yet
        await lifecycle.refuse(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               action="refuse", reason_code="prank")
    with pytest.raises(NotYourCase):  # the assignee cannot void its own work away
        await lifecycle.refuse(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                               action="void", reason_code="prank")
    done = await lifecycle.refuse(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  action="void", reason_code="duplicate_of_closed")
    assert done["state"] == "voided" and done["assignee"]["unit"] == "D07"
    assert (await _events(db, case["_id"]))[-1] == "case.voided"


# ---------------------------------------------------------------- suspend and resume


async def test_suspend_leaves_the_clock_and_resume_restarts_it(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    case = await new_case()
    case = await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    policy=POLICY)
    case = await lifecycle.accept(db, case_ref=case["_id"], actor=ROADS, now=clock.now())
    review = clock.now() + timedelta(days=30)
    with pytest.raises(NotYourCase):
        await lifecycle.suspend(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                reason="budget", review_at=review)
    with pytest.raises(BadCaseInput, match="reason"):
        await lifecycle.suspend(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                reason=" ", review_at=review)
    with pytest.raises(BadCaseInput, match="future"):
        await lifecycle.suspend(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                reason="budget", review_at=clock.now() - timedelta(hours=1))
    with pytest.raises(BadCaseInput, match="year"):
        await lifecycle.suspend(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                reason="budget", review_at=clock.now() + timedelta(days=400))
    held = await lifecycle.suspend(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                   reason="awaiting next year's budget", review_at=review)
    assert held["state"] == "suspended" and held["review_at"] == review
    assert held["due_at"] is None and held["suspension"]["from"] == "in_progress"
    fields = derived(held)
    assert fields["queue"] == "suspended" and fields["due_hour"] is None and fields["open_unit"] is None
    # long past the old deadline: a suspended case is never red, nor in any red list
    from cases.colour import colour_of
    from cases.lists import keys_of
    later = clock.now() + timedelta(days=20)
    assert colour_of(held, later) != "red"
    assert [k for k in keys_of(held, later) if k.startswith(("r:", "a:"))] == []
    assert any(k.startswith("q:suspended:") for k in keys_of(held, later))
    assert acts(CENTER, held) == ["void", "resume"]
    assert acts(ROADS, held) == []
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.suspend(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                reason="again", review_at=review)
    with pytest.raises(NotYourCase):
        await lifecycle.resume(db, case_ref=case["_id"], actor=ROADS, now=clock.now(), policy=POLICY)
    clock.advance(timedelta(days=3))
    back = await lifecycle.resume(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  policy=POLICY, note="the budget came early")
    assert back["state"] == "in_progress" and back["review_at"] is None
    assert back["deadline"] > clock.now() and back["due_at"] == back["deadline"]
    assert back["history"][-1]["action"] == "resume" and back["history"][-1]["to"] == "in_progress"
    assert (await _events(db, case["_id"]))[-2:] == ["case.suspended", "case.resumed"]
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.resume(db, case_ref=case["_id"], actor=CENTER, now=clock.now(), policy=POLICY)


async def test_a_report_suspended_before_dispatch_comes_back_to_dispatch(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    case = await new_case()
    held = await lifecycle.suspend(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                   reason="policy pending", review_at=clock.now() + timedelta(days=7))
    clock.advance(timedelta(days=7))
    back = await lifecycle.resume(db, case_ref=held["_id"], actor=SYSTEM, now=clock.now(),
                                  policy=POLICY)
    assert back["state"] == "reported" and back["due_at"] > clock.now()
    assert back["history"][-1]["data"]["at_review"] is True
    assert derived(back)["queue"] == "new"


# ---------------------------------------------------------------- direct answer


async def test_direct_answer_closes_a_consultation_for_rating(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    complaint = await new_case()
    with pytest.raises(TransitionNotAllowed, match="consultation"):
        await lifecycle.direct_answer(db, case_ref=complaint["_id"], actor=CENTER,
                                      now=clock.now(), text="no")
    case = await new_case(kind="consultation", category="school_enrolment",
                          reporter={"user_id": CITIZEN.user_id, "chat_id": CITIZEN.chat_id})
    with pytest.raises(NotYourCase):
        await lifecycle.direct_answer(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                      text="x")
    with pytest.raises(BadCaseInput, match="text"):
        await lifecycle.direct_answer(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                      text="")
    done = await lifecycle.direct_answer(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                         text="Enrolment opens on 1 April")
    assert done["state"] == "closed" and done["closed_on_time"] is True
    assert done["result"]["text"] == "Enrolment opens on 1 April"
    assert (await _events(db, case["_id"]))[-1] == "case.closed"
    assert acts(CITIZEN, done) == ["rate"]
    rated = await lifecycle.rate(db, case_ref=case["_id"], actor=CITIZEN, now=clock.now(), score=5)
    assert rated["rating"]["score"] == 5
    # only from reported: a dispatched consultation goes the usual way
    other = await new_case(kind="consultation", category="school_enrolment")
    other = await lifecycle.dispatch(db, case_ref=other["_id"], actor=CENTER, now=clock.now(),
                                     policy=POLICY)
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.direct_answer(db, case_ref=other["_id"], actor=CENTER, now=clock.now(),
                                      text="x")


# ---------------------------------------------------------------- re-file and re-place


async def test_refile_moves_routing_limits_and_public_flag(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    case = await new_case(category="other", kind="complaint")
    assert case["proposed_assignee"]["unit"] == "310101001001001" and case["public"] is True
    with pytest.raises(NotYourCase):
        await lifecycle.refile(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                               policy=POLICY, category="road_damage", reason="x")
    with pytest.raises(BadCaseInput, match="reason"):
        await lifecycle.refile(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               policy=POLICY, category="road_damage", reason=None)
    with pytest.raises(BadCaseInput, match="already"):
        await lifecycle.refile(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               policy=POLICY, category="other", reason="same")
    road = await lifecycle.refile(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  policy=POLICY, category="road_damage", reason="a pothole")
    assert road["state"] == "reported" and road["category"] == "road_damage"
    assert road["proposed_assignee"]["unit"] == "D07" and road["limit"] == {"working_days": 5}
    assert road["category_name"]["en"] == "Damaged road or pavement"
    entry = road["history"][-1]
    assert (entry["action"], entry["data"]["from"], entry["data"]["to"], entry["reason"]) == (
        "refile", "other", "road_damage", "a pothole")
    secret = await lifecycle.refile(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    policy=POLICY, category="public_security", reason="a threat")
    assert secret["public"] is False and secret["urgency"] == "urgent"
    # dispatched: no more re-filing; on return it may be re-filed again
    sent = await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    policy=POLICY)
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.refile(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               policy=POLICY, category="road_damage", reason="x")
    police = Actor(role="department", unit="D01", name="Police")
    await lifecycle.return_case(db, case_ref=sent["_id"], actor=police, now=clock.now(),
                                policy=POLICY, reason="a road, not ours")
    again = await lifecycle.refile(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                   policy=POLICY, category="road_damage", reason="back to roads")
    assert again["state"] == "returned" and again["proposed_assignee"]["unit"] == "D07"
    assert (await _events(db, case["_id"])).count("case.refiled") == 3


async def test_replace_places_an_address_only_case(
        db: Database, clock: FakeClock, new_case: NewCase, grid: GridIndex,
        inside_point: tuple[float, float]) -> None:
    case = await new_case(category="group_renting", location=None, placement=None)
    assert case["placement"] is None and case["proposed_assignee"]["kind"] == "district"
    lon, lat = inside_point
    with pytest.raises(NotYourCase):
        await lifecycle.replace(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                policy=POLICY, location={"lon": lon, "lat": lat}, grid=grid)
    with pytest.raises(OutsideDistrict):
        await lifecycle.replace(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                policy=POLICY, location={"lon": 100.0, "lat": 20.0}, grid=grid)
    with pytest.raises(BadCaseInput):
        await lifecycle.replace(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                policy=POLICY, location={"lon": 500, "lat": 1}, grid=grid)
    placed = await lifecycle.replace(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                     policy=POLICY, location={"lon": lon, "lat": lat}, grid=grid,
                                     reason="the caller's address")
    block = placed["placement"]["community_block"]
    assert block and placed["proposed_assignee"] == {"unit": block, "kind": "block",
                                                     "name": placed["proposed_assignee"]["name"]}
    assert block in placed["units"] and placed["location"] == {"lon": lon, "lat": lat}
    entry = placed["history"][-1]
    assert entry["action"] == "replace" and entry["data"]["from"] is None and entry["data"]["block"] == block
    sent = await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    policy=POLICY)
    assert sent["assignee"]["unit"] == block
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.replace(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                policy=POLICY, location={"lon": lon, "lat": lat}, grid=grid)


# ---------------------------------------------------------------- statistics


async def test_refused_cases_are_counted_and_not_open(db: Database, clock: FakeClock,
                                                      new_case: NewCase) -> None:
    """The statistics fold the change log: a refused and a voided case count as received and
    refused (the 立案 indicator's complement), never as open; a suspended one stays received."""
    from zoneinfo import ZoneInfo

    from cases.changelog import derive_with
    from stats import hotspots, rollups

    derive_with(rollups.event_fields)  # as the app registers it at start
    refused = await new_case(category="road_damage")
    await lifecycle.refuse(db, case_ref=refused["_id"], actor=CENTER, now=clock.now(),
                           action="refuse", reason_code="prank")
    voided = await new_case(category="road_damage")
    voided = await lifecycle.dispatch(db, case_ref=voided["_id"], actor=CENTER, now=clock.now(),
                                      policy=POLICY)
    await lifecycle.refuse(db, case_ref=voided["_id"], actor=CENTER, now=clock.now(),
                           action="void", reason_code="insufficient_information")
    await new_case(category="road_damage")  # still open
    await rollups.fold(db, now=clock.now(), settled=True)
    today = clock.now().astimezone(ZoneInfo("Asia/Shanghai")).date()
    [row] = await hotspots.hotspots(db, by="category", start=today, end=today, today=today,
                                    now=clock.now())
    assert (row["key"], row["n"], row["open"], row["closed"]) == ("road_damage", 3, 1, 0)
    [row] = await hotspots.hotspots(db, by="category", start=today, end=today, today=today,
                                    measure="refused", now=clock.now())
    assert row["value"] == 2


async def test_a_case_placed_later_is_found_as_a_duplicate(
        db: Database, clock: FakeClock, new_case: NewCase, grid: GridIndex,
        inside_point: tuple[float, float]) -> None:
    lon, lat = inside_point
    case = await new_case(category="group_renting", location=None, placement=None)
    assert await lifecycle.likely_duplicates(db, category="group_renting",
                                             location={"lon": lon, "lat": lat}, photos=[],
                                             actor=CENTER, now=clock.now()) == []
    await lifecycle.replace(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                            policy=POLICY, location={"lon": lon, "lat": lat}, grid=grid)
    found = await lifecycle.likely_duplicates(db, category="group_renting",
                                              location={"lon": lon, "lat": lat}, photos=[],
                                              actor=CENTER, now=clock.now())
    assert [d["serial"] for d in found] == [case["serial"]]
