"""The bot's dialogues end to end: real PTB, the sandbox as Telegram, the real app and database.

Assignment and rating-request messages are notify's to send; here the test sends them the way
notify does (the bot's keyboards, a `rating_prompts` record), so the buttons under test are the
real contract.
"""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from typing import Any

import aiohttp
from PIL import Image

from api.keys import PTB_APP
from bot import repository as repo
from cases.lifecycle import MAX_PHOTOS
from gridlink import auth
from gridlink.buttons import assignment_markup, rating_markup
from gridlink.i18n import t
from tests.bot.conftest import BLOCK_ONE, INSIDE, BotWorld, Phone

Json = dict[str, Any]


def jpeg(colour: tuple[int, int, int] = (120, 90, 60), *, gps: tuple[float, float] | None = None) -> bytes:
    """A small photo; with `gps` (lat, lon) it carries an EXIF GPS position as phones write it."""
    img = Image.new("RGB", (64, 48), colour)
    for x in range(0, 64, 8):  # some texture, so it is not a flat image
        img.putpixel((x, x % 48), (255, 255, 255))
    exif = Image.Exif()
    if gps is not None:
        def dms(value: float) -> tuple[float, float, float]:
            d = int(value)
            m = int((value - d) * 60)
            return (float(d), float(m), round((value - d - m / 60) * 3600, 4))

        exif[0x8825] = {1: "N", 2: dms(gps[0]), 3: "E", 4: dms(gps[1])}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, exif=exif)
    return out.getvalue()


async def bind(world: BotWorld, phone: Phone, role: str, unit: str) -> None:
    token = await repo.create_invite(world.db, role=role, unit=unit, name=phone.user["first_name"],
                                     now=world.clock.now(), ttl=timedelta(hours=72))
    await phone.send(f"/start {token}")
    assert "绑定成功" in (await phone.reply())["text"] or "registered" in phone.seen[-1]["text"]


async def staff(world: BotWorld, role: str, unit: str) -> dict[str, str]:
    token = await auth.create_token(world.db, role=role, unit=unit, district="310101",
                                    name=role, now=world.clock.now())
    return {"Authorization": f"Bearer {token}"}


async def api(world: BotWorld, path: str, headers: dict[str, str], body: Json) -> Json:
    async with aiohttp.ClientSession() as s, s.post(world.url + path, json=body, headers=headers) as r:
        data: Json = await r.json()
        assert r.status == 200, data
        return data


async def report_to_category(world: BotWorld, coordinator: Phone) -> Json:
    """Photo → location → placed; returns the category keyboard message."""
    await coordinator.photo(jpeg())
    got, ask = await coordinator.replies(2)
    assert got["text"] == t("report.photo_added", "zh-CN", count=1)
    assert ask["text"] == t("report.ask_location", "zh-CN")
    assert await location_button(world, coordinator)
    await coordinator.location(*INSIDE)
    placed, categories = await coordinator.replies(2)
    assert placed["text"] == "已定位：社区网格 一号责任块／街面 一号街面。"
    return categories


async def choose_category(phone: Phone, categories: Json, code: str) -> None:
    """Press the category's button, paging through "more…" until it shows."""
    while f"f:cat:{code}" not in buttons(categories):
        more = [b for b in buttons(categories) if b.startswith("f:catp:")]
        assert more, f"{code} is on no page"
        await phone.press(categories, more[0])
        categories = await phone.reply()
    await phone.press(categories, f"f:cat:{code}")


async def location_button(world: BotWorld, phone: Phone) -> bool:
    """Whether the chat shows the request-location reply-keyboard button."""
    keyboard = (await world.sb.client.chat(phone.id))["reply_keyboard"]
    return bool(keyboard) and keyboard["keyboard"][0][0].get("request_location") is True


async def notify_round(world: BotWorld) -> None:
    """What the worker does: turn new events into outbox messages and send them all."""
    from notify.config import NotifyConfig
    from notify.notifier import process_batch
    from notify.repository import count_messages
    from notify.sender import Sender

    cfg = NotifyConfig.from_settings(world.settings)
    while await process_batch(world.db, cfg, now=world.clock.now(), worker="test"):
        pass
    fast = world.settings.model_copy(update={"notify_poll_s": 0.05, "notify_chat_interval_s": 0.0,
                                             "notify_backoff_s": 0.05})
    sender = Sender(world.db, fast, clock=world.clock, worker="test")
    stop = asyncio.Event()
    task = asyncio.create_task(sender.run(stop))
    try:
        for _ in range(400):
            pending = await count_messages(
                world.db, query={"state": {"$in": ["queued", "retry", "sending"]}})
            if not pending:
                break
            assert not task.done(), task.exception()
            await asyncio.sleep(0.05)
        assert not pending, "the outbox did not drain"
    finally:
        stop.set()
        await task


async def latest_with(world: BotWorld, phone: Phone, prefix: str) -> Json:
    """The bot's newest message to `phone` carrying a button whose callback starts with `prefix`."""
    found = [m for m in await world.sb.client.messages(phone.id)
             if m["sandbox"]["outgoing"] and any(b.startswith(prefix) for b in buttons(m))]
    assert found, f"no message with a {prefix} button"
    phone.last = max(phone.last, max(int(m["message_id"]) for m in
                                     await world.sb.client.messages(phone.id)))
    return found[-1]


def buttons(message: Json) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


async def test_hazard_from_report_to_rating(world: BotWorld) -> None:
    coordinator = await world.phone("巡管员老周")
    leader = await world.phone("块长王")
    citizen = await world.phone("市民陈")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, leader, "leader", BLOCK_ONE)

    # The coordinator reports: photo, location, category, note, confirm → serial.
    categories = await report_to_category(world, coordinator)
    assert "f:cat:community_sanitation" in buttons(categories)
    assert "f:cat:manhole_cover" in buttons(categories)  # the street layer is placed too
    await coordinator.press(categories, "f:cat:community_sanitation")
    assert (await coordinator.reply())["text"] == t("report.ask_note", "zh-CN")
    await coordinator.send("楼道口堆满装修垃圾")
    confirm = await coordinator.reply()
    assert "小区环境卫生" in confirm["text"] and "楼道口堆满装修垃圾" in confirm["text"]
    await coordinator.press(confirm, "f:confirm")
    created = (await coordinator.reply())["text"]
    assert created.startswith("已受理，流水号 A")
    serial = created.removeprefix("已受理，流水号 ").rstrip("。")
    case = await world.db.cases.find_one({"serial": serial})
    assert case is not None
    assert (case["channel"], case["kind"], case["state"]) == ("patrol_bot", "hazard", "reported")
    assert case["placement"]["community_block"] == BLOCK_ONE
    assert case["proposed_assignee"] == {"unit": BLOCK_ONE, "kind": "block", "name": "一号责任块"} \
        or case["proposed_assignee"]["unit"] == BLOCK_ONE
    assert len(case["photos"]) == 1 and case["reporter"]["user_id"] == coordinator.id
    assert await world.db.conversations.count_documents({}) == 0

    # A citizen reports the same thing; the center merges it into the coordinator's case.
    await citizen.send("/report")
    await citizen.press(await citizen.reply(), "f:kind:complaint")
    await citizen.reply()
    await citizen.send("我家楼下的垃圾没人管")
    await citizen.press(await citizen.reply(), "f:confirm")
    appeal_serial = (await citizen.reply())["text"].removeprefix("已受理，流水号 ").split("。")[0]
    dispatcher = await staff(world, "dispatcher", "310101")
    await api(world, f"/api/v1/cases/{appeal_serial}/merge", dispatcher, {"into": serial})

    # The center dispatches to the block; the worker's assignment message reaches the leader.
    case = (await api(world, f"/api/v1/cases/{serial}/dispatch", dispatcher, {"unit": BLOCK_ONE}))["case"]
    case_id, version = case["id"], case["version"]
    assert case["state"] == "dispatched"
    await notify_round(world)
    assignment_json = await latest_with(world, leader, "c:accept:")
    assert serial in (assignment_json.get("text") or assignment_json.get("caption") or "")
    assert f"c:accept:{case_id}:{version}" in buttons(assignment_json)
    # …and the same buttons on another message (a reminder), pressed later when stale.
    bot = world.server.app[PTB_APP].bot
    reminder = await bot.send_message(leader.id, f"提醒 {serial}",
                                      reply_markup=assignment_markup(case_id, version, "zh-CN"))
    leader.last = reminder.message_id

    # /mine shows it in blue, one message per case with the buttons allowed now.
    await leader.send("/mine")
    _, mine = await leader.replies(2)
    assert mine["text"] == f"🔵 {serial} 小区环境卫生 — 已派遣" + mine["text"].split("已派遣")[1]
    assert f"c:accept:{case_id}:{version}" in buttons(mine)

    # Accept; the message's buttons now carry the new version.
    await leader.press(assignment_json, f"c:accept:{case_id}:{version}")
    assert (await leader.reply())["text"] == f"已接单：{serial}。"
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and stored["state"] == "in_progress"
    edited = next(m for m in await world.sb.client.messages(leader.id)
                  if m["message_id"] == assignment_json["message_id"])
    assert f"c:done:{case_id}:{stored['version']}" in buttons(edited)

    # Done: result photo and note.
    await leader.press(assignment_json, f"c:done:{case_id}:{stored['version']}")
    assert (await leader.reply())["text"] == f"请发送处置结果照片（{serial}）："
    await leader.photo(jpeg((30, 160, 60)))
    assert (await leader.reply())["text"] == t("action.result_photo_added", "zh-CN", count=1)
    await leader.send("已清运完毕")
    await leader.press(await leader.reply(), "f:confirm")
    assert (await leader.reply())["text"] == f"已反馈办结：{serial}，等待中心核查。"
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and stored["state"] == "awaiting_verification"
    assert stored["result"]["text"] == "已清运完毕" and len(stored["result"]["photos"]) == 1
    assert stored["result"]["by"]["role"] == "leader"

    # A stale button answers with the current state.
    await leader.press({"message_id": reminder.message_id}, f"c:accept:{case_id}:{version}")
    assert (await leader.reply())["text"] == f"该案件已有变化：{serial} 当前状态为「待核查」。"

    # The center verifies and closes; the worker asks the reporters to rate.
    closed = (await api(world, f"/api/v1/cases/{serial}/verify", dispatcher, {"ok": True}))["case"]
    assert closed["state"] == "closed"
    await notify_round(world)
    ask_json = await latest_with(world, citizen, f"r:{case_id}:")
    ask_id = int(ask_json["message_id"])
    assert await repo.rating_prompt(world.db, chat_id=citizen.id, message_id=ask_id) == case_id
    await citizen.send("还行吧", reply_to=ask_id)
    assert (await citizen.reply())["text"] == t("rating.hint", "zh-CN")
    await citizen.send("5", reply_to=ask_id)
    assert (await citizen.reply())["text"] == "谢谢您的评价：满意。"
    assert (await citizen.reply())["text"] == t("rating.ask_comment", "zh-CN")
    rated = await world.db.cases.find_one({"_id": case_id})
    assert rated is not None and rated["rating"]["score"] == 5
    assert rated["rating"]["by"]["user_id"] == citizen.id
    events = [e["type"] async for e in world.db.events.find({"case_id": case_id}).sort("at", 1)]
    assert events[0] == "case.reported" and events[-1] == "case.rated"
    assert {"case.assigned", "case.accepted", "case.feedback", "case.closed"} <= set(events)


async def test_photo_as_file_with_gps_needs_no_location(world: BotWorld) -> None:
    coordinator = await world.phone("Zhou", language_code="en")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    # A file that only claims to be a photo is refused in plain words; nothing starts.
    await coordinator.photo(b"GIF89a not really" * 50, as_document=True, file_name="IMG_0000.jpg")
    refused = (await coordinator.reply())["text"]
    assert refused.startswith("This photo cannot be used: ") and "photo_" not in refused
    await coordinator.photo(jpeg(gps=INSIDE), as_document=True, file_name="IMG_0001.jpg")
    placed, categories = await coordinator.replies(2)
    assert placed["text"] == "Placed: community block Block One / street block Street One."
    assert categories["text"] == "Pick a category:"
    conv = await world.db.conversations.find_one({"chat_id": coordinator.id})
    assert conv is not None and conv["step"] == "category"
    assert abs(conv["data"]["location"]["lat"] - INSIDE[0]) < 1e-4


async def test_more_photos_while_the_location_is_awaited_get_one_reply_each(world: BotWorld) -> None:
    coordinator = await world.phone("周")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await coordinator.photo(jpeg())
    await coordinator.replies(2)  # photo count, ask location
    await coordinator.photo(jpeg((40, 90, 200)))
    more = await coordinator.reply()
    assert more["text"] == t("report.photo_added", "zh-CN", count=2)
    assert await location_button(world, coordinator)  # the button comes with it again
    await coordinator.location(*INSIDE)
    placed, _ = await coordinator.replies(2)
    assert placed["text"].startswith("已定位")
    assert [m["text"] for m in coordinator.seen].count(t("report.ask_location", "zh-CN")) == 1


async def test_a_photo_past_what_a_case_may_carry_is_refused_and_the_report_stays(
        world: BotWorld) -> None:
    coordinator = await world.phone("周")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await coordinator.photo(jpeg())
    await coordinator.replies(2)
    conv, _ = await repo.load_conversation(world.db, chat_id=coordinator.id, now=world.clock.now())
    assert conv is not None
    await world.db.conversation_items.insert_many(
        [{"chat": str(coordinator.id), "chat_id": coordinator.id, "field": "photos", "value": f"p{i}"}
         for i in range(MAX_PHOTOS - 1)])
    photos_before = await world.db.photos.count_documents({})
    await coordinator.photo(jpeg((40, 90, 200)))
    assert (await coordinator.reply())["text"] == t("report.too_many_photos", "zh-CN", max=MAX_PHOTOS)
    assert await world.db.photos.count_documents({}) == photos_before  # not even stored
    conv, _ = await repo.load_conversation(world.db, chat_id=coordinator.id, now=world.clock.now())
    assert conv is not None and len(conv["data"]["photos"]) == MAX_PHOTOS
    assert conv["step"] == "location"


async def test_location_outside_the_district_keeps_the_report(world: BotWorld) -> None:
    coordinator = await world.phone("周")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await coordinator.photo(jpeg())
    await coordinator.replies(2)
    await coordinator.location(31.30, 121.60)  # ~20 km away
    outside = await coordinator.reply()
    assert outside["text"] == t("report.outside", "zh-CN")
    assert await location_button(world, coordinator)
    # The half-finished report survives a restart of the web process.
    await world.stop()
    await world.start()
    # A venue (a place picked from the map) is a location too.
    coordinator._sent(await world.sb.client.send_venue(coordinator.id, *INSIDE, "小区门口", "一号路"))
    placed, _ = await coordinator.replies(2)
    assert placed["text"].startswith("已定位")
    conv, _ = await repo.load_conversation(world.db, chat_id=coordinator.id, now=world.clock.now())
    assert conv is not None and len(conv["data"]["photos"]) == 1


async def test_handled_on_the_spot_and_cancel(world: BotWorld) -> None:
    coordinator = await world.phone("周")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await coordinator.send("/onspot")
    assert (await coordinator.reply())["text"] == t("report.onspot_before", "zh-CN")
    await coordinator.photo(jpeg((200, 10, 10)))
    assert (await coordinator.reply())["text"] == t("report.onspot_after", "zh-CN")
    await coordinator.photo(jpeg((10, 200, 10)))
    await coordinator.replies(2)  # photo count, ask location
    await coordinator.location(*INSIDE)
    _, categories = await coordinator.replies(2)
    await choose_category(coordinator, categories, "illegal_ads")
    skip = await coordinator.reply()
    await coordinator.press(skip, "f:skip")
    await coordinator.press(await coordinator.reply(), "f:confirm")
    text = (await coordinator.reply())["text"]
    assert text.startswith("已记录当场处置并结案")
    case = await world.db.cases.find_one({"channel": "patrol_bot"})
    assert case is not None and case["state"] == "closed" and case["handled_on_the_spot"]
    assert len(case["photos"]) == 1 and len(case["after_photos"]) == 1

    # Rating by star button; a second rating is refused plainly.
    bot = world.server.app[PTB_APP].bot
    ask = await bot.send_message(coordinator.id, t("rating.ask", "zh-CN", serial=case["serial"]),
                                 reply_markup=rating_markup(case["_id"], "zh-CN"))
    coordinator.last = ask.message_id
    await coordinator.press({"message_id": ask.message_id}, f"r:{case['_id']}:4")
    assert (await coordinator.reply())["text"] == "谢谢您的评价：较满意。"
    await coordinator.press(await coordinator.reply(), "f:skip")
    assert (await coordinator.reply())["text"] == t("rating.comment_thanks", "zh-CN")
    await coordinator.press({"message_id": ask.message_id}, f"r:{case['_id']}:5")
    assert (await coordinator.reply())["text"] == t("rating.already", "zh-CN")
    rated = await world.db.cases.find_one({"_id": case["_id"]})
    assert rated is not None and rated["rating"]["score"] == 4

    # Cancel mid-way: nothing is filed, the dialogue is gone.
    await coordinator.photo(jpeg())
    await coordinator.replies(2)
    await coordinator.send("/cancel")
    assert (await coordinator.reply())["text"] == t("cancel.done", "zh-CN")
    assert await world.db.conversations.count_documents({}) == 0
    assert await world.db.conversation_items.count_documents({}) == 0
    assert await world.db.cases.count_documents({}) == 1


async def test_citizens_cannot_use_handler_buttons(world: BotWorld) -> None:
    citizen = await world.phone("Ann", language_code="en")
    bot = world.server.app[PTB_APP].bot
    msg = await bot.send_message(citizen.id, "x", reply_markup=assignment_markup("abc", 1, "en"))
    press = await citizen.press({"message_id": msg.message_id}, "c:accept:abc:1")
    answer = await world.sb.client.callback_answer(press["callback_query_id"])
    assert answer["answered"] and answer["answer"]["text"] == t("action.not_yours", "en")
    await citizen.photo(jpeg())
    citizen.last = msg.message_id
    assert (await citizen.reply())["text"] == t("report.coordinators_only", "en")
