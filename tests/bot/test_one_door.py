"""The bot through the one door of cases/: what its reports store (photos with their hashes,
the reporter's language), who may look a case up by its serial (cases.visibility), and the
language follow-ups are sent in. Real PTB, the sandbox as Telegram, the real app and database."""

from __future__ import annotations

import re
from typing import Any

import aiohttp

from api import keys
from api.keys import PTB_APP
from cases.intake import intake
from cases.model import CasePolicy
from gridlink.buttons import assignment_markup
from gridlink.i18n import t
from tests.bot.conftest import BLOCK_ONE, BLOCK_TWO, INSIDE, BotWorld, Phone, web_app
from tests.bot.test_flows import (
    api,
    bind,
    buttons,
    choose_category,
    jpeg,
    latest_with,
    notify_round,
    report_to_category,
    staff,
)

Json = dict[str, Any]
SERIAL = re.compile(r"[A-Z]\d{8}-\d{3,}")
STREET = "310101001"


async def patrol_report(world: BotWorld, coordinator: Phone) -> Json:
    """Photo, location, category, note, confirm: the stored case."""
    categories = await report_to_category(world, coordinator)
    await choose_category(coordinator, categories, "community_sanitation")
    asked = await coordinator.reply()
    if "f:dup:new" in buttons(asked):  # a likely duplicate is offered first: file it anyway
        await coordinator.press(asked, "f:dup:new")
        await coordinator.reply()
    await coordinator.send("楼道口堆满装修垃圾")
    await coordinator.press(await coordinator.reply(), "f:confirm")
    serial = SERIAL.search((await coordinator.reply())["text"])
    assert serial is not None
    case = await world.db.cases.find_one({"serial": serial.group(0)})
    assert case is not None
    return case


async def get(world: BotWorld, path: str, headers: dict[str, str] | None = None) -> int:
    async with aiohttp.ClientSession() as s, s.get(world.url + path, headers=headers or {}) as r:
        await r.read()
        return r.status


async def test_a_patrol_report_carries_its_photos_hashes_and_language(world: BotWorld) -> None:
    coordinator = await world.phone("巡管员老周")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    first = await patrol_report(world, coordinator)
    assert first["photo_ids"] == first["photos"] and len(first["photos"]) == 1
    assert len(first["phashes"]) == 1
    assert first["reporter"]["locale"] == "zh-CN" and first["reporter"]["role"] == "coordinator"

    # The same sight reported again is suggested as a duplicate, by its photo's hash.
    second = await patrol_report(world, coordinator)
    [candidate] = second["duplicate_candidates"]
    assert candidate["serial"] == first["serial"] and candidate["hamming"] == 0

    # The center sees the photos of bot reports (they were 403 on the desk).
    dispatcher = await staff(world, "dispatcher", "310101")
    assert await get(world, f"/api/v1/media/{first['photos'][0]}", dispatcher) == 200


async def test_on_the_spot_and_result_photos_are_carried_by_the_case(world: BotWorld) -> None:
    coordinator = await world.phone("周")
    leader = await world.phone("块长王")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, leader, "leader", BLOCK_ONE)
    await coordinator.send("/onspot")
    await coordinator.reply()
    await coordinator.photo(jpeg((200, 10, 10)))
    await coordinator.reply()
    await coordinator.photo(jpeg((10, 200, 10)))
    await coordinator.replies(2)
    await coordinator.location(*INSIDE)
    _, categories = await coordinator.replies(2)
    await choose_category(coordinator, categories, "illegal_ads")
    await coordinator.press(await coordinator.reply(), "f:skip")
    await coordinator.press(await coordinator.reply(), "f:confirm")
    await coordinator.reply()
    spot = await world.db.cases.find_one({"channel": "patrol_bot"})
    assert spot is not None and spot["state"] == "closed"
    assert spot["photo_ids"] == [*spot["photos"], *spot["after_photos"]] and len(spot["photo_ids"]) == 2

    # A handler's result photo, sent through the assignment buttons, joins the case too.
    case = await patrol_report(world, coordinator)
    dispatcher = await staff(world, "dispatcher", "310101")
    case = (await api(world, f"/api/v1/cases/{case['serial']}/dispatch", dispatcher,
                      {"unit": BLOCK_ONE}))["case"]
    await notify_round(world)
    assignment = await latest_with(world, leader, "c:accept:")
    assert f"c:done:{case['id']}:{case['version']}" not in buttons(assignment)  # accept first
    # A message that still carries every button (sent before the table decided them): "done"
    # on a dispatched case accepts first and goes on (issue 17); another block's leader may not act.
    old = await web_app(world)[PTB_APP].bot.send_message(
        leader.id, "old", reply_markup=assignment_markup(case["id"], case["version"], "zh-CN"))
    leader.last = old.message_id
    await leader.press({"message_id": old.message_id}, f"c:done:{case['id']}:{case['version']}")
    assert (await leader.reply())["text"] == t("action.accepted_first", "zh-CN", serial=case["serial"])
    await leader.reply()  # asks for the result photos
    await leader.send("/cancel")
    await leader.reply()
    stranger = await world.phone("二号块长")
    await bind(world, stranger, "leader", BLOCK_TWO)
    theirs = await web_app(world)[PTB_APP].bot.send_message(
        stranger.id, "old", reply_markup=assignment_markup(case["id"], case["version"], "zh-CN"))
    press = await stranger.press({"message_id": theirs.message_id},
                                 f"c:accept:{case['id']}:{case['version']}")
    answer = await world.sb.client.callback_answer(press["callback_query_id"])
    assert answer["answer"]["text"] == t("action.not_yours", "zh-CN")
    accepted = await world.db.cases.find_one({"_id": case["id"]})
    assert accepted is not None and accepted["state"] == "in_progress"
    newest = await latest_with(world, leader, "c:done:")
    await leader.press(newest, next(b for b in buttons(newest) if b.startswith("c:done:")))
    await leader.reply()
    await leader.photo(jpeg((30, 160, 60)))
    await leader.reply()
    await leader.send("已清运完毕")
    await leader.press(await leader.reply(), "f:confirm")
    assert (await leader.reply())["text"] == t("action.done", "zh-CN", serial=case["serial"])
    done = await world.db.cases.find_one({"_id": case["id"]})
    assert done is not None and done["state"] == "awaiting_verification"
    [result_photo] = done["result_photos"]
    assert result_photo in done["photo_ids"]
    assert await get(world, f"/api/v1/media/{result_photo}", dispatcher) == 200


async def test_an_english_citizen_is_answered_and_followed_up_in_english(world: BotWorld) -> None:
    citizen = await world.phone("Ann", language_code="en")
    await citizen.send("/report")
    await citizen.press(await citizen.reply(), "f:kind:complaint")
    await citizen.reply()
    await citizen.send("Rubbish piled up at the gate for a week")
    await citizen.reply()
    await citizen.photo(jpeg((90, 90, 200)))
    await citizen.reply()
    await citizen.location(*INSIDE)
    await citizen.press(await citizen.reply(), "f:confirm")
    created = (await citizen.reply())["text"]
    assert created.startswith("Received. Serial number ")
    serial = SERIAL.search(created)
    assert serial is not None
    case = await world.db.cases.find_one({"serial": serial.group(0)})
    assert case is not None
    assert case["reporter"]["locale"] == "en"
    # Placed by intake with the bot's grid; the photo is the case's, and staff-only.
    assert case["placement"]["community_block"] == BLOCK_ONE
    assert case["photo_ids"] == case["photos"] and len(case["phashes"]) == 1
    dispatcher = await staff(world, "dispatcher", "310101")
    assert await get(world, f"/api/v1/media/{case['photos'][0]}", dispatcher) == 200
    assert await get(world, f"/api/v1/media/{case['photos'][0]}") != 200

    # Dispatched, handled and closed: both follow-ups reach the citizen in English.
    leader = await staff(world, "leader", BLOCK_ONE)
    ref = case["serial"]
    await api(world, f"/api/v1/cases/{ref}/dispatch", dispatcher, {"unit": BLOCK_ONE})
    await api(world, f"/api/v1/cases/{ref}/accept", leader, {})
    await api(world, f"/api/v1/cases/{ref}/feedback", leader, {"text": "Cleared"})
    await api(world, f"/api/v1/cases/{ref}/verify", dispatcher, {"ok": True})
    await notify_round(world)
    received = [m["text"] for m in await world.sb.client.messages(citizen.id)
                if m["sandbox"]["outgoing"]]
    assert t("notify.feedback_reporter", "en", serial=ref) in received
    assert any(m.startswith(f"Your report {ref} has been closed. Result: Cleared") for m in received)
    assert not any(re.search(r"[\u4e00-\u9fff]", text) for text in received)


async def test_the_serial_lookup_shows_a_not_public_case_only_to_its_reporter_and_its_staff(
        world: BotWorld) -> None:
    reporter = await world.phone("市民甲")
    stranger = await world.phone("市民乙")
    coordinator = await world.phone("巡管员")
    other_leader = await world.phone("二号块长")
    street = await world.phone("街道受理员")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, other_leader, "leader", BLOCK_TWO)
    await bind(world, street, "dispatcher", STREET)
    live = web_app(world)[keys.GRID_INDEX]
    await live.refresh(world.db, force=True)
    policy = CasePolicy.from_settings(world.settings)
    location = {"lon": INSIDE[1], "lat": INSIDE[0]}
    # A public-security matter the citizen raised, and a police (110) transfer: not public.
    own = (await intake(world.db, policy=policy, now=world.clock.now(), channel="citizen_bot",
                        kind="complaint", category="public_security", description="夜里有人撬车",
                        actor={"role": "citizen", "user_id": reporter.id, "chat_id": reporter.id},
                        location=location, grid=live)).case
    police = (await intake(world.db, policy=policy, now=world.clock.now(), channel="transfer_110",
                           kind="complaint", category="group_renting", description="群租纠纷",
                           actor={"role": "dispatcher", "unit": "310101"},
                           reporter={"name": "王先生", "phone": "13800000000"},
                           location=location, grid=live)).case
    assert not own["public"] and not police["public"]

    async def lookup(phone: Phone, serial: str) -> str:
        await phone.send(serial)
        return str((await phone.reply())["text"])

    def found(text: str, serial: str) -> bool:
        return text.startswith(f"流水号 {serial}\n")

    assert found(await lookup(reporter, own["serial"]), own["serial"])
    assert found(await lookup(street, own["serial"]), own["serial"])
    assert found(await lookup(street, police["serial"]), police["serial"])
    for phone in (stranger, coordinator, other_leader):
        for case in (own, police):
            text = await lookup(phone, case["serial"])
            assert text == t("status.not_found", "zh-CN", serial=case["serial"]), phone.user
    assert await lookup(reporter, police["serial"]) == \
        t("status.not_found", "zh-CN", serial=police["serial"])

    # A public case is anyone's to follow.
    coordinator_case = await patrol_report(world, coordinator)
    assert found(await lookup(stranger, coordinator_case["serial"]), coordinator_case["serial"])
