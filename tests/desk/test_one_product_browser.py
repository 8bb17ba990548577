"""One product (issue 23), in headless Chromium: the board, hotspots, trends, map, assessment,
portal and a desk page share one header, navigation and language switch; each is in the chosen
language (the switch's choice holds from page to page, desk and public alike); units show by
name, the code only as secondary text; English pages have no Chinese in their title, heading or
navigation except the link to Chinese. Screenshots of every page in both languages go to
test-artifacts/one-product/ (taken once the CJK web font has loaded)."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from grids.demo import demo_feature_collection
from stats.history import generate
from stats.rollups import rebuild
from stats.units import directory
from tests.desk.conftest import DISTRICT, PASSWORD, DeskFactory

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "one-product"
NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
PAGES = ["board", "hotspots", "trends", "map", "assessment", "portal"]
NAV = [f"/{p}" for p in PAGES] + ["/desk/"]
CJK = re.compile(r"[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef]")
CODE = re.compile(r"^[A-Z]?\d+$")  # 310101001, D06: a unit code, not a name

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)"),
]

# What each page has drawn once its data is in (its script ran against the API).
READY = {
    "board": "#board tr.unit .name",
    "hotspots": "#chart[data-bars]",
    "trends": "#chart[data-series]",
    "map": "#map path.block",
    "assessment": "table[data-table=streets] tbody tr",
    "portal": "#performance tbody tr",
}


async def _header(page: Any, lang: str, where: str) -> None:
    """The one header: brand, the pages' navigation in its order, the language switch."""
    assert await page.locator("header.top .brand").count() == 1, where
    hrefs = await page.locator("#nav-pages a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == NAV, (where, hrefs)
    switch = page.locator("#lang-switch")
    assert await switch.inner_text() == ("中文" if lang == "en" else "English"), where
    assert await page.evaluate("() => document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
    heading = await page.locator("main h1").first.inner_text()
    nav = await page.locator("#nav-pages").inner_text()
    title = await page.title()
    if lang == "en":
        # Every heading, column head, label and button of the page too (the data is English here).
        texts = await page.locator("main :is(h1, h2, h3, th, label, button, option)").all_inner_texts()
        for text in (heading, nav, title, *texts):
            assert not CJK.search(text), (where, text)
    else:
        assert CJK.search(heading) and CJK.search(nav), (where, heading, nav)
    # Form controls take the page's font (the CJK web font among it), not the browser's default.
    if await page.locator("main button").count():
        font = await page.locator("main button").first.evaluate("b => getComputedStyle(b).fontFamily")
        assert "GridlinkCJK" in font, (where, font)


async def _shoot(page: Any, name: str) -> None:
    await page.evaluate("() => document.fonts.ready")
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _is_name(text: str, names: set[str]) -> bool:
    return bool(text.strip()) and not CODE.match(text.strip()) and text.strip() in names


async def test_every_page_is_one_product_in_both_languages(make_desk: DeskFactory, clock: Any) -> None:
    from playwright.async_api import async_playwright

    clock.set(NOW)
    desk = await make_desk(fc=demo_feature_collection())
    d = await directory(desk.db, district=DISTRICT)
    history = list(generate(400, now=NOW, years=0.05, seed=5))
    await desk.db.cases.insert_many(history)
    await rebuild(desk.db)
    done = next(c for c in reversed(history) if c["state"] == "closed" and c["public"]
                and not c.get("handled_on_the_spot") and (c.get("assignee") or {}).get("unit") in d.name)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for lang in ("zh", "en"):
                names = set((d.name_en if lang == "en" else d.name).values())
                # The browser asks for the other language: the switch's choice (a cookie) wins everywhere.
                ctx = await browser.new_context(viewport={"width": 1366, "height": 900},
                                                locale="en-GB" if lang == "zh" else "zh-CN")
                page = await ctx.new_page()
                page.set_default_timeout(20_000)
                page.on("pageerror", lambda exc: problems.append(str(exc)))
                page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
                to = "en" if lang == "en" else "zh-CN"
                await page.goto(desk.url + f"/desk/locale?to={to}&next=/board")
                assert page.url.endswith("/board")
                for name in PAGES:
                    if page.url != desk.url + f"/{name}":
                        await page.goto(desk.url + f"/{name}")
                    await page.wait_for_selector(READY[name], state="attached")
                    await _header(page, lang, f"{lang} {name}")
                    assert await page.locator(f"#nav-{name}").get_attribute("aria-current") == "page"
                    await _shoot(page, f"{lang}-{name}")

                    # Names, not codes, where a name exists.
                    if name == "board":
                        first = await page.locator("#board tr.unit .name").first.inner_text()
                        assert _is_name(first, names), first
                        code = await page.locator("#board tr.unit").first.get_attribute("data-unit")
                        assert await page.locator("#board tr.unit .code").first.inner_text() == code
                    elif name == "map":
                        options = await page.locator("select[name=street] option").all_inner_texts()
                        assert options and all(_is_name(o, names) for o in options), options
                    elif name == "assessment":
                        first = await page.locator("table[data-table=streets] tbody tr .name").first.inner_text()
                        assert _is_name(first, names), first
                    elif name == "portal":
                        cells = await page.locator("#performance tbody tr .name").all_inner_texts()
                        assert cells and all(_is_name(c, names) for c in cells), cells[:5]
                        # A case looked up: its state, actions and handling unit in the language.
                        await page.fill("input[name=serial]", done["serial"])
                        await page.click("#lookup button")
                        await page.wait_for_selector("#timeline li")
                        assert await page.locator("#status").inner_text() == ("closed" if lang == "en" else "已结案")
                        unit = await page.locator("#unit").inner_text()
                        assert unit == (d.name_en if lang == "en" else d.name)[done["assignee"]["unit"]], unit
                        timeline = await page.locator("#timeline").inner_text()
                        assert bool(CJK.search(timeline)) == (lang == "zh"), timeline
                        await _shoot(page, f"{lang}-portal-case")
                    elif name == "hotspots":
                        streets = await page.locator("select[name=street] option").all_inner_texts()
                        assert all(_is_name(s, names) for s in streets[1:]) and len(streets) > 1, streets

                # The switch returns to the same view in the other language (the board's unit in its hash).
                other = "zh" if lang == "en" else "en"
                await page.goto(desk.url + "/board")
                await page.locator("#board tr.unit").first.click()
                await page.wait_for_function("() => location.hash.length > 1 && document.querySelector('#board h2')")
                unit = await page.evaluate("() => location.hash")
                await page.click("#lang-switch")
                await page.wait_for_function(f"() => document.documentElement.lang === '{'en' if other == 'en' else 'zh-CN'}'")
                assert await page.evaluate("() => location.hash") == unit
                await page.wait_for_selector(READY["board"], state="attached")
                await _header(page, other, f"{other} board after the switch")
                await page.click("#lang-switch")  # and back
                await page.wait_for_function(f"() => document.documentElement.lang === '{'en' if lang == 'en' else 'zh-CN'}'")

                # A desk page: the same header, the desk's queues under it, in the same language.
                await page.goto(desk.url + "/desk/signin")
                await page.fill("#username", "center")
                await page.fill("#password", PASSWORD)
                await page.press("#password", "Enter")
                await page.wait_for_selector("nav.queues")
                await _header(page, lang, f"{lang} desk")
                assert await page.locator("#nav-desk").get_attribute("aria-current") == "page"
                # Who is signed in, at which unit: by the unit's name, not its code.
                who = await page.locator("header.top .who span").inner_text()
                assert (d.name_en if lang == "en" else d.name)[DISTRICT] in who and DISTRICT not in who, who
                await _shoot(page, f"{lang}-desk")
                # Back to a public page from the desk: still the chosen language.
                await page.click("#nav-board")
                await page.wait_for_selector(READY["board"], state="attached")
                await _header(page, lang, f"{lang} board after the desk")
                await ctx.close()
        finally:
            await browser.close()
    assert not problems, problems


async def test_exports_follow_the_chosen_language(make_desk: DeskFactory, clock: Any) -> None:
    """The language switch's choice (a cookie for the whole site) reaches the exports the pages
    link: the assessment's CSV and the hotspot chart's PNG."""
    clock.set(NOW)
    desk = await make_desk(fc=demo_feature_collection())
    await desk.db.cases.insert_many(list(generate(200, now=NOW, years=0.05, seed=7)))
    await rebuild(desk.db)
    pngs = {}
    for to, header in (("en", "Rank"), ("zh-CN", "排名")):
        c = await desk.client()
        await c.get(f"/desk/locale?to={to}&next=/assessment")
        csv = await c.get("/api/v1/stats/assessment.csv?period=2026-11")
        assert csv.status == 200 and csv.headers["Content-Language"] == ("en" if to == "en" else "zh-CN")
        title, columns = (await csv.text()).lstrip("\ufeff").splitlines()[:2]
        assert columns.startswith(header) and bool(CJK.search(title + columns)) == (to == "zh-CN"), title
        png = await c.get("/api/v1/stats/hotspots.png?from=2026-11-01")
        assert png.status == 200 and png.content_type == "image/png"
        pngs[to] = await png.read()
    assert pngs["en"] != pngs["zh-CN"]  # the title is in the chosen language

