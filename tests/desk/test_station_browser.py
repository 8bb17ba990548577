"""The station head's blocks and the admin's assessment weights in headless Chromium, in both
languages: a station head signs in and lands on their blocks, opens a waiting case (no action
forms); an admin reaches the weights from the admin home and saves a level. Screenshots go to
test-artifacts/desk/station-*.png and weights-*.png."""

from __future__ import annotations

import shutil

import pytest

from tests.desk.conftest import PASSWORD, Desk, add_account
from tests.desk.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS
from tests.desk.test_http import dispatched, new_case
from tests.desk.test_station import NORTH, SOUTH, SOUTH_PLACEMENT, STATION, bind_people, folded

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)"),
]


async def test_a_station_head_and_an_admin_in_the_browser(desk: Desk) -> None:
    from playwright.async_api import Page, async_playwright, expect

    await add_account(desk.db, desk.clock, "station", "station_head", STATION)
    await bind_people(desk.db, desk.clock)
    north = await dispatched(desk)
    await new_case(desk, placement=SOUTH_PLACEMENT, description="Broken bench")
    await folded(desk.db, desk.clock)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async def signed_in(page: Page, username: str) -> None:
        await page.goto(desk.url + "/desk/signin")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.press("#password", "Enter")
        await page.wait_for_url("**/desk/**")

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for username in ("station", "admin"):
                context = await browser.new_context(viewport={"width": 1366, "height": 768})
                page = await context.new_page()
                page.set_default_timeout(30_000)
                # (the refused save below answers 400 on purpose: Chromium logs that one)
                page.on("console", lambda m: problems.append(m.text)
                        if m.type == "error" and "status of 400" not in m.text else None)
                await signed_in(page, username)
                if username == "station":
                    await expect(page).to_have_url(desk.url + "/desk/station")
                    await expect(page.locator(f"#block-{NORTH}")).to_contain_text("李芳")
                    await expect(page.locator(f"#block-{SOUTH} [data-colour=blue]")).to_have_text("1")
                    await page.screenshot(path=str(ARTIFACTS / "station-1-blocks-en.png"), full_page=True)
                    await page.click(f"#cases-{NORTH} a.serial")
                    await expect(page).to_have_url(desk.url + f"/desk/cases/{north['_id']}")
                    assert await page.locator("main form[action^='/desk/cases/']").count() == 0
                    await page.goto(desk.url + "/desk/locale?to=zh-CN&next=/desk/station")
                    await expect(page.locator("h1")).to_contain_text("的网格责任块")
                    await expect(page.locator("#nav-station")).to_have_text("本站网格")
                    await page.screenshot(path=str(ARTIFACTS / "station-2-blocks-zh.png"), full_page=True)
                else:
                    await page.goto(desk.url + "/desk/admin")
                    await page.click("#admin-weights")
                    section = page.locator("#weights-streets")
                    await section.locator("input[name=on_time_handling_rate]").fill("0.35")
                    await section.locator("input[name=handling_rate]").fill("0.05")
                    await section.locator("button[value=save]").click()
                    await expect(page.locator("[role=status]")).to_contain_text("Weights of “Streets” saved.")
                    await expect(section.locator(".weights-sum")).to_have_text("1.0")
                    await page.screenshot(path=str(ARTIFACTS / "weights-1-saved-en.png"), full_page=True)
                    await page.goto(desk.url + "/desk/locale?to=zh-CN&next=/desk/admin/weights")
                    await section.locator("input[name=handling_rate]").fill("0.5")
                    await section.locator("button[value=save]").click()
                    await expect(page.locator("#problem")).to_contain_text("街镇：权重之和须为 1")
                    await page.screenshot(path=str(ARTIFACTS / "weights-2-refused-zh.png"), full_page=True)
                await context.close()
        finally:
            await browser.close()
    assert not problems, problems
