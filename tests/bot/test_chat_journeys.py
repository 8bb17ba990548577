"""Issue 17's chat journeys end to end: real PTB, the sandbox as Telegram, the real app, the
notifier and sender; then every button ever sent is pressed again and must answer with a
message whose buttons work."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import ClientSession, CookieJar
from PIL import Image

from gridlink.i18n import t
from staff import service as staff_service
from tests.bot.conftest import BLOCK_ONE, INSIDE, BotWorld, Phone
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
STREET_CENTER = "310101001"


async def outgoing(world: BotWorld, phone: Phone) -> list[Json]:
    return [m for m in await world.sb.client.messages(phone.id) if m["sandbox"]["outgoing"]]


async def press_every_button(world: BotWorld, *phones: Phone) -> int:
    """After a journey: every button ever sent to these phones, pressed again, is answered with
    a new message, whose case buttons (if any) carry the case's current version. Returns how
    many were pressed. Language buttons are left alone (they would change the language)."""
    pressed = 0
    for phone in phones:
        for message in await outgoing(world, phone):
            for data in [b for b in buttons(message) if not b.startswith("l:")]:
                phone.last = max(m["message_id"] for m in await world.sb.client.messages(phone.id))
                before = phone.last
                await phone.press(message, data)
                answer = await phone.reply()
                assert answer["message_id"] > before, (data, answer)
                assert answer["text"], data
                for fresh in buttons(answer):
                    if fresh.startswith("c:"):
                        case_id, _, version = fresh.split(":", 2)[2].rpartition(":")
                        now = await world.db.cases.find_one({"_id": case_id})
                        assert now is not None and int(version) == now["version"], (data, fresh)
                pressed += 1
    return pressed


async def done_in_chat(world: BotWorld, leader: Phone, message: Json, case_id: str, note: str,
                       shades: tuple[tuple[int, int, int], ...] = ((30, 160, 60),)) -> Json:
    """Done from `message` → result photo(s) → note → confirm; the case afterwards."""
    done = next(b for b in buttons(message) if b.startswith(f"c:done:{case_id}:"))
    await leader.press(message, done)
    serial = (await world.db.cases.find_one({"_id": case_id}) or {})["serial"]
    assert (await leader.reply())["text"] == t("action.ask_result_photo", "zh-CN", serial=serial)
    for n, shade in enumerate(shades, 1):
        await leader.photo(jpeg(shade))
        assert (await leader.reply())["text"] == t("action.result_photo_added", "zh-CN", count=n)
    await leader.send(note)
    confirm = await leader.reply()
    await leader.press(confirm, "f:confirm")
    assert (await leader.reply())["text"] == t("action.done", "zh-CN", serial=serial)
    case = await world.db.cases.find_one({"_id": case_id})
    assert case is not None and case["state"] == "awaiting_verification"
    assert case["result"]["text"] == note and len(case["result"]["photos"]) == len(shades)
    return case


async def patrol_case(world: BotWorld, coordinator: Phone, category: str = "community_sanitation"
                      ) -> tuple[str, str]:
    """A coordinator's report dispatched to block one: (serial, case id)."""
    categories = await report_to_category(world, coordinator)
    await choose_category(coordinator, categories, category)
    asked = await coordinator.reply()
    if "f:dup:new" in buttons(asked):
        await coordinator.press(asked, "f:dup:new")
        asked = await coordinator.reply()
    await coordinator.press(asked, "f:skip")
    await coordinator.press(await coordinator.reply(), "f:confirm")
    serial = re.search(r"[A-Z]\d{8}-\d{3,}", (await coordinator.reply())["text"])
    assert serial is not None
    dispatcher = await staff(world, "dispatcher", "310101")
    case = (await api(world, f"/api/v1/cases/{serial.group(0)}/dispatch", dispatcher,
                      {"unit": BLOCK_ONE}))["case"]
    return serial.group(0), case["id"]


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

    assert await press_every_button(world, coordinator, leader, center) > 10
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
    assert await press_every_button(world, citizen) >= 5


async def test_leader_finishes_in_chat_after_supervision_and_after_a_failed_verification(
        world: BotWorld) -> None:
    """Journey (2): supervision, then rework after a failed verification; both times the
    newest message carries a working Done and the case is finished in chat."""
    coordinator = await world.phone("巡管员老周")
    leader = await world.phone("块长王")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, leader, "leader", BLOCK_ONE)
    serial, case_id = await patrol_case(world, coordinator)
    dispatcher = await staff(world, "dispatcher", "310101")
    await notify_round(world)
    assignment = await latest_with(world, leader, "c:accept:")
    await leader.press(assignment, next(b for b in buttons(assignment) if b.startswith("c:accept:")))
    await leader.reply()

    await api(world, f"/api/v1/cases/{serial}/supervise", dispatcher, {"note": "居民又打电话了"})
    await notify_round(world)
    supervision = await latest_with(world, leader, "c:done:")
    assert supervision["text"].startswith("【督办】") and "居民又打电话了" in supervision["text"]
    await done_in_chat(world, leader, supervision, case_id, "已清理", ((30, 160, 60), (90, 20, 20)))

    await api(world, f"/api/v1/cases/{serial}/verify", dispatcher,
              {"ok": False, "note": "楼道口还有两袋"})
    await notify_round(world)
    rework = await latest_with(world, leader, "c:done:")
    assert rework["text"].startswith("【返工督办】") and "楼道口还有两袋" in rework["text"]
    case = await done_in_chat(world, leader, rework, case_id, "已全部清运", ((10, 10, 200),))
    assert case["reworks"] == 1 and case["supervised"] is True
    assert await press_every_button(world, coordinator, leader) > 5


async def test_done_before_accept_keeps_the_result_photo_and_note(world: BotWorld) -> None:
    """Journey (3): Done on a case that is (again) waiting for Accept accepts first and keeps
    what the handler sent, whether pressed then or the case moved back meanwhile."""
    coordinator = await world.phone("巡管员老周")
    leader = await world.phone("块长王")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, leader, "leader", BLOCK_ONE)
    serial, case_id = await patrol_case(world, coordinator)
    dispatcher = await staff(world, "dispatcher", "310101")
    handler = await staff(world, "leader", BLOCK_ONE)

    async def back_to_dispatched() -> None:
        await api(world, f"/api/v1/cases/{serial}/return", handler, {"reason": "再确认一下"})
        await api(world, f"/api/v1/cases/{serial}/dispatch", dispatcher, {"unit": BLOCK_ONE})

    await api(world, f"/api/v1/cases/{serial}/accept", handler, {})
    await leader.send("/mine")
    await leader.reply()
    mine = await leader.reply()
    assert any(b.startswith(f"c:done:{case_id}:") for b in buttons(mine))
    await back_to_dispatched()  # the case waits for Accept again: the /mine Done is old

    done = next(b for b in buttons(mine) if b.startswith("c:done:"))
    await leader.press(mine, done)
    assert (await leader.reply())["text"] == t("action.accepted_first", "zh-CN", serial=serial)
    assert (await leader.reply())["text"] == t("action.ask_result_photo", "zh-CN", serial=serial)
    await leader.photo(jpeg((200, 200, 30)))
    assert (await leader.reply())["text"] == t("action.result_photo_added", "zh-CN", count=1)
    await back_to_dispatched()  # moved back again while the handler types the note
    await leader.send("井盖已复位")
    confirm = await leader.reply()
    await leader.press(confirm, "f:confirm")
    assert (await leader.reply())["text"] == t("action.accepted_first", "zh-CN", serial=serial)
    assert (await leader.reply())["text"] == t("action.done", "zh-CN", serial=serial)
    case = await world.db.cases.find_one({"_id": case_id})
    assert case is not None and case["state"] == "awaiting_verification"
    assert case["result"]["text"] == "井盖已复位" and len(case["result"]["photos"]) == 1
    await notify_round(world)
    assert await press_every_button(world, coordinator, leader) > 5


async def test_a_low_rating_lists_the_case_in_the_desks_queue(world: BotWorld) -> None:
    """Journey (5): a citizen rates 差 with words; the center hears it in chat and the desk's
    "low ratings" queue lists the case."""
    citizen = await world.phone("市民陈")
    center = await world.phone("受理员李")
    await bind(world, center, "dispatcher", "310101001")
    await citizen.send("/report")
    await citizen.press(await citizen.reply(), "f:kind:complaint")
    await citizen.reply()
    await citizen.send("门口垃圾一直没人清")
    await citizen.press(await citizen.reply(), "f:confirm")
    serial = re.search(r"[A-Z]\d{8}-\d{3,}", (await citizen.reply())["text"])
    assert serial is not None
    dispatcher = await staff(world, "dispatcher", "310101")
    handler = await staff(world, "leader", BLOCK_ONE)
    for path, who, body in (("dispatch", dispatcher, {"unit": BLOCK_ONE}), ("accept", handler, {}),
                            ("feedback", handler, {"text": "已清理"}),
                            ("verify", dispatcher, {"ok": True})):
        await api(world, f"/api/v1/cases/{serial.group(0)}/{path}", who, body)
    await notify_round(world)
    closing = await latest_with(world, citizen, "r:")
    await citizen.send("差，根本没清干净", reply_to=closing["message_id"])
    assert (await citizen.reply())["text"] == t("rating.thanks", "zh-CN", label=t("rating.1", "zh-CN"))
    case = await world.db.cases.find_one({"serial": serial.group(0)})
    assert case is not None and case["low_rating"] is True and case["rating"]["comment"] == "根本没清干净"
    await notify_round(world)
    told = [m["text"] for m in await outgoing(world, center)]
    assert any(x.startswith(f"【差评】{serial.group(0)}") and "根本没清干净" in x for x in told), told

    await staff_service.create_account(world.db, username="lee", password="a long desk password 1",
                                       role="dispatcher", unit="310101", name="Lee", district="310101",
                                       now=world.clock.now(), locale="zh-CN")
    async with ClientSession(base_url=world.url, cookie_jar=CookieJar(unsafe=True)) as desk:
        page = await (await desk.get("/desk/signin")).text()
        csrf = re.search(r'name="csrf" value="([^"]*)"', page)
        assert csrf is not None
        await desk.post("/desk/signin", data={"csrf": csrf.group(1), "username": "lee",
                                              "password": "a long desk password 1"})
        queue = await desk.get("/desk/queues/low_ratings")
        assert queue.status == 200
        html = await queue.text()
        assert serial.group(0) in html.split('id="queue-low_ratings"')[1]
    assert await press_every_button(world, citizen, center) >= 5


def old_photo(colour: tuple[int, int, int], taken: Any) -> bytes:
    """`jpeg(colour, gps=INSIDE)` whose EXIF says it was taken at `taken` (same pixels, so the
    same perceptual hash as `jpeg(colour)`)."""
    img = Image.open(io.BytesIO(jpeg(colour, gps=INSIDE)))
    exif = img.getexif()
    exif[0x0132] = taken.strftime("%Y:%m:%d %H:%M:%S")  # DateTime, read in the server's zone
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


async def test_coordinator_recent_categories_old_photo_and_duplicate_merged(world: BotWorld) -> None:
    """Journey (6): hazards first and the coordinator's recent ones on top (citizen topics
    after "more…"); an old photo is questioned; a likely duplicate nearby is offered before
    the report is filed and "add my photo to …" joins it in one tap."""
    zhou = await world.phone("巡管员老周")
    wu = await world.phone("巡管员小吴")
    await bind(world, zhou, "coordinator", BLOCK_ONE)
    await bind(world, wu, "coordinator", BLOCK_ONE)

    categories = await report_to_category(world, zhou)
    first_page = buttons(categories)
    assert "f:cat:manhole_cover" in first_page and "f:catp:1" in first_page
    for topic in ("school_enrolment", "policy_consultation", "other"):
        assert f"f:cat:{topic}" not in first_page
    await choose_category(zhou, categories, "illegal_ads")  # on a later page the first time
    await zhou.press(await zhou.reply(), "f:skip")
    await zhou.press(await zhou.reply(), "f:confirm")
    first = re.search(r"[A-Z]\d{8}-\d{3,}", (await zhou.reply())["text"])
    assert first is not None

    # The next report: illegal_ads, used last time, is the first button.
    categories = await report_to_category(world, zhou)
    assert buttons(categories)[0] == "f:cat:illegal_ads"
    await zhou.send("/cancel")
    await zhou.reply()

    # Another coordinator sends a 3-day-old gallery photo of the same sight, with GPS.
    taken = (world.clock.now() - timedelta(days=3, hours=1)).astimezone(ZoneInfo(world.settings.timezone))
    # (sent as a file: Telegram strips the EXIF of compressed photos)
    await wu.photo(old_photo((120, 90, 60), taken), as_document=True, file_name="IMG_0412.jpg")
    question = await wu.reply()
    assert question["text"] == t("report.photo_old", "zh-CN", age=t("age.days", "zh-CN", n=3))
    assert buttons(question)[:2] == ["f:still:y", "f:still:n"]
    await wu.press(question, "f:still:y")
    _placed, categories = await wu.replies(2)
    await choose_category(wu, categories, "illegal_ads")
    offer = await wu.reply()
    main = await world.db.cases.find_one({"serial": first.group(0)})
    assert main is not None
    assert first.group(0) in offer["text"] and f"f:dup:{main['_id']}" in buttons(offer)
    assert "f:dup:new" in buttons(offer)
    cases_before = await world.db.cases.count_documents({})
    await wu.press(offer, f"f:dup:{main['_id']}")
    assert (await wu.reply())["text"] == t("report.added_to", "zh-CN", serial=first.group(0))
    joined = await world.db.cases.find_one({"_id": main["_id"]})
    assert joined is not None and await world.db.cases.count_documents({}) == cases_before
    assert len(joined["photos"]) == 2 and set(joined["photos"]) <= set(joined["photo_ids"])
    assert [f["user_id"] for f in joined["followers"]] == [wu.id]
    assert joined["history"][-1]["action"] == "follow"

    # An old photo of something gone files nothing.
    await wu.photo(old_photo((10, 120, 200), taken), as_document=True, file_name="IMG_0413.jpg")
    await wu.press(await wu.reply(), "f:still:n")
    assert (await wu.reply())["text"] == t("report.photo_gone", "zh-CN")
    assert await world.db.cases.count_documents({}) == cases_before

    # The follower hears the case's changes like its reporter.
    dispatcher = await staff(world, "dispatcher", "310101")
    await api(world, f"/api/v1/cases/{first.group(0)}/dispatch", dispatcher, {"unit": BLOCK_ONE})
    await notify_round(world)
    assert any(first.group(0) in (m.get("text") or "") and m["text"].startswith("您反映的问题")
               for m in await outgoing(world, wu))
    assert await press_every_button(world, zhou, wu) > 10
