"""Every step of a case has an owner who hears: the step's limit passes, its owner is reminded
before, the next level is told after, once each across a worker restart, and the case's
history shows both (issue 18)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from cases.categories import Category, Offset, StepNotices, step_notices
from cases.repository import get_case
from gridlink.clock import FakeClock
from gridlink.db import Database, Document
from notify import notifier, schedule
from notify import repository as repo
from notify.config import NotifyConfig
from tests.notify.conftest import (
    DEPT,
    DISTRICT,
    DISTRICT_DISPATCHER,
    LEADER,
    STREET_DISPATCHER,
    case_doc,
    emit,
    hours,
)

MIN = timedelta(minutes=1)


def _reported(start: datetime) -> Document:
    doc = case_doc("s00001", now=start, state="reported", deadline=None)
    doc.update(assignee=None, due_at=start + timedelta(minutes=30), dispatched_at=None)
    return doc


def _returned(start: datetime) -> Document:
    doc = case_doc("s00002", now=start, state="returned", deadline=None)
    doc.update(assignee=None, due_at=start + timedelta(minutes=30), history=[
        {"seq": 1, "at": start, "action": "return", "from": "dispatched", "to": "returned",
         "actor": {"role": "leader", "unit": "310101001001001"}, "reason": "不归我们管"}])
    return doc


def _verification(start: datetime) -> Document:
    doc = case_doc("s00003", now=start, state="awaiting_verification", deadline=start + hours(2))
    doc.update(due_at=start + hours(24), result={"text": "已清理", "at": start})
    return doc


def _extension(start: datetime) -> Document:
    doc = case_doc("s00004", now=start, state="in_progress", deadline=start + hours(120))
    doc["extension"] = {"status": "pending", "requested_at": start, "until": start + hours(200),
                        "reason": "需要协调"}
    return doc


# step → (case, event that shaped it, reminder time, limit, reminder's words, escalation's words)
STEPS: dict[str, tuple[Any, str, timedelta, timedelta, str, str]] = {
    # 30 dispatch minutes: a working day before is before the step began → at 75 %.
    "dispatch": (_reported, "case.reported", timedelta(minutes=22, seconds=30),
                 timedelta(minutes=30), "待派遣即将超时", "[Dispatch overdue]"),
    "redispatch": (_returned, "case.returned", timedelta(minutes=22, seconds=30),
                   timedelta(minutes=30), "退单待重派即将超时", "[Re-dispatch overdue]"),
    "verification": (_verification, "case.feedback", hours(18), hours(24), "待核查即将超时",
                     "[Verification overdue]"),
    # the category's extension_hours default (normal: 8 h)
    "extension": (_extension, "case.extension_requested", hours(6), hours(8), "延期待审批",
                  "[Extension decision overdue]"),
}


async def _notices(db: Database, case_id: str) -> list[tuple[str, str, int]]:
    case = await get_case(db, ref=case_id)
    return [(e["action"], e["data"]["step"], e["data"]["level"]) for e in case["history"]
            if e["action"] in ("remind", "escalate")]


async def _told(db: Database, chat: int, kind: str, step: str | None = None) -> list[Document]:
    found = await repo.find_messages(db, query={"chat_id": chat, "kind": kind})
    return [m for m in found if step is None or f":{step}:" in m["_id"]]


@pytest.mark.parametrize("step", list(STEPS))
async def test_the_steps_owner_is_reminded_then_escalated_once_across_a_restart(
        step: str, district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    build, event, remind_after, limit, remind_words, escalate_words = STEPS[step]
    start = clock.now()
    case = build(start)
    await db.cases.insert_one(case)
    await emit(db, case, 50, event, at=start, reason="—")
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    jobs = {j["_id"] for j in await db.schedule.find({"case_id": case["_id"]}).to_list(None)}
    assert {f"{case['_id']}:{step}:remind:0", f"{case['_id']}:{step}:escalate:1"} <= jobs

    # Nothing before the reminder; at it, the center (the owner of the step) hears, once.
    clock.set(start + remind_after - timedelta(seconds=1))
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    assert await _told(db, STREET_DISPATCHER, "schedule.reminder") == []
    clock.set(start + remind_after)
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    [reminder] = await _told(db, STREET_DISPATCHER, "schedule.reminder")
    assert remind_words in reminder["text"] and case["serial"] in reminder["text"]
    assert await _notices(db, case["_id"]) == [("remind", step, 0)]

    # At the limit worker w1 claims the escalation and dies before sending it.
    clock.set(start + limit)
    claimed = await repo.claim_jobs(db, now=clock.now(), lease=cfg.lease, worker="w1", limit=50)
    assert f"{case['_id']}:{step}:escalate:1" in {j["_id"] for j in claimed}
    # The restarted worker (w2) takes it over after the lease: the district center hears.
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w2")
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w2")
    assert await _told(db, DISTRICT_DISPATCHER, "schedule.escalation") == []  # still leased
    clock.advance(cfg.lease + timedelta(seconds=1))
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w2")
    [escalation] = await _told(db, DISTRICT_DISPATCHER, "schedule.escalation")
    assert escalate_words in escalation["text"] and escalation["locale"] == "en"

    # Another restart, the notice events processed, days later: nobody hears anything twice.
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w3")
    clock.advance(timedelta(days=20))
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w3")
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w3")
    # (a pending extension's case also runs its handling step, which has its own notices)
    assert len(await _told(db, STREET_DISPATCHER, "schedule.reminder", step)) == 1
    assert len(await _told(db, DISTRICT_DISPATCHER, "schedule.escalation", step)) == 1
    assert [n for n in await _notices(db, case["_id"]) if n[1] == step] == [
        ("remind", step, 0), ("escalate", step, 1)]
    escalated = next(e for e in (await get_case(db, ref=case["_id"]))["history"]
                     if e["action"] == "escalate" and e["data"]["step"] == step)
    assert escalated["to"] == case["state"] and escalated["actor"]["role"] == "system"
    assert escalated["data"]["told"] == [DISTRICT]
    assert (await get_case(db, ref=case["_id"]))["state"] == case["state"]


async def test_an_urgent_handling_step_escalates_in_minutes_and_a_department_to_its_head(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    """gas_leak is urgent: 30 min before, then at the limit, +1 h, +4 h; a department's first
    level is its head, then the district center."""
    db = district
    head = 1099
    await db.roster.insert_one({"_id": "u1099", "chat_id": head, "user_id": head,
                                "role": "department_head", "unit": DEPT, "name": "head",
                                "locale": "zh-CN"})
    start = clock.now()
    case = case_doc("s00005", now=start, deadline=start + hours(2), unit=DEPT, kind="department")
    case["category"] = "gas_leak"
    await db.cases.insert_one(case)
    await emit(db, case, 50, "case.assigned", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    due = {j["_id"].split(":", 1)[1]: j["due_at"]
           for j in await db.schedule.find({"case_id": "s00005"}).to_list(None)}
    limit = start + hours(2)
    assert due == {"handling:remind:0": limit - 30 * MIN, "handling:red:0": limit,
                   "handling:escalate:1": limit, "handling:escalate:2": limit + 60 * MIN}
    clock.set(limit)
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    assert [m["kind"] for m in await repo.find_messages(db, query={"chat_id": head})] == [
        "schedule.escalation"]
    clock.set(limit + 60 * MIN)
    await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")
    assert len(await _told(db, DISTRICT_DISPATCHER, "schedule.escalation")) == 1
    assert await _told(db, LEADER, "schedule.escalation") == []


async def test_a_category_sets_its_own_offsets_and_stored_categories_keep_working(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    # A category stored before the notices existed: the defaults of its urgency.
    old = {"_id": "legacy", "urgency": "normal", "limit": {"working_days": 3}}
    assert step_notices(old, "handling").remind_before == Offset(minutes=None, working_days=1)
    # One that sets verification's: 2 h before, then 10 min after the limit.
    mine = Category.model_validate({
        "code": "group_renting", "name_zh": "群租", "name_en": "Group renting",
        "layer": "community", "level": "block", "limit": {"working_days": 10},
        "notices": {"verification": {"remind_before": {"minutes": 120},
                                     "escalate_after": [{"minutes": 10}]}}})
    doc = mine.to_doc()
    assert Category.from_doc(doc).notices["verification"] == StepNotices(
        remind_before=Offset(minutes=120, working_days=None),
        escalate_after=[Offset(minutes=10, working_days=None)])
    await db.categories.replace_one({"_id": "group_renting"}, doc)
    start = clock.now()
    case = _verification(start)
    await db.cases.insert_one(case)
    await emit(db, case, 50, "case.feedback", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    due = {j["_id"].split(":", 1)[1]: j["due_at"]
           for j in await db.schedule.find({"case_id": case["_id"]}).to_list(None)}
    assert due == {"verification:remind:0": start + hours(22),
                   "verification:escalate:1": start + hours(24) + 10 * MIN}
    with pytest.raises(ValueError, match="unknown step"):
        Category.model_validate({**mine.model_dump(), "notices": {"lunch": doc["notices"]["verification"]}})
