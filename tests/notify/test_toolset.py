"""The reporter hears the center's toolset in chat (issue 22), through the real worker and the
Bot API sandbox: a refused report (politely, with the reason in their language), a direct
answer (with the rating stars), and a suspension that comes back by itself at its review date."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from cases.repository import get_case
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from notify.worker import run_worker
from tests.notify.conftest import BLOCK, DISTRICT, STATION, STREET, STREET_DISPATCHER
from tests.sandbox.conftest import RunningSandbox

POLICY = CasePolicy(district=DISTRICT, serial_prefix="A", timezone="Asia/Shanghai")
CENTER = Actor(role="dispatcher", unit=STREET, name="Center Li")
PLACEMENT = {"community_block": BLOCK, "street_block": None, "workstation": STATION,
             "street": STREET, "patrol_zone": None, "district": DISTRICT, "snapped": False,
             "distance_m": 0.0}
EN_CHAT, ZH_CHAT = 5101, 5102


async def _report(db: Database, clock: FakeClock, chat: int, locale: str, *,
                  kind: str = "complaint", category: str = "group_renting") -> dict:  # type: ignore[type-arg]
    opened = await intake(db, policy=POLICY, now=clock.now(), channel="citizen_bot", kind=kind,
                          category=category, description="七楼群租",
                          actor={"role": "citizen", "user_id": chat, "chat_id": chat},
                          reporter={"user_id": chat, "chat_id": chat, "locale": locale},
                          location={"lon": 121.48, "lat": 31.23}, placement=PLACEMENT)
    return opened.case


async def test_the_reporter_hears_refusal_answer_and_suspension_in_chat(
        district: Database, settings: Settings, mongo_uri: str, clock: FakeClock,
        sandbox: RunningSandbox) -> None:
    db = district
    for chat in (EN_CHAT, ZH_CHAT, STREET_DISPATCHER):
        sandbox.state.create_user(first_name=f"u{chat}", id=chat)
    conf = settings.model_copy(update={
        "telegram_api_url": sandbox.url, "notify_poll_s": 0.05, "notify_backoff_s": 0.05,
        "notify_chat_interval_s": 0.05, "notify_leader_ttl_s": 2.0})

    def messages(chat: int) -> list[dict]:  # type: ignore[type-arg]
        found = sandbox.state.chats.get(chat)
        return list(found.messages.values()) if found else []

    def texts(chat: int) -> list[str]:
        return [m.get("text") or "" for m in messages(chat)]

    async def run_until(done: Callable[[], bool]) -> None:
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(conf, mongo_uri=mongo_uri, clock=clock, stop=stop))
        try:
            for _ in range(400):
                if done():
                    break
                assert not worker.done(), worker.exception()
                await asyncio.sleep(0.05)
            assert done()
        finally:
            stop.set()
            await worker

    refused = await _report(db, clock, EN_CHAT, "en")
    await lifecycle.refuse(db, case_ref=refused["_id"], actor=CENTER, now=clock.now(),
                           action="refuse", reason_code="not_in_jurisdiction", note="staff only")
    zh_refused = await _report(db, clock, ZH_CHAT, "zh-CN")
    await lifecycle.refuse(db, case_ref=zh_refused["_id"], actor=CENTER, now=clock.now(),
                           action="refuse", reason_code="insufficient_information")
    asked = await _report(db, clock, EN_CHAT, "en", kind="consultation",
                          category="policy_consultation")
    await lifecycle.direct_answer(db, case_ref=asked["_id"], actor=CENTER, now=clock.now(),
                                  text="Registration is at the street office, Mon–Fri.")
    await run_until(lambda: any("Registration is at the street office" in t for t in texts(EN_CHAT))
                    and any(zh_refused["serial"] in t for t in texts(ZH_CHAT)))
    [no] = [t for t in texts(EN_CHAT) if refused["serial"] in t]
    assert "outside our jurisdiction" in no and "Thank you" in no and "staff only" not in no
    [zh] = [t for t in texts(ZH_CHAT) if zh_refused["serial"] in t]
    assert "不予立案" in zh and "信息不足" in zh
    [answer] = [m for m in messages(EN_CHAT) if asked["serial"] in (m.get("text") or "")]
    stars = str(answer.get("reply_markup"))
    assert f"r:{asked['_id']}:5" in stars, stars  # the rating stars of a closed case

    # suspended until tomorrow: the reporter is told the date, and the case comes back by itself
    held = await _report(db, clock, ZH_CHAT, "zh-CN")
    review = clock.now() + timedelta(days=1)
    await lifecycle.suspend(db, case_ref=held["_id"], actor=CENTER, now=clock.now(),
                            reason="等待预算", review_at=review)
    await run_until(lambda: any(held["serial"] in t and "挂账" in t for t in texts(ZH_CHAT)))
    assert (await get_case(db, ref=held["_id"]))["state"] == "suspended"
    clock.set(review + timedelta(seconds=1))
    await run_until(lambda: any(held["serial"] in t and "【挂账到期】" in t
                                for t in texts(STREET_DISPATCHER)))
    back = await get_case(db, ref=held["_id"])
    assert back["state"] == "reported" and back["history"][-1]["action"] == "resume"
    assert back["history"][-1]["actor"]["role"] == "system"
