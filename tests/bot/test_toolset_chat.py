"""Issue 22 in chat, end to end (real PTB, the sandbox as Telegram, the app, notifier and
sender): a citizen's question answered directly by the center arrives with the rating stars and
is rated with one tap; a report that is not a case is declined politely; a suspended report
says so when the citizen asks for its status."""

from __future__ import annotations

import re

from gridlink.i18n import t
from tests.bot.conftest import BotWorld
from tests.bot.test_chat_journeys import outgoing
from tests.bot.test_flows import api, buttons, latest_with, notify_round, staff


async def _report(citizen, kind: str, text: str) -> str:  # type: ignore[no-untyped-def]
    await citizen.send("/report")
    await citizen.press(await citizen.reply(), f"f:kind:{kind}")
    await citizen.reply()
    await citizen.send(text)
    await citizen.press(await citizen.reply(), "f:confirm")
    found = re.search(r"[A-Z]\d{8}-\d{3,}", (await citizen.reply())["text"])
    assert found is not None
    return found.group(0)


async def test_a_question_answered_directly_is_rated_in_chat(world: BotWorld) -> None:
    citizen = await world.phone("Ann", language_code="en")
    serial = await _report(citizen, "consultation", "When does school enrolment open?")
    dispatcher = await staff(world, "dispatcher", "310101")
    await api(world, f"/api/v1/cases/{serial}/direct-answer", dispatcher,
              {"text": "On 1 April, at the district's portal."})
    await notify_round(world)
    answer = await latest_with(world, citizen, "r:")
    assert answer["text"].startswith(f"The answer to your question {serial}:\nOn 1 April")
    five = next(b for b in buttons(answer) if b.endswith(":5"))
    await citizen.press(answer, five)
    assert (await citizen.reply())["text"] == t("rating.thanks", "en", label=t("rating.5", "en"))
    case = await world.db.cases.find_one({"serial": serial})
    assert case is not None and case["state"] == "closed" and case["rating"]["score"] == 5


async def test_a_declined_report_and_a_suspended_one_in_chat(world: BotWorld) -> None:
    citizen = await world.phone("市民陈")
    dispatcher = await staff(world, "dispatcher", "310101")
    declined = await _report(citizen, "complaint", "隔壁区的路灯坏了")
    await api(world, f"/api/v1/cases/{declined}/refuse", dispatcher,
              {"reason_code": "not_in_jurisdiction", "note": "浦东的，请打浦东热线"})
    held = await _report(citizen, "complaint", "小区道路需要整体翻修")
    await api(world, f"/api/v1/cases/{held}/suspend", dispatcher,
              {"reason": "等待明年预算", "review_at": "2027-03-01T09:00:00+08:00"})
    await notify_round(world)
    texts = [m.get("text") or "" for m in await outgoing(world, citizen)]
    [no] = [x for x in texts if declined in x and "不予立案" in x]
    assert "不属于本区受理范围" in no and "浦东热线" not in no  # the staff note stays staff-only
    [wait] = [x for x in texts if held in x and "挂账" in x]
    assert "2027-03-01 09:00" in wait
    await citizen.send(held)
    assert t("state.suspended", "zh-CN") in (await citizen.reply())["text"]
