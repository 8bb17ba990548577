"""A joint case in chat (联勤联动, issue 22): the assisting unit's leader gets its own assignment
(through the real notifier and sender) with the same Accept / Done buttons as a lead; pressing
them accepts and reports the unit's own part, not the lead's; the center approves or refuses
the part's extension request from its own chat (`u:` buttons), as on the desk."""

from __future__ import annotations

from typing import Any

import aiohttp

from cases.joint import part_of
from tests.bot.conftest import BLOCK_ONE, BLOCK_TWO, INSIDE, BotWorld, Phone
from tests.bot.test_flows import api, bind, buttons, jpeg, latest_with, notify_round, staff


async def ask_more_time(world: BotWorld, helper: Phone, center: Phone, reason: str, button: str
                        ) -> dict[str, Any]:
    """The helper asks for one more day from its newest message's Extend; the center's message
    about it, carrying `button`."""
    told = await latest_with(world, helper, "c:extend:")
    await helper.press(told, next(b for b in buttons(told) if b.startswith("c:extend:")))
    await helper.reply()
    await helper.send("1")
    await helper.reply()
    await helper.send(reason)
    await helper.reply()
    await notify_round(world)
    return await latest_with(world, center, button)


async def test_the_assisting_unit_handles_its_part_in_chat(world: BotWorld) -> None:
    lead, helper = await world.phone("块长王"), await world.phone("块长李")
    center = await world.phone("受理员赵")
    await bind(world, lead, "leader", BLOCK_ONE)
    await bind(world, helper, "leader", BLOCK_TWO)
    await bind(world, center, "dispatcher", "310101")
    dispatcher = await staff(world, "dispatcher", "310101")
    async with aiohttp.ClientSession() as s, s.post(world.url + "/api/v1/cases", headers=dispatcher, json={
            "channel": "hotline_12345", "kind": "complaint", "category": "community_sanitation",
            "description": "两个小区交界处的垃圾堆",
            "location": {"lat": INSIDE[0], "lon": INSIDE[1]}}) as r:
        assert r.status == 201
        serial = (await r.json())["case"]["serial"]
    case = (await api(world, f"/api/v1/cases/{serial}/dispatch", dispatcher,
                      {"unit": BLOCK_ONE, "assisting": [BLOCK_TWO]}))["case"]
    case_id, version = case["id"], case["version"]
    await notify_round(world)

    # the helper's own assignment: "assisting", the lead named, its part's buttons
    assignment = await latest_with(world, helper, "c:accept:")
    text = assignment.get("text") or assignment.get("caption") or ""
    assert "联勤联动" in text and serial in text and "一号责任块" in text
    assert f"c:accept:{case_id}:{version}" in buttons(assignment)
    lead_msg = await latest_with(world, lead, "c:accept:")
    assert "联勤联动" not in (lead_msg.get("text") or lead_msg.get("caption") or "")

    # Accept: the helper's part, not the case (the lead has not accepted)
    await helper.press(assignment, f"c:accept:{case_id}:{version}")
    assert (await helper.reply())["text"] == f"已接单：{serial}。"
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and stored["state"] == "dispatched"
    assert part_of(stored, BLOCK_TWO)["state"] == "in_progress"

    # /mine lists it for the helper too, on its part's clock, with its part's buttons
    await helper.send("/mine")
    _, mine = await helper.replies(2)
    assert serial in mine["text"] and any(b.startswith("c:done:") for b in buttons(mine))

    # Extend: more time for the part, not for the case
    await helper.press(assignment, f"c:extend:{case_id}:{stored['version']}")
    assert serial in (await helper.reply())["text"]
    await helper.send("2")
    await helper.reply()
    await helper.send("业主外出")
    assert (await helper.reply())["text"].startswith("延期申请已提交")
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and stored["extension"] is None
    assert part_of(stored, BLOCK_TWO)["extension"]["status"] == "pending"

    # The center answers in chat as on the desk: its message names the unit and carries
    # approve / refuse for that unit's part; approving moves the part's deadline only.
    await notify_round(world)
    asked = await latest_with(world, center, "u:approve:")
    assert "二号责任块" in (asked.get("text") or "") and "业主外出" in (asked.get("text") or "")
    decision = next(b for b in buttons(asked) if b.startswith("u:approve:"))
    assert decision == f"u:approve:{BLOCK_TWO}:{case_id}:{stored['version']}"
    before = part_of(stored, BLOCK_TWO)["due_at"]
    await center.press(asked, decision)
    assert (await center.reply())["text"].startswith("已批准延期")
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and part_of(stored, BLOCK_TWO)["extension"]["status"] == "approved"
    assert part_of(stored, BLOCK_TWO)["due_at"] > before and stored["extension"] is None
    await notify_round(world)
    told = [m for m in await world.sb.client.messages(helper.id) if m["sandbox"]["outgoing"]]
    assert "批准" in (told[-1].get("text") or "")
    edited = next(m for m in await world.sb.client.messages(center.id)
                  if m["message_id"] == asked["message_id"])
    assert not [b for b in buttons(edited) if b.startswith("u:")]  # decided: the buttons go

    # A second request, refused in chat with the reason typed
    asked = await ask_more_time(world, helper, center, "还要再等", "u:refuse:")
    await center.press(asked, next(b for b in buttons(asked) if b.startswith("u:refuse:")))
    assert serial in (await center.reply())["text"]
    await center.send("请按原期限完成")
    assert (await center.reply())["text"].startswith("已不批准")
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and part_of(stored, BLOCK_TWO)["extension"]["status"] == "refused"
    assert part_of(stored, BLOCK_TWO)["extension"]["decision_reason"] == "请按原期限完成"

    # A third, decided on the desk's API before the chat button is pressed: the case as it is
    # now, and nothing changes
    asked = await ask_more_time(world, helper, center, "再申请一次", "u:approve:")
    await api(world, f"/api/v1/cases/{case_id}/part-extension/decision", dispatcher,
              {"unit": BLOCK_TWO, "approve": False, "reason": "已在受理台处理"})
    await center.press(asked, next(b for b in buttons(asked) if b.startswith("u:approve:")))
    assert serial in (await center.reply())["text"]
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and part_of(stored, BLOCK_TWO)["extension"]["decision_reason"] == "已在受理台处理"

    # Done: the part's result with a photo
    # (on the newest message with the part's buttons: the refused extension's)
    newest = await latest_with(world, helper, "c:done:")
    await helper.press(newest, next(b for b in buttons(newest) if b.startswith("c:done:")))
    assert serial in (await helper.reply())["text"]
    await helper.photo(jpeg((30, 160, 60)))
    await helper.reply()
    await helper.send("我方一侧已清运")
    await helper.press(await helper.reply(), "f:confirm")
    await helper.reply()
    stored = await world.db.cases.find_one({"_id": case_id})
    assert stored is not None and stored["state"] == "dispatched" and stored["result"] is None
    part = part_of(stored, BLOCK_TWO)
    assert part["state"] == "done" and part["feedback"]["text"] == "我方一侧已清运"
    assert len(part["feedback"]["photos"]) == 1
