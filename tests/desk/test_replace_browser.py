"""Re-place in headless Chromium (issue 22): an address-only hotline case (no coordinates, so
unplaced and routed to the district) is placed by a click on the case page's map, re-routed
to the block there, and dispatched to it. Screenshots go to test-artifacts/desk/."""

from __future__ import annotations

from typing import Any

from shapely.geometry import shape

from api.keys import GRID_INDEX
from cases.intake import intake
from grids.demo import demo_feature_collection
from tests.desk.conftest import PASSWORD, DeskFactory
from tests.desk.test_browser import (
    ARTIFACTS,
    CENTER,
    CHROMIUM,
    CHROMIUM_ARGS,
    POLICY,
    pytestmark,  # noqa: F401  (browser mark, skipped without chromium)
)

BLOCK = "310101005003002"
# Screen coordinates of a lon/lat on the case page's map, through the SVG's own transform.
TO_SCREEN = """([lon, lat]) => {
  const svg = document.querySelector('#case-map');
  svg.scrollIntoView({block: 'center'});
  const d = svg.dataset;
  const p = svg.createSVGPoint();
  p.x = (lon - parseFloat(d.minLon)) * parseFloat(d.kx);
  p.y = (parseFloat(d.maxLat) - lat) * parseFloat(d.ky);
  const s = p.matrixTransform(svg.getScreenCTM());
  return [s.x, s.y];
}"""


async def test_an_address_only_hotline_case_is_placed_on_the_map_and_dispatched(
        make_desk: DeskFactory) -> None:
    from playwright.async_api import async_playwright, expect

    fc = demo_feature_collection()
    block = next(f for f in fc["features"] if f["properties"]["code"] == BLOCK)
    point = shape(block["geometry"]).representative_point()
    desk = await make_desk(fc=fc)
    assert desk.server.app[GRID_INDEX].place(point.x, point.y).to_dict()["community_block"] == BLOCK
    case = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="hotline_12345",
                         kind="complaint", category="group_renting", actor=CENTER,
                         description="Group renting at No. 5 Lane 20, 7th floor (address only)",
                         reporter={"name": "Ms Li", "phone": "13900000000"})).case
    assert case["placement"] is None and case["proposed_assignee"]["kind"] == "district"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="en")
            page: Any = await ctx.new_page()
            page.on("pageerror", lambda exc: problems.append(str(exc)))
            await page.goto(desk.url + "/desk/signin")
            await page.fill("#username", "center")
            await page.fill("#password", PASSWORD)
            await page.press("#password", "Enter")
            await page.wait_for_url("**/desk/**")
            await page.goto(f"{desk.url}/desk/cases/{case['_id']}")
            await expect(page.locator("form.act-replace")).to_have_count(1)
            x, y = await page.evaluate(TO_SCREEN, [point.x, point.y])
            await page.mouse.click(x, y)
            await expect(page.locator("#replace-placement")).to_have_class("ok")
            lon = float(await page.input_value("form.act-replace [name=lon]"))
            assert abs(lon - point.x) < 0.0005
            await expect(page.locator("#case-map path.hit")).to_have_count(1)
            await page.fill("form.act-replace [name=reason]", "the caller's address, found on the map")
            await page.screenshot(path=str(ARTIFACTS / "replace-1-clicked.png"))
            await page.click("form.act-replace button[type=submit]")
            await page.wait_for_url("**done=replace**")
            placed = await desk.db.cases.find_one({"_id": case["_id"]})
            assert placed["placement"]["community_block"] == BLOCK
            assert placed["proposed_assignee"]["unit"] == BLOCK
            await expect(page.locator("#timeline")).to_contain_text("re-placed")
            await expect(page.locator("form.act-dispatch [name=unit]")).to_have_value(BLOCK)
            await page.screenshot(path=str(ARTIFACTS / "replace-2-placed.png"))
            await page.click("form.act-dispatch button[type=submit]")
            await page.wait_for_url("**done=dispatch**")
            await expect(page.locator("#case-state")).to_contain_text("dispatched")
            sent = await desk.db.cases.find_one({"_id": case["_id"]})
            assert sent["state"] == "dispatched" and sent["assignee"]["unit"] == BLOCK
            await page.screenshot(path=str(ARTIFACTS / "replace-3-dispatched.png"))
        finally:
            await browser.close()
    assert problems == []
