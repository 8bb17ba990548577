"""Automatic dispatch end to end (issue 22): a coordinator's hazard reported through the bot (real
PTB against the Bot API sandbox) is dispatched by its category's rule in the running worker and
reaches the block leader's chat with the assignment buttons; taken back through the API, the
leader hears so and the case waits for the center again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from cases.categories import Category
from gridlink import auth
from gridlink.i18n import t
from notify.worker import run_worker
from tests.bot.conftest import BLOCK_ONE, BotWorld, Phone, world
from tests.bot.test_flows import bind, buttons, choose_category, report_to_category

__all__ = ["world"]
Json = dict[str, Any]


async def staff(w: BotWorld, role: str, unit: str) -> dict[str, str]:
    token = await auth.create_token(w.db, role=role, unit=unit, district="310101", name=role,
                                    now=w.clock.now())
    return {"Authorization": f"Bearer {token}"}


async def call(w: BotWorld, method: str, path: str, headers: dict[str, str],
               body: Json | None = None) -> tuple[int, Json]:
    async with aiohttp.ClientSession() as s, s.request(method, w.url + path, json=body or {},
                                                       headers=headers) as r:
        return r.status, await r.json()


async def turn_on(w: BotWorld, code: str, **rule: Any) -> Json:
    """Turn a category's rule on through the category API (an admin's PUT)."""
    admin = await staff(w, "admin", "310101")
    doc = await w.db.categories.find_one({"_id": code})
    body = Category.from_doc(doc or {}).model_dump(mode="json", exclude={"code"})
    body["auto_dispatch"] = {"enabled": True, **rule}
    status, answer = await call(w, "PUT", f"/api/v1/categories/{code}", admin, body)
    assert status == 200, answer
    return answer["category"]  # type: ignore[no-any-return]


@pytest.fixture
async def worker(world: BotWorld) -> AsyncIterator[None]:
    conf = world.settings.model_copy(update={
        "notify_poll_s": 0.05, "notify_backoff_s": 0.05, "notify_chat_interval_s": 0.05})
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(conf, mongo_uri=world.mongo_uri, clock=world.clock,
                                          stop=stop))
    yield
    stop.set()
    await task


async def wait_text(w: BotWorld, phone: Phone, found: Callable[[str], bool],
                    limit_s: float = 20) -> Json:
    for _ in range(int(limit_s / 0.05)):
        for msg in await w.sb.client.messages(phone.id):
            if msg["sandbox"]["outgoing"] and found(msg.get("text") or ""):
                return msg
        await asyncio.sleep(0.05)
    raise AssertionError(f"no such message in chat {phone.id}")


async def report_garbage(w: BotWorld, coordinator: Phone) -> str:
    """Photo, location, 暴露垃圾, a note, confirm: the serial the bot answers with."""
    categories = await report_to_category(w, coordinator)
    await choose_category(coordinator, categories, "exposed_garbage")
    assert (await coordinator.reply())["text"] == t("report.ask_note", "zh-CN")
    await coordinator.send("小区门口堆了一大堆垃圾袋")
    confirm = await coordinator.reply()
    await coordinator.press(confirm, "f:confirm")
    created = (await coordinator.reply())["text"]
    assert created.startswith("已受理，流水号 A"), created
    return created.removeprefix("已受理，流水号 ").rstrip("。")


async def test_an_auto_dispatched_hazard_reaches_the_leaders_chat_and_can_be_taken_back(
        world: BotWorld, worker: None) -> None:
    coordinator = await world.phone("巡管员老周")
    leader = await world.phone("块长王")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, leader, "leader", BLOCK_ONE)
    stored = await turn_on(world, "exposed_garbage", to="community_block")
    assert stored["auto_dispatch"] == {"enabled": True, "to": "community_block"}

    serial = await report_garbage(world, coordinator)
    assignment = await wait_text(world, leader, lambda s: serial in s and "【新派单】" in s)
    case = await world.db.cases.find_one({"serial": serial})
    assert case is not None and case["state"] == "dispatched" and case["auto_dispatched"] is True
    assert case["assignee"]["unit"] == BLOCK_ONE
    assert f"c:accept:{case['_id']}:{case['version']}" in buttons(assignment)
    dispatched = case["history"][-1]
    assert dispatched["action"] == "dispatch" and dispatched["actor"]["role"] == "system"
    assert dispatched["data"]["auto"]["rule"] == "community_block"
    # the coordinator hears whom it went to, as after any dispatch
    await wait_text(world, coordinator, lambda s: serial in s and "已派给" in s)

    # The center sees it in the auto-dispatched list and takes it back through the API.
    center = await staff(world, "dispatcher", "310101")
    leader_token = await staff(world, "leader", BLOCK_ONE)
    path = f"/api/v1/cases/{case['_id']}/take-back"
    status, refused = await call(world, "POST", path, leader_token, {})
    assert status == 403, refused
    status, back = await call(world, "POST", path, center,
                              {"note": "街道统一清运", "version": case["version"]})
    assert status == 200, back
    assert back["case"]["state"] == "reported" and back["case"]["assignee"] is None
    status, again = await call(world, "POST", path, center, {})
    assert status == 409 and again["error"]["code"] == "wrong_state", again
    withdrawn = await wait_text(world, leader, lambda s: serial in s and "【派单收回】" in s)
    assert not buttons(withdrawn)
    # the rule does not fire again: the case stays with the center
    await asyncio.sleep(0.5)
    after = await world.db.cases.find_one({"serial": serial})
    assert after is not None and after["state"] == "reported"
    assert [e["action"] for e in after["history"]] == ["report", "dispatch", "take_back"]


async def test_no_rule_fires_without_an_active_leader(world: BotWorld, worker: None) -> None:
    """The rule is on, but the block has no leader bound: the case waits for a dispatcher."""
    coordinator = await world.phone("巡管员小李")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await turn_on(world, "exposed_garbage", to="community_block")
    serial = await report_garbage(world, coordinator)
    for _ in range(40):  # the worker has processed the report's event
        if await world.db.events.count_documents({"serial": serial, "notify_state": "done"}):
            break
        await asyncio.sleep(0.05)
    case = await world.db.cases.find_one({"serial": serial})
    assert case is not None and case["state"] == "reported" and case["auto_dispatched"] is False
    assert await world.db.schedule.count_documents({"case_id": case["_id"]}) > 0  # its dispatch step
