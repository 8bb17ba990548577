"""Journey (1) of issue 17 clicked through the sandbox's chat page in headless Chromium: the
real gridlink bot (PTB) and notifier behind it, the block leader's part done in the page."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from PIL import Image

from gridlink.i18n import t
from tests.bot.conftest import BLOCK_ONE, BotWorld
from tests.bot.test_chat_journeys import STREET_CENTER, patrol_case
from tests.bot.test_flows import bind, buttons, latest_with, notify_round
from tests.sandbox.test_page import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)"),
]
ZH = "zh-CN"


def picture(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (640, 480), (shade, 160, 60)).save(out, "JPEG")
    return out.getvalue()


@asynccontextmanager
async def chat_as(world: BotWorld, name: str, screenshot: str) -> AsyncIterator[Any]:
    """The sandbox's chat page in headless Chromium, showing `name`'s chat; a screenshot to
    test-artifacts/<screenshot> at the end, and no script error on the page."""
    from playwright.async_api import async_playwright, expect

    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(world.sb.url + "/")
            await page.locator("#user-list li", has_text=name).click()
            await expect(page.locator("#chat-title")).to_contain_text(name)
            yield page
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / screenshot), full_page=True)
        finally:
            await browser.close()
    assert errors == []


async def test_leader_journey_in_the_chat_page(world: BotWorld) -> None:
    from playwright.async_api import expect

    coordinator = await world.phone("巡管员老周")
    leader = await world.phone("块长王")
    center = await world.phone("受理员李")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)
    await bind(world, leader, "leader", BLOCK_ONE)
    await bind(world, center, "dispatcher", STREET_CENTER)
    serial, case_id = await patrol_case(world, coordinator)
    await notify_round(world)

    async with chat_as(world, "块长王", "sandbox-leader-journey.png") as page:
        # The assignment: the hazard's photo, the pin named after the block, the buttons.
        assignment = page.locator(".msg.bot", has_text=serial).filter(
            has=page.locator(".inline-button", has_text=t("btn.accept", ZH))).last
        await expect(assignment).to_be_visible(timeout=10_000)
        await expect(page.locator(".msg.bot img").first).to_be_visible()
        await expect(page.locator(".msg.bot", has_text="🏢 一号责任块").first).to_be_visible()
        await assignment.locator(".inline-button", has_text=t("btn.accept", ZH)).click()
        accepted = page.locator(".msg.bot", has_text=t("action.accepted", ZH, serial=serial)).last
        await expect(accepted).to_be_visible(timeout=10_000)

        # An extension in working days, approved by the center in its own chat.
        await accepted.locator(".inline-button", has_text=t("btn.extend", ZH)).click()
        await expect(page.locator(".msg.bot", has_text=serial).last).to_contain_text("延期")
        await page.fill("#text-input", "2")
        await page.press("#text-input", "Enter")
        await expect(page.locator(".msg.bot").last).to_contain_text(
            t("action.ask_extension_reason", ZH), timeout=10_000)
        await page.fill("#text-input", "材料要等两天")
        await page.press("#text-input", "Enter")
        await expect(page.locator(".msg.bot").last).to_contain_text(
            t("action.extension_requested", ZH, serial=serial), timeout=10_000)
        await notify_round(world)
        request = await latest_with(world, center, "c:approve:")
        await center.press(request, next(b for b in buttons(request) if b.startswith("c:approve:")))
        await center.reply()
        await notify_round(world)

        # Done from the newest message, two result photos, the note, confirm.
        outcome = page.locator(".msg.bot", has_text="【延期已批准】").last
        await expect(outcome).to_be_visible(timeout=10_000)
        await outcome.locator(".inline-button", has_text=t("btn.done", ZH)).click()
        await expect(page.locator(".msg.bot").last).to_contain_text(
            t("action.ask_result_photo", ZH, serial=serial), timeout=10_000)
        for n, shade in enumerate((30, 90), 1):
            await page.set_input_files("#photo-input", files=[{
                "name": f"result{n}.jpg", "mimeType": "image/jpeg", "buffer": picture(shade)}])
            await page.click("#send-photo")
            await expect(page.locator(".msg.bot").last).to_contain_text(
                t("action.result_photo_added", ZH, count=n), timeout=10_000)
        await page.fill("#text-input", "已清运完毕")
        await page.press("#text-input", "Enter")
        confirm = page.locator(".msg.bot", has_text="已清运完毕").last
        await expect(confirm).to_be_visible(timeout=10_000)
        await confirm.locator(".inline-button", has_text=t("btn.confirm", ZH)).click()
        await expect(page.locator(".msg.bot").last).to_contain_text(
            t("action.done", ZH, serial=serial), timeout=10_000)
    case = await world.db.cases.find_one({"_id": case_id})
    assert case is not None and case["state"] == "awaiting_verification"
    assert case["extension"]["status"] == "approved"
    assert len(case["result"]["photos"]) == 2 and case["result"]["text"] == "已清运完毕"


async def test_center_decides_a_joint_parts_extension_in_the_chat_page(world: BotWorld) -> None:
    """A joint case's assisting block asks for more time for its part; the center's chat page
    shows the request naming that block, with approve / refuse, and approving answers there."""
    from playwright.async_api import expect

    from tests.bot.conftest import BLOCK_TWO, INSIDE
    from tests.bot.test_flows import api, staff

    helper, center = await world.phone("块长李"), await world.phone("受理员赵")
    await bind(world, helper, "leader", BLOCK_TWO)
    await bind(world, center, "dispatcher", "310101")
    dispatcher = await staff(world, "dispatcher", "310101")
    async with aiohttp.ClientSession() as s, s.post(world.url + "/api/v1/cases", headers=dispatcher, json={
            "channel": "hotline_12345", "kind": "complaint", "category": "community_sanitation",
            "description": "两个小区交界处的垃圾堆", "location": {"lat": INSIDE[0], "lon": INSIDE[1]}}) as r:
        assert r.status == 201
        case = (await r.json())["case"]
    await api(world, f"/api/v1/cases/{case['id']}/dispatch", dispatcher,
              {"unit": BLOCK_ONE, "assisting": [BLOCK_TWO]})
    leader_two = await staff(world, "leader", BLOCK_TWO)
    await api(world, f"/api/v1/cases/{case['id']}/part-accept", leader_two, {})
    await api(world, f"/api/v1/cases/{case['id']}/part-extension", leader_two,
              {"working_days": 2, "reason": "业主外出"})
    await notify_round(world)

    async with chat_as(world, "受理员赵", "sandbox-center-part-extension.png") as page:
        request = page.locator(".msg.bot", has_text="二号责任块").filter(
            has=page.locator(".inline-button", has_text=t("btn.approve", ZH))).last
        await expect(request).to_be_visible(timeout=10_000)
        await expect(request).to_contain_text("业主外出")
        await request.locator(".inline-button", has_text=t("btn.approve", ZH)).click()
        await expect(page.locator(".msg.bot").last).to_contain_text(
            t("action.extension_approved", ZH, serial=case["serial"]), timeout=10_000)
    stored = await world.db.cases.find_one({"_id": case["id"]})
    assert stored is not None
    assert [p["extension"]["status"] for p in stored["parts"]] == ["approved"]
