"""The desk in headless Chromium (Debian's, via Playwright): a hotline complaint entered by
clicking the map, its duplicate suggestion, dispatch, a department accepting and reporting
with a photo on a phone-sized screen, verification and closing, and the red queue after the
injected clock passes a deadline. Screenshots go to test-artifacts/desk/."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw
from shapely.geometry import shape

from api.keys import GRID_INDEX
from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from grids.demo import demo_feature_collection
from tests.desk.conftest import DISTRICT, PASSWORD, DeskFactory

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "desk"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
POLICY = CasePolicy(district=DISTRICT)
CENTER = Actor(role="dispatcher", unit=DISTRICT, name="Center Li")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)"),
]

# Screen coordinates of a lon/lat on the intake map, through the SVG's own transform.
TO_SCREEN = """([lon, lat]) => {
  const svg = document.querySelector('#district-map');
  svg.scrollIntoView({block: 'center'});
  const d = svg.dataset;
  const p = svg.createSVGPoint();
  p.x = (lon - parseFloat(d.minLon)) * parseFloat(d.kx);
  p.y = (parseFloat(d.maxLat) - lat) * parseFloat(d.ky);
  const s = p.matrixTransform(svg.getScreenCTM());
  return [s.x, s.y];
}"""


def photo_bytes(seed: int = 0) -> bytes:
    img = Image.new("RGB", (480, 360), (90, 120 + seed, 90))
    draw = ImageDraw.Draw(img)
    for i in range(0, 480, 24):
        draw.rectangle([i, (i * 3 + seed * 17) % 360, i + 18, (i * 3 + seed * 17) % 360 + 40],
                       fill=(200, 180 - i // 4, 60))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


async def test_dispatcher_department_and_red_queue_in_the_browser(make_desk: DeskFactory) -> None:
    from playwright.async_api import FilePayload, async_playwright, expect

    fc = demo_feature_collection()
    block = next(f for f in fc["features"] if f["properties"]["code"] == "310101005003002")
    point = shape(block["geometry"]).representative_point()
    lon, lat = point.x, point.y
    desk = await make_desk(fc=fc)
    live = desk.server.app[GRID_INDEX]
    placement = live.place(lon, lat).to_dict()
    assert placement["community_block"] == "310101005003002"
    # A case already open a few metres away: the duplicate the desk must suggest.
    existing = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="hotline_12345",
                             kind="complaint", category="road_damage", actor=CENTER,
                             description="Broken paving stones by the bus stop",
                             location={"lon": lon + 0.0001, "lat": lat}, placement=placement)).case
    # Another case, dispatched now: it will turn red when the clock passes its deadline.
    late = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="hotline_962000",
                         kind="complaint", category="exposed_garbage", actor=CENTER,
                         description="Garbage piled at the market gate",
                         location={"lon": lon, "lat": lat + 0.002},
                         placement=live.place(lon, lat + 0.002).to_dict())).case
    late = await lifecycle.dispatch(desk.db, case_ref=late["_id"], actor=CENTER, now=desk.clock.now(),
                                    policy=POLICY)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    def watch(page: Any, who: str) -> None:
        page.on("pageerror", lambda exc: problems.append(f"{who}: {exc}"))
        page.on("console", lambda msg: problems.append(f"{who} console: {msg.text}")
                if msg.type == "error" else None)

    async def sign_in(page: Any, username: str) -> None:
        await page.goto(desk.url + "/desk/signin")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.press("#password", "Enter")
        await page.wait_for_url("**/desk/**")
        await expect(page.locator("#signin-form")).to_have_count(0)

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            center_ctx = await browser.new_context(viewport={"width": 1366, "height": 768},
                                                   locale="zh-CN")
            center = await center_ctx.new_page()
            watch(center, "center")
            await sign_in(center, "center")
            await expect(center.locator("#nav-new .count")).to_have_text("1")

            # --- intake by clicking the map
            await center.keyboard.press("g")
            await center.keyboard.press("i")  # keyboard shortcut to the intake form
            await center.wait_for_url("**/desk/intake")
            await center.select_option("#channel", "hotline_12345")
            await center.select_option("#kind", "complaint")
            await center.fill("#category", "road_damage")
            await center.fill("#description", "路面破损，行人绊倒 / damaged pavement, a pedestrian fell")
            await center.fill("#caller_name", "王女士")
            await center.fill("#caller_phone", "13912345678")
            await center.select_option("#reporter_locale", "en")  # the caller is answered in English
            await center.locator("#intake-photo").set_input_files(
                FilePayload(name="call.jpg", mimeType="image/jpeg", buffer=photo_bytes(seed=7)))
            x, y = await center.evaluate(TO_SCREEN, [lon, lat])
            await center.mouse.click(x, y)
            await expect(center.locator("#placement")).to_have_class("ok")
            await expect(center.locator("#placement")).to_contain_text("/")
            assert abs(float(await center.input_value("#lon")) - lon) < 0.0005
            await expect(center.locator("#duplicate-list li")).to_have_count(1)
            await expect(center.locator("#duplicate-list")).to_contain_text(existing["serial"])
            await expect(center.locator("#district-map path.hit")).to_have_count(1)
            await center.screenshot(path=str(ARTIFACTS / "1-intake-map-duplicate.png"))
            await center.click("#save")
            serial = (await center.locator("#saved-serial").inner_text()).strip()
            assert serial.startswith("A") and serial != existing["serial"]
            await expect(center.locator("#saved-duplicates")).to_contain_text(existing["serial"])
            await center.screenshot(path=str(ARTIFACTS / "2-saved-serial.png"))
            saved = await desk.db.cases.find_one({"serial": serial})
            assert saved is not None and saved["placement"]["community_block"] == "310101005003002"
            assert saved["reporter"] == {"name": "王女士", "phone": "13912345678", "locale": "en"}
            assert len(saved["photos"]) == 1 and saved["photo_ids"] == saved["photos"]

            # --- dispatch from the "new" queue, proposed unit and deadline pre-filled
            await center.click("#nav-new")
            row = center.locator(f'li[data-serial="{serial}"]')
            await expect(row.locator('input[name="unit"]')).to_have_value("D07")
            await expect(row.locator('input[name="deadline"]')).not_to_have_value("")
            await center.screenshot(path=str(ARTIFACTS / "3-new-queue.png"))
            await row.locator("form.act-dispatch button").click()
            await expect(center.locator(".notice")).to_be_visible()
            await expect(center.locator(f'li[data-serial="{serial}"]')).to_have_count(0)
            case = await desk.db.cases.find_one({"serial": serial})
            assert case is not None and case["state"] == "dispatched" and case["assignee"]["unit"] == "D07"

            # --- the department, on a phone: accept, then report the result with a photo
            roads_ctx = await browser.new_context(viewport={"width": 390, "height": 844},
                                                  locale="en-US", is_mobile=True, has_touch=True)
            roads = await roads_ctx.new_page()
            watch(roads, "roads")
            await sign_in(roads, "roads")
            await roads.wait_for_url("**/desk/unit")
            row = roads.locator(f'li[data-serial="{serial}"]')
            await row.locator("form.act-accept button").click()
            row = roads.locator(f'li[data-serial="{serial}"]')
            await expect(row.locator("form.act-feedback")).to_be_visible()
            await row.locator("form.act-feedback textarea").fill("Paving relaid and levelled")
            await row.locator('form.act-feedback input[type="file"]').set_input_files(
                FilePayload(name="after.jpg", mimeType="image/jpeg", buffer=photo_bytes()))
            await roads.screenshot(path=str(ARTIFACTS / "4-department-phone.png"), full_page=True)
            await row.locator("form.act-feedback button").click()
            await expect(roads.locator(".notice")).to_be_visible()
            case = await desk.db.cases.find_one({"serial": serial})
            assert case is not None and case["state"] == "awaiting_verification"
            assert len(case["result_photos"]) == 1

            # --- the dispatcher verifies with the callback script and the photo, and closes
            await center.click("#nav-verification")
            row = center.locator(f'li[data-serial="{serial}"]')
            await expect(row.locator(".script")).to_contain_text("Paving relaid")
            await expect(row).to_contain_text("王女士")
            thumb = row.locator(".photos img")
            await expect(thumb).to_have_count(1)
            assert await thumb.evaluate("img => img.complete && img.naturalWidth > 0")
            await row.locator("textarea[name=callback]").fill("来电人确认已修复，满意")
            await center.screenshot(path=str(ARTIFACTS / "5-verification.png"))
            await row.locator('button[value="pass"]').click()
            await expect(center.locator(".notice")).to_be_visible()
            case = await desk.db.cases.find_one({"serial": serial})
            assert case is not None and case["state"] == "closed"

            # --- the red queue after the injected clock passes the other case's deadline
            await center.click("#nav-red")
            await expect(center.locator(f'li[data-serial="{late["serial"]}"]')).to_have_count(0)
            desk.clock.set(late["deadline"] + (late["deadline"] - late["dispatched_at"]) / 10)
            await center.goto(desk.url + "/desk/queues/red")
            if "/desk/signin" in center.url:  # a long jump may outlast the session
                await sign_in(center, "center")
                await center.goto(desk.url + "/desk/queues/red")
            row = center.locator(f'li[data-serial="{late["serial"]}"]')
            await expect(row).to_be_visible()
            await expect(row.locator(".late")).to_be_visible()
            await expect(center.locator("#nav-red .count")).not_to_have_text("0")
            await center.screenshot(path=str(ARTIFACTS / "6-red-queue.png"))
            await row.locator("form.act-supervise button").click()
            await expect(center.locator(".notice")).to_be_visible()
            event = await desk.db.events.find_one({"case_id": late["_id"], "type": "case.supervised"})
            assert event is not None

            # --- the case page: map with block and point, timeline, photos
            await center.goto(desk.url + f"/desk/cases/{saved['_id']}")
            await expect(center.locator("#case-map path.sel")).to_have_count(1)
            await expect(center.locator("#case-map circle.pin")).to_have_count(1)
            await expect(center.locator("#timeline li")).to_have_count(5)
            await expect(center.locator("#no-actions, #case-actions form")).not_to_have_count(0)
            for box in ("#intake-photos", "#result-photos"):  # the caller's photo, the department's
                thumb = center.locator(f"{box} img")
                await expect(thumb).to_have_count(1)
                assert await thumb.evaluate("img => img.complete && img.naturalWidth > 0"), box
            await center.screenshot(path=str(ARTIFACTS / "7-case-page.png"), full_page=True)
        finally:
            await browser.close()
    assert problems == []
