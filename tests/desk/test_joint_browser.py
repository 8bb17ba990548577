"""A joint case in headless Chromium (联勤联动, issue 22): the center dispatches to the roads
department with city management assisting (the assisting field reached by its access key),
city management accepts and reports its part on its own page, and the case page lists both
units with their state, deadline and colour. Screenshots go to test-artifacts/desk/."""

from __future__ import annotations

from typing import Any

from tests.desk.conftest import INSIDE, PASSWORD, DeskFactory
from tests.desk.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    pytestmark,  # noqa: F401  (browser mark, skipped without chromium)
)
from tests.desk.test_workflow_buttons import hotline_case


async def _sign_in(browser: Any, url: str, name: str, problems: list[str]) -> Any:
    ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="en")
    page = await ctx.new_page()
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    await page.goto(url + "/desk/signin")
    await page.fill("#username", name)
    await page.fill("#password", PASSWORD)
    await page.press("#password", "Enter")
    await page.wait_for_url("**/desk/**")
    return page


async def test_a_joint_case_is_dispatched_and_a_part_reported_in_the_browser(
        make_desk: DeskFactory) -> None:
    from playwright.async_api import async_playwright, expect

    desk = await make_desk()
    case = await hotline_case(desk, location=INSIDE)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            center = await _sign_in(browser, desk.url, "center", problems)
            await center.goto(f"{desk.url}/desk/cases/{case['_id']}")
            await center.fill("form.act-dispatch [name=unit]", "D07")
            field = center.locator("form.act-dispatch [name=assisting]")
            await expect(field).to_have_attribute("accesskey", "j")
            await center.keyboard.press("Alt+j")  # (headless Chromium may not honour it)
            if not await field.evaluate("el => el === document.activeElement"):
                await field.click()
            await center.keyboard.type("D02")
            await center.click("form.act-dispatch button[type=submit]")
            await center.wait_for_url("**done=dispatch**")
            await expect(center.locator("#joint-parts tr#part-D02")).to_have_count(1)
            await expect(center.locator("#joint-parts tr#part-D07")).to_contain_text("lead")

            helper = await _sign_in(browser, desk.url, "chengguan", problems)
            await helper.goto(f"{desk.url}/desk/unit")
            await expect(helper.locator(f"[data-serial='{case['serial']}']")).to_have_count(1)
            await helper.goto(f"{desk.url}/desk/cases/{case['_id']}")
            await helper.click("form.act-part_accept button[type=submit]")
            await helper.wait_for_url("**done=part_accept**")
            await helper.fill("form.act-part_feedback [name=text]", "Stall moved off the pavement")
            await helper.click("form.act-part_feedback button[type=submit]")
            await helper.wait_for_url("**done=part_feedback**")

            await center.reload()
            row = center.locator("#joint-parts tr#part-D02")
            await expect(row).to_contain_text("reported")
            await expect(row).to_contain_text("Stall moved off the pavement")
            await center.screenshot(path=str(ARTIFACTS / "joint-case.png"), full_page=True)
        finally:
            await browser.close()
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored["state"] == "dispatched" and stored["parts"][0]["state"] == "done"
    assert problems == []
