"""A chat user blocked from reporting, through real PTB and the Bot API sandbox: told once why
and until when (in their language), refused briefly after that, nothing stored; a block made
while a report is being composed stops it at the confirm; unblocked, reporting works again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import aiohttp

from gridlink.i18n import t
from tests.bot.conftest import BLOCK_ONE, BotWorld, Phone
from tests.bot.test_flows import bind, jpeg, staff

Json = dict[str, Any]
V1 = "/api/v1"


async def call(world: BotWorld, method: str, path: str, headers: dict[str, str],
               body: Json | None = None, status: int = 200) -> Json:
    async with aiohttp.ClientSession() as s, s.request(method, world.url + path, json=body,
                                                       headers=headers) as r:
        data: Json = await r.json()
        assert r.status == status, data
        return data


async def appeal(phone: Phone, text: str) -> Json:
    """/report → complaint → words → confirm; the bot's last answer."""
    await phone.send("/report")
    await phone.press(await phone.reply(), "f:kind:complaint")
    await phone.reply()
    await phone.send(text)
    await phone.press(await phone.reply(), "f:confirm")
    return await phone.reply()


def until_text(world: BotWorld, until: datetime) -> str:
    return until.astimezone(world.settings.tz).strftime("%Y-%m-%d %H:%M")


async def test_blocked_citizen_is_told_once_and_files_nothing(world: BotWorld) -> None:
    citizen = await world.phone("Abusive Al", language_code="en")
    filed = await appeal(citizen, "the neighbours are [abuse]")
    assert filed["text"].startswith("Received"), filed["text"]
    case = await world.db.cases.find_one({"reporter.user_id": citizen.id})
    assert case is not None
    center = await staff(world, "dispatcher", "310101")
    until = world.clock.now() + timedelta(days=7)
    block = (await call(world, "POST", f"{V1}/moderation/blocks", center,
                        {"case": case["serial"], "reason": "abusive messages",
                         "until": until.isoformat()}, status=201))["block"]
    cases_before = await world.db.cases.count_documents({})

    await citizen.send("/report")
    told = await citizen.reply()
    assert told["text"] == t("block.told", "en", reason="abusive messages", until=until_text(world, until))
    await citizen.send("/report")
    again = await citizen.reply()
    assert again["text"] == t("block.refused", "en", until=until_text(world, until))
    assert await world.db.conversations.count_documents({"_id": str(citizen.id)}) == 0
    assert await world.db.cases.count_documents({}) == cases_before
    # following a case by serial still works
    await citizen.send(case["serial"])
    assert case["serial"] in (await citizen.reply())["text"]

    # unblocked: reporting works again
    await call(world, "DELETE", f"{V1}/moderation/blocks/{block['id']}", center)
    await citizen.send("/report")
    assert (await citizen.reply())["text"] == t("citizen.choose_kind", "en")
    await citizen.send("/cancel")
    await citizen.reply()

    # blocked (by the admin, by chat id) while composing: the confirm files nothing
    await citizen.send("/report")
    await citizen.press(await citizen.reply(), "f:kind:complaint")
    await citizen.reply()
    await citizen.send("more [abuse]")
    confirm = await citizen.reply()
    admin = await staff(world, "admin", "310101")
    await call(world, "POST", f"{V1}/moderation/blocks", admin,
               {"user_id": citizen.id, "reason": "abusive messages again",
                "until": until.isoformat()}, status=201)
    await citizen.press(confirm, "f:confirm")
    told_again = await citizen.reply()
    assert told_again["text"] == t("block.told", "en", reason="abusive messages again",
                                   until=until_text(world, until))
    assert await world.db.cases.count_documents({}) == cases_before
    assert await world.db.conversations.count_documents({"_id": str(citizen.id)}) == 0
    # past its end date the block is over by itself
    world.clock.advance(timedelta(days=8))
    await citizen.send("/report")
    assert (await citizen.reply())["text"] == t("citizen.choose_kind", "en")


async def test_blocked_coordinator_photo_is_not_stored(world: BotWorld) -> None:
    coordinator = await world.phone("钱")  # Chinese: told in Chinese
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    admin = await staff(world, "admin", "310101")
    until = world.clock.now() + timedelta(days=1)
    await call(world, "POST", f"{V1}/moderation/blocks", admin,
               {"user_id": coordinator.id, "reason": "不实举报", "until": until.isoformat()},
               status=201)
    await coordinator.photo(jpeg())
    assert (await coordinator.reply())["text"] == t("block.told", "zh-CN", reason="不实举报",
                                                   until=until_text(world, until))
    await coordinator.send("/onspot")
    assert (await coordinator.reply())["text"] == t("block.refused", "zh-CN",
                                                   until=until_text(world, until))
    assert await world.db.photos.count_documents({}) == 0
    assert await world.db.cases.count_documents({}) == 0
