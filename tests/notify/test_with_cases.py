"""The notifier and schedule on the real events of `cases/`: one citizen complaint, end to end."""

from __future__ import annotations

import json

from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.clock import FakeClock
from gridlink.db import Database
from notify import notifier, schedule
from notify import repository as repo
from notify.config import NotifyConfig
from tests.notify.conftest import BLOCK, DISTRICT, HEAD, LEADER, STATION, STREET, STREET_DISPATCHER

POLICY = CasePolicy(district=DISTRICT, serial_prefix="A", timezone="Asia/Shanghai")
CENTER = Actor(role="dispatcher", unit=STREET, name="Center Li")
LEADER_ACTOR = Actor(role="leader", unit=BLOCK, name="Leader Wu", user_id=LEADER, chat_id=LEADER)
CITIZEN_CHAT = 4242
PLACEMENT = {"community_block": BLOCK, "street_block": None, "workstation": STATION,
             "street": STREET, "patrol_zone": None, "district": DISTRICT, "snapped": False,
             "distance_m": 0.0}


async def kinds_for(db: Database, chat: int) -> list[str]:
    return [m["kind"] for m in await repo.find_messages(db, query={"chat_id": chat})]


async def test_a_complaint_from_intake_to_rating_request(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district

    async def process() -> None:
        while await notifier.process_batch(db, cfg, now=clock.now(), worker="w1"):
            pass
        await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")

    opened = await intake(db, policy=POLICY, now=clock.now(), channel="citizen_bot",
                          kind="complaint", category="group_renting",
                          description="七楼群租，人员进出频繁",
                          actor={"role": "citizen", "user_id": CITIZEN_CHAT,
                                 "chat_id": CITIZEN_CHAT},
                          reporter={"user_id": CITIZEN_CHAT, "chat_id": CITIZEN_CHAT,
                                    "locale": "en"},
                          location={"lon": 121.4737, "lat": 31.2304}, placement=PLACEMENT)
    case = await lifecycle.dispatch(db, case_ref=opened.case["_id"], actor=CENTER,
                                    now=clock.now(), policy=POLICY)
    assert case["assignee"]["unit"] == BLOCK
    await process()
    [assigned] = await repo.find_messages(db, query={"chat_id": LEADER})
    assert assigned["kind"] == "case.assigned" and case["serial"] in assigned["text"]
    markup = json.loads(assigned["reply_markup"])
    assert markup["inline_keyboard"][0][0]["callback_data"] == \
        f"c:accept:{case['_id']}:{case['version']}"
    jobs = {j["_id"]: j for j in await db.schedule.find({"case_id": case["_id"]}).to_list(None)}
    assert jobs[f"{case['_id']}:handling:red:0"]["due_at"] == case["deadline"]

    # The leader accepts and asks for more time; the street center hears of the request.
    case = await lifecycle.accept(db, case_ref=case["_id"], actor=LEADER_ACTOR, now=clock.now())
    until = case["deadline"] + (case["deadline"] - case["dispatched_at"])
    case = await lifecycle.request_extension(db, case_ref=case["_id"], actor=LEADER_ACTOR,
                                             now=clock.now(), policy=POLICY,
                                             reason="需要联合执法", until=until)
    await process()
    assert await kinds_for(db, STREET_DISPATCHER) == ["case.extension_requested"]

    # Approved: the red alert moves to the new deadline.
    old_deadline = case["deadline"]
    case = await lifecycle.decide_extension(db, case_ref=case["_id"], actor=CENTER,
                                            now=clock.now(), policy=POLICY, approve=True)
    await process()
    red = await db.schedule.find_one({"_id": f"{case['_id']}:handling:red:0"})
    assert red is not None and red["due_at"] == case["deadline"] == until
    clock.set(old_deadline)
    await process()
    assert "schedule.red" not in await kinds_for(db, LEADER)
    clock.set(until)
    await process()
    assert (await kinds_for(db, LEADER)).count("schedule.red") == 1
    assert await kinds_for(db, HEAD) == ["schedule.escalation"]

    # Feedback, verification, closing: the reporter is asked to rate; nothing more is due.
    case = await lifecycle.feedback(db, case_ref=case["_id"], actor=LEADER_ACTOR,
                                    now=clock.now(), policy=POLICY, text="已清退群租")
    case = await lifecycle.verify(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  policy=POLICY, ok=True, callback="满意")
    assert case["state"] == "closed"
    await process()
    # the citizen hears every step that matters to them (issue 17): dispatched, extended, the
    # result, closed
    assert await kinds_for(db, CITIZEN_CHAT) == ["case.assigned", "case.extension_decided",
                                                 "case.feedback", "case.closed"]
    rate = (await repo.find_messages(db, query={"chat_id": CITIZEN_CHAT, "kind": "case.closed"}))[0]
    assert rate["locale"] == "en" and rate["on_sent"] == {"rating_prompt": case["_id"]}
    assert await db.schedule.count_documents({"case_id": case["_id"], "state": "pending"}) == 0
    assert await db.events.count_documents({"case_id": case["_id"],
                                            "notify_state": {"$ne": "done"}}) == 0
