"""Moderation on the desk: hide/unhide from the case page, the case's moderation page (redact a
photo with typed or drawn rectangles, block the chat reporter), the overview with its end
buttons — each refused to staff who are not the case's center; and the rectangle picker in
headless Chromium (drag on the photo, S saves; the public copy is blurred there)."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from typing import Any

import pytest

from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.db import Database
from media import service as media_service
from tests.cases.conftest import PLACEMENT
from tests.cases.test_moderation import BOX, COORDINATOR, noisy_jpeg, region_std
from tests.desk.conftest import DISTRICT, INSIDE, PASSWORD, Desk, DeskFactory, csrf_of

POLICY = CasePolicy(district=DISTRICT)
CHAT_CITIZEN = Actor(role="citizen", user_id=606, chat_id=606, name="Chat Citizen", locale="en")
VERSION_RE = re.compile(r'name="version" value="(\d+)"')


async def photo_case(desk: Desk, seed: int = 3) -> tuple[dict[str, Any], str]:
    stored = await media_service.ingest(desk.db, data=noisy_jpeg(seed=seed), content_type="image/jpeg",
                                        uploader="test", settings=desk.settings, now=desk.clock.now())
    case = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="patrol_bot",
                         kind="hazard", category="road_damage", actor=COORDINATOR,
                         description="Broken paving, a passer-by in the photo", location=INSIDE,
                         placement=PLACEMENT, photos=[stored.id])).case
    return case, stored.id


async def chat_case(desk: Desk) -> dict[str, Any]:
    return (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="citizen_bot",
                         kind="complaint", category="road_damage", actor=CHAT_CITIZEN,
                         description="rude words", location=INSIDE, placement=PLACEMENT,
                         reporter={"user_id": 606, "chat_id": 606, "locale": "en"})).case


async def form_post(c: Any, page_path: str, action: str, fields: dict[str, str]) -> Any:
    page = await c.get(page_path)
    html = await page.text()
    data = {"csrf": csrf_of(html), **fields}
    if "version" not in fields and (v := VERSION_RE.search(html)):
        data["version"] = v.group(1)
    return await c.post(action, data=data, allow_redirects=False)


async def test_hide_and_unhide_from_the_case_page(make_desk: DeskFactory, db: Database) -> None:
    desk = await make_desk()
    case, _ = await photo_case(desk)
    center = await desk.signed_in("center")
    page = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert f'action="/desk/cases/{case["_id"]}/hide"' in page and 'id="case-hidden"' not in page
    assert f'href="/desk/cases/{case["_id"]}/moderate"' in page and 'id="nav-moderation"' in page
    hidden = await form_post(center, f"/desk/cases/{case['_id']}", f"/desk/cases/{case['_id']}/hide",
                             {"reason": "a child's face", "next": f"/desk/cases/{case['_id']}"})
    assert hidden.status == 303 and hidden.headers["Location"].endswith("done=hide")
    stored = await db.cases.find_one({"_id": case["_id"]})
    assert stored["hidden"] is True and stored["public"] is False
    after = await (await center.get(hidden.headers["Location"])).text()
    assert "Done: Hide from the public" in after and "hidden from the public" in after
    assert f'action="/desk/cases/{case["_id"]}/unhide"' in after and 'id="case-hidden"' in after
    # the public lookup no longer finds it
    public = await center.get(f"/api/v1/public/cases/{case['serial']}")
    assert public.status == 404
    shown = await form_post(center, f"/desk/cases/{case['_id']}/moderate",
                            f"/desk/cases/{case['_id']}/unhide", {})
    assert shown.status == 303
    assert (await db.cases.find_one({"_id": case["_id"]}))["public"] is True
    # a department (not the case's center) is refused the page and the action
    roads = await desk.signed_in("roads")
    assert (await roads.get(f"/desk/cases/{case['_id']}/moderate")).status == 403
    refused = await form_post(roads, "/desk/unit", f"/desk/cases/{case['_id']}/hide",
                              {"reason": "x", "version": "3"})
    assert refused.status == 403


async def test_redact_with_typed_boxes(make_desk: DeskFactory, db: Database) -> None:
    desk = await make_desk()
    case, photo = await photo_case(desk)
    center = await desk.signed_in("center")
    page = await (await center.get(f"/desk/cases/{case['_id']}/moderate")).text()
    assert 'id="redact-picker"' in page and f'/desk/media/{photo}?size=web' in page
    assert "/desk/static/redact.js" in page
    bad = await form_post(center, f"/desk/cases/{case['_id']}/moderate",
                          f"/desk/cases/{case['_id']}/redact", {"photo": photo, "boxes": "1,2"})
    assert bad.status == 400 and 'id="problem"' in await bad.text()
    done = await form_post(center, f"/desk/cases/{case['_id']}/moderate",
                           f"/desk/cases/{case['_id']}/redact",
                           {"photo": photo, "boxes": ",".join(str(v) for v in BOX), "reason": "face"})
    assert done.status == 303, await done.text()
    stored = await db.cases.find_one({"_id": case["_id"]})
    copy = stored["redactions"][0]["redacted"]
    assert stored["public_photos"] == [copy]
    page = await (await center.get(done.headers["Location"])).text()
    assert 'id="redacted-preview"' in page and copy in page
    served = await center.get(f"/api/v1/media/{copy}?size=web")
    assert served.status == 200 and region_std(await served.read(), BOX) < 8


async def test_block_reporter_and_lift_it(make_desk: DeskFactory, db: Database) -> None:
    desk = await make_desk()
    case = await chat_case(desk)
    hotline = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="hotline_12345",
                            kind="complaint", category="road_damage",
                            actor=Actor(role="dispatcher", unit=DISTRICT, name="Center"),
                            description="by phone", location=INSIDE, placement=PLACEMENT,
                            reporter={"phone": "13800000000"})).case
    center = await desk.signed_in("center")
    assert 'id="no-chat-reporter"' in await (await center.get(f"/desk/cases/{hotline['_id']}/moderate")).text()
    until = (desk.clock.now() + timedelta(days=2)).astimezone(desk.settings.tz).strftime("%Y-%m-%dT%H:%M")
    missing = await form_post(center, f"/desk/cases/{case['_id']}/moderate",
                              f"/desk/cases/{case['_id']}/block", {"reason": "abuse"})
    assert missing.status == 400
    made = await form_post(center, f"/desk/cases/{case['_id']}/moderate",
                           f"/desk/cases/{case['_id']}/block", {"reason": "abuse", "until": until})
    assert made.status == 303
    block = await db.chat_blocks.find_one({"user_id": 606})
    assert block["active"] and block["reason"] == "abuse" and block["serial"] == case["serial"]
    page = await (await center.get(made.headers["Location"])).text()
    assert 'id="block-state"' in page and 'id="unblock-form"' in page
    overview = await (await center.get("/desk/moderation")).text()
    assert f'data-block="{block["_id"]}"' in overview and "606" not in overview  # no chat ids
    assert 'id="moderation-log"' in overview and "Block from reporting" in overview
    leader = await desk.signed_in("leader")
    assert (await leader.get("/desk/moderation")).status == 403
    ended = await form_post(center, "/desk/moderation", f"/desk/moderation/blocks/{block['_id']}/end", {})
    assert ended.status == 303
    assert (await db.chat_blocks.find_one({"user_id": 606}))["active"] is False
    assert 'id="no-blocks"' in await (await center.get("/desk/moderation")).text()


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.mark.browser
@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)")
async def test_rectangle_picker_in_the_browser(make_desk: DeskFactory, db: Database) -> None:
    from playwright.async_api import async_playwright, expect

    desk = await make_desk()
    case, photo = await photo_case(desk, seed=5)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="en")
            page = await ctx.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(desk.url + "/desk/signin")
            await page.fill("#username", "center")
            await page.fill("#password", PASSWORD)
            await page.press("#password", "Enter")
            await page.wait_for_url("**/desk/**")
            await page.goto(desk.url + f"/desk/cases/{case['_id']}")
            await page.keyboard.press("Alt+k")  # the case page's moderation link (accesskey)
            if "/moderate" not in page.url:
                await page.click(f"#moderate-{case['_id']}")
            await page.wait_for_url("**/moderate**")
            image = page.locator("#redact-image")
            await expect(image).to_be_visible()
            await page.wait_for_function("document.querySelector('#redact-image').naturalWidth > 0")

            async def drag(x0: float, y0: float, x1: float, y1: float) -> None:
                await image.scroll_into_view_if_needed()
                box = await image.bounding_box()  # where it is now (a click may have scrolled)
                assert box is not None
                await page.mouse.move(box["x"] + box["width"] * x0, box["y"] + box["height"] * y0)
                await page.mouse.down()
                await page.mouse.move(box["x"] + box["width"] * x1, box["y"] + box["height"] * y1, steps=5)
                await page.mouse.up()

            await drag(0.05, 0.05, 0.15, 0.15)
            await expect(page.locator(".redact-box")).to_have_count(1)
            await page.keyboard.press("u")  # undo
            await expect(page.locator(".redact-box")).to_have_count(0)
            await page.click("#redact-whole")
            assert await page.input_value("#redact-boxes") == "0.0000,0.0000,1.0000,1.0000"
            await page.keyboard.press("c")  # clear
            await expect(page.locator(".redact-box")).to_have_count(0)
            x, y, w, h = BOX
            await drag(x, y, x + w, y + h)
            await expect(page.locator(".redact-box")).to_have_count(1)
            typed = (await page.input_value("#redact-boxes")).split(",")
            assert [round(float(v), 2) for v in typed] == [round(v, 2) for v in BOX]
            await page.mouse.click(5, 5)  # focus off any field
            await page.keyboard.press("s")
            await page.wait_for_url("**done=redact**")
            await expect(page.locator("#redacted-preview")).to_be_visible()
            await page.screenshot(path=str(_artifacts() / "redaction.png"), full_page=True)
            assert not errors, errors
        finally:
            await browser.close()
    stored = await db.cases.find_one({"_id": case["_id"]})
    copy = stored["redactions"][0]["redacted"]
    blurred = await (await media_service.rendition(db, photo_id=copy, size="web")).read(db)
    original = await (await media_service.rendition(db, photo_id=photo, size="web")).read(db)
    assert region_std(original, BOX) > 40 and region_std(blurred, BOX) < 8


def _artifacts() -> Any:
    from pathlib import Path

    out = Path(__file__).resolve().parents[2] / "test-artifacts" / "desk"
    out.mkdir(parents=True, exist_ok=True)
    return out
