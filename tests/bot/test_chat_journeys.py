"""Issue 17's chat journeys end to end: real PTB, the sandbox as Telegram, the real app, the
notifier and sender; then every button ever sent is pressed again and must answer with a
message whose buttons work."""

from __future__ import annotations

from typing import Any

from gridlink.i18n import t
from tests.bot.conftest import BLOCK_ONE, BotWorld, Phone
from tests.bot.test_flows import (
    api,
    bind,
    buttons,
    jpeg,
    latest_with,
    notify_round,
    report_to_category,
    staff,
)

Json = dict[str, Any]
STREET_CENTER = "310101001"


async def outgoing(world: BotWorld, phone: Phone) -> list[Json]:
    return [m for m in await world.sb.client.messages(phone.id) if m["sandbox"]["outgoing"]]


async def test_leader_journey_extension_in_chat_and_every_stale_button(world: BotWorld) -> None:
    coordinator = await world.phone("巡管员老周")
    leader = await world.phone("块长王")
    center = await world.phone("受理员李")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, leader, "leader", BLOCK_ONE)
    await bind(world, center, "dispatcher", STREET_CENTER)

    categories = await report_to_category(world, coordinator)
    await coordinator.press(categories, "f:cat:community_sanitation")
    await coordinator.press(await coordinator.reply(), "f:skip")
    await coordinator.press(await coordinator.reply(), "f:confirm")
    serial = (await coordinator.reply())["text"].removeprefix("已受理，流水号 ").rstrip("。")
    dispatcher = await staff(world, "dispatcher", "310101")
    case = (await api(world, f"/api/v1/cases/{serial}/dispatch", dispatcher, {"unit": BLOCK_ONE}))["case"]
    case_id = case["id"]
    await notify_round(world)

    # The assignment: the hazard's photo, a pin named after the block, then the text with buttons.
    got = await outgoing(world, leader)
    assert any(m.get("photo") for m in got), got
    pin = next(m for m in got if m.get("venue"))
    assert pin["venue"]["title"] == "一号责任块"
    assignment = await latest_with(world, leader, "c:accept:")
    assert serial in assignment["text"] and "🔵" in assignment["text"]
    assert buttons(assignment) == [f"c:{b}:{case_id}:{case['version']}" for b in ("accept", "return", "extend")]

    await leader.press(assignment, buttons(assignment)[0])
    accepted = await leader.reply()
    assert accepted["text"] == t("action.accepted", "zh-CN", serial=serial)
    assert any(b.startswith("c:extend:") for b in buttons(accepted))

    # Extension: the category counts working days or hours; the center approves in chat.
    await leader.press(accepted, next(b for b in buttons(accepted) if b.startswith("c:extend:")))
    ask = (await leader.reply())["text"]
    assert ask in (t("action.ask_extension_days", "zh-CN", serial=serial),
                   t("action.ask_extension_hours", "zh-CN", serial=serial))
    await leader.send("2")
    await leader.reply()
    await leader.send("材料要等两天")
    requested = await leader.reply()
    assert requested["text"] == t("action.extension_requested", "zh-CN", serial=serial)
    await notify_round(world)
    request = await latest_with(world, center, "c:approve:")
    assert any(b.startswith("c:refuse:") for b in buttons(request))
    await center.press(request, next(b for b in buttons(request) if b.startswith("c:approve:")))
    assert (await center.reply())["text"] == t("action.extension_approved", "zh-CN", serial=serial)
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and stored["extension"]["status"] == "approved"

    # The handler hears the outcome with working buttons; Done from that newest message.
    await notify_round(world)
    outcome = await latest_with(world, leader, "c:done:")
    assert outcome["text"].startswith("【延期已批准】")
    assert f"c:done:{case_id}:{stored['version']}" in buttons(outcome)
    await leader.press(outcome, f"c:done:{case_id}:{stored['version']}")
    assert (await leader.reply())["text"] == t("action.ask_result_photo", "zh-CN", serial=serial)
    await leader.photo(jpeg((30, 160, 60)))
    assert (await leader.reply())["text"] == t("action.result_photo_added", "zh-CN", count=1)
    await leader.photo(jpeg((60, 30, 160)))
    assert (await leader.reply())["text"] == t("action.result_photo_added", "zh-CN", count=2)
    await leader.send("已清运完毕")
    confirm = await leader.reply()
    assert "2" in confirm["text"] and "已清运完毕" in confirm["text"]
    await leader.press(confirm, "f:confirm")
    assert (await leader.reply())["text"] == t("action.done", "zh-CN", serial=serial)
    done = await world.db.cases.find_one({"_id": case_id})
    assert done is not None and done["state"] == "awaiting_verification"
    assert len(done["result"]["photos"]) == 2 and done["result"]["text"] == "已清运完毕"

    # Every case button ever sent, pressed now: each is answered with the current state and
    # buttons that are current (the workflow's, at the case's version) — never a dead end.
    for phone in (leader, center):
        for message in await outgoing(world, phone):
            for data in [b for b in buttons(message) if b.startswith("c:")]:
                before = phone.last = max(m["message_id"] for m in await world.sb.client.messages(phone.id))
                await phone.press(message, data)
                answer = await phone.reply()
                assert answer["message_id"] > before
                assert answer["text"] == t("action.stale", "zh-CN", serial=serial,
                                           state=t("state.awaiting_verification", "zh-CN"))
                now = await world.db.cases.find_one({"_id": case_id})
                assert now is not None
                for fresh in buttons(answer):  # none here: nothing is allowed while verifying
                    assert fresh.endswith(f":{now['version']}")


async def test_english_citizen_hears_every_change_answers_is_it_fixed_and_rates_in_words(
        world: BotWorld) -> None:
    citizen = await world.phone("Ann", language_code="en")
    await citizen.send("/report")
    await citizen.press(await citizen.reply(), "f:kind:complaint")
    await citizen.reply()
    await citizen.send("Rubbish piled at the gate")
    await citizen.press(await citizen.reply(), "f:confirm")
    serial = (await citizen.reply())["text"].removeprefix("Received. Serial number ").split(".")[0]
    dispatcher = await staff(world, "dispatcher", "310101")
    leader = await staff(world, "leader", BLOCK_ONE)
    await api(world, f"/api/v1/cases/{serial}/dispatch", dispatcher, {"unit": BLOCK_ONE})
    await api(world, f"/api/v1/cases/{serial}/accept", leader, {})
    await api(world, f"/api/v1/cases/{serial}/extension", leader, {"reason": "parts", "hours": 24})
    await api(world, f"/api/v1/cases/{serial}/extension/decision", dispatcher, {"approve": True})
    await api(world, f"/api/v1/cases/{serial}/feedback", leader, {"text": "Cleared away"})
    await notify_round(world)
    texts = [m.get("text") or "" for m in await outgoing(world, citizen)]
    assert any(x.startswith(f"Your report {serial} has been assigned to Block One") for x in texts)
    assert any(x.startswith(f"The deadline of your report {serial} was extended") for x in texts)
    question = await latest_with(world, citizen, "k:")
    assert "Cleared away" in question["text"] and question["text"].endswith("Is it fixed?")
    await citizen.press(question, next(b for b in buttons(question) if b.endswith(":y")))
    assert (await citizen.reply())["text"] == t("fixed.ask_comment", "en")
    await citizen.send("Thanks, all clean")
    assert (await citizen.reply())["text"] == t("fixed.thanks_yes", "en", serial=serial)
    case = await world.db.cases.find_one({"serial": serial})
    assert case is not None and case["reporter_callback"]["fixed"] is True
    assert case["reporter_callback"]["comment"] == "Thanks, all clean"

    await api(world, f"/api/v1/cases/{serial}/verify", dispatcher, {"ok": True})
    await notify_round(world)
    closing = await latest_with(world, citizen, "r:")
    assert closing["text"].startswith(f"Your report {serial} has been closed. Result: Cleared away")
    await citizen.send("fairly satisfied, quick work", reply_to=closing["message_id"])
    assert (await citizen.reply())["text"] == "Thank you for your rating: fairly satisfied."
    rated = await world.db.cases.find_one({"serial": serial})
    assert rated is not None and rated["rating"]["score"] == 4
    assert rated["rating"]["comment"] == "quick work"
    texts = [m.get("text") or "" for m in await outgoing(world, citizen)]
    assert not any(any("\u4e00" <= c <= "\u9fff" for c in x) for x in texts if "请选择语言" not in x)
