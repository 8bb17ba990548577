"""Who hears a joint case (联勤联动, issue 22): the assisting department gets its own assignment
with its part's deadline and its own buttons (the same accept/return/done; its unit picks the
part), the center hears "waiting for" when the lead reports first, then the part's result,
and only the last feedback asks the reporter "is it fixed?"."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from cases import joint, lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.buttons import parse_assignment
from gridlink.clock import FakeClock
from gridlink.db import Database
from notify import notifier
from notify.config import NotifyConfig
from notify.repository import OUTBOX_SHARDS
from tests.notify.conftest import (
    BLOCK,
    DEPT,
    DEPT_HANDLER,
    DISTRICT,
    LEADER,
    STATION,
    STREET,
    STREET_DISPATCHER,
)

POLICY = CasePolicy(district=DISTRICT, serial_prefix="A", timezone="Asia/Shanghai")
CENTER = Actor(role="dispatcher", unit=STREET, name="Center Li")
LEAD = Actor(role="leader", unit=BLOCK, name="Leader")
POLICE = Actor(role="department", unit=DEPT, name="Police")
PLACEMENT = {"community_block": BLOCK, "street_block": None, "workstation": STATION,
             "street": STREET, "patrol_zone": None, "district": DISTRICT, "snapped": False,
             "distance_m": 0.0}
REPORTER = 5301


async def _outbox(db: Database, chat: int) -> list[dict[str, Any]]:
    found = await db[f"outbox_{chat % OUTBOX_SHARDS:02d}"].find({"chat_id": chat}).to_list(None)
    return sorted(found, key=lambda m: m["created_at"] if "created_at" in m else m["_id"])


async def _drain(db: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    while await notifier.process_batch(db, cfg, now=clock.now(), worker="w1"):
        pass


async def test_each_unit_and_the_center_hear_their_part(district: Database, cfg: NotifyConfig,
                                                        clock: FakeClock) -> None:
    db = district
    opened = await intake(db, policy=POLICY, now=clock.now(), channel="citizen_bot",
                          kind="complaint", category="group_renting", description="七楼群租",
                          actor={"role": "citizen", "user_id": REPORTER, "chat_id": REPORTER},
                          reporter={"user_id": REPORTER, "chat_id": REPORTER, "locale": "en"},
                          location={"lon": 121.48, "lat": 31.23}, placement=PLACEMENT)
    case = await lifecycle.dispatch(db, case_ref=opened.case["_id"], actor=CENTER,
                                    now=clock.now(), policy=POLICY, unit=BLOCK, assisting=[DEPT])
    await _drain(db, cfg, clock)
    police = [m for m in await _outbox(db, DEPT_HANDLER) if m.get("text")]
    assert len(police) == 1 and "联勤联动" in police[0]["text"]
    assert "一号责任块" in police[0]["text"]  # the lead, by name
    markup = police[0]["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    buttons = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    parsed = {parse_assignment(b[2:]) for b in buttons}  # type: ignore[index]
    assert {p[0] for p in parsed if p} == {"accept", "return", "extend"}  # its part's
    leader = [m for m in await _outbox(db, LEADER) if m.get("text")]
    assert len(leader) == 1 and "联勤联动" not in leader[0]["text"]

    case = await lifecycle.accept(db, case_ref=case["_id"], actor=LEAD, now=clock.now())
    case = await joint.part_accept(db, case_ref=case["_id"], actor=POLICE, now=clock.now())
    case = await lifecycle.feedback(db, case_ref=case["_id"], actor=LEAD, now=clock.now(),
                                    policy=POLICY, text="tenants moved out")
    await _drain(db, cfg, clock)
    center = [m["text"] for m in await _outbox(db, STREET_DISPATCHER)]
    assert any("等待协办" in t and "公安分局" in t for t in center)
    assert not any("待核查" in t for t in center)  # not to verify yet
    assert not any("fixed" in (m.get("text") or "") for m in await _outbox(db, REPORTER))

    case = await joint.part_feedback(db, case_ref=case["_id"], actor=POLICE, now=clock.now(),
                                     policy=POLICY, text="checked the permits")
    await _drain(db, cfg, clock)
    center = [m["text"] for m in await _outbox(db, STREET_DISPATCHER)]
    assert any("协办反馈" in t and "checked the permits" in t for t in center)
    assert any("待核查" in t for t in center)  # now to verify
    assert any("fixed" in (m.get("text") or "") for m in await _outbox(db, REPORTER))


async def test_a_part_has_its_own_reminder_red_alert_and_escalation(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    from notify import repository as notify_repo
    from notify import schedule

    db = district
    opened = await intake(db, policy=POLICY, now=clock.now(), channel="citizen_bot",
                          kind="complaint", category="group_renting", description="七楼群租",
                          actor={"role": "citizen", "user_id": REPORTER, "chat_id": REPORTER},
                          reporter={"user_id": REPORTER, "chat_id": REPORTER, "locale": "en"},
                          location={"lon": 121.48, "lat": 31.23}, placement=PLACEMENT)
    case = await lifecycle.dispatch(db, case_ref=opened.case["_id"], actor=CENTER,
                                    now=clock.now(), policy=POLICY, unit=BLOCK, assisting=[DEPT])
    case = await lifecycle.accept(db, case_ref=case["_id"], actor=LEAD, now=clock.now())
    case = await lifecycle.feedback(db, case_ref=case["_id"], actor=LEAD, now=clock.now(),
                                    policy=POLICY, text="tenants moved out")
    await _drain(db, cfg, clock)
    jobs = {j["_id"].split(":", 1)[1] for j in await db.schedule.find({"case_id": case["_id"]}).to_list(None)
            if j.get("state") == "pending"}
    # the lead has reported: no handling step of its own; the police's part runs on its clock
    assert not any(j.startswith("handling:") for j in jobs)
    assert {f"part-{DEPT}:remind:0", f"part-{DEPT}:red:0", f"part-{DEPT}:escalate:1"} <= jobs
    # at the part's deadline the red alert goes to the police, not to the lead's block
    due = joint.part_of(case, DEPT)["due_at"]
    clock.set(due + timedelta(minutes=1))
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    red = await notify_repo.find_messages(db, query={"kind": "schedule.red"})
    assert sorted(m["chat_id"] for m in red) == [DEPT_HANDLER]
    stored = await db.cases.find_one({"_id": case["_id"]})
    assert any(e["action"] in ("remind", "escalate") and e["data"]["step"] == f"part-{DEPT}"
               for e in stored["history"])


async def test_a_parts_extension_is_told_to_the_center_then_to_the_part(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    opened = await intake(db, policy=POLICY, now=clock.now(), channel="hotline_12345",
                          kind="complaint", category="group_renting", description="七楼群租",
                          actor=CENTER, reporter={"phone": "13800138000"}, placement=PLACEMENT)
    case = await lifecycle.dispatch(db, case_ref=opened.case["_id"], actor=CENTER,
                                    now=clock.now(), policy=POLICY, unit=BLOCK, assisting=[DEPT])
    case = await joint.part_request_extension(db, case_ref=case["_id"], actor=POLICE,
                                              now=clock.now(), policy=POLICY,
                                              reason="permits at the court", hours=48)
    await _drain(db, cfg, clock)
    center = [m["text"] for m in await _outbox(db, STREET_DISPATCHER)]
    assert any("延期申请" in t and "公安分局" in t and "permits at the court" in t for t in center)
    case = await joint.part_decide_extension(db, case_ref=case["_id"], actor=CENTER,
                                             now=clock.now(), policy=POLICY, unit=DEPT,
                                             approve=True)
    await _drain(db, cfg, clock)
    police = [m["text"] for m in await _outbox(db, DEPT_HANDLER)]
    assert any("延期已批准" in t for t in police)
    assert not any("延期已批准" in (m.get("text") or "") for m in await _outbox(db, LEADER))
