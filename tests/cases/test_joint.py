"""Joint cases (联勤联动, issue 22) at the domain level: a lead and assisting units, each with its
own accept/feedback and deadline; the case waits for all; each unit is red on its own clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases import joint, lifecycle, lists, workflow
from cases.colour import unit_colour
from cases.errors import BadCaseInput, NotYourCase, TransitionNotAllowed
from cases.model import Actor
from gridlink.clock import FakeClock
from gridlink.db import Database, Document
from tests.cases.conftest import CENTER, CITY_MGMT, POLICY, ROADS, NewCase

GREENERY = Actor(role="department", unit="D05", name="Greenery Sun")
HOUSING = Actor(role="department", unit="D09", name="Housing Qian")


async def _keys(db: Database, case_id: str) -> set[str]:
    return {d["k"] for d in await db.case_keys.find({"c": case_id}).to_list(None)}


async def _joint(db: Database, clock: FakeClock, new_case: NewCase,
                 assisting: list[str] | None = None) -> Document:
    case = await new_case()
    return await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    policy=POLICY, unit="D07",
                                    assisting=["D02"] if assisting is None else assisting)


def test_the_table_has_the_joint_rows() -> None:
    assert workflow.transition("assist").guard == "center"
    for action in ("part_accept", "part_return", "part_feedback", "part_extend"):
        row = workflow.transition(action)
        assert row.guard == "assisting" and row.part_sources and row.target is None
    assert workflow.PART_ACTIONS == ("part_accept", "part_return", "part_feedback", "part_extend")
    assert workflow.transition("part_decide").guard == "center"


async def test_dispatch_with_assisting_units(db: Database, clock: FakeClock,
                                             new_case: NewCase) -> None:
    case = await _joint(db, clock, new_case, ["D02", "D05"])
    assert [(p["unit"], p["state"]) for p in case["parts"]] == [("D02", "dispatched"),
                                                                ("D05", "dispatched")]
    assert all(p["due_at"] == case["deadline"] for p in case["parts"])  # the category's limit
    assert case["history"][-1]["data"]["assisting"] == ["D02", "D05"]
    # the assisting units see the case and have it in their lists (scalar a:<unit> keys)
    assert {"D02", "D05", "D07"} <= set(case["assigned_units"])
    assert {"a:D07", "a:D02", "a:D05"} <= await _keys(db, case["_id"])
    mine = await lists.assigned_open(db, unit="D02")
    assert [c["_id"] for c in mine] == [case["_id"]]
    # a case without assisting units has no parts, as before
    plain = await new_case()
    plain = await lifecycle.dispatch(db, case_ref=plain["_id"], actor=CENTER, now=clock.now(),
                                     policy=POLICY, unit="D07")
    assert plain["parts"] == [] and not plain["waiting_parts"]


async def test_bad_assisting_units_are_refused(db: Database, clock: FakeClock,
                                               new_case: NewCase) -> None:
    case = await new_case()
    with pytest.raises(BadCaseInput, match="lead unit"):
        await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                 policy=POLICY, unit="D07", assisting=["D07"])
    with pytest.raises(BadCaseInput, match="units"):
        await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                 policy=POLICY, unit="D07", assisting=["", 3])  # type: ignore[list-item]


async def test_parts_by_role_and_state(db: Database, clock: FakeClock, new_case: NewCase) -> None:
    case = await _joint(db, clock, new_case)
    # roles: the lead is not an assisting unit, nor a unit without a part; the center is not one
    for actor in (ROADS, GREENERY, CENTER):
        with pytest.raises(NotYourCase):
            await joint.part_accept(db, case_ref=case["_id"], actor=actor, now=clock.now())
    # the assisting unit cannot take the lead's steps
    with pytest.raises(NotYourCase):
        await lifecycle.accept(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now())
    assert workflow.allowed_actions(CITY_MGMT, case) == ["part_accept", "part_return", "part_extend"]
    # state: feedback before accepting is refused (409), then the part's steps in order
    with pytest.raises(TransitionNotAllowed, match="part that is dispatched"):
        await joint.part_feedback(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now(),
                                  policy=POLICY, text="done")
    case = await joint.part_accept(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now())
    assert case["state"] == "dispatched"  # the case's own state is the lead's
    assert joint.part_of(case, "D02")["state"] == "in_progress"
    with pytest.raises(TransitionNotAllowed):
        await joint.part_accept(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now())
    with pytest.raises(BadCaseInput, match="text"):
        await joint.part_feedback(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now(),
                                  policy=POLICY, text=" ")
    assert [e["action"] for e in case["history"]][-1] == "part_accept"
    events = await db.events.find({"case_id": case["_id"]}).to_list(None)
    assert "case.part_accepted" in {e["type"] for e in events}
    # the center adds a unit later (assist); only the center may
    with pytest.raises(NotYourCase):
        await joint.assist(db, case_ref=case["_id"], actor=ROADS, now=clock.now(), policy=POLICY,
                           units=["D05"])
    case = await joint.assist(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                              policy=POLICY, units=["D05"])
    assert [p["unit"] for p in case["parts"]] == ["D02", "D05"]
    assert joint.part_of(case, "D02")["state"] == "in_progress"  # kept its progress


async def test_the_case_waits_for_every_part(db: Database, clock: FakeClock,
                                             new_case: NewCase) -> None:
    case = await _joint(db, clock, new_case)
    case = await lifecycle.accept(db, case_ref=case["_id"], actor=ROADS, now=clock.now())
    case = await joint.part_accept(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now())
    clock.advance(hours=2)
    case = await lifecycle.feedback(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                    policy=POLICY, text="road patched")
    assert case["state"] == "in_progress" and case["waiting_parts"]
    assert case["history"][-1]["data"]["waiting_for"] == ["D02"]
    assert case["due_at"] == joint.part_of(case, "D02")["due_at"]  # the case runs on D02's clock
    # the lead has fed back: no second feedback, no return, no extension
    with pytest.raises(TransitionNotAllowed, match="waits for its assisting"):
        await lifecycle.feedback(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                 policy=POLICY, text="again")
    assert workflow.allowed_actions(ROADS, case) == []
    with pytest.raises(TransitionNotAllowed):  # verification waits for all
        await lifecycle.verify(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               policy=POLICY, ok=True)
    case = await joint.part_feedback(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now(),
                                     policy=POLICY, text="stall removed")
    assert case["state"] == "awaiting_verification" and not case["waiting_parts"]
    # verification sees each feedback
    assert case["result"]["text"] == "road patched"
    assert joint.part_of(case, "D02")["feedback"]["text"] == "stall removed"
    # a failed verification sends the lead and the parts it names back (units of the case only)
    with pytest.raises(BadCaseInput, match="D05"):
        await lifecycle.verify(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                               policy=POLICY, ok=False, note="x", parts=["D05"])
    case = await lifecycle.verify(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  policy=POLICY, ok=False, note="not clean", parts=["D02"])
    assert case["state"] == "in_progress" and joint.part_of(case, "D02")["state"] == "in_progress"
    assert case["history"][-1]["data"]["parts"] == ["D02"]
    assert workflow.allowed_actions(CITY_MGMT, case) == ["part_return", "part_feedback", "part_extend"]


async def test_a_part_returned_is_not_waited_for(db: Database, clock: FakeClock,
                                                 new_case: NewCase) -> None:
    case = await _joint(db, clock, new_case)
    case = await lifecycle.accept(db, case_ref=case["_id"], actor=ROADS, now=clock.now())
    case = await lifecycle.feedback(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                    policy=POLICY, text="done")
    with pytest.raises(BadCaseInput, match="reason"):
        await joint.part_return(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now(),
                                policy=POLICY, reason=None)
    case = await joint.part_return(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now(),
                                   policy=POLICY, reason="not ours")
    assert case["state"] == "awaiting_verification"
    assert "a:D02" not in await _keys(db, case["_id"])


async def test_one_late_department_is_red_for_itself_only(db: Database, clock: FakeClock,
                                                          new_case: NewCase) -> None:
    case = await _joint(db, clock, new_case)
    case = await lifecycle.accept(db, case_ref=case["_id"], actor=ROADS, now=clock.now())
    case = await joint.part_accept(db, case_ref=case["_id"], actor=CITY_MGMT, now=clock.now())
    # the lead asks for (and gets) more time; D02 keeps the category's 5 working days
    case = await lifecycle.request_extension(db, case_ref=case["_id"], actor=ROADS,
                                             now=clock.now(), policy=POLICY, reason="asphalt",
                                             hours=24 * 20)
    case = await lifecycle.decide_extension(db, case_ref=case["_id"], actor=CENTER,
                                            now=clock.now(), policy=POLICY, approve=True)
    part_due = joint.part_of(case, "D02")["due_at"]
    assert case["deadline"] > part_due
    clock.set(part_due + timedelta(hours=3))
    now = clock.now()
    await lists.sweep_red(db, now=now)  # what the pages showing red run
    keys = await _keys(db, case["_id"])
    assert "r:D02" in keys and "r:D07" not in keys
    assert unit_colour(case, "D02", now) == "red" and unit_colour(case, "D07", now) != "red"
    # D02 feeds back late: recorded as late for D02; the lead is still on time
    case = await joint.part_feedback(db, case_ref=case["_id"], actor=CITY_MGMT, now=now,
                                     policy=POLICY, text="late but done")
    assert joint.part_of(case, "D02")["feedback"]["on_time"] is False
    assert "r:D02" not in await _keys(db, case["_id"])
    case = await lifecycle.feedback(db, case_ref=case["_id"], actor=ROADS, now=now,
                                    policy=POLICY, text="road patched")
    assert case["result"]["on_time"] is True and case["state"] == "awaiting_verification"
    case = await lifecycle.verify(db, case_ref=case["_id"], actor=CENTER, now=now,
                                  policy=POLICY, ok=True)
    # the case as a whole was not on time: one of its units was late
    assert case["closed_on_time"] is False


async def test_a_part_asks_for_more_time_and_the_center_decides(db: Database, clock: FakeClock,
                                                                new_case: NewCase) -> None:
    case = await _joint(db, clock, new_case, ["D02", "D05"])
    due = joint.part_of(case, "D02")["due_at"]
    # role: the lead's extension is not the part's; only the part's unit asks for it
    with pytest.raises(NotYourCase):
        await joint.part_request_extension(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                           policy=POLICY, reason="x", hours=24)
    with pytest.raises(BadCaseInput, match="exactly one"):
        await joint.part_request_extension(db, case_ref=case["_id"], actor=CITY_MGMT,
                                           now=clock.now(), policy=POLICY, reason="x")
    with pytest.raises(TransitionNotAllowed):  # nothing asked yet
        await joint.part_decide_extension(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                          policy=POLICY, unit="D02", approve=True)
    case = await joint.part_request_extension(db, case_ref=case["_id"], actor=CITY_MGMT,
                                              now=clock.now(), policy=POLICY,
                                              reason="the owner is away", hours=48)
    assert joint.part_of(case, "D02")["extension"]["status"] == "pending"
    assert "part_extend" not in workflow.allowed_actions(CITY_MGMT, case)  # one at a time
    assert "part_extend" in workflow.allowed_actions(GREENERY, case)
    assert "part_decide" in workflow.allowed_actions(CENTER, case)
    with pytest.raises(TransitionNotAllowed, match="already waiting"):
        await joint.part_request_extension(db, case_ref=case["_id"], actor=CITY_MGMT,
                                           now=clock.now(), policy=POLICY, reason="x", hours=1)
    with pytest.raises(NotYourCase):
        await joint.part_decide_extension(db, case_ref=case["_id"], actor=CITY_MGMT,
                                          now=clock.now(), policy=POLICY, unit="D02", approve=True)
    with pytest.raises(BadCaseInput, match="D02"):  # D05 asked nothing
        await joint.part_decide_extension(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                          policy=POLICY, unit="D05", approve=True)
    with pytest.raises(BadCaseInput, match="reason"):  # a refusal says why
        await joint.part_decide_extension(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                          policy=POLICY, unit="D02", approve=False)
    case = await joint.part_decide_extension(db, case_ref=case["_id"], actor=CENTER,
                                             now=clock.now(), policy=POLICY, unit="D02",
                                             approve=True)
    part = joint.part_of(case, "D02")
    assert part["due_at"] == due + timedelta(hours=48) and part["extension"]["status"] == "approved"
    assert joint.part_of(case, "D05")["due_at"] == due and case["deadline"] == due  # theirs alone
    assert [e["action"] for e in case["history"]][-2:] == ["part_request_extension",
                                                           "part_decide_extension"]


async def test_an_assisting_unit_cannot_also_lead(db: Database, clock: FakeClock,
                                                  new_case: NewCase) -> None:
    case = await _joint(db, clock, new_case)
    case = await lifecycle.return_case(db, case_ref=case["_id"], actor=ROADS, now=clock.now(),
                                       policy=POLICY, reason="not roads")
    with pytest.raises(BadCaseInput, match="assists this case"):
        await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                 policy=POLICY, unit="D02")
    case = await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    policy=POLICY, unit="D05")
    assert case["assignee"]["unit"] == "D05" and [p["unit"] for p in case["parts"]] == ["D02"]
