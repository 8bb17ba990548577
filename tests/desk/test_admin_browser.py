"""The admin's roster pages in headless Chromium: a roster file chosen and imported, its bad
rows shown, the unit's people listed, the printable invite sheet with its QR codes, and the
audit log, in both languages. Screenshots go to test-artifacts/desk/admin-*.png."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.desk.conftest import PASSWORD, Desk
from tests.desk.test_admin import BLOCK, STATION, xlsx
from tests.desk.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)"),
]


async def test_an_admin_imports_a_roster_and_prints_the_invite_sheet(desk: Desk, tmp_path: Any) -> None:
    from playwright.async_api import async_playwright, expect

    rows = [[f"巡管员{i}", f"1390000{i:04d}", "巡管员", BLOCK] for i in range(6)]
    rows += [["王五", "12345", "coordinator", BLOCK], ["赵六", "13911112222", "leader", STATION],
             ["周九", "13911114444", "工作站站长", STATION]]
    path = tmp_path / "名册.xlsx"
    path.write_bytes(xlsx(rows))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(viewport={"width": 1280, "height": 900})).new_page()
            page.set_default_timeout(30_000)
            page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
            await page.goto(desk.url + "/desk/signin")
            await page.fill("#username", "admin")
            await page.fill("#password", PASSWORD)
            await page.press("#password", "Enter")
            await page.wait_for_url("**/desk/**")
            await page.click("#nav-admin")
            await page.click("#admin-roster")
            await page.set_input_files("#file", str(path))
            await page.click("#import-form button[type=submit]")
            # the upload is parsed and imported before the page answers: slow on a busy machine
            await expect(page.locator("#import-summary")).to_contain_text(
                "9 rows: 7 people imported", timeout=30_000)
            await expect(page.locator("#problem-row-8")).to_contain_text("Not a phone number")
            await expect(page.locator("#problem-row-9")).to_contain_text("A block leader is bound to")
            await page.screenshot(path=str(ARTIFACTS / "admin-1-import-result-en.png"), full_page=True)
            await page.goto(desk.url + f"/desk/admin/roster?unit={BLOCK}")
            await expect(page.locator("#roster-people tbody tr")).to_have_count(6)
            await page.screenshot(path=str(ARTIFACTS / "admin-2-roster-unit-en.png"), full_page=True)
            await page.click("#sheet-link")
            await expect(page.locator(".qr-card")).to_have_count(6)
            widths = await page.eval_on_selector_all(".qr-card img", "imgs => imgs.map(i => i.naturalWidth)")
            assert all(w > 0 for w in widths), widths  # the QR codes render
            await page.screenshot(path=str(ARTIFACTS / "admin-3-invite-sheet-en.png"), full_page=True)
            await page.goto(desk.url + "/desk/locale?to=zh-CN&next=/desk/admin/audit")
            await expect(page.locator("#audit-log")).to_contain_text("导入名册")
            await page.screenshot(path=str(ARTIFACTS / "admin-4-audit-zh.png"), full_page=True)
            await page.goto(desk.url + f"/desk/admin/roster/sheet?unit={BLOCK}")
            await expect(page.locator("h1")).to_contain_text("邀请二维码")
            await page.screenshot(path=str(ARTIFACTS / "admin-5-invite-sheet-zh.png"), full_page=True)
        finally:
            await browser.close()
    assert problems == []
