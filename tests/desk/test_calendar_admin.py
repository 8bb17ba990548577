"""The admin's calendar pages (issue 18): the warning from 1 October while next year is not
entered, validation errors shown, a preview of the running deadlines that would change, and
saving 2027 with an adjusted workday, which recomputes a provisional deadline and tells its
assignee in chat (through the real worker and the Bot API sandbox)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from cases import repository as cases_repo
from gridlink.clock import FakeClock
from gridlink.db import Database
from notify.worker import run_worker
from tests.desk.conftest import Desk, csrf_of
from tests.desk.test_http import dispatched, post_form
from tests.sandbox.conftest import running_sandbox

LOCAL = timedelta(hours=8)  # Asia/Shanghai


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, s, tzinfo=UTC) - LOCAL


async def test_the_admin_pages_warn_from_1_october_while_next_year_is_not_entered(
        desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    center = await desk.signed_in("center")
    desk.clock.set(local(2026, 9, 30, 18))
    page = await (await admin.get("/desk/admin/calendar")).text()
    assert 'id="calendar-missing"' not in page and 'id="year-2027"' in page
    desk.clock.set(local(2026, 10, 1, 9))
    for url in ("/desk/admin/calendar", "/desk/queues/new"):
        page = await (await admin.get(url)).text()
        assert 'id="calendar-missing"' in page and "2027" in page, url
    assert 'id="calendar-missing"' not in await (await center.get("/desk/queues/new")).text()
    # not entered: the year's page is prefilled with the statutory holidays, no workdays
    page = await (await admin.get("/desk/admin/calendar/2027")).text()
    assert 'id="prefilled"' in page and "2027-02-06" in page  # Spring Festival 2027
    # the center may not open it
    assert (await center.get("/desk/admin/calendar/2027")).status == 403


async def test_bad_input_is_shown_naming_the_date_and_nothing_is_stored(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    url = "/desk/admin/calendar/2027"
    status, page = await post_form(admin, url, url, op="save", holidays="2027-01-02 元旦",
                                   workdays="2027-01-02 调休")
    assert status == 400 and "2027-01-02 is both a holiday and an adjusted workday" in page
    assert "2027-01-02 调休" in page  # what was typed is kept
    status, page = await post_form(admin, url, url, op="save", holidays="2026-12-31 跨年")
    assert status == 400 and "2026-12-31 is not in 2027" in page
    status, page = await post_form(admin, url, url, op="preview", holidays="2027-13-01 x")
    assert status == 400 and "2027-13-01" in page
    assert await desk.db.calendar_years.find_one({"_id": 2027}) is None


async def wait_for(predicate: object, limit_s: float = 20) -> None:
    started = time.monotonic()
    while not await predicate():  # type: ignore[operator]
        assert time.monotonic() - started < limit_s, "timed out"
        await asyncio.sleep(0.05)


async def test_entering_2027_with_an_adjusted_workday_recomputes_and_tells_the_assignee(
        desk: Desk, db: Database) -> None:
    clock: FakeClock = desk.clock
    clock.set(local(2026, 12, 30, 10))
    # road_damage: 5 working days, to the roads department (D07)
    case = await dispatched(desk)
    assert case["deadline"] == local(2027, 1, 7, 23, 59, 59) and case["deadline_provisional"]
    admin = await desk.signed_in("admin")
    page = await (await admin.get(f"/desk/cases/{case['_id']}")).text()
    assert 'id="deadline-provisional"' in page

    url = "/desk/admin/calendar/2027"
    fields = {"holidays": "2027-01-01 元旦", "workdays": "2027-01-03 调休上班"}
    status, page = await post_form(admin, url, url, op="preview", **fields)
    assert status == 200 and case["serial"] in page
    assert "2027-01-06 23:59" in page and "2027-01-07 23:59" in page  # new and old
    assert await db.calendar_years.find_one({"_id": 2027}) is None  # a preview stores nothing

    chat = 7001
    await db.roster.insert_one({"_id": "u7001", "chat_id": chat, "user_id": chat,
                                "role": "department", "unit": "D07", "name": "roads",
                                "locale": "en"})
    async with running_sandbox() as sandbox:
        sandbox.state.create_user(first_name="roads", id=chat)
        settings = desk.settings.model_copy(update={
            "telegram_api_url": sandbox.url, "notify_poll_s": 0.05, "notify_backoff_s": 0.05,
            "notify_chat_interval_s": 0.05, "notify_leader_ttl_s": 2.0})
        # The assignment's own message goes out first (and says its deadline is provisional).
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(settings, mongo_uri=str(settings.mongodb_uri),
                                                clock=clock, stop=stop))
        try:
            def texts() -> list[str]:
                found = sandbox.state.chats.get(chat)
                return [m.get("text") or m.get("caption") or ""
                        for m in (found.messages.values() if found else [])]

            async def told(word: str) -> bool:
                return any(word in text for text in texts())

            await wait_for(lambda: told("[New assignment]"))
            assert any("provisional" in text for text in texts())

            page = await (await admin.get(url)).text()
            resp = await admin.post(url, data={"csrf": csrf_of(page), "op": "save", **fields})
            assert resp.status == 200 and "/desk/admin/calendar" in str(resp.url)
            assert 'id="calendar-years"' in await resp.text()
            await wait_for(lambda: told("[Deadline changed]"))
        finally:
            stop.set()
            await worker
    [changed] = [text for text in texts() if "[Deadline changed]" in text]
    assert "2027-01-06 23:59" in changed and "2027-01-07 23:59" in changed
    assert "provisional" not in changed

    stored = await cases_repo.get_case(db, ref=case["_id"])
    assert stored["deadline"] == local(2027, 1, 6, 23, 59, 59)
    assert stored["deadline_provisional"] is False
    page = await (await admin.get(f"/desk/cases/{case['_id']}")).text()
    assert 'id="deadline-provisional"' not in page
    assert "deadline recomputed" in page or "时限重算" in page


async def test_reminders_and_escalations_read_in_the_case_history_in_both_languages(
        desk: Desk) -> None:
    from cases import lifecycle

    case = await dispatched(desk)
    now = desk.clock.now()
    assert await lifecycle.record_notice(desk.db, case_id=case["_id"], kind="remind",
                                         step="handling", level=0, due=case["deadline"], now=now,
                                         told=["D07"])
    assert await lifecycle.record_notice(desk.db, case_id=case["_id"], kind="escalate",
                                         step="handling", level=1, due=case["deadline"], now=now,
                                         told=["310101"])
    # once: the same notice again records nothing, and the state never moved
    assert not await lifecycle.record_notice(desk.db, case_id=case["_id"], kind="escalate",
                                             step="handling", level=1, due=case["deadline"],
                                             now=now)
    stored = await cases_repo.get_case(desk.db, ref=case["_id"])
    assert stored["state"] == "dispatched" and len(stored["history"]) == len(case["history"]) + 2
    center = await desk.signed_in("center")
    await center.get("/desk/locale?to=zh-CN&next=/desk/")
    page = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert "到期提醒" in page and "超时上报" in page and "办理，第 1 级，通知：310101" in page
    await center.get("/desk/locale?to=en&next=/desk/")
    page = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert "reminder sent" in page and "escalated" in page and "handling, level 1, told: 310101" in page
