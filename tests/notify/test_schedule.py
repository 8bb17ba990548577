"""Reminders, red alerts and escalations on the durable schedule, driven by an injected clock."""

from __future__ import annotations

import asyncio
import json
import os
import tracemalloc
from datetime import datetime, timedelta

from gridlink.clock import FakeClock
from gridlink.db import Database
from notify import notifier, schedule
from notify import repository as repo
from notify.config import NotifyConfig
from tests.notify.conftest import (
    CITIZEN,
    DEPT,
    DEPT_HANDLER,
    DISTRICT_DISPATCHER,
    HEAD,
    LEADER,
    STREET_DISPATCHER,
    add_case,
    case_doc,
    emit,
    hours,
    outbox_for,
)


async def fire(db: Database, cfg: NotifyConfig, clock: FakeClock) -> schedule.FireStats:
    return await schedule.fire_due(db, cfg, now=clock.now(), worker="w1")


async def chats_told(db: Database, kind: str) -> list[int]:
    return sorted(m["chat_id"] for m in await repo.find_messages(db, query={"kind": kind}))


async def test_reminder_red_and_each_escalation_fire_on_time_to_the_right_chats(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    start = clock.now()
    case = await add_case(db, case_id="c00001", now=start, deadline=start + hours(8))
    await emit(db, case, 2, "case.assigned", at=start)
    assert await notifier.process_batch(db, cfg, now=start, worker="w1") == 1

    assigned = await outbox_for(db, LEADER)
    assert len(assigned) == 1 and assigned[0]["kind"] == "case.assigned"
    assert case["serial"] in assigned[0]["text"] and "群租" in assigned[0]["text"]
    buttons = [b["callback_data"] for row in json.loads(assigned[0]["reply_markup"])["inline_keyboard"]
               for b in row]
    # What the workflow table offers the assigned leader on a dispatched case: "done" (the
    # table's feedback) comes once it is accepted.
    assert buttons == ["c:accept:c00001:2", "c:return:c00001:2", "c:extend:c00001:2"]

    # 75 % of the 8 h limit is 6 h: nothing a second before, the reminder at 6 h.
    clock.set(start + hours(6) - timedelta(seconds=1))
    assert (await fire(db, cfg, clock)).fired == 0
    clock.set(start + hours(6))
    assert (await fire(db, cfg, clock)).fired == 1
    assert await chats_told(db, "schedule.reminder") == [LEADER]

    clock.set(start + hours(8) - timedelta(seconds=1))
    assert (await fire(db, cfg, clock)).fired == 0
    # At the deadline: the red alert to the leader, and the station head (first level up).
    clock.set(start + hours(8))
    assert (await fire(db, cfg, clock)).fired == 2
    assert await chats_told(db, "schedule.red") == [LEADER]
    assert await chats_told(db, "schedule.escalation") == [HEAD]
    head_msg = (await outbox_for(db, HEAD))[0]
    assert head_msg["locale"] == "en" and "overdue" in head_msg["text"].lower()

    # A normal category escalates in working days (cases.categories.DEFAULT_NOTICES): the
    # deadline is Friday 17:00, so +1 working day is Monday 17:00 (the street center) and +3
    # is Wednesday 17:00 (the district center); then nothing more.
    clock.set(start + hours(80) - timedelta(seconds=1))
    assert (await fire(db, cfg, clock)).fired == 0
    clock.set(start + hours(80))
    assert (await fire(db, cfg, clock)).fired == 1
    assert await chats_told(db, "schedule.escalation") == [HEAD, STREET_DISPATCHER]
    clock.set(start + hours(128) - timedelta(seconds=1))
    assert (await fire(db, cfg, clock)).fired == 0
    clock.set(start + hours(128))
    assert (await fire(db, cfg, clock)).fired == 1
    assert await chats_told(db, "schedule.escalation") == [
        HEAD, STREET_DISPATCHER, DISTRICT_DISPATCHER]
    clock.set(start + hours(300))
    assert (await fire(db, cfg, clock)).fired == 0
    # Re-processing the same event queues nothing new (deterministic ids).
    await db.events.update_many({}, {"$set": {"notify_state": "new"}})
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w2")
    assert len(await outbox_for(db, LEADER)) == 3
    assert (await fire(db, cfg, clock)).fired == 0


async def test_department_escalates_straight_to_the_district(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    start = clock.now()
    case = await add_case(db, case_id="c00002", now=start, deadline=start + hours(2), unit=DEPT,
                          kind="department")
    await emit(db, case, 2, "case.assigned", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    assert [m["kind"] for m in await outbox_for(db, DEPT_HANDLER)] == ["case.assigned"]
    clock.set(start + hours(2))
    await fire(db, cfg, clock)
    assert await chats_told(db, "schedule.red") == [DEPT_HANDLER]
    assert await chats_told(db, "schedule.escalation") == [DISTRICT_DISPATCHER]
    jobs = await db.schedule.find({"case_id": "c00002"}).to_list(None)
    # A department escalates to its head (nobody bound here: the next level, the district).
    assert sorted(j["_id"] for j in jobs) == ["c00002:handling:escalate:1",
                                              "c00002:handling:escalate:2",
                                              "c00002:handling:red:0", "c00002:handling:remind:0"]


async def test_extension_moves_pending_reminders(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    start = clock.now()
    case = await add_case(db, case_id="c00003", now=start, deadline=start + hours(8))
    await emit(db, case, 2, "case.assigned", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    clock.set(start + hours(6))
    await fire(db, cfg, clock)
    assert await chats_told(db, "schedule.reminder") == [LEADER]

    # The center approves an extension to 16 h after dispatch.
    new_deadline = start + hours(16)
    await db.cases.update_one({"_id": case["_id"]}, {"$set": {
        "deadline": new_deadline, "due_at": new_deadline, "version": 4}})
    await emit(db, case, 4, "case.extension_decided", at=clock.now(), approved=True,
               deadline=new_deadline)
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w1")
    approved = [m for m in await outbox_for(db, LEADER) if m["kind"] == "case.extension_decided"]
    assert len(approved) == 1 and "延期已批准" in approved[0]["text"]
    job = await db.schedule.find_one({"_id": "c00003:handling:remind:0"})
    assert job is not None and job["state"] == "pending"
    assert job["due_at"] == start + hours(12)

    # The old deadline passes quietly; the new reminder and red alert come at their times.
    clock.set(start + hours(8))
    assert (await fire(db, cfg, clock)).fired == 0
    clock.set(start + hours(12))
    assert (await fire(db, cfg, clock)).fired == 1
    assert await chats_told(db, "schedule.reminder") == [LEADER, LEADER]
    clock.set(start + hours(16) - timedelta(seconds=1))
    assert (await fire(db, cfg, clock)).fired == 0
    clock.set(start + hours(16))
    assert (await fire(db, cfg, clock)).fired == 2
    assert await chats_told(db, "schedule.red") == [LEADER]


async def test_closing_cancels_pending_jobs_and_asks_the_reporter_to_rate(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    start = clock.now()
    case = await add_case(db, case_id="c00004", now=start, deadline=start + hours(8))
    await emit(db, case, 2, "case.assigned", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    assert await db.schedule.count_documents({"case_id": "c00004", "state": "pending"}) == 5

    clock.advance(hours(1))
    await db.cases.update_one({"_id": case["_id"]}, {"$set": {
        "state": "closed", "closed_at": clock.now(), "version": 6}})
    await emit(db, case, 6, "case.closed", at=clock.now(), action="close")
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w1")
    assert await db.schedule.count_documents({"case_id": "c00004", "state": "pending"}) == 0
    assert await db.schedule.count_documents({"case_id": "c00004", "state": "cancelled"}) == 5

    # The reporter heard of the dispatch (issue 17), then is asked to rate.
    told, rate = await outbox_for(db, CITIZEN)
    assert told["kind"] == "case.assigned"
    assert rate["locale"] == "en" and "rate" in rate["text"]
    assert rate["on_sent"] == {"rating_prompt": "c00004"}
    stars = [b["callback_data"] for row in json.loads(rate["reply_markup"])["inline_keyboard"]
             for b in row]
    assert sorted(stars) == [f"r:c00004:{n}" for n in range(1, 6)]

    clock.set(start + hours(40))
    assert (await fire(db, cfg, clock)).fired == 0
    assert await repo.count_messages(db, query={"kind": {"$regex": "^schedule"}}) == 0


async def test_a_job_whose_case_moved_on_is_dropped_when_it_comes_due(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    """The case is finished but its event is not processed yet: firing re-checks the case."""
    db = district
    start = clock.now()
    case = await add_case(db, case_id="c00005", now=start, deadline=start + hours(1))
    await emit(db, case, 2, "case.assigned", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    await db.cases.update_one({"_id": case["_id"]}, {"$set": {"state": "awaiting_verification",
                                                              "version": 3}})
    clock.set(start + hours(30))
    stats = await fire(db, cfg, clock)  # reminder, red and first escalation were due
    assert stats.fired == 0 and stats.cancelled == 3
    assert await repo.count_messages(db, query={"kind": {"$regex": "^schedule"}}) == 0


async def test_other_transitions_reach_center_reporter_and_assignee(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    now = clock.now()
    case = await add_case(db, case_id="c00006", now=now, deadline=now + hours(8))
    await emit(db, case, 3, "case.returned", at=now, reason="不属于本部门")
    await emit(db, case, 4, "case.extension_requested", at=now, reason="需要协调")
    await emit(db, case, 5, "case.feedback", at=now, result="已清理")
    await emit(db, case, 6, "case.reopened", at=now, reason="回访不满意")
    await emit(db, case, 7, "case.accepted", at=now)
    assert await notifier.process_batch(db, cfg, now=now, worker="w1") == 5
    center = [m["kind"] for m in await outbox_for(db, STREET_DISPATCHER)]
    assert center == ["case.returned", "case.extension_requested", "case.feedback"]
    returned = (await outbox_for(db, STREET_DISPATCHER))[0]["text"]
    assert "不属于本部门" in returned
    # The reporter hears every step (issue 17): the return, the result and the rework.
    assert [m["kind"] for m in await outbox_for(db, CITIZEN)] == [
        "case.returned", "case.feedback", "case.reopened"]
    assert [m["kind"] for m in await outbox_for(db, LEADER)] == ["case.reopened"]


async def test_merged_duplicate_reporter_hears_the_main_serial(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    now = clock.now()
    main = await add_case(db, case_id="c00007", now=now, deadline=now + hours(8))
    dup = case_doc("c00008", now=now, state="merged", deadline=None)
    dup["merged_into"] = main["_id"]
    await db.cases.insert_one(dup)
    await emit(db, dup, 2, "case.merged", at=now, action="merge")
    await notifier.process_batch(db, cfg, now=now, worker="w1")
    [msg] = await outbox_for(db, CITIZEN)
    assert main["serial"] in msg["text"]


async def many_cases_with_events(db: Database, *, prefix: str, n: int, now: datetime,
                                 events: tuple[tuple[int, str], ...]) -> None:
    """`n` open cases, each with the given (seq, type) events waiting for the notifier."""
    cases = [case_doc(f"{prefix}{i:04d}", now=now, deadline=now + hours(8)) for i in range(n)]
    await db.cases.insert_many(cases)
    await db.events.insert_many([
        {"_id": f"{c['_id']}:{seq}", "type": t, "case_id": c["_id"], "serial": c["serial"],
         "at": now, "actor": {"role": "dispatcher", "unit": "310101001"}, "data": {},
         "notify_state": "new"}
        for c in cases for seq, t in events])


async def test_two_notifiers_process_every_event_exactly_once(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    now = clock.now()
    await many_cases_with_events(db, prefix="c1", n=50, now=now,
                                 events=((2, "case.assigned"), (3, "case.returned")))
    small = NotifyConfig(**{**cfg.__dict__, "batch": 20})
    processed: dict[str, int] = {"a": 0, "b": 0}

    async def worker(name: str) -> None:
        while await db.events.count_documents({"notify_state": {"$ne": "done"}}):
            processed[name] += await notifier.process_batch(db, small, now=now, worker=name)
            await asyncio.sleep(0)

    await asyncio.gather(worker("a"), worker("b"))
    assert processed["a"] + processed["b"] == 100  # no event claimed twice
    assert processed["a"] > 0 and processed["b"] > 0
    assert await db.events.count_documents({"notify_state": "done"}) == 100
    assert await repo.count_messages(db, query={"chat_id": LEADER}) == 50
    assert await repo.count_messages(db, query={"chat_id": STREET_DISPATCHER}) == 50


async def test_a_second_notifier_takes_the_events_after_those_the_first_holds(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    """Two workers share a backlog: the second does not stop at the head the first claimed."""
    db = district
    now = clock.now()
    await many_cases_with_events(db, prefix="c2", n=30, now=now, events=((2, "case.assigned"),))
    small = NotifyConfig(**{**cfg.__dict__, "batch": 10})
    held = await repo.claim_events(db, now=now, lease=cfg.lease, worker="a", limit=10)
    assert len(held) == 10
    assert await notifier.process_batch(db, small, now=now, worker="b") == 10
    assert await notifier.process_batch(db, small, now=now, worker="b") == 10
    assert await notifier.process_batch(db, small, now=now, worker="b") == 0  # the rest is a's
    assert await repo.count_messages(db, query={"chat_id": LEADER}) == 20
    assert not await db.events.count_documents(
        {"_id": {"$in": [e["_id"] for e in held]}, "notify_state": "done"})


async def test_a_crashed_workers_claims_are_taken_over_after_the_lease(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    start = clock.now()
    case = await add_case(db, case_id="c00009", now=start, deadline=start + hours(1))
    await emit(db, case, 2, "case.assigned", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    clock.set(start + hours(1))
    # w1 claims the due jobs and dies before firing them.
    claimed = await repo.claim_jobs(db, now=clock.now(), lease=cfg.lease, worker="w1", limit=100)
    assert len(claimed) == 3
    assert (await fire(db, cfg, clock)).fired == 0  # still leased
    clock.advance(cfg.lease + timedelta(seconds=1))
    stats = await schedule.fire_due(db, cfg, now=clock.now(), worker="w2")
    assert stats.fired == 3
    assert sorted(await chats_told(db, "schedule.escalation")) == [HEAD]

    # Same for events: a claim that is never finished is retaken after the lease (first the
    # notices' own events, recorded with the case's history, are processed).
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w2")
    await emit(db, case, 3, "case.returned", at=clock.now())
    assert len(await repo.claim_events(db, now=clock.now(), lease=cfg.lease, worker="w1",
                                       limit=10)) == 1
    assert await notifier.process_batch(db, cfg, now=clock.now(), worker="w2") == 0
    assert await notifier.process_batch(
        db, cfg, now=clock.now() + cfg.lease + timedelta(seconds=1), worker="w2") == 1


async def test_a_backlog_of_cases_going_red_at_once_runs_in_bounded_memory(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    """Escalations for 10,000 cases red in the same minute, a bounded batch at a time: the
    worker's peak memory stays a fraction of what holding the backlog costs.

    NOTIFY_BACKLOG_CASES overrides the size (a quicker run while working on the schedule).
    """
    db = district
    start = clock.now()
    deadline = start + hours(1)
    n = int(os.environ.get("NOTIFY_BACKLOG_CASES", "10000"))
    small = NotifyConfig(**{**cfg.__dict__, "batch": 50})
    for lo in range(0, n, 2000):
        hi = min(n, lo + 2000)
        await db.cases.insert_many([case_doc(f"m{i:06d}", now=start, deadline=deadline)
                                    for i in range(lo, hi)])
        await db.schedule.insert_many([
            {"_id": f"m{i:06d}:handling:escalate:1", "case_id": f"m{i:06d}", "kind": "escalate",
             "step": 1, "due_at": deadline + timedelta(seconds=i % 60), "state": "pending",
             "deadline_version": deadline, "case_version": 2,
             "target": "310101001001@station_head",
             "gen": 1} for i in range(lo, hi)])
    clock.set(deadline + timedelta(minutes=1))

    # What holding the whole backlog would cost: the due jobs and their cases in memory.
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    backlog = [await db.schedule.find({}).to_list(None), await db.cases.find({}).to_list(None)]
    whole = tracemalloc.get_traced_memory()[0] - base
    del backlog
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    stats = await schedule.fire_due(db, small, now=clock.now(), worker="w1")
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()

    print(f"backlog {n}: {stats.batches} batches, worker peak {peak / 1e6:.1f} MB, "
          f"whole backlog {whole / 1e6:.1f} MB")  # shown with -s; quoted in bench/RESULTS.md
    assert stats.fired == n and stats.messages == n
    assert stats.largest_batch <= small.batch and stats.batches >= n // small.batch
    assert await repo.count_messages(db, query={"chat_id": HEAD}) == n
    assert await db.schedule.count_documents({"kind": "escalate", "state": "done"}) == n
    # One batch is 1/20 of the backlog; allow generous slack for driver buffers.
    assert peak < whole / 4, (peak, whole)


async def test_events_written_before_the_state_field_are_notified_once(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    case = case_doc("legacy1", now=clock.now(), deadline=clock.now() + hours(8))
    await db.cases.insert_one(case)
    event = {"_id": "legacy1:2", "type": "case.assigned", "case_id": "legacy1",
             "serial": case["serial"], "at": clock.now(),
             "actor": {"role": "dispatcher", "unit": "310101001"}, "data": {}}
    await db.events.insert_one(event)  # as cases wrote events before: no notify_state
    await db.migrations.delete_many({})
    await repo.ensure_indexes(db)
    assert await notifier.process_batch(db, cfg, now=clock.now(), worker="w1") == 1
    await db.events.insert_one({**event, "_id": "legacy1:3"})
    await repo.ensure_indexes(db)  # the migration ran once; it does not run again
    assert await notifier.process_batch(db, cfg, now=clock.now(), worker="w1") == 0
    assert (await db.events.find_one({"_id": "legacy1:2"}) or {})["notify_state"] == "done"


async def test_the_frequent_poll_reads_the_last_hour_and_the_catch_up_reads_the_rest(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    """The worker's poll fires what fell due within the hour; what is older (the worker was
    down, the clock stepped) waits for the complete catch-up query, and nothing fires twice."""
    db = district
    start = clock.now()
    case = await add_case(db, case_id="c00009", now=start, deadline=start + hours(8))
    await emit(db, case, 2, "case.assigned", at=start)
    await notifier.process_batch(db, cfg, now=start, worker="w1")
    assert [j["pending_slot"] for j in (await repo.jobs_by_case(db, case_ids=["c00009"]))["c00009"]
            if j["kind"] == "red"] == [repo.due_slot(start + hours(8))]

    clock.set(start + hours(6.5))  # the reminder fell due half an hour ago
    assert (await schedule.fire_due(db, cfg, now=clock.now(), worker="w1",
                                    recent_only=True)).fired == 1
    clock.set(start + hours(11))  # red (3 h ago) and the first escalation (3 h ago) are old
    assert (await schedule.fire_due(db, cfg, now=clock.now(), worker="w1",
                                    recent_only=True)).fired == 0
    assert (await fire(db, cfg, clock)).fired == 2
    assert (await fire(db, cfg, clock)).fired == 0
    assert {j["pending_slot"] for j in (await repo.jobs_by_case(db, case_ids=["c00009"]))["c00009"]
            if j["state"] != "pending"} == {None}


async def test_a_reporter_hears_in_the_language_of_the_report_else_the_roster_else_the_default(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    now = clock.now()
    # HEAD is on the roster in English; CITIZEN is not on the roster at all.
    for case_id, chat, locale in (("c00011", HEAD, None), ("c00012", CITIZEN, None),
                                  ("c00013", LEADER, "en")):
        doc = case_doc(case_id, now=now, state="closed", reporter_chat=chat)
        doc["reporter"] = {"user_id": chat, "chat_id": chat, **({"locale": locale} if locale else {})}
        await db.cases.insert_one(doc)
        await emit(db, doc, 6, "case.closed", at=now, action="close")
    await notifier.process_batch(db, cfg, now=now, worker="w1")
    locales = {m["chat_id"]: m["locale"] for m in await repo.find_messages(
        db, query={"kind": "case.closed"})}
    # LEADER is bound in Chinese, but reported this one in English: the report's language wins.
    assert locales == {HEAD: "en", CITIZEN: cfg.default_locale, LEADER: "en"}
