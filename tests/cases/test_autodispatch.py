"""Automatic dispatch (issue 22) in the domain: a category's rule dispatches a new case when its
placement is certain and the target unit has an active member, never otherwise; the center
takes an automatic assignment back."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cases import autodispatch, lifecycle, lists
from cases import repository as repo
from cases.categories import AutoDispatch, Category
from cases.errors import NotYourCase, TransitionNotAllowed
from cases.model import Actor
from cases.workflow import allowed_actions
from gridlink.clock import FakeClock
from gridlink.db import Database, Document
from tests.cases.conftest import CENTER, PLACEMENT, POLICY, NewCase

BLOCK = PLACEMENT["community_block"]
STREET_BLOCK = "310101001901001"
LEADER = Actor(role="leader", unit=BLOCK, name="Leader Wu", user_id=5101, chat_id=5101)
GARBAGE = {"category": "exposed_garbage", "kind": "hazard", "channel": "patrol_bot",
           "description": "Bags of rubbish dumped by the gate",
           "reporter": {"user_id": 6001, "chat_id": 6001}}


async def set_rule(db: Database, clock: FakeClock, code: str, **rule: Any) -> None:
    doc = await repo.get_category(db, code=code)
    category = Category.from_doc(doc)
    category.auto_dispatch = AutoDispatch(**rule)
    await repo.put_category(db, category=category, now=clock.now(), by="test")


async def bind(db: Database, user_id: int, role: str, unit: str, **extra: Any) -> None:
    await db.roster.insert_one({"_id": user_id, "user_id": user_id, "chat_id": user_id,
                                "role": role, "unit": unit, "name": f"m{user_id}", "locale": "en",
                                **extra})


async def run_rule(db: Database, clock: FakeClock, case: Document) -> Document | None:
    return await autodispatch.dispatch_new(db, case=case, now=clock.now(), policy=POLICY)


async def keys(db: Database, case_id: str) -> set[str]:
    return {d["k"] for d in await db.case_keys.find({"c": case_id}).to_list(None)}


async def test_rules_are_off_by_default_and_stored_with_the_category(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    assert all(not c.auto_dispatch.enabled for c in
               [Category.from_doc(d) for d in await repo.list_categories(db)])
    await bind(db, 5101, "leader", BLOCK)
    case = await new_case(**GARBAGE)
    assert await run_rule(db, clock, case) is None
    assert (await autodispatch.decide(db, case)).why == "no rule"
    await set_rule(db, clock, "exposed_garbage", enabled=True, to="community_block")
    stored = await db.categories.find_one({"_id": "exposed_garbage"})
    assert stored is not None and stored["auto_dispatch"] == {"enabled": True, "to": "community_block"}


async def test_a_rule_dispatches_a_certain_case_to_the_blocks_leader(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    await set_rule(db, clock, "exposed_garbage", enabled=True, to="community_block")
    await bind(db, 5101, "leader", BLOCK)
    case = await new_case(**GARBAGE)
    # exposed garbage is a street-surface matter: routing alone proposes the street center
    assert case["proposed_assignee"]["kind"] == "street"
    done = await run_rule(db, clock, case)
    assert done is not None and done["state"] == "dispatched"
    assert done["assignee"]["unit"] == BLOCK and done["assignee"]["kind"] == "block"
    assert done["auto_dispatched"] is True and done["deadline"] is not None
    entry = done["history"][-1]
    assert entry["action"] == "dispatch" and entry["actor"] == {"role": "system", "name": "auto-dispatch"}
    assert entry["data"]["auto"] == {"rule": "community_block", "category": "exposed_garbage"}
    event = await db.events.find_one({"_id": f"{done['_id']}:{entry['seq']}"})
    assert event is not None and event["type"] == "case.assigned"
    # in the center's auto-dispatched list, for every unit of its area
    assert {f"q:auto:{u}" for u in done["units"]} <= await keys(db, done["_id"])
    assert await lists.count(db, key=f"q:auto:{PLACEMENT['street']}") == 1
    # once only: the same case read again does not fire
    assert await run_rule(db, clock, done) is None


async def test_the_proposed_rule_follows_routing_to_a_block_or_a_department(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    await set_rule(db, clock, "road_damage", enabled=True)  # to="proposed": the department D07
    await bind(db, 7001, "department", "D07")
    done = await run_rule(db, clock, await new_case())
    assert done is not None and done["assignee"]["unit"] == "D07"
    # a street-surface block matter proposes the street center: no rule sends a case there
    await set_rule(db, clock, "illegal_ads", enabled=True)
    ads = await new_case(category="illegal_ads")
    assert await run_rule(db, clock, ads) is None
    assert (await autodispatch.decide(db, ads)).why == "no unit"


@pytest.mark.parametrize("change,why", [
    ({"placement": {**PLACEMENT, "snapped": True, "distance_m": 12.0}}, "placement uncertain"),
    ({"location": None, "placement": None, "channel": "hotline_12345", "kind": "complaint"},
     "placement uncertain"),  # address-only
    ({"placement": {**PLACEMENT, "community_block": None}}, "placement uncertain"),
])
async def test_no_dispatch_when_placement_is_uncertain(
        db: Database, clock: FakeClock, new_case: NewCase, change: dict[str, Any], why: str) -> None:
    await set_rule(db, clock, "exposed_garbage", enabled=True, to="community_block")
    await bind(db, 5101, "leader", BLOCK)
    case = await new_case(**{**GARBAGE, **change})
    assert (await autodispatch.decide(db, case)).why == why
    assert await run_rule(db, clock, case) is None
    assert (await repo.get_case(db, ref=case["_id"]))["state"] == "reported"


@pytest.mark.parametrize("roster,why", [
    ([], "no active member"),
    ([(5102, "coordinator", BLOCK, {})], "no active member"),  # a patrol is not the handler
    ([(5103, "leader", BLOCK, {"unreachable": True})], "no active member"),  # Telegram refused
    ([(5104, "leader", "310101001001002", {})], "no active member"),  # another block's leader
])
async def test_no_dispatch_when_the_unit_has_no_active_member(
        db: Database, clock: FakeClock, new_case: NewCase,
        roster: list[tuple[int, str, str, dict[str, Any]]], why: str) -> None:
    await set_rule(db, clock, "exposed_garbage", enabled=True, to="community_block")
    for user_id, role, unit, extra in roster:
        await bind(db, user_id, role, unit, **extra)
    case = await new_case(**GARBAGE)
    assert (await autodispatch.decide(db, case)).why == why
    assert await run_rule(db, clock, case) is None


async def test_no_dispatch_of_a_case_the_center_already_touched(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    await set_rule(db, clock, "exposed_garbage", enabled=True, to="community_block")
    await bind(db, 5101, "leader", BLOCK)
    case = await new_case(**GARBAGE)
    supervised = await lifecycle.supervise(db, case_ref=case["_id"], actor=CENTER, now=clock.now())
    assert await run_rule(db, clock, supervised) is None
    # a stale read loses to the center's change (version check), and does nothing
    assert await run_rule(db, clock, case) is None
    assert (await repo.get_case(db, ref=case["_id"]))["state"] == "reported"


async def test_take_back_returns_the_case_to_the_dispatch_queue(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    await set_rule(db, clock, "exposed_garbage", enabled=True, to="community_block")
    await bind(db, 5101, "leader", BLOCK)
    done = await run_rule(db, clock, await new_case(**GARBAGE))
    assert done is not None
    assert "take_back" in allowed_actions(CENTER, done)
    assert "take_back" not in allowed_actions(LEADER, done)
    with pytest.raises(NotYourCase):
        await autodispatch.take_back(db, case_ref=done["_id"], actor=LEADER, now=clock.now(),
                                     policy=POLICY)
    accepted = await lifecycle.accept(db, case_ref=done["_id"], actor=LEADER, now=clock.now())
    clock.advance(minutes=5)
    back = await autodispatch.take_back(db, case_ref=done["_id"], actor=CENTER, now=clock.now(),
                                        policy=POLICY, reason="needs the street team",
                                        expected_version=accepted["version"])
    assert back["state"] == "reported" and back["assignee"] is None and back["queue"] == "new"
    assert back["auto_dispatched"] is False and back["deadline"] is None
    assert back["due_at"] == clock.now() + timedelta(minutes=back["dispatch_minutes"])
    entry = back["history"][-1]
    assert (entry["action"], entry["from"], entry["to"]) == ("take_back", "in_progress", "reported")
    assert entry["data"]["assignee"]["unit"] == BLOCK and entry["reason"] == "needs the street team"
    assert not any(k.startswith("q:auto:") for k in await keys(db, back["_id"]))
    # the rule never fires again on it; the center dispatches by hand, which is not automatic
    assert await run_rule(db, clock, back) is None
    again = await lifecycle.dispatch(db, case_ref=back["_id"], actor=CENTER, now=clock.now(),
                                     policy=POLICY, unit=PLACEMENT["street"])
    assert again["auto_dispatched"] is False and "take_back" not in allowed_actions(CENTER, again)
    with pytest.raises(TransitionNotAllowed):
        await autodispatch.take_back(db, case_ref=again["_id"], actor=CENTER, now=clock.now(),
                                     policy=POLICY)
