"""A joint case in chat (联勤联动, issue 22): the assisting unit's leader gets its own assignment
(through the real notifier and sender) with the same Accept / Done buttons as a lead; pressing
them accepts and reports the unit's own part, not the lead's."""

from __future__ import annotations

import aiohttp

from cases.joint import part_of
from tests.bot.conftest import BLOCK_ONE, BLOCK_TWO, INSIDE, BotWorld
from tests.bot.test_flows import api, bind, buttons, jpeg, latest_with, notify_round, staff


async def test_the_assisting_unit_handles_its_part_in_chat(world: BotWorld) -> None:
    lead, helper = await world.phone("块长王"), await world.phone("块长李")
    await bind(world, lead, "leader", BLOCK_ONE)
    await bind(world, helper, "leader", BLOCK_TWO)
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

    # Done: the part's result with a photo
    # (the assignment's buttons were last refreshed by the accept: the table still allows Done)
    edited = next(m for m in await world.sb.client.messages(helper.id)
                  if m["message_id"] == assignment["message_id"])
    done = next(b for b in buttons(edited) if b.startswith("c:done:"))
    await helper.press(assignment, done)
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
